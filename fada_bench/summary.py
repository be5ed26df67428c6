"""From per-sample records to samples.parquet and the summary (one row per method and metric).

Per-sample metrics: the mean of the sample values with a t interval. Per-set metrics (FID, FVD,
E-FID): the metric over the method's finished samples, from cached features of its videos and of
the same samples' ground truth, with a seeded bootstrap interval over samples. Counted NFE and
seconds per video second are per-sample values too, reported only by methods that have them.
The per-set metrics' bootstrap replicates are kept too (`bootstrap.csv`, `REPLICATE_COLUMNS`), with
a fingerprint of the clips they resample: two methods with equal fingerprints were resampled at the
same clips, replicate for replicate, which is what `fada-bench rows compare` pairs.
Everything here is a function of the records and the cached features, so a resumed run and an
uninterrupted one give the same summary.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fada.profiling import STAGES

from .metrics.base import BenchMetric
from .metrics.stats import Estimate, t_interval
from .scoring import Scorer, VideoFiles

SUMMARY_COLUMNS = ["method", "metric", "backbone", "mean", "ci95_low", "ci95_high", "n", "n_failed"]
# One line per bootstrap replicate of a per-set metric: `samples` fingerprints the clips resampled.
REPLICATE_COLUMNS = ["method", "metric", "backbone", "samples", "replicate", "value"]
# Backbones of the rows the summary adds beside the metrics: what a method costs (denoiser calls,
# seconds, memory), so lower is better on each.
COUNTED, WALLCLOCK, MEMORY = "counted", "wallclock", "memory"
COST_BACKBONES = (COUNTED, WALLCLOCK, MEMORY)


def higher_is_better(metric: str, backbone: str) -> bool | None:
    """The direction a summary row improves in: the metric's declared `higher_is_better`; the rows
    that measure cost improve downwards; None for a metric that is not registered here (a plugin
    that is not installed)."""
    from .registry import METRICS

    if backbone in COST_BACKBONES:
        return False
    key = f"{metric}[{backbone}]"
    return METRICS.get(key).higher_is_better if key in METRICS else None


@dataclass
class MethodPlan:
    name: str
    timed: bool         # whether generation seconds measure the method's speed
    ids: list[str]


def generated(rec: dict | None) -> bool:
    return bool(rec) and rec.get("gen", {}).get("status") == "ok"


def scored(rec: dict | None, key: str) -> bool:
    s = (rec or {}).get("scored", {}).get(key)
    return generated(rec) and s is not None and s.get("error") is None


def sample_status(rec: dict | None, keys: list[str]) -> tuple[str, str]:
    if rec is None:
        return "missing", "no record"
    if not generated(rec):
        return "failed", rec.get("gen", {}).get("error") or "generation failed"
    errs = [f"{k}: {rec['scored'][k]['error']}" for k in keys if not scored(rec, k)]
    return ("failed", "; ".join(errs)) if errs else ("ok", "")


def sec_per_video_sec(rec: dict) -> float:
    g = rec["gen"]
    return g["seconds"] / g["video_seconds"] if g.get("video_seconds") else float("nan")


def samples_frame(plans: list[MethodPlan], records: dict, metrics: dict[str, BenchMetric]) -> pd.DataFrame:
    keys = list(metrics)
    rows = []
    for p in plans:
        for sid in p.ids:
            rec = records.get((p.name, sid))
            status, error = sample_status(rec, keys)
            g = (rec or {}).get("gen", {})
            row = {"method": p.name, "sample": sid, "status": status, "error": error,
                   "gen_seconds": g.get("seconds"), "score_seconds": sum(
                       (s.get("seconds") or 0.0) for k, s in (rec or {}).get("scored", {}).items() if k in keys),
                   "video_seconds": g.get("video_seconds"),
                   "sec_per_video_sec": sec_per_video_sec(rec) if p.timed and generated(rec) else None,
                   "nfe_per_window": g.get("nfe_per_window"), "nfe_total": g.get("nfe_total"),
                   "windows": g.get("windows"), "seed": (rec or {}).get("seed"),
                   "video": g.get("video"), "video_sha256": g.get("video_sha256"),
                   "first_clip_latency_s": g.get("first_clip_latency_s"), "peak_mem_gb": g.get("peak_mem_gb"),
                   "device": g.get("device"), "dtype": g.get("dtype"), "compiled": g.get("compiled"),
                   "resolution": g.get("resolution")}
            for stage in STAGES:
                row[f"sec_{stage}"] = (g.get("stage_seconds") or {}).get(stage)
            for k, m in metrics.items():
                if m.per_sample:
                    row[k] = rec["scored"][k]["value"] if scored(rec, k) else None
            rows.append(row)
    df = pd.DataFrame(rows)
    for c in ("gen_seconds", "score_seconds", "video_seconds", "sec_per_video_sec", "first_clip_latency_s",
              "peak_mem_gb", *[f"sec_{s}" for s in STAGES], *[
            k for k, m in metrics.items() if m.per_sample]):
        if c in df:
            df[c] = df[c].astype("float64")
    for c in ("nfe_per_window", "nfe_total", "windows", "seed", "resolution"):
        if c in df:
            df[c] = df[c].astype("Int64")
    return df


def _row(method: str, metric: str, backbone: str, est: Estimate, n_total: int) -> dict:
    return {"method": method, "metric": metric, "backbone": backbone, "mean": est.mean,
            "ci95_low": est.ci95_low, "ci95_high": est.ci95_high, "n": est.n, "n_failed": n_total - est.n}


def samples_fingerprint(sample_ids) -> str:
    """Which clips a per-set metric was computed on, as a short hash of their sorted ids: equal
    fingerprints (with equal seed and suite) mean equal resampled positions in every replicate."""
    return hashlib.sha256("\n".join(sorted(map(str, sample_ids))).encode()).hexdigest()[:16]


def summary_frame(plans: list[MethodPlan], records: dict, metrics: dict[str, BenchMetric], scorer: Scorer,
                  load_sample, index: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the summary, the per-set metrics' bootstrap replicates). `load_sample(id)` gives a Sample
    (only needed when a cached feature must be recomputed); `index` numbers the suite's samples,
    so the bootstrap does not depend on sharding."""
    rows, reps = [], []
    for p in plans:
        recs = [(sid, records.get((p.name, sid))) for sid in p.ids]
        total = len(recs)
        for key, m in metrics.items():
            if m.per_sample:
                est = t_interval([r["scored"][key]["value"] for _, r in recs if scored(r, key)])
            else:
                scored_recs = [(s, r) for s, r in recs if scored(r, key)]
                est = _per_set(m, key, scored_recs, scorer, load_sample, index)
                if m.replicates is not None:
                    fp = samples_fingerprint(s for s, _ in scored_recs)
                    reps += [(p.name, m.name, m.backbone, fp, i, v) for i, v in enumerate(m.replicates)]
            rows.append(_row(p.name, m.name, m.backbone, est, total))
        done = [r for _, r in recs if generated(r)]
        for metric, field in (("nfe_d", "nfe_per_window"), ("nfe_total", "nfe_total")):
            vals = [r["gen"][field] for r in done if r["gen"].get(field) is not None]
            if vals:
                rows.append(_row(p.name, metric, COUNTED, t_interval(vals), total))
        if p.timed:
            rows.append(_row(p.name, "sec_per_video_sec", WALLCLOCK,
                             t_interval([sec_per_video_sec(r) for r in done]), total))
            for metric, backbone in (("first_clip_latency_s", WALLCLOCK), ("peak_mem_gb", MEMORY)):
                vals = [r["gen"][metric] for r in done if r["gen"].get(metric) is not None]
                if vals:
                    rows.append(_row(p.name, metric, backbone, t_interval(vals), total))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS), pd.DataFrame(reps, columns=REPLICATE_COLUMNS)


def _per_set(m: BenchMetric, key: str, recs: list, scorer: Scorer, load_sample, index) -> Estimate:
    m.reset()
    for sid, rec in recs:
        files = VideoFiles(lambda sid=sid: load_sample(sid), scorer.store.root / rec["gen"]["video"],
                           rec.get("gt_sha256"))
        gen = scorer.features(key, files, "gen", rec["gen"]["video_sha256"])
        ref = scorer.features(key, files, "gt", files.gt_sha)
        m.update(np.asarray(gen), np.asarray(ref), sample_index=index[sid])
    return m.compute()

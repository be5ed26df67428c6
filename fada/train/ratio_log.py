"""The mixed-supervision ratio R = L_gt / L_teacher (Sec. 3.2) per sample, by filter tier and by
recorded defect: what tests the premise of Eqs. 6-8.

The premise: a clip whose ground truth is poor (audio out of sync, mismatched audio) gets a large
R, so W(R) falls to zero for it and its ground truth stops counting. Whether that holds in a world
is measured, not assumed: each logged step of a mixed-supervision row carries every sample's R
with its clip's tier and recorded defects (`ratio_record`), and `ratio_quantiles` summarises a
log.jsonl into R's 10/50/90% quantiles per tier, per defect, and for clean clips.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..data.synthetic.world import DEFECTS
from ..errors import InputError
from ..losses.mixed_supervision import MixedSupervision

QUANTILES = (0.1, 0.5, 0.9)
SYNC_DEFECTS = ("offset", "mismatched_audio")      # the defects the premise is about
# R_p of Eqs. 7-8 as the paper and FADA-Balanced set it: past it W falls, so the share of a group's
# samples past it is how much of that group's ground truth adaptive supervision turns down.
R_PEAK = MixedSupervision().r_peak


def ratio_record(ratio: torch.Tensor, batch: dict) -> dict:
    """Per-sample R with the sample's tier and defect names, for a log record ({} when the batch
    does not say which clips it holds)."""
    if "tier" not in batch or "defects" not in batch:
        return {}
    flags = batch["defects"].bool().cpu().numpy()
    return {"R_samples": [float(r) for r in ratio.detach().cpu()],
            "R_tier": [str(t) for t in batch["tier"]],
            "R_defects": [[d for d, on in zip(DEFECTS, row) if on] for row in flags]}


def ratio_samples(records) -> pd.DataFrame:
    """One row per logged sample: R, tier, defects (a tuple of names)."""
    rows = []
    for rec in records:
        for r, tier, defects in zip(rec.get("R_samples", []), rec.get("R_tier", []), rec.get("R_defects", [])):
            rows.append({"R": float(r), "tier": tier, "defects": tuple(defects)})
    return pd.DataFrame(rows, columns=["R", "tier", "defects"])


def quantile_table(samples: pd.DataFrame) -> pd.DataFrame:
    """R's quantiles (q10, q50, q90), count and share at or past R_p (`past_r_peak`) per group: each
    tier, each defect, "clean" (no defect), "sync defect" (offset or mismatched audio) and "all"."""
    groups = {"all": np.ones(len(samples), bool)}
    for tier in sorted(set(samples["tier"])):
        groups[f"tier {tier}"] = (samples["tier"] == tier).to_numpy()
    has = samples["defects"].map(set)
    groups["clean"] = (has.map(len) == 0).to_numpy()
    groups["sync defect"] = has.map(lambda d: bool(d & set(SYNC_DEFECTS))).to_numpy()
    for d in DEFECTS:
        groups[f"defect {d}"] = has.map(lambda s, d=d: d in s).to_numpy()
    rows = []
    for name, mask in groups.items():
        r = samples["R"].to_numpy(float)[np.asarray(mask, dtype=bool)]
        q = np.quantile(r, QUANTILES) if r.size else [np.nan] * len(QUANTILES)
        rows.append({"group": name, "n": int(r.size), **{f"q{int(p * 100)}": float(v) for p, v in zip(QUANTILES, q)},
                     "past_r_peak": float(np.mean(r >= R_PEAK)) if r.size else np.nan})
    return pd.DataFrame(rows)


def write_ratio_csv(samples: pd.DataFrame, path: str | os.PathLike) -> None:
    """R per clip as CSV (defects joined by commas; a clean clip's is empty)."""
    from ..data.io import write_text_atomic

    write_text_atomic(path, samples.assign(defects=samples["defects"].map(",".join)).to_csv(index=False))


def read_ratio_csv(path: str | os.PathLike) -> pd.DataFrame:
    """`write_ratio_csv`'s file back as `ratio_samples`' frame."""
    df = pd.read_csv(path, keep_default_na=False)
    missing = {"R", "tier", "defects"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: not a file of R per clip (no column {', '.join(sorted(missing))})")
    return df.assign(R=df["R"].astype(float), defects=df["defects"].map(lambda t: tuple(filter(None, str(t).split(",")))))


def read_ratios(path: str | os.PathLike) -> pd.DataFrame:
    """R per sample from either source: a `fada-bench ratio-probe` CSV, or a mixed-supervision
    training's log (a run folder, a scored row folder that keeps its log, or the log file), whose
    every logged step recorded its samples' R (a step logged again after a resume counts once)."""
    from .log import last_records

    path = Path(path)
    if path.suffix == ".csv":
        if not path.is_file():
            raise InputError(f"{path}: no such file (make it with `fada-bench ratio-probe RECIPE --out FILE`)")
        try:
            return read_ratio_csv(path)
        except ValueError as e:
            raise InputError(str(e)) from None
    samples = ratio_samples(last_records(path))
    if samples.empty:
        raise InputError(f"{path}: no training log recording R per sample (a mixed-supervision row's "
                         "run folder or scored row folder), and not a ratio-probe CSV")
    return samples


def ratio_quantiles(log: str | os.PathLike) -> pd.DataFrame:
    """`quantile_table` of every sample a run's log.jsonl recorded (unreadable lines skipped; a step
    logged again after a resume counts once, `fada.train.log.last_records`)."""
    from .log import last_records

    return quantile_table(ratio_samples(last_records(Path(log))))


@torch.no_grad()
def probe_ratios(recipe, n_clips: int, seed: int = 0, batch_size: int = 4, progress=None) -> pd.DataFrame:
    """R for `n_clips` training clips (a seeded draw from the recipe's set, one window each), with
    no training: the recipe's student as it starts (its parent, or the teacher) against the
    teacher's Phi (Eq. 2) and the ground truth, exactly as a step's loss computes them. Returns
    `ratio_samples`' frame. Frames are encoded by the VAE per window (the data folder need not be
    writable)."""
    from torch.utils.data import default_collate

    from ..data.dataset import ClipDataset
    from .objectives import make_objective
    from .trainer import sample_generator

    if getattr(recipe.objective, "mixed", None) is None:      # before any checkpoint loads
        raise InputError(f"{recipe.source}: R needs a mixed-supervision recipe (objective.mixed), "
                         f"such as fada_balanced_tiny; this one is {recipe.kind} without it")
    obj = make_objective(recipe)
    for net in obj.trainable():
        net.eval()
    d = recipe.data
    ds = ClipDataset(d.folder, split="train", tiers=tuple(d.tiers), n_frames=d.n_frames, size=d.size,
                     audio_context=obj.models.denoiser.config.audio_window, windows_per_clip=1, seed=seed,
                     cache_clips=0)
    order = np.random.default_rng(seed).permutation(len(ds))[:n_clips]
    records = []
    for start in range(0, len(order), batch_size):
        idx = [int(i) for i in order[start:start + batch_size]]
        batch = default_collate([ds.get(i) for i in idx])
        _, logs = obj.loss(batch, [sample_generator(seed, 0, i) for i in idx])
        records.append(logs)
        if progress:
            progress(start + len(idx), len(order))
    return ratio_samples(records)

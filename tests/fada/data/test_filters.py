"""Quality filters scored against the synthetic world's recorded defects (one code path for both worlds)."""
import numpy as np
import pandas as pd
import pytest

from fada.data import filters as F
from fada.data.synthetic.params import sample_identity
from fada.data.synthetic.world import apply_degradation, make_clip

# Which recorded defects each filter is meant to catch.
TARGETS = {
    "sync": ("offset", "mismatched_audio"),
    "frozen_motion": ("frozen_motion",),
    "excessive_motion": ("excessive_motion",),
    "background": ("unstable_background",),
    "blur": ("blur",),
    "noise": ("noise",),
    "compression": ("compression",),
}


def precision_recall_table(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    reasons = df["filter_reasons"].str.split(",")
    defects = df["defects"].str.split(",")
    for name, targets in TARGETS.items():
        flagged = reasons.apply(lambda r: name in r)
        has = defects.apply(lambda d: any(t in d for t in targets))
        tp = int((flagged & has).sum())
        rows.append({"filter": name, "flagged": int(flagged.sum()), "with_defect": int(has.sum()),
                     "precision": tp / max(1, flagged.sum()), "recall": tp / max(1, has.sum())})
    strict = df["tier"] == "A"
    clean = df["true_tier"] == "A"
    tp = int((strict & clean).sum())
    rows.append({"filter": "strict (set A)", "flagged": int(strict.sum()), "with_defect": int(clean.sum()),
                 "precision": tp / max(1, strict.sum()), "recall": tp / max(1, clean.sum())})
    return pd.DataFrame(rows)


def test_strict_filter_precision_on_200_clips(world_200):
    out, cfg, rows = world_200
    df = pd.DataFrame(rows)
    table = precision_recall_table(df)
    print("\n" + table.to_string(index=False, float_format="%.2f"))
    strict = table.set_index("filter").loc["strict (set A)"]
    assert strict["precision"] >= 0.9
    assert strict["recall"] >= 0.5          # A must not be starved
    # Every clip with a defect is still in the lenient set B (B contains everything usable).
    assert (df[df["true_tier"] == "B"]["tier"] != "rejected").mean() >= 0.95
    # Each image or motion filter catches most of its own defect.
    per = table.set_index("filter")
    for name in ("frozen_motion", "excessive_motion", "background", "blur", "noise", "compression"):
        assert per.loc[name, "recall"] >= 0.8, name
        assert per.loc[name, "precision"] >= 0.8, name
    assert per.loc["sync", "recall"] >= 0.8


IDENT = sample_identity(np.random.default_rng(5))


def test_sync_filter_recovers_known_offsets():
    hits = 0
    trials = 0
    for seed in range(12):
        c = make_clip(100 + seed, IDENT, 100, 64, ("offset",))
        off, conf = F.sync_score(c.frames, c.audio)
        hits += abs(off - c.audio_offset) <= 1
        trials += 1
    assert hits / trials >= 0.75


def test_sync_confidence_drops_for_mismatched_audio():
    good, bad = [], []
    for seed in range(6):
        c = make_clip(200 + seed, IDENT, 100, 64)
        m = make_clip(200 + seed, IDENT, 100, 64, ("mismatched_audio",))
        good.append(F.sync_score(c.frames, c.audio)[1])
        bad.append(F.sync_score(m.frames, m.audio)[1])
    assert np.mean(good) > np.mean(bad) + 0.1


@pytest.mark.parametrize("kind,score,rising", [("blur", F.blur_level, True), ("noise", F.noise_level, True),
                                              ("compression", F.blockiness, False)])
def test_image_quality_scores_are_monotone_in_strength(kind, score, rising):
    frames = make_clip(3, IDENT, 10, 128).frames
    strengths = {"blur": (0.5, 1.5, 3.0), "noise": (3, 10, 25), "compression": (60, 20, 5)}[kind]
    vals = [score(apply_degradation(frames, kind, s)) for s in strengths]
    assert vals[0] < vals[1] < vals[2], vals


def test_thresholds_assign_tiers():
    ok = {"sync_offset": 0, "sync_conf": 0.6, "motion": 0.4, "bg_instability": 0.1, "blur": 0.3,
          "noise": 0.5, "blockiness": 1.0}
    assert F.assign_tier(ok) == ("A", "")
    assert F.assign_tier({**ok, "sync_offset": 5}) == ("B", "sync")
    assert F.assign_tier({**ok, "noise": 100.0})[0] == "rejected"

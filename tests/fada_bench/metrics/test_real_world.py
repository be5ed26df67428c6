"""The real world's metric keys: one for every metric of the paper, each available exactly where its
backbone's file (and package) is found, and the offline ones run with nothing downloaded."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fada.data.io import Video
from fada_bench.registry import METRICS, list_metrics
from fada_bench.scoring import make_metric

REAL_KEYS = {"fid[inception]", "fvd[i3d]", "fvd[i3d_tfhub]", "fvd[resnet3d50]", "fvd[resnet3d50_k700]",
             "sync_d[syncnet_v2]", "sync_c[syncnet_v2]", "sync_offset[syncnet_v2]", "efid[deep3d]",
             "efid[mediapipe]", "iqa[qalign-pyiqa]", "iqa[niqe-skimage]", "csim[arcface]"}


@pytest.fixture
def no_weights(empty_weight_dirs):
    return empty_weight_dirs[0]


def _real(world: str = "real") -> dict[str, tuple[bool, str]]:
    return {k: (ok, why) for k, _, ok, why in list_metrics(world) if not k.endswith("[synthetic]")}


def test_every_paper_metric_has_real_world_keys_that_never_run_on_the_synthetic_world():
    assert REAL_KEYS <= set(_real())
    assert {k.split("[")[0] for k in REAL_KEYS} == {"fid", "fvd", "sync_d", "sync_c", "sync_offset", "efid", "iqa", "csim"}
    assert all(not ok and "real world only" in why for k, (ok, why) in _real("synthetic").items() if k in REAL_KEYS)


def test_without_weight_files_only_the_offline_metrics_are_available(no_weights):
    real = _real()
    assert {k for k, (ok, _) in real.items() if ok and k in REAL_KEYS} == {"iqa[niqe-skimage]", "efid[mediapipe]"}
    for key, file in [("fid[inception]", "pt_inception-2015-12-05"), ("sync_d[syncnet_v2]", "syncnet_v2.model"),
                      ("fvd[resnet3d50]", "resnet-50-kinetics.pth"), ("efid[deep3d]", "epoch_20.pth")]:
        assert file in real[key][1] and str(no_weights) in real[key][1], real[key]


def test_a_weight_file_found_makes_its_metrics_available_and_a_bad_one_does_not(no_weights):
    (no_weights / "syncnet_v2.model").write_bytes(b"not checked: no published checksum")
    real = _real()
    assert all(real[f"{m}[syncnet_v2]"][0] for m in ("sync_d", "sync_c", "sync_offset"))
    # The FID file's name carries the first digits of its sha256: a file that does not match is refused.
    (no_weights / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"corrupt")
    ok, why = _real()["fid[inception]"]
    assert not ok and "pt_inception" in why


def test_niqe_iqa_scores_a_blurred_video_worse_through_the_registry():
    from skimage import data

    cls = METRICS.get("iqa[niqe-skimage]")
    assert cls.higher_is_better is False                  # NIQE's own scale: lower is better
    metric = make_metric(cls, seed=0, world="real", device="cpu")
    frame = cv2.resize(data.astronaut(), (192, 192), interpolation=cv2.INTER_AREA)
    sharp = Video(np.stack([frame, frame]), 25.0)
    blurred = Video(np.stack([cv2.GaussianBlur(frame, (0, 0), 3.0)] * 2), 25.0)
    scores = [metric.sample_value(metric.features(v, None), None) for v in (sharp, blurred)]
    assert np.isfinite(scores).all() and scores[0] < scores[1]

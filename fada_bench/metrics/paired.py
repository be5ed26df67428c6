"""Paired metrics: each generated frame against the same frame of the sample's ground truth
(beyond the paper; its peers report them). A distribution metric such as E-FID compares pooled
sets: a still image's expressions lie near the truth's average, and a mouth moving to another
clip's audio gives the same pool; these compare frame t with frame t, so both score badly here. Lower is better; each is a mean
over samples with a t interval.

**LMD, landmark distance** (`lmd`), introduced by Chen et al. 2018 ("Lip Movements Generation at
a Glance", ECCV) on the mouth's landmarks, and **mouth LMD** (`mlmd`), the mouth-only variant that
talking-head papers report beside a whole-face one (M-LMD and F-LMD). Definition used here, per
frame t of a sample:
1. eye alignment: each landmark set is moved by the similarity transform (rotation, uniform scale,
   translation) that sends its first eye centre to (0, 0) and its second to (1, 0); the generated
   and ground-truth sets are aligned the same way, each by its own eyes. An eye centre is the
   mean of the backbone's eye landmarks (`eye_points`). So the unit of length is the frame's
   inter-ocular distance, and head position, size and in-plane rotation do not count;
2. d_t = the mean over landmarks k of the Euclidean distance |a_gen[t, k] - a_gt[t, k]| between
   aligned landmarks: all of the backbone's landmarks for `lmd`, its mouth landmarks
   (`mouth_points`) for `mlmd`;
3. the sample's value is the mean of d_t over the frames where both sets have a face.
In units of the inter-ocular distance: 0.1 means the landmarks are off by a tenth of the eye span.

**Expression error** (`expr_err`): the paired counterpart of E-FID, over the same expression
coefficients. Per frame, the mean absolute difference between the generated frame's
coefficients and the ground truth frame's; the sample's value is its mean over frames. Mean
absolute (L1) rather than L2, as the ViCo challenge (Zhou et al. 2022, "Responsive Listening Head
Generation", ECCV) scores 3DMM expression against the ground truth: one frame where the
reconstruction fails counts in proportion, not squared.

Backbones: in the synthetic world the ground truth side is the world's record (landmarks rendered
with each frame, expression coefficients), the generated side the shipped inverse renderer's
estimate: its expression output, and for landmarks its predicted expression and pose passed
through the world's own landmark geometry (`fada.data.synthetic.render.face_landmarks`) with the
sample's recorded face shape. The face's shape is not estimated because the inverse renderer's
estimate of it is too coarse for landmarks: with it, the ground truth's own LMD is 0.03-0.08 and a
blurred VAE round trip scores worse than a still image, whose shape estimate is sharp; with the
recorded shape, the ground truth scores 0.010-0.021 (first four test clips, 2026-12-02, AMD EPYC).
Whether a generator kept the person's face is CSIM's question. So the ground truth scored as a
generated video measures the inverse renderer's motion error, the floor of these metrics.
In the real world both sides go through the same detector: mediapipe's face mesh (468 points) or
dlib's 68 points (the `face` extra), and Deep3DFaceRecon for the expression.
"""
from __future__ import annotations

import numpy as np

from fada.data.io import Video
from fada.errors import InputError

from ..types import Sample
from .backbone_metric import BackboneMetric
from .backbones import ExpressionExtractor, LandmarkDetector


def eye_aligned(points: np.ndarray, eye_points: tuple[tuple[int, ...], tuple[int, ...]]) -> np.ndarray:
    """T x K x 2 landmarks -> T x K complex numbers, each frame moved by the similarity transform
    that sends its first eye centre to 0 and its second to 1 (a complex affine map z -> a z + b is
    exactly a rotation, a uniform scale and a translation)."""
    z = points[..., 0] + 1j * points[..., 1]
    e0 = z[:, list(eye_points[0])].mean(axis=1, keepdims=True)
    e1 = z[:, list(eye_points[1])].mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (z - e0) / (e1 - e0)


def landmark_distance(gen: np.ndarray, ref: np.ndarray, eye_points, subset: tuple[int, ...] | None = None) -> float:
    """The mean over frames of the mean eye-aligned distance between paired landmarks (T x K x 2
    each; `subset` limits it to some landmarks). Frames without a face on either side (NaN) are left
    out; a sample with no such frame at all is an error."""
    gen, ref = np.asarray(gen, np.float64), np.asarray(ref, np.float64)
    if gen.shape != ref.shape:
        raise InputError(f"the generated video's landmarks {gen.shape} and the ground truth's {ref.shape} "
                         "do not pair up: the paired metrics need the same frame count and landmark set")
    d = np.abs(eye_aligned(gen, eye_points) - eye_aligned(ref, eye_points))
    if subset is not None:
        d = d[:, list(subset)]
    per_frame = d.mean(axis=1)
    ok = np.isfinite(per_frame)
    if not ok.any():
        raise InputError("no frame has a face in both the generated video and the ground truth")
    return float(per_frame[ok].mean())


def expression_error(gen: np.ndarray, ref: np.ndarray) -> float:
    """The mean over frames of the mean absolute difference of paired expression coefficients
    (T x E each); frames without a face on either side (NaN) are left out."""
    gen, ref = np.asarray(gen, np.float64), np.asarray(ref, np.float64)
    if gen.shape != ref.shape:
        raise InputError(f"the generated video's expressions {gen.shape} and the ground truth's {ref.shape} "
                         "do not pair up: the paired metrics need the same frame count")
    per_frame = np.abs(gen - ref).mean(axis=1)
    ok = np.isfinite(per_frame)
    if not ok.any():
        raise InputError("no frame has a face in both the generated video and the ground truth")
    return float(per_frame[ok].mean())


class PairedMetric(BackboneMetric):
    """A per-sample comparison of each generated frame with the same ground-truth frame."""
    per_sample = True
    needs_reference = True
    higher_is_better = False
    paper = False
    sampling = "every frame, paired with the same ground-truth frame"
    recorded_field = ""         # what the backbone's record of the ground truth holds for this metric

    @property
    def reference_from_record(self) -> bool:
        return callable(getattr(self.net, "recorded", None))

    def reference_features(self, video: Video, sample: Sample) -> np.ndarray:
        if self.reference_from_record:
            return self.net.recorded(sample)[self.recorded_field]
        return self.features(video, sample)


class LandmarkDistance(PairedMetric):
    """LMD: mean eye-aligned landmark distance to the ground truth, in inter-ocular distances."""
    name = "lmd"
    protocol = LandmarkDetector
    recorded_field = "landmarks"

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        if self.reference_from_record:
            # The face's shape is the sample's own: see the module docstring.
            lm = self.net.face_landmarks(video.frames, identity=self.net.recorded(sample)["identity"])
        else:
            lm = self.net.face_landmarks(video.frames)
        return np.asarray(lm, np.float64)

    def points(self) -> tuple[int, ...] | None:
        return None

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        return landmark_distance(gen, ref, self.net.eye_points, self.points())


class MouthLandmarkDistance(LandmarkDistance):
    """Mouth LMD: LMD over the mouth's landmarks only, still aligned by the eyes."""
    name = "mlmd"

    def points(self) -> tuple[int, ...] | None:
        return tuple(self.net.mouth_points)


class ExpressionError(PairedMetric):
    """Mean absolute per-frame expression-coefficient error against the ground truth."""
    name = "expr_err"
    protocol = ExpressionExtractor
    recorded_field = "expression"

    def features(self, video: Video, sample: Sample) -> np.ndarray:
        return np.asarray(self.net.expressions(video.frames), np.float64)

    def sample_value(self, gen: np.ndarray, ref: np.ndarray | None) -> float:
        return expression_error(gen, ref)

# ---------------------------------------------------------------------------- the synthetic world
from .backbones import synthetic as _syn  # noqa: E402
from .backbone_metric import register_bound  # noqa: E402

LandmarkDistanceSynthetic = register_bound(LandmarkDistance, _syn.BACKBONE_NAME, _syn.load_inverse_renderer, worlds=("synthetic",))
MouthLandmarkDistanceSynthetic = register_bound(MouthLandmarkDistance, _syn.BACKBONE_NAME, _syn.load_inverse_renderer, worlds=("synthetic",))
ExpressionErrorSynthetic = register_bound(ExpressionError, _syn.BACKBONE_NAME, _syn.load_inverse_renderer, worlds=("synthetic",))

# ---------------------------------------------------------------------------- the real world
from .backbones import standard as _standard  # noqa: E402

LandmarkDistanceMediapipe = register_bound(LandmarkDistance, "mediapipe", _standard.factory("mediapipe"), worlds=("real",))
MouthLandmarkDistanceMediapipe = register_bound(MouthLandmarkDistance, "mediapipe", _standard.factory("mediapipe"), worlds=("real",))
LandmarkDistanceDlib = register_bound(LandmarkDistance, "dlib", _standard.factory("dlib68"), worlds=("real",))
MouthLandmarkDistanceDlib = register_bound(MouthLandmarkDistance, "dlib", _standard.factory("dlib68"), worlds=("real",))
ExpressionErrorDeep3D = register_bound(ExpressionError, "deep3d", _standard.factory("deep3d"), worlds=("real",))

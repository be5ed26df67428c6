"""E-FID's real-world fallback: expression features from mediapipe's face mesh, pose removed.

E-FID proper uses a 3D face reconstruction's expression coefficients (Deep3DFaceRecon's 64);
when the user has no such model, this extractor is the stand-in, named `mediapipe` so the key
reads `efid[mediapipe]`. It uses the FaceMesh model inside the mediapipe 0.10.21 wheel
(`mediapipe.solutions.face_mesh`, 468 landmarks with relative depth); nothing is downloaded.

Per frame:
1. landmarks in pixel units (x * width, y * height, z * width: mediapipe's z is on x's scale);
2. rigid motion removed: a similarity Procrustes fit (rotation, uniform scale, translation;
   Umeyama's method) of points that expressions barely move (upper face outline, nose ridge,
   eye corners) onto a fixed frontal template of those points, applied to all 468 landmarks;
3. the aligned lips, eyes, eyebrows and chin landmarks, flattened: 97 points x 3 = 291 values,
   in units of the template's inter-ocular distance.
A frame where no face is found gives a row of NaN; the metric drops such rows and counts them.

The template is the rigid points of scikit-image's astronaut photograph (the only face photo
that ships offline), turned into a face-anchored frame (x along the eye corners, y up the face
at right angles to it) by `frontal_template`. It only fixes the coordinate frame all frames are
aligned to; any fixed near-frontal face would do.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from fada.data.io import check_frames

from ...backbone_metric import per_frame_cached

# Points that expressions barely move: upper face outline, nose ridge and tip, eye corners.
RIGID = (10, 338, 297, 332, 284, 251, 389, 356, 454, 109, 67, 103, 54, 21, 162, 127, 234,
         168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263)
# mediapipe's FACEMESH_LIPS, _LEFT_EYE, _RIGHT_EYE, _LEFT_EYEBROW, _RIGHT_EYEBROW, and the chin.
LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185,
        191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)
EYES = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
        7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
BROWS = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336, 46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
CHIN = (152, 148, 176, 377, 400)
EXPRESSION = LIPS + EYES + BROWS + CHIN
# The corners of each eye, image left first (the face's right eye: outer 33, inner 133): an eye
# centre is the mean of its two corners, as the 68-point convention takes it.
EYE_CORNERS = ((33, 133), (362, 263))

# frontal_template(landmarks of skimage.data.astronaut()), rounded; see the module docstring.
TEMPLATE = np.array([
    [0.0027, 0.5446, -0.0000], [0.2108, 0.5314, -0.0144], [0.3854, 0.4770, -0.0693], [0.5447, 0.3708, -0.1580],
    [0.6435, 0.2294, -0.2480], [0.7041, 0.0692, -0.3261], [0.7393, -0.1017, -0.4103], [0.7515, -0.2863, -0.4568],
    [0.7427, -0.4386, -0.4529], [-0.2052, 0.5330, -0.0150], [-0.3808, 0.4803, -0.0703], [-0.5410, 0.3757, -0.1600],
    [-0.6392, 0.2350, -0.2502], [-0.6990, 0.0754, -0.3293], [-0.7320, -0.0949, -0.4143], [-0.7446, -0.2790, -0.4623],
    [-0.7374, -0.4312, -0.4583], [0.0004, 0.1338, 0.2092], [-0.0001, 0.0759, 0.2868], [-0.0012, 0.0270, 0.3674],
    [-0.0023, -0.0138, 0.4495], [-0.0042, -0.0589, 0.5380], [-0.0054, -0.1361, 0.5990], [-0.0061, -0.2098, 0.6046],
    [-0.5000, 0.0000, -0.0000], [-0.1901, 0.0012, 0.0638], [0.1904, 0.0015, 0.0620], [0.5000, -0.0000, 0.0000],
])


def frontal_template(landmarks: np.ndarray) -> np.ndarray:
    """Rigid points of one face in a face-anchored frame: origin at the eye-corner midpoint,
    x from the right eye's outer corner (33) to the left's (263), y towards the forehead (10)
    at right angles to x, z = x cross y; inter-ocular distance 1."""
    right, left, top = landmarks[33], landmarks[263], landmarks[10]
    origin = (right + left) / 2
    x = left - right
    scale = np.linalg.norm(x)
    x = x / scale
    towards_top = top - origin
    y = towards_top - (towards_top @ x) * x
    y = y / np.linalg.norm(y)
    z = np.cross(x, y)
    return (landmarks[list(RIGID)] - origin) @ np.stack([x, y, z], axis=1) / scale


def procrustes(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (s, R, t) minimising sum |s R src_i + t - dst_i|^2 (Umeyama 1991)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.ones(3)
    d[-1] = np.sign(np.linalg.det(u @ vt)) or 1.0      # a rotation, never a reflection
    r = u @ np.diag(d) @ vt
    s = float((sig * d).sum() / (a * a).sum())
    return s, r, mu_d - s * r @ mu_s


class MediapipeExpression:
    """ExpressionExtractor `mediapipe`: 291 pose-normalised expression values per frame; and
    LandmarkDetector `mediapipe`: the 468 face-mesh points per frame (eyes: `EYE_CORNERS`, mouth:
    `LIPS`). Both read one face-mesh pass over a video, kept for the last few videos."""
    name = "mediapipe"
    eye_points, mouth_points = EYE_CORNERS, LIPS

    def __init__(self, min_detection_confidence: float = 0.5):
        import mediapipe as mp       # a core dependency, imported late: it is slow to import
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=False,
            min_detection_confidence=min_detection_confidence)
        self._videos: OrderedDict[str, np.ndarray] = OrderedDict()

    def landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        """468 x 3 landmarks in pixels, or None when no face is found. Each frame is processed
        on its own (static mode), so a frame's features do not depend on its neighbours."""
        h, w = frame.shape[:2]
        res = self._mesh.process(np.ascontiguousarray(frame))
        if not res.multi_face_landmarks:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in res.multi_face_landmarks[0].landmark])
        return pts * np.array([w, h, w])

    def align(self, landmarks: np.ndarray) -> np.ndarray:
        """All landmarks moved into the template's frame by the rigid points' Procrustes fit."""
        s, r, t = procrustes(landmarks[list(RIGID)], TEMPLATE)
        return s * landmarks @ r.T + t

    def video_landmarks(self, frames: np.ndarray) -> np.ndarray:
        """T x 468 x 3 landmarks in pixels, NaN for a frame without a face."""
        check_frames(frames)
        return per_frame_cached(self._videos, frames, self.landmarks, (468, 3))

    def face_landmarks(self, frames: np.ndarray) -> np.ndarray:
        return self.video_landmarks(frames)[..., :2]

    def expressions(self, frames: np.ndarray) -> np.ndarray:
        out = np.full((len(frames), len(EXPRESSION) * 3), np.nan)
        for i, lm in enumerate(self.video_landmarks(frames)):
            if np.isfinite(lm).all():
                out[i] = self.align(lm)[list(EXPRESSION)].ravel()
        return out

    def close(self) -> None:
        self._mesh.close()

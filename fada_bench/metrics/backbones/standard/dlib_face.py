"""dlib's face identity embeddings for `csim[dlib]` and `id_drift[dlib]`: the 128-d ResNet face
descriptor (dlib_face_recognition_resnet_model_v1, public domain), installed with the optional
`face` extra, so no weight file is needed from the user.

Per frame, as dlib's own face-recognition example and the face_recognition package do: the
frontal-face HOG detector (upsampling the frame once, so faces down to about 40 px are found),
the most confident face, its 5 landmarks (shape_predictor_5_face_landmarks), the descriptor of
the face aligned by them, L2-normalised for a cosine. A frame with no face gives a row of NaN;
the metrics leave such rows out and a sample with no face at all fails with that reason.
"""
from __future__ import annotations

import numpy as np

from fada.data.io import check_frames
from fada.errors import InputError

from .dlib_models import dlib_model_path, import_dlib

DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS = "shape_predictor_5_face_landmarks.dat"




def available() -> tuple[bool, str]:
    """Whether dlib imports and its two model files are installed and match their checksums."""
    try:
        import_dlib()
        for name in (DESCRIPTOR, LANDMARKS):
            dlib_model_path(name)
    except InputError as e:
        return False, str(e)
    return True, ""


class DlibIdentity:
    """IdentityEmbedder `dlib`: 128-d unit-norm face descriptors."""
    name = "dlib"

    def __init__(self, upsample: int = 1):
        dlib = import_dlib()
        self.upsample = upsample
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(str(dlib_model_path(LANDMARKS)))
        self._descriptor = dlib.face_recognition_model_v1(str(dlib_model_path(DESCRIPTOR)))

    def embed_identity(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        out = np.full((len(frames), 128), np.nan)
        for i, rgb in enumerate(frames):
            rgb = np.ascontiguousarray(rgb)
            boxes, scores, _ = self._detector.run(rgb, self.upsample, 0.0)
            if not boxes:
                continue
            box = boxes[int(np.argmax(scores))]
            emb = np.asarray(self._descriptor.compute_face_descriptor(rgb, self._landmarks(rgb, box)), np.float64)
            out[i] = emb / np.linalg.norm(emb)
        return out

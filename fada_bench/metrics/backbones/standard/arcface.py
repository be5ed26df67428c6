"""ArcFace identity embeddings for `csim[arcface]`, through insightface and onnxruntime (the
optional `arcface` extra), from the user's local insightface model folder (buffalo_l: the SCRFD
detector `det_10g.onnx` and the ArcFace recognizer `w600k_r50.onnx`).

We call insightface's own model classes (`insightface.model_zoo.get_model` on the two .onnx
paths) rather than `FaceAnalysis`, because `FaceAnalysis` downloads the pack when its folder is
missing; a local path never triggers a download. Per frame, as `FaceAnalysis.get` does: detect,
keep the most confident face, align it by its five keypoints to 112 x 112, embed, L2-normalise.
A frame with no face gives a row of NaN; the metric drops such rows and counts them.
"""
from __future__ import annotations

import os

import numpy as np

from fada.data.io import check_frames
from fada.errors import InputError

from ....weight_files import standard as weights_registry


class ArcFaceIdentity:
    """IdentityEmbedder `arcface`: 512-d unit-norm face embeddings."""
    name = "arcface"

    def __init__(self, model_dir: str | os.PathLike | None = None, *, det_size: int = 640):
        try:
            import onnxruntime  # noqa: F401
            from insightface.app.common import Face
            from insightface.model_zoo import get_model
        except ImportError as e:
            raise InputError(f"csim[arcface] needs the optional 'arcface' extra ({e.name} is not installed): "
                             'pip install "fada-bench[arcface]"; csim[dlib] needs no weight file: '
                             'pip install "fada-bench[face]"') from None
        rec_path = weights_registry.find("arcface_buffalo_l", model_dir)
        det_path = rec_path.parent / "det_10g.onnx"
        if not det_path.is_file():
            raise InputError(f"{det_path}: insightface's face detector is missing beside {rec_path.name}; "
                             f"unzip the whole buffalo_l pack ({weights_registry.entry('arcface_buffalo_l').how_to_get})")
        providers = ["CPUExecutionProvider"]
        self._det = get_model(str(det_path), providers=providers)
        self._det.prepare(ctx_id=-1, input_size=(det_size, det_size), det_thresh=0.5)
        self._rec = get_model(str(rec_path), providers=providers)
        self._rec.prepare(ctx_id=-1)
        self._face = Face

    def embed_identity(self, frames: np.ndarray) -> np.ndarray:
        check_frames(frames)
        out = np.full((len(frames), 512), np.nan)
        for i, rgb in enumerate(frames):
            bgr = np.ascontiguousarray(rgb[..., ::-1])        # insightface works on cv2's BGR
            boxes, kps = self._det.detect(bgr, max_num=1)
            if boxes is None or len(boxes) == 0:
                continue
            face = self._face(bbox=boxes[0, :4], kps=kps[0], det_score=boxes[0, 4])
            emb = np.asarray(self._rec.get(bgr, face), np.float64)
            out[i] = emb / np.linalg.norm(emb)
        return out

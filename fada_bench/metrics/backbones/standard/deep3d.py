"""E-FID with Deep3DFaceRecon: the 64 expression coefficients of its 3D face reconstruction.

E-FID as the paper uses it is the Fréchet distance over the expression parameters of a 3D face
reconstruction. The reconstruction network most talking-head papers use for it is Deep3DFaceRecon
(Deng et al., CVPRW 2019) in its PyTorch release, Deep3DFaceRecon_pytorch; its released model
`epoch_20.pth` is what this port loads (`efid[deep3d]`).

The network (Deep3DFaceRecon_pytorch `models/networks.py`, `ReconNetWrapper` with
`net_recon=resnet50`, `use_last_fc=False`): a ResNet-50 trunk in torchvision's layout (stride on
the 3x3 convolution of a bottleneck) without its classifier, global average pooling, then seven
1x1 convolutions with bias, one per coefficient group, whose outputs are concatenated into 257
coefficients (`HEAD`). `models/bfm.py` `split_coeff` slices the same order: identity 80,
expression 64, texture 80, angles 3, lighting (SH gamma) 27, translation 3 (xy, then z).

The checkpoint (`models/base_model.py`, `save_networks`) is a dict with the state dict under
'net_recon' (already unwrapped from DataParallel/DDP, so no 'module.' prefix) beside the
optimiser and scheduler states. Key names: `backbone.conv1.weight`, `backbone.bn1.*`,
`backbone.layer{1..4}.{i}.conv{1,2,3}.weight`, `.bn{1,2,3}.*`, `.downsample.0.weight`,
`.downsample.1.*`, `final_layers.{0..6}.weight|bias`.

Preprocessing, as the authors' `test.py` and `util/preprocess.py` (`align_img`) do it:
1. five facial points: the two eye centres, the nose tip and the two mouth corners. The authors
   take them from a detector (MTCNN) or from 68 landmarks (eye centre = mean of its two corners);
   we take them from mediapipe's face mesh, which the `mediapipe` E-FID backbone already runs;
2. y flipped to point up (y' = H - 1 - y), then `POS`: a least-squares weak-perspective fit of
   the five points to the standard 3D template `TEMPLATE_5P`; only its scale s and translation t
   are used. In-plane rotation is deliberately *not* removed: the network predicts it (angles);
3. the frame resized by 102 / s with PIL bicubic, and a 224 x 224 crop placed so t lands at its
   centre (areas outside the frame are black);
4. RGB scaled to [0, 1], no mean or std.
A frame where mediapipe finds no face gives a row of NaN; the metric drops such rows and counts them.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from fada.data.io import check_frames

from ....weight_files import standard as weights_registry
from ._common import Bottleneck, batched, load_exact, read_state_dict
from .mediapipe_expr import EYE_CORNERS

WEIGHTS = "deep3d_epoch20"

# ReconNetWrapper.final_layers, in order: (coefficient group, width)
HEAD = (("id", 80), ("exp", 64), ("tex", 80), ("angle", 3), ("gamma", 27), ("trans_xy", 2), ("trans_z", 1))
N_COEFFS = sum(width for _, width in HEAD)          # 257

# The 5-point standard face (x right, y up, z towards the camera): eye centre on the image left,
# eye centre on the image right, nose tip, mouth corner on the image left, on the image right.
# `util/load_mats.py` `load_lm3d` computes it from the repository's BFM/similarity_Lm3D_all.mat
# (68 points -> 5); the values are as several independent ports of that function write them out.
TEMPLATE_5P = np.array([
    [-0.31148657, 0.29036078, 0.13377953],
    [0.30979887, 0.28972036, 0.13179526],
    [0.0032535, -0.04617932, 0.55244243],
    [-0.25216928, -0.38133916, 0.22405732],
    [0.2484662, -0.38128236, 0.22235769],
])
CROP = 224
RESCALE = 102.0          # align_img's rescale_factor: template units -> crop pixels

# mediapipe face-mesh points for the five (the usual mediapipe <-> 68-point correspondence:
# 33/133 and 362/263 are the eye corners, 4 the nose tip, 61/291 the mouth corners).
EYE_IMAGE_LEFT, EYE_IMAGE_RIGHT = EYE_CORNERS
NOSE_TIP, MOUTH_IMAGE_LEFT, MOUTH_IMAGE_RIGHT = 4, 61, 291


# ------------------------------------------------------------------------------ the network

class ResNet50Trunk(nn.Module):
    """ResNet-50 up to its global average pool: N x 3 x H x W -> N x 2048 x 1 x 1."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
            layer = []
            for j in range(blocks):
                layer.append(Bottleneck(cin, planes, stride if j == 0 else 1))
                cin = planes * 4
            setattr(self, f"layer{i}", nn.Sequential(*layer))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3), keepdim=True)


class ReconNet(nn.Module):
    """`forward`: N x 3 x 224 x 224 RGB in [0, 1] -> N x 257 coefficients (order: `HEAD`)."""

    def __init__(self):
        super().__init__()
        self.backbone = ResNet50Trunk()
        self.final_layers = nn.ModuleList(nn.Conv2d(2048, width, 1, bias=True) for _, width in HEAD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        return torch.cat([layer(feats) for layer in self.final_layers], dim=1).flatten(1)


def load_recon_net(path: str | os.PathLike) -> ReconNet:
    """Build the network and load the 'net_recon' state dict of a Deep3DFaceRecon_pytorch
    checkpoint (torch.load with weights_only=True) with exact key matching."""
    return load_exact(ReconNet(), read_state_dict(path, inner_key="net_recon"), path)


def split_coefficients(coeffs: np.ndarray | torch.Tensor) -> dict:
    """N x 257 -> the groups of `split_coeff` (bfm.py): id, exp, tex, angle, gamma, trans (xy + z)."""
    out, start = {}, 0
    for group, width in HEAD:
        out[group] = coeffs[:, start:start + width]
        start += width
    xy, z = out.pop("trans_xy"), out.pop("trans_z")
    out["trans"] = np.concatenate([xy, z], 1) if isinstance(xy, np.ndarray) else torch.cat([xy, z], 1)
    return out


# ---------------------------------------------------------------------------- the alignment
def five_points(landmarks: np.ndarray) -> np.ndarray:
    """468 mediapipe landmarks (pixels, y down) -> the 5 x 2 points in `TEMPLATE_5P`'s order."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    return np.stack([lm[list(EYE_IMAGE_LEFT)].mean(0), lm[list(EYE_IMAGE_RIGHT)].mean(0),
                     lm[NOSE_TIP], lm[MOUTH_IMAGE_LEFT], lm[MOUTH_IMAGE_RIGHT]])


def pos_fit(points_up: np.ndarray, template: np.ndarray = TEMPLATE_5P) -> tuple[np.ndarray, float]:
    """preprocess.py `POS`: fit points_up ~ [R1; R2] X + t by least squares over the 3D template
    points X (an affine weak-perspective camera); return t and the mean row norm s of R."""
    a = np.c_[template, np.ones(len(template))]                 # 5 x 4: x and y rows share it
    sol, *_ = np.linalg.lstsq(a, np.asarray(points_up, np.float64), rcond=None)   # 4 x 2
    s = (np.linalg.norm(sol[:3, 0]) + np.linalg.norm(sol[:3, 1])) / 2
    return sol[3], float(s)


def crop_box(width: int, height: int, points: np.ndarray) -> tuple[int, int, int, int]:
    """(resized width, resized height, left, top) of the crop that `align_img` cuts for a frame of
    `width` x `height` with five points (pixels, y down). The integer casts truncate as numpy's
    astype(int32) does in the reference."""
    points = np.asarray(points, np.float64)
    up = np.c_[points[:, 0], height - 1 - points[:, 1]]           # test.py flips y before align_img
    t, s = pos_fit(up)
    scale = RESCALE / s
    w, h = int(width * scale), int(height * scale)
    left = int(w / 2 - CROP / 2 + (t[0] - width / 2) * scale)
    top = int(h / 2 - CROP / 2 + (height / 2 - t[1]) * scale)
    return w, h, left, top


def to_crop(points: np.ndarray, width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Where frame pixels (x, y down) land in the crop: PIL's resize maps pixel centres,
    (x + 0.5) * w / width - 0.5, then the crop shifts by (left, top)."""
    w, h, left, top = box
    p = np.asarray(points, np.float64)
    return np.c_[(p[:, 0] + 0.5) * w / width - 0.5 - left, (p[:, 1] + 0.5) * h / height - 0.5 - top]


def template_in_crop() -> np.ndarray:
    """Where the alignment puts the template's own points in the 224 crop (pixels, y down): the
    crop centre plus 102 template units, with y flipped back about the crop's last row."""
    return np.c_[CROP / 2 + RESCALE * TEMPLATE_5P[:, 0], CROP - 1 - (CROP / 2 + RESCALE * TEMPLATE_5P[:, 1])]


def align_face(frame: np.ndarray, points: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 frame + its five points -> the 224 x 224 x 3 uint8 crop the network sees."""
    height, width = frame.shape[:2]
    w, h, left, top = crop_box(width, height, points)
    img = Image.fromarray(np.ascontiguousarray(frame)).resize((w, h), resample=Image.BICUBIC)
    return np.asarray(img.crop((left, top, left + CROP, top + CROP)))


# ------------------------------------------------------------------------------ the backbone
class Deep3DExpression:
    """ExpressionExtractor `deep3d`: Deep3DFaceRecon's 64 expression coefficients per frame.

    `landmarks` is anything with `landmarks(frame) -> 468 x 3 | None` (default: a mediapipe face
    mesh, as the `mediapipe` backbone uses)."""
    name = "deep3d"

    def __init__(self, weights: str | os.PathLike | None = None, *, device: str = "cpu",
                 batch_size: int = 16, landmarks=None):
        path = weights_registry.find(WEIGHTS, weights)   # before mediapipe: a missing file fails fast
        self.net = load_recon_net(path).to(device)
        self.device, self.batch_size = device, batch_size
        if landmarks is None:
            from .mediapipe_expr import MediapipeExpression
            landmarks = MediapipeExpression()
        self._landmarks = landmarks

    def aligned_faces(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(crops n x 224 x 224 x 3 uint8, boolean mask of the frames where a face was found)."""
        check_frames(frames)
        crops, found = [], np.zeros(len(frames), bool)
        for i, frame in enumerate(frames):
            lm = self._landmarks.landmarks(frame)
            if lm is not None:
                crops.append(align_face(frame, five_points(lm)))
                found[i] = True
        return np.asarray(crops, np.uint8).reshape(-1, CROP, CROP, 3), found

    def coefficients(self, frames: np.ndarray) -> np.ndarray:
        """All 257 coefficients per frame (`split_coefficients` names them); NaN rows without a face."""
        crops, found = self.aligned_faces(frames)
        out = np.full((len(frames), N_COEFFS), np.nan)
        if found.any():
            x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
            out[found] = batched(lambda b: self.net(b.to(self.device)).cpu(), x, self.batch_size).double().numpy()
        return out

    def expressions(self, frames: np.ndarray) -> np.ndarray:
        return split_coefficients(self.coefficients(frames))["exp"]

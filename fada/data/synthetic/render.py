"""A parametric, anti-aliased 2D face renderer.

Each part of the face is a signed distance field evaluated on the pixel grid; its coverage
(0.5 - d / pixel, clipped) gives anti-aliased edges without supersampling. Layers are composited
back to front. The renderer is pure numpy and renders a 128 px frame in a few milliseconds.

Coordinates: the image spans [-1, 1] on both axes (y down). Head-local coordinates are the
image coordinates minus the head centre, rotated by -roll and divided by the scale; yaw and
pitch move the inner features across the face, which is how a 2D face shows 3D rotation.
"""
from __future__ import annotations

import numpy as np

from .params import EX, ID, LANDMARK_NAMES, PO, color

_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size not in _GRIDS:
        c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
        _GRIDS[size] = np.meshgrid(c, c)  # (x, y), each H x W
    return _GRIDS[size]


def ellipse_sdf(x, y, cx, cy, a, b):
    """First-order signed distance to an axis-aligned ellipse (exact on the boundary)."""
    dx, dy = (x - cx) / a, (y - cy) / b
    r = np.sqrt(dx * dx + dy * dy) + 1e-6
    g = np.sqrt((dx / a) ** 2 + (dy / b) ** 2) / r + 1e-6  # |grad r|
    return (r - 1.0) / g


def capsule_sdf(x, y, x0, y0, x1, y1, radius):
    """Signed distance to a line segment thickened by `radius`."""
    px, py = x - x0, y - y0
    ex, ey = x1 - x0, y1 - y0
    h = np.clip((px * ex + py * ey) / (ex * ex + ey * ey + 1e-12), 0.0, 1.0)
    return np.sqrt((px - ex * h) ** 2 + (py - ey * h) ** 2) - radius


def coverage(d, pix):
    return np.clip(0.5 - d / pix, 0.0, 1.0)


def _over(img, rgb, alpha):
    """Composite a colour (3,) or colour image (H, W, 3) over img with per-pixel alpha.

    Only the box where alpha is nonzero is touched: outside it the update adds zero, so the frame is
    the same to the bit, and most parts (eyes, brows, nose, mouth) cover a small share of it."""
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return
    cols = np.flatnonzero(alpha.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    sub = img[box]
    if np.ndim(rgb) == 3:
        rgb = rgb[box]
    sub += (rgb - sub) * alpha[box][..., None]


def render_background(identity: np.ndarray, size: int, offset=(0.0, 0.0), gain: float = 1.0) -> np.ndarray:
    x, y = _grid(size)
    x = x + offset[0]
    y = y + offset[1]
    t = ((y + 1.0) * 0.5)[..., None]
    img = color(identity, "bg1") * (1 - t) + color(identity, "bg2") * t
    s = float(identity[ID["bg_stripes"]])
    if s > 0:
        th = float(identity[ID["bg_angle"]])
        wave = 0.5 + 0.5 * np.sin(9.0 * (x * np.cos(th) + y * np.sin(th)))
        img = img * (1.0 - 0.45 * s * wave)[..., None]
    return (img * gain).astype(np.float32)


def face_layout(identity: np.ndarray, expression: np.ndarray, pose: np.ndarray) -> dict:
    """Where the face's parts sit, in head-local coordinates, for one set of parameters: what the
    renderer draws and the landmarks mark. Scalars are Python floats; `eyes` holds (x, y, width
    scale) per eye, image left first."""
    I, E, P = identity, expression, pose
    g = {"jaw": float(np.clip(E[EX["jaw_open"]], 0.0, 1.0)),
         "mwid": float(np.clip(E[EX["mouth_width"]], -1.0, 1.0)),
         "blink": float(np.clip(E[EX["blink"]], 0.0, 1.0)),
         "brow": float(np.clip(E[EX["brow"]], -1.0, 1.0)),
         "yaw": float(P[PO["yaw"]]), "pitch": float(P[PO["pitch"]]), "roll": float(P[PO["roll"]]),
         "s": float(P[PO["scale"]]), "cx": float(P[PO["shift_x"]]), "cy": 0.02 + float(P[PO["shift_y"]]),
         "fw": float(I[ID["face_w"]]), "fh": float(I[ID["face_h"]])}
    fw, fh, jaw = g["fw"], g["fh"], g["jaw"]
    sy, cp = np.sin(g["yaw"]), np.cos(g["pitch"])
    fdx = 0.5 * fw * sy                      # inner features slide with yaw
    fdy = 0.35 * fh * np.sin(g["pitch"])     # and with pitch
    odx = 0.12 * fw * sy                     # the outline slides less
    g.update(sy=sy, cp=cp, fdx=fdx, fdy=fdy, odx=odx, chin=fh + 0.06 * jaw)

    def fy(v):  # vertical feature position under pitch foreshortening
        return fdy + v * cp

    g["fy"] = fy
    sp, ey0 = float(I[ID["eye_spacing"]]), float(I[ID["eye_y"]])
    eyes = []
    for sgn in (-1.0, 1.0):
        wscale = float(np.clip(1.0 + sgn * 0.35 * sy, 0.3, 1.7))
        eyes.append((sgn * sp * wscale ** 0.5 + fdx, fy(ey0), wscale))
    g["eyes"] = eyes
    g["nose_tip"] = (fdx * 1.2, fy(ey0 + float(I[ID["nose_len"]])))
    g["mx"], g["my"] = fdx * 1.1, fy(float(I[ID["mouth_y"]]) + 0.03 * jaw)
    g["ma"] = float(I[ID["mouth_w"]]) * (1.0 + 0.35 * g["mwid"]) * (1.0 - 0.12 * jaw)
    g["lt"] = float(I[ID["lip_thick"]])
    g["mb"] = g["lt"] + 0.085 * jaw
    return g


def face_landmarks(identity: np.ndarray, expression: np.ndarray, pose: np.ndarray, size: int,
                   layout: dict | None = None) -> np.ndarray:
    """The landmarks of one frame (`LANDMARK_NAMES`, (8, 2) float32, pixels of a `size` px frame),
    from its parameters alone: what `render_face` records beside each frame, and what the metrics
    compute from parameters that an inverse renderer predicts."""
    g = face_layout(identity, expression, pose) if layout is None else layout
    mx, my, ma, mb = g["mx"], g["my"], g["ma"], g["mb"]
    pts = np.array([
        g["eyes"][0][:2], g["eyes"][1][:2], g["nose_tip"],
        (mx - ma, my), (mx + ma, my), (mx, my - mb), (mx, my + mb), (g["odx"], g["chin"]),
    ], dtype=np.float64)
    cr, sr, s = np.cos(g["roll"]), np.sin(g["roll"]), g["s"]
    gx = g["cx"] + s * (cr * pts[:, 0] - sr * pts[:, 1])
    gy = g["cy"] + s * (sr * pts[:, 0] + cr * pts[:, 1])
    lm = np.stack([(gx + 1) * 0.5 * size - 0.5, (gy + 1) * 0.5 * size - 0.5], axis=1).astype(np.float32)
    assert lm.shape[0] == len(LANDMARK_NAMES)
    return lm


def render_face(identity: np.ndarray, expression: np.ndarray, pose: np.ndarray, size: int,
                background: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Render one frame. Returns (uint8 H x W x 3 image, landmarks (len(LANDMARK_NAMES), 2) in pixels)."""
    I = identity
    g = face_layout(identity, expression, pose)
    jaw, blink, brow = g["jaw"], g["blink"], g["brow"]
    s, cx, cy, roll = g["s"], g["cx"], g["cy"], g["roll"]

    img = (render_background(I, size) if background is None else background).copy()
    X, Y = _grid(size)
    pix_img = 2.0 / size

    # Shirt and shoulders live in image space: they follow the head's shift only partly.
    sh = coverage(ellipse_sdf(X, Y, 0.6 * cx, 0.88 + 0.3 * s, 1.0 * s, 0.42 * s), pix_img)
    _over(img, color(I, "shirt"), sh)

    # Head-local coordinates.
    cr, sr = np.cos(roll), np.sin(roll)
    ux, uy = (X - cx) / s, (Y - cy) / s
    x = cr * ux + sr * uy
    y = -sr * ux + cr * uy
    pix = pix_img / s

    fw, fh = g["fw"], g["fh"]
    skin, hair = color(I, "skin"), color(I, "hair")
    sy, fdx, odx, fy = g["sy"], g["fdx"], g["odx"], g["fy"]

    # Neck.
    nk = coverage(capsule_sdf(x, y, odx * 0.3, 0.55 * fh, odx * 0.3, 1.8 * fh, 0.42 * fw), pix)
    _over(img, skin * 0.82, nk)

    # Hair behind the head.
    vol = float(I[ID["hair_volume"]])
    hb = coverage(ellipse_sdf(x, y, -0.6 * odx, -0.08 - 0.04 * vol, fw * 1.10 + 0.08 * vol, fh * 0.95 + 0.06 * vol), pix)
    hb *= np.clip((0.2 * fh + 0.45 * vol * fh - y) / pix + 0.5, 0.0, 1.0)
    _over(img, hair, hb)

    # Ears: the one turned away hides behind the face.
    for sgn in (-1.0, 1.0):
        ea = 0.05 * max(0.15, 1.0 + sgn * 0.9 * sy)
        ear = coverage(ellipse_sdf(x, y, sgn * fw * 0.97 + odx, fy(float(I[ID["eye_y"]]) + 0.06), ea, 0.085), pix)
        _over(img, skin * 0.9, ear)

    # Face, with the chin dropping as the jaw opens; lit from the upper left.
    chin = g["chin"]
    taper = float(I[ID["jaw_taper"]])
    yy = np.clip((y - 0.0) / chin, 0.0, 1.0)
    a_face = fw * (1.0 - taper * yy * yy)
    b_face = np.where(y > 0, chin, fh)
    face = coverage(ellipse_sdf(x, y, odx, 0.0, a_face, b_face), pix)
    shade = (1.0 - 0.08 * (x - odx) / fw - 0.05 * y / fh)[..., None]
    _over(img, skin * shade, face)

    # Fringe: the hairline, clipped to the face.
    fr = float(I[ID["fringe"]])
    fringe = coverage(ellipse_sdf(x, y, odx * 0.6, -fh * 1.0, fw * 1.08, fh * (0.32 + 0.28 * fr)), pix) * face
    _over(img, hair, fringe)

    # Eyes: white, iris, pupil; a blink closes the lids to a lash line.
    es, ey0 = float(I[ID["eye_size"]]), float(I[ID["eye_y"]])
    iris_c = color(I, "iris")
    for sgn, (ex, ey, wscale) in zip((-1.0, 1.0), g["eyes"]):
        ea, eb = es * 1.25 * wscale, es * 0.72 * (1.0 - blink) + 1e-3
        white = coverage(ellipse_sdf(x, y, ex, ey, ea, eb), pix)
        _over(img, np.array([0.95, 0.95, 0.93], np.float32), white)
        ir = coverage(ellipse_sdf(x, y, ex + 0.3 * es * sy, ey, es * 0.55 * wscale, es * 0.55), pix) * white
        _over(img, iris_c, ir)
        pu = coverage(ellipse_sdf(x, y, ex + 0.3 * es * sy, ey, es * 0.25 * wscale, es * 0.25), pix) * white
        _over(img, np.array([0.03, 0.03, 0.03], np.float32), pu)
        lash = coverage(capsule_sdf(x, y, ex - ea, ey, ex + ea, ey, 0.007), pix) * blink
        _over(img, hair * 0.5, lash)
        # Brows rise with the brow parameter.
        by = ey - es * 1.5 - 0.045 * brow
        bt = float(I[ID["brow_thick"]])
        bw = coverage(capsule_sdf(x, y, ex - sgn * ea * 0.95, by + 0.006, ex + sgn * ea * 0.95, by - 0.006, bt), pix)
        _over(img, hair * 0.75, bw)

    # Nose: from the bridge to the tip.
    tip_x, tip_y = g["nose_tip"]
    nose = coverage(capsule_sdf(x, y, fdx * 1.05, fy(ey0 + 0.06), tip_x, tip_y, 0.014), pix)
    _over(img, skin * 0.8, nose * 0.7)
    nos = coverage(ellipse_sdf(x, y, tip_x, fy(ey0 + float(I[ID["nose_len"]]) + 0.01), 0.035, 0.012), pix)
    _over(img, skin * 0.6, nos * 0.6)

    # Mouth: lips, then the open interior with a row of teeth, then the lip line when closed.
    mx, my, ma, mb = g["mx"], g["my"], g["ma"], g["mb"]
    lips = coverage(ellipse_sdf(x, y, mx, my, ma, mb), pix)
    _over(img, color(I, "lip"), lips)
    ib = 0.085 * jaw
    if ib > 1e-3:
        inner = coverage(ellipse_sdf(x, y, mx, my, ma * 0.78, ib), pix)
        _over(img, np.array([0.25, 0.05, 0.06], np.float32), inner)
        teeth = inner * np.clip((my - ib * 0.45 - y) / pix + 0.5, 0.0, 1.0)
        _over(img, np.array([0.93, 0.92, 0.88], np.float32), teeth)
    line = coverage(capsule_sdf(x, y, mx - ma * 0.85, my, mx + ma * 0.85, my, 0.006), pix) * (1.0 - min(1.0, jaw * 6))
    _over(img, color(I, "lip") * 0.45, line)

    out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out, face_landmarks(identity, expression, pose, size, layout=g)

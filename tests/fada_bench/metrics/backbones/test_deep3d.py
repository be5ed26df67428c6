"""efid[deep3d]: Deep3DFaceRecon's checkpoint loads by its key names, the 257 coefficients split as
the authors split them, and the 5-point alignment puts a face where the authors' crop puts it.

The checkpoint layout is written here from Deep3DFaceRecon_pytorch's `models/networks.py`
(ReconNetWrapper over torchvision's ResNet-50, `use_last_fc=False`) and `models/base_model.py`
(`save_networks`: {'net_recon': state dict, 'opt_00': ..., 'sched_00': ...}), not from our module,
so a renamed or reshaped layer in the port fails here. No real weight file is needed.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fada.errors import InputError
from fada_bench.metrics.backbones import ExpressionExtractor
from fada_bench.metrics.backbones import standard
from fada_bench.metrics.backbones.standard import deep3d


def _bn(prefix: str, n: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{k}": (n,) for k in ("weight", "bias", "running_mean", "running_var")} | {
        f"{prefix}.num_batches_tracked": ()}


def reference_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of the checkpoint's 'net_recon' with its shape, from the reference layout:
    torchvision's resnet50 ([3, 4, 6, 3] bottlenecks, expansion 4, no fc) under 'backbone.',
    then seven 1x1 conv heads of widths 80, 64, 80, 3, 27, 2, 1 under 'final_layers.'."""
    shapes = {"backbone.conv1.weight": (64, 3, 7, 7), **_bn("backbone.bn1", 64)}
    cin = 64
    for i, (planes, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], 1):
        for j in range(blocks):
            p = f"backbone.layer{i}.{j}"
            shapes[f"{p}.conv1.weight"] = (planes, cin, 1, 1)
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            shapes[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            shapes |= _bn(f"{p}.bn1", planes) | _bn(f"{p}.bn2", planes) | _bn(f"{p}.bn3", planes * 4)
            if j == 0:
                shapes[f"{p}.downsample.0.weight"] = (planes * 4, cin, 1, 1)
                shapes |= _bn(f"{p}.downsample.1", planes * 4)
            cin = planes * 4
    for k, width in enumerate((80, 64, 80, 3, 27, 2, 1)):
        shapes[f"final_layers.{k}.weight"] = (width, 2048, 1, 1)
        shapes[f"final_layers.{k}.bias"] = (width,)
    return shapes


def reference_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Small random weights in the reference layout; BatchNorm variances positive."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in reference_shapes().items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(1000)
        elif k.endswith("running_var"):
            out[k] = 0.5 + torch.rand(shape, generator=g)
        else:
            out[k] = 0.02 * torch.randn(shape, generator=g)
    return out


def save_checkpoint(path, state) -> None:
    # as save_networks writes it: the network beside an Adam state and a StepLR state
    torch.save({"net_recon": state,
                "opt_00": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
                "sched_00": {"step_size": 5, "gamma": 0.2, "last_epoch": 20}}, path)


def test_the_port_has_exactly_the_reference_keys_and_shapes():
    ours = {k: tuple(v.shape) for k, v in deep3d.ReconNet().state_dict().items()}
    ref = reference_shapes()
    assert sorted(set(ref) - set(ours)) == [] and sorted(set(ours) - set(ref)) == []
    assert {k: ours[k] for k in ref} == ref
    assert len(ref) == 332          # torchvision resnet50 without fc (318) + 7 heads x 2


def test_checkpoint_loads_by_key_names_with_weights_only(tmp_path):
    state = reference_state()
    path = tmp_path / "epoch_20.pth"
    save_checkpoint(path, state)
    net = deep3d.load_recon_net(path)
    loaded = net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    with torch.inference_mode():
        out = net(torch.rand(2, 3, 224, 224))
    assert out.shape == (2, deep3d.N_COEFFS) == (2, 257) and torch.isfinite(out).all()


def test_a_file_of_another_layout_is_a_clear_error(tmp_path):
    state = reference_state()
    state["backbone.fc.weight"] = torch.zeros(257, 2048)          # a use_last_fc=True model
    state.pop("final_layers.1.bias")
    path = tmp_path / "epoch_20.pth"
    save_checkpoint(path, state)
    with pytest.raises(InputError) as err:
        deep3d.load_recon_net(path)
    msg = str(err.value)
    assert str(path) in msg and "missing keys: final_layers.1.bias" in msg and "backbone.fc.weight" in msg
    torch.save(state, path)                                          # no 'net_recon' entry
    with pytest.raises(InputError, match="'net_recon'"):
        deep3d.load_recon_net(path)


def test_coefficients_split_as_split_coeff():
    # bfm.py split_coeff: [:80] id, [80:144] exp, [144:224] tex, [224:227] angle, [227:254] gamma, [254:] trans
    parts = deep3d.split_coefficients(np.arange(257.0)[None])
    want = {"id": (0, 80), "exp": (80, 144), "tex": (144, 224), "angle": (224, 227),
            "gamma": (227, 254), "trans": (254, 257)}
    assert set(parts) == set(want)
    for group, (a, b) in want.items():
        np.testing.assert_array_equal(parts[group][0], np.arange(a, b), err_msg=group)


def test_the_expression_head_is_the_second_layer():
    # Zero weights and a distinct bias per head: the output is the heads' biases in order, and
    # the expression slice is exactly final_layers[1] (the 'exp layer' of ReconNetWrapper).
    net = deep3d.ReconNet().eval()
    with torch.no_grad():
        for k, layer in enumerate(net.final_layers):
            layer.weight.zero_()
            layer.bias.copy_(torch.arange(layer.bias.numel()) + 1000.0 * k)
        out = net(torch.rand(1, 3, 224, 224))
    np.testing.assert_array_equal(deep3d.split_coefficients(out)["exp"][0].numpy(), np.arange(64) + 1000.0)


# ------------------------------------------------------------------------------- alignment
# The crop offset and size are truncated to integers as in the reference, which moves points by
# up to a pixel; a wrong scale, flip or centre would move them by tens of pixels.
TOL = 1.5


def test_the_template_maps_onto_itself():
    t = deep3d.template_in_crop()
    box = deep3d.crop_box(deep3d.CROP, deep3d.CROP, t)
    assert abs(box[0] - 224) <= 1 and abs(box[1] - 224) <= 1 and abs(box[2]) <= 1 and abs(box[3]) <= 1
    np.testing.assert_allclose(deep3d.to_crop(t, 224, 224, box), t, atol=TOL)
    # and the template's eyes sit above its nose, above its mouth, image-left before image-right
    assert t[0, 0] < t[2, 0] < t[1, 0] and t[0, 1] < t[2, 1] < t[3, 1] and t[3, 0] < t[4, 0]


@pytest.mark.parametrize("scale, shift, size", [(1.7, (53.0, 31.0), (500, 460)),
                                                (0.6, (-20.0, 12.0), (160, 180)),
                                                (3.1, (240.0, 90.0), (1280, 720))])
def test_a_scaled_and_shifted_face_is_brought_back(scale, shift, size):
    t = deep3d.template_in_crop()
    points = t * scale + np.array(shift)
    width, height = size
    box = deep3d.crop_box(width, height, points)
    assert abs(box[0] - width / scale) <= 1 and abs(box[1] - height / scale) <= 1
    np.testing.assert_allclose(deep3d.to_crop(points, width, height, box), t, atol=TOL)


def test_in_plane_rotation_is_left_to_the_network():
    # POS keeps only scale and translation (the network predicts the angles): a face rolled by
    # 20 degrees about its centre keeps its size and stays rolled by 20 degrees in the crop.
    t = deep3d.template_in_crop()
    c = t.mean(0)
    a = np.deg2rad(20)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    points = (t - c) @ rot.T * 1.3 + c * 1.3 + 40
    got = deep3d.to_crop(points, 400, 400, deep3d.crop_box(400, 400, points))
    eyes = got[1] - got[0]
    assert np.degrees(np.arctan2(eyes[1], eyes[0])) == pytest.approx(20, abs=1.0)
    assert np.linalg.norm(eyes) == pytest.approx(np.linalg.norm(t[1] - t[0]), rel=0.03)


def _blobs(points: np.ndarray, width: int, height: int, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.zeros((height, width))
    for x, y in points:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    return np.repeat((255 * np.clip(img, 0, 1)).astype(np.uint8)[..., None], 3, axis=2)


def test_the_image_crop_puts_the_points_at_the_template():
    # End to end through PIL: bright dots at a scaled, shifted template; the crop the network sees
    # has them where the template's points are.
    t = deep3d.template_in_crop()
    scale, width, height = 1.5, 420, 360
    points = t * scale + np.array([60.0, 25.0])
    crop = deep3d.align_face(_blobs(points, width, height, 2.0 * scale), points)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    g = crop[..., 0].astype(np.float64)
    yy, xx = np.mgrid[0:224, 0:224]
    for x0, y0 in t:
        win = (np.abs(xx - x0) < 10) & (np.abs(yy - y0) < 10)
        w = g * win
        centroid = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
        np.testing.assert_allclose(centroid, (x0, y0), atol=TOL)


# ------------------------------------------------------------------------------- the backbone

def test_a_missing_weight_file_names_it_where_it_looked_and_how_to_get_it(empty_weight_dirs):
    env, home = empty_weight_dirs
    with pytest.raises(InputError) as err:
        deep3d.Deep3DExpression()
    msg = str(err.value)
    assert "epoch_20.pth" in msg
    assert str(env) in msg and str(home / ".cache" / "fada-bench" / "weights") in msg
    assert "Deep3DFaceRecon_pytorch" in msg
    ok, why = standard.available("deep3d")
    assert not ok and "epoch_20.pth" in why


class _FixedLandmarks:
    """Stands in for the face mesh: a face (the template, scaled) in frames that are not blank."""

    def landmarks(self, frame):
        if not frame.any():
            return None
        lm = np.zeros((468, 3))
        t = deep3d.template_in_crop() * 0.5 + 8
        lm[list(deep3d.EYE_IMAGE_LEFT), :2] = t[0]
        lm[list(deep3d.EYE_IMAGE_RIGHT), :2] = t[1]
        lm[[deep3d.NOSE_TIP, deep3d.MOUTH_IMAGE_LEFT, deep3d.MOUTH_IMAGE_RIGHT], :2] = t[2:]
        return lm


def test_expressions_per_frame_with_nan_where_no_face(tmp_path):
    save_checkpoint(tmp_path / "epoch_20.pth", reference_state())
    ex = deep3d.Deep3DExpression(tmp_path, landmarks=_FixedLandmarks())
    assert isinstance(ex, ExpressionExtractor) and ex.name == "deep3d"
    frames = np.random.default_rng(0).integers(1, 256, (3, 128, 128, 3), dtype=np.uint8)
    frames[1] = 0
    coeffs = ex.coefficients(frames)
    expr = ex.expressions(frames)
    assert coeffs.shape == (3, 257) and expr.shape == (3, 64)
    assert np.isnan(expr[1]).all() and np.isfinite(expr[[0, 2]]).all()
    np.testing.assert_array_equal(expr, coeffs[:, 80:144])
    # the crop the network saw: the face points at the template's place
    crops, found = ex.aligned_faces(frames[:1])
    assert crops.shape == (1, 224, 224, 3) and found.tolist() == [True]


def test_five_points_from_the_face_mesh_on_a_photo():
    # mediapipe on a real face photo: the five points come in the template's order
    skimage_data = pytest.importorskip("skimage.data")
    from fada_bench.metrics.backbones.standard.mediapipe_expr import MediapipeExpression
    mesh = MediapipeExpression()
    try:
        lm = mesh.landmarks(skimage_data.astronaut())
    finally:
        mesh.close()
    p = deep3d.five_points(lm)
    assert p.shape == (5, 2)
    assert p[0, 0] < p[2, 0] < p[1, 0] and p[3, 0] < p[4, 0]          # left to right
    assert max(p[0, 1], p[1, 1]) < p[2, 1] < min(p[3, 1], p[4, 1])     # eyes, nose, mouth downwards
    # the authors' crop of this face: eyes and mouth land near the template's places
    box = deep3d.crop_box(512, 512, p)
    np.testing.assert_allclose(deep3d.to_crop(p, 512, 512, box), deep3d.template_in_crop(), atol=12)


def test_efid_deep3d_is_registered_for_the_real_world_only(empty_weight_dirs):
    from fada_bench.registry import METRICS, metric_available
    cls = METRICS.get("efid[deep3d]")
    assert cls.backbone == "deep3d"
    ok, why = metric_available(cls, "real")
    assert not ok and "epoch_20.pth" in why
    ok, why = metric_available(cls, "synthetic")
    assert not ok and "real world only" in why
    env, _ = empty_weight_dirs
    save_checkpoint(env / "epoch_20.pth", reference_state())
    assert metric_available(cls, "real") == (True, "")


def test_efid_leaves_out_the_frames_without_a_face():
    import types

    from fada_bench.metrics.efid import ExpressionFrechetDistance

    class Stub:
        name = "deep3d"

        def expressions(self, frames):
            out = np.arange(len(frames) * 64, dtype=np.float64).reshape(len(frames), 64)
            out[1] = np.nan
            return out

    rows = ExpressionFrechetDistance.of(Stub()).features(types.SimpleNamespace(frames=np.zeros((4, 8, 8, 3), np.uint8)), None)
    assert rows.shape == (3, 64) and np.isfinite(rows).all()


def test_expr_err_deep3d_pairs_the_networks_coefficients_frame_by_frame(tmp_path, empty_weight_dirs):
    from fada_bench.metrics.paired import ExpressionError
    from fada_bench.registry import METRICS, metric_available

    cls = METRICS.get("expr_err[deep3d]")
    assert metric_available(cls, "synthetic")[0] is False and "epoch_20.pth" in metric_available(cls, "real")[1]
    save_checkpoint(tmp_path / "epoch_20.pth", reference_state())
    ex = deep3d.Deep3DExpression(tmp_path, landmarks=_FixedLandmarks())
    m = ExpressionError.of(ex)
    rng = np.random.default_rng(1)
    a, b = (rng.integers(1, 256, (3, 128, 128, 3), dtype=np.uint8) for _ in range(2))
    a[1] = 0                                            # no face in frame 1 of the first video
    fa, fb = (m.features(type("V", (), {"frames": f})(), None) for f in (a, b))
    assert m.sample_value(fa, fa) == 0.0
    want = np.abs(ex.expressions(a) - ex.expressions(b))[[0, 2]].mean()
    assert m.sample_value(fa, fb) == pytest.approx(want)

"""Recipes that train the synthetic world's metric backbones, measure them on held-out identities
and ship them as fp16 safetensors with their sha256 in fada_bench/weights/synthetic/registry.json.

    fada-bench weights train-synthetic                      # all four, seed 0
    fada-bench weights train-synthetic --only syncnet       # one (repeatable)
    fada-bench weights train-synthetic --threads 2 --work DIR

Each recipe renders its own clips with the synthetic world's `make_clip` and passes them through
the suite's own encoding (h264 at crf 18 with AAC audio, `write_video` then `read_video`), so the
networks learn on what they will score. Identities come from a seed stream of their own, apart
from the world builder's, and are checked against the test suite's identities. Training is one
loop (`fit`): AdamW, warm-up then cosine decay, a checkpoint every 200 steps in --work (a rerun
resumes; the rendered data is cached there too), batches drawn from a generator seeded by
(seed, step), so a resumed run draws what an uninterrupted one would. Each recipe is sized to run
in under 15 minutes on 2 CPU threads. The networks, their preprocessing and their loading live in
`fada_bench.metrics.backbones.synthetic`; scoring never imports this module.

Held-out accuracies (on identities from a third stream) go into the registry next to each file.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from fada.data.dataset import _resize
from fada.data.io import FPS, read_video, write_text_atomic, write_video
from fada.data.synthetic.params import EX, ID, sample_identity
from fada.data.synthetic.world import apply_degradation, make_clip
from fada.errors import InputError

from .metrics.backbones import synthetic as sb
from .weight_files import synthetic as synthetic_weights
from .weight_files.standard import WeightsError

SUITE_SIZE = 128          # the synthetic suite's frame side (its split file's world.size)
STREAM = 0xFADA_B0E       # first word of every backbone-training seed: apart from the world builder's
HELDOUT = 1               # purpose codes within the stream
TRAIN = 0

# Graded degradations: strength ranges and the map from strength to a quality loss in [0, 1].
# Blur sigma in px at 128 px and noise std on 0-255 grow linearly to a full loss at the range's
# end; JPEG quality 70 (no visible loss on these images) down to 3 (make_clip's compression
# defect uses 4-10) maps linearly to 0..1. The quality score is 1 + 4 * prod(1 - loss): 5 for a
# clean frame, 1 for a fully degraded one (Q-Align's 1-5 scale).
BLUR_MAX, NOISE_MAX, JPEG_BEST, JPEG_WORST = 3.5, 35.0, 70, 3


def degradation_loss(kind: str, strength: float) -> float:
    if kind == "blur":
        return float(np.clip(strength / BLUR_MAX, 0, 1))
    if kind == "noise":
        return float(np.clip(strength / NOISE_MAX, 0, 1))
    if kind == "compression":
        return float(np.clip((JPEG_BEST - strength) / (JPEG_BEST - JPEG_WORST), 0, 1))
    raise ValueError(f"unknown degradation {kind!r}")


def quality_score(losses) -> float:
    return float(1.0 + 4.0 * np.prod([1.0 - x for x in losses]))


def draw_strength(rng: np.random.Generator, kind: str) -> float:
    if kind == "blur":
        return float(rng.uniform(0.3, BLUR_MAX))
    if kind == "noise":
        return float(rng.uniform(2.0, NOISE_MAX))
    return float(rng.integers(JPEG_WORST, JPEG_BEST + 1))


def random_degradation(frames: np.ndarray, rng: np.random.Generator, p_kinds=(0.3, 0.5, 0.2)) -> tuple[np.ndarray, np.ndarray]:
    """Apply 0, 1 or 2 distinct degradations (probabilities `p_kinds`) at random strengths to all
    of `frames`; returns the frames and the loss per kind (blur, noise, compression)."""
    n = int(rng.choice(len(p_kinds), p=p_kinds))
    losses = np.zeros(len(sb.DEGRADATIONS), np.float32)
    kinds = sorted(rng.choice(len(sb.DEGRADATIONS), size=n, replace=False).tolist())
    for k in kinds:   # blur before noise before JPEG, as a camera then an encoder would
        kind = sb.DEGRADATIONS[k]
        s = draw_strength(rng, kind)
        frames = apply_degradation(frames, kind, s, rng)
        losses[k] = degradation_loss(kind, s)
    return frames, losses


# ============================================================================ data

def identity_seed(seed: int, purpose: int, recipe: int, i: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([STREAM, seed, purpose, recipe, i])


def suite_identities() -> list[np.ndarray]:
    """The synthetic test suite's identities, rebuilt from its split file's world settings."""
    from fada.data.synthetic.build import WorldConfig, plan
    from fada_bench.paths import find_split

    try:
        path = find_split("synthetic")
    except FileNotFoundError:
        return []
    split = json.loads(path.read_text())
    w = split.get("world", {})
    cfg = WorldConfig(**{k: w[k] for k in ("n_train", "n_test", "n_openset", "size", "seed", "seconds",
                                           "clips_per_identity", "clean_fraction") if k in w})
    ids = set(split["ids"])
    return [sample_identity(np.random.default_rng(np.random.SeedSequence(s.identity_seed)), s.style)
            for s in plan(cfg) if s.id in ids]


def check_apart_from_suite(identities: list[np.ndarray], log) -> None:
    test = {t.tobytes() for t in suite_identities()}
    if not test:
        log("note: no synthetic split file found; the apart-from-the-suite check was skipped")
        return
    clash = sum(x.tobytes() in test for x in identities)
    if clash:
        raise RuntimeError(f"{clash} training identities equal test-suite identities")
    log(f"checked: none of {len(identities)} identities is one of the {len(test)} test-suite identities")


def render(seed: int, purpose: int, recipe: int, i: int, n_frames: int, defects: tuple[str, ...] = ()):
    """One clip through the suite's encoding: (decoded frames, decoded audio, the SynthClip)."""
    ident = sample_identity(np.random.default_rng(identity_seed(seed, purpose, recipe, i)))
    clip = make_clip(np.random.SeedSequence([STREAM, seed, purpose, recipe, i, 1]), ident, n_frames,
                     SUITE_SIZE, defects)
    with tempfile.TemporaryDirectory() as d:
        v = read_video(write_video(Path(d) / "c.mp4", clip.frames, FPS, clip.audio))
    return v.frames, v.audio, clip


def data_spec(r: "Recipe") -> dict:
    """What a recipe's rendered training data depends on (not its optimiser settings)."""
    return {"name": r.name, "code": r.code, "seed": r.seed, "n_train": r.n_train, "n_frames": r.n_frames,
            "extra": r.extra, "suite_size": SUITE_SIZE, "v": 2}


def check_training_set_apart(r: Recipe, log) -> None:
    """`check_apart_from_suite` on the identities of recipe `r`'s training clips."""
    check_apart_from_suite([sample_identity(np.random.default_rng(identity_seed(r.seed, TRAIN, r.code, i)))
                            for i in range(r.n_train)], log)


def cached(work: Path, name: str, spec: dict, make: Callable[[], dict[str, np.ndarray]], log) -> dict[str, np.ndarray]:
    """Arrays made by `make`, kept in work/NAME-data-HASH/ so that a rerun or a resume skips rendering."""
    import hashlib

    tag = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    folder = work / f"{name}-data-{tag}"
    done = folder / "done.json"
    if done.is_file():
        keys = json.loads(done.read_text())["arrays"]
        log(f"data: cached in {folder}")
        return {k: np.load(folder / f"{k}.npy", allow_pickle=False) for k in keys}
    t0 = time.perf_counter()
    arrays = make()
    folder.mkdir(parents=True, exist_ok=True)
    for k, v in arrays.items():
        np.save(folder / f"{k}.npy", v, allow_pickle=False)
    done.write_text(json.dumps({"arrays": sorted(arrays), "spec": spec}))
    log(f"data: rendered in {time.perf_counter() - t0:.0f} s: " +
        ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items()))
    return arrays


# ============================================================================ the loop

@dataclass(frozen=True)
class Recipe:
    name: str
    code: int                  # recipe's word in the seed stream
    n_train: int               # training identities (one clip each)
    n_frames: int              # frames per training clip
    n_heldout: int
    steps: int
    batch: int
    lr: float
    weight_decay: float = 1e-4
    warmup: int = 100
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def scaled(self, scale: float) -> "Recipe":
        """A smaller copy for smoke tests: fewer identities and steps."""
        n_train = max(4, int(self.n_train * scale))
        return Recipe(**{**asdict(self), "n_train": n_train, "batch": min(self.batch, n_train),
                         "n_heldout": max(4, int(self.n_heldout * scale)),
                         "steps": max(2, int(self.steps * scale)), "warmup": max(1, int(self.warmup * scale))})


def fit(net: nn.Module, recipe: Recipe, batch_fn: Callable, loss_fn: Callable, work: Path, log) -> nn.Module:
    """Train `net` for recipe.steps steps; checkpoint to work/NAME.ckpt.pt and resume from it."""
    ckpt = work / f"{recipe.name}.ckpt.pt"
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    step = 0
    if ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if state["recipe"] != json.dumps(asdict(recipe), sort_keys=True):
            raise RuntimeError(f"{ckpt} was made by another recipe; remove it or use another --work")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = int(state["step"])
        log(f"resumed at step {step}")
    net.train()
    t0, seen, run_loss = time.perf_counter(), 0, 0.0
    while step < recipe.steps:
        # warm-up, then cosine decay to 5% of the peak
        lr = recipe.lr * (min(1.0, (step + 1) / recipe.warmup) *
                          (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / recipe.steps))))
        for g in opt.param_groups:
            g["lr"] = lr
        batch = batch_fn(np.random.default_rng([recipe.seed, recipe.code, step]))
        loss = loss_fn(net, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        seen += 1
        run_loss += float(loss.detach())
        if step % 50 == 0 or step == recipe.steps:
            dt = time.perf_counter() - t0
            log(f"step {step}/{recipe.steps} loss {run_loss / seen:.4f} lr {lr:.2e} "
                f"{dt / seen:.2f} s/step, {dt / seen * (recipe.steps - step) / 60:.1f} min left")
            t0, seen, run_loss = time.perf_counter(), 0, 0.0
        if step % 200 == 0 or step == recipe.steps:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step,
                        "recipe": json.dumps(asdict(recipe), sort_keys=True)}, tmp)
            os.replace(tmp, ckpt)
    return net.eval()


def standardise(net: nn.Module, targets: np.ndarray) -> None:
    """Set the network's target statistics from training targets (a constant column keeps std 1)."""
    mean = targets.mean(0)
    std = targets.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    net.target_mean.copy_(torch.from_numpy(mean.astype(np.float32)))
    net.target_std.copy_(torch.from_numpy(std.astype(np.float32)))


def r2(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Coefficient of determination per column, 1 - SS_res / SS_tot; NaN for a constant column."""
    ss_res = ((pred - true) ** 2).sum(0)
    ss_tot = ((true - true.mean(0)) ** 2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 1e-12, 1.0 - ss_res / ss_tot, np.nan)


def ship(net: nn.Module, recipe: Recipe, out: Path, held_out: dict, log,
         config: dict | None = None, extra: dict | None = None) -> Path:
    """Write fp16 safetensors and record file, sha256, recipe and held-out accuracy in the registry."""
    from safetensors.torch import save_file

    from fada.hashing import sha256_file

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{recipe.name}.safetensors"
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    # BatchNorm's step counter is unused in eval mode; keep the key so loading stays strict.
    state.update({k: v.detach().clone() for k, v in net.state_dict().items() if k.endswith("num_batches_tracked")})
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"recipe": json.dumps(asdict(recipe), sort_keys=True)})
    os.replace(tmp, path)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)   # safetensors writes 0600; the package's files must be readable
    reg_file = out / synthetic_weights.REGISTRY_FILE.name
    reg = json.loads(reg_file.read_text()) if reg_file.is_file() else {}
    reg[recipe.name] = {
        "file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "architecture": type(net).__name__, "config": config or {}, "recipe": asdict(recipe),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "held_out": held_out,
        "rebuild": f"{synthetic_weights.REBUILD_COMMAND} --only {recipe.name}", **(extra or {}),
    }
    write_text_atomic(reg_file, json.dumps(reg, indent=1, sort_keys=True) + "\n")
    log(f"shipped {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return path


def fit_and_ship(net: nn.Module, recipe: Recipe, batch_fn: Callable, loss_fn: Callable, work: Path, out: Path, log,
                 evaluate: Callable, config: dict | None = None, extra: dict | None = None) -> dict:
    """Train, ship, score the held-out set, and ship again with those figures in the registry. The
    evaluation loads the shipped float16 file, so the figures are those of the weights users get."""
    fit(net, recipe, batch_fn, loss_fn, work, log)
    ship(net, recipe, out, {}, log, config, extra)
    held = evaluate(recipe, out, log)
    ship(net, recipe, out, held, log, config, extra)
    return held


# ============================================================================ inverse renderer

IR = Recipe("inverse_renderer", code=1, n_train=1000, n_frames=24, n_heldout=150, steps=2400, batch=64, lr=2e-3,
            extra={"p_excessive": 0.15, "p_frozen": 0.05, "p_degraded": 0.5, "input_size": 128})


def _ir_targets(clip, t: int, losses: np.ndarray) -> np.ndarray:
    return np.concatenate([clip.identity[sb.VISIBLE_IDENTITY_IDX], clip.expression[t], clip.pose[t], losses]).astype(np.float32)


def ir_data(r: Recipe, purpose: int, n: int, degrade: bool) -> dict[str, np.ndarray]:
    xs, ys = [], []
    for i in range(n):
        rng = np.random.default_rng([STREAM, r.seed, purpose, r.code, i, 2])
        u = rng.random()
        defects = ("excessive_motion",) if u < r.extra["p_excessive"] else \
                  ("frozen_motion",) if u < r.extra["p_excessive"] + r.extra["p_frozen"] else ()
        frames, _, clip = render(r.seed, purpose, r.code, i, r.n_frames, defects)
        for t in range(frames.shape[0]):
            f, losses = frames[t:t + 1], np.zeros(3, np.float32)
            if degrade and rng.random() < r.extra["p_degraded"]:
                f, losses = random_degradation(f, rng, p_kinds=(0.0, 0.8, 0.2))
            xs.append(_resize(f, r.extra["input_size"])[0])
            ys.append(_ir_targets(clip, t, losses))
    return {"x": np.stack(xs), "y": np.stack(ys)}


def train_inverse_renderer(r: Recipe, work: Path, out: Path, log) -> dict:
    check_training_set_apart(r, log)
    d = cached(work, r.name, data_spec(r), lambda: ir_data(r, TRAIN, r.n_train, True), log)
    torch.manual_seed(r.seed)
    net = sb.InverseRendererNet(r.extra["input_size"])
    standardise(net, d["y"])
    x_all = torch.from_numpy(d["x"])
    y_all = (torch.from_numpy(d["y"]) - net.target_mean) / net.target_std
    weights = torch.ones(net.n_out)
    weights[net.slices()["expression"]] = 3.0   # E-FID's output: worth the most

    def batch_fn(rng):
        idx = torch.from_numpy(rng.integers(0, x_all.shape[0], r.batch))
        return x_all[idx].permute(0, 3, 1, 2).float().div(127.5).sub(1.0), y_all[idx]

    def loss_fn(net, b):
        _, out = net(b[0])
        return (((out - b[1]) ** 2) * weights).mean()

    return fit_and_ship(net, r, batch_fn, loss_fn, work, out, log, eval_inverse_renderer,
                        {"input_size": r.extra["input_size"]})


def eval_inverse_renderer(r: Recipe, out: Path, log) -> dict:
    from .metrics.csim import cosine_to

    bb = sb.SyntheticInverseRenderer(sb.load_network("inverse_renderer", out))
    res = {"identities": r.n_heldout}
    for degraded in (False, True):
        exprs, poses, ids, same = [], [], [], []
        rng = np.random.default_rng([STREAM, r.seed, HELDOUT, r.code, 99])
        emb_first = []
        for i in range(r.n_heldout):
            frames, _, clip = render(r.seed, HELDOUT, r.code, i, 16)
            if degraded:
                frames, _ = random_degradation(frames, rng, p_kinds=(0.0, 0.8, 0.2))
            a = bb.analyse(frames)
            exprs.append((a["expression"], clip.expression))
            poses.append((a["pose"], clip.pose))
            ids.append(a["identity"])
            emb_first.append(a["identity"][0])
            same.append(cosine_to(a["identity"][0], a["identity"][1:]).mean())
        pe, te = (np.concatenate(z) for z in zip(*exprs))
        pp, tp = (np.concatenate(z) for z in zip(*poses))
        r2e = r2(pe, te)
        emb_first = np.stack(emb_first)
        # identification: does each frame's identity embedding sit closest to its own clip's first frame?
        hits, other = 0, []
        for i, e in enumerate(ids):
            sims = np.stack([cosine_to(f, e[1:]) for f in emb_first])   # n_ref x frames
            hits += int((sims.argmax(0) == i).sum())
            other.append(np.delete(sims, i, axis=0).mean())
        tag = "degraded" if degraded else "clean"
        res[tag] = {
            "expression_r2": {k: round(float(v), 4) for k, v in zip(EX, r2e)},
            "expression_r2_mean": round(float(r2e.mean()), 4),
            "pose_r2_mean": round(float(r2(pp, tp).mean()), 4),
            "csim_same_identity": round(float(np.mean(same)), 4),
            "csim_other_identities": round(float(np.mean(other)), 4),
            "identification_top1": round(hits / sum(len(e) - 1 for e in ids), 4),
        }
        log(f"held-out ({tag}): {res[tag]}")
    return res


# ============================================================================ video network

VIDEO = Recipe("video_features", code=2, n_train=600, n_frames=32, n_heldout=100, steps=2000, batch=64, lr=2e-3,
               extra={"p_degraded": 0.3, "p_still": 0.08,
                      "defects": {"frozen_motion": 0.1, "excessive_motion": 0.1, "unstable_background": 0.1}})
_COLOURS = np.array([ID[f"{c}_{ch}"] for c in ("skin", "hair", "bg1") for ch in "rgb"])
_VIDEO_FRAMES = np.array([0, 5, 10, 15])


def video_targets(expr: np.ndarray, pose: np.ndarray, colours: np.ndarray, bg: float, losses: np.ndarray) -> np.ndarray:
    """63 clip targets from a 16-frame window: expression and pose at frames 0, 5, 10, 15; the
    mean absolute frame-to-frame change of each (motion); background instability; degradation
    losses; skin, hair and background colour."""
    t = np.concatenate([expr[_VIDEO_FRAMES].ravel(), pose[_VIDEO_FRAMES].ravel(),
                        np.abs(np.diff(expr, axis=0)).mean(0), np.abs(np.diff(pose, axis=0)).mean(0),
                        [bg], losses, colours]).astype(np.float32)
    assert t.size == sb.VIDEO_TARGETS
    return t


def frame_encoder(out: Path) -> tuple[sb.InverseRendererNet, str]:
    """The shipped inverse renderer, whose trunk the video network copies in as its frame encoder."""
    try:
        ir = sb.load_network("inverse_renderer", out)
    except WeightsError as e:
        raise WeightsError(f"the video network is built on the inverse renderer: {e}") from None
    return ir, synthetic_weights.registry(out)["inverse_renderer"]["sha256"]


def video_clips(r: Recipe, purpose: int, n: int):
    """(frames, SynthClip, per-clip meta) for n clips with the recipe's defects and degradations."""
    names, probs = zip(*r.extra["defects"].items())
    for i in range(n):
        rng = np.random.default_rng([STREAM, r.seed, purpose, r.code, i, 2])
        u, acc, defects = rng.random(), 0.0, ()
        for name, p in zip(names, probs):
            acc += p
            if u < acc:
                defects = (name,)
                break
        frames, _, clip = render(r.seed, purpose, r.code, i, r.n_frames, defects)
        losses = np.zeros(3, np.float32)
        if rng.random() < r.extra["p_degraded"]:
            frames, losses = random_degradation(frames, rng, p_kinds=(0.0, 0.8, 0.2))
        meta = np.concatenate([[clip.degradation.get("unstable_background", 0.0)], losses,
                               clip.identity[_COLOURS]]).astype(np.float32)
        yield frames, clip, meta


def video_data(r: Recipe, purpose: int, n: int, encoder: sb.InverseRendererNet) -> dict[str, np.ndarray]:
    """Frame features (the frozen encoder's, so computed once), per-frame parameters and meta."""
    fs, ex, po, meta = [], [], [], []
    for frames, clip, m in video_clips(r, purpose, n):
        with torch.inference_mode():
            fs.append(encoder.trunk(sb.images_to_tensor(frames, encoder.input_size)).numpy())
        ex.append(clip.expression)
        po.append(clip.pose)
        meta.append(m)
    return {"f": np.stack(fs), "expression": np.stack(ex), "pose": np.stack(po), "meta": np.stack(meta)}


def _video_window(x: np.ndarray, d, c: int, s: int, still: bool) -> tuple[np.ndarray, np.ndarray]:
    """Input rows x[s:s+16] (frame features or frames) of clip c and its targets; `still` repeats
    frame s: a still video, no motion at all."""
    L = sb.CLIP_LEN
    if still:
        e, p = np.repeat(d["expression"][c, s:s + 1], L, 0), np.repeat(d["pose"][c, s:s + 1], L, 0)
        xs, bg = np.repeat(x[s:s + 1], L, axis=0), 0.0
    else:
        e, p, xs = d["expression"][c, s:s + L], d["pose"][c, s:s + L], x[s:s + L]
        bg = float(d["meta"][c, 0])
    m = d["meta"][c]
    return xs, video_targets(e, p, m[4:], bg, m[1:4])


def train_video_net(r: Recipe, work: Path, out: Path, log) -> dict:
    check_training_set_apart(r, log)
    ir, ir_sha = frame_encoder(out)
    d = cached(work, r.name, {**data_spec(r), "frame_encoder": ir_sha},
               lambda: video_data(r, TRAIN, r.n_train, ir), log)
    torch.manual_seed(r.seed)
    net = sb.VideoFeatureNet(sb.VIDEO_TARGETS, ir.input_size)
    net.frames.load_state_dict(ir.trunk.state_dict())
    n, T = d["f"].shape[:2]
    rng0 = np.random.default_rng([r.seed, r.code, 1 << 30])
    standardise(net, np.stack([_video_window(d["f"][c], d, c, int(rng0.integers(T - sb.CLIP_LEN + 1)),
                                             rng0.random() < r.extra["p_still"])[1]
                               for c in rng0.integers(0, n, 4000)]))

    def batch_fn(rng):
        xs, ys = zip(*[_video_window(d["f"][c], d, c, int(rng.integers(T - sb.CLIP_LEN + 1)),
                                     rng.random() < r.extra["p_still"]) for c in rng.integers(0, n, r.batch)])
        return torch.from_numpy(np.stack(xs)), (torch.from_numpy(np.stack(ys)) - net.target_mean) / net.target_std

    def loss_fn(net, b):
        return ((net.clip_forward(b[0])[1] - b[1]) ** 2).mean()

    return fit_and_ship(net, r, batch_fn, loss_fn, work, out, log, eval_video_net,
                        {"input_size": ir.input_size}, {"frame_encoder_sha256": ir_sha})


def eval_video_net(r: Recipe, out: Path, log) -> dict:
    """End to end on held-out clips (frames in, through the shipped file): R² of the targets."""
    net = sb.load_network("video_features", out)
    preds, ys = [], []
    for frames, clip, m in video_clips(r, HELDOUT, r.n_heldout):
        d = {"expression": clip.expression[None], "pose": clip.pose[None], "meta": m[None]}
        for s in (0, 16):
            x, y = _video_window(frames, d, 0, s, False)
            with torch.inference_mode():
                out_ = net(sb.images_to_tensor(x, net.input_size)[None])[1]
            preds.append((out_ * net.target_std + net.target_mean).numpy()[0])
            ys.append(y)
    sc = r2(np.stack(preds), np.stack(ys))
    groups = {"expression_at_frames": slice(0, 16), "pose_at_frames": slice(16, 40), "expression_motion": slice(40, 44),
              "pose_motion": slice(44, 50), "background_instability": slice(50, 51), "degradation": slice(51, 54),
              "colours": slice(54, 63)}
    res = {"identities": r.n_heldout, "clips": len(ys)}
    res.update({f"{k}_r2_mean": round(float(np.nanmean(sc[s])), 4) for k, s in groups.items()})
    log(f"held-out: {res}")
    return res


# ============================================================================ SyncNet

SYNC = Recipe("syncnet", code=3, n_train=500, n_frames=50, n_heldout=120, steps=1500, batch=8, lr=1e-3,
              extra={"anchors": 12, "p_degraded": 0.35, "temperature": 0.07, "max_shift": 15})


def sync_data(r: Recipe, purpose: int, n: int) -> dict[str, np.ndarray]:
    crops, windows = [], []
    for i in range(n):
        rng = np.random.default_rng([STREAM, r.seed, purpose, r.code, i, 2])
        frames, audio, _ = render(r.seed, purpose, r.code, i, r.n_frames)
        if rng.random() < r.extra["p_degraded"]:
            frames, _ = random_degradation(frames, rng, p_kinds=(0.0, 0.8, 0.2))
        crops.append(sb.mouth_crops(frames))
        windows.append(sb.syncnet_audio_windows(audio, r.n_frames))
    return {"crops": np.stack(crops), "audio": np.stack(windows)}


def train_syncnet(r: Recipe, work: Path, out: Path, log) -> dict:
    check_training_set_apart(r, log)
    d = cached(work, r.name, data_spec(r), lambda: sync_data(r, TRAIN, r.n_train), log)
    torch.manual_seed(r.seed)
    net = sb.SyncNetSmall()
    m = d["audio"][:, :, 0].transpose(0, 1, 3, 2).reshape(-1, 13)   # every MFCC step of every window
    net.mfcc_mean.copy_(torch.from_numpy(m.mean(0)))
    net.mfcc_std.copy_(torch.from_numpy(m.std(0)))
    n, T = d["crops"].shape[:2]
    n_win = T - sb.SYNC_WINDOW + 1
    H, W = sb.MOUTH_HW
    py, px = sb.MOUTH_PAD[0] - H, sb.MOUTH_PAD[1] - W

    def batch_fn(rng):
        clips = rng.choice(n, r.batch, replace=False)
        vids, auds, anchors = [], [], []
        for c in clips:
            dy, dx = int(rng.integers(0, py + 1)), int(rng.integers(0, px + 1))
            crop = d["crops"][c, :, dy:dy + H, dx:dx + W].astype(np.float32)
            crop = np.clip(crop * rng.uniform(0.75, 1.25) + rng.uniform(-25, 25), 0, 255)  # contrast, brightness
            t = rng.choice(n_win, r.extra["anchors"], replace=False)
            vids.append(sb.video_windows(crop.astype(np.uint8))[torch.from_numpy(t)])
            a = torch.from_numpy(d["audio"][c].copy())
            a[:, :, 0, :] += float(2 * np.log(rng.uniform(0.5, 2.0)))   # gain: shifts log energy (c0) only
            auds.append(a)
            anchors.append(t)
        return torch.cat(vids), torch.cat(auds), np.stack(anchors)

    def loss_fn(net, b):
        v, a, anchors = net.forward_lip(b[0]), net.forward_aud(b[1]), b[2]
        # InfoNCE over every audio window of the batch: the in-sync window is the positive; the
        # same clip's windows at other offsets are the hard negatives, other clips' the easy ones.
        # Logits are -distance² / (2 tau), the distance that LSE-D averages.
        logits = -torch.cdist(v, a).pow(2) / (2 * r.extra["temperature"])
        target = torch.from_numpy((np.arange(r.batch)[:, None] * n_win + anchors).ravel())
        return nn.functional.cross_entropy(logits, target)

    return fit_and_ship(net, r, batch_fn, loss_fn, work, out, log, eval_syncnet)


def eval_syncnet(r: Recipe, out: Path, log) -> dict:
    from .metrics.sync import lse_from_curve, sync_curve

    bb = sb.SyntheticSyncNet(sb.load_network("syncnet", out))
    rows = []
    for i in range(r.n_heldout):
        defects = ("offset",) if i % 2 else ()
        frames, audio, clip = render(r.seed, HELDOUT, r.code, i, r.n_frames, defects)
        d, c, off = lse_from_curve(sync_curve(bb, frames, audio))
        rows.append((clip.audio_offset, off, d, c))
        if i % 4 == 0:   # mismatched audio: another held-out clip's track
            _, other, _ = render(r.seed, HELDOUT, r.code, i + 10_000, r.n_frames)
            dm, cm, _ = lse_from_curve(sync_curve(bb, frames, other))
            rows.append((None, None, dm, cm))
    k = np.array([x[0] for x in rows if x[0] is not None])
    pred = np.array([x[1] for x in rows if x[0] is not None])
    err = pred - (-k)      # syncnet_python's sign: audio lagging by k frames is an AV offset of -k
    def lse(sel):
        return round(float(np.mean([x[2] for x in rows if sel(x)])), 4)

    res = {"clips": int(k.size), "offset_accuracy_exact": round(float(np.mean(err == 0)), 4),
           "offset_accuracy_within_1": round(float(np.mean(np.abs(err) <= 1)), 4),
           "offset_accuracy_exact_shifted_only": round(float(np.mean(err[k != 0] == 0)), 4),
           "sync_d_in_sync": lse(lambda x: x[0] == 0), "sync_d_shifted": lse(lambda x: x[0] not in (0, None)),
           "sync_d_mismatched": lse(lambda x: x[0] is None),
           "sync_c_in_sync": round(float(np.mean([x[3] for x in rows if x[0] == 0])), 4)}
    log(f"held-out: {res}")
    return res


# ============================================================================ IQA

IQA = Recipe("iqa", code=4, n_train=600, n_frames=8, n_heldout=150, steps=2000, batch=48, lr=2e-3)


def iqa_data(r: Recipe, purpose: int, n: int) -> dict[str, np.ndarray]:
    return {"x": np.concatenate([render(r.seed, purpose, r.code, i, r.n_frames)[0] for i in range(n)])}


def train_iqa(r: Recipe, work: Path, out: Path, log) -> dict:
    check_training_set_apart(r, log)
    d = cached(work, r.name, data_spec(r), lambda: iqa_data(r, TRAIN, r.n_train), log)
    torch.manual_seed(r.seed)
    net = sb.QualityNet()
    x_all = d["x"]

    def batch_fn(rng):
        xs, ys = [], []
        for i in rng.integers(0, x_all.shape[0], r.batch):
            f, losses = random_degradation(x_all[i:i + 1], rng)
            xs.append(f[0])
            ys.append(quality_score(losses))
        return sb.images_to_tensor(np.stack(xs), sb.IQA_SIZE), torch.tensor(ys)

    def loss_fn(net, b):
        return ((net(b[0]) - b[1]) ** 2).mean()

    return fit_and_ship(net, r, batch_fn, loss_fn, work, out, log, eval_iqa)


def eval_iqa(r: Recipe, out: Path, log) -> dict:
    from scipy.stats import spearmanr

    bb = sb.SyntheticQualityScorer(sb.load_network("iqa", out))
    rng = np.random.default_rng([STREAM, r.seed, HELDOUT, r.code, 99])
    xs, ys, clean = [], [], []
    for i in range(r.n_heldout):
        frames = render(r.seed, HELDOUT, r.code, i, 4)[0]
        clean.append(frames[0])
        for f in frames:
            g, losses = random_degradation(f[None], rng)
            xs.append(g[0])
            ys.append(quality_score(losses))
    pred = bb.score_frames(np.stack(xs))
    rho = spearmanr(pred, ys).statistic
    # graded: each kind alone at rising strength, on the held-out clean frames
    clean = np.stack(clean)
    graded = {}
    for kind, strengths in (("blur", (0.0, 1.0, 2.0, 3.0)), ("noise", (0.0, 8.0, 16.0, 32.0)),
                            ("compression", (90, 40, 15, 5))):
        graded[kind] = [round(float(bb.score_frames(apply_degradation(clean, kind, s, np.random.default_rng(0))).mean()), 3)
                        for s in strengths]
    res = {"identities": r.n_heldout, "frames": len(xs), "spearman": round(float(rho), 4),
           "mae": round(float(np.mean(np.abs(pred - np.array(ys)))), 4), "graded_mean_scores": graded}
    log(f"held-out: {res}")
    return res


# ============================================================================ command line

RECIPES = {"inverse_renderer": (IR, train_inverse_renderer), "video_features": (VIDEO, train_video_net),
           "syncnet": (SYNC, train_syncnet), "iqa": (IQA, train_iqa)}


DEFAULT_WORK = Path.home() / ".cache" / "fada-bench" / "backbone-training"


def _print(msg: str) -> None:
    print(msg, flush=True)        # flushed: a long run's log is read while it runs


def train(only: list[str] | None = None, *, seed: int = 0, threads: int = 2, work: Path = DEFAULT_WORK,
          out: Path | None = None, scale: float = 1.0, log=_print) -> dict:
    """Train, evaluate on held-out identities and ship the backbones named in `only` (default: all
    four, in dependency order: the video network reads the inverse renderer). Checkpoints and
    rendered data go to `work` (a rerun resumes); weights and registry.json to `out` (default: the
    package's weights/synthetic/). `scale` < 1 shrinks identities and steps (smoke tests only).
    Returns {backbone: held-out accuracies}."""
    unknown = sorted(set(only or ()) - set(RECIPES))
    if unknown:
        raise InputError(f"unknown synthetic backbone(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    out = Path(out) if out is not None else synthetic_weights.WEIGHTS_DIR
    work = Path(work)
    torch.set_num_threads(threads)
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in [n for n in RECIPES if n in only] if only else list(RECIPES):
        recipe, train_one = RECIPES[name]
        recipe = Recipe(**{**asdict(recipe), "seed": seed})
        if scale != 1.0:
            recipe = recipe.scaled(scale)

        def say(msg, _name=name):
            log(f"[{time.strftime('%H:%M:%S')}] {_name}: {msg}")

        t0 = time.perf_counter()
        results[name] = train_one(recipe, work, out, say)
        say(f"done in {(time.perf_counter() - t0) / 60:.1f} min")
    return results

"""Speed benchmarks (pytest-benchmark). Run with `pytest tests/test_benchmarks.py --benchmark-enable`.

They record numbers; they never assert a wall-clock time."""
import numpy as np
import torch

from fada.data.synthetic.params import NEUTRAL_POSE, sample_identity
from fada.data.synthetic.render import render_face
from fada.data.synthetic.world import make_clip

IDENT = sample_identity(np.random.default_rng(0))


def test_render_frame_128px(benchmark):
    # Target in the foundation issue: >= 2,000 frames a minute on one core at 128 px.
    e = np.array([0.4, 0.2, 0.0, 0.1], np.float32)
    img, _ = benchmark(render_face, IDENT, e, NEUTRAL_POSE, 128)
    assert img.shape == (128, 128, 3)
    if benchmark.stats:
        benchmark.extra_info["frames_per_minute"] = 60.0 / benchmark.stats.stats.mean


def test_make_clip_2s_128px(benchmark):
    clip = benchmark.pedantic(make_clip, args=(1, IDENT, 50, 128), rounds=3, iterations=1)
    assert clip.frames.shape[0] == 50
    if benchmark.stats:
        benchmark.extra_info["frames_per_minute"] = 50 * 60.0 / benchmark.stats.stats.mean


def _pipeline_and_inputs():
    from fada.models.bundle import FadaModels, build_models
    from fada.models.denoiser import FadaDenoiser
    from fada.pipeline import FadaPipeline

    teacher = build_models("tiny", "none", seed=0)
    fast = FadaModels("tiny", FadaDenoiser.student_from_teacher(teacher.denoiser, "layer_tokens"),
                      teacher.reference_net, teacher.vae, teacher.audio_encoder, teacher.schedule)
    ref = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    audio = (np.random.default_rng(1).standard_normal(16 * 640) * 0.1).astype(np.float32)
    return FadaPipeline(teacher), FadaPipeline(fast), ref, audio


def test_generate_clip_teacher_tiny(benchmark):
    # Teacher: DDIM 25 steps x 3 CFG branches = 75 NFE per 16-frame window.
    teacher, _, ref, audio = _pipeline_and_inputs()
    out = benchmark.pedantic(teacher, args=(ref, audio, 16), kwargs=dict(sampler="ddim", steps=25, guidance="multi"),
                             rounds=2, iterations=1, warmup_rounds=1)
    assert out.nfe_per_window == 75


def test_generate_clip_fada_fast_tiny(benchmark):
    # FADA-Fast: PeRFlow 6 steps, CFG layer with tokens = 6 NFE per window. The target is a
    # teacher / Fast wall-clock ratio >= 8 (compare the two benchmarks' means).
    _, fast, ref, audio = _pipeline_and_inputs()
    out = benchmark.pedantic(fast, args=(ref, audio, 16),
                             kwargs=dict(sampler="perflow", steps=6, guidance="student", cfg_a=6.5, cfg_r=2.0),
                             rounds=5, iterations=1, warmup_rounds=1)
    assert out.nfe_per_window == 6


def _train_step(tmp_path, folder, recipe_name: str, objective: dict | None = None):
    """One optimizer step of a tiny recipe at its own batch size, window length and Phi steps, on a
    fixed batch: the closure the training benchmarks time."""
    import yaml
    from torch.utils.data import default_collate

    from fada.data.dataset import ClipDataset
    from fada.train.objectives import make_objective
    from fada.train.recipe import RECIPES_DIR, load_recipe
    from fada.train.trainer import sample_generator

    spec = {"include": str(RECIPES_DIR / f"{recipe_name}.yaml"), "vae": None, "parent": None,
            "data": {"folder": str(folder), "tiers": ["A", "B"]}}
    if objective:
        spec["objective"] = objective
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(spec))
    r = load_recipe(tmp_path / "r.yaml")
    obj = make_objective(r)
    params = [p for m in obj.trainable() for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    ds = ClipDataset(folder, tiers=None, n_frames=r.data.n_frames, size=r.data.size,
                     audio_context=obj.models.denoiser.config.audio_window)
    batch = default_collate([ds.get(i % len(ds), salt=0) for i in range(r.optim.batch_size)])
    if obj.latent_space:    # training reads pre-encoded latents (the trainer caches them per clip)
        from fada.models.bundle import encode_images

        with torch.no_grad():
            batch["target_latents"] = encode_images(obj.models.vae, batch["target"])
            batch["reference_latents"] = encode_images(obj.models.vae, batch["reference"][:, None])[:, 0]
            batch["motion_latents"] = encode_images(obj.models.vae, batch["motion"])

    def step():
        gens = [sample_generator(0, 0, i) for i in range(r.optim.batch_size)]
        loss, _ = obj.loss(batch, gens)
        loss.mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach().mean())
    return step, r


def test_train_step_teacher_tiny(benchmark, small_world, tmp_path):
    # Eq. 1 at the teacher recipe's batch (4 windows of 8 frames): one forward and backward of the
    # denoiser, the ReferenceNet and the audio encoder.
    step, r = _train_step(tmp_path, small_world[0], "teacher_tiny")
    loss = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    assert np.isfinite(loss)
    if benchmark.stats:
        benchmark.extra_info["steps_per_second"] = 1.0 / benchmark.stats.stats.mean


def test_train_step_perflow_tiny(benchmark, small_world, tmp_path):
    # One PeRFlow step (Eqs. 2-5) with the teacher's Phi inside: phi_steps (8) no-grad teacher calls,
    # then the student's forward and backward. The teacher is an untrained tiny model (same cost).
    from fada.models.bundle import build_models

    build_models("tiny", seed=0).save(tmp_path / "teacher")
    step, r = _train_step(tmp_path, small_world[0], "perflow_tiny", {"teacher": str(tmp_path / "teacher")})
    loss = benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    assert np.isfinite(loss)
    if benchmark.stats:
        benchmark.extra_info["steps_per_second"] = 1.0 / benchmark.stats.stats.mean
        benchmark.extra_info["phi_steps"] = int(r.objective.phi_steps)

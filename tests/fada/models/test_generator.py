"""The generator: model geometry, SD 1.5 initialisation, student = teacher at init, counted NFE,
long videos, bad input."""
import numpy as np
import pytest
import torch

from fada.errors import InputError
from fada.models.bundle import FadaModels, build_models, from_sd15, load_models
from fada.models.configs import SD15_UNET, TINY_UNET, TINY_VAE, get_config
from fada.cfg_modes import student_cfg_modes
from fada.models.denoiser import FadaDenoiser
from fada.pipeline import FadaPipeline

torch.set_num_threads(2)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_sd15_geometry_has_the_sd15_parameter_count():
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        base = UNet2DConditionModel(**SD15_UNET)
        c = get_config("sd15")
        den = FadaDenoiser(SD15_UNET, audio_dim=c["audio_dim"], audio_layers=c["audio_layers"],
                           audio_window=c["audio_window"], audio_tokens_per_frame=c["audio_tokens_per_frame"],
                           temporal_heads=c["temporal_heads"], cfg_mode="layer_tokens")
    n = n_params(base)
    assert abs(n - 859.52e6) < 0.5e6, n
    # Every SD 1.5 weight is in the denoiser's UNet with its shape (so from_sd15 can load it), and
    # what the denoiser has beyond them is only FADA's added layers.
    sd15 = {k: p.shape for k, p in base.named_parameters()}
    ours = {k.removeprefix("unet."): p for k, p in den.named_parameters()}
    assert all(ours[k].shape == shape for k, shape in sd15.items())
    new = {k: p.numel() for k, p in ours.items() if k not in sd15}
    assert sum(new.values()) == n_params(den) - n
    added_kinds = ("audio_proj.", "cfg_embed.", "temporal.", "processor.")
    assert all(any(k.startswith(a) or f".{a}" in k for a in added_kinds) for k in new), sorted(new)[:5]
    # The audio projection, counted by hand: Linear(5 frames x 12 layers x 768, 768), SiLU,
    # Linear(768, 4 tokens x 768), LayerNorm(768).
    width, cross = 5 * 12 * 768, 768
    audio = (width * cross + cross) + (cross * 4 * cross + 4 * cross) + 2 * cross
    assert sum(v for k, v in new.items() if k.startswith("audio_proj.")) == audio
    for kind in ("temporal.", "processor."):      # temporal attention and the CFG layers are there
        assert sum(v for k, v in new.items() if f".{kind}" in k) > 0, kind


@pytest.fixture(scope="module")
def tiny():
    return build_models("tiny", "none", seed=0)


def test_from_sd15_loads_both_unets_and_the_vae(tmp_path):
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(3)
    unet = UNet2DConditionModel(**TINY_UNET)
    vae = AutoencoderKL(**TINY_VAE)
    unet.save_pretrained(tmp_path / "unet")
    vae.save_pretrained(tmp_path / "vae")
    models = from_sd15(tmp_path, config_name="tiny")
    want = unet.state_dict()
    for net in (models.denoiser.unet, models.reference_net.unet):
        got = net.state_dict()
        assert all(torch.equal(got[k], v) for k, v in want.items())
    assert any("temporal" in k for k in models.denoiser.unet.state_dict())
    assert torch.equal(models.vae.state_dict()["decoder.conv_out.weight"], vae.state_dict()["decoder.conv_out.weight"])
    with pytest.raises(InputError, match="no diffusers UNet"):
        from_sd15(tmp_path / "nowhere", config_name="tiny")


@pytest.mark.parametrize("mode", student_cfg_modes())
def test_untrained_student_equals_the_teacher(tiny, mode):
    teacher = tiny.denoiser
    student = FadaDenoiser.student_from_teacher(teacher, mode)
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 16, 16)
    audio = torch.randn(1, 8, 1, 64)
    bank = tiny.reference_net(torch.randn(1, 3, 8, 16, 16))
    with torch.no_grad():
        a = teacher(x, torch.tensor([700]), audio, bank)
        b = student(x, torch.tensor([700]), audio, bank, cfg_scales=torch.tensor([[6.5, 2.0]]))
    assert (a - b).abs().max() < 1e-6
    # and the new layers are really there and trainable
    assert n_params(student) > n_params(teacher)


def test_reference_and_audio_change_the_output(tiny):
    # Once trained weights exist this is trivially true; at init the added layers must still be wired:
    # perturb the zero-initialised projections and check each condition reaches the output.
    den = FadaDenoiser.student_from_teacher(tiny.denoiser, "none")
    with torch.no_grad():
        for p in den.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    torch.manual_seed(1)
    x, audio = torch.randn(1, 4, 8, 16, 16), torch.randn(1, 8, 1, 64)
    bank = tiny.reference_net(torch.randn(1, 3, 8, 16, 16))
    with torch.no_grad():
        base = den(x, torch.tensor([500]), audio, bank)
        no_audio = den(x, torch.tensor([500]), torch.zeros_like(audio), bank)
        no_ref = den(x, torch.tensor([500]), audio, {k: torch.zeros_like(v) for k, v in bank.items()})
        other_frame = x.clone()
        other_frame[:, 3] = torch.randn_like(other_frame[:, 3])
        temporal = den(other_frame, torch.tensor([500]), audio, bank)
    assert (base - no_audio).abs().mean() > 1e-4
    assert (base - no_ref).abs().mean() > 1e-4
    # temporal attention: changing frame 3 changes frame 0's output
    assert (base[:, 0] - temporal[:, 0]).abs().mean() > 1e-5


REF = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
AUDIO = (np.random.default_rng(1).standard_normal(16000) * 0.1).astype(np.float32)


@pytest.mark.parametrize("sampler,steps,guidance,nfe", [
    ("ddim", 25, "multi", 75),      # teacher
    ("perflow", 6, "multi", 18),    # FADA-Balanced
    ("tcd", 6, "multi", 18),
    ("rflow", 6, "multi", 18),
    ("perflow", 6, "none", 6),
])
def test_nfe_is_counted_per_window(tiny, sampler, steps, guidance, nfe):
    out = FadaPipeline(tiny)(REF, AUDIO, 20, sampler=sampler, steps=steps, guidance=guidance)
    assert out.windows == 2 and out.nfe_per_window == nfe and out.nfe_total == 2 * nfe
    assert out.video.frames.shape == (20, 64, 64, 3)


def test_fada_fast_counts_six(tiny):
    fast = FadaModels(tiny.config_name, FadaDenoiser.student_from_teacher(tiny.denoiser, "layer_tokens"),
                      tiny.reference_net, tiny.vae, tiny.audio_encoder, tiny.schedule)
    out = FadaPipeline(fast)(REF, AUDIO, 16, sampler="perflow", steps=6, guidance="student", cfg_a=6.5, cfg_r=2.0)
    assert out.nfe_per_window == 6 and out.nfe_total == 6


@pytest.fixture(scope="module")
def ten_seconds_of_fada_fast():
    """A 10 s video of a synthetic face (250 frames at 25 fps, 16 kHz audio) from the shipped tiny
    FADA-Fast (6 calls per window, the fewest of the shipped models); the length and seam tests
    share it (one generation)."""
    from fada.data.synthetic.params import sample_identity
    from fada.data.synthetic.world import make_clip
    from fada_bench.weight_files import shipped

    models = load_models(shipped.model_folder("fada_fast_tiny/model"))
    clip = make_clip(7, sample_identity(np.random.default_rng(7)), 250, models.resolution)
    assert clip.audio.shape == (160000,)
    out = FadaPipeline(models)(clip.frames[0], clip.audio, 250, seed=0, sampler="perflow", steps=6,
                               guidance="student", cfg_a=6.5, cfg_r=2.0)
    return models, out


@pytest.mark.slow
def test_ten_second_video_has_250_frames_and_its_audio(ten_seconds_of_fada_fast):
    _, out = ten_seconds_of_fada_fast
    assert out.video.frames.shape[0] == 250 and out.windows == 16
    assert out.video.audio.shape == (160000,)


def test_same_seed_same_video(tiny):
    p = FadaPipeline(tiny)
    a = p(REF, AUDIO, 16, seed=4, sampler="perflow", steps=2, guidance="none").video.frames
    b = p(REF, AUDIO, 16, seed=4, sampler="perflow", steps=2, guidance="none").video.frames
    c = p(REF, AUDIO, 16, seed=5, sampler="perflow", steps=2, guidance="none").video.frames
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs,match", [
    (dict(reference=np.zeros((48, 48, 3), np.uint8)), "needs 64x64"),
    (dict(audio=np.zeros(100, np.float32)), "at least one frame"),
    (dict(n_frames=0), "n_frames must be positive"),
    (dict(sampler="euler"), "unknown sampler"),
    (dict(guidance="student"), "needs a denoiser with CFG conditioning"),
])
def test_bad_input_is_a_clear_error(tiny, kwargs, match):
    args = dict(reference=REF, audio=AUDIO, n_frames=16)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        FadaPipeline(tiny)(args.pop("reference"), args.pop("audio"), args.pop("n_frames"), **args)


def test_missing_weights_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no FADA checkpoint"):
        load_models(tmp_path / "missing")


def test_save_and_load_round_trip(tiny, tmp_path):
    tiny.save(tmp_path / "ckpt")
    back = load_models(tmp_path / "ckpt")
    a = FadaPipeline(tiny)(REF, AUDIO, 16, seed=1, sampler="perflow", steps=2, guidance="none").video.frames
    b = FadaPipeline(back)(REF, AUDIO, 16, seed=1, sampler="perflow", steps=2, guidance="none").video.frames
    assert np.array_equal(a, b)
    assert list((tmp_path / "ckpt" / "denoiser").glob("*.safetensors"))


@pytest.mark.slow
def test_a_long_video_shows_no_seam_at_its_clip_boundaries(ten_seconds_of_fada_fast):
    """A 10 s video is 16 clips, each conditioned on the previous clip's last motion
    frames; at every boundary the mean absolute frame difference stays within 3x the median
    difference between neighbouring frames inside clips. On the shipped tiny FADA-Fast (a random
    model's frames are noise, with no seam to see); the drift check's seam[pixel] covers 20 s clips."""
    from fada_bench.metrics.long_video import seam_ratios

    models, out = ten_seconds_of_fada_fast
    assert out.video.frames.shape[0] == 250 and out.windows == 16
    seams = seam_ratios(out.video.frames, models.frames)    # the seam[pixel] metric's score
    assert len(seams.ratios) == out.windows - 1
    assert seams.inside > 0.5                           # the face moves: a frozen video would pass trivially
    assert (seams.ratios <= 3).all(), seams


def test_the_last_window_decodes_only_the_frames_the_video_keeps(tiny, monkeypatch):
    """20 frames are two 16-frame windows; the second window's last 12 frames are denoised (a
    window is 16 frames) but not decoded, and the 20 frames are those of the 32-frame video
    made from the same seed and audio."""
    import fada.pipeline as pipeline

    decoded, real = [], pipeline.decode_latents

    def counting_decode(decoder, latents, chunk):
        decoded.append(latents.shape[0])
        return real(decoder, latents, chunk)

    monkeypatch.setattr(pipeline, "decode_latents", counting_decode)
    p = FadaPipeline(tiny)
    short = p(REF, AUDIO, 20, seed=3, sampler="perflow", steps=2, guidance="none").video.frames
    assert decoded == [16, 4] and short.shape[0] == 20
    full = p(REF, AUDIO, 32, seed=3, sampler="perflow", steps=2, guidance="none").video.frames
    assert np.abs(short.astype(int) - full[:20].astype(int)).max() <= 1     # batch size may round a level


def test_the_reference_bank_equals_one_reference_net_call_per_window(tiny):
    """The reference's tokens computed once and the motion frames' per window give the bank of one
    ReferenceNet call on (reference, motion frames), in the first window (motion = the reference
    repeated) and in a later one."""
    from fada.pipeline import ReferenceBank

    torch.manual_seed(0)
    ref, motion = torch.randn(8, 16, 16), torch.randn(tiny.motion_frames, 8, 16, 16)
    net = tiny.reference_net.eval()
    with torch.no_grad():
        bank = ReferenceBank(net, ref, tiny.motion_frames)
        pairs = [(bank.first_window(), net(ref[None, None].repeat(1, 1 + tiny.motion_frames, 1, 1, 1))),
                 (bank.window(motion), net(torch.cat([ref[None], motion])[None]))]
    for got, want in pairs:
        assert got.keys() == want.keys()
        for k in want:
            assert got[k].shape == want[k].shape
            torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-5)


def test_the_reference_net_reads_the_reference_once_per_video(tiny, monkeypatch):
    """Three windows: one ReferenceNet call on the reference, then one on the motion frames of
    each window after the first."""
    seen, net = [], tiny.reference_net
    real = net.forward

    def counting(latents):
        seen.append(tuple(latents.shape[:2]))
        return real(latents)

    monkeypatch.setattr(net, "forward", counting)
    FadaPipeline(tiny)(REF, AUDIO, 40, seed=1, sampler="perflow", steps=1, guidance="none")
    assert seen == [(1, 1), (1, tiny.motion_frames), (1, tiny.motion_frames)]

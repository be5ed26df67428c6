"""Tests for fada.data.io: round trip, audio helpers, bad input and atomic writes.

All media are synthesised here with numpy (and PyAV for the odd containers) into tmp_path.
Measured with the pinned PyAV (libx264 crf 18, AAC 128 kb/s) on the clip of `_frames` and
`_tone`: PSNR about 39.7 dB overall, 38.8 dB for the worst frame, 29.9 dB against the frames
shifted by one (so the 35 dB bound also catches a lost or duplicated frame); audio lag 0
samples after the AAC priming is dropped, correlation 0.99999 after alignment.
"""
from __future__ import annotations

import stat
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from scipy import signal

from fada.data import io
from fada.data.io import MediaError

FPS = 25
SR = 16_000
SPF = SR // FPS  # audio samples per video frame: 640
PSNR_MIN_DB = 35.0  # crf 18 gives ~39.7 dB on this content
AUDIO_CORR_MIN = 0.99  # AAC at 128 kb/s gives ~0.99999 on this tone


# ----------------------------------------------------------------------------- synthetic media

def _frames(n: int = 50, h: int = 64, w: int = 64) -> np.ndarray:
    """Smooth colour gradients with a soft-edged disc circling once a second (T x H x W x 3 uint8)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([40 + 2.5 * xx * 64 / w, 50 + 2.0 * yy * 64 / h, 120 + xx - 0.5 * yy], -1)
    out = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        phase = 2 * np.pi * t / FPS
        cx, cy = w / 2 + w / 4 * np.cos(phase), h / 2 + h / 4 * np.sin(phase)
        disc = 1 / (1 + np.exp((np.hypot(xx - cx, yy - cy) - h / 6) / 1.5))[..., None]
        img = base * (1 - disc) + np.array([200, 170, 90], np.float32) * disc
        out[t] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return out


def _tone(seconds: float = 2.0, sr: int = SR) -> np.ndarray:
    """A 220 Hz tone with a slow vibrato (so it is not periodic) under a 2 Hz 'syllable' envelope."""
    t = np.arange(int(round(seconds * sr))) / sr
    env = 0.5 - 0.5 * np.cos(2 * np.pi * 2.0 * t)
    return (0.5 * env * np.sin(2 * np.pi * (220 * t + 3 * np.sin(2 * np.pi * 0.7 * t)))).astype(np.float32)


def _write_clip(path: Path, n_frames: int = 50, fps: float = FPS, audio_s: float | None = 2.0) -> Path:
    audio = None if audio_s is None else _tone(audio_s)
    return io.write_video(path, _frames(n_frames), fps, audio)


def _assert_names(err: pytest.ExceptionInfo, path, *keywords: str) -> None:
    """The MediaError message names the file and the problem (any of `keywords`)."""
    msg = str(err.value)
    assert str(path) in msg, msg
    assert any(k in msg.lower() for k in keywords), msg


def _temp_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


# ----------------------------------------------------------------------------- round trip

def test_round_trip_frames_fps_and_audio(tmp_path):
    frames, tone = _frames(50), _tone(2.0)
    path = io.write_video(tmp_path / "clip.mp4", frames, FPS, tone)
    assert path == tmp_path / "clip.mp4" and path.is_file()
    assert _temp_leftovers(tmp_path) == []

    v = io.read_video(path)
    assert v.frames.shape == frames.shape and v.frames.dtype == np.uint8
    assert v.n_frames == 50
    assert abs(v.fps - FPS) < 0.01
    assert v.sample_rate == SR and v.audio is not None and v.audio.dtype == np.float32
    # The decoded track is 2 s up to one video frame (the last AAC frame is padded to 1024).
    assert abs(v.audio.size - 2 * SR) <= SPF, v.audio.size

    assert io.psnr(v.frames, frames) > PSNR_MIN_DB
    assert min(io.psnr(v.frames[i], frames[i]) for i in range(50)) > PSNR_MIN_DB - 3
    # The bound is tight enough to see frames out of step by one.
    assert io.psnr(v.frames[1:], frames[:-1]) < PSNR_MIN_DB

    # AAC has an encoder delay: find the lag by cross-correlation, then compare aligned.
    c = signal.correlate(v.audio, tone, mode="full", method="fft")
    lag = int(signal.correlation_lags(v.audio.size, tone.size, mode="full")[np.argmax(c)])
    assert abs(lag) <= SPF, f"audio out of sync by {lag} samples"
    got = v.audio[max(lag, 0):]
    want = tone[max(-lag, 0):]
    n = min(got.size, want.size)
    assert n >= 2 * SR - 2 * SPF
    corr = float(np.corrcoef(got[:n], want[:n])[0, 1])
    assert corr > AUDIO_CORR_MIN, corr
    # Level preserved too (correlation alone ignores gain).
    rms_ratio = float(np.sqrt(np.mean(got[:n] ** 2) / np.mean(want[:n] ** 2)))
    assert 0.9 < rms_ratio < 1.1, rms_ratio


def test_read_audio_of_video_matches_read_video(tmp_path):
    path = _write_clip(tmp_path / "clip.mp4")
    v = io.read_video(path)
    a = io.read_audio(path)
    np.testing.assert_array_equal(a, v.audio)


# ----------------------------------------------------------------------------- audio helpers

@pytest.mark.parametrize("layout", ["NC", "CN"])
def test_resample_audio_44k_stereo_to_16k_mono(layout):
    sr_in, f0, seconds = 44_100, 1_000.0, 1.0
    t = np.arange(int(sr_in * seconds)) / sr_in
    left, right = 0.6 * np.sin(2 * np.pi * f0 * t), 0.2 * np.sin(2 * np.pi * f0 * t)
    stereo = np.stack([left, right], axis=1 if layout == "NC" else 0).astype(np.float32)

    out = io.resample_audio(stereo, sr_in, SR)
    assert out.ndim == 1 and out.dtype == np.float32
    assert abs(out.size / t.size - SR / sr_in) < 1e-3
    assert abs(out.size - SR * seconds) <= 1

    # Frequency from an independent numpy FFT (1 Hz bins for 1 s).
    spec = np.abs(np.fft.rfft(out * np.hanning(out.size)))
    peak_hz = float(np.fft.rfftfreq(out.size, 1 / SR)[np.argmax(spec)])
    assert abs(peak_hz - f0) <= 1.0, peak_hz
    # Mono is the mean of the channels: amplitude 0.4 away from the filter's edge effects.
    mid = out[SR // 10: -SR // 10]
    assert abs(np.sqrt(2 * np.mean(mid ** 2)) - 0.4) < 0.01
    # And the samples agree with scipy's FFT resampler of the mono mix.
    ref = signal.resample((left + right) / 2, out.size)
    assert float(np.max(np.abs(out - ref)[SR // 10: -SR // 10])) < 0.01


def test_resample_audio_removes_tones_above_new_nyquist():
    """A 12 kHz tone at 44.1 kHz must not alias to 4 kHz at 16 kHz."""
    sr_in = 44_100
    t = np.arange(sr_in) / sr_in
    out = io.resample_audio(0.5 * np.sin(2 * np.pi * 12_000 * t), sr_in, SR)
    assert float(np.sqrt(np.mean(out[SR // 10: -SR // 10] ** 2))) < 0.5 / np.sqrt(2) * 0.01


def test_resample_audio_same_rate_is_identity():
    a = _tone(0.5)
    np.testing.assert_array_equal(io.resample_audio(a, SR, SR), a)


@pytest.mark.parametrize("n_samples", [0, 1, 12_345, 50 * SPF, 50 * SPF + 1, 40_000])
def test_fit_audio_to_frames_cuts_and_pads_exactly(n_samples):
    rng = np.random.default_rng(n_samples)
    audio = rng.uniform(-1, 1, n_samples).astype(np.float32)
    out = io.fit_audio_to_frames(audio, 50)
    assert out.shape == (50 * SPF,) and out.dtype == np.float32
    keep = min(n_samples, 50 * SPF)
    np.testing.assert_array_equal(out[:keep], audio[:keep])
    assert not np.any(out[keep:])  # padding is zeros


def test_fit_audio_to_frames_other_rates_and_stereo():
    out = io.fit_audio_to_frames(np.ones((1000, 2), np.float32), 30, fps=30, sample_rate=48_000)
    assert out.shape == (48_000,)
    assert np.all(out[:1000] == 1) and not np.any(out[1000:])
    # The result is a copy, never a view on the caller's array.
    a = np.ones(100_000, np.float32)
    io.fit_audio_to_frames(a, 10)[:] = 0
    assert np.all(a == 1)


# ----------------------------------------------------------------------------- bad input

def test_truncated_mp4_cut_in_half(tmp_path):
    """write_video puts the index (moov) at the end, so half a file has none: unreadable."""
    path = _write_clip(tmp_path / "clip.mp4")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as err:
        io.read_video(path)
    _assert_names(err, path, "not a readable video", "truncated")


def _faststart_copy(src: Path, dst: Path) -> Path:
    """Remux `src` with the index (moov) at the front of the file."""
    with av.open(str(src)) as i, av.open(str(dst), "w", format="mp4",
                                         options={"movflags": "+faststart"}) as o:
        out = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for pkt in i.demux():
            if pkt.dts is None:  # the flush packet at the end of each stream
                continue
            pkt.stream = out[pkt.stream.index]
            o.mux(pkt)
    return dst


def test_truncated_faststart_mp4_cut_in_half(tmp_path):
    """With the index at the front, a cut file opens; the cut packet fails to decode or the
    count falls short of the declared one (which of the two depends on where the cut falls)."""
    path = _faststart_copy(_write_clip(tmp_path / "clip.mp4"), tmp_path / "faststart.mp4")
    assert io.read_video(path).n_frames == 50  # the remux itself is fine
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as err:
        io.read_video(path)
    _assert_names(err, path, "truncated")


@pytest.mark.parametrize("keep", [0.3, 0.7])
def test_truncated_faststart_mp4_cut_between_packets(tmp_path, keep):
    """Cut at a packet boundary every packet left decodes: only the declared count can tell."""
    path = _faststart_copy(_write_clip(tmp_path / "clip.mp4"), tmp_path / "faststart.mp4")
    data = path.read_bytes()
    with av.open(str(path)) as c:
        ends = [pkt.pos + pkt.size for pkt in c.demux() if pkt.size]
    path.write_bytes(data[: max(e for e in ends if e <= keep * len(data))])
    for with_audio in (True, False):
        with pytest.raises(MediaError) as err:
            io.read_video(path, audio=with_audio)
        _assert_names(err, path, "truncated video")
        assert "of 50 frames" in str(err.value)


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
def test_garbage_in_middle_of_mp4(tmp_path, where):
    """Random bytes over a tenth of the media data: the h264 decoder reports invalid data."""
    path = _write_clip(tmp_path / "clip.mp4")
    data = bytearray(path.read_bytes())
    start, end = data.find(b"mdat") + 4, data.find(b"moov") - 4
    assert 0 < start < end
    at, n = start + int((end - start) * where), (end - start) // 10
    data[at: at + n] = np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError) as err:
        io.read_video(path)
    _assert_names(err, path, "corrupt", "truncated")


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(MediaError) as err:
        io.read_video(path)
    _assert_names(err, path, "not a readable video")


def test_empty_and_missing_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError) as err:
        io.read_video(empty)
    _assert_names(err, empty, "empty file")
    missing = tmp_path / "missing.mp4"
    with pytest.raises(MediaError) as err:
        io.read_video(missing)
    _assert_names(err, missing, "not found")


def test_no_audio_track(tmp_path):
    path = _write_clip(tmp_path / "mute.mp4", audio_s=None)
    assert io.read_video(path, audio=False).audio is None
    with pytest.raises(MediaError) as err:
        io.read_video(path, audio=True)
    _assert_names(err, path, "no audio track")


def test_silent_audio(tmp_path):
    path = io.write_video(tmp_path / "silent.mp4", _frames(50), FPS, np.zeros(2 * SR, np.float32))
    with pytest.raises(MediaError) as err:
        io.read_video(path)
    _assert_names(err, path, "silent")


def test_audio_shorter_than_video(tmp_path):
    path = _write_clip(tmp_path / "short.mp4", n_frames=50, audio_s=1.0)
    with pytest.raises(MediaError) as err:
        io.read_video(path)
    _assert_names(err, path, "shorter than the video")


def test_audio_short_by_less_than_a_frame_is_accepted(tmp_path):
    path = _write_clip(tmp_path / "almost.mp4", n_frames=50, audio_s=2.0 - 0.5 / FPS)
    assert io.read_video(path).n_frames == 50


def test_write_zero_frames(tmp_path):
    path = tmp_path / "empty.mp4"
    with pytest.raises(MediaError) as err:
        io.write_video(path, np.zeros((0, 64, 64, 3), np.uint8), FPS, _tone(1.0))
    _assert_names(err, path, "zero frames")
    assert list(tmp_path.iterdir()) == []


def test_read_mp4_with_audio_only(tmp_path):
    path = tmp_path / "audio_only.mp4"
    tone = _tone(1.0)
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=SR)
        s.layout = "mono"
        for i in range(0, tone.size, 1024):
            f = av.AudioFrame.from_ndarray(tone[None, i: i + 1024].copy(), format="flt", layout="mono")
            f.sample_rate, f.pts = SR, i
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    assert io.read_audio(path).size == tone.size  # the file itself is fine
    with pytest.raises(MediaError) as err:
        io.read_video(path)
    _assert_names(err, path, "no video stream", "zero frames")


def test_variable_frame_rate(tmp_path):
    """Frames 20 ms and 60 ms apart in turn (25 fps on average) on a 1/90000 time base."""
    path = tmp_path / "vfr.mp4"
    tb = Fraction(1, 90_000)
    gaps = np.where(np.arange(50) % 2 == 0, 0.02, 0.06)
    pts = np.round(np.concatenate([[0.0], np.cumsum(gaps)[:-1]]) / float(tb)).astype(int)
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        s.time_base = s.codec_context.time_base = tb
        for p, img in zip(pts, _frames(50)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = int(p), tb
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    for fps in (FPS, None):  # also when any constant rate would do
        with pytest.raises(MediaError) as err:
            io.read_video(path, fps=fps, audio=False)
        _assert_names(err, path, "variable frame rate")


def test_unusual_constant_frame_rate(tmp_path):
    path = _write_clip(tmp_path / "fps30.mp4", fps=30)
    with pytest.raises(MediaError) as err:
        io.read_video(path, fps=FPS)
    _assert_names(err, path, "frame rate")
    v = io.read_video(path, fps=None)
    assert abs(v.fps - 30) < 0.01 and v.n_frames == 50


@pytest.mark.parametrize("shape", [(5, 64, 64), (5, 64, 64, 4), (5, 64, 64, 1), (64, 64, 3)])
def test_write_not_rgb(tmp_path, shape):
    path = tmp_path / "bad.mp4"
    with pytest.raises(MediaError) as err:
        io.write_video(path, np.zeros(shape, np.uint8), FPS)
    _assert_names(err, path, "not rgb")
    assert list(tmp_path.iterdir()) == []


def test_write_float_frames(tmp_path):
    path = tmp_path / "float.mp4"
    with pytest.raises(MediaError) as err:
        io.write_video(path, np.zeros((5, 64, 64, 3), np.float32), FPS)
    _assert_names(err, path, "uint8")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("hw", [(63, 64), (64, 63), (63, 63)])
def test_write_odd_frame_size(tmp_path, hw):
    path = tmp_path / "odd.mp4"
    with pytest.raises(MediaError) as err:
        io.write_video(path, np.zeros((5, *hw, 3), np.uint8), FPS)
    _assert_names(err, path, "odd frame size")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [32, (64, 48), (48, 64)])
def test_read_wrong_frame_size(tmp_path, size):
    path = _write_clip(tmp_path / "clip.mp4")
    assert io.read_video(path, size=64).frames.shape[1:3] == (64, 64)
    assert io.read_video(path, size=(64, 64)).frames.shape[1:3] == (64, 64)
    with pytest.raises(MediaError) as err:
        io.read_video(path, size=size)
    _assert_names(err, path, "wrong frame size")


def test_non_rectangular_size_round_trip(tmp_path):
    """H != W: the size check and the writer must not swap height and width."""
    frames = _frames(10, h=48, w=80)
    path = io.write_video(tmp_path / "wide.mp4", frames, FPS)
    v = io.read_video(path, audio=False, size=(48, 80))
    assert v.frames.shape == (10, 48, 80, 3)
    assert io.psnr(v.frames, frames) > PSNR_MIN_DB


# ----------------------------------------------------------------------------- atomic writes

def test_atomic_path_body_raises_keeps_old_file(tmp_path):
    target = tmp_path / "manifest.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            tmp.write_text("half written")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.csv"]


def test_atomic_path_body_raises_creates_nothing(tmp_path):
    target = tmp_path / "sub" / "clip.mp4"
    with pytest.raises(KeyboardInterrupt):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"\0" * 100)
            raise KeyboardInterrupt
    assert not target.exists()
    assert list((tmp_path / "sub").iterdir()) == []


def test_atomic_path_success_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "manifest.csv"
    target.write_text("old")
    with io.atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # not visible until the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.csv"]


def test_atomic_path_file_mode_follows_umask(tmp_path):
    """An atomically written file gets the same mode as one written with open() (not 0600)."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    io.write_text_atomic(tmp_path / "atomic.txt", "x")
    video = _write_clip(tmp_path / "clip.mp4", n_frames=5, audio_s=None)
    want = stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode) == want
    assert stat.S_IMODE(video.stat().st_mode) == want


def test_write_video_failure_inside_leaves_nothing(tmp_path):
    """An error while encoding (here: audio that is not 1-D or 2-D) must not leave a file."""
    path = tmp_path / "clip.mp4"
    with pytest.raises(Exception):
        io.write_video(path, _frames(5), FPS, np.zeros((2, 3, 4), np.float32))
    assert list(tmp_path.iterdir()) == []

"""Video and audio I/O on PyAV and soundfile.

A talking-head clip is frames (uint8, T x H x W x 3, RGB), a frame rate and a mono 16 kHz
waveform. Everything that reads media raises `MediaError`, whose message starts with the file
and names the problem, so a benchmark can mark one sample failed and go on.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError

FPS = 25
SAMPLE_RATE = 16_000
# Peak amplitude (full scale 1.0) below which a track counts as silent: -80 dBFS.
SILENCE_PEAK = 1e-4


class MediaError(InputError):
    """A media file that cannot be used, with the file and the problem in the message."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


@dataclass
class Video:
    """Frames (T x H x W x 3 uint8 RGB), frames per second, and mono float32 audio at `sample_rate`."""

    frames: np.ndarray
    fps: float
    audio: np.ndarray | None = None
    sample_rate: int = SAMPLE_RATE

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps


def check_frames(frames: np.ndarray, path: str | os.PathLike | None = None, *,
                 size: int | tuple[int, int] | None = None) -> np.ndarray:
    """Raise `MediaError` unless `frames` is a non-empty T x H x W x 3 uint8 array of even size."""
    if not isinstance(frames, np.ndarray):
        raise MediaError(path, f"frames must be a numpy array, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise MediaError(path, f"frames are not RGB: expected shape T x H x W x 3, got {tuple(frames.shape)}")
    if frames.shape[0] == 0:
        raise MediaError(path, "zero frames")
    if frames.dtype != np.uint8:
        raise MediaError(path, f"frames must be uint8, got {frames.dtype}")
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        # h264 with 4:2:0 chroma needs even sides; an odd size also means a crop went wrong.
        raise MediaError(path, f"odd frame size {w}x{h}: both sides must be even")
    if size is not None:
        want = (size, size) if isinstance(size, int) else tuple(size)
        if (h, w) != want:
            raise MediaError(path, f"wrong frame size {w}x{h}, expected {want[1]}x{want[0]}")
    return frames


def check_audio(audio: np.ndarray, path: str | os.PathLike | None = None, *,
                n_frames: int | None = None, fps: float = FPS, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Raise `MediaError` for silent audio or audio shorter than `n_frames` (by more than one frame)."""
    if audio.ndim != 1 or audio.size == 0:
        raise MediaError(path, "empty audio track")
    if not np.isfinite(audio).all():
        raise MediaError(path, "audio contains NaN or infinite samples")
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise MediaError(path, f"silent audio (peak below {SILENCE_PEAK:g} of full scale)")
    if n_frames is not None:
        need = n_frames / fps
        have = audio.size / sample_rate
        if have < need - 1.0 / fps:
            raise MediaError(path, f"audio shorter than the video: {have:.3f} s of audio for {need:.3f} s of video")
    return audio


# ----------------------------------------------------------------------------- audio helpers

def to_mono(audio: np.ndarray) -> np.ndarray:
    """(N,) or (N, C) or (C, N) float audio -> (N,) float32 mean over channels."""
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        return a
    # The shorter axis is the channel axis (a track has far more samples than channels).
    axis = 0 if a.shape[0] < a.shape[1] else 1
    return a.mean(axis=axis).astype(np.float32)


def resample_audio(audio: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited polyphase resampling (scipy), mono float32 in and out."""
    audio = to_mono(audio)
    if sr_in == sr_out:
        return audio
    from scipy.signal import resample_poly

    g = np.gcd(int(sr_in), int(sr_out))
    return resample_poly(audio, sr_out // g, sr_in // g).astype(np.float32)


def samples_per_frame(fps: float = FPS, sample_rate: int = SAMPLE_RATE) -> float:
    return sample_rate / fps


def fit_audio_to_frames(audio: np.ndarray, n_frames: int, fps: float = FPS,
                        sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Cut or zero-pad audio to exactly the duration of `n_frames` frames."""
    n = int(round(n_frames * sample_rate / fps))
    audio = to_mono(audio)
    if audio.size >= n:
        return audio[:n].copy()
    return np.pad(audio, (0, n - audio.size))


def read_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read an audio file (wav, flac, ...) with soundfile, or the audio track of a video with PyAV."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:
        return _read_av_audio(path, sample_rate)
    if data.shape[0] == 0:
        raise MediaError(path, "empty audio track")
    return resample_audio(data, sr, sample_rate)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    import soundfile as sf

    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), to_mono(audio), sample_rate, subtype="PCM_16", format="WAV")


# ----------------------------------------------------------------------------- video

def _open(path: Path):
    import av

    if not path.is_file():
        raise MediaError(path, "file not found")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as e:  # InvalidDataError, etc.
        raise MediaError(path, f"not a readable video ({e.__class__.__name__}: {_ffmpeg_reason(e)})") from None


def _ffmpeg_reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e)


def _read_av_audio(path: Path, sample_rate: int, container=None) -> np.ndarray:
    import av

    own = container is None
    c = _open(path) if own else container
    try:
        if not c.streams.audio:
            raise MediaError(path, "no audio track")
        stream = c.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks = []
        try:
            for frame in c.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as e:
            raise MediaError(path, f"corrupt audio track ({_ffmpeg_reason(e)})") from None
        if not chunks:
            raise MediaError(path, "empty audio track")
        wav = np.concatenate(chunks).astype(np.float32)
        # The decoder returns the last AAC frame whole (1024 samples), padding included; the
        # container's duration says where the track really ends (2 s written -> 2.048 s decoded).
        if stream.duration and stream.time_base:
            n = int(round(float(stream.duration * stream.time_base) * sample_rate))
            if 0 < n < wav.size:
                wav = wav[:n]
        return wav
    finally:
        if own:
            c.close()


def probe_fps(path: str | os.PathLike) -> float:
    path = Path(path)
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(path, "no video stream")
        rate = c.streams.video[0].average_rate
        return float(rate) if rate else 0.0


def read_video(path: str | os.PathLike, *, fps: float | None = FPS, audio: bool = True,
               size: int | tuple[int, int] | None = None, fps_tolerance: float = 0.01,
               max_frames: int | None = None) -> Video:
    """Read a video file into a `Video`.

    fps: the frame rate the caller needs (25 for talking-head clips); a constant rate that
        differs, or a variable rate, raises `MediaError`. `None` accepts any constant rate.
    audio: require an audio track, read as mono 16 kHz; it must not be silent or shorter
        than the video. With `audio=False` any audio track is ignored.
    size: the frame size the caller needs (square side or (H, W)), checked when given.
    """
    import av

    path = Path(path)
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(path, "no video stream")
        vs = c.streams.video[0]
        rate = vs.average_rate
        declared = vs.frames
        frames, pts = [], []
        try:
            for frame in c.decode(vs):
                frames.append(frame.to_ndarray(format="rgb24"))
                pts.append(frame.pts)
                if max_frames is not None and len(frames) >= max_frames:
                    break
        except av.error.FFmpegError as e:
            raise MediaError(path, f"corrupt or truncated video stream after {len(frames)} frames "
                                   f"({_ffmpeg_reason(e)})") from None
        if not frames:
            raise MediaError(path, "zero frames (empty or truncated video stream)")
        if max_frames is None and declared and len(frames) < declared:
            raise MediaError(path, f"truncated video: decoded {len(frames)} of {declared} frames")
        true_fps = _constant_fps(path, pts, vs.time_base, rate)
        if fps is not None and abs(true_fps - fps) > fps_tolerance:
            raise MediaError(path, f"unusual frame rate {true_fps:.3f} fps, expected {fps:g}")
        arr = check_frames(np.stack(frames), path, size=size)
        wav = None
        if audio:
            # A fresh container for the audio: rewinding a partly decoded one is unreliable.
            wav = _read_av_audio(path, SAMPLE_RATE)
            check_audio(wav, path, n_frames=len(arr), fps=true_fps)
    return Video(arr, true_fps, wav, SAMPLE_RATE)


def _constant_fps(path: Path, pts: list, time_base: Fraction | None, rate: Fraction | None) -> float:
    """The frame rate from the frame timestamps; raise for a variable rate."""
    if len(pts) >= 3 and time_base is not None and all(p is not None for p in pts):
        d = np.diff(np.asarray(sorted(pts), dtype=np.float64)) * float(time_base)
        med = float(np.median(d))
        if med <= 0:
            raise MediaError(path, "frame timestamps do not increase")
        # A constant-rate stream has every gap equal to the median up to timestamp rounding.
        if np.max(np.abs(d - med)) > 0.25 * med:
            raise MediaError(path, f"variable frame rate: frame gaps from {d.min()*1e3:.1f} to {d.max()*1e3:.1f} ms")
        return 1.0 / med
    if rate:
        return float(rate)
    raise MediaError(path, "frame rate unknown")


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = FPS,
                audio: np.ndarray | None = None, sample_rate: int = SAMPLE_RATE, *,
                crf: int = 18, audio_bitrate: int = 128_000) -> Path:
    """Write frames (T x H x W x 3 uint8 RGB) as h264 mp4, with AAC audio when given. Atomic."""
    import av

    path = Path(path)
    check_frames(frames, path)
    h, w = frames.shape[1:3]
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as c:
            vs = c.add_stream("libx264", rate=rate)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            # One thread keeps the encoder bit-exact whatever the core count. Macroblock-tree rate
            # control does not: with it, x264 encodes the same small clip (32-64 px) differently
            # from one call to the next, depending on what the process's memory held before, and
            # a resumed benchmark run would not reproduce an uninterrupted one.
            vs.options = {"crf": str(crf), "preset": "medium", "threads": "1", "x264-params": "mbtree=0"}
            vs.thread_count = 1
            as_ = None
            if audio is not None:
                as_ = c.add_stream("aac", rate=sample_rate)
                as_.layout = "mono"
                as_.bit_rate = audio_bitrate
            for f in frames:
                for pkt in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                    c.mux(pkt)
            for pkt in vs.encode():
                c.mux(pkt)
            if as_ is not None:
                _encode_audio(c, as_, to_mono(audio), sample_rate)
    return path


def _encode_audio(container, stream, audio: np.ndarray, sample_rate: int) -> None:
    import av

    pcm = np.clip(audio, -1.0, 1.0).astype(np.float32)
    chunk = 1024
    for i in range(0, pcm.size, chunk):
        block = pcm[i:i + chunk][None, :]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = i
        for pkt in stream.encode(frame):
            container.mux(pkt)
    for pkt in stream.encode():
        container.mux(pkt)


# ----------------------------------------------------------------------------- atomic writes

class atomic_path:
    """Context manager giving a temporary path beside `path`; renamed onto `path` on success.

    A reader never sees a half-written file, and an interrupted write leaves the old file.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Not tempfile.mkstemp: it creates the file with mode 0600 and os.replace keeps it, so every
        # file written here was unreadable to other users. Mode 0666 here lets the umask decide.
        while True:
            tmp = self.path.parent / f".{self.path.stem}.{secrets.token_hex(6)}.tmp{self.path.suffix}"
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            except FileExistsError:
                continue
            self.tmp = tmp
            return tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(path: str | os.PathLike, rows: list[dict]) -> None:
    """Rows of dicts as CSV; the columns are every key in order of first appearance, blank where a
    row lacks one (a measurement that failed keeps its row)."""
    import csv
    import io

    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, restval="", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def to_tensor_images(frames: np.ndarray):
    """uint8 (..., H, W, 3) -> float tensor (..., 3, H, W) in [-1, 1]."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(127.5).sub_(1.0)
    return t.movedim(-1, -3)

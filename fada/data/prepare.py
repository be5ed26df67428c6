"""Prepare real talking-head data (HDTF, CelebV-HQ) from the user's raw downloads.

Layout of OUT (a synthetic folder's layout, without ground-truth params):
    videos/ID.mp4        face-cropped clips: h264 + AAC, 25 fps, 16 kHz mono, SIZE x SIZE
    sources/KEY.json     per raw file: the manifest rows it gave, its size and mtime (resume)
    manifest.parquet     one row per clip, and a 'skipped' row per unusable raw file or clip
    prepare.json         data set, settings and filter thresholds

Each raw video is decoded twice so that memory stays bounded for minutes of 1080p video: the
first pass records frame timestamps and face detections (about five a second), the second crops
the frames each clip needs and writes the clip as soon as it is complete. A raw file that cannot
be used gives a 'skipped' row with the reason, and the run goes on.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import InputError
from .filters import assign_tier, score_clip, thresholds_dict
from .io import (FPS, SAMPLE_RATE, MediaError, _ffmpeg_reason, _open, check_audio, fit_audio_to_frames,
                 read_audio, write_text_atomic, write_video)
from .manifest import write_manifest

DATASETS = ("hdtf", "celebvhq")
DATASET_NAMES = {"hdtf": "HDTF", "celebvhq": "CelebV-HQ"}
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")
FORMAT_VERSION = 1
SETTINGS_FILE = "prepare.json"


class SettingsMismatch(InputError):
    """The output folder holds data prepared with other settings."""


@dataclass(frozen=True)
class PrepareConfig:
    dataset: str
    size: int = 512
    min_seconds: float = 2.0
    max_seconds: float = 10.0
    fps: float = FPS
    sample_rate: int = SAMPLE_RATE
    detections_per_second: float = 5.0
    # Crop side over the detection box side, and how far below the box centre the crop centre
    # sits (in box heights; negative is above). These put eyes, mouth and chin where the
    # synthetic world draws them (eyes at 0.46, mouth at 0.65, chin at 0.79 of the height, eyes
    # 0.17 apart), which is where the filters look for the mouth; measured with mediapipe's
    # full-range box on the astronaut photo at four zooms (margin 2.18-2.23, shift -0.05 to -0.09).
    margin: float = 2.2
    centre_shift: float = -0.07
    min_confidence: float = 0.5
    smooth_seconds: float = 1.0      # median window over detections: removes jitter and stray boxes
    max_gap_seconds: float = 0.6     # missed detections bridged inside a run of face frames

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise InputError(f"unknown data set {self.dataset!r}; expected one of {', '.join(DATASETS)}")
        if self.size % 2 or self.size < 16:
            raise InputError(f"size must be even and at least 16, got {self.size}")
        if not 0 < self.min_seconds <= self.max_seconds:
            raise InputError(f"need 0 < min-seconds <= max-seconds, got {self.min_seconds} and {self.max_seconds}")

    @property
    def min_frames(self) -> int:
        return int(np.ceil(self.min_seconds * self.fps - 1e-6))

    @property
    def max_frames(self) -> int:
        return int(np.floor(self.max_seconds * self.fps + 1e-6))


# ----------------------------------------------------------------------------- raw files

def find_raw_videos(raw: Path) -> list[Path]:
    """Video files under `raw`, recursively, in a stable order."""
    return sorted(p for p in raw.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def source_keys(paths: list[Path], raw: Path) -> list[str]:
    """A file-name-safe key per raw file, unique in the run: its path below `raw` without the
    suffix, or with it where two files differ only by suffix."""
    def key(p: Path, with_suffix: bool) -> str:
        rel = p.relative_to(raw)
        rel = rel if with_suffix else rel.with_suffix("")
        return re.sub(r"[^A-Za-z0-9_.-]", "_", rel.as_posix().replace("/", "__"))

    plain = [key(p, False) for p in paths]
    return [key(p, True) if plain.count(k) > 1 else k for p, k in zip(paths, plain)]


# ----------------------------------------------------------------------------- face detection

class FaceDetector:
    """The largest face in an RGB frame, as (centre x, centre y, width, height) in pixels.

    mediapipe's full-range model finds faces from about 5% to 80% of the frame width and gave no
    false positives on noise; the short-range model, tried when it finds nothing, is better on
    faces that fill the frame but scores noise up to about 0.6, hence its higher bar. Its box is
    smaller and sits lower, so it is mapped onto the full-range box (measured on the astronaut
    photo at four zooms: 0.87-0.95 times the size, centre 0.02-0.07 box heights lower) to keep
    the crop steady when the two models take turns.
    """

    SHORT_RANGE_CONFIDENCE = 0.75
    SHORT_RANGE_SCALE = 1.1
    SHORT_RANGE_RAISE = 0.04

    def __init__(self, min_confidence: float = 0.5):
        import mediapipe as mp

        fd = mp.solutions.face_detection
        self._models = [fd.FaceDetection(model_selection=1, min_detection_confidence=min_confidence),
                        fd.FaceDetection(model_selection=0,
                                         min_detection_confidence=max(min_confidence, self.SHORT_RANGE_CONFIDENCE))]

    def largest_face(self, frame: np.ndarray) -> np.ndarray | None:
        h, w = frame.shape[:2]
        full_range, short_range = self._models
        frame = np.ascontiguousarray(frame)
        box = self._largest(full_range.process(frame).detections, w, h)
        if box is None:
            box = self._largest(short_range.process(frame).detections, w, h)
            if box is not None:
                cx, cy, bw, bh = box
                k = self.SHORT_RANGE_SCALE
                box = np.array([cx, cy - self.SHORT_RANGE_RAISE * bh, k * bw, k * bh])
        return box

    @staticmethod
    def _largest(detections, w: int, h: int) -> np.ndarray | None:
        if not detections:
            return None
        b = max((d.location_data.relative_bounding_box for d in detections), key=lambda b: b.width * b.height)
        return np.array([(b.xmin + b.width / 2) * w, (b.ymin + b.height / 2) * h, b.width * w, b.height * h])

    def close(self) -> None:
        for model in self._models:
            model.close()


# ----------------------------------------------------------------------------- pass 1: scan

@dataclass
class Scan:
    """What the first pass over a raw video learns; times are seconds from its first frame."""

    frame_times: np.ndarray      # every decoded frame
    det_times: np.ndarray        # frames that went through face detection
    det_boxes: np.ndarray        # K x 4 (cx, cy, w, h) in pixels, NaN where no face was found
    start_time: float            # the first frame's time on the container clock
    audio_start_time: float      # the audio track's start on the same clock

    @property
    def duration(self) -> float:
        t = self.frame_times
        step = float(np.median(np.diff(t))) if t.size > 1 else 1.0 / FPS
        return float(t[-1] + step)


def scan_video(path: Path, detector: FaceDetector, detections_per_second: float) -> Scan:
    """Decode every frame for its timestamp; run face detection on one frame every
    1/detections_per_second seconds, and on the last. Any frame rate works, constant or not,
    since the output frames are chosen by time."""
    import av

    times, det_times, det_boxes = [], [], []

    def detect(frame, t: float) -> None:
        det_times.append(t)
        box = detector.largest_face(frame.to_ndarray(format="rgb24"))
        det_boxes.append(np.full(4, np.nan) if box is None else box)

    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(path, "no video stream")
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        rate = float(vs.average_rate or FPS)
        last = None
        try:
            for i, frame in enumerate(c.decode(vs)):
                t = frame.time if frame.time is not None else i / rate
                times.append(t)
                if not det_times or t - det_times[-1] + 1e-6 >= 1.0 / detections_per_second:
                    detect(frame, t)
                last = frame
        except av.error.FFmpegError as e:
            # A truncated download still gives clips from the part that decodes; the second
            # pass never reads past the last frame this one saw.
            if last is None:
                raise MediaError(path, f"corrupt video stream ({_ffmpeg_reason(e)})") from None
        if last is None:
            raise MediaError(path, "zero frames (empty or truncated video stream)")
        if det_times[-1] != times[-1]:
            detect(last, times[-1])  # so that the crop track's end is measured, not held
        audio_start = _stream_start(c.streams.audio[0]) if c.streams.audio else 0.0
    t = np.asarray(times, dtype=np.float64)
    if np.any(np.diff(t) <= 0):
        raise MediaError(path, "frame timestamps do not increase")
    return Scan(t - t[0], np.asarray(det_times) - t[0], np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4),
                float(t[0]), audio_start)


def _stream_start(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def nearest_index(times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each of `t`, the index of the nearest entry of the increasing array `times`."""
    if times.size == 1:
        return np.zeros(t.size, dtype=np.int64)
    right = np.clip(np.searchsorted(times, t), 1, times.size - 1)
    left = right - 1
    return np.where(t - times[left] <= times[right] - t, left, right)


def output_times(duration: float, fps: float) -> np.ndarray:
    """Times of the output frames that fit in `duration` seconds."""
    return np.arange(int(np.floor(duration * fps + 1e-6))) / fps


# ----------------------------------------------------------------------------- crop track

def crop_boxes(det_boxes: np.ndarray, cfg: PrepareConfig) -> np.ndarray:
    """Detection boxes (cx, cy, w, h) -> square crop boxes (cx, cy, side)."""
    cx, cy, w, h = det_boxes.T
    return np.stack([cx, cy + cfg.centre_shift * h, cfg.margin * np.maximum(w, h)], axis=1)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def bridge_gaps(boxes: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of at most `max_gap` missed detections between two found ones by linear
    interpolation: a turned head or a hand in front of the mouth should not cut a clip."""
    boxes = boxes.copy()
    missing = np.isnan(boxes[:, 0])
    for a, b in runs(missing):
        if a > 0 and b < len(boxes) and b - a <= max_gap:
            w = (np.arange(a, b) - (a - 1)) / (b - (a - 1))
            boxes[a:b] = (1 - w)[:, None] * boxes[a - 1] + w[:, None] * boxes[b]
    return boxes


def face_track(scan: Scan, n_out: int, cfg: PrepareConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per output frame: the smoothed crop box (cx, cy, side) and whether a face is there."""
    from scipy.ndimage import median_filter, uniform_filter1d

    rate = cfg.detections_per_second
    boxes = bridge_gaps(crop_boxes(scan.det_boxes, cfg), int(cfg.max_gap_seconds * rate))
    found = ~np.isnan(boxes[:, 0])
    out_t = np.arange(n_out) / cfg.fps
    nearest = nearest_index(scan.det_times, out_t)
    has_face = found[nearest]
    track = np.full((n_out, 3), np.nan)
    window = max(1, int(round(cfg.smooth_seconds * rate)) | 1)
    for a, b in runs(found):
        # Smooth each run on its own so that boxes of separate shots never mix.
        smooth = median_filter(boxes[a:b], size=(window, 1), mode="nearest")
        frames = np.flatnonzero((nearest >= a) & (nearest < b))
        for k in range(3):
            track[frames, k] = np.interp(out_t[frames], scan.det_times[a:b], smooth[:, k])
    # A moving average over one detection interval rounds off the corners of the interpolation.
    span = max(1, int(round(cfg.fps / rate)))
    for a, b in runs(has_face):
        track[a:b] = uniform_filter1d(track[a:b], size=span, axis=0, mode="nearest")
    return track, has_face


def clip_windows(has_face: np.ndarray, cfg: PrepareConfig) -> list[tuple[int, int]]:
    """Consecutive non-overlapping windows of at most max_frames inside each run of face
    frames; a tail shorter than min_frames is dropped."""
    out = []
    for a, b in runs(has_face):
        for s in range(a, b, cfg.max_frames):
            e = min(s + cfg.max_frames, b)
            if e - s >= cfg.min_frames:
                out.append((s, e))
    return out


# ----------------------------------------------------------------------------- pass 2: crop

def crop_square(frame: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """The square box resized to size x size. A box that fits the frame is shifted inside it
    (real pixels over padding); along a side where it does not fit, edge pixels are repeated."""
    import cv2

    h, w = frame.shape[:2]
    s = max(2, int(round(side)))
    x0, y0 = _place(cx, s, w), _place(cy, s, h)
    pad = (max(0, -y0), max(0, y0 + s - h), max(0, -x0), max(0, x0 + s - w))
    if any(pad):
        frame = cv2.copyMakeBorder(frame, *pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad[2], y0 + pad[0]
    box = frame[y0:y0 + s, x0:x0 + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.resize(box, (size, size), interpolation=interp)


def _place(centre: float, side: int, extent: int) -> int:
    start = int(round(centre - side / 2))
    if side <= extent:
        start = min(max(start, 0), extent - side)
    return start


def cropped_clips(path: Path, windows: list[tuple[int, int]], source_index: np.ndarray,
                  track: np.ndarray, size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (window number, cropped frames) for each window, in order, decoding `path` again."""
    import av

    if not windows:
        return
    w, j, buf = 0, windows[0][0], []
    with _open(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        try:
            for i, frame in enumerate(c.decode(vs)):
                image = None
                while w < len(windows) and source_index[j] == i:
                    if image is None:
                        image = frame.to_ndarray(format="rgb24")
                    buf.append(crop_square(image, *track[j], size))
                    j += 1
                    if j == windows[w][1]:
                        yield w, np.stack(buf)
                        buf, w = [], w + 1
                        j = windows[w][0] if w < len(windows) else j
                if w == len(windows):
                    return
        except av.error.FFmpegError as e:
            raise MediaError(path, f"corrupt video stream on the second read ({_ffmpeg_reason(e)})") from None
    raise MediaError(path, f"the second read ended before frame {int(source_index[j])}")


def clip_audio(audio: np.ndarray, scan: Scan, start: int, n_frames: int, cfg: PrepareConfig) -> np.ndarray:
    """The audio under output frames start..start+n_frames, aligned on the container clock;
    shorter than the clip where the track ends early (so that `check_audio` can say so)."""
    sr = cfg.sample_rate
    first = int(round((scan.start_time - scan.audio_start_time + start / cfg.fps) * sr))
    piece = audio[max(first, 0):max(first, 0) + int(round(n_frames * sr / cfg.fps))]
    if first < 0:
        piece = np.concatenate([np.zeros(-first, np.float32), piece])
    return piece


# ----------------------------------------------------------------------------- one raw file

@dataclass(frozen=True)
class SourceJob:
    path: Path
    raw: Path
    out: Path
    key: str
    cfg: PrepareConfig

    @property
    def rel(self) -> str:
        return self.path.relative_to(self.raw).as_posix()

    @property
    def marker(self) -> Path:
        return self.out / "sources" / f"{self.key}.json"

    def base_row(self) -> dict:
        return {"split": "all", "identity": self.path.stem, "source": self.rel,
                "fps": float(self.cfg.fps), "size": self.cfg.size}

    def clip_id(self, k: int) -> str:
        return f"{self.cfg.dataset}-{self.key}-{k:03d}"


def skipped_row(job: SourceJob, reason: str, row_id: str | None = None, **extra) -> dict:
    return {**job.base_row(), "id": row_id or f"{job.cfg.dataset}-{job.key}", "status": "skipped",
            "reason": reason, **extra}


def clip_row(job: SourceJob, k: int, start: int, frames: np.ndarray, audio: np.ndarray) -> dict:
    scores = score_clip(frames, audio, job.cfg.fps)
    tier, reasons = assign_tier(scores)
    clip_id = job.clip_id(k)
    n = int(frames.shape[0])
    return {**job.base_row(), "id": clip_id, "video": f"videos/{clip_id}.mp4", "params": "",
            "n_frames": n, "seconds": n / job.cfg.fps, "start_s": start / job.cfg.fps,
            "status": "ok", "reason": "",
            **{s: (int(v) if s == "sync_offset" else float(v)) for s, v in scores.items()},
            "tier": tier, "filter_reasons": reasons}


def cut_source(job: SourceJob, detector: FaceDetector) -> list[dict]:
    """Write the clips of one raw file and return their rows; raise MediaError when the file
    gives none."""
    cfg = job.cfg
    scan = scan_video(job.path, detector, cfg.detections_per_second)
    if scan.duration < cfg.min_seconds - 1e-6:
        raise MediaError(job.path, f"too short: {scan.duration:.2f} s, clips need at least {cfg.min_seconds:g} s")
    audio = check_audio(read_audio(job.path, cfg.sample_rate), job.path)
    source_index = nearest_index(scan.frame_times, output_times(scan.duration, cfg.fps))
    track, has_face = face_track(scan, source_index.size, cfg)
    windows = clip_windows(has_face, cfg)
    if not windows:
        raise MediaError(job.path, _no_face_reason(has_face, cfg))
    rows = []
    for k, frames in cropped_clips(job.path, windows, source_index, track, cfg.size):
        start = windows[k][0]
        wav = clip_audio(audio, scan, start, len(frames), cfg)
        try:
            check_audio(wav, job.path, n_frames=len(frames), fps=cfg.fps, sample_rate=cfg.sample_rate)
        except MediaError as e:  # a silent stretch, or the track ends early: this clip only
            rows.append(skipped_row(job, e.problem, job.clip_id(k), start_s=start / cfg.fps))
            continue
        wav = fit_audio_to_frames(wav, len(frames), cfg.fps, cfg.sample_rate)
        write_video(job.out / "videos" / f"{job.clip_id(k)}.mp4", frames, cfg.fps, wav, cfg.sample_rate)
        rows.append(clip_row(job, k, start, frames, wav))
    return rows


def _no_face_reason(has_face: np.ndarray, cfg: PrepareConfig) -> str:
    if not has_face.any():
        return "no face detected"
    longest = max(b - a for a, b in runs(has_face)) / cfg.fps
    return f"no stretch of at least {cfg.min_seconds:g} s with a face (longest {longest:.2f} s)"


def _file_stamp(path: Path) -> dict:
    st = path.stat()
    return {"size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def finished_rows(job: SourceJob) -> list[dict] | None:
    """The rows of an earlier run on the same file and settings whose clips are all on disk."""
    try:
        done = json.loads(job.marker.read_text())
    except (OSError, ValueError):
        return None
    same = (done.get("format") == FORMAT_VERSION and done.get("config") == asdict(job.cfg)
            and done.get("file") == _file_stamp(job.path))
    rows = done.get("rows", [])
    if same and all((job.out / r["video"]).is_file() for r in rows if r["status"] == "ok"):
        return rows
    return None


def prepare_source(job: SourceJob, detector: FaceDetector) -> list[dict]:
    """Rows for one raw file: its clips, or one 'skipped' row; never raises for bad media."""
    rows = finished_rows(job)
    if rows is not None:
        return rows
    try:
        rows = cut_source(job, detector)
    except MediaError as e:
        rows = [skipped_row(job, e.problem)]
    except Exception as e:  # an unforeseen decoder or detector failure must not end a long run
        # No marker: a rerun (after a fix) tries the file again.
        return [skipped_row(job, f"unexpected error ({e.__class__.__name__}: {e})")]
    write_text_atomic(job.marker, json.dumps({"format": FORMAT_VERSION, "config": asdict(job.cfg),
                                              "file": _file_stamp(job.path), "rows": rows}, indent=1) + "\n")
    return rows


# ----------------------------------------------------------------------------- a whole data set

_worker_detector: FaceDetector | None = None


def _prepare_in_worker(job: SourceJob) -> list[dict]:
    # mediapipe graphs cannot be pickled: each worker process builds its own detector once.
    global _worker_detector
    if _worker_detector is None:
        _worker_detector = FaceDetector(job.cfg.min_confidence)
    return prepare_source(job, _worker_detector)


def check_settings(out: Path, cfg: PrepareConfig) -> None:
    """Refuse to mix clips made with other settings in one folder."""
    path = out / SETTINGS_FILE
    if not path.is_file():
        return
    old = json.loads(path.read_text()).get("config", {})
    diff = [f"{k} {old.get(k)} -> {v}" for k, v in asdict(cfg).items() if old.get(k) != v]
    if diff:
        raise SettingsMismatch(f"{out} holds data prepared with other settings ({', '.join(diff)}); "
                               "use a new --out folder")


def write_settings(out: Path, cfg: PrepareConfig, rows: list[dict] | None = None) -> None:
    meta = {"dataset": cfg.dataset, "format": FORMAT_VERSION, "config": asdict(cfg), "filters": thresholds_dict()}
    if rows is not None:
        ok = [r for r in rows if r["status"] == "ok"]
        meta["counts"] = {"sources": len({r["source"] for r in rows}), "clips": len(ok),
                          "skipped": len(rows) - len(ok),
                          "tiers": {t: sum(r["tier"] == t for r in ok) for t in ("A", "B", "rejected")}}
    write_text_atomic(out / SETTINGS_FILE, json.dumps(meta, indent=1, sort_keys=True) + "\n")


def missing_raw_error(raw: Path, out: Path, cfg: PrepareConfig, problem: str) -> FileNotFoundError:
    name = DATASET_NAMES[cfg.dataset]
    return FileNotFoundError(
        f"{problem}: {raw.resolve()}. Put the raw {name} videos ({', '.join(s[1:] for s in VIDEO_SUFFIXES)}) "
        f"there, then run `fada-bench data prepare {cfg.dataset} --raw {raw} --out {out}`")


def check_inputs(raw: str | os.PathLike, out: str | os.PathLike, cfg: PrepareConfig) -> list[Path]:
    """The raw videos to prepare; raise before any work when there are none or when `out` was
    made with other settings."""
    raw, out = Path(raw), Path(out)
    if not raw.is_dir():
        raise missing_raw_error(raw, out, cfg, f"raw {DATASET_NAMES[cfg.dataset]} folder not found")
    paths = find_raw_videos(raw)
    if not paths:
        raise missing_raw_error(raw, out, cfg, "no raw videos in the folder")
    check_settings(out, cfg)
    return paths


def prepare_dataset(raw: str | os.PathLike, out: str | os.PathLike, cfg: PrepareConfig, workers: int = 1,
                    progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Cut every raw video under `raw` into face-cropped clips in `out` (resuming a partial
    folder), write the manifest and prepare.json, and return the manifest rows.

    progress: optional callable(n_done, n_total) over raw files.
    """
    raw, out = Path(raw), Path(out)
    paths = check_inputs(raw, out, cfg)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    write_settings(out, cfg)
    jobs = [SourceJob(p, raw, out, k, cfg) for p, k in zip(paths, source_keys(paths, raw))]
    rows: list[dict] = []
    if progress:
        progress(0, len(jobs))
    for done, source_rows in enumerate(_run_jobs(jobs, workers), start=1):
        rows += source_rows
        if progress:
            progress(done, len(jobs))
    write_manifest(out, rows)
    write_settings(out, cfg, rows)
    return rows


def _run_jobs(jobs: list[SourceJob], workers: int) -> Iterator[list[dict]]:
    if workers <= 1 or len(jobs) == 1:
        detector = FaceDetector(jobs[0].cfg.min_confidence)
        try:
            for job in jobs:
                yield prepare_source(job, detector)
        finally:
            detector.close()
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: mediapipe's threads do not survive a fork.
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as ex:
        yield from ex.map(_prepare_in_worker, jobs, chunksize=1)

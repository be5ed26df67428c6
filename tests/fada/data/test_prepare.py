"""`fada-bench data prepare` and `data split` on raw videos made here from a real photograph.

The talking video is scikit-image's astronaut photo, moved and zoomed a little every frame, at
30 fps with 44.1 kHz speech-like audio, so that preparation has to resample both. Nothing is
downloaded: mediapipe's face detector ships inside its wheel.

Measured on the clip of `talking_photo` (size 128, default crop settings), with mediapipe run again
on the output: a face in all 75 frames; face-box centre at most 0.08 of the crop width from the
middle (mean 0.03) and 0.53 +- 0.02 down; box width 0.46-0.51 of the crop; eyes at 0.45 and mouth at
0.65 of the height (the synthetic world draws them at 0.46 and 0.65); the click lands 40 samples
(2.5 ms) into the flash frame.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fada.data.io import MediaError, read_video, write_video
from fada.data.manifest import read_manifest, read_split, write_manifest
from fada.data.prepare import (PrepareConfig, SettingsMismatch, bridge_gaps, clip_windows, crop_square,
                               nearest_index, prepare_dataset)
from fada.data.verify import verify_folder
from fada_bench.cli import app

RAW_FPS = 30
RAW_SR = 44_100
FLASH_S = 1.0          # a bright frame and an audio click, both at this time
SIZE = 128
# The filters look for the mouth in rows 36..56 of a 64 px frame (fada.data.filters.sync_score).
MOUTH_ROWS = (36 / 64, 56 / 64)


# ----------------------------------------------------------------------------- raw media

def speech_like(seconds: float, sr: int = RAW_SR, click_at: float | None = None) -> np.ndarray:
    """A harmonic voice (120 Hz with vibrato, 11 harmonics) under a 4 Hz syllable envelope; with
    `click_at`, a 10 ms 2 kHz burst at that time inside 200 ms of silence."""
    t = np.arange(int(round(seconds * sr))) / sr
    f0 = 120 + 15 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    audio = 0.2 * np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 2 * voice
    if click_at is not None:
        audio[np.abs(t - click_at) < 0.1] = 0.0
        burst = (t >= click_at) & (t < click_at + 0.01)
        audio[burst] = 0.9 * np.sin(2 * np.pi * 2000 * (t[burst] - click_at))
    return audio.astype(np.float32)


def talking_photo(seconds: float, fps: int = RAW_FPS, size=(480, 640), flash_at: float | None = None) -> np.ndarray:
    """The astronaut photo on a landscape frame, drifting (up to 25 px) and zooming (8%) smoothly."""
    from skimage import data

    photo = data.astronaut()
    h, w = size
    frames = []
    for k in range(int(round(seconds * fps))):
        t = k / fps
        s = (1.0 + 0.08 * np.sin(2 * np.pi * 0.5 * t)) * h / 480
        dx, dy = 25 * np.sin(2 * np.pi * 0.7 * t), 12 * np.sin(2 * np.pi * 0.4 * t + 1)
        m = np.array([[s, 0, w / 2 - s * 256 + dx], [0, s, h / 2 - s * 200 + dy]])
        frame = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if flash_at is not None and k == int(round(flash_at * fps)):
            frame = np.clip(frame.astype(np.int16) + 50, 0, 255).astype(np.uint8)
        frames.append(frame)
    return np.stack(frames)


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    write_video(raw / "speaker_a.mp4", talking_photo(3.0, flash_at=FLASH_S), RAW_FPS,
                speech_like(3.0, click_at=FLASH_S), RAW_SR)
    noise = np.random.default_rng(0).integers(0, 256, (63, 120, 160, 3), dtype=np.uint8)
    write_video(raw / "noise.mp4", noise, 25, speech_like(2.5), RAW_SR)
    write_video(raw / "short.mp4", talking_photo(1.0, size=(240, 320)), RAW_FPS, speech_like(1.0), RAW_SR)
    write_video(raw / "mute.mp4", talking_photo(2.5, size=(240, 320)), RAW_FPS, None)
    write_video(raw / "silent.mp4", talking_photo(2.5, size=(240, 320)), RAW_FPS, np.zeros(2 * RAW_SR + RAW_SR // 2), RAW_SR)
    (raw / "sub").mkdir()
    (raw / "sub" / "notes.mp4").write_text("not a video, just text\n")
    (raw / "sub" / "readme.txt").write_text("ignored: not a video suffix\n")
    return raw


@pytest.fixture(scope="module")
def prepared(raw_folder, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("prepared")
    result = CliRunner().invoke(app, ["data", "prepare", "hdtf", "--raw", str(raw_folder), "--out", str(out),
                                      "--size", str(SIZE)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, read_manifest(out).set_index("source")


def detect_faces(frames: np.ndarray) -> list:
    """mediapipe's full-range detection of the largest face per frame (None where none)."""
    import mediapipe as mp

    found = []
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as fd:
        for f in frames:
            dets = fd.process(f).detections
            found.append(max(dets, key=lambda d: d.location_data.relative_bounding_box.width) if dets else None)
    return found


# ----------------------------------------------------------------------------- the good clip

def test_clip_is_25_fps_with_audio_and_the_manifest_row_says_so(prepared):
    out, df = prepared
    row = df.loc["speaker_a.mp4"]
    assert row["status"] == "ok" and row["reason"] == ""
    assert row["id"] == "hdtf-speaker_a-000" and row["identity"] == "speaker_a" and row["split"] == "all"
    # 3 s at 30 fps is 75 frames at 25 fps; one clip, since 3 s is within 2..10 s.
    assert (row["n_frames"], row["fps"], row["size"], row["seconds"], row["start_s"]) == (75, 25.0, SIZE, 3.0, 0.0)
    assert row["params"] == "" and row["true_tier"] == "" and row["defects"] == ""
    assert row["tier"] in ("A", "B", "rejected") and np.isfinite(row["sync_conf"])
    clip = read_video(out / row["video"], fps=25, audio=True, size=SIZE)
    assert clip.n_frames == 75
    assert abs(clip.audio.size - 75 * 640) <= 640 and np.abs(clip.audio).max() > 0.05
    assert verify_folder(out) == ([], 1)


def test_crop_holds_the_face_centred_with_the_mouth_where_the_filters_look(prepared):
    out, df = prepared
    frames = read_video(out / df.loc["speaker_a.mp4", "video"], fps=25).frames
    faces = detect_faces(frames)
    assert all(f is not None for f in faces), f"no face in {sum(f is None for f in faces)} of {len(faces)} frames"
    boxes = np.array([[b.xmin + b.width / 2, b.ymin + b.height / 2, b.width]
                      for b in (f.location_data.relative_bounding_box for f in faces)])
    # Centred: the crop follows the drifting face (it moves by up to 25 px of a 640 px frame).
    assert np.abs(boxes[:, 0] - 0.5).max() < 0.12
    assert np.abs(boxes[:, 1] - 0.53).max() < 0.12  # the crop centre sits 0.07 box heights above the box centre
    # The face box is 1 / margin of the crop (1 / 2.2 = 0.45), steady under the 8% zoom.
    assert 0.35 < boxes[:, 2].min() and boxes[:, 2].max() < 0.6
    keypoints = [f.location_data.relative_keypoints for f in faces]
    eyes_y = np.mean([(k[0].y + k[1].y) / 2 for k in keypoints])
    mouth_y = np.mean([k[3].y for k in keypoints])
    assert 0.35 < eyes_y < 0.55
    assert MOUTH_ROWS[0] < mouth_y < MOUTH_ROWS[1]


def test_audio_and_video_stay_in_sync_through_resampling(prepared):
    """A bright frame and a click made at the same instant end up in the same 25 fps frame."""
    out, df = prepared
    clip = read_video(out / df.loc["speaker_a.mp4", "video"], fps=25)
    brightness = clip.frames.reshape(clip.n_frames, -1).mean(1)
    flash_frame = int(np.argmax(np.diff(brightness))) + 1
    envelope = np.convolve(np.abs(clip.audio), np.ones(80) / 80, mode="same")
    click_frame = int(np.argmax(envelope)) // 640
    assert flash_frame == round(FLASH_S * 25)
    assert click_frame == flash_frame


# ----------------------------------------------------------------------------- bad input

def test_unusable_raw_files_are_skipped_with_their_reason(prepared, raw_folder):
    out, df = prepared
    assert set(df.index) == {"speaker_a.mp4", "noise.mp4", "short.mp4", "mute.mp4", "silent.mp4", "sub/notes.mp4"}
    skipped = df[df["status"] == "skipped"]
    assert set(skipped.index) == set(df.index) - {"speaker_a.mp4"}
    assert (skipped["video"] == "").all() and (skipped["split"] == "all").all()
    assert "face" in skipped.loc["noise.mp4", "reason"]
    assert "too short" in skipped.loc["short.mp4", "reason"]
    assert "no audio" in skipped.loc["mute.mp4", "reason"]
    assert "silent" in skipped.loc["silent.mp4", "reason"]
    with pytest.raises(MediaError) as reader:
        read_video(raw_folder / "sub" / "notes.mp4")
    assert skipped.loc["sub/notes.mp4", "reason"] == reader.value.problem
    assert skipped.loc["sub/notes.mp4", "id"] == "hdtf-sub__notes"
    meta = json.loads((out / "prepare.json").read_text())
    assert meta["dataset"] == "hdtf" and meta["config"]["size"] == SIZE and "strict" in meta["filters"]
    assert meta["counts"]["clips"] == 1 and meta["counts"]["skipped"] == 5


def test_a_rerun_resumes_and_other_settings_are_refused(prepared, raw_folder):
    out, df = prepared
    video = out / df.loc["speaker_a.mp4", "video"]
    before = video.stat().st_mtime_ns
    changed = raw_folder / "short.mp4"
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))  # "downloaded again"
    marker = out / "sources" / "short.json"
    marker_before = marker.read_text()
    rows = prepare_dataset(raw_folder, out, PrepareConfig("hdtf", size=SIZE))
    assert video.stat().st_mtime_ns == before  # finished: not cut again
    assert marker.read_text() != marker_before  # changed since: looked at again
    assert read_manifest(out).set_index("source").equals(df)
    assert len(rows) == len(df)
    with pytest.raises(SettingsMismatch, match="size"):
        prepare_dataset(raw_folder, out, PrepareConfig("hdtf", size=SIZE * 2))


def test_worker_processes_give_the_same_bytes(prepared, raw_folder, tmp_path):
    out, df = prepared
    prepare_dataset(raw_folder, tmp_path, PrepareConfig("hdtf", size=SIZE), workers=2)
    assert read_manifest(tmp_path).set_index("source").equals(df)
    video = df.loc["speaker_a.mp4", "video"]
    assert (tmp_path / video).read_bytes() == (out / video).read_bytes()


def test_missing_raw_folder_is_one_clear_error(tmp_path):
    missing = tmp_path / "no_such_hdtf_download"
    env = {**os.environ, "COLUMNS": "2000"}  # keep rich from wrapping the message
    p = subprocess.run([sys.executable, "-m", "fada_bench", "data", "prepare", "hdtf", "--raw", str(missing),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert str(missing) in p.stderr and "fada-bench data prepare hdtf" in p.stderr
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- the pieces

def test_windows_are_consecutive_and_a_short_tail_is_dropped():
    cfg = PrepareConfig("hdtf", min_seconds=2, max_seconds=10)
    has_face = np.zeros(1200, bool)
    has_face[0:625] = True          # 25 s: 10 + 10 + 5
    has_face[700:1005] = True       # 12.2 s: 10 + 2.2
    has_face[1100:1110] = True      # 0.4 s: shorter than a clip
    assert clip_windows(has_face, cfg) == [(0, 250), (250, 500), (500, 625), (700, 950), (950, 1005)]
    tail = np.zeros(300, bool)
    tail[:265] = True               # 10.6 s: the 0.6 s tail is dropped
    assert clip_windows(tail, cfg) == [(0, 250)]


def test_short_detection_gaps_are_bridged_and_long_ones_kept():
    boxes = np.tile(np.array([[10.0, 20.0, 30.0]]), (12, 1))
    boxes[[2, 3]] = np.nan            # 2 missed: bridged
    boxes[[6, 7, 8, 9]] = np.nan      # 4 missed: a real gap
    boxes[5] = [20.0, 20.0, 30.0]
    filled = bridge_gaps(boxes, max_gap=3)
    np.testing.assert_allclose(filled[2:4], [[10, 20, 30], [10, 20, 30]])
    assert np.isnan(filled[6:10]).all()
    filled = bridge_gaps(boxes, max_gap=4)
    np.testing.assert_allclose(filled[6:10, 0], [18, 16, 14, 12])  # linear from box 5 to box 10


def test_nearest_source_frame_for_30_to_25_fps():
    src = np.arange(90) / 30
    out_t = np.arange(75) / 25
    idx = nearest_index(src, out_t)
    assert np.all(np.diff(idx) >= 1)                          # monotone, no repeats when slowing down
    assert np.abs(src[idx] - out_t).max() <= 0.5 / 30 + 1e-9  # within half a source frame
    np.testing.assert_array_equal(nearest_index(np.arange(24) / 24, np.arange(25) / 25)[[0, 12, 24]], [0, 12, 23])


def test_crop_square_shifts_inside_or_pads():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :100] = 200                                      # left half bright
    inside = crop_square(frame, cx=10, cy=50, side=80, size=16)  # fits: moved right to x 0..80
    assert inside.min() == 200
    padded = crop_square(frame, cx=100, cy=50, side=160, size=16)  # taller than the frame: edge rows repeat
    assert padded.shape == (16, 16, 3)
    np.testing.assert_array_equal(padded[0], padded[-1])


# ----------------------------------------------------------------------------- test splits

@pytest.fixture
def manifest_folder(tmp_path) -> Path:
    rows = [{"id": f"hdtf-spk{i:02d}-000", "identity": f"spk{i:02d}", "split": "all",
             "status": "skipped" if i % 7 == 0 else "ok", "video": f"videos/hdtf-spk{i:02d}-000.mp4"}
            for i in range(40)]
    write_manifest(tmp_path, rows)
    return tmp_path


def split_cli(*args: str):
    result = CliRunner().invoke(app, ["data", "split", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_split_is_deterministic_and_uses_only_usable_clips(manifest_folder, tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    for path, seed in ((a, "0"), (b, "0"), (c, "1")):
        split_cli("hdtf", "--data", str(manifest_folder), "--n", "10", "--seed", seed, "--out", str(path))
    assert a.read_bytes() == b.read_bytes()
    ids_a, ids_c = read_split(a), read_split(c)
    assert ids_a != ids_c and len(ids_a) == len(ids_c) == 10 and len(set(ids_a)) == 10
    ok = set(read_manifest(manifest_folder).query("status == 'ok'")["id"])
    assert set(ids_a) <= ok and set(ids_c) <= ok
    meta = json.loads(a.read_text())
    assert (meta["dataset"], meta["seed"], meta["n"], meta["n_requested"], meta["n_available"]) == ("hdtf", 0, 10, 10, len(ok))
    # The same ids as numpy's generator drawing 10 of the sorted usable ids.
    want = sorted(np.array(sorted(ok))[np.random.default_rng(0).choice(len(ok), 10, replace=False)])
    assert ids_a == want


def test_split_takes_all_when_too_few_and_says_so(manifest_folder, tmp_path):
    result = split_cli("celebvhq", "--data", str(manifest_folder), "--n", "100", "--out", str(tmp_path / "s.json"))
    n_ok = int((read_manifest(manifest_folder)["status"] == "ok").sum())
    assert len(read_split(tmp_path / "s.json")) == n_ok
    assert f"only {n_ok}" in result.output


def test_synthetic_split_draws_from_the_test_split_only(tmp_path):
    rows = [{"id": f"syn-{s}-{i:05d}", "split": s, "status": "ok"} for s in ("train", "test", "openset") for i in range(6)]
    write_manifest(tmp_path, rows)
    split_cli("synthetic", "--data", str(tmp_path), "--n", "4", "--out", str(tmp_path / "s.json"))
    ids = read_split(tmp_path / "s.json")
    assert len(ids) == 4 and all(i.startswith("syn-test-") for i in ids)

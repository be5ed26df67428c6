"""SyncNet v2's audio windows are syncnet_python's: MFCC by python_speech_features on int16
samples, 20 MFCC frames (0.2 s) starting at 4 x the video frame index."""
from __future__ import annotations

import numpy as np
import pytest
import python_speech_features as psf

from fada.errors import InputError
from fada_bench.metrics.backbones.standard import syncnet


def _speechy(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    return (0.3 * env * np.sin(2 * np.pi * 180 * t) + 0.02 * rng.normal(size=t.size)).astype(np.float32)


def _reference_mfcc(audio):
    # SyncNetInstance.evaluate: wavfile.read gives int16; mfcc(audio, 16000); zip(*) = transpose
    pcm = np.clip(np.round(audio.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
    return np.stack([np.array(c) for c in zip(*psf.mfcc(pcm, 16000))])


def test_mfcc_is_13_coefficients_at_100_hz():
    cc = syncnet.mfcc(_speechy(1.0))
    assert cc.shape == (13, 99)          # 1 + ceil((16000 - 400) / 160)


def test_windows_equal_syncnet_pythons_slices():
    n = 30
    audio = _speechy(n / 25)                     # exactly n video frames long
    ours = syncnet.audio_windows(audio, n)
    ref = _reference_mfcc(audio)
    assert ours.shape == (n - 4, 1, 13, 20)
    # syncnet_python's windows: cct[..., 4v : 4v + 20] for v < min_length - 5
    for v in range(n - 5):
        np.testing.assert_allclose(ours[v, 0], ref[:, 4 * v:4 * v + 20], rtol=1e-5, atol=1e-4)


def test_last_window_uses_real_audio_when_the_track_is_longer():
    n = 20
    audio = _speechy(n / 25 + 0.2)
    ours = syncnet.audio_windows(audio, n)
    ref = _reference_mfcc(audio)
    v = n - 5
    np.testing.assert_allclose(ours[v, 0], ref[:, 4 * v:4 * v + 20], rtol=1e-5, atol=1e-4)


def test_amplitude_scale_is_int16():
    # the first coefficient is the log frame energy: scaling float audio to int16 shifts it by
    # log(32768^2); a float-scale MFCC would be off by about 20.8
    audio = _speechy(0.5)
    c0_ours = syncnet.mfcc(audio)[0]
    c0_float = psf.mfcc(audio.astype(np.float64), 16000)[:, 0]
    np.testing.assert_allclose(c0_ours - c0_float, 2 * np.log(32768), atol=1e-3)


def test_short_audio_and_short_clips_are_refused():
    with pytest.raises(InputError, match="audio of"):
        syncnet.audio_windows(_speechy(0.5), 25)
    with pytest.raises(InputError, match="5-frame window"):
        syncnet.audio_windows(_speechy(1.0), 4)

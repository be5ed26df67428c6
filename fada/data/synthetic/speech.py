"""Speech-like audio for the synthetic world, with the per-frame drivers it implies.

The voice is additive harmonic synthesis: a glottal source at f0 whose harmonics are weighted by
three formant resonances (F1, F2, F3) of the vowel being spoken, plus noise bursts for consonant
onsets. Syllables group into phrases separated by pauses; f0 declines over a phrase and rises on
stressed syllables. Alongside the waveform the track gives, per video frame, the articulation
that produced it (how open and how spread the vowel is, times the loudness), which drives the
face: the jaw opens with F1, the mouth widens with F2, as in human speech.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..io import FPS, SAMPLE_RATE

# vowel: F1, F2, F3 (Hz), openness (jaw), spread (mouth width, rounded < 0 < spread)
VOWELS = {
    "a": (750.0, 1250.0, 2600.0, 1.00, 0.15),
    "e": (500.0, 1900.0, 2600.0, 0.55, 0.55),
    "i": (300.0, 2300.0, 3000.0, 0.28, 0.95),
    "o": (500.0, 900.0, 2500.0, 0.60, -0.60),
    "u": (320.0, 800.0, 2400.0, 0.25, -0.95),
}
_VOWEL_TABLE = np.array(list(VOWELS.values()), dtype=np.float64)


@dataclass
class SpeechTrack:
    audio: np.ndarray        # (N,) float32 at SAMPLE_RATE
    openness: np.ndarray     # (T,) loudness-weighted vowel openness per frame, in [0, 1]
    spread: np.ndarray       # (T,) loudness-weighted vowel spread per frame, in [-1, 1]
    envelope: np.ndarray     # (T,) voiced loudness per frame, in [0, 1]
    f0: np.ndarray           # (T,) pitch per frame in Hz, 0 when unvoiced
    stress: np.ndarray       # (T,) 1 on stressed syllables


def synth_speech(rng: np.random.Generator, n_frames: int, f0_base: float, fps: float = FPS,
                 sample_rate: int = SAMPLE_RATE) -> SpeechTrack:
    n = int(round(n_frames * sample_rate / fps))
    f0_s = np.full(n, f0_base, dtype=np.float64)
    amp = np.zeros(n)             # voiced amplitude envelope
    noise_amp = np.zeros(n)       # consonant burst envelope
    open_s = np.zeros(n)
    spread_s = np.zeros(n)
    stress_s = np.zeros(n)
    formants = np.zeros((n, 3)) + _VOWEL_TABLE[0, :3]

    pos = int(rng.uniform(0.0, 0.25) * sample_rate)
    while pos < n:
        n_syl = int(rng.integers(2, 8))
        phrase_start = pos
        syl_durs = rng.uniform(0.12, 0.28, n_syl)
        phrase_len = int(syl_durs.sum() * sample_rate)
        for d in syl_durs:
            L = int(d * sample_rate)
            if pos >= n:
                break
            seg = slice(pos, min(n, pos + L))
            m = seg.stop - seg.start
            v = _VOWEL_TABLE[rng.integers(len(_VOWEL_TABLE))]
            stressed = rng.random() < 0.3
            gain = 1.0 if stressed else rng.uniform(0.55, 0.8)
            # Consonant onset: a short noise burst before the vowel.
            c = int(rng.uniform(0.02, 0.05) * sample_rate) if rng.random() < 0.6 else 0
            c = min(c, m // 3)
            if c:
                noise_amp[pos:pos + c] = gain * 0.35 * np.hanning(2 * c)[c:] if c > 1 else 0
            vs = slice(pos + c, seg.stop)
            k = vs.stop - vs.start
            if k > 4:
                t = np.linspace(0.0, 1.0, k)
                env = np.minimum(1.0, np.minimum(t / 0.15, (1.0 - t) / 0.3)) ** 1.5
                amp[vs] = gain * env
                open_s[vs] = v[3]
                spread_s[vs] = v[4]
                stress_s[vs] = float(stressed)
                formants[vs] = v[:3]
                # Declination over the phrase and a rise on stress.
                frac = (pos - phrase_start) / max(1, phrase_len)
                f0_s[vs] = f0_base * (1.12 - 0.22 * frac) * (1.15 if stressed else 1.0) * (1 + 0.03 * np.sin(2 * np.pi * 5.5 * t))
            pos = seg.stop
        pos += int(rng.uniform(0.15, 0.6) * sample_rate)

    audio = _harmonic_voice(f0_s, amp, formants, sample_rate)
    burst = np.diff(rng.standard_normal(n + 1)) * 0.5  # high-passed noise
    audio = audio + burst * noise_amp
    audio = audio + rng.normal(0.0, 1e-3, n)  # room noise floor
    audio = (0.5 * audio / (np.max(np.abs(audio)) + 1e-9)).astype(np.float32)

    spf = sample_rate / fps
    edges = np.round(np.arange(n_frames + 1) * spf).astype(int)

    def per_frame(x):
        c = np.concatenate([[0.0], np.cumsum(x)])
        return ((c[edges[1:]] - c[edges[:-1]]) / np.maximum(1, np.diff(edges))).astype(np.float32)

    env_f = per_frame(amp)
    voiced = per_frame((amp > 0.05).astype(float)) > 0.5
    return SpeechTrack(
        audio=audio,
        openness=per_frame(amp * open_s),
        spread=per_frame(amp * spread_s),
        envelope=env_f,
        f0=np.where(voiced, per_frame(f0_s), 0.0).astype(np.float32),
        stress=per_frame(stress_s),
    )


def _harmonic_voice(f0: np.ndarray, amp: np.ndarray, formants: np.ndarray, sr: int) -> np.ndarray:
    """Sum of f0 harmonics below 5 kHz, each weighted by the formant resonances at its frequency."""
    phase = 2.0 * np.pi * np.cumsum(f0) / sr
    out = np.zeros_like(f0)
    voiced = amp > 0
    if not voiced.any():
        return out
    idx = np.flatnonzero(voiced)
    ph, f, F = phase[idx], f0[idx], formants[idx]
    bw = np.array([90.0, 110.0, 170.0])
    gains = np.array([1.0, 0.55, 0.25])
    n_harm = int(5000.0 / f0[idx].min())
    acc = np.zeros(idx.size)
    for k in range(1, n_harm + 1):
        fk = k * f
        g = (gains / (1.0 + ((fk[:, None] - F) / bw) ** 2)).sum(axis=1) / np.sqrt(k)
        g = np.where(fk < 5000.0, g, 0.0)
        acc += g * np.sin(k * ph)
    out[idx] = acc * amp[idx]
    return out

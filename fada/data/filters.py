"""Quality filters for talking-head clips, one code path for both worlds (paper Sec. 4.1).

Each filter turns a face-cropped clip (frames + 16 kHz audio) into a score; strict thresholds
select the high-quality set A, lenient ones the larger set B. The scores:

- sync_offset, sync_conf: audio-visual sync. Mouth-region motion energy is cross-correlated with
  the change of an audio articulation signal (see `articulation_signal`) over lags of -15..+15
  frames; the best lag is the offset and the peak minus the median correlation is the confidence
  (SyncNet's LSE-C convention). A trained SyncNet can replace it once the metrics ship one.
- motion: head motion, the mean optical-flow magnitude in the face region, in % of the width.
- bg_instability: background change, the mean frame-to-frame change of block means in the four
  corners (outside the face), on 0-255. Block means average pixel noise away.
- blur: Crete-Roffet's no-reference blur (0 sharp, 1 fully blurred).
- noise: Immerkaer's fast noise estimate (std on 0-255).
- blockiness: JPEG/MPEG 8x8 grid artefacts, the ratio of the step across block borders to the
  step inside blocks.

Frames are assumed face-cropped (face centred, as `data prepare` writes them), so the mouth is
in the lower middle of the frame in both worlds.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .io import FPS, SAMPLE_RATE

MAX_LAG = 15
SCORE_NAMES = ("sync_offset", "sync_conf", "motion", "bg_instability", "blur", "noise", "blockiness")


def _gray(frames: np.ndarray, side: int = 64) -> np.ndarray:
    import cv2

    g = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]).astype(np.float32)
    if g.shape[1] != side:
        g = np.stack([cv2.resize(x, (side, side), interpolation=cv2.INTER_AREA) for x in g])
    return g


def articulation_signal(audio: np.ndarray, n_frames: int, fps: float = FPS,
                        sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Per-frame audio proxy for jaw opening: loudness in 200-1000 Hz times the share of it above
    550 Hz (a high first formant means an open jaw, in human speech as in the synthetic voice)."""
    from scipy.signal import stft

    spf = int(round(sample_rate / fps))
    a = np.zeros(n_frames * spf, dtype=np.float64)
    m = min(a.size, audio.size)
    a[:m] = audio[:m]
    f, _, z = stft(a, sample_rate, nperseg=spf, noverlap=0, boundary=None, padded=False)
    p = np.abs(z) ** 2
    low = p[(f >= 200) & (f < 1000)].sum(0)
    high = p[(f >= 550) & (f < 1000)].sum(0)
    return (high / (low + 1e-12) * np.sqrt(low))[:n_frames]


def _pearson_lags(v: np.ndarray, a: np.ndarray, max_lag: int) -> np.ndarray:
    """Pearson correlation of v[t] with a[t + lag] for lag in -max_lag..max_lag."""
    n = v.size
    out = np.empty(2 * max_lag + 1)
    for i, lag in enumerate(range(-max_lag, max_lag + 1)):
        x, y = (v[: n - lag], a[lag:]) if lag >= 0 else (v[-lag:], a[: n + lag])
        x, y = x - x.mean(), y - y.mean()
        out[i] = (x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum() + 1e-12)
    return out


def sync_score(frames: np.ndarray, audio: np.ndarray, fps: float = FPS, max_lag: int = MAX_LAG) -> tuple[int, float]:
    """(offset in frames, confidence). offset > 0: the audio lags the mouth by that many frames.

    Mouth-region motion energy against the change of the articulation signal, the two being
    frame differences so that both peak when the mouth moves."""
    g = _gray(frames)
    mouth = g[:, 36:56, 20:44]  # lower middle of a face-cropped 64 px frame
    vis = np.abs(np.diff(mouth, axis=0)).mean(axis=(1, 2))
    aud = np.abs(np.diff(articulation_signal(audio, len(frames), fps)))
    max_lag = min(max_lag, max(1, (vis.size - 5) // 2))
    corr = _pearson_lags(vis, aud, max_lag)
    best = int(np.argmax(corr))
    return best - max_lag, float(corr[best] - np.median(corr))


def motion_score(frames: np.ndarray) -> float:
    import cv2

    g = _gray(frames).astype(np.uint8)
    mags = []
    for t in range(1, len(g)):
        flow = cv2.calcOpticalFlowFarneback(g[t - 1], g[t], None, 0.5, 2, 9, 2, 5, 1.1, 0)
        mag = np.sqrt((flow[12:52, 14:50] ** 2).sum(-1))  # face region of a 64 px crop
        mags.append(mag.mean())
    return float(np.mean(mags) / 64 * 100) if mags else 0.0


def background_instability(frames: np.ndarray) -> float:
    g = _gray(frames)
    corners = [g[:, :16, :12], g[:, :16, -12:], g[:, 16:28, :8], g[:, 16:28, -8:]]
    vals = []
    for c in corners:
        t, h, w = c.shape
        blocks = c[:, : h // 4 * 4, : w // 4 * 4].reshape(t, h // 4, 4, w // 4, 4).mean(axis=(2, 4))
        vals.append(np.abs(np.diff(blocks, axis=0)).mean())
    return float(np.mean(vals))


def noise_level(frames: np.ndarray, stride: int = 5) -> float:
    """Immerkaer (1996): sigma = sqrt(pi/2) / (6 (W-2)(H-2)) * sum |I * M|, averaged over frames."""
    from scipy.signal import convolve2d

    m = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    out = []
    for f in frames[::stride]:
        g = f.astype(np.float64).mean(-1)
        h, w = g.shape
        s = np.abs(convolve2d(g, m, mode="valid")).sum()
        out.append(np.sqrt(np.pi / 2) * s / (6.0 * (w - 2) * (h - 2)))
    return float(np.median(out))


def blur_level(frames: np.ndarray, stride: int = 5) -> float:
    """Crete-Roffet et al. (2007) no-reference blur: how much of the image's local variation
    survives a 9-tap re-blur. 0 is sharp, 1 is fully blurred; independent of contrast."""
    from scipy.ndimage import uniform_filter1d

    out = []
    for f in frames[::stride]:
        g = f.astype(np.float64).mean(-1)
        b = []
        for axis in (0, 1):
            blurred = uniform_filter1d(g, 9, axis=axis)
            d_f = np.abs(np.diff(g, axis=axis))
            d_b = np.abs(np.diff(blurred, axis=axis))
            s_f = d_f.sum()
            s_v = np.maximum(0.0, d_f - d_b).sum()
            b.append((s_f - s_v) / s_f if s_f > 0 else 1.0)
        out.append(max(b))
    return float(np.median(out))


def blockiness(frames: np.ndarray, stride: int = 5) -> float:
    out = []
    for f in frames[::stride]:
        g = f.astype(np.float32).mean(-1)
        d = np.abs(np.diff(g, axis=1))  # d[:, j] = step between columns j and j+1
        cols = np.arange(d.shape[1])
        border = d[:, cols % 8 == 7].mean()
        inside = d[:, (cols % 8 != 7)].mean()
        dv = np.abs(np.diff(g, axis=0))
        rows = np.arange(dv.shape[0])
        border_v, inside_v = dv[rows % 8 == 7].mean(), dv[rows % 8 != 7].mean()
        out.append((border + border_v) / (inside + inside_v + 1e-6))
    return float(np.median(out))


def score_clip(frames: np.ndarray, audio: np.ndarray, fps: float = FPS) -> dict:
    off, conf = sync_score(frames, audio, fps)
    return {
        "sync_offset": off, "sync_conf": conf, "motion": motion_score(frames),
        "bg_instability": background_instability(frames), "blur": blur_level(frames),
        "noise": noise_level(frames), "blockiness": blockiness(frames),
    }


@dataclass(frozen=True)
class Thresholds:
    max_abs_offset: int
    min_sync_conf: float
    min_motion: float
    max_motion: float
    max_bg_instability: float
    max_blur: float
    max_noise: float
    max_blockiness: float

    def failures(self, s: dict) -> list[str]:
        """Names of the filters a clip's scores fail."""
        bad = []
        if abs(int(s["sync_offset"])) > self.max_abs_offset or s["sync_conf"] < self.min_sync_conf:
            bad.append("sync")
        if s["motion"] < self.min_motion:
            bad.append("frozen_motion")
        if s["motion"] > self.max_motion:
            bad.append("excessive_motion")
        if s["bg_instability"] > self.max_bg_instability:
            bad.append("background")
        if s["blur"] > self.max_blur:
            bad.append("blur")
        if s["noise"] > self.max_noise:
            bad.append("noise")
        if s["blockiness"] > self.max_blockiness:
            bad.append("compression")
        return bad


# Strict thresholds give set A, lenient ones set B. Calibrated on clean synthetic clips
# (see tests/fada/data/test_filters.py for the precision and recall they reach against recorded defects).
STRICT = Thresholds(max_abs_offset=1, min_sync_conf=0.3, min_motion=0.25, max_motion=1.2,
                    max_bg_instability=2.5, max_blur=0.55, max_noise=3.0, max_blockiness=1.4)
LENIENT = Thresholds(max_abs_offset=15, min_sync_conf=0.0, min_motion=0.0, max_motion=20.0,
                     max_bg_instability=40.0, max_blur=0.95, max_noise=40.0, max_blockiness=12.0)


def assign_tier(scores: dict, strict: Thresholds = STRICT, lenient: Thresholds = LENIENT) -> tuple[str, str]:
    """(tier, reasons): "A" passes the strict filters, "B" only the lenient ones, else "rejected"."""
    s_fail = strict.failures(scores)
    if not s_fail:
        return "A", ""
    l_fail = lenient.failures(scores)
    return ("B" if not l_fail else "rejected"), ",".join(s_fail)


def thresholds_dict() -> dict:
    return {"strict": asdict(STRICT), "lenient": asdict(LENIENT)}

"""The TS-CAN input and label formulas (notebook 01_preprocessing), per frame and for whole arrays.

Notation: X[t] (S, S, 3) is the cropped, resized frame t scaled to [0, 1] and clipped to
[1/255, 1] (the clip keeps the motion denominator away from zero, as in MTTS-CAN).

- Motion: D[t] = (X[t+1] − X[t]) / (X[t+1] + X[t] + ε) for t = 0 … T−2, then divided by the
  population standard deviation (ddof 0) of those T−1 differences, without removing their mean;
  D[T−1] = 0. ε = 1e-7 as in rPPG-Toolbox (MTTS-CAN used no ε). The standard deviation excludes
  the zero last frame (rPPG-Toolbox; MTTS-CAN included a zero row, a difference of order 1/T).
  MTTS-CAN's loop also stopped one difference early, leaving the last real difference out: here
  every one of the T−1 differences is computed.
- Appearance: A[t] = (X[t] − m) / s with the scalar mean m and population std s over all pixels,
  channels and frames. Option: each frame replaced by the mean of A over its segment of
  ``frame_depth`` frames (MTTS-CAN's training convention).
- Labels: d[t] = (y[t+1] − y[t]) / std(diff(y)) for t = 0 … T−2 and d[T−1] = 0, so that label t
  pairs with motion frame t (both describe the change from t to t+1, both zero at the end);
  rPPG-Toolbox pads the same way.

The whole-array functions here are the reference; the streaming pipeline computes the same numbers
frame by frame with :class:`RunningStats` (Chan et al.'s pairwise update in float64), so that no
statistic needs the whole video in memory.
"""

from __future__ import annotations

import logging

import numpy as np

from rppg_lib.preprocess.resize import resize
from rppg_lib.validation import as_signal, check_positive, check_positive_int

__all__ = [
    "EPS",
    "PIXEL_MIN",
    "RunningStats",
    "normalize_crop",
    "frame_difference",
    "motion_input",
    "appearance_input",
    "segment_mean",
    "derivative_labels",
]

logger = logging.getLogger("rppg_lib.preprocess")

EPS = 1e-7
PIXEL_MIN = 1.0 / 255.0


def normalize_crop(crop: np.ndarray, size: int, interpolation: str = "area") -> np.ndarray:
    """A crop (h, w, 3) of 0–255 values (uint8 or float) → (size, size, 3) float32 in [1/255, 1].

    The crop is converted to float before resizing: area averaging of uint8 would round every
    pixel to an integer and erase the sub-level colour changes the pulse lives in.
    """
    img = resize(np.asarray(crop, dtype=np.float32), size, interpolation)
    img *= np.float32(1.0 / 255.0)
    np.clip(img, np.float32(PIXEL_MIN), np.float32(1.0), out=img)
    return img


def frame_difference(x_next: np.ndarray, x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Normalised difference (X[t+1] − X[t]) / (X[t+1] + X[t] + ε), float32, same shape."""
    a = np.asarray(x_next, dtype=np.float32)
    b = np.asarray(x, dtype=np.float32)
    return (a - b) / (a + b + np.float32(eps))


class RunningStats:
    """Count, mean and sum of squared deviations of a stream of arrays, in float64.

    ``update(batch)`` merges a batch with Chan, Golub & LeVeque's pairwise formula, which stays
    accurate where the naive Σx² − (Σx)²/n cancels; ``std`` is the population standard deviation.
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    def update(self, batch: np.ndarray) -> None:
        values = np.asarray(batch, dtype=np.float64).ravel()
        n = values.size
        if n == 0:
            return
        # Batch sums of x − K with K the running mean (the batch's first value at the start):
        # shifted near the mean, Σd² − (Σd)²/n does not cancel, and it needs one pass.
        shift = self.mean if self.count else float(values[0])
        d = values - shift
        total_d = float(d.sum())
        mean_b = shift + total_d / n
        # Σd² with numpy's own loop, not BLAS: OpenBLAS splits a dot product of more than ~10,000
        # values (a 72x72x3 frame) across its threads, and on a busy machine every such call
        # waits milliseconds for a worker (see rppg_lib.threads). einsum's sum does not depend
        # on the BLAS thread count either, so the statistic is the same on every machine.
        m2_b = max(float(np.einsum("i,i->", d, d)) - total_d * total_d / n, 0.0)
        total = self.count + n
        delta = mean_b - self.mean
        self.mean += delta * n / total
        self.m2 += m2_b + delta * delta * self.count * n / total
        self.count = total

    @property
    def std(self) -> float:
        """Population standard deviation (ddof 0); 0.0 before any data."""
        return float(np.sqrt(self.m2 / self.count)) if self.count else 0.0


def _scale_or_one(std: float, what: str) -> float:
    """``std`` as a divisor; 1.0 (with a warning) where it is zero, i.e. the input is constant."""
    if std > 0.0 and np.isfinite(std):
        return std
    logger.warning("%s is constant (standard deviation 0): left unscaled", what)
    return 1.0


def motion_input(frames: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Motion input of a whole clip: (T, S, S, 3) frames in [1/255, 1] → (T, S, S, 3) float32.

    D[t] for t < T−1 divided by the std of those T−1 differences; D[T−1] = 0 (module docstring).
    """
    x = np.asarray(frames, dtype=np.float32)
    if x.ndim != 4 or x.shape[0] < 2:
        raise ValueError(f"frames must be (T >= 2, S, S, C), got shape {x.shape}")
    check_positive(eps, "eps")
    out = np.zeros_like(x)
    out[:-1] = frame_difference(x[1:], x[:-1], eps)
    out[:-1] /= np.float32(_scale_or_one(float(np.std(out[:-1], dtype=np.float64)), "motion"))
    return out


def appearance_input(frames: np.ndarray) -> np.ndarray:
    """Appearance input of a whole clip: (X − mean) / std with scalar statistics, float32."""
    x = np.asarray(frames, dtype=np.float32)
    if x.ndim != 4 or x.shape[0] < 1:
        raise ValueError(f"frames must be (T, S, S, C), got shape {x.shape}")
    mean = float(np.mean(x, dtype=np.float64))
    std = _scale_or_one(float(np.std(x, dtype=np.float64)), "appearance")
    return ((x - np.float32(mean)) / np.float32(std)).astype(np.float32, copy=False)


def segment_mean(frames: np.ndarray, frame_depth: int) -> np.ndarray:
    """Replace each frame by the mean of its segment of ``frame_depth`` frames (segments start at
    frame 0; a shorter last segment is averaged over the frames it has). Shape kept, float32."""
    frame_depth = check_positive_int(frame_depth, "frame_depth")
    x = np.asarray(frames, dtype=np.float32)
    out = np.empty_like(x)
    for start in range(0, x.shape[0], frame_depth):
        seg = x[start : start + frame_depth]
        out[start : start + len(seg)] = seg.mean(axis=0, dtype=np.float64)
    return out


def derivative_labels(waveform: np.ndarray, name: str = "bvp") -> np.ndarray:
    """Derivative labels of a waveform sampled at the frames: (T,) → (T,) float32.

    d[t] = (y[t+1] − y[t]) / std(diff(y)) (population std) for t < T−1 and d[T−1] = 0 (zero pad,
    matching the motion input's zero last frame). A constant waveform gives all zeros, with a
    warning. Raises ValueError naming ``name`` for fewer than 2 samples or non-finite values.
    """
    y = as_signal(waveform, name, min_length=2)
    d = np.diff(y)
    out = np.zeros(len(y), dtype=np.float64)
    out[:-1] = d / _scale_or_one(float(np.std(d)), f"{name} derivative")
    return out.astype(np.float32)

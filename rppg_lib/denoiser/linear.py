"""A classic reference for the LSTM denoiser: a linear adaptive filter.

It removes from the network's conditioned pulse p (T,) what the corruption estimates N (T, k)
(k = 3: n_R, n_G, n_B) explain linearly, without any training:

- ``method="lstsq"`` (default): in windows of ``window_s`` seconds with hop window/2, fit
  p ≈ [N, 1]·β by least squares and keep the residual p − N·β_N (the intercept is fitted, so an
  offset cannot bias β_N, but only the corruption part is subtracted). Overlapping residuals are
  averaged with a sine taper sin(π(n + ½)/L), so the output has no steps where β changes from
  one window to the next. Default because it has no step size to tune and no start-up
  transient, and within a window it is the best linear subtraction there is: a corruption mixed
  into p with constant weights is removed exactly.
- ``method="nlms"``: normalised least mean squares, sample by sample,
  w ← w + μ·e_t·x_t / (ε + |x_t|²) with x_t = [N_t, 1] and e_t = p_t − w·x_t; the output is
  p_t − w_N·N_t. It follows weights that drift, at the price of the step size μ and a
  transient while it converges.

With no estimate (k = 0) nothing is removed: the output is the pulse itself (the identity), so
"linear, no estimate" is the network's own pulse. Whatever the filter gains over it with the
inverse-attention estimates is the corruption those estimates carry linearly; an LSTM given the
same inputs has to beat it to show that it learned more than a subtraction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rppg_lib.constants import HR_WINDOW_S
from rppg_lib.validation import as_array, as_signal, check_choice, check_fs, check_positive

__all__ = ["LINEAR_METHODS", "MIN_SAMPLES_PER_REGRESSOR", "linear_denoise"]

LINEAR_METHODS = ("lstsq", "nlms")
# A window must hold at least this many samples per fitted coefficient (k + 1 with the
# intercept): with L samples a fit of c coefficients removes about c / L of an unrelated signal.
MIN_SAMPLES_PER_REGRESSOR = 10
NLMS_EPS = 1e-6


def _inputs(pulse: Any, corruption: Any) -> tuple[np.ndarray, np.ndarray]:
    p = as_signal(pulse, "pulse")
    n = as_array(corruption, "corruption", ndim=(1, 2))
    n = n[:, None] if n.ndim == 1 else n
    if n.shape[0] != p.size:
        raise ValueError(f"corruption has {n.shape[0]} samples for {p.size} pulse samples")
    return p, n


def _window_starts(n_samples: int, length: int) -> np.ndarray:
    """Starts of windows of ``length`` every length // 2 samples, the last one ending at the
    end (every sample covered)."""
    hop = max(1, length // 2)
    starts = list(range(0, n_samples - length + 1, hop))
    if starts[-1] != n_samples - length:
        starts.append(n_samples - length)
    return np.asarray(starts)


def _lstsq(p: np.ndarray, n: np.ndarray, length: int) -> np.ndarray:
    starts = _window_starts(p.size, length)
    idx = starts[:, None] + np.arange(length)  # (W, L)
    design = np.concatenate([n[idx], np.ones((len(starts), length, 1))], axis=2)  # (W, L, k+1)
    beta = np.linalg.pinv(design) @ p[idx][..., None]  # (W, k+1, 1)
    residual = p[idx] - (n[idx] @ beta[:, :-1])[..., 0]  # (W, L)
    taper = np.sin(np.pi * (np.arange(length) + 0.5) / length)
    out = np.zeros(p.size)
    weight = np.zeros(p.size)
    np.add.at(out, idx, residual * taper)
    np.add.at(weight, idx, np.broadcast_to(taper, idx.shape))
    return out / weight


def _nlms(p: np.ndarray, n: np.ndarray, mu: float) -> np.ndarray:
    x = np.concatenate([n, np.ones((p.size, 1))], axis=1)
    w = np.zeros(x.shape[1])
    out = np.empty(p.size)
    for t in range(p.size):
        out[t] = p[t] - w[:-1] @ x[t, :-1]
        error = p[t] - w @ x[t]
        w += mu * error * x[t] / (NLMS_EPS + x[t] @ x[t])
    return out


def linear_denoise(
    pulse: Any,
    corruption: Any,
    fs: float,
    *,
    window_s: float = HR_WINDOW_S,
    method: str = "lstsq",
    mu: float = 0.05,
) -> np.ndarray:
    """The pulse (T,) with what the corruption estimates explain linearly removed.

    pulse: (T,) the network's conditioned pulse; corruption: (T, k) (or (T,)) the corruption
    estimates at the same times, k = 0 for none (the pulse is returned unchanged); fs: their
    sampling rate in Hz; window_s: least-squares window in s (hop window/2; at most the signal's
    length and at least :data:`MIN_SAMPLES_PER_REGRESSOR` samples per coefficient); method:
    "lstsq" or "nlms" (module docstring); mu: the NLMS step size in (0, 2).
    """
    p, n = _inputs(pulse, corruption)
    fs = check_fs(fs)
    check_choice(method, "method", LINEAR_METHODS)
    length = int(round(check_positive(window_s, "window_s") * fs))
    needed = MIN_SAMPLES_PER_REGRESSOR * (n.shape[1] + 1)
    if method == "lstsq" and length < needed:
        raise ValueError(f"window_s = {window_s:g} s holds {length} samples at {fs:g} Hz, fewer "
                         f"than the {needed} needed for {n.shape[1] + 1} coefficients")
    if method == "lstsq" and length > p.size:
        raise ValueError(f"window_s = {window_s:g} s ({length} samples) is longer than the "
                         f"pulse ({p.size} samples at {fs:g} Hz)")
    if method == "nlms" and not check_positive(mu, "mu") < 2.0:
        raise ValueError(f"mu must lie in (0, 2) for NLMS to converge, got {mu!r}")
    if n.shape[1] == 0:
        return p.copy()
    return _lstsq(p, n, length) if method == "lstsq" else _nlms(p, n, float(mu))

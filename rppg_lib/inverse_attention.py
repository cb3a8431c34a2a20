"""Inverse attention: corruption estimates from the regions an attention network ignores.

The Python replacement of the Benefit-of-Distraction MATLAB step ``get_noise_estimates.m``
(Nowara, McDuff, Veeraraghavan, ICCV 2021). Per frame t, with A[t] the gate-1 attention mask
(the sigmoid output before its normalisation; 34×34 for 36×36 network input):

1. ``A' = (A − min A) / (max A − min A)`` (per frame);
2. inverse mask ``M = [A' ≤ τ]`` (binary, τ = 0.1, as released) or ``M = 1 − A'`` (continuous,
   the supplement);
3. corruption estimate of colour channel c: ``n_c[t] = Σ_hw X_c[t] ⊙ M[t] / (H·W)``, with X[t] the
   frame on the mask grid in [1/255, 1] (all pixels counted, zeros included, as released; the mean
   over the inverse pixels only is an option);
4. each n_c, and the pulse ``p = cumsum(network derivative output)``, is detrended (smoothness
   priors, λ = 50), z-scored (N − 1) and zero-phase band-passed (Butterworth order 1,
   [0.7, 2.5] Hz for HR, [0.08, 0.5] Hz for BR), with MATLAB ``filtfilt`` end handling
   (``rppg_lib.signals``).

The arithmetic reproduces the release's (run in GNU Octave on its MMSE-HR sample) to ~1e-13.

Deviations from the release
---------------------------
- **Sampling rate from the clip.** The release hard-coded fs = 30 Hz, also for its 25 fps MMSE-HR
  video, which moves every band edge by 20 %. Here ``fs`` is a required argument. Compatibility:
  pass ``fs=30`` to reproduce the release's numbers.
- **Frame-count mismatch is an error.** With fewer frames than network outputs the release padded
  the noise estimates with zeros; after detrending and filtering the step gives a spike of ~15
  (z-score units) at the join. The released sample shows it: its masked frames end with two zero
  frames and its conditioned estimates reach 16.3 there, against < 3 for the 859 recorded frames
  alone. Here masks, frames and network outputs of different lengths raise ValueError. No
  compatibility flag: the padded samples carry no measurement.
- **All three channels.** The release's blue branch saved variables it never assigned, so only red
  and green estimates were usable from its script; here R, G and B are always produced together.
- **Constant attention masks are an error.** For a frame whose mask is constant, max − min = 0 and
  the release's division would give a NaN mask, which ``NaN ≤ τ`` (false) turns into an all-zero
  inverse mask and a zero estimate for that frame. Here it raises ValueError naming the frame
  indices (the sigmoid output is only constant for degenerate input, e.g. blank frames, which the
  user should see). After normalisation an inverse mask always holds at least the minimum pixel,
  so an all-zero inverse mask can only come from masks passed in directly; that is an error too.
- **Integration precision.** MATLAB's ``cumsum`` keeps the single precision of the network output;
  here the pulse is accumulated in float64 by default (the conditioned pulse differs by ~3e-6).
  Compatibility: ``integration_dtype=np.float32``.
- **Resizing to the mask grid.** The release used MATLAB ``imresize`` (bicubic, antialiased) on
  the frame. ``frames_to_mask_grid`` defaults to OpenCV area interpolation, the same as the crop
  the network saw (notebook 01_preprocessing); ``"bicubic"`` is OpenCV's bicubic, which does not
  antialias. Neither is bit-identical to ``imresize``; the parity tests start from the release's
  masked frames.
- **Options beyond the release** (defaults are the release's): continuous inverse masks
  (``kind="continuous"``), and the mean over inverse pixels only (``mode="inverse_pixels"``), which
  does not shrink when the inverse region does.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rppg_lib.atomic import atomic_write_with
from rppg_lib.constants import DETREND_LAMBDA, HR_BAND
from rppg_lib.signals import bandpass, detrend, integrate, zscore
from rppg_lib.validation import (
    as_array,
    check_band,
    check_choice,
    check_fs,
    check_positive,
    check_positive_int,
)

__all__ = [
    "RELEASE_THRESHOLD",
    "CHANNELS",
    "normalize_masks",
    "inverse_masks",
    "masked_channel_means",
    "condition_signal",
    "frames_to_mask_grid",
    "CorruptionEstimates",
    "corruption_estimates",
    "reconditioned",
]

RELEASE_THRESHOLD = 0.1  # τ of the released binary inverse mask
CHANNELS: tuple[str, str, str] = ("red", "green", "blue")
MASK_KINDS = ("binary", "continuous")
MEAN_MODES = ("all_pixels", "inverse_pixels")
_INTERPOLATIONS = {"area": cv2.INTER_AREA, "bicubic": cv2.INTER_CUBIC}
_MIN_INTENSITY = 1.0 / 255.0  # frames are clipped to [1/255, 1] (notebook 01_preprocessing)


def _frame_list(indices: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    return shown + (f", … ({len(indices)} frames)" if len(indices) > limit else "")


def _as_mask_stack(masks: Any, name: str) -> np.ndarray:
    """``masks`` (T, H, W) or (T, H, W, 1) as finite float64 (T, H, W)."""
    arr = as_array(masks, name, ndim=(3, 4))
    if arr.ndim == 4:
        if arr.shape[3] != 1:
            raise ValueError(
                f"{name} must be (T, H, W) or (T, H, W, 1), got shape {arr.shape} "
                "(a 4-D mask stack must have one channel)"
            )
        arr = arr[..., 0]
    if arr.shape[1] == 0 or arr.shape[2] == 0:
        raise ValueError(f"{name} has an empty grid (shape {arr.shape})")
    return arr


def normalize_masks(masks: np.ndarray) -> np.ndarray:
    """Per-frame min–max normalisation ``A' = (A − min A) / (max A − min A)``.

    masks: (T, H, W) or (T, H, W, 1) attention masks (any real values, e.g. sigmoid outputs).
    Returns float64 (T, H, W) in [0, 1], each frame spanning exactly [0, 1]. A frame whose mask is
    constant (max = min) has no defined normalisation: ValueError naming those frame indices.
    """
    arr = _as_mask_stack(masks, "masks")
    low = arr.min(axis=(1, 2), keepdims=True)
    span = arr.max(axis=(1, 2), keepdims=True) - low
    flat = np.flatnonzero(span[:, 0, 0] == 0)
    if flat.size:
        raise ValueError(
            f"masks is constant within frame(s) {_frame_list(flat)} (max − min = 0): min–max "
            "normalisation is undefined there, so no inverse (ignored) region exists; check "
            "those frames (blank or saturated input?) or drop them from the clip"
        )
    return (arr - low) / span


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
    tau = float(threshold)
    if not 0.0 <= tau < 1.0:
        raise ValueError(
            f"threshold must be in [0, 1) (a fraction of the normalised attention range; "
            f"1 would mark every pixel, the face included, as ignored), got {threshold!r}"
        )
    return tau


def inverse_masks(
    masks: np.ndarray, *, kind: str = "binary", threshold: float | None = None
) -> np.ndarray:
    """Inverse attention masks from attention masks: where the network did *not* look.

    masks: (T, H, W) or (T, H, W, 1) attention masks. kind: ``"binary"`` (released code):
    1 where A' ≤ τ, else 0, with ``threshold`` τ in [0, 1) (default 0.1, the release's);
    ``"continuous"`` (the supplement): 1 − A', which takes no threshold. A' is the per-frame
    min–max normalised mask (``normalize_masks``). Returns float32 (T, H, W) in [0, 1]; every
    frame has at least one nonzero pixel (the mask's minimum).
    """
    kind = check_choice(kind, "kind", MASK_KINDS)
    normalised = normalize_masks(masks)
    if kind == "continuous":
        if threshold is not None:
            raise ValueError(
                f"threshold applies to kind='binary' only; got threshold={threshold!r} with "
                "kind='continuous' (1 − A' uses no threshold)"
            )
        return (1.0 - normalised).astype(np.float32)
    tau = RELEASE_THRESHOLD if threshold is None else _check_threshold(threshold)
    return (normalised <= tau).astype(np.float32)


def _check_unit_range(arr: np.ndarray, name: str, hint: str = "") -> None:
    low, high = float(arr.min()), float(arr.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{low:g}, {high:g}]{hint}")


def masked_channel_means(
    frames_on_mask_grid: np.ndarray, inverse: np.ndarray, *, mode: str = "all_pixels"
) -> np.ndarray:
    """Per-frame, per-channel mean of the frames weighted by the inverse masks.

    frames_on_mask_grid: (T, H, W, 3) RGB float intensities on the mask grid, in [0, 1]
    (``frames_to_mask_grid`` gives [1/255, 1]; zeros are accepted because the release's saved
    masked frames contain them). inverse: (T, H, W) or (T, H, W, 1) inverse masks in [0, 1].
    mode: ``"all_pixels"`` (released): ``Σ_hw X_c ⊙ M / (H·W)``, zeros included, so the
    estimate also scales with the size of the inverse region; ``"inverse_pixels"``:
    ``Σ_hw X_c ⊙ M / Σ_hw M``, the (weighted) mean colour of the ignored region. Returns float64
    (T, 3), intensity in [0, 1]. A frame whose inverse mask is all zeros has no estimate:
    ValueError naming those frames.
    """
    mode = check_choice(mode, "mode", MEAN_MODES)
    frames = as_array(frames_on_mask_grid, "frames_on_mask_grid", ndim=4)
    if frames.shape[3] != 3:
        raise ValueError(f"frames_on_mask_grid must be (T, H, W, 3) RGB, got shape {frames.shape}")
    _check_unit_range(
        frames,
        "frames_on_mask_grid",
        " (scale uint8 frames to [0, 1], e.g. with frames_to_mask_grid)",
    )
    weights = _as_mask_stack(inverse, "inverse")
    _check_unit_range(weights, "inverse")
    if weights.shape[0] != frames.shape[0]:
        raise ValueError(
            f"frames_on_mask_grid and inverse must have the same number of frames, got "
            f"{frames.shape[0]} and {weights.shape[0]}"
        )
    if weights.shape[1:] != frames.shape[1:3]:
        raise ValueError(
            f"frames_on_mask_grid has grid {frames.shape[1:3]} but inverse has "
            f"{weights.shape[1:]}; resize the frames with frames_to_mask_grid(frames, "
            f"mask_size={weights.shape[1:]})"
        )
    mass = weights.sum(axis=(1, 2))
    empty = np.flatnonzero(mass == 0)
    if empty.size:
        raise ValueError(
            f"inverse is all zeros in frame(s) {_frame_list(empty)}: no ignored pixels, "
            "so no corruption estimate exists there"
        )
    sums = np.einsum("thwc,thw->tc", frames, weights)
    if mode == "all_pixels":
        return sums / (weights.shape[1] * weights.shape[2])
    return sums / mass[:, None]


def condition_signal(
    x: np.ndarray,
    fs: float,
    *,
    lam: float = DETREND_LAMBDA,
    band: tuple[float, float] = HR_BAND,
    order: int = 1,
    name: str = "x",
) -> np.ndarray:
    """The release's conditioning chain: detrend (λ) → z-score (N − 1) → zero-phase band-pass.

    x: (T,) or (T, C) signal sampled at ``fs`` Hz (columns processed independently). lam: the
    smoothness-priors λ (50 as released). band: pass band in Hz (``HR_BAND`` or ``BR_BAND``).
    order: Butterworth design order (1 as released), MATLAB ``filtfilt`` end handling. name: what
    ``x`` is called in error messages. Returns float64, same shape, dimensionless (z-score units).
    A column with no variation left after detrending (constant or linear input, e.g. a static
    noise-free background) cannot be z-scored: ValueError rather than amplified rounding noise.
    """
    fs = check_fs(fs)
    low, high = check_band(*_band_pair(band), fs)
    arr = as_array(x, name, ndim=(1, 2), min_length=3)
    detrended = detrend(arr, check_positive(lam, "lam"))
    # Detrending a constant or a line leaves only rounding residue (~1e-16 of the magnitude);
    # z-scoring would blow it up to unit variance and pass it on as if it were a signal.
    scale = np.maximum(np.abs(arr).max(axis=0), np.finfo(np.float64).tiny)
    flat = np.flatnonzero(np.atleast_1d(detrended.std(axis=0) <= 1e-10 * scale))
    if flat.size:
        where = name if arr.ndim == 1 else f"{name} column(s) {flat.tolist()}"
        raise ValueError(
            f"{where} has no variation left after detrending (constant or linear trend only), "
            "so it cannot be standardised"
        )
    return bandpass(zscore(detrended), fs, low, high, check_positive_int(order, "order"))


def _band_pair(band: Any) -> tuple[Any, Any]:
    try:
        low, high = band
    except (TypeError, ValueError):
        raise ValueError(f"band must be a pair (low, high) in Hz, got {band!r}") from None
    return low, high


def _mask_size(mask_size: Any) -> tuple[int, int]:
    if isinstance(mask_size, Integral) and not isinstance(mask_size, bool):
        side = check_positive_int(mask_size, "mask_size")
        return side, side
    try:
        height, width = mask_size
    except (TypeError, ValueError):
        raise ValueError(
            f"mask_size must be an int or a (height, width) pair, got {mask_size!r}"
        ) from None
    height = check_positive_int(height, "mask_size height")
    return height, check_positive_int(width, "mask_size width")


def frames_to_mask_grid(
    frames: np.ndarray, mask_size: int | tuple[int, int], interpolation: str = "area"
) -> np.ndarray:
    """Resize RGB frames to the attention-mask grid, as float in [1/255, 1].

    frames: (T, H, W, 3) RGB, uint8 (scaled by 1/255) or float in [0, 1]; pass the same crop the
    network saw. mask_size: the grid, an int (square, e.g. 34 for 36×36 input) or (height, width).
    interpolation: ``"area"`` (OpenCV INTER_AREA, as the network input) or ``"bicubic"`` (OpenCV
    INTER_CUBIC, no antialiasing; MATLAB ``imresize`` differs). Returns float32 (T, h, w, 3),
    clipped to [1/255, 1] as in the release.
    """
    method = _INTERPOLATIONS[check_choice(interpolation, "interpolation", tuple(_INTERPOLATIONS))]
    height, width = _mask_size(mask_size)
    raw = np.asarray(frames)
    if raw.ndim != 4 or raw.shape[3] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {raw.shape}")
    if raw.shape[0] == 0 or raw.shape[1] == 0 or raw.shape[2] == 0:
        raise ValueError(f"frames is empty (shape {raw.shape})")
    is_uint8 = raw.dtype == np.uint8
    if not (is_uint8 or np.issubdtype(raw.dtype, np.floating)):
        raise ValueError(f"frames must be uint8 or float in [0, 1], got dtype {raw.dtype}")
    out = np.empty((raw.shape[0], height, width, 3), dtype=np.float32)
    # One frame at a time: a float copy of a whole full-resolution video would not fit in memory.
    for t, frame in enumerate(raw):
        if is_uint8:
            scaled = frame.astype(np.float32) / 255.0
        else:
            scaled = frame.astype(np.float32)
            if not np.all(np.isfinite(scaled)):
                raise ValueError(f"frames[{t}] contains a non-finite value")
            _check_unit_range(scaled, f"frames[{t}]", " (uint8 frames are scaled automatically)")
        out[t] = cv2.resize(scaled, (width, height), interpolation=method)
    return np.clip(out, _MIN_INTENSITY, 1.0, out=out)


@dataclass(frozen=True)
class CorruptionEstimates:
    """Output of ``corruption_estimates`` for one clip of T frames at ``fs`` Hz.

    raw: (T, 3) masked channel means (R, G, B), intensity in [0, 1]. conditioned: (T, 3) the same
    after detrend → z-score → band-pass (the LSTM's noise inputs). pulse_raw: (T,) the integrated
    network output (cumsum of the derivative). pulse_conditioned: (T,) the pulse after the same
    chain. inverse_masks: (T, H, W) float32. params: the settings used (kind, threshold, mode, lam,
    band, order, integration_dtype).
    """

    raw: np.ndarray
    conditioned: np.ndarray
    pulse_raw: np.ndarray
    pulse_conditioned: np.ndarray
    fs: float
    inverse_masks: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


def corruption_estimates(
    masks: np.ndarray,
    frames_on_mask_grid: np.ndarray,
    pulse_derivative: np.ndarray,
    fs: float,
    *,
    kind: str = "binary",
    threshold: float | None = None,
    mode: str = "all_pixels",
    lam: float = DETREND_LAMBDA,
    band: tuple[float, float] = HR_BAND,
    order: int = 1,
    integration_dtype: type = np.float64,
) -> CorruptionEstimates:
    """The whole ``get_noise_estimates.m`` step for one clip, all three colour channels.

    masks: (T, H, W) or (T, H, W, 1) gate-1 attention masks. frames_on_mask_grid: (T, H, W, 3)
    frames on the same grid in [0, 1] (``frames_to_mask_grid``). pulse_derivative: (T,) or (T, 1)
    the network's per-frame output. fs: the clip's frame rate in Hz (no default: the release's
    assumed 30 Hz was wrong for 25 fps video). kind/threshold: see ``inverse_masks``; mode: see
    ``masked_channel_means``; lam/band/order: see ``condition_signal`` (``BR_BAND`` for
    breathing). integration_dtype: accumulation precision of the pulse's cumsum (np.float32
    reproduces MATLAB on a single-precision output). Masks, frames and network outputs must all
    have T frames: a mismatch is a ValueError, never zero padding.
    """
    fs = check_fs(fs)
    derivative = _pulse_derivative_series(pulse_derivative)
    frames = as_array(frames_on_mask_grid, "frames_on_mask_grid", ndim=4)
    inverse = inverse_masks(masks, kind=kind, threshold=threshold)
    _check_frame_counts(inverse, frames, derivative)
    raw = masked_channel_means(frames, inverse, mode=mode)
    pulse_raw = integrate(derivative, dtype=integration_dtype)
    conditioned = condition_signal(
        raw, fs, lam=lam, band=band, order=order, name="corruption estimates (R, G, B)"
    )
    pulse_conditioned = condition_signal(
        pulse_raw, fs, lam=lam, band=band, order=order, name="pulse (cumsum of pulse_derivative)"
    )
    # the threshold a binary mask used; soft masks have none
    used_threshold = None
    if kind == "binary":
        used_threshold = RELEASE_THRESHOLD if threshold is None else float(threshold)
    return CorruptionEstimates(
        raw=raw,
        conditioned=conditioned,
        pulse_raw=pulse_raw,
        pulse_conditioned=pulse_conditioned,
        fs=fs,
        inverse_masks=inverse,
        params={
            "kind": kind,
            "threshold": used_threshold,
            "mode": mode,
            "lam": float(lam),
            "band": (float(band[0]), float(band[1])),
            "order": int(order),
            "integration_dtype": np.dtype(integration_dtype).name,
        },
    )



def _pulse_derivative_series(pulse_derivative: np.ndarray) -> np.ndarray:
    """The network's per-frame output, (T,) or (T, 1), as a (T,) array."""
    derivative = as_array(pulse_derivative, "pulse_derivative", ndim=(1, 2))
    if derivative.ndim == 2:
        if derivative.shape[1] != 1:
            raise ValueError(
                f"pulse_derivative must be (T,) or (T, 1), got shape {derivative.shape}"
            )
        derivative = derivative[:, 0]
    return derivative


def _check_frame_counts(inverse: np.ndarray, frames: np.ndarray, derivative: np.ndarray) -> None:
    if not inverse.shape[0] == frames.shape[0] == derivative.shape[0]:
        raise ValueError(
            f"masks, frames_on_mask_grid and pulse_derivative must have the same number of "
            f"frames, got {inverse.shape[0]}, {frames.shape[0]} and {derivative.shape[0]} (the "
            "release padded with zeros here; trim or re-run the network on the same frames)"
        )

def reconditioned(
    estimates: CorruptionEstimates,
    derivative: np.ndarray | None = None,
    *,
    lam: float = DETREND_LAMBDA,
    band: tuple[float, float] = HR_BAND,
    order: int = 1,
) -> CorruptionEstimates:
    """The same clip's estimates conditioned for another band: its raw R, G, B means and a
    network output through :func:`condition_signal` with lam, band (Hz), order.

    derivative: (T,) the network output to integrate for the last input column, e.g. an
    MTTS-CAN's respiration output (with ``BR_BAND`` and ``BR_DETREND_LAMBDA``: the BR LSTM's
    inputs [n_R, n_G, n_B, r]); None re-conditions the estimates' own ``pulse_raw``. The inverse
    masks and the other params are kept; params records the new lam, band and order.
    """
    raw_pulse = estimates.pulse_raw
    if derivative is not None:
        d = as_array(derivative, "derivative", ndim=1)
        if d.shape[0] != estimates.raw.shape[0]:
            raise ValueError(
                f"derivative has {d.shape[0]} samples for estimates of {estimates.raw.shape[0]} "
                "frames"
            )
        raw_pulse = integrate(d)
    conditioned = condition_signal(
        estimates.raw, estimates.fs, lam=lam, band=band, order=order,
        name="corruption estimates (R, G, B)",
    )
    pulse = condition_signal(raw_pulse, estimates.fs, lam=lam, band=band, order=order,
                             name="derivative" if derivative is not None else "pulse_raw")
    params = {**estimates.params, "lam": float(lam), "band": (float(band[0]), float(band[1])),
              "order": int(order)}
    return dataclasses.replace(estimates, conditioned=conditioned, pulse_raw=raw_pulse,
                               pulse_conditioned=pulse, params=params)


# --- storage of the estimates of one clip (artifact of notebook 04) ----------------------------

_ESTIMATE_ARRAYS = ("raw", "conditioned", "pulse_raw", "pulse_conditioned", "inverse_masks")


def save_estimates(path: str | os.PathLike, estimates: CorruptionEstimates) -> Path:
    """Write ``estimates`` to a compressed ``.npz`` at ``path`` atomically; returns the path.

    raw, conditioned, pulse_raw and pulse_conditioned are kept in float64 as computed; the
    inverse masks in float16 (exact for binary masks, ~1e-3 for continuous ones, which serve
    only for display: the estimates are already stored); params as JSON.
    """
    if not isinstance(estimates, CorruptionEstimates):
        raise ValueError(
            f"estimates must be a CorruptionEstimates, got {type(estimates).__name__}"
        )
    arrays = {
        "raw": np.asarray(estimates.raw, dtype=np.float64),
        "conditioned": np.asarray(estimates.conditioned, dtype=np.float64),
        "pulse_raw": np.asarray(estimates.pulse_raw, dtype=np.float64),
        "pulse_conditioned": np.asarray(estimates.pulse_conditioned, dtype=np.float64),
        "inverse_masks": np.asarray(estimates.inverse_masks, dtype=np.float16),
        "fs": np.float64(estimates.fs),
        "params": np.str_(json.dumps(estimates.params)),
    }
    return atomic_write_with(path, lambda handle: np.savez_compressed(handle, **arrays))


def load_estimates(path: str | os.PathLike) -> CorruptionEstimates:
    """Read estimates written by :func:`save_estimates` (inverse masks as float32, ``band`` in
    params as a tuple). FileNotFoundError / ValueError name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corruption-estimates file not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = sorted({*_ESTIMATE_ARRAYS, "fs", "params"} - set(data.files))
        if missing:
            raise ValueError(f"{path} is not a corruption-estimates file (missing {missing})")
        arrays = {name: data[name] for name in _ESTIMATE_ARRAYS}
        fs, params = float(data["fs"]), json.loads(str(data["params"]))
    if isinstance(params.get("band"), list):
        params["band"] = tuple(params["band"])
    arrays["inverse_masks"] = arrays["inverse_masks"].astype(np.float32)
    return CorruptionEstimates(fs=fs, params=params, **arrays)


__all__ += ["save_estimates", "load_estimates"]

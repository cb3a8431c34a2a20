"""Signal processing for rPPG: detrending, filtering, normalisation, spectra, rates, resampling.

Pure functions. Every function that depends on time takes the sampling rate ``fs`` in Hz
explicitly; frequencies are in Hz, heart rate in beats per minute (bpm), breathing rate in breaths
per minute. Signals are 1-D arrays of T samples unless a docstring says ``(T,)`` or ``(T, C)``
(then the operation runs along axis 0, independently per column).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.signal

from rppg_lib.constants import BR_BAND, DETREND_LAMBDA, HR_BAND
from rppg_lib.validation import (
    as_array,
    as_signal,
    check_band,
    check_fs,
    check_positive,
    check_positive_int,
    show,
)
from rppg_lib.windows import sliding_windows, stitch_windows, window_starts

__all__ = [
    "detrend",
    "butter_bandpass",
    "filtfilt_matlab",
    "bandpass",
    "zscore",
    "normalize_max_abs",
    "integrate",
    "power_spectrum",
    "peak_frequency",
    "heart_rate",
    "breathing_rate",
    "heart_rate_peaks",
    "heart_rate_series",
    "check_rate_input",
    "PeakQuality",
    "peak_quality",
    "heart_rate_quality_series",
    "resample_to_times",
    "resample_rate",
    "sliding_windows",
    "window_starts",
    "stitch_windows",
]


def _smoothness_priors_bands(n: int, lam: float) -> np.ndarray:
    """Upper banded storage (3, n) of I + lam² D₂ᵀD₂ for ``scipy.linalg.solveh_banded``.

    D₂ is the (n−2)×n second-difference matrix, each row [1, −2, 1]. Summing the row outer
    products gives the diagonals of D₂ᵀD₂ as convolutions of a row of ones with the products of
    coefficient pairs: main [1, 4, 1] (1+4+1 = 6 in the interior), first off-diagonal [−2, −2],
    second off-diagonal [1].
    """
    ones = np.ones(n - 2)
    lam2 = lam * lam
    ab = np.zeros((3, n))
    ab[2] = 1.0 + lam2 * np.convolve(ones, [1.0, 4.0, 1.0])
    ab[1, 1:] = lam2 * np.convolve(ones, [-2.0, -2.0])
    ab[0, 2:] = lam2
    return ab


def detrend(x: np.ndarray, lam: float = DETREND_LAMBDA) -> np.ndarray:
    """Smoothness-priors detrend (Tarvainen et al., 2002): ``x − (I + λ² D₂ᵀD₂)⁻¹ x``.

    x: (T,) or (T, C) signal (any unit, returned in the same unit), T >= 3; columns are detrended
    independently. lam: the regularisation λ (dimensionless; larger keeps less of the trend out:
    the trend is smoother). The Benefit-of-Distraction release used λ = 50, rPPG-Toolbox λ = 100.
    The matrix is symmetric positive-definite and pentadiagonal, so the trend is a banded
    Cholesky solve, O(T) time and memory, instead of the published dense T×T inverse.
    """
    arr = as_array(x, "x", ndim=(1, 2), min_length=3)
    lam = check_positive(lam, "lam")
    ab = _smoothness_priors_bands(arr.shape[0], lam)
    trend = scipy.linalg.solveh_banded(ab, arr, lower=False, check_finite=False)
    return arr - trend


def butter_bandpass(
    fs: float, low: float, high: float, order: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Butterworth band-pass coefficients ``(b, a)`` for [low, high] Hz at ``fs`` Hz.

    Same design as MATLAB/Octave ``butter(order, [low high]/(fs/2))``: a band-pass of ``order``
    has 2·order poles, so len(b) == len(a) == 2·order + 1.
    """
    fs = check_fs(fs)
    low, high = check_band(low, high, fs)
    order = check_positive_int(order, "order")
    nyquist = fs / 2.0
    b, a = scipy.signal.butter(order, [low / nyquist, high / nyquist], btype="bandpass")
    return b, a


def filtfilt_matlab(
    b: np.ndarray, a: np.ndarray, x: np.ndarray, *, padding: str = "matlab"
) -> np.ndarray:
    """Zero-phase filtering with MATLAB/Octave ``filtfilt`` end handling, along axis 0.

    MATLAB pads each end with 3·(n−1) samples (n = max(len(b), len(a))) of odd reflection
    (2·x[0] − x[k:0:−1]) and starts each pass from the steady-state filter state scaled by the
    first sample it sees. scipy's ``filtfilt`` does the same except that its default pad length is
    3·n, three samples longer, which changes the output near both ends; so the pad is set here.
    ``padding="scipy"`` keeps scipy's 3·n instead (what rPPG-Toolbox's Python code gets).
    """
    if padding not in ("matlab", "scipy"):
        raise ValueError(f"padding must be 'matlab' or 'scipy', got {padding!r}")
    n = max(len(a), len(b))
    padlen = 3 * (n - 1) if padding == "matlab" else 3 * n
    if x.shape[0] <= padlen:
        raise ValueError(
            f"x has {x.shape[0]} samples; zero-phase filtering with this filter (order "
            f"{(max(len(a), len(b)) - 1) // 2}) needs more than {padlen}"
        )
    return scipy.signal.filtfilt(b, a, x, axis=0, padtype="odd", padlen=padlen)


def bandpass(
    x: np.ndarray,
    fs: float,
    low: float,
    high: float,
    order: int = 1,
    *,
    padding: str = "matlab",
) -> np.ndarray:
    """Zero-phase Butterworth band-pass of ``x`` (T,) or (T, C) sampled at ``fs`` Hz.

    Pass band [low, high] Hz; ``order`` is the Butterworth order of the design (MATLAB's ``butter``
    argument); filtering forwards and backwards doubles the effective order and cancels the phase.
    Ends are handled as MATLAB/Octave ``filtfilt`` does (see ``filtfilt_matlab``), which the
    Benefit-of-Distraction parity depends on; ``padding="scipy"`` gives scipy's default ends.
    Output has the unit and shape of ``x``.
    """
    arr = as_array(x, "x", ndim=(1, 2), min_length=2)
    b, a = butter_bandpass(fs, low, high, order)
    return filtfilt_matlab(b, a, arr, padding=padding)


def zscore(x: np.ndarray, ddof: int = 1) -> np.ndarray:
    """``(x − mean) / std`` per column of a (T,) or (T, C) signal; dimensionless output.

    ``ddof=1`` (sample standard deviation) as MATLAB's ``zscore`` and ``std``. A constant column
    cannot be standardised and raises ValueError rather than returning NaN.
    """
    arr = as_array(x, "x", ndim=(1, 2), min_length=ddof + 1)
    std = arr.std(axis=0, ddof=ddof)
    if np.any(std == 0):
        raise ValueError("x is constant (standard deviation 0); it cannot be z-scored")
    return (arr - arr.mean(axis=0)) / std


def normalize_max_abs(x: np.ndarray) -> np.ndarray:
    """``x / max|x|`` per column of a (T,) or (T, C) signal: dimensionless, within [−1, 1].

    The LSTM denoiser's input and target normalisation. An all-zero column raises ValueError.
    """
    arr = as_array(x, "x", ndim=(1, 2), min_length=1)
    peak = np.abs(arr).max(axis=0)
    if np.any(peak == 0):
        raise ValueError("x is all zeros; it cannot be normalised by its maximum absolute value")
    return arr / peak


def integrate(derivative: np.ndarray, *, dtype: type = np.float64) -> np.ndarray:
    """Running sum (``cumsum``) along axis 0 of a per-sample difference signal (T,) or (T, C).

    The networks predict the pulse *derivative* d[t] ≈ y[t+1] − y[t] (standardised); its running
    sum recovers the pulse waveform up to an additive constant, in the derivative's units per
    sample. It is a sum over samples, not a time integral: it is not multiplied by 1/fs, as in
    the Benefit-of-Distraction release and rPPG-Toolbox (the scale drops out after z-scoring).
    ``dtype`` is the accumulation precision; the result is always float64. Pass ``np.float32`` to
    reproduce MATLAB/Octave's ``cumsum`` of a single-precision network output (the release's
    ``yptest``), which differs from the float64 sum by ~1e-6 after the usual chain.
    """
    arr = as_array(derivative, "derivative", ndim=(1, 2), min_length=1)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return np.cumsum(arr.astype(dtype), axis=0, dtype=dtype).astype(np.float64)


# --- spectra and rates -------------------------------------------------------------------------


def power_spectrum(
    x: np.ndarray, fs: float, nfft: int | None = None, window: str = "boxcar"
) -> tuple[np.ndarray, np.ndarray]:
    """One-sided periodogram of a 1-D signal: ``(freqs in Hz, power spectral density)``.

    ``scipy.signal.periodogram`` with density scaling (unit of x squared per Hz) and, like
    MATLAB's ``periodogram``, no mean removal. ``nfft`` >= len(x) zero-pads (finer frequency
    grid, spacing fs/nfft Hz); None uses len(x). A shorter nfft is refused rather than silently
    truncating the signal. ``window`` is any scipy window name ("boxcar" = rectangular).
    """
    arr = as_signal(x, "x")
    fs = check_fs(fs)
    if nfft is None:
        nfft = arr.size
    nfft = check_positive_int(nfft, "nfft")
    if nfft < arr.size:
        raise ValueError(f"nfft = {nfft} is shorter than the signal ({arr.size} samples)")
    freqs, power = scipy.signal.periodogram(
        arr, fs=fs, window=window, nfft=nfft, detrend=False, scaling="density"
    )
    return freqs, power


def _fine_nfft(n: int, fs: float, resolution_hz: float) -> int:
    """Smallest nfft >= n whose bins are at most ``resolution_hz`` apart."""
    return max(n, int(np.ceil(fs / resolution_hz)))


def peak_frequency(
    x: np.ndarray, fs: float, low: float, high: float, nfft: int | None = None
) -> float:
    """Frequency in Hz of the largest periodogram value within [low, high] Hz (edges included).

    The first maximum wins on ties, as MATLAB's ``max``. nfft: see ``power_spectrum``.
    """
    low, high = check_band(low, high, fs)
    freqs, power = power_spectrum(x, fs, nfft=nfft)
    in_band = (freqs >= low) & (freqs <= high)
    if not np.any(in_band):
        raise ValueError(
            f"no frequency bin falls in [{low:g}, {high:g}] Hz with nfft = {nfft} "
            f"(bin spacing {freqs[1] - freqs[0]:g} Hz): increase nfft"
        )
    return float(freqs[in_band][np.argmax(power[in_band])])


def check_rate_input(x: np.ndarray, fs: float, band: tuple[float, float],
                     name: str = "x") -> np.ndarray:
    """``x`` as a 1-D float64 signal fit for a rate estimate in ``band`` = (low, high) Hz.

    A rate needs at least one cycle of the slowest rate of the band (``1/low`` s: 1.43 s for a
    heart rate from 0.7 Hz, 12.5 s for breathing from 0.08 Hz; a shorter signal's spectrum has no
    bin there) and a signal that varies: a constant (no pulse at all) or a shorter input raises
    ValueError naming ``name`` instead of returning whatever bin the zero-padded spectrum happens
    to peak at.
    """
    arr = as_signal(x, name, min_length=3)
    fs = check_fs(fs)
    low = float(band[0])
    needed = max(3, int(np.ceil(fs / low - 1e-9)))
    if arr.size < needed:
        raise ValueError(
            f"{name} has {arr.size} samples ({arr.size / fs:.3g} s at {fs:g} Hz): a rate in a band "
            f"from {low:g} Hz needs at least one cycle, {1 / low:.3g} s ({needed} samples)"
        )
    if np.ptp(arr) == 0:
        raise ValueError(
            f"{name} is constant (all {arr.size} samples equal {arr[0]:g}): it holds no pulse, so "
            "there is no rate to estimate"
        )
    return arr


def heart_rate(
    x: np.ndarray,
    fs: float,
    low: float = HR_BAND[0],
    high: float = HR_BAND[1],
    nfft: int | None = None,
) -> float:
    """Heart rate in bpm: 60 × the periodogram peak of pulse ``x`` (sampled at ``fs`` Hz) in
    [low, high] Hz. nfft None zero-pads so that bins are at most 0.1 bpm apart.

    A constant ``x`` or one shorter than a cycle of ``low`` raises ValueError
    (:func:`check_rate_input`)."""
    fs = check_fs(fs)
    low, high = check_band(low, high, fs)
    arr = check_rate_input(x, fs, (low, high))
    if nfft is None:
        nfft = _fine_nfft(arr.size, fs, 0.1 / 60.0)
    return 60.0 * peak_frequency(arr, fs, low, high, nfft=nfft)


def breathing_rate(
    x: np.ndarray,
    fs: float,
    low: float = BR_BAND[0],
    high: float = BR_BAND[1],
    nfft: int | None = None,
) -> float:
    """Breathing rate in breaths/min: 60 × the periodogram peak of respiration ``x`` (sampled at
    ``fs`` Hz) in [low, high] Hz. nfft None zero-pads so that bins are at most 0.1 /min apart.

    A constant ``x`` or one shorter than a cycle of ``low`` raises ValueError
    (:func:`check_rate_input`)."""
    fs = check_fs(fs)
    low, high = check_band(low, high, fs)
    arr = check_rate_input(x, fs, (low, high))
    if nfft is None:
        nfft = _fine_nfft(arr.size, fs, 0.1 / 60.0)
    return 60.0 * peak_frequency(arr, fs, low, high, nfft=nfft)


@dataclass(frozen=True)
class PeakQuality:
    """The spectral peak of a pulse and how clearly it stands out.

    rate_bpm: 60 × the peak frequency in the band. snr_db: 10·log10(S / N), S the power within
    ±tolerance of the peak and of its first harmonic, N the rest of [low, 2·high] Hz (the de Haan
    and Jeanne SNR, taken around the estimated peak instead of a known heart rate).
    peak_share: the share (0–1) of the power in [low, high] that lies within ±tolerance of the
    peak.
    """

    rate_bpm: float
    snr_db: float
    peak_share: float


def peak_quality(
    x: np.ndarray,
    fs: float,
    low: float = HR_BAND[0],
    high: float = HR_BAND[1],
    *,
    tolerance_hz: float = 0.1,
    nfft: int | None = None,
) -> PeakQuality:
    """Heart rate of pulse ``x`` (sampled at ``fs`` Hz) with the SNR and share of its peak.

    The rate is :func:`heart_rate`'s (same nfft rule); see :class:`PeakQuality` for the SNR and
    the share. Both come from the same zero-padded periodogram. A signal whose power is all
    inside the peak gets +inf dB.
    """
    fs = check_fs(fs)
    low, high = check_band(low, high, fs)
    tolerance_hz = check_positive(tolerance_hz, "tolerance_hz")
    arr = check_rate_input(x, fs, (low, high))
    if nfft is None:
        nfft = _fine_nfft(arr.size, fs, 0.1 / 60.0)
    freqs, power = power_spectrum(arr, fs, nfft=nfft)
    in_band = (freqs >= low) & (freqs <= high)
    if not np.any(in_band):
        raise ValueError(f"no frequency bin falls in [{low:g}, {high:g}] Hz with nfft = {nfft}")
    f0 = float(freqs[in_band][np.argmax(power[in_band])])
    near_peak = np.abs(freqs - f0) <= tolerance_hz
    harmonics = near_peak | (np.abs(freqs - 2.0 * f0) <= tolerance_hz)
    noise_band = (freqs >= low) & (freqs <= min(2.0 * high, fs / 2.0))
    signal_power = float(power[harmonics].sum())
    noise_power = float(power[noise_band & ~harmonics].sum())
    band_power = float(power[in_band].sum())
    with np.errstate(divide="ignore"):
        snr_db = np.inf if noise_power == 0 else float(10.0 * np.log10(signal_power / noise_power))
    share = float(power[in_band & near_peak].sum() / band_power) if band_power > 0 else 0.0
    return PeakQuality(rate_bpm=60.0 * f0, snr_db=float(snr_db), peak_share=share)


def heart_rate_peaks(
    x: np.ndarray,
    fs: float,
    low: float = HR_BAND[0],
    high: float = HR_BAND[1],
    *,
    prefilter: bool = True,
    min_prominence: float = 0.5,
) -> float:
    """Heart rate in bpm from beat detection: 60 / the median inter-beat interval in seconds.

    With ``prefilter`` the pulse is first band-passed to [low, high] Hz (zero-phase, order 2) so
    that noise and the dicrotic notch do not create extra peaks. Peaks (``scipy.signal.find_peaks``)
    must be at least fs/high samples apart (no faster than ``high`` Hz) and stand out by
    ``min_prominence`` standard deviations of the (filtered) signal. The median makes one missed or
    extra beat harmless. Raises ValueError when fewer than two beats are found, and for a
    constant or too-short ``x`` (:func:`check_rate_input`): the filter's rounding noise on a
    constant would otherwise pass for beats.
    """
    fs = check_fs(fs)
    low, high = check_band(low, high, fs)
    arr = check_rate_input(x, fs, (low, high))
    if min_prominence < 0:
        raise ValueError(f"min_prominence must be >= 0, got {show(min_prominence)}")
    if prefilter:
        arr = bandpass(arr, fs, low, high, order=2)
    distance = max(1, int(np.floor(fs / high)))
    peaks, _ = scipy.signal.find_peaks(
        arr, distance=distance, prominence=min_prominence * arr.std()
    )
    if peaks.size < 2:
        raise ValueError(
            f"found {peaks.size} beat(s) in {arr.size / fs:g} s of x; need at least 2 "
            "for an inter-beat interval"
        )
    return 60.0 / float(np.median(np.diff(peaks)) / fs)


def heart_rate_series(
    x: np.ndarray,
    fs: float,
    window_s: float,
    step_s: float,
    *,
    low: float = HR_BAND[0],
    high: float = HR_BAND[1],
    nfft: int | None = None,
    method: str = "spectral",
) -> tuple[np.ndarray, np.ndarray]:
    """Sliding-window heart rate: ``(window centre times in s, HR in bpm)``, both (W,).

    Windows of ``window_s`` seconds start every ``step_s`` seconds from t = 0. When the signal's
    end is not reached by a full window, one last window is aligned with the end of the signal, so
    every sample is in some window (its centre time tells it apart). ``method`` is "spectral"
    (``heart_rate``) or "peaks" (``heart_rate_peaks``).
    """
    arr = as_signal(x, "x")
    fs = check_fs(fs)
    window_s = check_positive(window_s, "window_s")
    step_s = check_positive(step_s, "step_s")
    if method not in ("spectral", "peaks"):
        raise ValueError(f"method must be 'spectral' or 'peaks', got {method!r}")
    length = int(round(window_s * fs))
    hop = max(1, int(round(step_s * fs)))
    starts = window_starts(arr.size, length, hop, tail="shift", name="window_s")
    rates = np.empty(starts.size)
    for i, start in enumerate(starts):
        seg = arr[start : start + length]
        if method == "spectral":
            rates[i] = heart_rate(seg, fs, low, high, nfft=nfft)
        else:
            rates[i] = heart_rate_peaks(seg, fs, low, high)
    centres = (starts + length / 2.0) / fs
    return centres, rates


def heart_rate_quality_series(
    x: np.ndarray,
    fs: float,
    window_s: float,
    step_s: float,
    *,
    low: float = HR_BAND[0],
    high: float = HR_BAND[1],
    tolerance_hz: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sliding-window heart rate with the quality of each window's peak (:func:`peak_quality`).

    Windows as :func:`heart_rate_series` (``window_s`` s every ``step_s`` s from t = 0, a last one
    aligned with the end). Returns ``(centre times s, HR bpm, SNR dB, peak share)``, each (W,);
    the rates equal ``heart_rate_series``'s spectral ones.
    """
    arr = as_signal(x, "x")
    fs = check_fs(fs)
    window_s = check_positive(window_s, "window_s")
    step_s = check_positive(step_s, "step_s")
    length = int(round(window_s * fs))
    hop = max(1, int(round(step_s * fs)))
    starts = window_starts(arr.size, length, hop, tail="shift", name="window_s")
    quality = [
        peak_quality(arr[start : start + length], fs, low, high, tolerance_hz=tolerance_hz)
        for start in starts
    ]
    centres = (starts + length / 2.0) / fs
    return (
        centres,
        np.array([q.rate_bpm for q in quality]),
        np.array([q.snr_db for q in quality]),
        np.array([q.peak_share for q in quality]),
    )


# --- resampling --------------------------------------------------------------------------------


def resample_to_times(
    x: np.ndarray, t_src: np.ndarray, t_new: np.ndarray, *, tolerance_s: float | None = None
) -> np.ndarray:
    """Linear interpolation of ``x`` (T,) or (T, C), sampled at times ``t_src`` (T,) in seconds,
    onto ``t_new`` (M,) seconds. Returns (M,) or (M, C).

    ``t_src`` must increase strictly. Times of ``t_new`` may lie outside [t_src[0], t_src[-1]] by
    at most ``tolerance_s`` (default: half the median source interval; they then take the end
    value); farther out is an error, never a silent extrapolation.
    """
    arr = as_array(x, "x", ndim=(1, 2), min_length=2)
    ts = as_signal(t_src, "t_src")
    tn = as_array(t_new, "t_new", ndim=1, min_length=1)
    if ts.size != arr.shape[0]:
        raise ValueError(f"t_src has {ts.size} times but x has {arr.shape[0]} samples")
    steps = np.diff(ts)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise ValueError(
            f"t_src must increase strictly; t_src[{i + 1}] = {ts[i + 1]:g} follows "
            f"t_src[{i}] = {ts[i]:g}"
        )
    tol = 0.5 * float(np.median(steps)) if tolerance_s is None else float(tolerance_s)
    if not tol >= 0:
        raise ValueError(f"tolerance_s must be >= 0, got {show(tolerance_s)}")
    if tn.min() < ts[0] - tol or tn.max() > ts[-1] + tol:
        raise ValueError(
            f"t_new spans [{tn.min():g}, {tn.max():g}] s, outside t_src [{ts[0]:g}, {ts[-1]:g}] s "
            f"by more than tolerance_s = {tol:g} s; extrapolation is not done"
        )
    if arr.ndim == 1:
        return np.interp(tn, ts, arr)
    return np.stack([np.interp(tn, ts, arr[:, c]) for c in range(arr.shape[1])], axis=1)


def resample_rate(
    x: np.ndarray, fs: float, fs_new: float, *, method: str = "linear"
) -> np.ndarray:
    """Resample ``x`` (T,) or (T, C) from ``fs`` Hz to ``fs_new`` Hz; first sample at t = 0.

    "linear": linear interpolation at t = k / fs_new for every k with t <= (T−1)/fs (exact on
    linear signals; no anti-aliasing, so prefer "polyphase" to downsample broadband signals).
    "polyphase": ``scipy.signal.resample_poly`` with the rate ratio as a fraction (denominator
    <= 1000) and its anti-aliasing filter; ceil(T·up/down) samples, like MATLAB's ``resample``.
    """
    arr = as_array(x, "x", ndim=(1, 2), min_length=2)
    fs = check_fs(fs)
    fs_new = check_fs(fs_new, "fs_new")
    if method == "linear":
        duration = (arr.shape[0] - 1) / fs
        n_new = int(np.floor(duration * fs_new + 1e-9)) + 1
        return resample_to_times(arr, np.arange(arr.shape[0]) / fs, np.arange(n_new) / fs_new)
    if method == "polyphase":
        from fractions import Fraction

        ratio = Fraction(fs_new / fs).limit_denominator(1000)
        return scipy.signal.resample_poly(arr, ratio.numerator, ratio.denominator, axis=0)
    raise ValueError(f"method must be 'linear' or 'polyphase', got {method!r}")

"""Agreement metrics between estimated and reference heart rates, and signal quality.

Heart rates are in bpm; errors therefore in bpm (MAPE in %). Each error metric returns a frozen
``Metric`` with its ``value`` and ``std_error`` (the conventions of rPPG-Toolbox, stated per
function), so tables can print "value ± SE". The per-window and per-video protocols that produce
the heart rates live in ``rppg_lib.evaluation_protocols``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats

from rppg_lib.constants import SNR_BAND
from rppg_lib.signals import power_spectrum
from rppg_lib.validation import (
    as_signal,
    check_choice,
    check_fs,
    check_positive,
    check_same_length,
    show,
)

__all__ = [
    "Metric",
    "Correlation",
    "BlandAltman",
    "mae",
    "rmse",
    "mape",
    "pearson",
    "snr",
    "wmae",
    "bland_altman",
    "standard_error",
]


@dataclass(frozen=True)
class Metric:
    """A metric over ``n`` pairs: ``value`` and its standard error (same unit)."""

    value: float
    std_error: float
    n: int


@dataclass(frozen=True)
class Correlation:
    """Pearson correlation ``value`` (r), its standard error sqrt((1 − r²)/(n − 2)), two-sided
    p-value of r = 0, and the number of pairs ``n``."""

    value: float
    std_error: float
    p_value: float
    n: int


@dataclass(frozen=True)
class BlandAltman:
    """Bland–Altman agreement of estimate − reference: ``bias`` (mean difference), ``sd`` (its
    sample standard deviation) and the 95 % limits of agreement bias ± 1.96·sd, in the data's
    unit, over ``n`` pairs."""

    bias: float
    sd: float
    lower: float
    upper: float
    n: int


def standard_error(values: np.ndarray) -> float:
    """std(values) / sqrt(n) with ddof = 0 (rPPG-Toolbox); NaN for a single value."""
    return float(values.std() / math.sqrt(values.size)) if values.size > 1 else math.nan


def _pair(estimate: np.ndarray, reference: np.ndarray, min_length: int = 1):
    est = as_signal(estimate, "estimate", min_length=min_length)
    ref = as_signal(reference, "reference", min_length=min_length)
    check_same_length(est, ref, "estimate", "reference")
    return est, ref


def mae(estimate: np.ndarray, reference: np.ndarray) -> Metric:
    """Mean absolute error mean|e|, e = estimate − reference; SE = std(|e|) / sqrt(n) with the
    population std (ddof = 0), as rPPG-Toolbox (NaN for n = 1, as for every SE here)."""
    est, ref = _pair(estimate, reference)
    abs_err = np.abs(est - ref)
    return Metric(float(abs_err.mean()), standard_error(abs_err), est.size)


def rmse(estimate: np.ndarray, reference: np.ndarray, *, se: str = "delta") -> Metric:
    """Root mean squared error sqrt(mean e²), e = estimate − reference.

    The SE of the mean squared error is s = std(e²) / sqrt(n) (ddof = 0). ``se="delta"``
    (default) carries it through the square root by the delta method: SE = s / (2·RMSE).
    ``se="toolbox"`` gives sqrt(s), the figure rPPG-Toolbox prints (not a standard error in the
    unit of RMSE, kept to compare with its tables). An RMSE of 0 has SE 0.
    """
    check_choice(se, "se", ("delta", "toolbox"))
    est, ref = _pair(estimate, reference)
    sq = (est - ref) ** 2
    value = math.sqrt(float(sq.mean()))
    s = standard_error(sq)
    if se == "toolbox" or math.isnan(s):
        std_error = math.sqrt(s)
    else:
        std_error = s / (2.0 * value) if value > 0 else 0.0
    return Metric(value, std_error, est.size)


def mape(estimate: np.ndarray, reference: np.ndarray) -> Metric:
    """Mean absolute percentage error 100·mean|e / reference| in %; SE = 100·std(|e/ref|)/sqrt(n)
    (ddof = 0). A zero reference value is an error."""
    est, ref = _pair(estimate, reference)
    if np.any(ref == 0):
        i = int(np.argmax(ref == 0))
        raise ValueError(f"reference[{i}] = 0: the percentage error is undefined")
    rel = np.abs((est - ref) / ref)
    return Metric(float(100.0 * rel.mean()), 100.0 * standard_error(rel), est.size)


def pearson(estimate: np.ndarray, reference: np.ndarray) -> Correlation:
    """Pearson r of estimate vs reference (the (1, 2) element of ``corrcoef``, not the (1, 1)
    element the Benefit-of-Distraction release printed), SE sqrt((1 − r²)/(n − 2)) and the
    two-sided p-value (``scipy.stats.pearsonr``). Needs n >= 3 and neither input constant."""
    est, ref = _pair(estimate, reference, min_length=3)
    for name, arr in (("estimate", est), ("reference", ref)):
        if np.all(arr == arr[0]):
            raise ValueError(f"{name} is constant ({show(arr[0])}); the correlation is undefined")
    result = scipy.stats.pearsonr(est, ref)
    r = float(result.statistic)
    se = math.sqrt(max(0.0, 1.0 - r * r) / (est.size - 2))
    return Correlation(r, se, float(result.pvalue), est.size)


def snr(
    x: np.ndarray,
    fs: float,
    hr_bpm: float,
    *,
    low: float = SNR_BAND[0],
    high: float = SNR_BAND[1],
    tolerance_hz: float = 0.1,
    nfft: int | None = None,
    db: str = "power",
) -> float:
    """Signal-to-noise ratio in dB of a pulse ``x`` sampled at ``fs`` Hz, given the true HR.

    From the rectangular-window periodogram (``power_spectrum`` with ``nfft``): S = power in the
    bins within ±``tolerance_hz`` of f = hr_bpm/60 and of 2f; N = power of the other bins in
    [low, high] Hz; SNR = 10·log10(S / N) (``db="power"``, the de Haan & Jeanne definition).
    ``db="amplitude"`` gives 20·log10(S / N), what the Benefit-of-Distraction release printed
    (MATLAB ``mag2db`` on a power ratio: every figure doubled). When both harmonic intervals lie
    inside [low, high], N = A − S with A the band power, the release's formula. S = 0 gives −inf,
    N = 0 gives +inf. A heart rate whose frequency is at or above the Nyquist frequency fs/2 (not
    in the spectrum at all), or a band reaching beyond it, raises ValueError naming the parameter.
    """
    fs = check_fs(fs)
    hr_bpm = check_positive(hr_bpm, "hr_bpm")
    tolerance_hz = check_positive(tolerance_hz, "tolerance_hz")
    check_choice(db, "db", ("power", "amplitude"))
    nyquist = fs / 2.0
    if not 0 <= low < high <= nyquist:
        raise ValueError(
            f"SNR band (low, high) = ({show(low)}, {show(high)}) Hz must satisfy 0 <= low < high "
            f"<= Nyquist = {nyquist:g} Hz (fs = {fs:g} Hz)"
        )
    if hr_bpm / 60.0 >= nyquist:
        raise ValueError(
            f"hr_bpm = {show(hr_bpm)} bpm ({hr_bpm / 60.0:g} Hz) is at or above the Nyquist "
            f"frequency {nyquist:g} Hz of fs = {fs:g} Hz: the pulse cannot be in this spectrum"
        )
    arr = as_signal(x, "x")
    if np.ptp(arr) == 0:
        # its periodogram is the leakage of the constant into the band: a number, not an SNR
        raise ValueError(f"x is constant (all {arr.size} samples equal {arr[0]:g}): it holds no "
                         "pulse, so it has no SNR")
    freqs, power = power_spectrum(arr, fs, nfft=nfft)
    f0 = hr_bpm / 60.0
    harmonic = (np.abs(freqs - f0) <= tolerance_hz) | (np.abs(freqs - 2.0 * f0) <= tolerance_hz)
    in_band = (freqs >= low) & (freqs <= high)
    signal_power = float(power[harmonic].sum())
    noise_power = float(power[in_band & ~harmonic].sum())
    factor = 10.0 if db == "power" else 20.0
    with np.errstate(divide="ignore"):
        if noise_power == 0:
            return math.inf
        return float(factor * np.log10(signal_power / noise_power))


def wmae(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Waveform mean absolute error mean|ŝ − w| of two equally long, equally normalised signals
    (the Benefit-of-Distraction WMAE; in the signals' unit, dimensionless for max-|·| scaled)."""
    est, ref = _pair(estimate, reference)
    return float(np.mean(np.abs(est - ref)))


def bland_altman(estimate: np.ndarray, reference: np.ndarray) -> BlandAltman:
    """Bland–Altman statistics of estimate − reference (n >= 2): bias, sd (ddof = 1) and the
    95 % limits of agreement bias ± 1.96·sd."""
    est, ref = _pair(estimate, reference, min_length=2)
    diff = est - ref
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1))
    return BlandAltman(bias, sd, bias - 1.96 * sd, bias + 1.96 * sd, est.size)


"""Evaluation protocols: per-window (Benefit-of-Distraction ``print_result.m``), per-video
(rPPG-Toolbox), and the summary table over windows or videos.

Heart rates in bpm, times in seconds, SNR in dB (the convention is recorded in every result:
``snr_db="power"`` is 10·log10 of the power ratio, ``"amplitude"`` the release's 20·log10).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rppg_lib import metrics
from rppg_lib.constants import DETREND_LAMBDA_TOOLBOX, HR_BAND, RELEASE_WINDOW_S, SNR_BAND
from rppg_lib.signals import (
    bandpass,
    detrend,
    heart_rate_peaks,
    integrate,
    normalize_max_abs,
    peak_frequency,
)
from rppg_lib.validation import (
    as_signal,
    check_band,
    check_choice,
    check_fs,
    check_positive,
    check_same_length,
)

__all__ = [
    "prepare_waveform", "evaluate_windows", "evaluate_video", "summarize", "summarize_by_scenario",
]

WINDOW_COLUMNS = (
    "window", "start_s", "end_s", "hr_estimate", "hr_reference", "abs_error", "snr_db", "wmae",
)


def prepare_waveform(
    x: np.ndarray, fs: float, band: tuple[float, float] = HR_BAND, order: int = 3
) -> np.ndarray:
    """``print_result.m`` post-processing of a whole pulse signal sampled at ``fs`` Hz:
    zero-phase Butterworth band-pass (MATLAB ``filtfilt`` ends), subtract the mean, divide by
    max|·|. Dimensionless, in [−1, 1]."""
    y = bandpass(x, fs, band[0], band[1], order=order)
    return normalize_max_abs(y - y.mean())


@dataclass(frozen=True)
class _WindowReference:
    """The ground truth of :func:`evaluate_windows`: the prepared reference waveform (T,) at the
    estimate's rate, and/or an HR series (bpm) with its rate (Hz) and samples per window."""

    waveform: np.ndarray | None
    hr_series: np.ndarray | None
    hr_samples_per_window: int | None
    hr_fs: float | None = None


def _window_row(
    k: int,
    proc: np.ndarray,
    fs: float,
    length: int,
    band: tuple[float, float],
    reference: _WindowReference,
    snr_options: Mapping[str, float | int | str],
) -> dict[str, float]:
    """One row of :func:`evaluate_windows`: window ``k`` of ``length`` samples."""
    low, high = band
    nfft = int(snr_options["nfft"])
    window = slice(k * length, (k + 1) * length)
    seg = proc[window]
    hr_est = 60.0 * peak_frequency(seg, fs, low, high, nfft=nfft)
    ref_seg = None if reference.waveform is None else reference.waveform[window]
    if reference.hr_series is not None:
        n = reference.hr_samples_per_window
        hr_ref = float(np.median(reference.hr_series[k * n : (k + 1) * n]))
    elif ref_seg is not None:
        hr_ref = 60.0 * peak_frequency(ref_seg, fs, low, high, nfft=nfft)
    else:
        hr_ref = math.nan
    snr_value = math.nan if math.isnan(hr_ref) else metrics.snr(seg, fs, hr_ref, **snr_options)
    return {
        "window": k,
        "start_s": k * length / fs,
        "end_s": (k + 1) * length / fs,
        "hr_estimate": hr_est,
        "hr_reference": hr_ref,
        "abs_error": abs(hr_est - hr_ref),
        "snr_db": snr_value,
        "wmae": math.nan if ref_seg is None else metrics.wmae(seg, ref_seg),
    }


def evaluate_windows(
    estimate: np.ndarray,
    fs: float,
    *,
    reference_waveform: np.ndarray | None = None,
    reference_hr_series: np.ndarray | None = None,
    reference_hr_fs: float | None = None,
    window_s: float = RELEASE_WINDOW_S,
    band: tuple[float, float] = HR_BAND,
    filter_order: int = 3,
    snr_db: str = "power",
    snr_band: tuple[float, float] = SNR_BAND,
    snr_tolerance_hz: float = 0.1,
    nfft: int | None = None,
) -> pd.DataFrame:
    """Per-window HR evaluation, the Benefit-of-Distraction ``print_result.m`` protocol.

    estimate: pulse estimate (T,) at ``fs`` Hz. reference_waveform: ground-truth pulse (T,) at
    ``fs`` Hz (same length), optional. reference_hr_series: ground-truth HR in bpm sampled at
    ``reference_hr_fs`` Hz (e.g. a per-beat HR series held at 1 kHz), optional.

    Both waveforms are processed whole by ``prepare_waveform`` (band-pass of ``filter_order`` in
    ``band`` Hz, mean removed, max|·| = 1), then cut into non-overlapping windows of ``window_s``
    seconds from t = 0; a window is evaluated only if it lies wholly inside the estimate and
    inside the HR series, so a trailing part shorter than a window is not evaluated (its length
    in seconds is in ``df.attrs["unevaluated_s"]``). Per window: the periodogram (rectangular
    window, nfft = 4·window length unless given) gives hr_estimate = 60 × the peak frequency in
    ``band``; hr_reference = median of the HR series over the window, else the same spectral
    estimate on the reference waveform, else NaN (no ground truth); snr_db from
    ``metrics.snr`` around hr_reference over ``snr_band``; wmae = mean|estimate − reference| on
    the normalised waveforms (NaN without a reference waveform).

    Returns a DataFrame with columns window, start_s, end_s, hr_estimate, hr_reference,
    abs_error, snr_db, wmae; ``attrs`` records the SNR convention and the protocol settings.
    """
    fs = check_fs(fs)
    est = as_signal(estimate, "estimate")
    window_s = check_positive(window_s, "window_s")
    low, high = check_band(band[0], band[1], fs, name="band")
    check_choice(snr_db, "snr_db", ("power", "amplitude"))
    length = int(round(window_s * fs))
    waveform = _prepared_reference(reference_waveform, est, fs, (low, high), filter_order)
    reference = _reference_hr(waveform, reference_hr_series, reference_hr_fs, window_s)
    n_windows = _window_count(est.size, fs, length, window_s, reference)
    nfft = 4 * length if nfft is None else nfft
    proc = prepare_waveform(est, fs, (low, high), filter_order)
    snr_options = {"low": snr_band[0], "high": snr_band[1], "tolerance_hz": snr_tolerance_hz,
                   "nfft": nfft, "db": snr_db}
    rows = [
        _window_row(k, proc, fs, length, (low, high), reference, snr_options)
        for k in range(n_windows)
    ]
    df = pd.DataFrame(rows, columns=list(WINDOW_COLUMNS))
    df.attrs.update({
        "protocol": "print_result",
        "snr_convention": "10*log10" if snr_db == "power" else "20*log10 (release mag2db)",
        "fs": fs, "window_s": window_s, "band": (low, high), "filter_order": filter_order,
        "nfft": nfft, "unevaluated_s": (est.size - n_windows * length) / fs,
    })
    return df


def _prepared_reference(
    reference_waveform: np.ndarray | None,
    est: np.ndarray,
    fs: float,
    band: tuple[float, float],
    filter_order: int,
) -> np.ndarray | None:
    """The reference waveform (T,) checked against the estimate and prepared like it."""
    if reference_waveform is None:
        return None
    ref_wave = as_signal(reference_waveform, "reference_waveform")
    check_same_length(est, ref_wave, "estimate", "reference_waveform")
    return prepare_waveform(ref_wave, fs, band, filter_order)


def _reference_hr(
    waveform: np.ndarray | None,
    reference_hr_series: np.ndarray | None,
    reference_hr_fs: float | None,
    window_s: float,
) -> _WindowReference:
    """The ground truth: the prepared waveform and the checked HR series (bpm) at its rate."""
    if reference_hr_series is None:
        return _WindowReference(waveform, None, None)
    if reference_hr_fs is None:
        raise ValueError("reference_hr_fs (Hz) is required with reference_hr_series")
    ref_fs = check_fs(reference_hr_fs, "reference_hr_fs")
    hr_series = as_signal(reference_hr_series, "reference_hr_series", min_length=1)
    return _WindowReference(waveform, hr_series, int(round(window_s * ref_fs)), ref_fs)


def _window_count(
    n_samples: int, fs: float, length: int, window_s: float, reference: _WindowReference
) -> int:
    """Whole windows of ``length`` samples inside the estimate and the HR series; ValueError
    when there is none."""
    n_windows = n_samples // length
    hr_series = reference.hr_series
    if hr_series is not None:
        n_windows = min(n_windows, hr_series.size // reference.hr_samples_per_window)
    if n_windows == 0:
        raise ValueError(
            f"window_s = {window_s:g} s is longer than the signals: estimate {n_samples / fs:g} s"
            + (
                ""
                if hr_series is None
                else f", reference_hr_series {hr_series.size / reference.hr_fs:g} s"
            )
        )
    return n_windows



@dataclass(frozen=True)
class _ToolboxProtocol:
    """The signal processing of :func:`evaluate_video`: detrend (λ), band-pass in low..high Hz,
    and the rate (bpm) by periodogram peak (nfft points) or by peak counting."""

    fs: float
    low: float
    high: float
    detrend_lam: float
    filter_order: int
    hr_method: str
    nfft: int

    def processed(self, x: np.ndarray, is_derivative: bool) -> np.ndarray:
        """(T,) signal integrated first when ``is_derivative``, detrended and band-passed."""
        if is_derivative:
            x = integrate(x)
        return bandpass(
            detrend(x, self.detrend_lam), self.fs, self.low, self.high, order=self.filter_order
        )

    def rate(self, x: np.ndarray) -> float:
        if self.hr_method == "fft":
            return 60.0 * peak_frequency(x, self.fs, self.low, self.high, nfft=self.nfft)
        return heart_rate_peaks(x, self.fs, self.low, self.high)

def evaluate_video(
    estimate: np.ndarray,
    fs: float,
    *,
    reference_waveform: np.ndarray | None = None,
    reference_hr: float | None = None,
    estimate_is_derivative: bool = True,
    reference_is_derivative: bool = False,
    detrend_lam: float = DETREND_LAMBDA_TOOLBOX,
    band: tuple[float, float] = (0.75, 2.5),
    filter_order: int = 1,
    hr_method: str = "fft",
    snr_db: str = "power",
) -> dict:
    """Whole-video HR evaluation, the rPPG-Toolbox protocol.

    estimate (T,) at ``fs`` Hz: the network output; with ``estimate_is_derivative`` it is first
    integrated (cumsum). Then detrend (λ = ``detrend_lam``), zero-phase Butterworth band-pass of
    ``filter_order`` in ``band`` Hz. The reference waveform (same length, optional) gets the same
    (integrated only with ``reference_is_derivative``). hr_method "fft": 60 × the periodogram
    peak in ``band`` with nfft the next power of two >= T; "peaks": ``heart_rate_peaks``.
    The reference HR is ``reference_hr`` (bpm) if given, else the same estimate on the reference
    waveform, else NaN. SNR (``metrics.snr`` over ``band``, same nfft) needs a reference HR.

    Returns a dict: hr_estimate, hr_reference, abs_error, snr_db, duration_s (one row of a
    table for ``summarize``).
    """
    fs = check_fs(fs)
    est = as_signal(estimate, "estimate")
    low, high = check_band(band[0], band[1], fs, name="band")
    check_choice(hr_method, "hr_method", ("fft", "peaks"))
    nfft = 1 << (est.size - 1).bit_length()
    protocol = _ToolboxProtocol(fs, low, high, detrend_lam, filter_order, hr_method, nfft)
    proc = protocol.processed(est, estimate_is_derivative)
    hr_est = protocol.rate(proc)
    if reference_hr is not None:
        hr_ref = check_positive(reference_hr, "reference_hr")
    elif reference_waveform is not None:
        ref = as_signal(reference_waveform, "reference_waveform")
        check_same_length(est, ref, "estimate", "reference_waveform")
        hr_ref = protocol.rate(protocol.processed(ref, reference_is_derivative))
    else:
        hr_ref = math.nan
    snr_value = math.nan
    if not math.isnan(hr_ref):
        snr_value = metrics.snr(proc, fs, hr_ref, low=low, high=high, nfft=nfft, db=snr_db)
    return {
        "hr_estimate": hr_est,
        "hr_reference": hr_ref,
        "abs_error": abs(hr_est - hr_ref),
        "snr_db": snr_value,
        "duration_s": est.size / fs,
    }


def _as_table(rows) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows.copy()
    if isinstance(rows, Mapping):
        return pd.DataFrame([rows])
    if isinstance(rows, Iterable):
        parts = [r if isinstance(r, pd.DataFrame) else pd.DataFrame([r]) for r in rows]
        if not parts:
            raise ValueError("rows is empty: nothing to summarise")
        return pd.concat(parts, ignore_index=True)
    raise ValueError(f"rows must be a DataFrame or an iterable of dicts, got {type(rows).__name__}")


def summarize(rows, *, method_column: str = "method") -> pd.DataFrame:
    """Summary table, one row per method: MAE, RMSE, MAPE, Pearson r, SNR, WMAE ± SE.

    rows: a DataFrame (e.g. ``evaluate_windows`` output with a ``method`` column added), a list
    of them, or a list of ``evaluate_video`` dicts. Needs columns hr_estimate and hr_reference;
    snr_db and wmae are summarised where present. Without ``method_column`` all rows are one
    method named "all". Rows without a reference HR are not used for the error metrics: column
    n counts the rows used, n_rows all rows. Pearson r needs n >= 3 (NaN otherwise); SE of
    MAE, MAPE, SNR, WMAE: std/sqrt(n) (ddof = 0; NaN for n = 1); RMSE: delta method
    (``metrics.rmse``).
    """
    table = _as_table(rows)
    for col in ("hr_estimate", "hr_reference"):
        if col not in table.columns:
            raise ValueError(f"rows lack the column {col!r} (have {list(table.columns)})")
    if method_column not in table.columns:
        table[method_column] = "all"
    out = []
    for method, group in table.groupby(method_column, sort=False):
        ok = group[np.isfinite(group["hr_estimate"]) & np.isfinite(group["hr_reference"])]
        est, ref = ok["hr_estimate"].to_numpy(float), ok["hr_reference"].to_numpy(float)
        row = {method_column: method, "n": len(ok), "n_rows": len(group)}
        for name, fn in (("mae", metrics.mae), ("rmse", metrics.rmse), ("mape", metrics.mape)):
            m = fn(est, ref) if len(ok) else None
            row[name] = m.value if m else math.nan
            row[f"{name}_se"] = m.std_error if m else math.nan
        try:
            corr = metrics.pearson(est, ref)
            row.update(pearson_r=corr.value, pearson_se=corr.std_error, pearson_p=corr.p_value)
        except ValueError:  # fewer than 3 pairs or a constant column: r undefined
            row.update(pearson_r=math.nan, pearson_se=math.nan, pearson_p=math.nan)
        for col in ("snr_db", "wmae"):
            vals = group[col].to_numpy(float) if col in group else np.array([])
            vals = vals[np.isfinite(vals)]
            row[col] = float(vals.mean()) if vals.size else math.nan
            row[f"{col}_se"] = metrics.standard_error(vals) if vals.size else math.nan
        out.append(row)
    return pd.DataFrame(out)


def summarize_by_scenario(rows: pd.DataFrame, *, include_all: bool = True) -> pd.DataFrame:
    """``evaluation.summarize`` of window rows per scenario and method (MAE, RMSE, MAPE, Pearson
    r, SNR, WMAE, each with its standard error), methods in their order of appearance; with
    ``include_all`` also over all scenarios together (scenario "all")."""
    if not isinstance(rows, pd.DataFrame) or rows.empty:
        raise ValueError("rows must be a non-empty DataFrame of evaluate_methods windows")
    for col in ("scenario", "method"):
        if col not in rows.columns:
            raise ValueError(f"rows lack the column {col!r}")
    order = list(dict.fromkeys(rows["method"]))
    groups = [(s, g) for s, g in rows.groupby("scenario", sort=False)]
    if include_all and len(groups) > 1:
        groups.append(("all", rows))
    tables = []
    for scenario, group in groups:
        table = summarize(group)
        table["method"] = pd.Categorical(table["method"], categories=order, ordered=True)
        table = table.sort_values("method").astype({"method": str})
        table.insert(0, "scenario", scenario)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)



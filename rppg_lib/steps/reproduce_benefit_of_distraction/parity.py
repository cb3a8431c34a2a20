"""Parity with the release: its inverse-attention arithmetic, its HR LSTM, its ``print_result.m``.

Everything takes arrays (a :class:`.sample.BodSample` where the release's
own files are compared), so that it also runs on synthetic inputs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from rppg_lib.constants import DETREND_LAMBDA, HR_BAND, RELEASE_WINDOW_S
from rppg_lib.denoiser import denoise_windows
from rppg_lib.evaluation_protocols import evaluate_windows, summarize
from rppg_lib.inverse_attention import (
    CHANNELS,
    RELEASE_THRESHOLD,
    condition_signal,
    inverse_masks,
    masked_channel_means,
)
from rppg_lib.signals import integrate
from rppg_lib.steps.reproduce_benefit_of_distraction.sample import (
    GT_HR_FS,
    HOP,
    RELEASE_FS,
    VIDEO_FPS,
    BodSample,
    trailing_empty_frames,
)
from rppg_lib.validation import as_array, as_signal, check_choice, check_positive_int
from rppg_lib.weights import load_keras_lstm
from rppg_lib.windows import stitch_windows

__all__ = [
    "PRINT_RESULT_REFERENCE",
    "GT_HR_REFERENCE",
    "release_masked_means",
    "InverseAttentionParity",
    "inverse_attention_parity",
    "recorded_estimates",
    "single_thread",
    "rerun_hr_lstm",
    "stitch_for_protocol",
    "waveform_correlations",
    "ProtocolInputs",
    "protocol_windows",
    "protocol_table",
    "parity_check",
]

# print_result.m run unchanged in GNU Octave on the sample (notebook 07): the numbers to match.
# signal -> HR (bpm), MAE (bpm), SNR (dB, 20·log10 as released), WMAE.
PRINT_RESULT_REFERENCE: dict[str, dict[str, float]] = {
    "lstm": {"hr_estimate": 91.5, "mae": 2.69, "snr_db": 4.52, "wmae": 0.31},
    "can": {"hr_estimate": 91.0, "mae": 3.19, "snr_db": 1.61, "wmae": 0.69},
}
GT_HR_REFERENCE = 94.19  # bpm, median of the per-beat HR over the sample's one 30 s window


def release_masked_means(masked_frames: np.ndarray) -> np.ndarray:
    """The release's corruption estimates from its saved masked frames: (T, 3) intensities.

    masked_frames: (T, H, W, 3) frames already multiplied by their binary inverse masks (zeros
    outside the ignored region). The release divided the sum by all H·W pixels, so the estimate
    is the mean of the saved frame over every pixel; all-zero (padded) frames give 0, as there.
    """
    frames = as_array(masked_frames, "masked_frames", ndim=4)
    everywhere = np.ones(frames.shape[:3])
    return masked_channel_means(frames, everywhere, mode="all_pixels")


@dataclass(frozen=True)
class InverseAttentionParity:
    """What :func:`inverse_attention_parity` returns.

    inverse: (T, H, W) float32 binary inverse masks from ``mask1``. means: (T, 3) masked means of
    the saved frames. conditioned: (T, 3) and pulse_conditioned: (T,) after the release's chain
    (at ``fs``). table: one row per comparison (quantity, compared_with, measure, value).
    """

    inverse: np.ndarray
    means: np.ndarray
    conditioned: np.ndarray
    pulse_conditioned: np.ndarray
    table: pd.DataFrame = field(repr=False)


def inverse_attention_parity(
    sample: BodSample, *, fs: float = RELEASE_FS, lam: float = DETREND_LAMBDA
) -> InverseAttentionParity:
    """Recompute the release's ``get_noise_estimates.m`` arithmetic and compare with Octave's.

    Binary inverse masks (τ = 0.1) from ``sample.mask1`` against ``inv_mask`` (mismatching
    pixels); masked means of the saved frames (:func:`release_masked_means`, padded frames
    included as released) against ``noise_<c>_mean``; those conditioned (λ = ``lam``, HR band,
    order 1, at ``fs`` Hz: 30 as released) against ``noise_<c>_mean2``; the pulse (float32
    cumsum of ``yptest``, as MATLAB's single precision) against ``pulse_sub2``. Also reports how
    often the saved frames' support (non-zero pixels) agrees with the τ = 0.1 masks: they were made
    by an earlier version of the script, so the agreement is high but not total.
    """
    oct_ = sample.octave
    inverse = inverse_masks(sample.mask1, kind="binary", threshold=RELEASE_THRESHOLD)
    means = release_masked_means(sample.masked_frames)
    conditioned = condition_signal(means, fs, lam=lam, band=HR_BAND, order=1,
                                   name="masked means (R, G, B)")
    pulse = condition_signal(integrate(sample.yptest, dtype=np.float32), fs, lam=lam,
                             band=HR_BAND, order=1, name="pulse (cumsum of yptest)")
    support = np.any(sample.masked_frames != 0, axis=-1)
    rows = [
        ("binary inverse masks (τ = 0.1, from mask1)", "Octave inv_mask", "mismatching pixels",
         int(np.count_nonzero(inverse != oct_["inv_mask"]))),
        ("binary inverse masks (τ = 0.1, from mask1)", "Octave inv_mask", "pixels compared",
         int(inverse.size)),
    ]
    for i, c in enumerate(CHANNELS):
        rows.append((f"masked mean, {c}", f"Octave noise_{c}_mean", "max |Δ|",
                     float(np.abs(means[:, i] - oct_[f"noise_{c}_mean"]).max())))
    for i, c in enumerate(CHANNELS):
        rows.append((f"conditioned estimate, {c}", f"Octave noise_{c}_mean2", "max |Δ|",
                     float(np.abs(conditioned[:, i] - oct_[f"noise_{c}_mean2"]).max())))
    rows += [
        ("conditioned pulse (float32 cumsum)", "Octave pulse_sub2", "max |Δ|",
         float(np.abs(pulse - oct_["pulse_sub2"]).max())),
        ("support of the saved masked frames", "binary inverse masks (τ = 0.1)",
         "fraction of pixels agreeing", float(np.mean(support == (inverse > 0)))),
    ]
    table = pd.DataFrame(rows, columns=["quantity", "compared_with", "measure", "value"])
    return InverseAttentionParity(inverse, means, conditioned, pulse, table)


def recorded_estimates(
    sample: BodSample, *, fs: float = VIDEO_FPS, lam: float = DETREND_LAMBDA
) -> tuple[np.ndarray, np.ndarray]:
    """The corruption estimates as this suite computes them from the release's saved frames:
    the recorded frames only (the trailing all-zero padding dropped), conditioned at the video's
    own rate ``fs`` (25 Hz). Returns (raw (T, 3) intensities, conditioned (T, 3) z-scores)."""
    n_padded = trailing_empty_frames(sample.masked_frames)
    recorded = sample.masked_frames[: sample.masked_frames.shape[0] - n_padded]
    raw = release_masked_means(recorded)
    conditioned = condition_signal(raw, fs, lam=lam, band=HR_BAND, order=1,
                                   name="recorded masked means (R, G, B)")
    return raw, conditioned


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run PyTorch on one CPU thread inside the block; the previous setting comes back after.

    The LSTMs here are small (33 windows of 60 steps): threads only add synchronisation, and on
    a machine shared with other work they wait for each other (measured on 2 busy cores: the
    zero-target training of :func:`.bugs.zero_target_effect` took 98 s
    with 2 threads, 6 s with 1).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def rerun_hr_lstm(
    windows: np.ndarray, model: nn.Module | None = None, *, weights_path: str | None = None
) -> np.ndarray:
    """The released HR LSTM's output for input windows (N, 60, 4): (N, 60) float32.

    Pass the model, or ``weights_path`` to ``model_denoising_HR_LSTM.h5`` (loaded with
    :func:`rppg_lib.weights.load_keras_lstm`).
    """
    if (model is None) == (weights_path is None):
        raise ValueError("pass exactly one of model and weights_path")
    if model is None:
        model = load_keras_lstm(weights_path)
    with single_thread():
        return denoise_windows(model, as_array(windows, "windows", ndim=3))


STITCHINGS = ("release", "overwrite", "average")


def stitch_for_protocol(
    windows: np.ndarray, reference_length: int, *, hop: int = HOP, stitching: str = "release"
) -> np.ndarray:
    """LSTM windows (N, L) joined into one waveform for ``print_result.m``.

    ``"release"``: into zeros of the ground truth's ``reference_length`` samples, each window
    over the previous one's overlap, the last window dropped (the release). ``"overwrite"`` and
    ``"average"`` (overlap-add, this suite's default): the (N−1)·hop + L samples the windows
    cover, which must not exceed ``reference_length``.
    """
    check_choice(stitching, "stitching", STITCHINGS)
    reference_length = check_positive_int(reference_length, "reference_length")
    if stitching == "release":
        return stitch_windows(windows, hop, length=reference_length, mode="release")
    out = stitch_windows(windows, hop, mode=stitching)
    if out.size > reference_length:
        raise ValueError(
            f"the windows cover {out.size} samples, more than reference_length = "
            f"{reference_length}: they do not belong to this reference"
        )
    return out


def waveform_correlations(
    signals: Mapping[str, np.ndarray], gt_waveform: np.ndarray, *, hop: int = HOP
) -> pd.DataFrame:
    """Pearson r of each signal's stitched windows with the ground-truth waveform.

    signals: {name: (N, L) windows}; gt_waveform (T',) on the same 30 Hz grid, sample 0 = the
    first window's start. Per signal and stitching ("release", "average"): r over the samples
    the stitched waveform actually holds ((N−2)·hop + L for the release, which drops the last
    window; (N−1)·hop + L for overlap-add). Columns: signal, stitching, samples, pearson_r.
    """
    gt = as_signal(gt_waveform, "gt_waveform")
    rows = []
    for name, windows in signals.items():
        w = as_array(windows, f"signals[{name!r}]", ndim=2)
        for stitching in ("release", "average"):
            stitched = stitch_for_protocol(w, gt.size, hop=hop, stitching=stitching)
            n = (w.shape[0] - (2 if stitching == "release" else 1)) * hop + w.shape[1]
            r = float(np.corrcoef(stitched[:n], gt[:n])[0, 1])
            rows.append({"signal": name, "stitching": stitching, "samples": n, "pearson_r": r})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ProtocolInputs:
    """What ``print_result.m`` evaluates: LSTM-style windows of each signal and the ground truth.

    signals: {name: (N, L) windows at ``fs`` Hz every ``hop`` samples}. gt_waveform: (T',) at
    ``fs`` Hz. gt_hr_series: HR in bpm at ``gt_hr_fs`` Hz. window_s: evaluation window (s).
    """

    signals: Mapping[str, np.ndarray]
    gt_waveform: np.ndarray
    gt_hr_series: np.ndarray
    fs: float = RELEASE_FS
    gt_hr_fs: float = GT_HR_FS
    hop: int = HOP
    window_s: float = RELEASE_WINDOW_S

    @classmethod
    def from_sample(cls, sample: BodSample, extra: Mapping[str, np.ndarray] | None = None):
        """The release's two signals, ``lstm`` (its ``predicted``) and ``can`` (``Xtest``'s pulse
        channel), plus any ``extra`` windows (e.g. our re-run of the released LSTM)."""
        signals = {"lstm": sample.predicted, "can": sample.xtest[..., 3], **(extra or {})}
        return cls(signals, sample.gt_waveform, sample.gt_hr_series)


def protocol_windows(
    inputs: ProtocolInputs, *, stitching: str = "release", snr_db: str = "amplitude",
    window_s: float | None = None,
) -> pd.DataFrame:
    """Per-window ``print_result.m`` rows (:func:`rppg_lib.evaluation_protocols.evaluate_windows`)
    of every
    signal, stitched with ``stitching``, the ground truth cut to the stitched length; SNR in
    ``snr_db`` ("amplitude": the release's 20·log10; "power": 10·log10). window_s overrides
    ``inputs.window_s``. Adds columns signal, stitching, snr_convention."""
    gt = as_signal(inputs.gt_waveform, "gt_waveform")
    tables = []
    for name, windows in inputs.signals.items():
        stitched = stitch_for_protocol(windows, gt.size, hop=inputs.hop, stitching=stitching)
        df = evaluate_windows(
            stitched, inputs.fs, reference_waveform=gt[: stitched.size],
            reference_hr_series=inputs.gt_hr_series, reference_hr_fs=inputs.gt_hr_fs,
            window_s=inputs.window_s if window_s is None else window_s,
            band=HR_BAND, filter_order=3, snr_db=snr_db,
        )
        df.insert(0, "signal", name)
        df["stitching"] = stitching
        df["snr_convention"] = df.attrs["snr_convention"]
        tables.append(df)
    return pd.concat(tables, ignore_index=True)


def protocol_table(
    inputs: ProtocolInputs, *, stitching: str = "release", snr_db: str = "amplitude",
    window_s: float | None = None,
) -> pd.DataFrame:
    """One row per signal: n_windows, hr_estimate and hr_reference (bpm, means over the
    windows), mae, rmse (bpm), snr_db (dB in the stated convention), wmae, pearson_r of window
    HRs (NaN with fewer than 3 windows: undefined, not 1 as the release printed); plus the
    stitching and SNR convention used."""
    rows = protocol_windows(inputs, stitching=stitching, snr_db=snr_db, window_s=window_s)
    summary = summarize(rows, method_column="signal").set_index("signal")
    means = rows.groupby("signal", sort=False)[["hr_estimate", "hr_reference"]].mean()
    out = pd.DataFrame({
        "n_windows": summary["n"],
        "hr_estimate": means["hr_estimate"],
        "hr_reference": means["hr_reference"],
        "mae": summary["mae"],
        "rmse": summary["rmse"],
        "snr_db": summary["snr_db"],
        "wmae": summary["wmae"],
        "pearson_r": summary["pearson_r"],
    })
    out["stitching"] = stitching
    out["snr_convention"] = rows["snr_convention"].iloc[0]
    return out.reset_index()


def parity_check(table: pd.DataFrame) -> pd.DataFrame:
    """Compare a :func:`protocol_table` made the release's way (stitching "release", SNR
    20·log10) with :data:`PRINT_RESULT_REFERENCE`, rounded to 2 decimals as printed.

    Returns rows signal, quantity, ours (rounded), reference, match (bool); the ground-truth HR
    is checked against :data:`GT_HR_REFERENCE` for every signal.
    """
    if not (table["stitching"] == "release").all() or not table["snr_convention"].str.startswith(
        "20*log10"
    ).all():
        raise ValueError(
            "table must be computed the release's way (stitching='release', snr_db='amplitude') "
            "to be compared with its printed numbers"
        )
    by_signal = table.set_index("signal")
    rows = []
    for signal, expected in PRINT_RESULT_REFERENCE.items():
        if signal not in by_signal.index:
            have = list(by_signal.index)
            raise ValueError(f"table has no row for signal {signal!r} (has {have})")
        row = by_signal.loc[signal]
        for quantity, reference in {**expected, "hr_reference": GT_HR_REFERENCE}.items():
            ours = round(float(row[quantity]), 2)
            rows.append({"signal": signal, "quantity": quantity, "ours": ours,
                         "reference": reference, "match": ours == reference})
    return pd.DataFrame(rows)

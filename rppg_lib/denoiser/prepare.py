"""LSTM inputs and targets at 30 Hz, windows and training datasets (notebook 05_lstm_denoising).

See :mod:`rppg_lib.denoiser` for the conventions: resampling to 30 Hz and back, max-abs
normalisation, target cleaning, window tails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline

from rppg_lib.constants import DETREND_LAMBDA, HR_BAND
from rppg_lib.inverse_attention import CorruptionEstimates, condition_signal
from rppg_lib.signals import detrend, normalize_max_abs
from rppg_lib.training import ChunkDataset
from rppg_lib.validation import (
    as_array,
    as_signal,
    check_choice,
    check_fs,
    check_positive,
    check_positive_int,
    check_same_length,
)
from rppg_lib.windows import sliding_windows

__all__ = [
    "LSTM_FS",
    "WINDOW",
    "HOP",
    "CHANNEL_SETS",
    "TARGET_FILTERS",
    "to_lstm_rate",
    "to_frame_rate",
    "denoiser_inputs",
    "denoiser_target",
    "denoiser_windows",
    "DenoiserClip",
    "prepare_clip",
    "denoiser_dataset",
]

LSTM_FS = 30.0  # Hz, the rate the released LSTM was trained at
WINDOW = 60  # samples (2 s at 30 Hz)
HOP = 30  # samples between window starts
# Input columns per option, in order. "pulse" is the ablation: no corruption estimates.
CHANNEL_SETS: dict[str, tuple[str, ...]] = {
    "rgb+pulse": ("noise_red", "noise_green", "noise_blue", "pulse"),
    "pulse": ("pulse",),
}
TARGET_FILTERS = ("detrend", "condition")


def _is_lstm_rate(fs: float) -> bool:
    return abs(fs - LSTM_FS) <= 1e-9 * LSTM_FS


def to_lstm_rate(x: np.ndarray, fs: float) -> np.ndarray:
    """``x`` (T,) or (T, C) sampled at ``fs`` Hz (frame k at k / fs s) resampled to 30 Hz.

    Returns float64 (T',) or (T', C), sample j at j / 30 s for every j with j / 30 <= (T-1) / fs;
    a copy of ``x`` when fs is already 30 Hz. Cubic-spline interpolation (see module docstring).
    """
    fs = check_fs(fs)
    arr = as_array(x, "x", ndim=(1, 2), min_length=2)
    if _is_lstm_rate(fs):
        return arr.copy()
    n_new = int(np.floor((arr.shape[0] - 1) / fs * LSTM_FS + 1e-9)) + 1
    spline = CubicSpline(np.arange(arr.shape[0]) / fs, arr, axis=0)
    return spline(np.arange(n_new) / LSTM_FS)


def to_frame_rate(y: np.ndarray, fs: float, n_frames: int) -> np.ndarray:
    """``y`` (T',) or (T', C) at 30 Hz back at the frame times k / ``fs`` s, k < ``n_frames``.

    The inverse of :func:`to_lstm_rate`: the frames may extend less than one 30 Hz step past the
    last sample of ``y`` (the spline's last piece extrapolates there); farther is a ValueError.
    """
    fs = check_fs(fs)
    n_frames = check_positive_int(n_frames, "n_frames")
    arr = as_array(y, "y", ndim=(1, 2), min_length=2)
    if _is_lstm_rate(fs):
        if arr.shape[0] != n_frames:
            raise ValueError(f"y has {arr.shape[0]} samples at 30 Hz but n_frames = {n_frames}")
        return arr.copy()
    span = (arr.shape[0] - 1) / LSTM_FS
    last = (n_frames - 1) / fs
    if last >= span + 1.0 / LSTM_FS:
        raise ValueError(
            f"y covers {span:g} s at 30 Hz ({arr.shape[0]} samples) but n_frames = {n_frames} "
            f"at fs = {fs:g} Hz end at {last:g} s: more than one 30 Hz step would be extrapolated"
        )
    spline = CubicSpline(np.arange(arr.shape[0]) / LSTM_FS, arr, axis=0)
    return spline(np.arange(n_frames) / fs)


def check_estimates(estimates: Any) -> CorruptionEstimates:
    """``estimates`` if it is a CorruptionEstimates; ValueError naming its type otherwise."""
    if not isinstance(estimates, CorruptionEstimates):
        raise ValueError(
            "estimates must be a CorruptionEstimates (rppg_lib.inverse_attention."
            f"corruption_estimates), got {type(estimates).__name__}"
        )
    return estimates


def denoiser_inputs(estimates: CorruptionEstimates, channels: str = "rgb+pulse") -> np.ndarray:
    """The LSTM input signals of one clip: (T', C) float64 at 30 Hz, columns as
    ``CHANNEL_SETS[channels]``.

    channels: ``"rgb+pulse"`` (the paper: conditioned R, G, B corruption estimates and the
    conditioned pulse, C = 4) or ``"pulse"`` (the ablation, C = 1). Each column is resampled to
    30 Hz (when ``estimates.fs`` differs) and then divided by its maximum absolute value over the
    whole clip: every column has max|.| = 1, dimensionless.
    """
    est = check_estimates(estimates)
    check_choice(channels, "channels", tuple(CHANNEL_SETS))
    pulse = as_signal(est.pulse_conditioned, "estimates.pulse_conditioned")
    columns = [pulse[:, None]]
    if channels == "rgb+pulse":
        noise = as_array(est.conditioned, "estimates.conditioned", ndim=2)
        if noise.shape[1] != 3:
            raise ValueError(f"estimates.conditioned must be (T, 3) R, G, B, got {noise.shape}")
        check_same_length(noise, pulse, "estimates.conditioned", "estimates.pulse_conditioned")
        columns.insert(0, noise)
    signals = to_lstm_rate(np.concatenate(columns, axis=1), est.fs)
    flat = [n for n, col in zip(CHANNEL_SETS[channels], signals.T, strict=True) if not col.any()]
    if flat:
        raise ValueError(f"input channel(s) {flat} are all zeros: they cannot be max-normalised")
    return normalize_max_abs(signals)


def denoiser_target(
    waveform: np.ndarray,
    fs: float,
    *,
    target_filter: str = "detrend",
    lam: float = DETREND_LAMBDA,
    band: tuple[float, float] = HR_BAND,
    order: int = 1,
) -> np.ndarray:
    """The LSTM training target from a ground-truth pulse waveform (T,) at frame times.

    fs: the frame rate in Hz. target_filter: ``"detrend"`` (smoothness priors with ``lam``, then
    the mean removed: baseline gone, waveform shape and harmonics kept; what the release's target
    looks like) or ``"condition"`` (``inverse_attention.condition_signal`` with lam, band, order:
    the same chain as the inputs). Then resampled to 30 Hz and divided by max|.|. Returns (T',)
    float64 in [-1, 1], dimensionless.
    """
    fs = check_fs(fs)
    check_choice(target_filter, "target_filter", TARGET_FILTERS)
    wave = as_signal(waveform, "waveform", min_length=3)
    if target_filter == "detrend":
        clean = detrend(wave, check_positive(lam, "lam"))
        clean = clean - clean.mean()
    else:
        clean = condition_signal(wave, fs, lam=lam, band=band, order=order, name="waveform")
    resampled = to_lstm_rate(clean, fs)
    if not np.abs(resampled).max() > 1e-12 * max(1.0, float(np.abs(wave).max())):
        raise ValueError("waveform has no variation left after detrending; it cannot be a target")
    return normalize_max_abs(resampled)


def denoiser_windows(
    inputs: np.ndarray,
    target: np.ndarray | None = None,
    *,
    window: int = WINDOW,
    hop: int = HOP,
    tail: str = "pad",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cut 30 Hz signals into LSTM windows: inputs (T', C) -> (N, window, C) float32, target
    (T',) -> (N, window) float32 (None stays None).

    tail: what happens after the last whole window (``windows.sliding_windows``): ``"pad"``
    (default: one more window, zero-padded past the end), ``"drop"`` (the release), ``"error"``.
    """
    x = as_array(inputs, "inputs", ndim=2)
    window = check_positive_int(window, "window")
    if x.shape[0] < window:
        raise ValueError(
            f"inputs has {x.shape[0]} samples at 30 Hz, fewer than one window of {window}"
        )
    xw = sliding_windows(x, window, hop, tail=tail).astype(np.float32)
    if target is None:
        return xw, None
    y = as_signal(target, "target")
    check_same_length(x, y, "inputs", "target")
    return xw, sliding_windows(y, window, hop, tail=tail).astype(np.float32)


@dataclass(frozen=True)
class DenoiserClip:
    """One clip ready for the LSTM: ``inputs`` (T', C) float32 and ``target`` (T',) float32 or
    None, both at ``fs`` = 30 Hz; the clip's own rate ``source_fs`` (Hz) and length
    ``n_frames``; ``resampled`` whether the rates differ; ``channels`` and ``target_filter``
    options used; ``name`` for messages."""

    inputs: np.ndarray
    target: np.ndarray | None
    channels: str
    target_filter: str
    source_fs: float
    n_frames: int
    name: str
    fs: float = LSTM_FS

    @property
    def resampled(self) -> bool:
        return not _is_lstm_rate(self.source_fs)


def _conditioning(estimates: CorruptionEstimates) -> dict[str, Any]:
    """lam, band and order the estimates were conditioned with (the release's when unknown)."""
    params = estimates.params or {}
    return {
        "lam": float(params.get("lam", DETREND_LAMBDA)),
        "band": tuple(params.get("band", HR_BAND)),
        "order": int(params.get("order", 1)),
    }


def prepare_clip(
    estimates: CorruptionEstimates,
    waveform: np.ndarray | None = None,
    *,
    channels: str = "rgb+pulse",
    target_filter: str = "detrend",
    window: int = WINDOW,
    name: str = "clip",
) -> DenoiserClip:
    """Inputs (:func:`denoiser_inputs`) and, given the ground-truth ``waveform`` (T,) at the same
    frame times as ``estimates``, the target (:func:`denoiser_target`, with the estimates' own
    lam / band / order) of one clip. ValueError naming ``name`` when the lengths differ or the
    clip is shorter than one ``window`` at 30 Hz.
    """
    est = check_estimates(estimates)
    check_choice(target_filter, "target_filter", TARGET_FILTERS)
    n_frames = len(est.pulse_conditioned)
    inputs = denoiser_inputs(est, channels)
    window = check_positive_int(window, "window")
    if inputs.shape[0] < window:
        raise ValueError(
            f"{name}: {n_frames} frames at {est.fs:g} Hz ({(n_frames - 1) / est.fs:.3g} s) give "
            f"{inputs.shape[0]} samples at 30 Hz, fewer than one window of {window} "
            f"({window / LSTM_FS:g} s)"
        )
    target = None
    if waveform is not None:
        n_wave = len(np.atleast_1d(np.asarray(waveform)))
        if n_wave != n_frames:
            raise ValueError(
                f"{name}: the waveform has {n_wave} samples but the estimates have {n_frames} "
                "frames; the ground truth must be given at the clip's frame times"
            )
        target = denoiser_target(
            waveform, est.fs, target_filter=target_filter, **_conditioning(est)
        ).astype(np.float32)
    return DenoiserClip(
        inputs=inputs.astype(np.float32),
        target=target,
        channels=channels,
        target_filter=target_filter,
        source_fs=est.fs,
        n_frames=n_frames,
        name=name,
    )


def denoiser_dataset(
    clips: Sequence[DenoiserClip], *, window: int = WINDOW, hop: int = HOP
) -> ChunkDataset:
    """Training windows of several clips: a :class:`~rppg_lib.training.ChunkDataset` of
    ``(inputs (window, C), target (window,))`` float32 pairs, batched by stacking.

    Windows never cross clips; in each clip they start every ``hop`` samples and one more is
    aligned with the clip's end when the hops do not reach it. All clips need targets and the
    same channels.
    """
    clips = list(clips)
    if not clips:
        raise ValueError("clips is empty: there is nothing to train on")
    for clip in clips:
        if clip.target is None:
            raise ValueError(f"{clip.name} has no target (prepare it with the waveform)")
        if clip.channels != clips[0].channels:
            raise ValueError(
                f"{clip.name} has channels {clip.channels!r} but {clips[0].name} has "
                f"{clips[0].channels!r}"
            )
    return ChunkDataset(
        [(c.inputs, c.target) for c in clips], window, hop, collate="stack",
        names=[c.name for c in clips],
    )

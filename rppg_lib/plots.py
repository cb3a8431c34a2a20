"""Figures shared by the notebooks: each function returns a matplotlib Figure in the suite's style
(:mod:`rppg_lib.run.report`), with axes labelled in seconds, bpm, pixels or arbitrary units (a.u.).

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so they are shown by
returning them from a notebook cell and saved with :func:`rppg_lib.run.report.save_figure`.
Attention-mask figures take :class:`rppg_lib.attention.AttentionMasks`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from rppg_lib.attention import AttentionMasks
from rppg_lib.constants import HR_BAND
from rppg_lib.figure_style import COLORS, style_context
from rppg_lib.metrics import bland_altman
from rppg_lib.signals import power_spectrum
from rppg_lib.validation import as_array, as_signal, check_band, check_fs, check_positive_int
from rppg_lib.video_inference import MIN_PULSE_COLOUR, MIN_SNR_DB, MethodResult

__all__ = [
    "plot_frames",
    "plot_network_inputs",
    "plot_signals",
    "plot_spectra",
    "plot_training_history",
    "plot_prediction",
    "plot_bland_altman",
    "plot_hr_scatter",
    "plot_corruption",
    "plot_mask_overlays",
    "plot_mean_mask",
    "plot_mask_kymograph",
    "plot_masks_over_time",
    "plot_video_pulse",
]

CHANNELS = ("R", "G", "B")
CHANNEL_COLORS = ("#D55E00", "#009E73", "#0072B2")  # vermillion, bluish green, blue


def _standardize(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit standard deviation (a constant signal only loses its mean)."""
    centred = x - x.mean()
    sd = centred.std()
    return centred / sd if sd > 0 else centred


def _series(signals: Mapping[str, object], n: int | None, name: str) -> dict[str, np.ndarray]:
    if not isinstance(signals, Mapping) or not signals:
        raise ValueError(f"{name} must be a non-empty mapping of label to signal")
    out = {str(k): as_signal(v, f"{name}[{k!r}]") for k, v in signals.items()}
    if n is not None:
        for label, values in out.items():
            if values.size != n:
                raise ValueError(f"{name}[{label!r}] has {values.size} samples, t has {n}")
    return out


def plot_frames(
    frames: Sequence[np.ndarray] | np.ndarray,
    *,
    boxes: Sequence[Sequence[int]] | np.ndarray | None = None,
    masks: Sequence[np.ndarray] | np.ndarray | None = None,
    titles: Sequence[str] | None = None,
    columns: int | None = None,
) -> Figure:
    """A montage of RGB frames (each (H, W, 3), uint8 or floats in [0, 1]), one axes per frame.

    boxes: one (x, y, w, h) box per frame (pixels), drawn as a rectangle; masks: one (H, W)
    boolean mask per frame, drawn as a contour (a None entry draws nothing for that frame);
    titles: one per frame. columns: frames per row (default all in one row, at most 6).
    """
    images = [np.asarray(f) for f in frames]
    if not images:
        raise ValueError("frames is empty")
    for i, img in enumerate(images):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"frames[{i}] must have shape (H, W, 3), got {img.shape}")
    n = len(images)
    for name, extra in (("boxes", boxes), ("masks", masks), ("titles", titles)):
        if extra is not None and len(extra) != n:
            raise ValueError(f"{name} has {len(extra)} entries for {n} frames")
    cols = min(n, 6) if columns is None else min(check_positive_int(columns, "columns"), n)
    rows = -(-n // cols)
    with style_context():
        fig = Figure(figsize=(1.25 * cols + 0.2, 1.35 * rows + 0.2), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes:
            ax.set_axis_off()
        for i, (ax, img) in enumerate(zip(axes, images, strict=False)):
            shown = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img
            ax.imshow(np.clip(shown, 0.0, 1.0))
            if masks is not None and masks[i] is not None:
                mask = np.asarray(masks[i], dtype=bool)
                if mask.shape != img.shape[:2]:
                    raise ValueError(f"masks[{i}] has shape {mask.shape}, frame {img.shape[:2]}")
                ax.contour(mask.astype(np.float32), levels=[0.5], colors=[COLORS[6]],
                           linewidths=0.7)
            if boxes is not None and boxes[i] is not None:
                x, y, w, h = (float(v) for v in boxes[i])
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, lw=1.0,
                                       ec=COLORS[1]))
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    return fig


def _min_max(x: np.ndarray) -> np.ndarray:
    """Scaled to [0, 1] by its own minimum and maximum (a constant array becomes 0.5)."""
    lo, hi = float(x.min()), float(x.max())
    return np.full_like(x, 0.5) if hi == lo else (x - lo) / (hi - lo)


def plot_network_inputs(
    crops: np.ndarray,
    appearance: np.ndarray,
    motion: np.ndarray,
    *,
    times: Sequence[float] | None = None,
) -> Figure:
    """What the network sees at a few frames: the face crop (N, h, w, 3) in [0, 1], the
    appearance input A (N, S, S, 3) and the motion input D (N, S, S, 3), one column per frame.
    A and D are standardised numbers, shown min-max scaled over the frames given (each row on
    its own scale, all frames of a row on the same one). times: one label (s) per column."""
    rows = {"crop": np.asarray(crops, dtype=np.float32),
            "appearance A": np.asarray(appearance, dtype=np.float32),
            "motion D": np.asarray(motion, dtype=np.float32)}
    n = len(rows["crop"])
    for name, arr in rows.items():
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
            raise ValueError(f"{name} must have shape (N, h, w, 3) with N >= 1, got {arr.shape}")
        if arr.shape[0] != n:
            raise ValueError(f"{name} has {arr.shape[0]} frames, crop has {n}")
    if times is not None and len(times) != n:
        raise ValueError(f"times has {len(times)} entries for {n} frames")
    with style_context():
        fig = Figure(figsize=(1.1 * n + 0.9, 3.4), layout="constrained")
        axes = fig.subplots(3, n, squeeze=False)
        for r, (name, arr) in enumerate(rows.items()):
            shown = np.clip(arr, 0.0, 1.0) if r == 0 else _min_max(arr)
            for c in range(n):
                axes[r, c].imshow(shown[c])
                axes[r, c].set_xticks([])
                axes[r, c].set_yticks([])
                axes[r, c].set_frame_on(False)
            axes[r, 0].set_ylabel(name)
        if times is not None:
            for c, t in enumerate(times):
                axes[0, c].set_title(f"{float(t):.2f} s", fontsize=8)
    return fig


def plot_signals(
    t: np.ndarray,
    signals: Mapping[str, np.ndarray],
    *,
    title: str | None = None,
    ylabel: str | Mapping[str, str] = "a.u.",
    stacked: bool = False,
    standardize: bool = False,
) -> Figure:
    """Traces against time ``t`` (s): one line per entry of ``signals`` ({label: (T,)}), in one
    axes, or one axes each with ``stacked`` (sharing the time axis). ``ylabel``: the unit, or
    with ``stacked`` a {label: unit} mapping. ``standardize`` plots each trace as z-scores (then
    ``ylabel`` should say so)."""
    time = as_signal(t, "t")
    series = _series(signals, time.size, "signals")
    if isinstance(ylabel, Mapping):
        if not stacked:
            raise ValueError("ylabel may be a mapping of label to unit only with stacked=True")
        missing = [label for label in series if label not in ylabel]
        if missing:
            raise ValueError(f"ylabel has no unit for {missing}")
    with style_context():
        rows = len(series) if stacked else 1
        fig = Figure(figsize=(6.0, 1.3 * rows + 0.7 if stacked else 2.4), layout="constrained")
        axes = fig.subplots(rows, 1, sharex=True, squeeze=False).ravel()
        for k, (label, values) in enumerate(series.items()):
            ax = axes[k] if stacked else axes[0]
            y = _standardize(values) if standardize else values
            ax.plot(time, y, label=label, color=COLORS[k % len(COLORS)], lw=1.0)
            unit = ylabel[label] if isinstance(ylabel, Mapping) else ylabel
            ax.set_ylabel(f"{label}\n({unit})" if stacked else unit)
        if not stacked and len(series) > 1:
            axes[0].legend(loc="upper right", ncols=min(len(series), 4))
        axes[-1].set_xlabel("time (s)")
        axes[-1].set_xlim(time[0], time[-1])
        if title:
            fig.suptitle(title)
    return fig


def plot_spectra(
    signals: Mapping[str, np.ndarray],
    fs: float,
    *,
    band: tuple[float, float] | None = HR_BAND,
    markers: Mapping[str, float] | None = None,
    xlim_bpm: tuple[float, float] = (30.0, 240.0),
    title: str | None = None,
) -> Figure:
    """Periodograms of ``signals`` ({label: (T,)} sampled at ``fs`` Hz) against frequency in
    beats per minute, each normalised to its peak inside ``xlim_bpm``. The mean is removed first;
    ``band`` (Hz) is shaded; ``markers`` ({label: bpm}) are dashed reference lines (e.g. the true
    heart rate, the flicker frequency)."""
    fs = check_fs(fs)
    series = _series(signals, None, "signals")
    lo_bpm, hi_bpm = (float(v) for v in xlim_bpm)
    if not 0 <= lo_bpm < hi_bpm:
        raise ValueError(f"xlim_bpm must be (low, high) with 0 <= low < high, got {xlim_bpm}")
    with style_context():
        fig = Figure(figsize=(3.5, 2.4), layout="constrained")
        ax = fig.subplots()
        if band is not None:
            low, high = check_band(band[0], band[1], fs)
            ax.axvspan(60 * low, 60 * high, color="0.92", lw=0, label="HR band")
        for k, (label, values) in enumerate(series.items()):
            # zero-padding to >= 8192 bins keeps the peaks smooth at 0.2 bpm spacing or finer
            freqs, power = power_spectrum(values - values.mean(), fs,
                                          nfft=max(values.size, 8192))
            bpm = 60.0 * freqs
            view = (bpm >= lo_bpm) & (bpm <= hi_bpm)
            peak = power[view].max()
            ax.plot(bpm[view], power[view] / peak if peak > 0 else power[view], label=label,
                    color=COLORS[k % len(COLORS)], lw=1.0)
        for k, (label, value) in enumerate((markers or {}).items()):
            ax.axvline(float(value), color=COLORS[(k + 2) % len(COLORS)], ls="--", lw=0.9,
                       label=f"{label} ({float(value):.0f} bpm)")
        ax.set_xlim(lo_bpm, hi_bpm)
        ax.set_xlabel("frequency (bpm)")
        ax.set_ylabel("power (normalised)")
        ax.legend(loc="upper right", fontsize=7)
        if title:
            ax.set_title(title)
    return fig


def plot_training_history(history: pd.DataFrame | str | os.PathLike | Sequence[dict]) -> Figure:
    """Loss curves (train and validation MSE per epoch) and, when logged, the validation heart
    rate MAE (bpm) per epoch. history: a DataFrame, a ``log.csv`` path or the list of rows of
    :attr:`rppg_lib.training.TrainResult.history`."""
    if isinstance(history, (str, os.PathLike)):
        path = Path(history)
        if not path.is_file():
            raise FileNotFoundError(f"training log not found: {path}")
        table = pd.read_csv(path)
    else:
        table = pd.DataFrame(history)
    for column in ("epoch", "train_loss"):
        if column not in table.columns:
            raise ValueError(f"history lacks the column {column!r} (has {list(table.columns)})")
    if table.empty:
        raise ValueError("history has no epochs")
    has_hr = "val_hr_mae" in table.columns and table["val_hr_mae"].notna().any()
    with style_context():
        fig = Figure(figsize=(6.0 if has_hr else 3.5, 2.4), layout="constrained")
        axes = fig.subplots(1, 2 if has_hr else 1, squeeze=False).ravel()
        ax = axes[0]
        ax.plot(table["epoch"], table["train_loss"], "o-", label="train", color=COLORS[0])
        if "val_loss" in table.columns and table["val_loss"].notna().any():
            ax.plot(table["epoch"], table["val_loss"], "s-", label="validation", color=COLORS[1])
        ax.set_xlabel("epoch")
        ax.set_ylabel("MSE loss (a.u.)")
        ax.legend()
        for axis in axes:
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if has_hr:
            axes[1].plot(table["epoch"], table["val_hr_mae"], "o-", color=COLORS[2])
            axes[1].set_xlabel("epoch")
            axes[1].set_ylabel("validation HR MAE (bpm)")
            axes[1].set_ylim(bottom=0)
    return fig


def plot_prediction(
    t: np.ndarray,
    estimate: np.ndarray,
    reference: np.ndarray,
    *,
    hr_estimate: float | None = None,
    hr_reference: float | None = None,
    title: str | None = None,
    labels: tuple[str, str] = ("estimate", "ground truth"),
) -> Figure:
    """An estimated pulse and the ground-truth pulse against time ``t`` (s), both as z-scores;
    the legend carries the heart rates (bpm) when given."""
    time = as_signal(t, "t")
    series = _series({"estimate": estimate, "reference": reference}, time.size, "signals")
    names = [labels[0], labels[1]]
    for i, hr in enumerate((hr_estimate, hr_reference)):
        if hr is not None:
            names[i] += f" ({float(hr):.1f} bpm)"
    with style_context():
        fig = Figure(figsize=(6.0, 2.2), layout="constrained")
        ax = fig.subplots()
        ax.plot(time, _standardize(series["reference"]), color=COLORS[7], lw=1.0, alpha=0.6,
                label=names[1])
        ax.plot(time, _standardize(series["estimate"]), color=COLORS[0], lw=1.0, label=names[0])
        ax.set_xlabel("time (s)")
        ax.set_ylabel("pulse (z-score)")
        ax.set_xlim(time[0], time[-1])
        ax.legend(loc="upper right", ncols=2)
        if title:
            ax.set_title(title)
    return fig


def plot_bland_altman(
    estimate: np.ndarray, reference: np.ndarray, *, label: str | None = None, unit: str = "bpm"
) -> Figure:
    """Bland–Altman plot: difference (estimate − reference) against the mean of the two, with the
    bias and the 95 % limits of agreement (bias ± 1.96 sd) as horizontal lines."""
    est = as_signal(estimate, "estimate")
    ref = as_signal(reference, "reference")
    stats = bland_altman(est, ref)
    with style_context():
        fig = Figure(figsize=(3.5, 2.6), layout="constrained")
        ax = fig.subplots()
        ax.scatter((est + ref) / 2, est - ref, s=12, color=COLORS[0], alpha=0.8,
                   label=label or "windows")
        ax.axhline(stats.bias, color=COLORS[7], lw=1.0, label=f"bias {stats.bias:.2f} {unit}")
        for value in (stats.lower, stats.upper):
            ax.axhline(value, color=COLORS[1], ls="--", lw=0.9)
        ax.plot([], [], color=COLORS[1], ls="--",
                label=f"95% limits [{stats.lower:.1f}, {stats.upper:.1f}]")
        ax.set_xlabel(f"mean of estimate and reference ({unit})")
        ax.set_ylabel(f"estimate − reference ({unit})")
        ax.legend(fontsize=7)
        if label:
            ax.set_title(label)
    return fig


_MARKERS = ("o", "^", "s")  # a second and third round of the colour cycle: other markers


def plot_hr_scatter(
    table: pd.DataFrame,
    *,
    method_column: str = "method",
    estimate: str = "hr_estimate",
    reference: str = "hr_reference",
    unit: str = "bpm",
) -> Figure:
    """Estimated against reference heart rate, one colour per value of ``method_column`` (all
    rows one series without that column; past the eight colours the marker changes too), with
    the identity line; the legend sits beside the axes, off the points."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    for column in (estimate, reference):
        if column not in table.columns:
            raise ValueError(f"table lacks the column {column!r} (has {list(table.columns)})")
    data = table[np.isfinite(table[estimate]) & np.isfinite(table[reference])]
    if data.empty:
        raise ValueError("table has no row with a finite estimate and reference")
    groups = data.groupby(method_column, sort=False) if method_column in data else [("all", data)]
    with style_context():
        fig = Figure(figsize=(5.0, 3.0), layout="constrained")
        ax = fig.subplots()
        values = np.concatenate([data[estimate].to_numpy(float), data[reference].to_numpy(float)])
        lo, hi = values.min() - 5, values.max() + 5
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8, ls="--", label="identity")
        for k, (name, group) in enumerate(groups):
            ax.scatter(group[reference], group[estimate], s=12, alpha=0.8, label=str(name),
                       color=COLORS[k % len(COLORS)], marker=_MARKERS[k // len(COLORS) % 3])
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(f"reference HR ({unit})")
        ax.set_ylabel(f"estimated HR ({unit})")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig


def plot_corruption(
    t: np.ndarray,
    estimates: np.ndarray,
    injected: np.ndarray | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Corruption estimates per colour channel against time ``t`` (s): one axes per channel
    (R, G, B) with the estimate (T, 3) and, where known, the injected corruption (T, 3) (e.g.
    the synthetic illumination gain), both as z-scores."""
    time = as_signal(t, "t")
    est = as_array(estimates, "estimates", ndim=2)
    if est.shape != (time.size, 3):
        raise ValueError(f"estimates must have shape ({time.size}, 3), got {est.shape}")
    inj = None
    if injected is not None:
        inj = as_array(injected, "injected", ndim=2)
        if inj.shape != est.shape:
            raise ValueError(f"injected must have shape {est.shape}, got {inj.shape}")
    with style_context():
        fig = Figure(figsize=(6.0, 3.6), layout="constrained")
        axes = fig.subplots(3, 1, sharex=True)
        for c, ax in enumerate(axes):
            if inj is not None:
                ax.plot(time, _standardize(inj[:, c]), color="0.5", lw=1.0, label="injected")
            ax.plot(time, _standardize(est[:, c]), color=CHANNEL_COLORS[c], lw=1.0,
                    label="estimate")
            ax.set_ylabel(f"{CHANNELS[c]} (z-score)")
        axes[0].legend(loc="upper right", ncols=2)
        axes[-1].set_xlabel("time (s)")
        axes[-1].set_xlim(time[0], time[-1])
        if title:
            fig.suptitle(title)
    return fig


def _as_image(frame: np.ndarray) -> np.ndarray:
    img = np.asarray(frame, dtype=np.float32)
    if img.max() > 1.0:
        img = img / 255.0
    return np.clip(img, 0.0, 1.0)


def _pick(n_frames: int, indices: Sequence[int] | None, n: int) -> list[int]:
    if indices is None:
        n = min(check_positive_int(n, "n"), n_frames)
        return np.linspace(0, n_frames - 1, n).round().astype(int).tolist()
    out = [int(i) for i in indices]
    bad = [i for i in out if not 0 <= i < n_frames]
    if bad or not out:
        raise ValueError(f"indices must be frame numbers in [0, {n_frames}), got {list(indices)}")
    return out


def plot_mask_overlays(
    masks: AttentionMasks,
    frames: np.ndarray,
    *,
    gate: str = "gate1",
    indices: Sequence[int] | None = None,
    n: int = 4,
    alpha: float = 0.55,
) -> Figure:
    """Face crops (top row) and the same crops with the mask overlaid (bottom row) for ``n``
    evenly spaced frames (or ``indices``). frames: (T, h, w, 3) crops, uint8 or floats in [0, 1]
    (e.g. ``PreprocessedClip.mask_frames``); the mask is drawn over the whole crop."""
    mask = masks.gate(gate)
    if len(frames) != masks.n_frames:
        raise ValueError(f"frames has {len(frames)} frames, the masks {masks.n_frames}")
    chosen = _pick(masks.n_frames, indices, n)
    with style_context():
        fig = Figure(figsize=(1.2 * len(chosen) + 0.6, 2.7), layout="constrained")
        axes = fig.subplots(2, len(chosen), squeeze=False)
        for col, t in enumerate(chosen):
            img = _as_image(frames[t])
            extent = (0, img.shape[1], img.shape[0], 0)
            axes[0, col].imshow(img, extent=extent)
            axes[0, col].set_title(f"{t / masks.fps:.1f} s", fontsize=8)
            axes[1, col].imshow(img, extent=extent)
            im = axes[1, col].imshow(
                mask[t].astype(np.float32), cmap="inferno", alpha=alpha, vmin=0, vmax=1,
                extent=extent,
            )
            for ax in axes[:, col]:
                ax.set_xticks([])
                ax.set_yticks([])
        axes[0, 0].set_ylabel("crop")
        axes[1, 0].set_ylabel(f"{gate} mask")
        fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.8, label="sigmoid")
    return fig


def plot_mean_mask(
    masks: AttentionMasks, frames: np.ndarray | None = None, *, gate: str = "gate1"
) -> Figure:
    """The mask averaged over time, with its standard deviation over time beside it, and the
    mean crop overlaid when ``frames`` (T, h, w, 3) are given."""
    mask = masks.gate(gate).astype(np.float32)
    panels = 3 if frames is not None else 2
    with style_context():
        fig = Figure(figsize=(1.6 * panels + 0.6, 2.0), layout="constrained")
        axes = fig.subplots(1, panels)
        im = axes[0].imshow(mask.mean(axis=0), cmap="inferno", vmin=0, vmax=1)
        axes[0].set_title("mean")
        fig.colorbar(im, ax=axes[0], shrink=0.8)
        im = axes[1].imshow(mask.std(axis=0), cmap="viridis")
        axes[1].set_title("std over time")
        fig.colorbar(im, ax=axes[1], shrink=0.8)
        if frames is not None:
            mean_frame = _as_image(np.mean(np.asarray(frames, dtype=np.float32), axis=0))
            extent = (0, mean_frame.shape[1], mean_frame.shape[0], 0)
            axes[2].imshow(mean_frame, extent=extent)
            axes[2].imshow(mask.mean(axis=0), cmap="inferno", alpha=0.55, vmin=0, vmax=1,
                           extent=extent)
            axes[2].set_title("on mean crop")
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"{masks.clip_id}: {gate} over {masks.n_frames / masks.fps:.1f} s")
    return fig


def plot_mask_kymograph(masks: AttentionMasks, *, gate: str = "gate1") -> Figure:
    """Masks over time as two kymographs: the mean over columns (each row of the mask as it
    evolves in time) and the mean over rows (each column). Time (s) runs left to right."""
    mask = masks.gate(gate).astype(np.float32)
    t_end = masks.n_frames / masks.fps
    with style_context():
        fig = Figure(figsize=(3.5, 2.8), layout="constrained")
        axes = fig.subplots(2, 1, sharex=True)
        for ax, profile, label in (
            (axes[0], mask.mean(axis=2), "mask row"),
            (axes[1], mask.mean(axis=1), "mask column"),
        ):
            im = ax.imshow(
                profile.T, aspect="auto", cmap="inferno", vmin=0, vmax=1,
                extent=(0, t_end, profile.shape[1] - 0.5, -0.5),
            )
            ax.set_ylabel(label)
        axes[1].set_xlabel("time (s)")
        fig.colorbar(im, ax=axes.tolist(), shrink=0.8, label=f"{gate} (mean)")
    return fig


def plot_masks_over_time(
    masks: AttentionMasks, *, gate: str = "gate1", n: int = 8, columns: int = 4
) -> Figure:
    """A grid of ``n`` masks at evenly spaced times, each labelled with its time in seconds."""
    mask = masks.gate(gate).astype(np.float32)
    chosen = _pick(masks.n_frames, None, n)
    columns = min(check_positive_int(columns, "columns"), len(chosen))
    rows = -(-len(chosen) // columns)
    with style_context():
        fig = Figure(figsize=(1.1 * columns + 0.6, 1.15 * rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
        for ax in axes:
            ax.set_axis_off()
        for ax, t in zip(axes, chosen, strict=False):
            im = ax.imshow(mask[t], cmap="inferno", vmin=0, vmax=1)
            ax.set_title(f"{t / masks.fps:.1f} s", fontsize=8)
        fig.colorbar(im, ax=axes.tolist(), shrink=0.8, label=gate)
    return fig


def plot_video_pulse(
    frame_times: np.ndarray,
    results: dict[str, MethodResult],
    *,
    resp: np.ndarray | None = None,
    reference_hr: np.ndarray | None = None,
    title: str | None = None,
) -> Figure:
    """The pulse of every method (z-scored, offset) and the sliding-window heart rates over time
    (s); unreliable windows drawn as open grey markers, the ground-truth HR in black."""
    panels = (["pulse", "hr"] if results else []) + (["resp"] if resp is not None else [])
    t = frame_times
    with style_context():
        fig = Figure(figsize=(7.0, 1.9 * len(panels) + 0.5), layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(panels), 1, sharex=True))
        for ax, panel in zip(axes, panels, strict=True):
            if panel == "pulse":
                for k, (name, r) in enumerate(results.items()):
                    sd = r.pulse.std()
                    ax.plot(t, (r.pulse / sd if sd > 0 else r.pulse) - 4.0 * k, lw=0.7,
                            label=name)
                ax.set_ylabel("pulse (z, offset)")
                ax.set_yticks([])
                ax.legend(loc="upper right", fontsize="small", ncols=min(len(results), 5))
            elif panel == "hr":
                _plot_rates(ax, results, reference_hr)
            else:
                ax.plot(t, resp, lw=0.8)
                ax.set_ylabel("respiration (a.u.)")
        axes[-1].set_xlabel("time (s)")
        if title:
            fig.suptitle(title)
    return fig


def _plot_rates(ax: Any, results: dict[str, MethodResult], reference_hr: np.ndarray | None) -> None:
    first = None
    for name, r in results.items():
        if not r.hr_times.size:
            continue
        first = r if first is None else first
        line, = ax.plot(r.hr_times, np.where(r.reliable, r.hr_series, np.nan), marker=".",
                        lw=1, label=name)
        bad = ~r.reliable
        if bad.any():
            ax.plot(r.hr_times[bad], r.hr_series[bad], ls="none", marker="o", mfc="none",
                    color=line.get_color(), alpha=0.5, ms=4)
    if any((~r.reliable).any() for r in results.values()):
        ax.plot([], [], ls="none", marker="o", mfc="none", color="0.4",
                label=f"unreliable (SNR < {MIN_SNR_DB:g} dB or colour < {MIN_PULSE_COLOUR:g})")
    if reference_hr is not None and first is not None:
        ax.plot(first.hr_times, reference_hr, color="k", lw=1.5, label="ground truth")
    ax.set_ylabel("HR (bpm)")
    ax.set_ylim(60 * HR_BAND[0] - 3, 60 * HR_BAND[1] + 3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small", ncols=3)

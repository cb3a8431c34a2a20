"""The steps' own figures: inverse masks and the attention sources' |r| (notebook 04), and the
reproduction's attention vs inverse attention and two of the release's bugs (notebook 07).

The core's figures (traces of pulses and estimates over time, attention masks) are in
:mod:`rppg_lib.plots`. Figures are ``matplotlib.figure.Figure`` objects in the suite's style
(shown by returning them from a notebook cell, saved with :func:`rppg_lib.run.report.save_figure`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.signal
from matplotlib.figure import Figure

from rppg_lib.constants import HR_BAND
from rppg_lib.figure_style import COLORS, style_context
from rppg_lib.inverse_attention import normalize_masks
from rppg_lib.plots import CHANNEL_COLORS, CHANNELS
from rppg_lib.signals import butter_bandpass
from rppg_lib.steps.inverse_attention_noise import MIN_INTERVAL_SUBJECTS
from rppg_lib.steps.reproduce_benefit_of_distraction.sample import RELEASE_FS, VIDEO_FPS
from rppg_lib.validation import as_array, as_signal, check_fs, check_positive, check_positive_int

__all__ = [
    "plot_inverse_masks",
    "plot_source_comparison",
    "plot_attention_and_inverse",
    "plot_release_bugs",
]


def plot_attention_and_inverse(
    masks: np.ndarray, inverse: np.ndarray, conditioned: np.ndarray, fs: float
) -> Figure:
    """Top: the attention mask averaged over time (sigmoid), and the binary inverse mask averaged
    over time (the fraction of frames in which each pixel counts as ignored). Bottom: the
    conditioned R, G, B corruption estimates (T, 3) against time (s), offset for legibility.

    masks, inverse: (T, H, W); conditioned: (T', 3) at ``fs`` Hz (T' may differ from T, e.g.
    the recorded frames only)."""
    attention = as_array(masks, "masks", ndim=3)
    inv = as_array(inverse, "inverse", ndim=3)
    if inv.shape != attention.shape:
        raise ValueError(f"inverse has shape {inv.shape}, masks {attention.shape}")
    est = as_array(conditioned, "conditioned", ndim=2)
    if est.shape[1] != 3:
        raise ValueError(f"conditioned must be (T, 3) R, G, B, got shape {est.shape}")
    t = np.arange(est.shape[0]) / check_fs(fs)
    with style_context():
        fig = Figure(figsize=(6.0, 4.2), layout="constrained")
        grid = fig.add_gridspec(2, 2, height_ratios=[1.1, 1.0])
        for col, (image, title, label) in enumerate((
            (attention.mean(axis=0), "attention (gate 1), mean", "sigmoid"),
            (inv.mean(axis=0), "inverse mask (τ = 0.1), mean", "fraction of frames"),
        )):
            ax = fig.add_subplot(grid[0, col])
            im = ax.imshow(image, cmap="inferno", vmin=0, vmax=max(float(image.max()), 1e-9))
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, shrink=0.85, label=label)
        ax = fig.add_subplot(grid[1, :])
        spacing = 1.2 * float(np.abs(est).max())
        for c in range(3):
            ax.plot(t, est[:, c] - c * spacing, color=CHANNEL_COLORS[c], lw=0.9, label=CHANNELS[c])
        ax.set_yticks([])
        ax.set_ylim(-2 * spacing - 0.6 * spacing, 0.9 * spacing)  # room for the legend on top
        ax.set_xlim(t[0], t[-1])
        ax.set_xlabel("time (s)")
        ax.set_ylabel("corruption estimate\n(z-score, offset)")
        ax.legend(loc="upper right", ncols=3)
    return fig


def _gain_curve(fs_design: float, band: tuple[float, float], freqs: np.ndarray,
                true_fs: float) -> np.ndarray:
    b, a = butter_bandpass(fs_design, band[0], band[1], order=1)
    _, h = scipy.signal.freqz(b, a, worN=freqs, fs=true_fs)
    return np.abs(h) ** 2


def plot_release_bugs(
    padded: np.ndarray,
    unpadded: np.ndarray,
    *,
    true_fs: float = VIDEO_FPS,
    assumed_fs: float = RELEASE_FS,
    band: tuple[float, float] = HR_BAND,
    hr_bpm: float | None = None,
    tail_s: float = 8.0,
) -> Figure:
    """Left: the zero-phase gain of the order-1 band-pass designed at ``assumed_fs`` (the
    release) and at ``true_fs`` (fixed), on data at ``true_fs``, against frequency in bpm, with
    the true HR marked. Right: the last ``tail_s`` seconds of a conditioned estimate with the
    release's zero padding (``padded``, (T + k,)) and without (``unpadded``, (T,)), one sample
    per frame, against the video's time (frame / ``true_fs``)."""
    true_fs = check_fs(true_fs, "true_fs")
    assumed_fs = check_fs(assumed_fs, "assumed_fs")
    pad = as_signal(padded, "padded")
    rec = as_signal(unpadded, "unpadded")
    if pad.size <= rec.size:
        raise ValueError(f"padded ({pad.size}) must be longer than unpadded ({rec.size})")
    freqs = np.linspace(0.1, min(4.0, true_fs / 2), 400)
    with style_context():
        fig = Figure(figsize=(6.0, 2.4), layout="constrained")
        left, right = fig.subplots(1, 2)
        for fs_design, label, color in ((assumed_fs, f"designed at {assumed_fs:g} Hz (release)",
                                         COLORS[1]),
                                        (true_fs, f"designed at {true_fs:g} Hz (fixed)",
                                         COLORS[0])):
            left.plot(60 * freqs, _gain_curve(fs_design, band, freqs, true_fs), color=color,
                      label=label)
        if hr_bpm is not None:
            left.axvline(hr_bpm, color="0.4", lw=0.8, ls="--", label=f"true HR {hr_bpm:.0f} bpm")
        left.set_xlabel(f"frequency (bpm) of a {true_fs:g} fps video")
        left.set_ylabel("zero-phase gain |H|²")
        left.set_ylim(0, 1.35)  # room for the legend above the curves
        left.legend(loc="upper right", fontsize=6)
        n_tail = int(round(tail_s * true_fs))
        t_pad = np.arange(pad.size) / true_fs
        t_rec = np.arange(rec.size) / true_fs
        start = max(0, pad.size - n_tail)
        right.plot(t_pad[start:], pad[start:], color=COLORS[1], label="zero-padded (release)")
        right.plot(t_rec[start:], rec[start:], color=COLORS[0], label="recorded frames only")
        right.axvline(rec.size / true_fs, color="0.4", lw=0.8, ls="--")
        right.set_xlabel("time (s)")
        right.set_ylabel("conditioned estimate (z)")
        right.legend(loc="upper left", fontsize=6)
    return fig


def plot_inverse_masks(
    crops: np.ndarray,
    masks: np.ndarray,
    inverse: np.ndarray,
    fs: float,
    *,
    n: int = 4,
) -> Figure:
    """For ``n`` evenly spaced frames: the network's crop on the mask grid (top), the normalised
    attention A' (middle) and the inverse mask M (bottom), each titled with its time (s).

    crops: (T, H, W, 3) in [0, 1] (``PreprocessedClip.mask_frames``); masks: (T, H, W) gate-1
    attention; inverse: (T, H, W) inverse masks (``CorruptionEstimates.inverse_masks``); fs: frame
    rate in Hz. The title of the bottom row gives the mean share of the grid in the inverse region.
    """
    normalised = normalize_masks(masks)
    inv = np.asarray(inverse, dtype=np.float32)
    if not len(crops) == normalised.shape[0] == inv.shape[0]:
        raise ValueError(f"crops, masks and inverse differ in frames: {len(crops)}, "
                         f"{normalised.shape[0]}, {inv.shape[0]}")
    fs = check_positive(fs, "fs")
    count = min(check_positive_int(n, "n"), inv.shape[0])
    chosen = np.linspace(0, inv.shape[0] - 1, count).round().astype(int)
    with style_context():
        fig = Figure(figsize=(1.25 * count + 0.9, 3.9), layout="constrained")
        axes = fig.subplots(3, count, squeeze=False)
        for col, t in enumerate(chosen):
            axes[0, col].imshow(np.clip(np.asarray(crops[t], dtype=np.float32), 0.0, 1.0))
            axes[0, col].set_title(f"{t / fs:.1f} s", fontsize=8)
            attended = axes[1, col].imshow(normalised[t], cmap="inferno", vmin=0, vmax=1)
            ignored = axes[2, col].imshow(inv[t], cmap="gray", vmin=0, vmax=1)
            for ax in axes[:, col]:
                ax.set_xticks([])
                ax.set_yticks([])
        axes[0, 0].set_ylabel("crop")
        axes[1, 0].set_ylabel("attention A'")
        axes[2, 0].set_ylabel("inverse M")
        fig.colorbar(attended, ax=axes[1, :].tolist(), shrink=0.8)
        fig.colorbar(ignored, ax=axes[2, :].tolist(), shrink=0.8)
        fig.suptitle(f"inverse region: {100 * float(inv.mean()):.0f} % of the grid on average",
                     fontsize=9)
    return fig


def plot_source_comparison(comparison: pd.DataFrame) -> Figure:
    """One panel per attention source: mean |r| with the injected light per channel of the
    inverse region and of the attended region, with their 95 % intervals as bars where there are
    enough subjects (:func:`source_comparison` rows)."""
    if comparison.empty:
        raise ValueError("comparison is empty: nothing to plot")
    sources = list(dict.fromkeys(comparison["source"]))
    with style_context():
        fig = Figure(figsize=(2.3 * len(sources) + 0.4, 2.8), layout="constrained")
        axes = fig.subplots(1, len(sources), sharey=True, squeeze=False)[0]
        for ax, source in zip(axes, sources, strict=True):
            rows = comparison[comparison["source"] == source].reset_index(drop=True)
            x = np.arange(len(rows))
            for offset, (column, label, color) in zip((-0.2, 0.2), (
                    ("r_inverse", "inverse region", COLORS[0]),
                    ("r_attention", "attended region", COLORS[1])), strict=True):
                ax.bar(x + offset, rows[column], width=0.4, color=color, label=label)
                low = (rows[column] - rows[f"{column}_low"]).to_numpy(float)
                high = (rows[f"{column}_high"] - rows[column]).to_numpy(float)
                shown = np.isfinite(low) & np.isfinite(high)  # no interval under 3 subjects
                ax.errorbar((x + offset)[shown], rows[column][shown], fmt="none", ecolor="black",
                            yerr=np.vstack([low, high])[:, shown], capsize=2, linewidth=0.8)
            ax.set_xticks(x, rows["channel"])
            ax.set_ylim(0, 1)
            n, clips = rows["n_subjects"].iloc[-1], rows["n_clips"].iloc[-1]
            note = "" if n >= MIN_INTERVAL_SUBJECTS else ", no CI"
            ax.set_title(f"{source}: n = {n} subjects, {clips} clips{note}", fontsize=8)
        axes[0].set_ylabel("|r| with injected light")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=7)
    return fig

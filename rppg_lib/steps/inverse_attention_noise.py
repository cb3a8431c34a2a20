"""Notebook ``04_inverse_attention_noise``: corruption estimates of every clip, and which region
tracks the injected illumination.

It turns the attention masks of ``03_attention_masks`` into corruption estimates per clip
(:func:`estimate_clips`, stored per clip with :func:`save_clip_estimates`) and checks, on clips
whose injected illumination is known, that the inverse-attention region tracks it better than the
attended region (:func:`region_correlation_table`, :func:`region_claim`, the paper's premise:
claim 3; :func:`region_verdicts` reads it from 95 % intervals over subjects: holds, fails or
undecided).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rppg_lib.denoiser import region_correlations
from rppg_lib.inverse_attention import (
    CHANNELS,
    CorruptionEstimates,
    corruption_estimates,
    load_estimates,
    normalize_masks,
    save_estimates,
)
from rppg_lib.metrics import standard_error
from rppg_lib.progress import progress_bar
from rppg_lib.run.report.figures import style_context
from rppg_lib.stats import paired_cluster_bootstrap, verdict_rows
from rppg_lib.steps import artifacts
from rppg_lib.steps.artifacts import ESTIMATES_STAGE, NETWORK_STAGE
from rppg_lib.training import load_checkpoint
from rppg_lib.validation import check_positive, check_positive_int

__all__ = [
    "NETWORK_LABELS",
    "trained_network",
    "save_clip_estimates",
    "load_clip_estimates",
    "estimate_clips",
    "region_correlation_table",
    "region_claim",
    "CLAIM3_STATEMENT",
    "region_verdicts",
    "MASK_VARIANTS",
    "region_claim_variants",
    "plot_inverse_masks",
]

# TrainConfig.model -> the name used in tables and figures.
NETWORK_LABELS: dict[str, str] = {
    "tscan": "TS-CAN", "can": "CAN", "mttscan": "MTTS-CAN", "custom": "network",
}


def trained_network(run_dir: str | os.PathLike) -> str:
    """The label (:data:`NETWORK_LABELS`) of the network that notebook 02 trained in ``run_dir``,
    read from the config stored in its ``best.pt``."""
    path = artifacts.artifact_path(run_dir, NETWORK_STAGE, "best.pt", must_exist=True)
    model = load_checkpoint(path, require=("config",))["config"]["model"]
    return NETWORK_LABELS.get(model, str(model))

# --- 04: corruption estimates of every clip, and which region tracks the injected light -------


def save_clip_estimates(
    run_dir: str | os.PathLike, clip_id: str, estimates: CorruptionEstimates
) -> Path:
    """Write ``artifacts/04_inverse_attention_noise/<clip_id>.npz`` (``save_estimates``)."""
    path = artifacts.artifact_path(run_dir, ESTIMATES_STAGE, f"{clip_id}.npz", must_exist=False)
    return Path(save_estimates(path, estimates))


def load_clip_estimates(run_dir: str | os.PathLike, clip_id: str) -> CorruptionEstimates:
    """The estimates of ``clip_id`` written by notebook 04 (:func:`save_clip_estimates`)."""
    path = artifacts.artifact_path(run_dir, ESTIMATES_STAGE, f"{clip_id}.npz", must_exist=True)
    return load_estimates(path)


def estimate_clips(
    attention: Mapping[str, Any],
    preprocessed: Mapping[str, Any],
    *,
    run_dir: str | os.PathLike | None = None,
    progress: bool = True,
    **options: Any,
) -> dict[str, CorruptionEstimates]:
    """Corruption estimates of every clip: {clip_id: CorruptionEstimates}.

    attention: {clip_id: object with ``masks`` (AttentionMasks, gate-1 used) and
    ``pulse_derivative`` (T,)} (``rppg_lib.steps.study.load_attention``); preprocessed: {clip_id:
    PreprocessedClip}, whose ``mask_frames`` are the network's crop on the mask grid. fs is each
    clip's own frame rate (``preprocessed[clip_id].fps``; the release assumed 30 Hz).
    options: passed to :func:`rppg_lib.inverse_attention.corruption_estimates` (kind,
    threshold, mode, lam, band, order). With ``run_dir``, each clip is also saved
    (:func:`save_clip_estimates`).
    """
    if not attention:
        raise ValueError("attention is empty: no clips to estimate")
    missing = [i for i in attention if i not in preprocessed]
    if missing:
        raise KeyError(f"clips {missing} have attention masks but no preprocessed frames")
    out = {}
    bar = progress_bar(list(attention), desc="estimates", unit="clip", disable=not progress)
    for clip_id in bar:
        att, pre = attention[clip_id], preprocessed[clip_id]
        est = corruption_estimates(
            att.masks.gate1, pre.mask_frames, att.pulse_derivative, fs=pre.fps, **options
        )
        if run_dir is not None:
            save_clip_estimates(run_dir, clip_id, est)
        out[clip_id] = est
    return out


def region_correlation_table(
    clips: Sequence[Any],
    attention: Mapping[str, Any],
    preprocessed: Mapping[str, Any],
    **options: Any,
) -> pd.DataFrame:
    """Per clip and colour channel, how closely the inverse-attention estimate and the
    attention-region estimate follow the injected illumination.

    clips: Clips whose ``extra["illumination"]`` (T, 3) holds the injected R, G, B gain
    (synthetic clips); attention: {clip_id: ClipAttention or AttentionMasks} (e.g. the
    ground-truth skin of :func:`~rppg_lib.steps.attention_masks.oracle_attention`);
    preprocessed: as for :func:`estimate_clips`. Each clip goes
    through :func:`rppg_lib.denoiser.region_correlations` (|Pearson r| after both signals are
    conditioned alike, HR band by default) with ``options`` (band, kind, threshold, mode, lam,
    order). Returns rows clip_id, subject, scenario, channel, r_inverse, r_attention.
    """
    tables = []
    for clip in clips:
        injected = clip.extra.get("illumination") if isinstance(clip.extra, dict) else None
        if injected is None:
            raise ValueError(
                f"clip {clip.clip_id} carries no injected illumination (extra['illumination']; "
                "only synthetic clips have it)"
            )
        if clip.clip_id not in attention or clip.clip_id not in preprocessed:
            raise KeyError(f"clip {clip.clip_id} lacks attention masks or preprocessed frames")
        pre = preprocessed[clip.clip_id]
        masks = attention[clip.clip_id]
        masks = getattr(masks, "masks", masks)  # a ClipAttention or its AttentionMasks
        table = region_correlations(masks.gate1, pre.mask_frames, injected, pre.fps, **options)
        table.insert(0, "scenario", clip.task)
        table.insert(0, "subject", clip.subject)
        table.insert(0, "clip_id", clip.clip_id)
        tables.append(table)
    if not tables:
        raise ValueError("clips is empty: no correlations to compute")
    return pd.concat(tables, ignore_index=True)


def region_claim(table: pd.DataFrame, *, min_difference: float = 0.2) -> dict[str, Any]:
    """Claim 3 from :func:`region_correlation_table` rows: the inverse-attention estimate tracks
    the injected illumination far better than the attended region does.

    Returns per channel the mean |r| of both regions over clips, their means over channels and
    clips (``r_inverse``, ``r_attention``), ``difference`` = r_inverse − r_attention with its
    standard error over the clip-channel pairs, ``n_clips``, ``channels_better`` (how many
    channels have the higher mean |r| in the inverse region) and ``holds``: difference >=
    ``min_difference`` (a margin on |r|, not only a sign) and every channel better.
    """
    need = {"clip_id", "channel", "r_inverse", "r_attention"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        raise ValueError(f"table must be region_correlation_table rows with columns {sorted(need)}")
    if table.empty:
        raise ValueError("table is empty: no correlations to judge")
    margin = float(min_difference)
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"min_difference must be in [0, 1), got {min_difference!r}")
    per_channel = {
        channel: {
            "r_inverse": float(group["r_inverse"].mean()),
            "r_attention": float(group["r_attention"].mean()),
        }
        for channel, group in table.groupby("channel", sort=False)
    }
    diffs = (table["r_inverse"] - table["r_attention"]).to_numpy(float)
    better = sum(v["r_inverse"] > v["r_attention"] for v in per_channel.values())
    difference = float(diffs.mean())
    return {
        "per_channel": {c: per_channel[c] for c in CHANNELS if c in per_channel},
        "r_inverse": float(table["r_inverse"].mean()),
        "r_attention": float(table["r_attention"].mean()),
        "difference": difference,
        "difference_se": standard_error(diffs),
        "n_clips": int(table["clip_id"].nunique()),
        "channels_better": int(better),
        "min_difference": margin,
        "holds": bool(difference >= margin and better == len(per_channel)),
    }


CLAIM3_STATEMENT = ("the inverse-attention region tracks the injected light better than the "
                    "attended region")


def region_verdicts(
    table: pd.DataFrame, *, scenario: str = "illumination", **options: Any
) -> pd.DataFrame:
    """Claim 3's verdict rows (keys :data:`rppg_lib.stats.VERDICT_COLUMNS`, claim "3") from
    :func:`region_correlation_table` rows: the paired |r| difference r_inverse − r_attention per
    channel and over all channels, each with its 95 % interval from a bootstrap over subjects
    (n_windows counts clip-channel pairs); the claim (``claim_verdict``) holds only when every
    row holds. options: n_resamples, seed (of the bootstrap), min_subjects (of the verdict)."""
    need = {"subject", "channel", "r_inverse", "r_attention"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns) or table.empty:
        raise ValueError(f"table must be non-empty region_correlation_table rows with columns "
                         f"{sorted(need)}")
    options = dict(options)
    verdict_options = {k: options.pop(k) for k in ("min_subjects",) if k in options}
    groups = {"all channels": table, **dict(list(table.groupby("channel", sort=False)))}
    intervals = {
        f"|r| difference (inverse - attended), {name}": paired_cluster_bootstrap(
            group["r_inverse"].to_numpy(float), group["r_attention"].to_numpy(float),
            group["subject"].to_numpy(), "mean", **options)
        for name, group in groups.items()
    }
    return pd.DataFrame(verdict_rows("3", CLAIM3_STATEMENT, scenario, intervals,
                                     **verdict_options))


# The inverse-mask options of the release and of its supplement: (kind, mode).
MASK_VARIANTS: tuple[tuple[str, str], ...] = (
    ("binary", "all_pixels"),
    ("binary", "inverse_pixels"),
    ("continuous", "all_pixels"),
    ("continuous", "inverse_pixels"),
)


def region_claim_variants(
    clips: Sequence[Any],
    attention: Mapping[str, Any],
    preprocessed: Mapping[str, Any],
    *,
    variants: Sequence[tuple[str, str]] = MASK_VARIANTS,
    min_difference: float = 0.2,
    **options: Any,
) -> pd.DataFrame:
    """Claim 3 (:func:`region_claim`) under each (kind, mode) inverse-mask option of
    ``variants`` (binary masks at the released τ = 0.1): one row per variant with kind, mode,
    r_inverse, r_attention, difference, difference_se, holds. ``options``: lam, band, order."""
    rows = []
    for kind, mode in variants:
        table = region_correlation_table(clips, attention, preprocessed, kind=kind, mode=mode,
                                         **options)
        claim = region_claim(table, min_difference=min_difference)
        rows.append({"kind": kind, "mode": mode, **{k: claim[k] for k in (
            "r_inverse", "r_attention", "difference", "difference_se", "holds")}})
    if not rows:
        raise ValueError("variants is empty")
    return pd.DataFrame(rows)


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


# --- 05: LSTM training items and the denoised clips --------------------------------------------
















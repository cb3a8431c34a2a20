"""Notebook ``04_inverse_attention_noise``: corruption estimates of every clip, and which region
tracks the injected illumination.

It turns the attention masks of ``03_attention_masks`` into corruption estimates per clip
(:func:`estimate_clips`, stored per clip with :func:`save_clip_estimates`) and checks, on clips
whose injected illumination is known, that the inverse-attention region tracks it better than the
attended region (:func:`region_correlation_table`, the paper's premise: claim 3;
:func:`region_verdicts` reads it from 95 % intervals over subjects: holds, fails or undecided;
:func:`mask_variant_table` describes it under each inverse-mask option). The same arithmetic runs
on the masks of every attention source of notebook 03 (the trained network, the released TS-CAN,
the ground-truth skin): estimates saved by source, the sources side by side with intervals over
subjects (:func:`source_comparison`), and claim 3's verdict per source (:func:`region_verdicts`
with the source as its ``level``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from rppg_lib.denoiser import region_correlations
from rppg_lib.inverse_attention import (
    CHANNELS,
    CorruptionEstimates,
    corruption_estimates,
    load_estimates,
    save_estimates,
)
from rppg_lib.progress import progress_bar
from rppg_lib.stats import paired_cluster_bootstrap, verdict_rows
from rppg_lib.steps import artifacts
from rppg_lib.steps.artifacts import (
    ATTENTION_SOURCES,
    ESTIMATES_STAGE,
    NETWORK_STAGE,
    TRAINED_SOURCE,
)
from rppg_lib.training import load_checkpoint
from rppg_lib.validation import check_choice

__all__ = [
    "NETWORK_LABELS",
    "trained_network",
    "save_clip_estimates",
    "load_clip_estimates",
    "estimate_clips",
    "region_correlation_table",
    "CLAIM3_STATEMENT",
    "region_verdicts",
    "MASK_VARIANTS",
    "mask_variant_table",
    "source_correlation_tables",
    "source_comparison",
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


def _estimates_path(run_dir: str | os.PathLike, clip_id: str, source: str, must_exist: bool
                    ) -> Path:
    name = artifacts.source_artifact(f"{clip_id}.npz", source)
    return artifacts.artifact_path(run_dir, ESTIMATES_STAGE, name, must_exist=must_exist)


def save_clip_estimates(
    run_dir: str | os.PathLike,
    clip_id: str,
    estimates: CorruptionEstimates,
    source: str = TRAINED_SOURCE,
) -> Path:
    """Write ``artifacts/04_inverse_attention_noise/<clip_id>.npz`` (``save_estimates``); the
    estimates of another attention ``source`` go to ``<source>/<clip_id>.npz`` beside it."""
    return Path(save_estimates(_estimates_path(run_dir, clip_id, source, False), estimates))


def load_clip_estimates(
    run_dir: str | os.PathLike, clip_id: str, source: str = TRAINED_SOURCE
) -> CorruptionEstimates:
    """The estimates of ``clip_id`` from attention ``source`` (:data:`ATTENTION_SOURCES`)
    written by notebook 04 (:func:`save_clip_estimates`)."""
    return load_estimates(_estimates_path(run_dir, clip_id, source, True))


def estimate_clips(
    attention: Mapping[str, Any],
    preprocessed: Mapping[str, Any],
    *,
    run_dir: str | os.PathLike | None = None,
    source: str = TRAINED_SOURCE,
    progress: bool = True,
    **options: Any,
) -> dict[str, CorruptionEstimates]:
    """Corruption estimates of every clip: {clip_id: CorruptionEstimates}.

    attention: {clip_id: object with ``masks`` (AttentionMasks, gate-1 used) and
    ``pulse_derivative`` (T,)} (``rppg_lib.steps.attention_masks.load_attention``); preprocessed:
    {clip_id:
    PreprocessedClip}, whose ``mask_frames`` are the network's crop on the mask grid. fs is each
    clip's own frame rate (``preprocessed[clip_id].fps``; the release assumed 30 Hz).
    options: passed to :func:`rppg_lib.inverse_attention.corruption_estimates` (kind,
    threshold, mode, lam, band, order). With ``run_dir``, each clip is also saved
    (:func:`save_clip_estimates`) as the estimates of attention ``source``.
    """
    check_choice(source, "source", ATTENTION_SOURCES)
    if not attention:
        raise ValueError("attention is empty: no clips to estimate")
    missing = [i for i in attention if i not in preprocessed]
    if missing:
        raise KeyError(f"clips {missing} have attention masks but no preprocessed frames")
    out = {}
    bar = progress_bar(list(attention), desc=f"{source} estimates", unit="clip",
                       disable=not progress)
    for clip_id in bar:
        att, pre = attention[clip_id], preprocessed[clip_id]
        est = corruption_estimates(
            att.masks.gate1, pre.mask_frames, att.pulse_derivative, fs=pre.fps, **options
        )
        if run_dir is not None:
            save_clip_estimates(run_dir, clip_id, est, source)
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


CLAIM3_STATEMENT = ("the inverse-attention region tracks the injected light better than the "
                    "attended region")


def region_verdicts(
    table: pd.DataFrame, *, scenario: str = "illumination", level: str = "", **options: Any
) -> pd.DataFrame:
    """Claim 3's verdict rows (keys :data:`rppg_lib.stats.VERDICT_COLUMNS`, claim "3") from
    :func:`region_correlation_table` rows: the paired |r| difference r_inverse − r_attention per
    channel and over all channels, each with its 95 % interval from a bootstrap over subjects
    (n_windows counts clip-channel pairs); the claim (``claim_verdict``) holds only when every
    row holds. ``level`` names what the masks came from when several are compared (e.g. an
    attention source). options: n_resamples, seed (of the bootstrap), min_subjects (of the
    verdict)."""
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
    return pd.DataFrame(verdict_rows("3", CLAIM3_STATEMENT, scenario, intervals, level=level,
                                     **verdict_options))


# The inverse-mask options of the release and of its supplement: (kind, mode).
MASK_VARIANTS: tuple[tuple[str, str], ...] = (
    ("binary", "all_pixels"),
    ("binary", "inverse_pixels"),
    ("continuous", "all_pixels"),
    ("continuous", "inverse_pixels"),
)


def mask_variant_table(
    clips: Sequence[Any],
    attention: Mapping[str, Any],
    preprocessed: Mapping[str, Any],
    *,
    variants: Sequence[tuple[str, str]] = MASK_VARIANTS,
    **options: Any,
) -> pd.DataFrame:
    """Mean |r| with the injected illumination of the inverse and of the attended region under
    each (kind, mode) inverse-mask option of ``variants`` (binary masks at the released τ = 0.1),
    over the clip-channel pairs of :func:`region_correlation_table`: one row per variant with
    kind, mode, r_inverse, r_attention, difference (r_inverse − r_attention), n_clips. A
    description, not a verdict (that is :func:`region_verdicts`). ``options``: lam, band, order."""
    rows = []
    for kind, mode in variants:
        table = region_correlation_table(clips, attention, preprocessed, kind=kind, mode=mode,
                                         **options)
        r_inverse = float(table["r_inverse"].mean())
        r_attention = float(table["r_attention"].mean())
        rows.append({"kind": kind, "mode": mode, "r_inverse": r_inverse,
                     "r_attention": r_attention, "difference": r_inverse - r_attention,
                     "n_clips": int(table["clip_id"].nunique())})
    if not rows:
        raise ValueError("variants is empty")
    return pd.DataFrame(rows)


# --- 04: the attention sources side by side -----------------------------------------------------

MIN_INTERVAL_SUBJECTS = 3  # fewer subjects give no bootstrap interval
_SOURCE_STATS = ("r_inverse", "r_attention", "difference")


def _subject_mean_interval(values: pd.Series, subjects: pd.Series, seed: int
                           ) -> tuple[float, float, float]:
    """Mean over subjects of the per-subject means of ``values`` and its 95 % interval
    (percentile bootstrap over subjects, 2000 resamples); (mean, nan, nan) under 3 subjects."""
    means = values.groupby(subjects.to_numpy()).mean().to_numpy(float)
    if len(means) < MIN_INTERVAL_SUBJECTS:
        return float(means.mean()), float("nan"), float("nan")
    result = stats.bootstrap((means,), np.mean, confidence_level=0.95, n_resamples=2000,
                             method="percentile", rng=np.random.default_rng(seed))
    interval = result.confidence_interval
    return float(means.mean()), float(interval.low), float(interval.high)


def _source_rows(source: str, table: pd.DataFrame, seed: int) -> list[dict[str, Any]]:
    """The rows of :func:`source_comparison` for one source's correlation table."""
    table = table.assign(difference=table["r_inverse"] - table["r_attention"])
    per_clip = table.groupby(["clip_id", "subject"], as_index=False)[list(_SOURCE_STATS)].mean()
    groups = [(c, table[table["channel"] == c]) for c in CHANNELS if c in set(table["channel"])]
    rows = []
    for channel, group in [*groups, ("mean", per_clip)]:
        row: dict[str, Any] = {"source": source, "channel": channel}
        for column in _SOURCE_STATS:
            mean, low, high = _subject_mean_interval(group[column], group["subject"], seed)
            row.update({column: mean, f"{column}_low": low, f"{column}_high": high})
        row.update(n_subjects=int(group["subject"].nunique()),
                   n_clips=int(group["clip_id"].nunique()))
        rows.append(row)
    return rows


def source_correlation_tables(
    clips: Sequence[Any],
    attention_by_source: Mapping[str, Mapping[str, Any]],
    preprocessed: Mapping[str, Any],
    **options: Any,
) -> dict[str, pd.DataFrame]:
    """{source: :func:`region_correlation_table` rows} on the same clips for every source: those
    of ``clips`` that all sources with masks for any of them cover (attention_by_source:
    {source: {clip_id: ClipAttention or AttentionMasks}}); a source with none of the clips is
    left out. ``options`` as for :func:`region_correlation_table`."""
    for source in attention_by_source:
        check_choice(source, "source", ATTENTION_SOURCES)
    present = {source: attention for source, attention in attention_by_source.items()
               if any(clip.clip_id in attention for clip in clips)}
    common = [clip for clip in clips if all(clip.clip_id in a for a in present.values())]
    return {source: region_correlation_table(common, attention, preprocessed, **options)
            for source, attention in present.items() if common}


def source_comparison(tables: Mapping[str, pd.DataFrame], *, seed: int = 0) -> pd.DataFrame:
    """The attention sources side by side: how closely each source's inverse-attention estimate
    (and, for contrast, its attended region) follows the injected illumination.

    tables: {source: :func:`region_correlation_table` rows} (sources of :data:`ATTENTION_SOURCES`).
    One row per source and channel (red, green, blue, and "mean": the channels averaged per clip
    first) with r_inverse, r_attention and difference = r_inverse − r_attention (claim 3), each the
    mean over subjects of the per-subject mean |r| with its 95 % interval (``_low``, ``_high``:
    percentile bootstrap over subjects, seeded by ``seed``; NaN with fewer than 3 subjects),
    n_subjects and n_clips. A description: claim 3's verdict with each source's masks is
    :func:`region_verdicts` with ``level`` = the source.
    """
    if not tables:
        raise ValueError("tables is empty: no attention source to compare")
    need = {"clip_id", "subject", "channel", "r_inverse", "r_attention"}
    rows = []
    for source, table in tables.items():
        check_choice(source, "source", ATTENTION_SOURCES)
        if not isinstance(table, pd.DataFrame) or not need <= set(table.columns) or table.empty:
            raise ValueError(f"tables[{source!r}] must be non-empty region_correlation_table "
                             f"rows with columns {sorted(need)}")
        rows.extend(_source_rows(source, table, seed))
    return pd.DataFrame(rows)


# --- 05: LSTM training items and the denoised clips --------------------------------------------



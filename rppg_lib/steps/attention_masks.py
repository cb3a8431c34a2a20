"""Notebook ``03_attention_masks``: the masks of every clip, and where the attention lands.

``03_attention_masks`` writes one ``artifacts/03_attention_masks/<clip_id>.npz`` per clip
(:func:`save_attention`: gate-1/gate-2 masks, the pulse derivative), read back by
:func:`load_attention`. Where the attention lands is measured on synthetic clips (the only data
with exact skin masks):

* :func:`skin_on_grid`: a clip's exact skin masks as the network saw them, on a gate's grid.
* :func:`oracle_attention`: the ground-truth skin as if it were the attention mask, to check the
  inverse-attention premise with a perfect mask.
* :func:`attention_skin_fraction`: the share of gate-1 mass on skin, per clip;
* :func:`released_skin_fraction`: the share of gate-1 mass on skin of open-rppg's released
  TS-CANs (trained on the real PURE and RLAP datasets) on the same crops: what fully trained,
  published networks do, as the yardstick for the masks of a network trained here.

Besides the trained network's masks, two other attention sources can be saved per clip for the
inverse-attention step (:func:`source_attention`, :func:`save_source_attention`, read back by
:func:`load_attention` with ``source``): the released TS-CAN's masks and the ground-truth skin.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from rppg_lib.attention import (
    GATES,
    AttentionMasks,
    crop_skin_masks,
    skin_fraction,
    skin_on_mask_grid,
)
from rppg_lib.datasets import Clip, load_skin_masks
from rppg_lib.models.tscan import spatial_sizes
from rppg_lib.progress import progress_bar
from rppg_lib.steps import artifacts
from rppg_lib.steps.artifacts import (
    ATTENTION_SOURCES,
    ATTENTION_STAGE,
    SOURCES_INDEX,
    TRAINED_SOURCE,
)
from rppg_lib.steps.dataset_split import Study
from rppg_lib.validation import check_choice
from rppg_lib.weights.open_rppg import (
    OPEN_RPPG_CLIP_LENGTH,
    OPEN_RPPG_IMG_SIZE,
    load_open_rppg_tscan,
    open_rppg_inputs,
)
from rppg_lib.windows import window_starts

__all__ = [
    "skin_on_grid",
    "oracle_attention",
    "crops_at",
    "released_skin_fraction",
    "released_attention",
    "source_attention",
    "ClipAttention",
    "save_attention",
    "save_source_attention",
    "load_attention",
    "save_attention_sources",
    "load_attention_sources",
    "usable_sources",
    "save_source_masks",
    "attention_skin_fraction",
]


def skin_on_grid(
    clip: Clip, preprocessed: Any, gate: str = "gate1", img_size: int = 36
) -> np.ndarray:
    """Skin share of each cell of ``gate``'s grid per frame, (T, M, M) float32 in [0, 1].

    The exact skin masks of the synthetic ``clip`` are cropped with the preprocessing boxes of
    ``preprocessed`` (a PreprocessedClip), area-resized to the network input ``img_size`` and
    put on the grid of ``gate`` (34 x 34 for gate 1 at 36)."""
    skin = crop_skin_masks(load_skin_masks(clip), preprocessed.boxes, img_size)
    return skin_on_mask_grid(skin, gate)


def _preprocessed_of(clip: Clip, preprocessed: Mapping[str, Any]) -> Any:
    """``preprocessed[clip.clip_id]``; KeyError naming the clip when it is missing."""
    if clip.clip_id not in preprocessed:
        raise KeyError(f"clip {clip.clip_id} is not in preprocessed")
    return preprocessed[clip.clip_id]


def oracle_attention(
    clips: Sequence[Clip], preprocessed: Mapping[str, Any], img_size: int | None = None
) -> dict[str, AttentionMasks]:
    """{clip_id: AttentionMasks} whose gates are the ground-truth skin share of each cell.

    A perfect attention: 1 on skin, 0 off it (fractions at the skin's edge). Used in place of a
    network's masks, it shows what the inverse-attention estimates would be if the network
    looked at the skin only. img_size: the network input S of the grids (default: each clip's
    preprocessing size, so the masks line up with its ``mask_frames``)."""
    out = {}
    for clip in clips:
        pre = _preprocessed_of(clip, preprocessed)
        size = pre.size if img_size is None else img_size
        out[clip.clip_id] = AttentionMasks(
            gate1=skin_on_grid(clip, pre, "gate1", size),
            gate2=skin_on_grid(clip, pre, "gate2", size),
            fps=pre.fps, clip_id=clip.clip_id, img_size=size,
        )
    return out


def crops_at(clip: Clip, boxes: np.ndarray, img_size: int) -> np.ndarray:
    """The clip's frames cropped with ``boxes`` (T, 4) (x, y, w, h) and area-resized to
    ``img_size``: (T, S, S, 3) uint8 RGB."""
    if len(boxes) != clip.n_frames:
        raise ValueError(f"clip {clip.clip_id}: {len(boxes)} boxes for {clip.n_frames} frames")
    size = (img_size, img_size)
    # frames are streamed: only the small crops are held
    return np.stack([
        cv2.resize(frame[y : y + h, x : x + w], size, interpolation=cv2.INTER_AREA)
        for frame, (x, y, w, h) in zip(
            clip.iter_frames(), np.asarray(boxes, int).tolist(), strict=True
        )
    ])


def _released_gates(network: torch.nn.Module, crops: np.ndarray) -> dict[str, np.ndarray]:
    """Gate-1 (T, 34, 34) and gate-2 (T, 15, 15) masks of an open-rppg TS-CAN over a whole clip:
    160-frame windows as open-rppg runs them; a last window ending at the last frame covers the
    tail (its frames already covered keep the earlier window's masks)."""
    n = len(crops)
    starts = window_starts(n, OPEN_RPPG_CLIP_LENGTH, OPEN_RPPG_CLIP_LENGTH, tail="shift",
                           name="the open-rppg clip length")
    out: dict[str, np.ndarray] = {}
    covered = 0
    for start in starts.tolist():
        stop = start + OPEN_RPPG_CLIP_LENGTH
        x = torch.from_numpy(open_rppg_inputs(crops[start:stop]))
        with torch.no_grad():
            _, masks = network(x, return_masks=True)
        for gate in GATES:
            values = masks[gate][:, 0].numpy()
            out.setdefault(gate, np.empty((n, *values.shape[1:]), np.float32))
            out[gate][covered:stop] = values[covered - start :]
        covered = stop
    return out


def _resized(masks: np.ndarray, side: int) -> np.ndarray:
    """(T, M, M) masks bilinearly resized to (T, side, side) (unchanged when M == side)."""
    if masks.shape[1] == side:
        return masks
    return np.stack([cv2.resize(np.asarray(m, np.float32), (side, side),
                                interpolation=cv2.INTER_LINEAR) for m in masks])


def released_attention(
    clips: Sequence[Clip],
    preprocessed: Mapping[str, Any],
    weights: str | os.PathLike,
    *,
    variant: str = "pure",
    progress: bool = True,
) -> dict[str, AttentionMasks]:
    """{clip_id: AttentionMasks} of open-rppg's released TS-CAN ``variant`` on each clip's crops.

    The network sees the crops of our preprocessing (same boxes) at its own 36 x 36 input and in
    160-frame windows (:func:`released_skin_fraction`); its gates are resized bilinearly to the
    grids of the preprocessing's size S when S != 36, so the masks line up with
    ``PreprocessedClip.mask_frames`` like those of the trained network. Clips need >= 160 frames.
    """
    check_choice(variant, "variant", ("pure", "rlap"))
    network = load_open_rppg_tscan(weights, variant).eval()
    out = {}
    for clip in progress_bar(clips, desc=f"released {variant} masks", unit="clip",
                             disable=not progress):
        pre = _preprocessed_of(clip, preprocessed)
        gates = _released_gates(network, crops_at(clip, pre.boxes, OPEN_RPPG_IMG_SIZE))
        gate1, _, gate2, _ = spatial_sizes(pre.size)
        out[clip.clip_id] = AttentionMasks(
            gate1=_resized(gates["gate1"], gate1), gate2=_resized(gates["gate2"], gate2),
            fps=pre.fps, clip_id=clip.clip_id, img_size=pre.size,
        )
    return out


def source_attention(
    source: str,
    clips: Sequence[Clip],
    preprocessed: Mapping[str, Any],
    *,
    released_weights: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, AttentionMasks]:
    """{clip_id: AttentionMasks} of attention ``source`` other than the trained network (whose
    masks come with its predictions): "released" (:func:`released_attention`, PURE variant,
    needs ``released_weights``) or "oracle" (:func:`oracle_attention`, synthetic clips)."""
    check_choice(source, "source", ATTENTION_SOURCES)
    if source == TRAINED_SOURCE:
        raise ValueError("source 'trained': its masks come from predict_all(return_masks=True)")
    if source == "oracle":
        return oracle_attention(clips, preprocessed)
    if not released_weights or not Path(released_weights).is_file():
        raise FileNotFoundError(f"source 'released' needs the open-rppg weights, "
                                f"released_weights = {released_weights!r} is not a file")
    return released_attention(clips, preprocessed, released_weights, progress=progress)


def released_skin_fraction(
    clips: Sequence[Clip],
    preprocessed: Mapping[str, Any],
    weights: str | os.PathLike,
    *,
    variants: Sequence[str] = ("pure", "rlap"),
    masks: Mapping[str, Mapping[str, AttentionMasks]] | None = None,
) -> pd.DataFrame:
    """Share of gate-1 mass on skin of open-rppg's released TS-CANs on ``clips`` (synthetic).

    weights: the open-rppg wheel (or an extracted ``TSCAN.<variant>.weights.h5``, then one
    variant). Each network sees the crops of our preprocessing (same boxes) resized to its 36 x 36
    input, with its own input convention (:func:`rppg_lib.weights.open_rppg_inputs`). masks:
    {variant: {clip_id: AttentionMasks}} already computed (:func:`released_attention`), used
    instead of running the network again. One row per (variant, clip): variant, clip_id,
    scenario, fraction, chance, lift (as :func:`rppg_lib.attention.skin_fraction`). Clips need at
    least 160 frames.
    """
    if not clips:
        raise ValueError("clips is empty: nothing to measure")
    rows = []
    for variant in variants:
        check_choice(variant, "variant", ("pure", "rlap"))
        given = (masks or {}).get(variant, {})
        network = load_open_rppg_tscan(weights, variant).eval()
        for clip in clips:
            pre = _preprocessed_of(clip, preprocessed)
            if clip.clip_id in given:
                gate1, size = given[clip.clip_id].gate1, given[clip.clip_id].img_size
            else:
                crops = crops_at(clip, pre.boxes, OPEN_RPPG_IMG_SIZE)
                gate1, size = _released_gates(network, crops)["gate1"], OPEN_RPPG_IMG_SIZE
            share = skin_fraction(gate1, skin_on_grid(clip, pre, "gate1", size))
            rows.append({"variant": variant, "clip_id": clip.clip_id, "scenario": clip.task,
                         "fraction": share.fraction, "chance": share.chance_mean,
                         "lift": share.lift})
    return pd.DataFrame(rows)


def usable_sources(
    attention_sources: Sequence[str], *, synthetic: bool, released_weights: str | os.PathLike
) -> tuple[list[str], dict[str, str]]:
    """The sources of ``attention_sources`` (names of :data:`ATTENTION_SOURCES`) this run can
    make, in order without repeats, and {source: why not} for the others: the ground-truth skin
    needs synthetic data, the released network its weights file."""
    if isinstance(attention_sources, str) or not attention_sources:
        raise ValueError(f"attention_sources must be a non-empty list of {ATTENTION_SOURCES}, "
                         f"got {attention_sources!r}")
    for source in attention_sources:
        check_choice(source, "attention_sources entry", ATTENTION_SOURCES)
    skipped = {}
    if "oracle" in attention_sources and not synthetic:
        skipped["oracle"] = "the ground-truth skin exists for synthetic data only"
    if "released" in attention_sources and not (released_weights
                                                and Path(released_weights).is_file()):
        skipped["released"] = f"no open-rppg weights at released_weights = {released_weights!r}"
    return [s for s in dict.fromkeys(attention_sources) if s not in skipped], skipped


def save_source_masks(
    run_dir: str | os.PathLike,
    sources: Sequence[str],
    clips: Sequence[Clip],
    preprocessed: Mapping[str, Any],
    *,
    trained_ids: Sequence[str],
    released_weights: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, dict[str, AttentionMasks]]:
    """Masks of every source of ``sources`` but the trained network on ``clips``
    (:func:`source_attention`), saved per clip (:func:`save_source_attention`), and the index of
    which clips each source covers (:func:`save_attention_sources`; the trained network's are
    ``trained_ids``, saved by :func:`save_attention`). Returns {source: {clip_id: masks}}."""
    out = {}
    for source in dict.fromkeys(sources):
        if check_choice(source, "source", ATTENTION_SOURCES) == TRAINED_SOURCE:
            continue
        out[source] = source_attention(source, clips, preprocessed,
                                       released_weights=released_weights, progress=progress)
        for masks in out[source].values():
            save_source_attention(run_dir, masks, source)
    save_attention_sources(run_dir, {TRAINED_SOURCE: trained_ids,
                                     **{source: list(masks) for source, masks in out.items()}})
    return out


@dataclass
class ClipAttention:
    """What ``03_attention_masks`` keeps per clip: the attention ``masks`` and the network's
    ``pulse_derivative`` (T,) per frame (standardised pulse derivative, at ``masks.fps`` Hz)."""

    masks: AttentionMasks
    pulse_derivative: np.ndarray

    @property
    def clip_id(self) -> str:
        return self.masks.clip_id


def _mask_arrays(masks: AttentionMasks) -> dict[str, np.ndarray]:
    """The :func:`rppg_lib.attention.save_masks` fields of ``masks`` (float16 gates)."""
    return {"gate1": masks.gate1.astype(np.float16), "gate2": masks.gate2.astype(np.float16),
            "fps": np.float64(masks.fps), "clip_id": np.str_(masks.clip_id),
            "img_size": np.int64(masks.img_size)}


def save_attention(run_dir: str | os.PathLike, prediction: Any) -> Path:
    """Write ``artifacts/03_attention_masks/<clip_id>.npz`` from a ClipPrediction made with
    ``return_masks=True``: gate1 (T, M1, M1) and gate2 float16, fps, clip_id, img_size (the
    :func:`rppg_lib.attention.save_masks` fields, so ``load_masks`` reads the file too) and
    pulse_derivative (T,) float64."""
    masks, derivative = prediction.masks, prediction.pulse_derivative
    if masks is None or derivative is None:
        raise ValueError(f"prediction of clip {prediction.clip_id!r} lacks masks or a pulse "
                         "derivative; predict with return_masks=True and a pulse model")
    if len(derivative) != masks.n_frames:
        raise ValueError(f"clip {prediction.clip_id!r}: {len(derivative)} pulse samples for "
                         f"{masks.n_frames} masks")
    return artifacts.save_arrays(run_dir, ATTENTION_STAGE, masks.clip_id, **_mask_arrays(masks),
                                 pulse_derivative=np.asarray(derivative, dtype=np.float64))


def save_source_attention(run_dir: str | os.PathLike, masks: AttentionMasks, source: str) -> Path:
    """Write the masks of attention ``source`` ("released" or "oracle") beside the trained
    network's: ``artifacts/03_attention_masks/<source>/<clip_id>.npz`` (the ``save_masks``
    fields; the pulse stays the trained network's, read by :func:`load_attention`)."""
    if check_choice(source, "source", ATTENTION_SOURCES) == TRAINED_SOURCE:
        raise ValueError("source 'trained' is saved with its pulse by save_attention")
    name = artifacts.source_artifact(masks.clip_id, source)
    return artifacts.save_arrays(run_dir, ATTENTION_STAGE, name, **_mask_arrays(masks))


def load_attention(
    run_dir: str | os.PathLike, clip_id: str, source: str = TRAINED_SOURCE
) -> ClipAttention:
    """The masks of ``clip_id`` from attention ``source`` (:data:`ATTENTION_SOURCES`) with the
    trained network's pulse derivative (:func:`save_attention`, :func:`save_source_attention`):
    every source's corruption estimates come with the same pulse, the one the denoiser cleans."""
    name = artifacts.source_artifact(clip_id, source)
    trained = artifacts.load_arrays(run_dir, ATTENTION_STAGE, clip_id)
    data = trained if source == TRAINED_SOURCE else artifacts.load_arrays(
        run_dir, ATTENTION_STAGE, name)
    masks = AttentionMasks(gate1=data["gate1"], gate2=data["gate2"], fps=float(data["fps"]),
                           clip_id=str(data["clip_id"]), img_size=int(data["img_size"]))
    return ClipAttention(masks, trained["pulse_derivative"])


def save_attention_sources(
    run_dir: str | os.PathLike, sources: Mapping[str, Sequence[str]]
) -> Path:
    """Write ``artifacts/03_attention_masks/sources.json``: {source: [clip_id, ...]}, the clips
    whose masks each attention source saved (the trained source first), for notebook 04."""
    if TRAINED_SOURCE not in sources:
        raise ValueError(f"sources must hold the trained network's clips, got {sorted(sources)}")
    index = {TRAINED_SOURCE: [str(i) for i in sources[TRAINED_SOURCE]]}
    for source, clip_ids in sources.items():
        check_choice(source, "source", ATTENTION_SOURCES)
        index[source] = [str(i) for i in clip_ids]
    return artifacts.save_json(run_dir, ATTENTION_STAGE, SOURCES_INDEX, index)


def load_attention_sources(run_dir: str | os.PathLike) -> dict[str, list[str]]:
    """{source: [clip_id, ...]} written by :func:`save_attention_sources`, in the order of
    :data:`ATTENTION_SOURCES`."""
    index = artifacts.load_json(run_dir, ATTENTION_STAGE, SOURCES_INDEX)
    return {source: index[source] for source in ATTENTION_SOURCES if source in index}


def attention_skin_fraction(
    masks: Mapping[str, AttentionMasks],
    study: Study,
    preprocessed: Mapping[str, Any],
    *,
    gate: str = "gate1",
) -> pd.DataFrame:
    """Share of each clip's attention-mask mass on skin against chance (synthetic data only).

    The exact skin masks of each frame are cropped with the preprocessing boxes, resized to the
    network input and put on the gate's grid (:func:`rppg_lib.attention.skin_fraction`). One row
    per clip: clip_id, subject, scenario, split, fraction, chance, lift (fraction / chance).
    """
    if study.name != "synthetic":
        raise ValueError(f"skin masks exist only for synthetic data, not {study.name!r}")
    rows = []
    for clip_id, mask in masks.items():
        clip, pre = study.dataset[clip_id], preprocessed[clip_id]
        share = skin_fraction(mask.gate(gate), skin_on_grid(clip, pre, gate, mask.img_size))
        rows.append({"clip_id": clip_id, "subject": clip.subject, "scenario": clip.task,
                     "split": study.split_of(clip_id), "fraction": share.fraction,
                     "chance": share.chance_mean, "lift": share.lift})
    if not rows:
        raise ValueError("masks is empty: nothing to measure")
    out = pd.DataFrame(rows)
    if not np.all(np.isfinite(out["lift"])):
        bad = out.loc[~np.isfinite(out["lift"]), "clip_id"].tolist()
        raise ValueError(f"clips {bad} have no skin on the {gate} grid (chance 0)")
    return out



"""The dataset and split of a run, and the per-clip loops that the notebooks share.

Notebook ``00_synthetic_data`` builds (synthetic) or opens (real) a dataset, splits it by subject
(:func:`prepare_study`) and writes ``artifacts/00_synthetic_data/study.json``
(:meth:`Study.save`); every later notebook gets the same clips back with :func:`load_study`.
``01_preprocessing`` writes ``artifacts/01_preprocessing/index.json``
(:func:`save_preprocessed_index`), read back by :func:`load_preprocessed`.
``03_attention_masks`` writes one ``artifacts/03_attention_masks/<clip_id>.npz`` per clip
(:func:`save_attention`: gate-1/gate-2 masks, the pulse derivative), read back by
:func:`load_attention`.

The loops over clips (training sets, whole-clip prediction, windowed HR evaluation, skin share
of the attention) live here so that notebooks only call them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from rppg_lib import artifacts
from rppg_lib.attention import AttentionMasks, skin_fraction
from rppg_lib.datasets import Clip, Dataset, open_dataset
from rppg_lib.evaluation import evaluate_windows
from rppg_lib.skin_attention import skin_on_grid
from rppg_lib.validation import check_choice

__all__ = [
    "STUDY_STAGE",
    "PREPROCESS_STAGE",
    "ATTENTION_STAGE",
    "SPLITS",
    "Study",
    "prepare_study",
    "save_study",
    "load_study",
    "save_preprocessed_index",
    "load_preprocessed",
    "ground_truth_table",
    "ground_truth_signals",
    "training_sets",
    "predict_all",
    "hr_windows",
    "ClipAttention",
    "save_attention",
    "load_attention",
    "attention_skin_fraction",
]

STUDY_STAGE = "00_synthetic_data"
PREPROCESS_STAGE = "01_preprocessing"
ATTENTION_STAGE = "03_attention_masks"
SPLITS = ("train", "val", "test")
STUDY_FORMAT = 1


@dataclass
class Study:
    """A dataset split by subject: ``train``, ``val``, ``test`` are :class:`Dataset` views of
    ``dataset`` with disjoint subjects. ``name``: reader name (``"synthetic"``, ``"ubfc_rppg"``,
    ...); ``data_root``: absolute folder; ``fps``: the common frame rate in Hz (None when clips
    differ; use ``clip.fps``); ``open_kwargs``: the reader's keyword arguments; ``build``: the
    synthetic build parameters (None for real data)."""

    dataset: Dataset
    train: Dataset
    val: Dataset
    test: Dataset
    name: str
    data_root: Path
    fps: float | None
    open_kwargs: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] | None = None

    def part(self, split: str) -> Dataset:
        """The Dataset of ``split`` ("train", "val", "test") or the whole dataset ("all")."""
        check_choice(split, "split", (*SPLITS, "all"))
        return self.dataset if split == "all" else getattr(self, split)

    def clips(self, split: str = "all") -> list[Clip]:
        """Clips of ``split`` ("all", "train", "val", "test") in dataset order."""
        return list(self.part(split).clips)

    def clip_ids(self, split: str = "all") -> list[str]:
        """Clip ids of ``split`` in dataset order."""
        return [c.clip_id for c in self.clips(split)]

    def split_of(self, clip_id: str) -> str:
        """Which split ("train", "val", "test") holds ``clip_id``; KeyError for an unknown id."""
        for split in SPLITS:
            if clip_id in {c.clip_id for c in self.part(split)}:
                return split
        raise KeyError(f"clip {clip_id!r} is in no split of this study ({self.name})")

    @property
    def scenarios(self) -> list[str]:
        """The tasks (synthetic scenarios) of the dataset, in natural order."""
        return self.dataset.tasks

    def table(self) -> pd.DataFrame:
        """One row per clip: the dataset table (ids, fps, frames, s, ground truth) plus split."""
        table = self.dataset.table()
        table.insert(3, "split", [self.split_of(c) for c in table["clip_id"]])
        return table

    def save(self, run_dir: str | os.PathLike) -> Path:
        """Write this study to ``artifacts/00_synthetic_data/study.json``; returns the path."""
        return save_study(
            run_dir, dataset=self.dataset, data_root=self.data_root,
            split=(self.train, self.val, self.test), open_kwargs=self.open_kwargs,
            build=self.build,
        )


def _common_fps(dataset: Dataset) -> float | None:
    rates = {float(c.fps) for c in dataset}
    return rates.pop() if len(rates) == 1 else None


def prepare_study(
    dataset: str,
    data_root: str | os.PathLike,
    *,
    subjects: int = 8,
    scenarios: Sequence[str] = ("clean", "illumination"),
    seconds: float = 20.0,
    fps: float = 30.0,
    frame_size: int = 128,
    seed: int = 0,
    split_fractions: Sequence[float] = (0.6, 0.2, 0.2),
    open_kwargs: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> Study:
    """Build or open ``dataset`` in ``data_root`` and split it by subject.

    ``"synthetic"``: ``subjects`` x ``scenarios`` clips of ``seconds`` s at ``fps`` Hz and
    ``frame_size`` px (:func:`rppg_lib.datasets.build_synthetic_dataset`; clips already on disk
    are reused). A real reader name (see :func:`rppg_lib.datasets.open_dataset`): the dataset is
    opened with ``open_kwargs`` and the synthetic arguments are not used. The subjects are split
    into train/val/test by ``split_fractions`` (shuffled with ``seed``).
    """
    root = Path(data_root).resolve()
    kwargs = dict(open_kwargs or {})
    build = None
    if dataset == "synthetic":
        if kwargs:
            raise ValueError(
                f"open_kwargs {sorted(kwargs)} are for real datasets; the synthetic dataset is "
                "set by subjects, scenarios, seconds, fps, frame_size and seed"
            )
        build = {"subjects": subjects, "scenarios": list(scenarios), "seconds": seconds,
                 "fps": fps, "size": frame_size, "seed": seed}
        data = open_dataset("synthetic", root, progress=progress, **build)
    else:
        data = open_dataset(dataset, root, **kwargs)
    train, val, test = data.split_by_subject(tuple(split_fractions), seed)
    return Study(data, train, val, test, data.name, root, _common_fps(data), kwargs, build)


def save_study(
    run_dir: str | os.PathLike,
    *,
    dataset: Dataset,
    data_root: str | os.PathLike,
    split: Sequence[Dataset] | Mapping[str, Dataset],
    open_kwargs: Mapping[str, Any] | None = None,
    build: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``study.json`` (artifact of ``00_synthetic_data``): reader name, absolute
    ``data_root``, ``open_kwargs``, synthetic ``build`` parameters, fps, and per split its subject
    ids and clip ids. ``split``: (train, val, test) Datasets or a mapping with those keys."""
    parts = dict(zip(SPLITS, split, strict=True)) if not isinstance(split, Mapping) else split
    if set(parts) != set(SPLITS):
        raise ValueError(f"split must have the parts {SPLITS}, got {sorted(parts)}")
    known = {c.clip_id for c in dataset}
    seen: dict[str, str] = {}
    for name in SPLITS:
        for clip in parts[name]:
            if clip.clip_id not in known:
                raise ValueError(f"split {name} holds clip {clip.clip_id!r}, not in the dataset")
            if clip.clip_id in seen:
                first = seen[clip.clip_id]
                raise ValueError(f"clip {clip.clip_id!r} is in both {first} and {name}")
            seen[clip.clip_id] = name
    content = {
        "format": STUDY_FORMAT,
        "dataset": dataset.name,
        "data_root": str(Path(data_root).resolve()),
        "open_kwargs": dict(open_kwargs or {}),
        "build": None if build is None else dict(build),
        "fps": _common_fps(dataset),
        "split": {name: parts[name].subjects for name in SPLITS},
        "clips": {name: [c.clip_id for c in parts[name]] for name in SPLITS},
    }
    return artifacts.save_json(run_dir, STUDY_STAGE, "study", content)


def load_study(run_dir: str | os.PathLike) -> Study:
    """The study written by ``00_synthetic_data`` in ``run_dir``: the dataset re-opened read-only
    (a synthetic one is read, never rebuilt) and split exactly as recorded. ValueError when a
    recorded clip is no longer in the dataset (e.g. ``data_root`` was rebuilt differently)."""
    info = artifacts.load_json(run_dir, STUDY_STAGE, "study")
    if info.get("format") != STUDY_FORMAT:
        raise ValueError(f"study.json of {run_dir} has format {info.get('format')!r}, expected "
                         f"{STUDY_FORMAT}; rerun notebook {STUDY_STAGE}")
    root = Path(info["data_root"])
    kwargs = info["open_kwargs"] if info["dataset"] != "synthetic" else {}
    data = open_dataset(info["dataset"], root, **kwargs)
    by_id = {c.clip_id: c for c in data}
    parts = []
    for name in SPLITS:
        missing = [i for i in info["clips"][name] if i not in by_id]
        if missing:
            raise ValueError(
                f"the {name} clips {missing} of {run_dir}'s study are not in {info['dataset']} at "
                f"{root}; rerun notebook {STUDY_STAGE}"
            )
        parts.append(Dataset([by_id[i] for i in info["clips"][name]], data.name, root))
    return Study(data, *parts, data.name, root, info["fps"], dict(info["open_kwargs"]),
                 info["build"])


def save_preprocessed_index(run_dir: str | os.PathLike, index: Any) -> Path:
    """Write ``index.json`` (artifact of ``01_preprocessing``): {clip_id: cache folder}.

    index: a :class:`~rppg_lib.preprocess.PreprocessedDataset`, or a mapping of clip id to a
    PreprocessedClip or a folder. Every clip must live in a cache folder (preprocess with
    ``cache_dir``)."""
    items = {c.clip_id: c for c in index.clips} if hasattr(index, "clips") else dict(index)
    if not items:
        raise ValueError("index is empty: no preprocessed clips to record")
    folders = {}
    for clip_id, value in items.items():
        folder = getattr(value, "path", value)
        if folder is None:
            raise ValueError(f"clip {clip_id!r} was preprocessed in memory; give a cache_dir")
        folders[str(clip_id)] = str(Path(folder).resolve())
    return artifacts.save_json(run_dir, PREPROCESS_STAGE, "index", folders)


def load_preprocessed(
    run_dir: str | os.PathLike, clip_ids: Sequence[str] | None = None
) -> dict[str, Any]:
    """{clip_id: PreprocessedClip} (memory-mapped) of ``01_preprocessing``, for ``clip_ids`` (in
    that order) or all clips. KeyError names clip ids that were not preprocessed."""
    from rppg_lib.preprocess import PreprocessedClip

    index = artifacts.load_json(run_dir, PREPROCESS_STAGE, "index")
    wanted = list(index) if clip_ids is None else [str(i) for i in clip_ids]
    missing = [i for i in wanted if i not in index]
    if missing:
        raise KeyError(f"clips {missing} were not preprocessed in {run_dir}; rerun notebook "
                       f"{PREPROCESS_STAGE}")
    return {i: PreprocessedClip.open(index[i]) for i in wanted}


def ground_truth_table(study: Study) -> pd.DataFrame:
    """One row per clip: clip_id, subject, scenario, split, seconds, and the ground-truth heart
    rate at the frames (hr_mean, hr_min, hr_max in bpm; NaN where the dataset has no HR)."""
    rows = []
    for clip in study.clips():
        hr = clip.hr_at_frames() if clip.hr is not None else np.full(1, np.nan)
        rows.append({"clip_id": clip.clip_id, "subject": clip.subject, "scenario": clip.task,
                     "split": study.split_of(clip.clip_id), "seconds": clip.duration,
                     "hr_mean": float(np.mean(hr)), "hr_min": float(np.min(hr)),
                     "hr_max": float(np.max(hr))})
    return pd.DataFrame(rows)


def ground_truth_signals(clip: Clip) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The ground truth a clip has, at its frame times: ({label: (T,) values}, {label: unit})
    for "BVP" (a.u.), "respiration" (a.u.) and "heart rate" (bpm), each only where known."""
    signals: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for label, name, unit in (("BVP", "bvp", "a.u."), ("respiration", "resp", "a.u."),
                              ("heart rate", "hr", "bpm")):
        if getattr(clip, name) is not None:
            signals[label] = clip.at_frames(getattr(clip, name))
            units[label] = unit
    if not signals:
        raise ValueError(f"clip {clip.clip_id} has no ground truth")
    return signals, units


def training_sets(study: Study, preprocessed: Mapping[str, Any], config: Any) -> tuple:
    """``(train_set, val_set, validate)`` for :func:`rppg_lib.training.train`: chunks of
    ``config.chunk_length`` frames of the training clips and of the validation clips, and the
    validation HR MAE (bpm, :func:`rppg_lib.inference.hr_validator`). val_set and validate are
    None when the study has no validation clips."""
    from rppg_lib.inference import hr_validator
    from rppg_lib.training import chunks_from_clips

    depth = None if config.model == "can" else config.model_kwargs.get("frame_depth", 10)
    targets = "pulse+resp" if config.model == "mttscan" else "pulse"

    def clips_of(split: str) -> list:
        missing = [i for i in study.clip_ids(split) if i not in preprocessed]
        if missing:
            raise KeyError(f"{split} clips {missing} are not in preprocessed")
        return [preprocessed[i] for i in study.clip_ids(split)]

    def chunked(clips: list):
        return chunks_from_clips(clips, config.chunk_length, frame_depth=depth,
                                 hop=config.chunk_hop, targets=targets)

    train_clips, val_clips = clips_of("train"), clips_of("val")
    if not train_clips:
        raise ValueError("the study's train split is empty")
    if not val_clips:
        return chunked(train_clips), None, None
    return chunked(train_clips), chunked(val_clips), hr_validator(val_clips)


def predict_all(
    model: Any,
    preprocessed: Mapping[str, Any],
    *,
    return_masks: bool = False,
    progress: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    """{clip_id: :class:`~rppg_lib.inference.ClipPrediction`} of ``model`` on every clip of
    ``preprocessed`` (whole clips, :func:`rppg_lib.inference.predict_clip` with ``kwargs``)."""
    from rppg_lib.inference import predict_clip

    if not preprocessed:
        raise ValueError("preprocessed is empty: nothing to predict")
    return {
        clip_id: predict_clip(model, clip, return_masks=return_masks, **kwargs)
        for clip_id, clip in tqdm(preprocessed.items(), desc="predict", unit="clip",
                                  disable=not progress)
    }


def hr_windows(
    estimates: Mapping[str, np.ndarray],
    study: Study,
    *,
    window_s: float = 10.0,
    method: str = "TS-CAN",
    **kwargs: Any,
) -> pd.DataFrame:
    """Per-window heart rates of pulse ``estimates`` ({clip_id: (T,) at the clip's fps}) against
    each clip's ground-truth BVP (:func:`rppg_lib.evaluation.evaluate_windows`, ``window_s`` s,
    ``kwargs`` passed on). One row per window with clip_id, subject, scenario, split, method and
    the protocol's columns (hr_estimate, hr_reference, abs_error in bpm, snr_db, wmae)."""
    rows = []
    for clip_id, estimate in estimates.items():
        clip = study.dataset[clip_id]
        table = evaluate_windows(np.asarray(estimate, dtype=np.float64), clip.fps,
                                 reference_waveform=clip.bvp_at_frames(), window_s=window_s,
                                 **kwargs)
        table.insert(0, "method", method)
        table.insert(0, "split", study.split_of(clip_id))
        table.insert(0, "scenario", clip.task)
        table.insert(0, "subject", clip.subject)
        table.insert(0, "clip_id", clip_id)
        rows.append(table)
    if not rows:
        raise ValueError("estimates is empty: nothing to evaluate")
    return pd.concat(rows, ignore_index=True)


@dataclass
class ClipAttention:
    """What ``03_attention_masks`` keeps per clip: the attention ``masks`` and the network's
    ``pulse_derivative`` (T,) per frame (standardised pulse derivative, at ``masks.fps`` Hz)."""

    masks: AttentionMasks
    pulse_derivative: np.ndarray

    @property
    def clip_id(self) -> str:
        return self.masks.clip_id


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
    return artifacts.save_arrays(
        run_dir, ATTENTION_STAGE, masks.clip_id, gate1=masks.gate1.astype(np.float16),
        gate2=masks.gate2.astype(np.float16), fps=np.float64(masks.fps),
        clip_id=np.str_(masks.clip_id), img_size=np.int64(masks.img_size),
        pulse_derivative=np.asarray(derivative, dtype=np.float64),
    )


def load_attention(run_dir: str | os.PathLike, clip_id: str) -> ClipAttention:
    """The masks and pulse derivative of ``clip_id`` written by :func:`save_attention`."""
    data = artifacts.load_arrays(run_dir, ATTENTION_STAGE, clip_id)
    masks = AttentionMasks(gate1=data["gate1"], gate2=data["gate2"], fps=float(data["fps"]),
                           clip_id=str(data["clip_id"]), img_size=int(data["img_size"]))
    return ClipAttention(masks, data["pulse_derivative"])


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

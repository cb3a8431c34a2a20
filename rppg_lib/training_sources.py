"""Training data for :func:`rppg_lib.training.train`: chunks of the training clips, chunks of the
validation clips and the validation heart-rate MAE (:func:`training_sets`), from preprocessed
clips or from a dataset on disk (subject-wise split, cached preprocessing:
:func:`prepare_splits`, :func:`dataset_training_data`).

Used by ``python -m rppg_lib.train`` for ``data: {kind: dataset, ...}`` and by notebook
``02_train_tscan``. It sits above :mod:`rppg_lib.training` and :mod:`rppg_lib.network_inference`
because
the validation needs whole-clip prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from rppg_lib.constants import FRAME_DEPTH
from rppg_lib.datasets import open_dataset
from rppg_lib.network_inference import hr_validator
from rppg_lib.preprocess import PreprocessConfig, preprocess_dataset
from rppg_lib.training.chunks import ChunkDataset, chunks_from_clips
from rppg_lib.training.train_config import TrainConfig

__all__ = ["training_sets", "preprocess_config_for", "prepare_splits", "dataset_training_data"]

DATA_KEYS = {"kind", "name", "root", "options", "preprocess", "cache_dir", "split", "split_seed",
             "workers"}


def preprocess_config_for(config: TrainConfig, overrides: dict[str, Any] | None = None):
    """The :class:`~rppg_lib.preprocess.PreprocessConfig` that feeds the model of ``config``:
    input size, temporal-shift segment and chunk length taken from the training config
    (``overrides`` may set them only to the same values), other fields from ``overrides``."""
    if config.model == "lstm":
        raise ValueError("model = 'lstm' trains on corruption estimates, not on video clips")
    kwargs = config.model_kwargs
    derived = {
        "size": kwargs.get("img_size", 36),
        "frame_depth": kwargs.get("frame_depth", FRAME_DEPTH),
        "chunk_length": config.chunk_length,
    }
    values = dict(overrides or {})
    for key, value in derived.items():
        if key in values and values[key] != value:
            raise ValueError(
                f"data.preprocess.{key} = {values[key]!r} contradicts the training config "
                f"({value!r}); leave it out"
            )
        values[key] = value
    return PreprocessConfig.from_dict(values)


def prepare_splits(
    data: dict[str, Any], config: TrainConfig, base: Path | None = None, *, progress: bool = True
) -> tuple[list, list, list]:
    """Open the dataset of the ``data`` section, split it by subject and preprocess each part.

    data: ``name``, ``root`` (relative to ``base``), ``options`` (keyword arguments of
    :func:`rppg_lib.datasets.open_dataset`), ``preprocess`` (PreprocessConfig fields),
    ``cache_dir``, ``split`` (train/val/test subject shares, default [0.6, 0.2, 0.2]),
    ``split_seed`` (default 0), ``workers`` (preprocessing processes, default 0).
    Returns lists of PreprocessedClip: (train, validation, test).
    """
    unknown = sorted(set(data) - DATA_KEYS)
    if unknown:
        raise ValueError(f"unknown keys in the data section {unknown}; known: {sorted(DATA_KEYS)}")
    for key in ("name", "root"):
        if key not in data:
            raise ValueError(f"the data section needs {key!r} (kind: dataset)")
    base = Path(".") if base is None else base
    root = base / data["root"]
    cache = data.get("cache_dir")
    cache_dir = None if cache is None else base / cache
    pcfg = preprocess_config_for(config, data.get("preprocess"))  # checked before any work
    dataset = open_dataset(data["name"], root, **(data.get("options") or {}))
    parts = dataset.split_by_subject(data.get("split", (0.6, 0.2, 0.2)), data.get("split_seed", 0))
    out = []
    for part in parts:
        if len(part) == 0:
            out.append([])
            continue
        done = preprocess_dataset(
            part, pcfg, cache_dir, workers=data.get("workers", 0), progress=progress
        )
        out.append(list(done.clips))
    return tuple(out)


def training_sets(
    train_clips: list, val_clips: list, config: TrainConfig
) -> tuple[ChunkDataset, ChunkDataset | None, Callable[[nn.Module], dict] | None]:
    """``(train_set, val_set, validate)`` for :func:`rppg_lib.training.train`: chunks of
    ``config.chunk_length`` frames of the training and validation PreprocessedClips, and the
    validation HR MAE (bpm, :func:`rppg_lib.network_inference.hr_validator`). ``val_set`` and
    ``validate`` are None without validation clips."""
    if not train_clips:
        raise ValueError("the training split is empty: give it a positive share of subjects")
    depth = None if config.model == "can" else config.model_kwargs.get("frame_depth", FRAME_DEPTH)
    targets = "pulse+resp" if config.model == "mttscan" else "pulse"

    def chunks(clips: list) -> ChunkDataset:
        return chunks_from_clips(
            clips, config.chunk_length, frame_depth=depth, hop=config.chunk_hop, targets=targets
        )

    if not val_clips:
        return chunks(train_clips), None, None
    return chunks(train_clips), chunks(val_clips), hr_validator(val_clips)


def dataset_training_data(
    data: dict[str, Any], config: TrainConfig, base: Path | None = None
) -> tuple[ChunkDataset, ChunkDataset | None, Callable[[nn.Module], dict] | None]:
    """:func:`training_sets` of the training and validation subjects of the dataset described by
    the ``data`` section (see :func:`prepare_splits`)."""
    train_clips, val_clips, _ = prepare_splits(data, config, base, progress=config.progress)
    return training_sets(train_clips, val_clips, config)

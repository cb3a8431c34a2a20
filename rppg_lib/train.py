"""Command-line training: ``python -m rppg_lib.train --config run.yaml``.

Multi-GPU / multi-node: ``torchrun --nproc_per_node=4 -m rppg_lib.train --config run.yaml``
(each process trains on its share of the chunks with DistributedDataParallel; rank 0 validates
and writes ``checkpoint_dir``). The library API is :mod:`rppg_lib.training`.

The YAML file holds the :class:`~rppg_lib.training.TrainConfig` fields at the top level and a
``data`` section saying what to train on, one of::

    data:                       # preprocessed arrays, one (inputs, targets) pair per sequence
      kind: arrays
      train: [{inputs: clip1_x.npy, targets: clip1_y.npy}, ...]   # (T, 6, S, S) and (T,)
      val: [{inputs: clip9_x.npy, targets: clip9_y.npy}]          # optional

    data:                       # a dataset read by rppg_lib.datasets, preprocessed and cached
      kind: dataset
      name: synthetic           # any name rppg_lib.datasets.open_dataset knows
      root: data/synthetic
      preprocess: {size: 36, crop: box}   # rppg_lib.preprocess.PreprocessConfig fields
      cache_dir: data/cache     # optional; preprocessed clips are reused from here
      split: [0.6, 0.2, 0.2]    # subject-wise train / validation / test shares
      split_seed: 0

With a dataset, validation also reports the heart-rate MAE (bpm) of whole validation clips, and
the best checkpoint follows it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rppg_lib.training import ChunkDataset, TrainConfig, TrainResult, build_model, train
from rppg_lib.training_sources import dataset_training_data

__all__ = ["main", "run_from_yaml", "arrays_datasets"]

log = logging.getLogger("rppg_lib.train")


def _collate_for(config: TrainConfig) -> str:
    return "stack" if config.model == "lstm" else "concat"


def arrays_datasets(
    data: dict[str, Any], config: TrainConfig, base: Path
) -> tuple[ChunkDataset, ChunkDataset | None]:
    """Training and validation chunk datasets from the ``kind: arrays`` data section; relative
    paths are read from ``base`` (the YAML file's folder). Arrays are memory-mapped."""

    def load(entries: Any, section: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[str]]:
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"data.{section} must be a list of {{inputs, targets}} entries")
        pairs, names = [], []
        for k, entry in enumerate(entries):
            if not isinstance(entry, dict) or set(entry) != {"inputs", "targets"}:
                raise ValueError(
                    f"data.{section}[{k}] must have exactly the keys inputs and targets, "
                    f"got {entry!r}"
                )
            arrays = []
            for key in ("inputs", "targets"):
                path = base / entry[key]
                if not path.is_file():
                    raise FileNotFoundError(f"data.{section}[{k}].{key}: file not found: {path}")
                arrays.append(_load_finite(path, f"data.{section}[{k}].{key}"))
            pairs.append(tuple(arrays))
            names.append(f"data.{section}[{k}] ({base / entry['targets']})")
        return pairs, names

    hop = config.chunk_hop
    collate = _collate_for(config)
    pairs, names = load(data.get("train"), "train")
    train_set = ChunkDataset(pairs, config.chunk_length, hop, collate=collate, names=names)
    val_set = None
    if data.get("val") is not None:
        pairs, names = load(data["val"], "val")
        val_set = ChunkDataset(pairs, config.chunk_length, hop, collate=collate, names=names)
    return train_set, val_set


def _load_finite(path: Path, where: str, block: int = 256) -> np.ndarray:
    """``np.load(path, mmap_mode="r")``, with ValueError naming ``where`` and the file for an
    unreadable (e.g. truncated) file or a NaN/inf value; scanned ``block`` steps at a time so
    that a memory-mapped file is never read whole into memory."""
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"{where}: {path} is not a readable .npy file: {err}") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{where}: {path} holds no numeric array")
    for start in range(0, len(array), block):
        part = np.asarray(array[start : start + block])
        bad = ~np.isfinite(part.reshape(len(part), -1)).all(axis=1)
        if bad.any():
            step = start + int(np.argmax(bad))
            raise ValueError(f"{where}: {path} holds NaN or inf at step {step} (axis 0)")
    return array


def _check_checkpoint_dir(folder: Path) -> None:
    """Create the checkpoint folder now, so that a folder that cannot be made (a file in its
    path, no permission) is named before training rather than after the first epoch."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"checkpoint_dir = {folder} cannot be created: {err}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"checkpoint_dir = {folder} is not writable")


def run_from_yaml(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainResult:
    """Train as the YAML file ``path`` says (see the module docstring); ``overrides`` replace
    config fields (e.g. ``{"epochs": 1}``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        detail = " ".join(str(err).split())
        raise ValueError(f"training config {path} is not valid YAML: {detail}") from None
    if not isinstance(values, dict) or not isinstance(values.get("data"), dict):
        raise ValueError(f"{path} must be a YAML mapping with a 'data' section")
    data = values.pop("data")
    config = TrainConfig.from_dict({**values, **(overrides or {})})
    if config.checkpoint_dir is not None and os.environ.get("RANK", "0") == "0":
        _check_checkpoint_dir(Path(config.checkpoint_dir))
    kind = data.get("kind")
    base = path.parent
    validate = None
    if kind == "arrays":
        train_set, val_set = arrays_datasets(data, config, base)
    elif kind == "dataset":

        train_set, val_set, validate = dataset_training_data(data, config, base)
    else:
        raise ValueError(f"data.kind must be 'arrays' or 'dataset', got {kind!r} in {path}")
    model = build_model(config)
    return train(model, train_set, config, val_set=val_set, validate=validate)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m rppg_lib.train``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m rppg_lib.train",
        description="Train TS-CAN / CAN / MTTS-CAN / the LSTM denoiser from a YAML config "
        "(under torchrun: distributed data parallel).",
    )
    parser.add_argument("--config", required=True, help="YAML file: TrainConfig fields + data")
    parser.add_argument("--epochs", type=int, help="override epochs")
    parser.add_argument("--checkpoint-dir", help="override checkpoint_dir")
    parser.add_argument("--device", help="override device (auto, cpu, cuda, mps)")
    parser.add_argument("--no-resume", action="store_true", help="start over (resume=False)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides: dict[str, Any] = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.checkpoint_dir is not None:
        overrides["checkpoint_dir"] = args.checkpoint_dir
    if args.device is not None:
        overrides["device"] = args.device
    if args.no_resume:
        overrides["resume"] = False
    if args.no_progress:
        overrides["progress"] = False
    try:
        result = run_from_yaml(args.config, overrides)
    except (ValueError, OSError) as err:  # a user's error: one line, no traceback
        print(f"error: {' '.join(str(err).split()) or type(err).__name__}", file=sys.stderr)
        return 2

    if result.history and os.environ.get("RANK", "0") == "0":
        last = result.history[-1]
        log.info(
            "finished %d epochs; last train_loss %.4g; best %s = %s at epoch %s; files in %s",
            len(result.history), last["train_loss"], result.monitor, result.best_value,
            result.best_epoch, result.checkpoint_dir,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

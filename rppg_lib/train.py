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

    def load(entries: Any, section: str) -> list[tuple[np.ndarray, np.ndarray]]:
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"data.{section} must be a list of {{inputs, targets}} entries")
        pairs = []
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
                arrays.append(np.load(path, mmap_mode="r"))
            pairs.append(tuple(arrays))
        return pairs

    hop = config.chunk_hop
    collate = _collate_for(config)
    train_set = ChunkDataset(load(data.get("train"), "train"), config.chunk_length, hop,
                             collate=collate)
    val_set = None
    if data.get("val") is not None:
        val_set = ChunkDataset(load(data["val"], "val"), config.chunk_length, hop, collate=collate)
    return train_set, val_set


def run_from_yaml(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainResult:
    """Train as the YAML file ``path`` says (see the module docstring); ``overrides`` replace
    config fields (e.g. ``{"epochs": 1}``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config file not found: {path}")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict) or not isinstance(values.get("data"), dict):
        raise ValueError(f"{path} must be a YAML mapping with a 'data' section")
    data = values.pop("data")
    config = TrainConfig.from_dict({**values, **(overrides or {})})
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
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
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

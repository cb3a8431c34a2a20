"""The dataset and split of a run, shared by every notebook.

Notebook ``00_synthetic_data`` builds (synthetic) or opens (real) a dataset, splits it by subject
(:func:`prepare_study`) and writes ``artifacts/00_synthetic_data/study.json``
(:func:`save_study`); every later notebook gets the same clips back with :func:`load_study`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rppg_lib.datasets import Clip, Dataset, open_dataset
from rppg_lib.steps import artifacts
from rppg_lib.steps.artifacts import STUDY_STAGE
from rppg_lib.validation import check_choice

__all__ = [
    "SPLITS",
    "Study",
    "prepare_study",
    "save_study",
    "load_study",
]

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























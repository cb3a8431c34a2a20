"""Notebook ``01_preprocessing``: where each clip's preprocessed inputs are.

:func:`save_preprocessed_index` writes ``artifacts/01_preprocessing/index.json`` (clip id ->
cache folder); later notebooks read the clips back with :func:`load_preprocessed`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rppg_lib.preprocess import PreprocessedClip
from rppg_lib.steps import artifacts
from rppg_lib.steps.artifacts import PREPROCESS_STAGE

__all__ = [
    "save_preprocessed_index",
    "load_preprocessed",
]


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
    index = artifacts.load_json(run_dir, PREPROCESS_STAGE, "index")
    wanted = list(index) if clip_ids is None else [str(i) for i in clip_ids]
    missing = [i for i in wanted if i not in index]
    if missing:
        raise KeyError(f"clips {missing} were not preprocessed in {run_dir}; rerun notebook "
                       f"{PREPROCESS_STAGE}")
    return {i: PreprocessedClip.open(index[i]) for i in wanted}



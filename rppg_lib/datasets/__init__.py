"""Datasets: one :class:`Clip` record for every source, and readers for each layout.

``open_dataset(name, root, **kwargs)`` dispatches to a reader:

=============  =======================  ==============================================
name           reader                   layout
=============  =======================  ==============================================
``ubfc_rppg``  ``ubfc.read_ubfc_rppg``  ``subjectN/vid.avi`` + ``ground_truth.txt``
``ubfc_phys``  ``ubfc.read_ubfc_phys``  ``sN/vid_sN_T1.avi`` + ``bvp_sN_T1.csv``
``pure``       ``pure.read_pure``       ``NN-MM/`` PNG frames + ``NN-MM.json``
``mmse_hr``    ``mmse.read_mmse_hr``    ``F013/T1/*.jpg`` + ``BP_mmHg.txt``
``video``      ``generic.read_video_dataset``  any video file or frame folder (+ CSV)
``synthetic``  ``synthetic.read_synthetic``    the generated dataset (``manifest.json``)
=============  =======================  ==============================================

``open_dataset("synthetic", root, subjects=…, scenarios=…, seconds=…, fps=…, size=…, seed=…)``
builds (or reuses) the synthetic dataset first. The AimaNet arrays are not clips:
:func:`load_aimanet_arrays` returns them as validated arrays. ``data/README.md`` says how to obtain
each real dataset and where to put it.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

from .aimanet import load_aimanet_arrays
from .base import Clip, Signal, uniform_times
from .collection import Dataset
from .generic import read_ground_truth_csv, read_video_dataset
from .mmse import read_mmse_hr
from .pure import read_pure
from .synthetic import load_skin_masks, read_synthetic, subject_seed, synthetic_clip_id
from .synthetic_build import build_synthetic_dataset
from .ubfc import read_ubfc_phys, read_ubfc_rppg

__all__ = [
    "Signal",
    "Clip",
    "Dataset",
    "open_dataset",
    "DATASET_READERS",
    "uniform_times",
    "read_ubfc_rppg",
    "read_ubfc_phys",
    "read_pure",
    "read_mmse_hr",
    "read_video_dataset",
    "read_ground_truth_csv",
    "read_synthetic",
    "build_synthetic_dataset",
    "load_skin_masks",
    "subject_seed",
    "synthetic_clip_id",
    "load_aimanet_arrays",
]

DATASET_READERS: dict[str, Callable[..., Dataset]] = {
    "ubfc_rppg": read_ubfc_rppg,
    "ubfc_phys": read_ubfc_phys,
    "pure": read_pure,
    "mmse_hr": read_mmse_hr,
    "video": read_video_dataset,
    "synthetic": read_synthetic,
}


def _check_kwargs(func: Callable, kwargs: dict, name: str) -> None:
    accepted = [p for p in inspect.signature(func).parameters if p != "root"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"open_dataset({name!r}) got unknown parameter(s) {unknown}; it accepts {accepted}"
        )


def open_dataset(name: str, root: str | os.PathLike, **kwargs) -> Dataset:
    """The dataset ``name`` read from ``root`` with the reader's keyword arguments ``kwargs``.

    Unknown ``name`` or keyword: ValueError listing the valid ones. For ``"synthetic"``, any build
    keyword (``subjects``, ``scenarios``, ``seconds``, ``fps``, ``size``, ``seed``, …) makes it call
    :func:`build_synthetic_dataset`, which reuses clips already on disk.
    """
    if name not in DATASET_READERS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {sorted(DATASET_READERS)}")
    if name == "synthetic" and kwargs:
        _check_kwargs(build_synthetic_dataset, kwargs, name)
        return build_synthetic_dataset(root, **kwargs)
    reader = DATASET_READERS[name]
    _check_kwargs(reader, kwargs, name)
    return reader(root, **kwargs)

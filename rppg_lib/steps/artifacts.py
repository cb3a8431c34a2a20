"""Artifacts that notebooks hand to each other inside one run directory.

Every notebook of a run writes what later notebooks need under
``<run_dir>/artifacts/<notebook stem>/`` and reads what earlier ones wrote from there, so any
notebook can also run alone (``papermill`` with the same ``run_dir``) once the notebooks before it
have run. Arrays go to ``.npz`` files, small structured data to ``.json``; all writes are atomic.
A missing artifact raises ``FileNotFoundError`` naming the notebook that makes it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rppg_lib.atomic import atomic_write_bytes, atomic_write_json
from rppg_lib.validation import check_choice

__all__ = [
    "ARTIFACTS",
    "stage_dir",
    "artifact_path",
    "save_arrays",
    "load_arrays",
    "save_json",
    "load_json",
    "ATTENTION_SOURCES",
    "TRAINED_SOURCE",
    "SOURCES_INDEX",
    "source_artifact",
]

ARTIFACTS = "artifacts"


def stage_dir(run_dir: str | os.PathLike, stage: str, *, create: bool = True) -> Path:
    """``<run_dir>/artifacts/<stage>``, created when ``create`` is true."""
    if not stage or "/" in stage or stage.startswith("."):
        raise ValueError(f"stage must be a notebook stem such as '02_train_tscan', got {stage!r}")
    folder = Path(run_dir) / ARTIFACTS / stage
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def artifact_path(run_dir: str | os.PathLike, stage: str, name: str, *, must_exist: bool) -> Path:
    """Path of artifact ``name`` of notebook ``stage``; with ``must_exist``, it must be there."""
    path = stage_dir(run_dir, stage, create=not must_exist) / name
    if must_exist and not path.exists():
        raise FileNotFoundError(
            f"artifact {path} is missing: run notebook {stage} with run_dir={run_dir} first"
        )
    return path


def save_arrays(run_dir: str | os.PathLike, stage: str, name: str, **arrays: Any) -> Path:
    """Write named arrays to ``<stage>/<name>.npz`` atomically (compressed); returns the path."""
    if not arrays:
        raise ValueError(f"no arrays given for artifact {name!r}")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{key: np.asarray(value) for key, value in arrays.items()})
    path = artifact_path(run_dir, stage, f"{name}.npz", must_exist=False)
    return atomic_write_bytes(path, buffer.getvalue())


def load_arrays(run_dir: str | os.PathLike, stage: str, name: str) -> dict[str, np.ndarray]:
    """Read ``<stage>/<name>.npz`` back as a dict of arrays."""
    path = artifact_path(run_dir, stage, f"{name}.npz", must_exist=True)
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def save_json(run_dir: str | os.PathLike, stage: str, name: str, obj: Any) -> Path:
    """Write ``obj`` to ``<stage>/<name>.json`` atomically; returns the path."""
    path = artifact_path(run_dir, stage, f"{name}.json", must_exist=False)
    return atomic_write_json(path, obj)


def load_json(run_dir: str | os.PathLike, stage: str, name: str) -> Any:
    """Read ``<stage>/<name>.json``."""
    path = artifact_path(run_dir, stage, f"{name}.json", must_exist=True)
    return json.loads(path.read_text(encoding="utf-8"))


STUDY_STAGE = "00_synthetic_data"


PREPROCESS_STAGE = "01_preprocessing"


ATTENTION_STAGE = "03_attention_masks"


ESTIMATES_STAGE = "04_inverse_attention_noise"


NETWORK_STAGE = "02_train_tscan"


DENOISER_STAGE = "05_lstm_denoising"


# Where the attention masks of notebooks 03/04 come from: the network trained in notebook 02, the
# released open-rppg TS-CAN (trained on real video), the ground-truth skin (synthetic data).
ATTENTION_SOURCES: tuple[str, ...] = ("trained", "released", "oracle")
TRAINED_SOURCE = "trained"
SOURCES_INDEX = "sources"  # <stage>/sources.json: {source: [clip_id, ...]} saved by a stage


def source_artifact(name: str, source: str) -> str:
    """Artifact ``name`` of attention ``source``: ``name`` itself for the trained network (what
    later notebooks read by default), ``<source>/<name>`` (a subfolder) for the other sources."""
    check_choice(source, "source", ATTENTION_SOURCES)
    return name if source == TRAINED_SOURCE else f"{source}/{name}"
# The optional breathing network of notebook 02 (its parameter br_model): checkpoints in this
# subfolder of NETWORK_STAGE, its respiration output per clip and what was trained (json).
BR_MODEL_DIR = "br_model"
BR_RESP = "br_resp"
BR_MODEL_INFO = "br_model"

# The BR LSTM's denoised respiration per clip, under DENOISER_STAGE.
BR_DENOISED = "denoised_br"

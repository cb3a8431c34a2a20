"""The synthetic dataset on disk: reader, file format and the per-clip cache check.

Layout written by :func:`rppg_lib.datasets.synthetic_build.build_synthetic_dataset`::

    root/manifest.json                 dataset parameters, seed rule, clip list (written last)
    root/s01_clean/video.avi           FFV1, lossless (or frames/000000.png … for odd sizes)
                  /ground_truth.csv    one row per frame (columns in GT_COLUMNS)
                  /skin_mask.npz       packed boolean skin masks (T, H, W)
                  /clip.json           generation parameters, frame count, file sizes (written last)

A clip folder is complete only when its ``clip.json`` exists and every file it lists has the
recorded size; the builder writes each clip into a temporary folder and renames it into place.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._common import read_csv_table, require_dir
from .base import Clip, Signal
from .collection import Dataset

__all__ = [
    "read_synthetic",
    "load_skin_masks",
    "subject_seed",
    "synthetic_clip_id",
    "GT_COLUMNS",
    "MANIFEST",
    "CLIP_META",
    "SYNTHETIC_FORMAT",
]

SYNTHETIC_FORMAT = 1
MANIFEST = "manifest.json"
CLIP_META = "clip.json"
GT_FILE = "ground_truth.csv"
MASK_FILE = "skin_mask.npz"
VIDEO_FILE = "video.avi"
FRAMES_DIR = "frames"
GT_COLUMNS = (
    "frame", "time", "bvp", "resp", "hr", "br",
    "face_x", "face_y", "face_w", "face_h",
    "illum_r", "illum_g", "illum_b",
    "motion_dx", "motion_dy", "motion_rot_deg", "motion_scale",
)  # fmt: skip


def subject_seed(seed: int, subject: int) -> int:
    """Seed of synthetic subject ``subject`` (1-based) in a dataset built with ``seed``.

    ``seed * 1000 + subject``: the same in every scenario, so a subject keeps its face, skin and
    physiology and only the corruption differs between scenarios.
    """
    return int(seed) * 1000 + int(subject)


def synthetic_clip_id(subject: int, scenario: str) -> str:
    """Clip id ``s03_illumination`` of subject 3 (1-based) in ``scenario``."""
    return f"s{int(subject):02d}_{scenario}"


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot parse {path} as JSON: {err}") from None


def clip_is_complete(folder: Path, params: dict | None = None) -> bool:
    """True when ``folder`` holds a finished clip (and, if given, one made with ``params``)."""
    meta_path = folder / CLIP_META
    if not meta_path.is_file():
        return False
    try:
        meta = read_json(meta_path)
    except ValueError:
        return False
    if params is not None and meta.get("params") != params:
        return False
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for rel, size in files.items():
        path = folder / rel
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def _signal(table, column: str, times: np.ndarray, unit: str) -> Signal:
    return Signal(table[column].to_numpy(), times, unit)


def _read_clip(root: Path, entry: dict) -> Clip:
    clip_id = entry["clip_id"]
    folder = root / clip_id
    if not folder.is_dir():
        raise FileNotFoundError(f"synthetic clip folder not found: {folder}")
    if not clip_is_complete(folder):
        raise ValueError(
            f"synthetic clip {folder} is incomplete or damaged (missing {CLIP_META} or a file "
            "of the wrong size); rebuild it with build_synthetic_dataset"
        )
    meta = read_json(folder / CLIP_META)
    n, fps = int(meta["n_frames"]), float(meta["fps"])
    table = read_csv_table(folder / GT_FILE)
    missing = [c for c in GT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{folder / GT_FILE} lacks columns {missing}")
    if len(table) != n:
        raise ValueError(
            f"{folder / GT_FILE} has {len(table)} rows but {CLIP_META} says {n} frames"
        )
    if np.isnan(table[list(GT_COLUMNS)].to_numpy()).any():
        raise ValueError(f"{folder / GT_FILE} holds empty or NaN cells")
    times = table["time"].to_numpy()
    source = folder / meta["video"]
    extra = {
        "scenario": meta["scenario"],
        "seed": meta["params"]["seed"],
        "params": meta["params"],
        "generator_params": meta.get("generator_params", {}),
        "br": _signal(table, "br", times, "breaths/min"),
        "illumination": table[["illum_r", "illum_g", "illum_b"]].to_numpy(),
        "motion": table[["motion_dx", "motion_dy", "motion_rot_deg", "motion_scale"]].to_numpy(),
        "skin_mask_file": folder / MASK_FILE,
    }
    return Clip(
        clip_id=clip_id,
        subject=entry["subject"],
        task=meta["scenario"],
        source=source,
        fps=fps,
        n_frames=n,
        frame_times=times,
        bvp=_signal(table, "bvp", times, "a.u."),
        resp=_signal(table, "resp", times, "a.u."),
        hr=_signal(table, "hr", times, "bpm"),
        face_boxes=table[["face_x", "face_y", "face_w", "face_h"]].to_numpy().astype(np.int64),
        extra=extra,
    )


def read_synthetic(root: str | os.PathLike) -> Dataset:
    """The synthetic dataset in ``root`` (the clips listed by its ``manifest.json``).

    Subject id ``s01``…, task = scenario, clip id ``s01_clean``. ``bvp`` and ``resp`` (a.u.) and
    ``hr`` (bpm) are sampled at the frame times; ``extra`` holds ``br`` (breaths/min Signal),
    ``illumination`` (T, 3) gains, ``motion`` (T, 4) (dx px, dy px, rotation deg, scale),
    ``scenario``, ``seed``, ``params`` and ``skin_mask_file`` (see :func:`load_skin_masks`).
    """
    root = require_dir(root, "synthetic dataset")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"synthetic dataset manifest not found: {manifest_path}; build it with "
            "build_synthetic_dataset(root, ...)"
        )
    manifest = read_json(manifest_path)
    if manifest.get("format") != SYNTHETIC_FORMAT:
        raise ValueError(
            f"{manifest_path} has format {manifest.get('format')!r}, this reader reads format "
            f"{SYNTHETIC_FORMAT}; rebuild the dataset"
        )
    if not manifest.get("complete", False):
        warnings.warn(
            f"{manifest_path}: the build that wrote it was interrupted; reading the "
            f"{len(manifest['clips'])} finished clip(s) it lists (rerun build_synthetic_dataset "
            "to finish)",
            stacklevel=2,
        )
    clips = [_read_clip(root, entry) for entry in manifest["clips"]]
    if not clips:
        raise ValueError(f"{manifest_path} lists no clips")
    return Dataset(clips, "synthetic", root)


def load_skin_masks(clip: Clip) -> np.ndarray:
    """The exact skin masks of a synthetic clip, (T, H, W) bool."""
    path = clip.extra.get("skin_mask_file")
    if path is None:
        raise ValueError(f"clip {clip.clip_id} has no skin masks (not a synthetic clip)")
    with np.load(path) as data:
        shape = tuple(int(s) for s in data["shape"])
        bits = data["packed"]
    masks = np.unpackbits(bits, axis=-1, count=shape[-1]).astype(bool)
    if masks.shape != shape or shape[0] != clip.n_frames:
        raise ValueError(f"{path}: masks of shape {masks.shape}, expected {clip.n_frames} frames "
                         f"of shape {shape[1:]}")
    return masks

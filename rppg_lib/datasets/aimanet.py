"""The AimaNet array pair: preprocessed network inputs and their pulse targets.

``input_numpy.npy``: (N, 6, S, S) channels-first, channels 0–2 the normalised frame difference
(motion), 3–5 the normalised frame (appearance); S = 36 in the release. ``output_numpy.npy``: (N,)
the BVP resampled to the frames. Loaded memory-mapped when already float32 (the release's arrays
run to gigabytes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._common import require_dir

__all__ = ["load_aimanet_arrays", "AIMANET_INPUT", "AIMANET_OUTPUT"]

AIMANET_INPUT = "input_numpy.npy"
AIMANET_OUTPUT = "output_numpy.npy"


def _load(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"AimaNet array not found: {path}")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ValueError(f"cannot read {path} as a .npy array: {err}") from None
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{path} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _check_finite(arr: np.ndarray, path: Path, chunk: int = 1024) -> None:
    # Chunked so that a memory-mapped array is never materialised whole.
    for start in range(0, arr.shape[0], chunk):
        block = np.asarray(arr[start:start + chunk])
        if not np.all(np.isfinite(block)):
            bad = np.argwhere(~np.isfinite(block))[0]
            index = (start + int(bad[0]), *map(int, bad[1:]))
            raise ValueError(f"{path} holds a non-finite value at index {index}")


def load_aimanet_arrays(
    root: str | os.PathLike, *, size: int = 36, mmap: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs (N, 6, size, size) float32, targets (N,) float32)`` from ``root``.

    Validates dimensions, the 6 channels, the spatial size, equal N, N > 0 and finiteness
    (ValueError naming the file and the offending shape or index). float32 files are memory-mapped
    read-only when ``mmap``; other dtypes are converted (a copy in memory).
    """
    root = require_dir(root, "AimaNet arrays")
    in_path, out_path = root / AIMANET_INPUT, root / AIMANET_OUTPUT
    inputs = _load(in_path, mmap)
    targets = _load(out_path, mmap)
    if inputs.ndim != 4 or inputs.shape[1:] != (6, size, size):
        raise ValueError(
            f"{in_path} must have shape (N, 6, {size}, {size}) (channels-first: motion 0-2, "
            f"appearance 3-5), got {inputs.shape}"
        )
    if targets.ndim == 2 and targets.shape[1] == 1:
        targets = targets[:, 0]
    if targets.ndim != 1:
        raise ValueError(f"{out_path} must have shape (N,), got {targets.shape}")
    if inputs.shape[0] == 0:
        raise ValueError(f"{in_path} holds zero samples")
    if inputs.shape[0] != targets.shape[0]:
        raise ValueError(
            f"{in_path} has {inputs.shape[0]} samples but {out_path} has {targets.shape[0]} "
            "targets; they must match one to one"
        )
    _check_finite(inputs, in_path)
    _check_finite(targets, out_path)
    if inputs.dtype != np.float32:
        inputs = np.asarray(inputs, dtype=np.float32)
    if targets.dtype != np.float32:
        targets = np.asarray(targets, dtype=np.float32)
    return inputs, targets

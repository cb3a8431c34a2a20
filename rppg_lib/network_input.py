"""The network input of a preprocessed clip, read lazily, and picklable references to memory maps.

Shared by training (its chunk datasets) and inference (whole-clip prediction), so neither owns the
other's types.
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np

__all__ = ["ClipFrames", "to_portable", "from_portable"]


class _FileArray:
    """A picklable reference to a C-contiguous array inside a read-only memory-mapped file.

    Pickling an ``np.memmap`` copies its data; DataLoader workers started with "spawn" (the
    default on macOS and Windows) receive the dataset pickled, so each worker would hold every
    clip in memory. The reference reopens the mapping in the worker instead.
    """

    def __init__(self, array: np.memmap) -> None:
        granularity_start = array.offset - array.offset % mmap.ALLOCATIONGRANULARITY
        mapping_address = np.frombuffer(array._mmap, dtype=np.uint8).ctypes.data
        self.filename = array.filename
        self.offset = granularity_start + array.ctypes.data - mapping_address
        self.dtype = array.dtype.str
        self.shape = array.shape

    def open(self) -> np.memmap:
        return np.memmap(self.filename, self.dtype, mode="r", offset=self.offset, shape=self.shape)


def to_portable(value: Any) -> Any:
    """A read-only memory map as a picklable file reference; any other value unchanged."""
    if (
        isinstance(value, np.memmap)
        and getattr(value, "_mmap", None) is not None
        and value.filename is not None
        and value.mode == "r"
        and value.flags.c_contiguous
    ):
        return _FileArray(value)
    return value


def from_portable(value: Any) -> Any:
    """The inverse of :func:`to_portable`: a file reference reopened as a memory map."""
    return value.open() if isinstance(value, _FileArray) else value


class ClipFrames:
    """Lazy channels-first network input of a preprocessed clip: ``frames[a:b]`` is
    ``(b-a, 6, S, S)`` float32, channels 0-2 motion, 3-5 appearance.

    Only the requested frames are read from ``motion`` and ``appearance`` (T, S, S, 3), which
    may be memory-mapped; the full (T, 6, S, S) array is never built.
    """

    def __init__(self, motion: Any, appearance: Any) -> None:
        if len(motion) != len(appearance):
            raise ValueError(
                f"motion has {len(motion)} frames but appearance has {len(appearance)}"
            )
        if np.shape(motion)[1:] != np.shape(appearance)[1:] or np.shape(motion)[-1] != 3:
            raise ValueError(
                f"motion and appearance must both be (T, S, S, 3), got {np.shape(motion)} and "
                f"{np.shape(appearance)}"
            )
        self.motion = motion
        self.appearance = appearance

    def __len__(self) -> int:
        return len(self.motion)

    def __getstate__(self) -> dict[str, Any]:
        return {"motion": to_portable(self.motion), "appearance": to_portable(self.appearance)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.motion = from_portable(state["motion"])
        self.appearance = from_portable(state["appearance"])

    @property
    def shape(self) -> tuple[int, ...]:
        t, h, w, _ = np.shape(self.motion)
        return (t, 6, h, w)

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice):
            raise TypeError(f"ClipFrames supports slices only, got {type(index).__name__}")
        both = np.concatenate(
            [np.asarray(self.motion[index]), np.asarray(self.appearance[index])], axis=-1
        )
        return np.ascontiguousarray(both.transpose(0, 3, 1, 2), dtype=np.float32)

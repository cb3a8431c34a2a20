"""Input checks shared by every stage.

Each check returns the cleaned value or raises ``ValueError`` whose message names the parameter and
the offending value, so that a wrong argument is reported where it enters the library instead of
surfacing later as NaNs or a shape error deep inside scipy.
"""

from __future__ import annotations

import math
import re
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = [
    "as_signal",
    "as_array",
    "check_fs",
    "check_band",
    "check_same_length",
    "check_positive_int",
    "check_positive",
    "check_choice",
    "show",
]


def show(value: Any) -> str:
    """``repr`` for error messages, with numpy scalars shown as plain numbers (2.5, not
    np.float64(2.5))."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _first_nonfinite(arr: np.ndarray) -> str:
    bad = np.argwhere(~np.isfinite(arr))[0]
    idx = int(bad[0]) if bad.size == 1 else tuple(int(i) for i in bad)
    return f"{show(arr[tuple(bad)])} at index {idx}"


def as_array(
    x: Any, name: str, *, ndim: int | tuple[int, ...] | None = None, min_length: int = 1
) -> np.ndarray:
    """``x`` as a finite float64 array with ``ndim`` dimensions and at least ``min_length`` rows.

    Raises ValueError naming ``name`` when ``x`` is not numeric, has the wrong number of
    dimensions, is shorter than ``min_length`` along axis 0, or holds NaN/inf.
    """
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(x).__name__}: {exc}") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must be an array, got the scalar {x!r}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if arr.shape[0] < min_length:
        raise ValueError(
            f"{name} needs at least {min_length} samples, got {arr.shape[0]} (shape {arr.shape})"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains a non-finite value: {_first_nonfinite(arr)}")
    return arr


def as_signal(x: Any, name: str = "x", *, min_length: int = 2) -> np.ndarray:
    """``x`` as a 1-D finite float64 array of at least ``min_length`` samples (a copy-free view
    where ``x`` already is one). Raises ValueError naming ``name`` otherwise."""
    return as_array(x, name, ndim=1, min_length=min_length)


def check_positive(value: Any, name: str) -> float:
    """``value`` as a finite float > 0; ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a positive number, got {show(value)}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {show(value)}")
    return v


def check_fs(fs: Any, name: str = "fs") -> float:
    """A sampling rate in Hz: finite and > 0. Returns it as float."""
    return check_positive(fs, name)


def check_band(low: Any, high: Any, fs: float, name: str = "band") -> tuple[float, float]:
    """A pass band in Hz with ``0 < low < high < fs/2``; returns ``(low, high)`` as floats."""
    fs = check_fs(fs)
    nyquist = fs / 2.0
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be two numbers in Hz, got ({show(low)}, {show(high)})"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not 0 < lo < hi < nyquist:
        raise ValueError(
            f"{name} = ({show(low)}, {show(high)}) Hz must satisfy 0 < low < high < Nyquist = "
            f"{nyquist:g} Hz (fs = {fs:g} Hz)"
        )
    return lo, hi


def check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ValueError when ``a`` and ``b`` differ in length along axis 0."""
    if len(a) != len(b):
        raise ValueError(
            f"{name_a} and {name_b} must have the same length, got {len(a)} and {len(b)}"
        )


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1 (numpy integers accepted, bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {show(value)}")
    return int(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``; ValueError listing them otherwise."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {show(value)}")
    return value


_FILE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def check_file_stem(name: Any, what: str) -> str:
    """``name`` if it is a plain file stem (letters, digits, ``_``, ``-``), else ValueError
    naming ``what`` (e.g. "figure", "table")."""
    if not isinstance(name, str) or not _FILE_STEM.fullmatch(name):
        raise ValueError(
            f"{what} name must be a file stem of letters, digits, '_' or '-' starting with a "
            f"letter or digit (no folder, no extension), got {name!r}"
        )
    return name

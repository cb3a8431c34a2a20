"""Ground-truth and frame-timing checks shared by the readers.

Bad samples and dropped frames are reported by file, column and index: either a ValueError, or
(where the caller opts in) a warning listing exactly what was dropped. Nothing is silently lost.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..validation import check_positive
from ..video_io import frame_numbers
from .base import Signal, strictly_increasing, uniform_times

__all__ = [
    "signal_from_samples",
    "numbered_frame_times",
    "check_frame_time_gaps",
    "NAN_POLICIES",
    "GAP_POLICIES",
]

NAN_POLICIES = ("raise", "drop")
GAP_POLICIES = ("raise", "warn")


def signal_from_samples(
    values: Any,
    times: Any,
    unit: str,
    *,
    source: str | os.PathLike,
    name: str,
    nan_policy: str = "raise",
) -> Signal:
    """Build a :class:`Signal` from file samples, reporting bad samples by file and column.

    NaN (or inf) values: ``nan_policy="raise"`` raises ValueError naming ``source``, ``name``, the
    count and the first indices; ``"drop"`` removes those samples (interpolation then bridges
    them) and warns with every dropped index and time. Non-finite or non-increasing ``times``
    always raise.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    values = np.asarray(values, dtype=np.float64).ravel()
    times = np.asarray(times, dtype=np.float64).ravel()
    what = f"{name} in {source}"
    if values.size != times.size:
        raise ValueError(f"{what}: {values.size} values but {times.size} time stamps")
    if values.size == 0:
        raise ValueError(f"{what} is empty")
    bad_t = np.flatnonzero(~np.isfinite(times))
    if bad_t.size:
        raise ValueError(f"{what}: time stamp {int(bad_t[0])} is {float(times[bad_t[0]])!r}")
    strictly_increasing(times, f"time stamps of {what}")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        if nan_policy == "raise":
            raise ValueError(
                f"{what} holds {bad.size} NaN/inf sample(s) at indices {_list(bad)} "
                f"(times {_list(times[bad], '{:.6g} s')}); pass nan_policy='drop' to drop them "
                "and interpolate across"
            )
        keep = np.isfinite(values)
        warnings.warn(
            f"{what}: dropped {bad.size} NaN/inf sample(s) of {values.size} at indices "
            f"{bad.tolist()} (times {[round(float(t), 6) for t in times[bad]]} s); resampling "
            "interpolates across them",
            stacklevel=2,
        )
        values, times = values[keep], times[keep]
    if values.size < 2:
        raise ValueError(f"{what} has {values.size} usable sample(s); at least 2 are needed")
    return Signal(values, times, unit, source=str(source))


def _list(arr: np.ndarray, fmt: str = "{}", limit: int = 10) -> str:
    items = [fmt.format(x) for x in np.asarray(arr).tolist()[:limit]]
    more = f", … ({len(arr) - limit} more)" if len(arr) > limit else ""
    return "[" + ", ".join(items) + more + "]"


def numbered_frame_times(
    files: Sequence[Path], fps: float, *, on_gap: str = "raise"
) -> np.ndarray:
    """Frame times (s) of numbered image files at ``fps`` Hz, checking the numbering for gaps.

    With names ending in a number (``frame_0007.png``), frame k's time is
    ``(number_k - number_0) / (step · fps)``, where ``step`` is the smallest increment. A missing
    number raises ValueError naming the files around the gap (``on_gap="raise"``) or warns with
    every missing number and keeps the frames present at their true times (``on_gap="warn"``).
    Files without numbers get ``k / fps``.
    """
    if on_gap not in GAP_POLICIES:
        raise ValueError(f"on_gap must be one of {GAP_POLICIES}, got {on_gap!r}")
    fps = check_positive(fps, "fps")
    numbers = frame_numbers(files)
    n = len(files)
    if numbers is None or n < 2:
        return uniform_times(n, fps)
    steps = np.diff(numbers)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise ValueError(
            f"frame files {files[i].name} and {files[i + 1].name} in {files[0].parent} carry "
            "the same frame number"
        )
    step = int(steps.min())
    gaps = np.flatnonzero(steps != step)
    if gaps.size:
        missing: list[int] = []
        for g in gaps:
            missing.extend(range(int(numbers[g]) + step, int(numbers[g + 1]), step))
        where = "; ".join(f"between {files[g].name} and {files[g + 1].name}" for g in gaps[:5])
        message = (
            f"frame folder {files[0].parent} has {len(missing)} missing frame(s) ({where}); "
            f"missing numbers {_list(np.asarray(missing))}"
        )
        if on_gap == "raise":
            raise ValueError(message + "; pass on_gap='warn' to keep the frames present")
        warnings.warn(
            message + f" (all: {missing}); the {n} frames present are kept at their true times",
            stacklevel=2,
        )
    return (numbers - numbers[0]).astype(np.float64) / (step * fps)


def check_frame_time_gaps(
    times: np.ndarray, files: Sequence[Path], *, on_gap: str = "raise", factor: float = 1.5
) -> None:
    """Detect dropped frames in time-stamped frames: an interval over ``factor`` × the median.

    Raises ValueError naming the files around each gap (``on_gap="raise"``) or warns listing
    them (``on_gap="warn"``; the frames present keep their time stamps).
    """
    if on_gap not in GAP_POLICIES:
        raise ValueError(f"on_gap must be one of {GAP_POLICIES}, got {on_gap!r}")
    steps = np.diff(times)
    if steps.size < 2:
        return
    median = float(np.median(steps))
    gaps = np.flatnonzero(steps > factor * median)
    if not gaps.size:
        return
    detail = "; ".join(
        f"{steps[g]:.4f} s between {files[g].name} and {files[g + 1].name} "
        f"(about {round(steps[g] / median) - 1} frame(s) missing)"
        for g in gaps
    )
    message = (
        f"frame folder {files[0].parent}: {gaps.size} gap(s) longer than {factor} × the median "
        f"frame interval {median:.4f} s: {detail}"
    )
    if on_gap == "raise":
        raise ValueError(message + "; pass on_gap='warn' to keep the frames present")
    warnings.warn(message + "; the frames present keep their time stamps", stacklevel=2)

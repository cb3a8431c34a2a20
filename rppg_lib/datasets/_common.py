"""Helpers shared by the dataset readers: folder checks, video clocks, numeric text files."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..video_io import probe_video

__all__ = [
    "require_dir",
    "video_clock",
    "read_numbers",
    "read_column",
    "read_csv_table",
    "check_no_clips",
    "check_no_blank_lines",
]


def require_dir(root: str | Path, what: str) -> Path:
    """``root`` as a Path to an existing folder; FileNotFoundError naming ``what`` otherwise."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{what} folder not found: {root}")
    if not root.is_dir():
        raise ValueError(f"{what} root must be a folder, got the file {root}")
    return root


def check_no_clips(clips: list, root: Path, what: str, expected: str) -> None:
    """ValueError when a reader found no clip under ``root``, saying what layout it expected."""
    if not clips:
        raise ValueError(f"no {what} clips found under {root}; expected {expected}")


def video_clock(
    path: Path, *, fps: float | None = None, count_frames: bool = False
) -> tuple[float, int]:
    """Frame rate (Hz) and frame count of a video file.

    ``fps`` overrides the container's rate; without it a container that gives no rate (or 0) is an
    error. ``count_frames`` decodes the file to count frames exactly.
    """
    info = probe_video(path, count_frames=count_frames)
    if fps is not None:
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) \
                or fps <= 0:
            raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}")
        return float(fps), info.n_frames
    if info.fps is None:
        raise ValueError(
            f"video {path} gives no frame rate (fps missing or 0 in its header); pass fps=..."
        )
    return info.fps, info.n_frames


_SEPARATORS = re.compile(r"[\s,;]+")


def read_numbers(path: Path, *, allow_header: bool = False) -> list[np.ndarray]:
    """Rows of a whitespace/comma separated numeric text file, one float64 array per line.

    Blank lines are skipped; a token that is not a number (``nan`` is a number) raises ValueError
    naming the file, line and token, except on the first line when ``allow_header`` (a header).
    """
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth file not found: {path}")
    rows = []
    header_seen = False
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, start=1):
            tokens = [t for t in _SEPARATORS.split(line.strip()) if t]
            if not tokens:
                continue
            try:
                rows.append(np.array([float(t) for t in tokens], dtype=np.float64))
            except ValueError:
                if allow_header and not rows and not header_seen:
                    header_seen = True
                    continue
                bad = next(t for t in tokens if not _is_float(t))
                raise ValueError(f"{path}, line {line_no}: {bad!r} is not a number") from None
    if not rows:
        raise ValueError(f"ground-truth file {path} is empty")
    return rows


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def check_no_blank_lines(path: Path) -> None:
    """ValueError naming ``path`` and the line of a blank line between data lines.

    In a file of one sample per line at a known rate, a dropped blank line would move every
    later sample one period earlier; blank lines at the start or end shift nothing.
    """
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if not filled:
        return
    blank = [i + 1 for i in range(filled[0], filled[-1]) if not lines[i].strip()]
    if blank:
        more = f" (and {len(blank) - 1} more)" if len(blank) > 1 else ""
        raise ValueError(
            f"{path}, line {blank[0]}{more}: blank line between samples; skipping it would move "
            "every later sample one sample period earlier: delete the line, or write nan there "
            "for a missing sample"
        )


def read_column(path: Path) -> np.ndarray:
    """A one-column numeric file (one value per line, optional text header) as (N,) float64.
    A blank line between values is an error (:func:`check_no_blank_lines`)."""
    rows = read_numbers(path, allow_header=True)
    check_no_blank_lines(path)
    wide = [i for i, r in enumerate(rows) if r.size != 1]
    if wide:
        raise ValueError(
            f"{path} must hold one number per line; line {wide[0] + 1} of the data holds "
            f"{rows[wide[0]].size}"
        )
    return np.concatenate(rows)


def read_csv_table(path: Path) -> pd.DataFrame:
    """A CSV file with a header row, every column numeric (ValueError naming file and column)."""
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth CSV not found: {path}")
    try:
        table = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot parse the CSV {path}: {err}") from None
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise ValueError(f"ground-truth CSV {path} has a header but no rows")
    for column in table.columns:
        converted = pd.to_numeric(table[column], errors="coerce")
        bad = converted.isna() & table[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{path}: column {column!r}, data row {row}: {table[column].iloc[row]!r} is not a "
                "number"
            )
        table[column] = converted.astype(np.float64)
    return table

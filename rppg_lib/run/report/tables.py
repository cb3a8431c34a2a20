"""Tables as CSV (full precision, for machines), LaTeX and Markdown (formatted, for papers)."""

from __future__ import annotations

import os
from collections.abc import Callable
from numbers import Real
from pathlib import Path

import numpy as np
import pandas as pd

from rppg_lib.atomic import atomic_write_text
from rppg_lib.run.report._paths import output_folder
from rppg_lib.validation import check_file_stem

__all__ = ["save_table", "markdown_table", "format_float"]

FloatFormat = str | Callable[[float], str] | None


def format_float(float_format: FloatFormat) -> Callable[[float], str]:
    """A callable formatting one float from ``float_format``.

    Accepts a %-style string (``"%.2f"``), a ``str.format`` pattern (``"{:.2f}"``), a callable,
    or ``None`` (Python's shortest round-trip repr).
    """
    if float_format is None:
        return repr
    if callable(float_format):
        return float_format
    if isinstance(float_format, str):
        fmt = float_format
        if "{" in fmt:
            formatter = fmt.format
        elif "%" in fmt:
            formatter = fmt.__mod__
        else:
            raise ValueError(
                f"float_format must look like '%.2f' or '{{:.2f}}', got {float_format!r}"
            )
        try:
            formatter(1.5)
        except (ValueError, TypeError, IndexError, KeyError) as err:
            raise ValueError(f"float_format {float_format!r} cannot format a float: {err}") from err
        return formatter
    raise ValueError(f"float_format must be a string, a callable or None, got {float_format!r}")


def _check_frame(df: pd.DataFrame) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if df.shape[1] == 0:
        raise ValueError("df has no columns: nothing to write as a table")


def _default_index(df: pd.DataFrame) -> bool:
    """Write the index only when it carries information (anything but 0..n-1)."""
    return not df.index.equals(pd.RangeIndex(len(df)))


def _cell_text(value: object, fmt: Callable[[float], str], na_rep: str) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return na_rep
    if isinstance(value, Real) and not isinstance(value, (bool, np.bool_, int, np.integer)):
        return na_rep if np.isnan(value) else fmt(float(value))
    return str(value)


def markdown_table(
    df: pd.DataFrame,
    *,
    float_format: FloatFormat = "%.2f",
    index: bool | None = None,
    na_rep: str = "",
) -> str:
    """``df`` as a GitHub/pandoc pipe table (``DataFrame.to_markdown``); numeric columns
    right-aligned.

    ``index=None`` includes the index when it is not the default 0..n-1. ``|`` in cells is
    escaped and line breaks become spaces, so every row stays on one line.
    """
    _check_frame(df)
    fmt = format_float(float_format)
    if index is None:
        index = _default_index(df)
    frame = df.reset_index() if index else df

    def clean(text: object) -> str:
        return str(text).replace("|", r"\|").replace("\r", " ").replace("\n", " ")

    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    cells = pd.DataFrame(
        [[clean(_cell_text(v, fmt, na_rep)) for v in row]
         for row in frame.itertuples(index=False, name=None)],
        columns=[clean(c) for c in frame.columns],
    )
    # The cells are already formatted: tabulate must not parse them back into numbers.
    return cells.to_markdown(
        index=False,
        tablefmt="pipe",
        disable_numparse=True,
        colalign=["right" if num else "left" for num in numeric],
    ) + "\n"


def save_table(
    df: pd.DataFrame,
    name: str,
    run_dir: str | os.PathLike | None = None,
    *,
    caption: str | None = None,
    float_format: FloatFormat = "%.2f",
    index: bool | None = None,
) -> dict[str, Path]:
    """Write ``df`` to ``<run_dir>/tables/<name>.csv``, ``.tex`` and ``.md``; returns the paths.

    The CSV keeps full precision (it is the machine-readable copy); ``float_format`` applies to
    the LaTeX and Markdown copies. ``caption`` becomes the LaTeX ``\\caption`` (with label
    ``tab:<name>``) and a pandoc ``Table:`` line in Markdown. LaTeX special characters in cells
    and headers are escaped (``%`` in ``MAPE (%)``). ``index=None`` writes the index only when it
    is not the default 0..n-1. Missing values appear as ``--`` in LaTeX and empty in Markdown.
    """
    _check_frame(df)
    check_file_stem(name, "table")
    if caption is not None and not isinstance(caption, str):
        raise ValueError(f"caption must be a string or None, got {caption!r}")
    fmt = format_float(float_format)
    if index is None:
        index = _default_index(df)
    folder = output_folder(run_dir, "tables")
    latex = df.to_latex(
        index=index,
        float_format=fmt,
        na_rep="--",
        escape=True,
        caption=caption,
        label=f"tab:{name}" if caption is not None else None,
    )
    markdown = markdown_table(df, float_format=fmt, index=index)
    if caption is not None:
        markdown += f"\nTable: {caption}\n"
    paths = {
        "csv": atomic_write_text(folder / f"{name}.csv", df.to_csv(index=index)),
        "tex": atomic_write_text(folder / f"{name}.tex", latex),
        "md": atomic_write_text(folder / f"{name}.md", markdown),
    }
    return paths

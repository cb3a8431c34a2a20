"""Figures of a run: :func:`save_figure` writes into ``<run dir>/figures/`` in the suite's style
(:mod:`rppg_lib.figure_style`: byte-reproducible PDF, SVG and PNG)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from matplotlib.figure import Figure

from rppg_lib.figure_style import COLORS, FORMATS, STYLE, style_context, use_style, write_figure
from rppg_lib.run.report._paths import output_folder

__all__ = ["COLORS", "STYLE", "FORMATS", "use_style", "style_context", "save_figure"]


def save_figure(
    fig: Figure,
    name: str,
    run_dir: str | os.PathLike | None = None,
    *,
    formats: Iterable[str] = FORMATS,
    dpi: float = 300,
) -> dict[str, Path]:
    """Write ``fig`` to ``<run_dir>/figures/<name>.<fmt>`` for each format; returns the paths
    (see :func:`rppg_lib.figure_style.write_figure`)."""
    return write_figure(fig, output_folder(run_dir, "figures"), name, formats=formats, dpi=dpi)

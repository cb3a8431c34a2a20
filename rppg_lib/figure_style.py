"""One figure style for the whole suite, and byte-reproducible figure files.

The style targets a single journal column (3.5 in wide), with 8-10 pt DejaVu Sans (bundled with
matplotlib, so every machine renders the same glyphs), TrueType fonts embedded in PDF (text stays
editable), no top/right spines and the Okabe-Ito colour-blind-safe palette.

:func:`write_figure` writes PDF, SVG and PNG without time stamps and with a fixed SVG id salt, so
that the same figure saved twice (or by two runs) gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import matplotlib as mpl
from cycler import cycler
from matplotlib.figure import Figure

from rppg_lib.atomic import atomic_write_with
from rppg_lib.validation import check_file_stem

__all__ = ["COLORS", "STYLE", "FORMATS", "use_style", "style_context", "write_figure"]

# Okabe & Ito (2008), "Color Universal Design": distinguishable with all common colour-vision
# deficiencies. Blue and vermillion first: the two most common series (e.g. estimate vs truth).
COLORS: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
)

SVG_HASHSALT = "rppg-suite"

STYLE: dict[str, object] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "figure.titlesize": 10,
    "lines.linewidth": 1.25,
    "lines.markersize": 4,
    "axes.linewidth": 0.8,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "grid.linewidth": 0.5,
    "grid.alpha": 0.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=list(COLORS)),
    "image.cmap": "viridis",  # perceptually uniform and colour-blind safe
    "legend.frameon": False,
    "figure.figsize": (3.5, 2.6),  # inches: one journal column
    "figure.dpi": 150,  # on-screen (notebook) size
    "figure.constrained_layout.use": True,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,  # TrueType, not Type 3: editable text, accepted by publishers
    "ps.fonttype": 42,
    "svg.hashsalt": SVG_HASHSALT,
}

FORMATS = ("pdf", "svg", "png")

# Metadata keys that would otherwise carry the time of saving.
_METADATA: dict[str, dict[str, None]] = {
    "pdf": {"CreationDate": None, "ModDate": None},
    "svg": {"Date": None},
    "png": {},  # matplotlib writes only "Software" (its version) into PNG text chunks
}


def use_style() -> None:
    """Apply the suite's figure style to matplotlib globally (e.g. once at a notebook's top).

    In a Jupyter kernel it also shows every matplotlib ``Figure`` that a cell returns as a PNG
    at screen size (``figure.dpi``), as pyplot's inline backend does for its own figures: the
    suite's figures are built without pyplot, so nothing else would register the display.
    """
    mpl.rcParams.update(STYLE)
    _show_figures_inline()


def _show_figures_inline() -> None:
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:  # no IPython: nothing displays figures
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    select_figure_formats(shell, {"png"}, bbox_inches="tight")
    # The text shown where images are not: what the figure holds, not its size in pixels.
    shell.display_formatter.formatters["text/plain"].for_type(
        Figure, lambda fig, printer, cycle: printer.text(f"[figure: {len(fig.axes)} axes]")
    )


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """The suite's figure style within a ``with`` block only; previous settings come back after."""
    with mpl.rc_context(STYLE):
        yield


def write_figure(
    fig: Figure,
    folder: str | os.PathLike,
    name: str,
    *,
    formats: Iterable[str] = FORMATS,
    dpi: float = 300,
) -> dict[str, Path]:
    """Write ``fig`` to ``<folder>/<name>.<fmt>`` for each format; returns the paths.

    ``formats`` is any of ``"pdf"``, ``"svg"``, ``"png"``; ``dpi`` sets the PNG resolution (dots
    per inch). Files are written atomically, without time stamps, with a tight bounding box.
    """
    if not isinstance(fig, Figure):
        raise ValueError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    check_file_stem(name, "figure")
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {formats}")
    if not dpi > 0:
        raise ValueError(f"dpi must be positive, got {dpi!r}")
    paths: dict[str, Path] = {}
    # The salt makes SVG clip-path ids depend on content only (default: a random uuid per save).
    with mpl.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        for fmt in formats:
            path = Path(folder) / f"{name}.{fmt}"
            atomic_write_with(
                path,
                lambda handle, fmt=fmt: fig.savefig(
                    handle,
                    format=fmt,
                    dpi=dpi,
                    metadata=_METADATA[fmt],
                    bbox_inches="tight",
                    pad_inches=0.02,
                ),
            )
            paths[fmt] = path
    return paths

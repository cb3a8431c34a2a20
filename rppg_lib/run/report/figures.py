"""Figures of a run: :func:`save_figure` writes into ``<run dir>/figures/`` in the suite's style
(:mod:`rppg_lib.figure_style`: byte-reproducible PDF, SVG and PNG), with a sidecar
``<name>.json`` holding the caption and whether ``index.html`` shows it among the key figures."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from matplotlib.figure import Figure

from rppg_lib.atomic import atomic_write_json
from rppg_lib.figure_style import COLORS, FORMATS, STYLE, style_context, use_style, write_figure
from rppg_lib.run.report._paths import output_folder

__all__ = [
    "COLORS", "STYLE", "FORMATS", "use_style", "style_context", "save_figure", "figure_info",
]


def save_figure(
    fig: Figure,
    name: str,
    run_dir: str | os.PathLike | None = None,
    *,
    formats: Iterable[str] = FORMATS,
    dpi: float = 300,
    caption: str | None = None,
    key: bool = False,
) -> dict[str, Path]:
    """Write ``fig`` to ``<run_dir>/figures/<name>.<fmt>`` for each format (see
    :func:`rppg_lib.figure_style.write_figure`) and ``<name>.json`` with ``caption`` and ``key``
    (``index.html`` shows key figures first); returns the figure paths by format."""
    if caption is not None and not isinstance(caption, str):
        raise ValueError(f"caption must be a string or None, got {caption!r}")
    if not isinstance(key, bool):
        raise ValueError(f"key must be True or False, got {key!r}")
    folder = output_folder(run_dir, "figures")
    paths = write_figure(fig, folder, name, formats=formats, dpi=dpi)
    atomic_write_json(folder / f"{name}.json", {"caption": caption, "key": key}, sort_keys=False)
    return paths


def figure_info(folder: str | os.PathLike, name: str) -> dict:
    """The sidecar of figure ``name`` in ``folder``: ``caption`` (None when not given) and
    ``key``; a figure saved without one (or an unreadable one) has neither."""
    path = Path(folder) / f"{name}.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"caption": None, "key": False}
    caption = info.get("caption") if isinstance(info, dict) else None
    key = info.get("key") is True if isinstance(info, dict) else False
    return {"caption": caption if isinstance(caption, str) else None, "key": key}

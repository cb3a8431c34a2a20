"""Reports of a run: paper-ready figures and tables, and a self-contained ``index.html``.

Everything goes into the run directory (``run_dir`` argument, else ``$RPPG_RUN_DIR``, else the
current folder; see :func:`rppg_lib.run.record.resolve_run_dir`):

- ``figures/<name>.pdf|.svg|.png``: :func:`save_figure`, in the style of :func:`use_style`;
- ``tables/<name>.csv|.tex|.md``: :func:`save_table`;
- ``index.html``: :func:`build_index`, which gathers figures, tables, ``metrics.json`` and
  ``manifest.json``.
"""

from rppg_lib.run.report.figures import (
    COLORS,
    STYLE,
    save_figure,
    style_context,
    use_style,
)
from rppg_lib.run.report.html import build_index
from rppg_lib.run.report.tables import markdown_table, save_table

__all__ = [
    "COLORS",
    "STYLE",
    "use_style",
    "style_context",
    "save_figure",
    "save_table",
    "markdown_table",
    "build_index",
]

"""Progress bars for the library's loops: one policy, chosen by where the code runs.

- an interactive terminal: tqdm's text bar;
- a Jupyter kernel with a front end (JupyterLab, Notebook, VS Code): ``tqdm.auto``'s widget
  (ipywidgets);
- a kernel nobody watches (``rppg run``'s papermill kernels set ``RPPG_PROGRESS=final``), or a
  terminal whose stderr is not a tty (a log file, CI): nothing while the loop runs, then the
  bar's final line once it closes, so a stored notebook or log holds one line per loop.

``RPPG_PROGRESS`` (``bar``, ``widget``, ``final`` or ``off``) overrides the choice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm as _text_tqdm
from tqdm.auto import tqdm as _auto_tqdm

__all__ = ["PROGRESS_ENV", "PROGRESS_MODES", "progress_bar", "progress_mode", "write"]

PROGRESS_ENV = "RPPG_PROGRESS"
PROGRESS_MODES = ("bar", "widget", "final", "off")

# Seconds: longer than any run, so a final-line bar never redraws while its loop runs.
_NEVER = 1e9


class _FinalLineBar(_text_tqdm):
    """A text bar that writes nothing until it closes, then its final line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "mininterval": _NEVER, "delay": _NEVER})

    def display(self, *args: Any, **kwargs: Any) -> bool:
        """Draw nothing while the loop runs (``refresh`` and ``set_postfix`` included)."""
        return True

    def clear(self, *args: Any, **kwargs: Any) -> None:
        """Nothing was drawn, so nothing to clear (``write`` calls this)."""

    def close(self) -> None:
        """Close, then write the final line in one write (``leave=False`` bars write nothing)."""
        if self.disable:
            return
        line = str(self) if self.leave or (self.leave is None and self.pos == 0) else ""
        super().close()  # never drew, so tqdm writes nothing here
        if line:
            self.fp.write(line + "\n")
            self.fp.flush()


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    return get_ipython is not None and getattr(get_ipython(), "kernel", None) is not None


def progress_mode() -> str:
    """The mode for a new bar: ``$RPPG_PROGRESS`` if set, else from the running environment."""
    chosen = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if chosen:
        if chosen not in PROGRESS_MODES:
            raise ValueError(f"{PROGRESS_ENV} must be one of {PROGRESS_MODES}, got {chosen!r}")
        return chosen
    if _in_kernel():
        return "widget"
    stream = sys.stderr
    return "bar" if stream is not None and stream.isatty() else "final"


def progress_bar(iterable: Iterable | None = None, **kwargs: Any) -> _text_tqdm:
    """A tqdm bar over ``iterable`` (keyword arguments as tqdm's) in :func:`progress_mode`."""
    mode = progress_mode()
    if mode == "off":
        kwargs["disable"] = True
    bar = {"widget": _auto_tqdm, "final": _FinalLineBar}.get(mode, _text_tqdm)
    return bar(iterable, **kwargs)


def write(message: str) -> None:
    """Print ``message`` on its own line without breaking a bar that is being drawn."""
    _text_tqdm.write(message)

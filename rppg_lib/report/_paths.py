"""Where report files go, and which names they may have."""

from __future__ import annotations

import os
import re
from pathlib import Path

from rppg_lib.record import resolve_run_dir

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def check_name(name: str, what: str) -> str:
    """``name`` if it is a plain file stem (letters, digits, ``_``, ``-``), else ValueError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{what} name must be a file stem of letters, digits, '_' or '-' starting with a "
            f"letter or digit (no folder, no extension), got {name!r}"
        )
    return name


def output_folder(run_dir: str | os.PathLike | None, subfolder: str) -> Path:
    """``<run dir>/<subfolder>`` with the run dir resolved as :func:`record` does."""
    return resolve_run_dir(run_dir) / subfolder

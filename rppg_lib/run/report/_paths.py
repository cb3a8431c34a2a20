"""Where report files go, and which names they may have."""

from __future__ import annotations

import os
from pathlib import Path

from rppg_lib.run.record import resolve_run_dir


def output_folder(run_dir: str | os.PathLike | None, subfolder: str) -> Path:
    """``<run dir>/<subfolder>`` with the run dir resolved as :func:`record` does."""
    return resolve_run_dir(run_dir) / subfolder

"""What a run needs to be repeated: package versions, git commit, host, seeds, timings.

All functions are cheap (no heavy imports: versions come from the installed distributions'
metadata, so ``torch`` is never imported just to read its version) and never raise for missing
information: an absent package, a folder outside git or a missing ``git`` give ``None`` values.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import subprocess
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from rppg_lib import __version__

__all__ = [
    "PACKAGE_DISTRIBUTIONS",
    "package_versions",
    "git_info",
    "host_info",
    "sha256_file",
    "collect_seeds",
    "utc_timestamp",
    "Stopwatch",
]

# Reported name -> candidate distribution names (the first one installed wins).
PACKAGE_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "torch": ("torch",),
    "opencv": (
        "opencv-python-headless",
        "opencv-python",
        "opencv-contrib-python-headless",
        "opencv-contrib-python",
    ),
    "pandas": ("pandas",),
    "matplotlib": ("matplotlib",),
    "papermill": ("papermill",),
    "rppg_lib": ("rppg-suite",),
}


def package_versions() -> dict[str, str | None]:
    """Versions of Python and of the suite's key packages (``None`` where not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name, dists in PACKAGE_DISTRIBUTIONS.items():
        versions[name] = None
        for dist in dists:
            try:
                versions[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    if versions["rppg_lib"] is None:  # running from a source tree that is not pip-installed
        versions["rppg_lib"] = __version__
    return versions


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):  # git not installed or hanging
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(folder: str | os.PathLike) -> dict[str, Any]:
    """Git state of the repository holding ``folder``.

    Returns ``{"root": str|None, "commit": str|None, "dirty": bool|None}``: the repository's top
    folder, the 40-hex commit of HEAD (``None`` before the first commit) and whether tracked or
    untracked-not-ignored files differ from HEAD. All ``None`` outside a repository.
    """
    folder = Path(folder)
    root = _git(folder, "rev-parse", "--show-toplevel")
    if root is None:
        return {"root": None, "commit": None, "dirty": None}
    commit = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD")
    status = _git(folder, "status", "--porcelain")
    return {"root": root, "commit": commit, "dirty": None if status is None else bool(status)}


def host_info() -> dict[str, Any]:
    """The machine: CPU count, platform string, architecture, Python implementation."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
    }


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 digest of the file at ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def collect_seeds(parameters: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The seed parameters (named ``seed`` or ``*_seed``) per notebook, from ``{notebook: params}``.

    Notebooks without a seed parameter are left out.
    """
    seeds: dict[str, dict[str, Any]] = {}
    for notebook, params in parameters.items():
        found = {k: v for k, v in params.items() if k == "seed" or k.endswith("_seed")}
        if found:
            seeds[notebook] = found
    return seeds


def utc_timestamp() -> str:
    """The current UTC time as ISO 8601 with second resolution, e.g. ``2026-05-22T10:15:00Z``."""
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return now.isoformat().replace("+00:00", "Z")


class Stopwatch:
    """Wall-clock timer for a ``with`` block: ``with Stopwatch() as sw: ...; sw.seconds``.

    ``seconds`` is also readable inside the block (time elapsed so far). Uses
    ``time.perf_counter`` (monotonic), so it is unaffected by clock changes.
    """

    def __init__(self) -> None:
        self._start: float | None = None
        self._stop: float | None = None

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self._stop = None
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Elapsed seconds (0.0 before the block starts)."""
        if self._start is None:
            return 0.0
        end = self._stop if self._stop is not None else time.perf_counter()
        return end - self._start

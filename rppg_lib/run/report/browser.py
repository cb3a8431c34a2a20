"""Headless Chromium for report pages: a screenshot of ``index.html``'s first screen, and the
page as the browser laid it out (``--dump-dom``). Chromium is optional: without it
:func:`find_chromium` returns None and :func:`save_screenshot` does nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from rppg_lib.atomic import atomic_write_bytes

__all__ = ["SCREEN", "SCREENSHOT_FILE", "find_chromium", "save_screenshot", "dump_dom"]

SCREEN = (1400, 900)  # pixels: the first screen a reader sees
SCREENSHOT_FILE = "index.png"
_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Quiet, offline, throw-away profile: no network, no first-run pages, no GPU.
_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=5000",
)


def find_chromium() -> str | None:
    """The path of a Chromium executable on ``PATH``, or None."""
    return next((found for name in _NAMES if (found := shutil.which(name))), None)


def _run_chromium(page: Path, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium not found on PATH")
    if not page.is_file():
        raise FileNotFoundError(f"page not found: {page}")
    with tempfile.TemporaryDirectory(prefix="rppg-chromium-") as profile:
        command = [binary, *_FLAGS, f"--user-data-dir={profile}",
                   f"--window-size={SCREEN[0]},{SCREEN[1]}", *args, page.resolve().as_uri()]
        return subprocess.run(command, capture_output=True, timeout=timeout, check=True,
                              cwd=profile)


def dump_dom(page: str | os.PathLike, *, timeout: float = 60) -> str:
    """The DOM of ``page`` after Chromium loaded it in a 1400×900 window (scripts run)."""
    return _run_chromium(Path(page), ["--dump-dom"], timeout).stdout.decode("utf-8")


def save_screenshot(
    page: str | os.PathLike, png: str | os.PathLike | None = None, *, timeout: float = 60
) -> Path | None:
    """Write the first screen (1400×900) of ``page`` to ``png`` (default: ``index.png`` beside
    it); returns its path, or None when Chromium is absent or fails (best effort)."""
    page = Path(page)
    target = Path(png) if png is not None else page.with_name(SCREENSHOT_FILE)
    with tempfile.TemporaryDirectory(prefix="rppg-shot-") as tmp:
        shot = Path(tmp) / "shot.png"
        try:
            _run_chromium(page, [f"--screenshot={shot}"], timeout)
            data = shot.read_bytes()
        except (OSError, subprocess.SubprocessError):
            return None
    return atomic_write_bytes(target, data)

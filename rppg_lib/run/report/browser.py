"""Headless Chromium for report pages: a screenshot of ``index.html``'s first screen, and the
page as the browser laid it out (``--dump-dom``). Chromium is optional: without it
:func:`find_chromium` returns None and :func:`save_screenshot` does nothing."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib.image as mpimg

from rppg_lib.atomic import atomic_write_bytes

__all__ = ["SCREEN", "SCREENSHOT_FILE", "find_chromium", "save_screenshot", "dump_dom"]

SCREEN = (1400, 900)  # pixels: the first screen a reader sees
# Headless Chromium's viewport is shorter than its window (by 143 px in Chromium 150) and paints
# nothing below it: the window is this much taller and the screenshot is cropped to SCREEN.
_EXTRA_HEIGHT = 300
SCREENSHOT_FILE = "index.png"
_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Quiet, offline, throw-away profile: no network, no first-run pages, no GPU.
_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=5000", "--run-all-compositor-stages-before-draw",
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
                   f"--window-size={SCREEN[0]},{SCREEN[1] + _EXTRA_HEIGHT}", *args,
                   page.resolve().as_uri()]
        return subprocess.run(command, capture_output=True, timeout=timeout, check=True,
                              cwd=profile)


def dump_dom(page: str | os.PathLike, *, timeout: float = 60) -> str:
    """The DOM of ``page`` after Chromium loaded it 1400 px wide (scripts run)."""
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
            pixels = mpimg.imread(shot)[: SCREEN[1], : SCREEN[0]]
        except (OSError, ValueError, subprocess.SubprocessError):
            return None
    buffer = io.BytesIO()
    mpimg.imsave(buffer, pixels, format="png", metadata={"Software": None})
    return atomic_write_bytes(target, buffer.getvalue())

"""Atomic file writes: a reader never sees a half-written file.

Every checkpoint, cache and report in the suite is written through these helpers: the data go to a
temporary file in the destination folder, are flushed to disk, and the temporary file is renamed
over the destination (``os.replace`` is atomic on POSIX and Windows). The file gets the mode a
plain ``open(path, "w")`` would give it (0666 less the umask), not ``mkstemp``'s private 0600: a
report or checkpoint is meant to be read by colleagues where the umask allows it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process's file-mode creation mask (e.g. 0o022), read without changing it.

    Linux exposes it in ``/proc/self/status``; elsewhere it is set and restored at once (a
    brief race only with threads that create files at that moment).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_writable_folder(path: Path) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create output folder {folder}: {err}") from err
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"output folder {folder} is not writable")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    _check_writable_folder(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            if hasattr(os, "fchmod"):  # POSIX; mkstemp creates 0600 whatever the umask
                os.fchmod(handle.fileno(), 0o666 & ~current_umask())
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, **dump_kwargs: Any) -> Path:
    """Serialise ``obj`` as indented, key-sorted JSON and write it atomically."""
    dump_kwargs.setdefault("indent", 2)
    dump_kwargs.setdefault("sort_keys", True)
    return atomic_write_text(path, json.dumps(obj, **dump_kwargs) + "\n")


def atomic_write_with(path: str | os.PathLike, writer: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``writer(handle)`` on a binary temporary file and move it to ``path`` atomically.

    For libraries that write to a file object: ``atomic_write_with(p, lambda f: np.savez(f, **a))``
    or ``atomic_write_with(p, lambda f: torch.save(state, f))``.
    """
    with atomic_open(path, "wb") as handle:
        writer(handle)
    return Path(path)


def move_aside(path: str | os.PathLike) -> Path:
    """Rename ``path`` (a file or folder) to ``<path>.old-<UTC time>`` (``-1``, ``-2``, ... when
    that exists too), so that nothing of a previous result is deleted or left beside a new one;
    returns the new name."""
    path = Path(path)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    moved = path.with_name(f"{path.name}.old-{stamp}")
    suffix = 1
    while moved.exists():
        moved = path.with_name(f"{path.name}.old-{stamp}-{suffix}")
        suffix += 1
    path.rename(moved)
    return moved

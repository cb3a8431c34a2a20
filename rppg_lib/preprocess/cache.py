"""On-disk cache of preprocessed clips: keys, lookup, atomic build, validation and rebuild.

An entry is a clip folder (layout in ``storage``) named ``<clip_id>-<key>``. The key is a SHA-256
of: the cache version; a fingerprint of the source (a file: size and content hash when under
``SMALL_FILE_BYTES``, else resolved path, size and modification time; a frame folder: path, size
and modification time of every file in it; in-memory frames: a hash of the pixels); the frame
rate and frame times; hashes of the label waveforms and known boxes; and every field of the
PreprocessConfig. Change any of them and the key changes, so the old entry is simply not found
(it stays on disk, so switching back is free; delete the folder to reclaim space).

An entry is built in a temporary folder next to it and renamed into place when complete (a rename
is atomic), so a crash never leaves a half-written entry under the real name; on load the manifest
is checked against every file (``storage.read_entry``: sizes and headers every time, SHA-256
digests on the entry's first use in a process) and an invalid entry (truncated, corrupted on disk,
hand-edited manifest) is rebuilt with a warning naming it. A plain file where an entry folder
should be is refused (ValueError naming it) rather than deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rppg_lib.preprocess.preprocess_config import PreprocessConfig
from rppg_lib.preprocess.result import PreprocessedClip
from rppg_lib.preprocess.storage import FORMAT_VERSION, CacheCorruptError, mark_verified

__all__ = [
    "CACHE_VERSION",
    "SMALL_FILE_BYTES",
    "source_fingerprint",
    "array_digest",
    "cache_key",
    "entry_folder",
    "load_or_build",
]

logger = logging.getLogger("rppg_lib.preprocess")

# Bump when the preprocessing code changes its output, so that old entries are not reused.
CACHE_VERSION = 1
SMALL_FILE_BYTES = 64 * 1024 * 1024


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _file_fingerprint(path: Path, content: bool = True) -> dict[str, Any]:
    st = path.stat()
    if content and st.st_size <= SMALL_FILE_BYTES:
        return {"bytes": st.st_size, "sha256": _file_hash(path)}
    return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def source_fingerprint(source: str | os.PathLike) -> dict[str, Any]:
    """What identifies the content of a video file or frame folder (see the module docstring).
    Raises FileNotFoundError when ``source`` does not exist."""
    path = Path(source)
    if path.is_file():
        return {"file": _file_fingerprint(path)}
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        listing = [[str(p.relative_to(path)), _file_fingerprint(p, False)] for p in files]
        text = json.dumps(listing, sort_keys=True)
        return {"folder": hashlib.sha256(text.encode()).hexdigest(), "n_files": len(files)}
    raise FileNotFoundError(f"cannot fingerprint the source {path}: no such file or folder")


def array_digest(values: np.ndarray | None) -> str | None:
    """SHA-256 of an array's dtype, shape and bytes (None for None)."""
    if values is None:
        return None
    arr = np.ascontiguousarray(values)
    digest = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    digest.update(arr.view(np.uint8).reshape(-1))
    return digest.hexdigest()


def cache_key(source: dict[str, Any], config: PreprocessConfig, inputs: dict[str, Any]) -> str:
    """SHA-256 hex key of the source fingerprint, every config field and the other inputs
    (JSON-ready values: numbers, strings, digests)."""
    payload = {
        "cache_version": CACHE_VERSION,
        "format": FORMAT_VERSION,
        "source": source,
        "config": config.to_dict(),
        "inputs": inputs,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def entry_folder(cache_dir: str | os.PathLike, clip_id: str, key: str) -> Path:
    """``cache_dir/<clip_id with unsafe characters replaced>-<first 20 hex digits of key>``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", clip_id).strip("._") or "clip"
    return Path(cache_dir) / f"{safe[:80]}-{key[:20]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary build folders of this entry left by processes that no longer run."""
    pattern = re.compile(rf"^\.{re.escape(folder.name)}\.(\d+)\.[0-9a-f]+\.tmp$")
    if not folder.parent.is_dir():
        return
    for path in folder.parent.iterdir():
        match = pattern.match(path.name)
        if match and not _pid_alive(int(match.group(1))):
            logger.warning("removing %s, left half-written by a crashed run", path)
            shutil.rmtree(path, ignore_errors=True)


def load_or_build(
    folder: Path, build: Callable[[Path], Any], *, verify: bool | None = None
) -> PreprocessedClip:
    """The entry at ``folder``, loaded (memory-mapped, ``from_cache=True``) when it is valid,
    else built by ``build(temporary_folder)`` and renamed into place.

    An invalid entry (truncated, half-written, corrupt) is removed and rebuilt with a warning.
    Digests are checked with ``verify=True`` always, with None (default) on the entry's first use
    in this process. When another process completes the same entry first, its entry is used and
    ours discarded. ValueError when ``folder`` is a file (it is not deleted).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(
            f"cache entry {folder} is a file, not a folder: remove it (or choose another "
            "cache_dir) and the clip is preprocessed again"
        )
    if folder.exists():
        try:
            clip = PreprocessedClip.open(folder, verify=verify)
            clip.from_cache = True
            return clip
        except CacheCorruptError as err:
            logger.warning("cache entry %s is invalid, rebuilding it: %s", folder, err)
            shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(folder)
    tmp = folder.parent / f".{folder.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        build(tmp)
        try:
            os.replace(tmp, folder)
            mark_verified(folder)  # its digests were computed from the data just written
        except OSError:
            if not folder.is_dir():
                raise
            logger.info("cache entry %s was completed by another process; using it", folder)
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return PreprocessedClip.open(folder)

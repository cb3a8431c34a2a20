"""Frame stores for the two passes, and the on-disk layout of one preprocessed clip.

A clip folder holds ``motion.npy``, ``appearance.npy``, ``mask_frames.npy`` (uncompressed float32),
``meta.npz`` (small per-frame arrays, compressed) and ``manifest.json`` (written last: parameters,
shapes, byte sizes and SHA-256 digests of every file). A folder is only valid when the manifest
agrees with every file.

Compression, measured by ``benchmarks/bench_preprocess.py`` (one minute of 640×480 video, S = 36):
``np.savez_compressed`` shrinks the frame arrays to 62 % (77 → 48 MiB) but writes them 20–25×
slower (3.5 s against 0.15 s), and a compressed array cannot be memory-mapped, which the lazy
loading of long clips needs; the benchmark video has no sensor noise, so real video compresses
less. The per-frame metadata (boxes, times, flags) shrinks 17× (721 → 43 KiB for 10 minutes), so
``meta.npz`` is compressed.

The ``.npy`` files are written with plain ``write``/``pwrite`` calls, never through a writable
memory map: pages of a mapped file count towards the process's resident memory, pages merely
written through the page cache do not, and the output of a 10-minute video (over 500 MB) must not.
Given a ``writer`` thread, a store writes and hashes its blocks there, in order, while the caller
prepares the next frames (at S = 72 the writes and digests of a 60 s video take about 1 s).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import json
import os
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np

from rppg_lib.atomic import atomic_write_bytes, atomic_write_json

__all__ = [
    "FORMAT_VERSION",
    "ARRAY_NAMES",
    "CacheCorruptError",
    "MemoryFrames",
    "NpyFrames",
    "write_entry",
    "read_entry",
    "mark_verified",
]

FORMAT_VERSION = 1
ARRAY_NAMES = ("motion", "appearance", "mask_frames")
MANIFEST = "manifest.json"
META = "meta.npz"
_HASH_BLOCK = 1 << 22
_MAX_PENDING_WRITES = 2  # blocks a store may have queued for its writer; then the caller waits


class CacheCorruptError(ValueError):
    """A preprocessed-clip folder is incomplete, truncated or does not match its manifest."""


class MemoryFrames:
    """In-memory frame store: ``append`` frames (pass 1), ``read``/``write`` blocks (pass 2)."""

    def __init__(self, frame_shape: tuple[int, ...]) -> None:
        self.frame_shape = tuple(frame_shape)
        self._frames: list[np.ndarray] = []
        self._array: np.ndarray | None = None

    def append(self, frame: np.ndarray) -> None:
        self._frames.append(np.asarray(frame, dtype=np.float32))

    def finish(self) -> int:
        self._array = (
            np.stack(self._frames)
            if self._frames
            else np.empty((0, *self.frame_shape), dtype=np.float32)
        )
        self._frames = []
        return len(self._array)

    def read(self, start: int, stop: int) -> np.ndarray:
        return self._array[start:stop]

    def write(self, start: int, block: np.ndarray) -> None:
        self._array[start : start + len(block)] = block

    @property
    def array(self) -> np.ndarray:
        return self._array


class NpyFrames:
    """A float32 ``.npy`` file of (T, *frame_shape) frames written as a stream of unknown length.

    Frames are buffered and appended with ``write``; ``finish`` puts the final T into the header
    (NumPy reserves room in the header for the first axis to grow, so its length does not change);
    ``read``/``write`` then rewrite blocks in place with ``pread``/``pwrite``. A SHA-256 digest of
    the data bytes is kept on the fly: ``hash_appends`` hashes frames as they are appended (data
    final after pass 1), otherwise the blocks rewritten in pass 2 are hashed, which must then cover
    the file from the first frame to the last, in order.

    writer: a one-thread executor that writes and hashes the blocks in the background, in the
    order they were given (None: in the caller's thread). A block given to ``write`` must then
    stay unchanged; appended frames are copied. The first failed write is raised by the next
    call; ``finish``, ``read`` and ``close`` wait for the queued writes.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        frame_shape: tuple[int, ...],
        *,
        buffer_frames: int = 256,
        hash_appends: bool = False,
        writer: Executor | None = None,
    ) -> None:
        self.path = Path(path)
        self.frame_shape = tuple(frame_shape)
        self._buffer = np.empty((buffer_frames, *self.frame_shape), dtype=np.float32)
        self._fill = 0
        self._count = 0
        self._hash_appends = hash_appends
        self._digest = hashlib.sha256()
        self._hashed_frames = 0
        self._writer = writer
        # queued writes, each with the append buffer it holds (None: a caller's block)
        self._pending: collections.deque[tuple[Future, np.ndarray | None]] = collections.deque()
        self._spare: list[np.ndarray] = []  # append buffers whose writes are done
        self._file = open(self.path, "w+b")  # noqa: SIM115 -- closed in close()
        self._offset = self._write_header(0)

    def _submit(self, task: Any, *args: Any, holds: np.ndarray | None = None) -> None:
        """Run ``task(*args)`` on the writer (here without one), at most _MAX_PENDING_WRITES
        queued; ``holds``: the append buffer the task reads, reused once it is done. A failure
        of an earlier task is raised here."""
        if self._writer is None:
            self._named_errors(task, *args)
            return
        while self._pending and (
            self._pending[0][0].done() or len(self._pending) >= _MAX_PENDING_WRITES
        ):
            self._retire()
        self._pending.append((self._writer.submit(self._named_errors, task, *args), holds))

    def _named_errors(self, task: Any, *args: Any) -> None:
        """Run ``task(*args)``; an OS error that names no file names this store (a full disk
        then says which file it stopped)."""
        try:
            task(*args)
        except OSError as err:
            if err.errno is None or err.filename is not None:
                raise
            raise OSError(err.errno, err.strerror or str(err), str(self.path)) from err

    def _retire(self) -> None:
        """Wait for the oldest queued write, raise its failure, keep its buffer for reuse."""
        future, buffer = self._pending.popleft()
        future.result()
        if buffer is not None:
            self._spare.append(buffer)

    def _wait(self) -> None:
        """Wait for every queued write; raise the first failure."""
        while self._pending:
            self._retire()

    def _write_header(self, n_frames: int) -> int:
        self._file.seek(0)
        header = {"descr": "<f4", "fortran_order": False, "shape": (n_frames, *self.frame_shape)}
        np.lib.format.write_array_header_1_0(self._file, header)
        return self._file.tell()

    def append(self, frame: np.ndarray) -> None:
        self._buffer[self._fill] = frame
        self._fill += 1
        if self._fill == len(self._buffer):
            self._flush()

    def _flush(self) -> None:
        full, data = self._buffer, self._buffer[: self._fill]
        self._submit(self._append_block, data, holds=full)
        if self._writer is not None:  # fill another buffer while this one is written
            if len(self._pending) >= _MAX_PENDING_WRITES:
                self._retire()
            self._buffer = self._spare.pop() if self._spare else np.empty_like(full)
        self._count += self._fill
        self._fill = 0

    def _append_block(self, data: np.ndarray) -> None:
        self._file.write(memoryview(data).cast("B"))
        if self._hash_appends:
            self._digest.update(data)

    def finish(self) -> int:
        """Write buffered frames and the final shape; returns T."""
        self._flush()
        self._wait()
        end = self._file.tell()
        if self._write_header(self._count) != self._offset:
            raise RuntimeError(f"the .npy header of {self.path} changed length")
        self._file.seek(end)
        self._file.flush()
        self._buffer, self._spare = self._buffer[:0], []
        return self._count

    def _frame_offset(self, index: int) -> int:
        return self._offset + index * int(np.prod(self.frame_shape)) * 4

    def read(self, start: int, stop: int) -> np.ndarray:
        self._wait()
        nbytes = self._frame_offset(stop) - self._frame_offset(start)
        raw = os.pread(self._file.fileno(), nbytes, self._frame_offset(start))
        if len(raw) != nbytes:
            raise OSError(f"short read from {self.path}: {len(raw)} of {nbytes} bytes")
        return np.frombuffer(raw, dtype=np.float32).reshape(stop - start, *self.frame_shape).copy()

    def write(self, start: int, block: np.ndarray) -> None:
        data = np.ascontiguousarray(block, dtype=np.float32)
        if not self._hash_appends:
            if start != self._hashed_frames:
                raise RuntimeError("pass-2 blocks must be rewritten in order (for the digest)")
            self._hashed_frames += len(data)
        self._submit(self._write_block, start, data)

    def _write_block(self, start: int, data: np.ndarray) -> None:
        if not self._hash_appends:
            self._digest.update(data)
        view = memoryview(data).cast("B")
        written = os.pwrite(self._file.fileno(), view, self._frame_offset(start))
        if written != len(view):
            raise OSError(f"short write to {self.path}: {written} of {len(view)} bytes")

    def close(self) -> dict[str, Any]:
        """fsync and close; returns the manifest record (shape, dtype, bytes, sha256)."""
        self._wait()
        self._file.flush()
        os.fsync(self._file.fileno())
        size = os.fstat(self._file.fileno()).st_size
        self._file.close()
        if not self._hash_appends and self._hashed_frames != self._count:
            raise RuntimeError(f"{self.path}: {self._hashed_frames} of {self._count} frames hashed")
        return {
            "shape": [self._count, *self.frame_shape],
            "dtype": "<f4",
            "bytes": size,
            "sha256": self._digest.hexdigest(),
        }

    def abort(self) -> None:
        """Close without syncing, once the queued writes are done (the caller discards the
        file); their failures are dropped with it."""
        for future, _ in self._pending:
            future.cancel()
        for future, _ in self._pending:
            if not future.cancelled():
                future.exception()  # waits; the failure is not raised
        self._pending.clear()
        # Closing flushes what is buffered: on a full disk that fails again, and its error (which
        # names no file) would replace the one being handled. The file is closed all the same.
        with contextlib.suppress(OSError):
            self._file.close()


def write_entry(
    folder: Path,
    records: dict[str, dict[str, Any]],
    meta: dict[str, np.ndarray],
    manifest: dict[str, Any],
) -> None:
    """Write ``meta.npz`` (compressed) and, last, ``manifest.json`` into a folder that already
    holds the ``.npy`` files described by ``records`` (from ``NpyFrames.close``)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **meta)
    data = buf.getvalue()
    atomic_write_bytes(folder / META, data)
    files = dict(records)
    files[META] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_json(folder / MANIFEST, {**manifest, "format": FORMAT_VERSION, "files": files})


def _file_digest(path: Path, skip: int = 0) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(skip)
        while chunk := handle.read(_HASH_BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


# Entries whose digests this process has checked: (folder, manifest mtime_ns, manifest size).
# A same-size corruption of a file (a flipped byte on disk, an edit) passes every size and
# header check; its SHA-256 digest does not. Hashing runs at 1-2 ms per MB (measured by
# benchmarks/bench_cache_verify.py), so each entry is hashed once per process, on first use.
_VERIFIED: set[tuple[str, int, int]] = set()


def _verified_key(folder: Path) -> tuple[str, int, int]:
    st = (folder / MANIFEST).stat()
    return str(folder.resolve()), st.st_mtime_ns, st.st_size


def mark_verified(folder: str | os.PathLike) -> None:
    """Record that the entry at ``folder`` was just written (its digests computed from the data
    written), so its first opening in this process need not hash it again."""
    _VERIFIED.add(_verified_key(Path(folder)))


def read_entry(
    folder: str | os.PathLike, verify: bool | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Open a clip folder: (manifest, memory-mapped frame arrays, meta arrays).

    Always checks that the manifest parses and has this format version, that every file exists
    with the recorded size, and that every ``.npy`` header has the recorded shape and dtype.
    SHA-256 digests (every byte read) are compared with ``verify=True``, and with ``None`` (the
    default) on the first opening of the entry in this process. Raises CacheCorruptError naming
    the entry, the file and what is wrong, and saying how to rebuild it.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CacheCorruptError(
            f"cache entry {folder} is a file, not a folder; delete it and the clip is "
            "preprocessed again"
        )
    try:
        manifest, arrays, meta = _read_entry(folder, verify)
    except (KeyError, TypeError, AttributeError) as err:  # a hand-edited manifest
        raise CacheCorruptError(
            f"{folder / MANIFEST} lacks or garbles an entry ({type(err).__name__}: {err}); "
            f"delete {folder} and the clip is preprocessed again"
        ) from None
    return manifest, arrays, meta


def _read_entry(
    folder: Path, verify: bool | None
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CacheCorruptError(f"{folder / MANIFEST} is missing or unreadable: {err}") from None
    if not isinstance(manifest, dict) or not isinstance(files, dict):
        raise CacheCorruptError(f"{folder / MANIFEST} does not map file names to records")
    if manifest.get("format") != FORMAT_VERSION:
        raise CacheCorruptError(
            f"{folder} has format {manifest.get('format')!r}, expected {FORMAT_VERSION}"
        )
    key = _verified_key(folder)
    if verify is None:
        verify = key not in _VERIFIED
    for name in (*(f"{n}.npy" for n in ARRAY_NAMES), META):
        if name not in files:
            raise CacheCorruptError(f"{folder / MANIFEST} lists no {name}")
        path = folder / name
        size = path.stat().st_size if path.is_file() else None
        if size != files[name]["bytes"]:
            raise CacheCorruptError(
                f"{path} has {size} bytes, the manifest records {files[name]['bytes']} "
                "(truncated or half-written)"
            )
    arrays: dict[str, np.ndarray] = {}
    for name in ARRAY_NAMES:
        path, record = folder / f"{name}.npy", files[f"{name}.npy"]
        try:
            arr = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as err:
            raise CacheCorruptError(f"{path} is not a readable .npy file: {err}") from None
        if list(arr.shape) != record["shape"] or arr.dtype != np.dtype(record["dtype"]):
            raise CacheCorruptError(
                f"{path} holds {arr.dtype}{list(arr.shape)}, the manifest records "
                f"{record['dtype']}{record['shape']}"
            )
        if verify and _file_digest(path, arr.offset) != record["sha256"]:
            raise CacheCorruptError(_digest_message(folder, path))
        arrays[name] = arr
    meta_path = folder / META
    if verify and _file_digest(meta_path) != files[META]["sha256"]:
        raise CacheCorruptError(_digest_message(folder, meta_path))
    try:
        with np.load(meta_path) as npz:  # reading each member checks its zip CRC
            meta = {name: npz[name] for name in npz.files}
    except Exception as err:  # zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error
        raise CacheCorruptError(f"{meta_path} is corrupt: {type(err).__name__}: {err}") from None
    if verify:
        _VERIFIED.add(key)
    return manifest, arrays, meta


def _digest_message(folder: Path, path: Path) -> str:
    return (
        f"cache entry {folder}: {path.name} does not match the SHA-256 digest in its manifest "
        f"(corrupted on disk or edited); delete {folder} and the clip is preprocessed again"
    )

"""The on-disk cache: hit, miss, invalidation, corrupt and half-written entries, fingerprints."""

from __future__ import annotations

import errno
import io
import json
import logging
import os

import numpy as np
import pytest

from rppg_lib.datasets.base import Clip, Signal
from rppg_lib.preprocess import (
    CacheCorruptError,
    PreprocessConfig,
    PreprocessedClip,
    preprocess_clip,
    source_fingerprint,
)
from rppg_lib.preprocess import cache as cache_module
from rppg_lib.preprocess import pipeline as pipeline_module
from rppg_lib.video_io import write_video

CFG = PreprocessConfig(crop="center", size=8, frame_depth=5, chunk_length=20)


def _clip(n: int = 30, seed: int = 0, clip_id: str = "c") -> Clip:
    frames = np.random.default_rng(seed).integers(0, 256, (n, 12, 16, 3), dtype=np.uint8)
    t = np.arange(n) / 30.0
    return Clip.from_frames(frames, 30.0, clip_id=clip_id,
                            bvp=Signal(np.sin(2 * np.pi * t), t, "a.u."))


@pytest.fixture
def builds(monkeypatch):
    """Counts the clips actually preprocessed (cache misses)."""
    calls = []
    real = pipeline_module.preprocess_frames

    def counting(*args, **kwargs):
        calls.append(kwargs.get("clip_id"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "preprocess_frames", counting)
    return calls


def _entries(cache_dir):
    return sorted(p for p in cache_dir.iterdir())


def test_hit_reuses_the_entry(tmp_path, builds):
    clip = _clip()
    first = preprocess_clip(clip, CFG, tmp_path, progress=False)
    manifest = first.path / "manifest.json"
    mtime = manifest.stat().st_mtime_ns
    second = preprocess_clip(clip, CFG, tmp_path, progress=False)
    assert builds == ["c"]
    assert not first.from_cache and second.from_cache
    assert second.path == first.path and manifest.stat().st_mtime_ns == mtime
    assert isinstance(second.motion, np.memmap) and second.motion.dtype == np.float32
    in_memory = preprocess_clip(clip, CFG, progress=False)
    for name in ("motion", "appearance", "mask_frames", "labels", "bvp", "boxes", "frame_times"):
        np.testing.assert_array_equal(getattr(second, name), getattr(in_memory, name))
    assert second.config == in_memory.config and second.n_no_face_frames == 0
    loaded = second.load()
    assert not isinstance(loaded.motion, np.memmap)
    np.testing.assert_array_equal(loaded.appearance, second.appearance)


def test_parameter_or_input_change_misses(tmp_path, builds):
    clip = _clip()
    a = preprocess_clip(clip, CFG, tmp_path, progress=False)
    b = preprocess_clip(clip, PreprocessConfig(crop="center", size=10, frame_depth=5,
                                               chunk_length=20), tmp_path, progress=False)
    c = preprocess_clip(clip, PreprocessConfig(crop="center", size=8, frame_depth=5,
                                               chunk_length=20, eps=1e-6), tmp_path, progress=False)
    d = preprocess_clip(_clip(seed=1), CFG, tmp_path, progress=False)  # other pixels
    t = clip.frame_times
    relabelled = Clip.from_frames(clip.frame_source.frames, 30.0, clip_id="c",
                                  bvp=Signal(np.cos(2 * np.pi * t), t, "a.u."))
    e = preprocess_clip(relabelled, CFG, tmp_path, progress=False)
    assert len(builds) == 5 and not any(x.from_cache for x in (a, b, c, d, e))
    assert len({x.path for x in (a, b, c, d, e)}) == 5 and len(_entries(tmp_path)) == 5
    assert b.motion.shape == (30, 10, 10, 3) and b.mask_frames.shape == (30, 8, 8, 3)
    assert preprocess_clip(clip, CFG, tmp_path, progress=False).from_cache  # back to a: a hit


def test_truncated_array_is_rebuilt_with_a_warning(tmp_path, builds, caplog):
    clip = _clip()
    first = preprocess_clip(clip, CFG, tmp_path, progress=False)
    expected = np.array(first.motion)
    path = first.path / "motion.npy"
    del first
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 100)
    with caplog.at_level(logging.WARNING, logger="rppg_lib.preprocess"):
        again = preprocess_clip(clip, CFG, tmp_path, progress=False)
    assert "invalid, rebuilding" in caplog.text and "truncated" in caplog.text
    assert len(builds) == 2 and not again.from_cache
    np.testing.assert_array_equal(again.motion, expected)
    assert preprocess_clip(clip, CFG, tmp_path, progress=False).from_cache


@pytest.mark.parametrize("damage", ["manifest", "meta", "flip"])
def test_corrupt_entries_are_detected(tmp_path, damage):
    out = preprocess_clip(_clip(), CFG, tmp_path, progress=False)
    folder = out.path
    del out
    if damage == "manifest":
        (folder / "manifest.json").write_text("{not json")
    elif damage == "meta":
        raw = bytearray((folder / "meta.npz").read_bytes())
        raw[60:120] = bytes(60)  # inside the first member's compressed data: CRC fails
        (folder / "meta.npz").write_bytes(bytes(raw))
    else:  # same size, one flipped byte inside the data: only the digest can tell
        with open(folder / "appearance.npy", "r+b") as handle:
            handle.seek(500)
            byte = handle.read(1)
            handle.seek(500)
            handle.write(bytes([byte[0] ^ 0xFF]))
        PreprocessedClip.open(folder)  # the cheap checks pass
    with pytest.raises(CacheCorruptError):
        PreprocessedClip.open(folder, verify=True)
    rebuilt = preprocess_clip(_clip(), CFG, tmp_path, progress=False, verify_cache=True)
    assert not rebuilt.from_cache
    PreprocessedClip.open(folder, verify=True)


def test_crash_during_build_leaves_nothing_half_written(tmp_path, monkeypatch):
    real = pipeline_module.preprocess_frames

    def crashing(frames, *args, **kwargs):
        def stream():
            for t, frame in enumerate(frames):
                if t == 20:
                    raise KeyboardInterrupt("simulated crash")
                yield frame
        return real(stream(), *args, **kwargs)

    monkeypatch.setattr(pipeline_module, "preprocess_frames", crashing)
    with pytest.raises(KeyboardInterrupt):
        preprocess_clip(_clip(), CFG, tmp_path, progress=False)
    assert _entries(tmp_path) == []
    monkeypatch.setattr(pipeline_module, "preprocess_frames", real)
    assert not preprocess_clip(_clip(), CFG, tmp_path, progress=False).from_cache


def test_stale_temporary_folder_of_a_dead_process_is_removed(tmp_path):
    out = preprocess_clip(_clip(), CFG, tmp_path, progress=False)
    folder = out.path
    del out
    os.rename(folder, tmp_path / "kept")
    dead_pid = 2**22 + 12345  # above Linux's pid_max: no such process
    stale = tmp_path / f".{folder.name}.{dead_pid}.abcd1234.tmp"
    stale.mkdir()
    (stale / "motion.npy").write_bytes(b"partial")
    preprocess_clip(_clip(), CFG, tmp_path, progress=False)
    assert not stale.exists() and folder.is_dir()


def test_manifest_records_what_was_built(tmp_path):
    out = preprocess_clip(_clip(), CFG, tmp_path, progress=False)
    manifest = json.loads((out.path / "manifest.json").read_text())
    assert manifest["n_frames"] == 30 and manifest["config"] == CFG.to_dict()
    assert manifest["files"]["motion.npy"]["shape"] == [30, 8, 8, 3]
    assert out.path.name.startswith("c-") and manifest["cache_key"].startswith(out.path.name[2:])
    with pytest.raises(CacheCorruptError, match="manifest"):
        PreprocessedClip.open(tmp_path / "nowhere")


def test_source_fingerprints(tmp_path, monkeypatch):
    path = tmp_path / "v.avi"
    frames = list(np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8))
    write_video(path, frames, 30.0)
    fp = source_fingerprint(path)
    os.utime(path, ns=(1, 1))
    assert source_fingerprint(path) == fp  # small file: content hash, mtime irrelevant
    monkeypatch.setattr(cache_module, "SMALL_FILE_BYTES", 0)
    big = source_fingerprint(path)
    assert big["file"]["mtime_ns"] == 1 and big["file"]["path"] == str(path.resolve())
    os.utime(path, ns=(2, 2))
    assert source_fingerprint(path) != big
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "0.png").write_bytes(b"x")
    before = source_fingerprint(folder)
    (folder / "1.png").write_bytes(b"y")
    assert source_fingerprint(folder) != before
    with pytest.raises(FileNotFoundError, match="missing"):
        source_fingerprint(tmp_path / "missing")


def _store_frames(path, writer, buffer_frames):
    """600 frames of 4x4x3 through an NpyFrames store (pass 1 appends, pass 2 rewrites)."""
    from rppg_lib.preprocess.storage import NpyFrames

    frames = np.random.default_rng(3).random((600, 4, 4, 3)).astype(np.float32)
    store = NpyFrames(path, (4, 4, 3), buffer_frames=buffer_frames, writer=writer)
    for frame in frames:
        store.append(frame)
    assert store.finish() == 600
    for start in range(0, 600, 128):
        store.write(start, 2 * store.read(start, min(600, start + 128)))
    return store.close(), 2 * frames


def test_a_store_written_in_the_background_holds_the_same_bytes(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    here, expected = _store_frames(tmp_path / "here.npy", None, 64)
    with ThreadPoolExecutor(max_workers=1) as writer:
        background, _ = _store_frames(tmp_path / "background.npy", writer, 64)
    assert background == here  # shape, bytes and SHA-256 digest
    assert (tmp_path / "here.npy").read_bytes() == (tmp_path / "background.npy").read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "background.npy"), expected)


class _FullDisk(io.FileIO):
    """Files on a disk with room for 64 KiB in all: once it is full every write fails with
    ENOSPC, as the kernel's (a new file's buffered header too, which its close then flushes)."""

    ROOM = 64 * 1024
    used = 0

    def write(self, data):
        room = self.ROOM - _FullDisk.used
        if room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = super().write(memoryview(data).cast("B")[:room])  # a short write fills it
        _FullDisk.used += written
        return written


def test_a_failed_background_write_is_raised_and_the_build_leaves_nothing(tmp_path, monkeypatch):
    import builtins
    import threading

    from rppg_lib.preprocess import storage

    def open_on_full_disk(path, mode="r"):
        if mode != "w+b":
            return builtins.open(path, mode)
        return io.BufferedRandom(_FullDisk(path, "w+"))

    # The stores' files are on the full disk: closing those whose header is still buffered fails
    # too, and the first error, which names its file, must stand.
    monkeypatch.setattr(_FullDisk, "used", 0)
    monkeypatch.setattr(storage, "open", open_on_full_disk, raising=False)
    clip = _clip(n=600)  # more frames than one append buffer (256)
    with pytest.raises(OSError, match="No space left") as raised:
        preprocess_clip(clip, CFG, tmp_path, progress=False)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename.endswith(".npy")
    assert _entries(tmp_path) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("rppg-write")]
    monkeypatch.undo()
    out = preprocess_clip(clip, CFG, tmp_path, progress=False)
    assert out.n_frames == 600 and not out.from_cache
    assert not [t for t in threading.enumerate() if t.name.startswith("rppg-write")]

"""The streaming preprocessing of one clip: frames in, ``PreprocessedClip`` out.

Pass 1 reads each frame once: crop box, crop, resize to S×S and to the mask grid, the raw motion
difference with the previous frame; it appends the raw frames, differences and mask frames to
frame stores and updates running statistics. Pass 2 reads the stores back block by block,
normalises them with the finished statistics and writes them in place. The video is decoded once;
memory holds one frame and one block, whatever the clip length, when the stores are files.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rppg_lib.preprocess.face_tracking import BoxTracker, NoFaceError
from rppg_lib.preprocess.inputs import (
    RunningStats,
    derivative_labels,
    frame_difference,
    normalize_crop,
    segment_mean,
)
from rppg_lib.preprocess.preprocess_config import PreprocessConfig
from rppg_lib.preprocess.result import PreprocessedClip
from rppg_lib.preprocess.storage import ARRAY_NAMES, MemoryFrames, NpyFrames, write_entry
from rppg_lib.progress import progress_bar
from rppg_lib.threads import ThreadSettings, preprocessing_threads
from rppg_lib.validation import as_array, as_signal, check_fs

__all__ = ["preprocess_frames"]

logger = logging.getLogger("rppg_lib.preprocess")

_BLOCK_FRAMES = 256


def _check_frame(frame: Any, t: int, shape: tuple[int, ...] | None, name: str) -> np.ndarray:
    if (
        not isinstance(frame, np.ndarray)
        or frame.dtype != np.uint8
        or frame.ndim != 3
        or (frame.shape[2] != 3)
    ):
        desc = f"{frame.dtype}{frame.shape}" if isinstance(frame, np.ndarray) else type(frame)
        raise ValueError(f"{name}: frame {t} must be an RGB uint8 array (H, W, 3), got {desc}")
    if shape is not None and frame.shape != shape:
        raise ValueError(f"{name}: frame {t} has shape {frame.shape}, frame 0 had {shape}")
    return frame


def _waveform(values: Any, what: str, n_frames: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    y = as_signal(values, what, min_length=1)
    if len(y) != n_frames:
        raise ValueError(f"{name}: {what} has {len(y)} samples but the clip has {n_frames} frames")
    return y


def prefetched(frames: Iterable[np.ndarray], depth: int) -> Iterator[np.ndarray]:
    """Iterate ``frames`` with up to ``depth`` items read ahead by one background thread.

    Video decoders (OpenCV's included) release the GIL, so the next frames decode while the
    current one is processed. Order is kept (a single worker runs the ``next`` calls in turn);
    an exception of the source is raised here, at the frame where it happened. The source
    iterator is closed when iteration stops, also on an error.
    """
    it = iter(frames)
    if depth <= 0:
        yield from it
        return
    end = object()
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rppg-decode") as pool:
            pending = collections.deque(pool.submit(next, it, end) for _ in range(depth))
            try:
                while True:
                    item = pending.popleft().result()
                    if item is end:
                        return
                    pending.append(pool.submit(next, it, end))
                    yield item
            finally:
                for future in pending:
                    future.cancel()
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def _scale(stats: list[RunningStats], what: str, name: str) -> np.ndarray:
    """Per statistics chunk: the std, or 1 where it is 0 (the input is constant there and is left
    unscaled rather than turned into NaN; with a warning) or where the chunk holds no values."""
    std = np.array([s.std for s in stats], dtype=np.float64)
    constant = np.array([s.count > 0 and s.std <= 0 for s in stats], dtype=bool)
    if constant.any():
        logger.warning(
            "%s: %s input is constant in %d of %d statistics chunks: left unscaled",
            name,
            what,
            int(np.count_nonzero(constant)),
            len(std),
        )
    return np.where(std > 0, std, 1.0)


class _Stores:
    """The three frame stores of a clip, in memory or as ``.npy`` files in ``folder`` (written
    and hashed by one background thread, in order; ``close`` or ``abort`` ends it)."""

    def __init__(self, folder: Path | None, size: int, mask: int) -> None:
        shapes = {
            "motion": (size, size, 3),
            "appearance": (size, size, 3),
            "mask_frames": (mask, mask, 3),
        }
        self.folder = folder
        self.writer: ThreadPoolExecutor | None = None
        if folder is None:
            self.stores = {n: MemoryFrames(shapes[n]) for n in ARRAY_NAMES}
        else:
            folder.mkdir(parents=True, exist_ok=True)
            self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rppg-write")
            self.stores = {
                n: NpyFrames(
                    folder / f"{n}.npy",
                    shapes[n],
                    hash_appends=n == "mask_frames",
                    writer=self.writer,
                )
                for n in ARRAY_NAMES
            }

    def __getitem__(self, name: str) -> MemoryFrames | NpyFrames:
        return self.stores[name]

    def close(self) -> dict[str, dict[str, Any]]:
        """The files' manifest records (``NpyFrames.close``), once everything is on disk."""
        records = {f"{name}.npy": store.close() for name, store in self.stores.items()}
        self.writer.shutdown()
        return records

    def abort(self) -> None:
        if self.folder is None:
            return
        for name, store in self.stores.items():
            store.abort()
            (self.folder / f"{name}.npy").unlink(missing_ok=True)
        self.writer.shutdown()


def preprocess_frames(
    frames: Iterable[np.ndarray],
    fps: float,
    config: PreprocessConfig | None = None,
    *,
    boxes: np.ndarray | None = None,
    bvp: np.ndarray | None = None,
    resp: np.ndarray | None = None,
    frame_times: np.ndarray | None = None,
    clip_id: str = "frames",
    source: str | None = None,
    out_dir: str | os.PathLike | None = None,
    n_frames: int | None = None,
    progress: bool = False,
    prefetch: int = 8,
    manifest_extra: dict[str, Any] | None = None,
    threads: ThreadSettings | None = None,
    on_mask_frame: Callable[[np.ndarray], None] | None = None,
    on_frame: Callable[[np.ndarray, tuple[int, int, int, int]], None] | None = None,
) -> PreprocessedClip:
    """Preprocess a stream of RGB uint8 frames (H, W, 3) sampled at ``fps`` Hz (one pass).

    boxes: (T, 4) known face boxes for ``crop="box"``. bvp, resp: (T,) waveforms at the frames
    (labels are their derivatives, see ``inputs``). frame_times: (T,) s, default t / fps.
    clip_id, source: name the clip in messages and in the result.
    out_dir: write the arrays there as ``.npy`` files and return memory maps of them (bounded
    memory for any clip length); None keeps everything in memory. n_frames: the expected T (the
    progress bar's total; a stream of another length raises ValueError). manifest_extra: extra
    JSON-ready fields for the folder's manifest. prefetch: frames decoded ahead in a background
    thread (0: none); it changes speed only, never the result. threads: OpenCV and BLAS threads
    of the crop, resize and normalise stages (default: ``rppg_lib.threads.get_thread_settings()``:
    BLAS and OpenCV one thread each); speed only, never the result.
    on_mask_frame: called with each frame's crop on the mask grid ((M, M, 3) float32, the row
    ``mask_frames`` gets) as soon as it is made, so a consumer (a network) can start on the first
    frames while later ones decode.
    on_frame: called with each whole frame ((H, W, 3) uint8 RGB) and its face box (x, y, w, h),
    the box the crop was enlarged from (for ``crop="center"`` the centre square itself), so a
    consumer can read the face's own pixels at full resolution.

    Raises ValueError for a non-RGB-uint8 frame, a clip shorter than max(2, frame_depth) frames,
    a waveform/box/time array whose length is not T, or (``crop="haar"``) no face in any frame.
    """
    cfg = config if config is not None else PreprocessConfig()
    fps = check_fs(fps, "fps")
    if boxes is not None and cfg.crop != "box":
        raise ValueError(f"boxes are only used with crop='box', got crop={cfg.crop!r}")
    tracker = cfg.box_tracker(fps, boxes)
    clip = _ClipOptions(
        fps=fps, clip_id=clip_id, source=source, boxes=boxes, bvp=bvp, resp=resp,
        frame_times=frame_times, n_frames=n_frames, progress=progress, prefetch=prefetch,
        manifest_extra=manifest_extra or {}, threads=threads, on_mask_frame=on_mask_frame,
        on_frame=on_frame,
    )
    folder = Path(out_dir) if out_dir is not None else None
    stores = _Stores(folder, cfg.size, cfg.mask_grid)
    try:
        return _run(frames, cfg, tracker, stores, clip)
    except BaseException:
        stores.abort()
        raise


@dataclass(frozen=True)
class _ClipOptions:
    """What :func:`preprocess_frames` was told about the clip besides its frames and config
    (each field as documented there; fps already checked, manifest_extra never None)."""

    fps: float
    clip_id: str
    source: str | None
    boxes: np.ndarray | None
    bvp: np.ndarray | None
    resp: np.ndarray | None
    frame_times: np.ndarray | None
    n_frames: int | None
    progress: bool
    prefetch: int
    manifest_extra: dict[str, Any]
    threads: ThreadSettings | None
    on_mask_frame: Callable[[np.ndarray], None] | None
    on_frame: Callable[[np.ndarray, tuple[int, int, int, int]], None] | None

    @property
    def name(self) -> str:
        """The clip as messages name it: its id and, when known, its source."""
        return f"clip {self.clip_id!r}" + (f" ({self.source})" if self.source else "")


class _ChunkStats:
    """Running statistics per statistics chunk of ``chunk_length`` frames (one for the whole
    clip when ``chunk_length`` is None)."""

    def __init__(self, chunk_length: int | None) -> None:
        self.chunk_length = chunk_length
        self.chunks: list[RunningStats] = []

    def at(self, t: int) -> RunningStats:
        """The statistics of the chunk that holds frame ``t`` (from 0)."""
        k = 0 if self.chunk_length is None else t // self.chunk_length
        while len(self.chunks) <= k:
            self.chunks.append(RunningStats())
        return self.chunks[k]


@dataclass
class _FirstPass:
    """What pass 1 learns about the clip: per frame its crop box (x, y, w, h) in pixels and
    whether a face was found, and the running statistics of appearance and motion."""

    crop_boxes: list[tuple[int, int, int, int]]
    found: list[bool]
    appearance: _ChunkStats
    motion: _ChunkStats

    @property
    def n(self) -> int:
        return len(self.crop_boxes)


def _run(
    frames: Iterable[np.ndarray],
    cfg: PreprocessConfig,
    tracker: BoxTracker,
    stores: _Stores,
    clip: _ClipOptions,
) -> PreprocessedClip:
    first = _first_pass(frames, cfg, tracker, stores, clip)
    face_found = np.asarray(first.found, dtype=bool)
    _check_clip(first.n, face_found, cfg, clip)
    waves = _waveforms(clip, first.n)
    times = _frame_times(clip, first.n)
    _warn_missing_faces(face_found, cfg, clip)
    stats = _second_pass(stores, first, cfg, clip.name)
    meta = _metadata(first, face_found, times, stats, waves)
    if stores.folder is None:
        return _in_memory_clip(stores, meta, stats, cfg, clip)
    return _written_clip(stores, meta, face_found, cfg, clip)


def _first_pass(
    frames: Iterable[np.ndarray],
    cfg: PreprocessConfig,
    tracker: BoxTracker,
    stores: _Stores,
    clip: _ClipOptions,
) -> _FirstPass:
    """Pass 1: crop each frame, resize it to S×S and to the mask grid, take the raw motion
    difference with the previous frame; append them to the stores, update the statistics."""
    stat_length = cfg.chunk_length if cfg.stats == "chunk" else None
    first = _FirstPass([], [], _ChunkStats(stat_length), _ChunkStats(stat_length))
    shape = None
    prev = None
    with (
        preprocessing_threads(clip.threads),  # OpenCV and BLAS threads of crop, resize, normalise
        contextlib.closing(prefetched(frames, clip.prefetch)) as stream,
        progress_bar(
            stream, total=clip.n_frames, desc=clip.clip_id, unit="frame",
            disable=not clip.progress, leave=False,
        ) as bar,
    ):
        for t, frame in enumerate(bar):
            frame = _check_frame(frame, t, shape, clip.name)
            shape = frame.shape
            (x, y, w, h), ok = tracker(frame, t)
            if clip.on_frame is not None:
                clip.on_frame(frame, tracker.face_box)
            crop = frame[y : y + h, x : x + w].astype(np.float32)
            cur = normalize_crop(crop, cfg.size, "area")
            mask_frame = normalize_crop(crop, cfg.mask_grid, cfg.mask_interpolation)
            stores["mask_frames"].append(mask_frame)
            if clip.on_mask_frame is not None:
                clip.on_mask_frame(mask_frame)
            if prev is not None:
                diff = frame_difference(cur, prev, cfg.eps)
                stores["motion"].append(diff)
                first.motion.at(t - 1).update(diff)
            stores["appearance"].append(cur)
            first.appearance.at(t).update(cur)
            first.crop_boxes.append((x, y, w, h))
            first.found.append(ok)
            prev = cur
    return first


def _check_clip(
    n: int, face_found: np.ndarray, cfg: PreprocessConfig, clip: _ClipOptions
) -> None:
    """ValueError for a clip of no frames, of another length than n_frames, shorter than
    max(2, frame_depth), or with another number of boxes; NoFaceError when the Haar cascade
    found no face at all."""
    name = clip.name
    if n == 0:
        raise ValueError(f"{name} has no frames (zero-length video or empty stream)")
    if clip.n_frames is not None and n != clip.n_frames:
        raise ValueError(
            f"{name}: the frame stream held {n} frames, expected n_frames={clip.n_frames}"
        )
    if n < max(2, cfg.frame_depth):
        raise ValueError(
            f"{name} has {n} frames, fewer than frame_depth={cfg.frame_depth} "
            "(and at least 2 are needed for a frame difference)"
        )
    if clip.boxes is not None and cfg.crop == "box" and len(clip.boxes) != n:
        raise ValueError(f"{name}: boxes has {len(clip.boxes)} rows but the clip has {n} frames")
    if cfg.crop == "haar" and not face_found.any():
        raise NoFaceError(
            f"{name}: no face found in any of its {n} frames (Haar cascade); "
            "use crop='center' or 'box', or check the video"
        )


def _waveforms(clip: _ClipOptions, n: int) -> dict[str, np.ndarray | None]:
    """bvp and resp as (n,) arrays (None when not given); ValueError for another length."""
    return {
        "bvp": _waveform(clip.bvp, "bvp", n, clip.name),
        "resp": _waveform(clip.resp, "resp", n, clip.name),
    }


def _frame_times(clip: _ClipOptions, n: int) -> np.ndarray:
    """(n,) s: the given frame_times, else t / fps; ValueError for another length."""
    if clip.frame_times is None:
        times = np.arange(n) / clip.fps
    else:
        times = as_array(clip.frame_times, "frame_times", ndim=1)
    if len(times) != n:
        raise ValueError(f"{clip.name}: frame_times has {len(times)} entries, clip {n} frames")
    return times


def _metadata(
    first: _FirstPass,
    face_found: np.ndarray,
    times: np.ndarray,
    stats: dict[str, np.ndarray],
    waves: dict[str, np.ndarray | None],
) -> dict[str, np.ndarray]:
    """The arrays besides the frames: frame_times, boxes, face_found, the statistics, and the
    given waveforms with their derivative labels."""
    meta = {
        "frame_times": times,
        "boxes": np.asarray(first.crop_boxes, dtype=np.int64),
        "face_found": face_found,
        **{f"stats_{k}": v for k, v in stats.items()},
    }
    for key, wave in waves.items():
        if wave is not None:
            meta[key] = wave
            meta["labels" if key == "bvp" else "resp_labels"] = derivative_labels(wave, key)
    return meta


def _warn_missing_faces(face_found: np.ndarray, cfg: PreprocessConfig, clip: _ClipOptions) -> None:
    n_missing = int(np.count_nonzero(~face_found))
    if n_missing:
        logger.warning(
            "%s: no face found in %d of %d frames (%.1f%%); cropped with the %s box",
            clip.name,
            n_missing,
            len(face_found),
            100.0 * n_missing / len(face_found),
            cfg.no_face,
        )


def _second_pass(
    stores: _Stores, first: _FirstPass, cfg: PreprocessConfig, name: str
) -> dict[str, np.ndarray]:
    """Close the stores' pass 1 and normalise them (:func:`_normalise`); returns the statistics
    used, one value per statistics chunk: appearance_mean, appearance_std, motion_std."""
    stores["motion"].append(np.zeros((cfg.size, cfg.size, 3), dtype=np.float32))
    for key in ARRAY_NAMES:
        stores[key].finish()
    app_stats, mot_stats = first.appearance.chunks, first.motion.chunks
    # With per-chunk statistics a last chunk holding only the last frame has no motion values.
    mot_stats += [RunningStats() for _ in range(len(app_stats) - len(mot_stats))]
    app_mean = np.array([s.mean for s in app_stats], dtype=np.float64)
    app_std = _scale(app_stats, "appearance", name)
    mot_std = _scale(mot_stats, "motion", name)
    _normalise(stores, first.n, cfg, first.appearance.chunk_length, app_mean, app_std, mot_std)
    return {"appearance_mean": app_mean, "appearance_std": app_std, "motion_std": mot_std}


def _in_memory_clip(
    stores: _Stores,
    meta: dict[str, np.ndarray],
    stats: dict[str, np.ndarray],
    cfg: PreprocessConfig,
    clip: _ClipOptions,
) -> PreprocessedClip:
    return PreprocessedClip(
        clip_id=clip.clip_id,
        fps=clip.fps,
        **{key: stores[key].array for key in ARRAY_NAMES},
        frame_times=meta["frame_times"],
        boxes=meta["boxes"],
        face_found=meta["face_found"],
        labels=meta.get("labels"),
        bvp=meta.get("bvp"),
        resp=meta.get("resp"),
        resp_labels=meta.get("resp_labels"),
        stats=stats,
        config=cfg.to_dict(),
    )


def _written_clip(
    stores: _Stores,
    meta: dict[str, np.ndarray],
    face_found: np.ndarray,
    cfg: PreprocessConfig,
    clip: _ClipOptions,
) -> PreprocessedClip:
    """Finish the files, write the folder's manifest and open the folder."""
    records = stores.close()
    manifest = {
        **clip.manifest_extra,
        "clip_id": clip.clip_id,
        "fps": clip.fps,
        "n_frames": len(face_found),
        "n_no_face_frames": int(np.count_nonzero(~face_found)),
        "config": cfg.to_dict(),
    }
    write_entry(stores.folder, records, meta, manifest)
    return PreprocessedClip.open(stores.folder)


def _normalise(
    stores: _Stores,
    n: int,
    cfg: PreprocessConfig,
    stat_len: int | None,
    app_mean: np.ndarray,
    app_std: np.ndarray,
    mot_std: np.ndarray,
) -> None:
    """Pass 2: scale motion, standardise appearance (and segment-average it), block by block.

    Blocks are multiples of frame_depth, so that no averaging segment straddles two blocks.
    """
    block = cfg.frame_depth * max(1, _BLOCK_FRAMES // cfg.frame_depth)
    for start in range(0, n, block):
        stop = min(n, start + block)
        k = (
            np.zeros(stop - start, dtype=np.int64)
            if stat_len is None
            else (np.arange(start, stop) // stat_len)
        )
        col = (slice(None), None, None, None)
        motion = stores["motion"].read(start, stop)
        stores["motion"].write(start, motion / mot_std[k].astype(np.float32)[col])
        app = stores["appearance"].read(start, stop)
        app = (app - app_mean[k].astype(np.float32)[col]) / app_std[k].astype(np.float32)[col]
        if cfg.appearance == "chunk_mean":
            app = segment_mean(app, cfg.frame_depth)
        stores["appearance"].write(start, app)

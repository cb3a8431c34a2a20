"""Drivers: one ``Clip`` (with its ground truth and the cache), and many clips (optionally in
parallel) with an account of every frame and chunk."""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rppg_lib.preprocess.cache import (
    array_digest,
    cache_key,
    entry_folder,
    load_or_build,
    source_fingerprint,
)
from rppg_lib.preprocess.preprocess_config import PreprocessConfig
from rppg_lib.preprocess.result import PreprocessedClip, chunks
from rppg_lib.preprocess.stream import preprocess_frames
from rppg_lib.progress import progress_bar
from rppg_lib.threads import ThreadSettings, get_thread_settings, thread_settings

__all__ = ["preprocess_clip", "preprocess_dataset", "PreprocessedDataset"]

logger = logging.getLogger("rppg_lib.preprocess")


def _clip_inputs(clip: Any, cfg: PreprocessConfig) -> dict[str, Any]:
    """Frame times, labels at the frames and known boxes of a ``rppg_lib.datasets.Clip``."""
    boxes = None
    if cfg.crop == "box":
        boxes = getattr(clip, "face_boxes", None)
        if boxes is None:
            raise ValueError(
                f"clip {clip.clip_id!r} ({clip.source}) has no face_boxes; crop='box' needs them"
            )
    bvp = clip.at_frames(clip.bvp) if getattr(clip, "bvp", None) is not None else None
    resp = clip.at_frames(clip.resp) if getattr(clip, "resp", None) is not None else None
    return {
        "fps": float(clip.fps),
        "frame_times": np.asarray(clip.frame_times, dtype=np.float64),
        "bvp": bvp,
        "resp": resp,
        "boxes": boxes,
    }


def _source_of(clip: Any) -> dict[str, Any]:
    frames = getattr(getattr(clip, "frame_source", None), "frames", None)
    if isinstance(frames, np.ndarray):  # in-memory frames: their pixels are the source
        return {"frames": array_digest(frames)}
    return source_fingerprint(clip.source)


def preprocess_clip(
    clip: Any,
    config: PreprocessConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    progress: bool = True,
    verify_cache: bool | None = None,
) -> PreprocessedClip:
    """Preprocess a ``rppg_lib.datasets.Clip``: its frames, ``bvp``/``resp`` labels resampled to
    the frame times, its ``face_boxes`` for ``crop="box"``.

    With ``cache_dir`` the result is stored there (see ``cache``) and later calls with the same
    source, ground truth and config load it instead of recomputing (``from_cache`` True); frame
    arrays are then memory maps, so long clips need little memory. Every cached byte is checked
    against its digest on the entry's first use in this process (``verify_cache`` None), on
    every use (True) or never (False). Without ``cache_dir`` everything stays in memory.

    Raises ValueError when the video decodes to a different number of frames than the clip
    claims, and for every error of ``preprocess_frames``.
    """
    cfg = config if config is not None else PreprocessConfig()
    inputs = _clip_inputs(clip, cfg)
    clip_id = str(clip.clip_id)

    def build(out_dir: Path | None, manifest: dict[str, Any] | None = None) -> PreprocessedClip:
        return preprocess_frames(
            clip.iter_frames(),
            inputs["fps"],
            cfg,
            boxes=inputs["boxes"],
            bvp=inputs["bvp"],
            resp=inputs["resp"],
            frame_times=inputs["frame_times"],
            clip_id=clip_id,
            source=str(clip.source),
            out_dir=out_dir,
            n_frames=int(clip.n_frames),
            progress=progress,
            manifest_extra=manifest,
        )

    if cache_dir is None:
        return build(None)
    source = _source_of(clip)
    key = cache_key(
        source,
        cfg,
        {
            "clip_id": clip_id,
            "n_frames": int(clip.n_frames),
            "fps": inputs["fps"],
            **{
                name: array_digest(inputs[name]) for name in ("frame_times", "bvp", "resp", "boxes")
            },
        },
    )
    extra = {"cache_key": key, "source": str(clip.source), "source_fingerprint": source}
    folder = entry_folder(cache_dir, clip_id, key)
    return load_or_build(folder, lambda tmp: build(tmp, extra), verify=verify_cache)


@dataclass
class PreprocessedDataset:
    """Preprocessed clips (in input order) and the account of their chunks.

    chunk_slices[clip_id]: the chunks of ``chunk_length`` frames; dropped_tail_frames[clip_id]:
    frames after the last full chunk (not used for training chunks, reported).
    """

    clips: list[PreprocessedClip]
    chunk_length: int
    chunk_slices: dict[str, list[slice]]
    dropped_tail_frames: dict[str, int]

    @property
    def n_chunks(self) -> int:
        return sum(len(s) for s in self.chunk_slices.values())

    def __len__(self) -> int:
        return len(self.clips)

    def summary(self) -> pd.DataFrame:
        """One row per clip: frames, chunks, dropped tail frames, frames without a face, cache."""
        return pd.DataFrame(
            [
                {
                    "clip_id": c.clip_id,
                    "n_frames": c.n_frames,
                    "n_chunks": len(self.chunk_slices[c.clip_id]),
                    "dropped_tail_frames": self.dropped_tail_frames[c.clip_id],
                    "no_face_frames": c.n_no_face_frames,
                    "from_cache": c.from_cache,
                }
                for c in self.clips
            ]
        )


def _worker(
    clip: Any, cfg: PreprocessConfig, cache_dir: str, verify: bool | None, threads: ThreadSettings
) -> str:
    """Process-pool task: build or validate one cache entry; returns its folder (the arrays stay
    on disk instead of being pickled back). ``threads``: the parent's thread settings (a spawned
    process starts with the defaults)."""
    with thread_settings(threads):
        clip_cache = preprocess_clip(clip, cfg, cache_dir, progress=False, verify_cache=verify)
    return str(clip_cache.path)


def preprocess_dataset(
    clips: Any,
    config: PreprocessConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    workers: int = 0,
    progress: bool = True,
    verify_cache: bool | None = None,
) -> PreprocessedDataset:
    """Preprocess many clips (a ``Dataset`` or an iterable of ``Clip``), with an overall progress
    bar and one per clip (serial mode).

    workers: 0 runs in this process; n > 0 uses a pool of n processes (``spawn``), which needs
    ``cache_dir`` (results travel as cache folders). Every clip must hold at least one chunk of
    ``config.chunk_length`` frames (checked before any work, all short clips named at once);
    afterwards every clip's frame count and the total number of chunks are checked against the
    counts expected from the clips' ``n_frames``: RuntimeError on any difference.
    """
    cfg = config if config is not None else PreprocessConfig()
    clip_list = _checked_clips(clips, cfg, workers, cache_dir)
    bar = progress_bar(total=len(clip_list), desc="clips", unit="clip", disable=not progress)
    if workers == 0:
        results = {}
        for clip in clip_list:
            results[str(clip.clip_id)] = preprocess_clip(
                clip, cfg, cache_dir, progress=progress, verify_cache=verify_cache
            )
            bar.update()
    else:
        results = _preprocess_in_pool(clip_list, cfg, cache_dir, workers, verify_cache, bar)
    bar.close()
    return _account(clip_list, results, cfg)


def _checked_clips(
    clips: Any, cfg: PreprocessConfig, workers: int, cache_dir: str | os.PathLike | None
) -> list[Any]:
    """The clips as a list; ValueError for none, repeated ids, clips shorter than one chunk (all
    named at once), or a bad ``workers`` (a pool needs a cache_dir)."""
    clip_list = list(clips.clips) if hasattr(clips, "clips") else list(clips)
    if not clip_list:
        raise ValueError("clips is empty: nothing to preprocess")
    ids = [str(c.clip_id) for c in clip_list]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"clip ids must be unique, these repeat: {duplicates}")
    short = [
        f"{c.clip_id} ({c.n_frames} frames)" for c in clip_list if c.n_frames < cfg.chunk_length
    ]
    if short:
        raise ValueError(
            f"{len(short)} clip(s) are shorter than one chunk of chunk_length={cfg.chunk_length} "
            f"frames: {', '.join(short)}"
        )
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0, got {workers!r}")
    if workers > 0 and cache_dir is None:
        raise ValueError("workers > 0 needs a cache_dir (results are passed back as cache folders)")
    return clip_list


def _preprocess_in_pool(
    clip_list: list[Any],
    cfg: PreprocessConfig,
    cache_dir: str | os.PathLike,
    workers: int,
    verify_cache: bool | None,
    bar: Any,
) -> dict[str, PreprocessedClip]:
    """Preprocess the clips in ``workers`` spawned processes, each writing its clip into
    ``cache_dir``; returns the clips opened from there, by id, in the order they finished."""
    results: dict[str, PreprocessedClip] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(
                _worker, clip, cfg, str(cache_dir), verify_cache, get_thread_settings()
            ): str(clip.clip_id)
            for clip in clip_list
        }
        for future in as_completed(futures):
            clip_id = futures[future]
            try:
                folder = future.result()
            except Exception as err:
                raise RuntimeError(f"preprocessing clip {clip_id!r} failed: {err}") from err
            # the worker checked or wrote its digests: no second hashing here
            results[clip_id] = PreprocessedClip.open(folder, verify=False)
            bar.update()
    return results


def _account(
    clip_list: list[Any], results: dict[str, PreprocessedClip], cfg: PreprocessConfig
) -> PreprocessedDataset:
    """Check that every clip came back with all its frames and count chunks against the
    expectation from the source clips."""
    missing = [str(c.clip_id) for c in clip_list if str(c.clip_id) not in results]
    if missing:
        raise RuntimeError(f"{len(missing)} clip(s) were not preprocessed: {missing}")
    slices: dict[str, list[slice]] = {}
    dropped: dict[str, int] = {}
    expected = 0
    for clip in clip_list:
        result = results[str(clip.clip_id)]
        if result.n_frames != clip.n_frames:
            raise RuntimeError(
                f"clip {clip.clip_id!r}: {result.n_frames} preprocessed frames, "
                f"expected {clip.n_frames}"
            )
        expected += int(clip.n_frames) // cfg.chunk_length
        slices[result.clip_id], dropped[result.clip_id] = chunks(
            result.n_frames, cfg.chunk_length, cfg.frame_depth, clip_id=result.clip_id
        )
    out = PreprocessedDataset(
        clips=[results[str(c.clip_id)] for c in clip_list],
        chunk_length=cfg.chunk_length,
        chunk_slices=slices,
        dropped_tail_frames=dropped,
    )
    if out.n_chunks != expected:
        raise RuntimeError(f"{out.n_chunks} chunks available, {expected} expected")
    logger.info(
        "%d clips, %d chunks of %d frames, %d tail frames dropped, %d frames without a face",
        len(out.clips),
        out.n_chunks,
        cfg.chunk_length,
        sum(dropped.values()),
        sum(c.n_no_face_frames for c in out.clips),
    )
    return out

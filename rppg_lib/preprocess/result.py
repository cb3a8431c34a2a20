"""``PreprocessedClip``: the network inputs, labels and bookkeeping of one clip, and chunking."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rppg_lib.constants import FRAME_DEPTH
from rppg_lib.preprocess.storage import CacheCorruptError, read_entry
from rppg_lib.validation import check_positive_int

__all__ = ["PreprocessedClip", "chunks"]

logger = logging.getLogger("rppg_lib.preprocess")


def chunks(
    n_frames: int, chunk_length: int, frame_depth: int = FRAME_DEPTH, *, clip_id: str = "clip"
) -> tuple[list[slice], int]:
    """Split T frames into consecutive chunks of ``chunk_length`` frames (a multiple of
    ``frame_depth``, the TSM segment length). Returns (slices, number of dropped tail frames).

    The tail that does not fill a chunk is dropped, and a warning says how many frames; a clip
    shorter than one chunk raises ValueError naming the clip.
    """
    n_frames = int(n_frames)
    chunk_length = check_positive_int(chunk_length, "chunk_length")
    frame_depth = check_positive_int(frame_depth, "frame_depth")
    if chunk_length % frame_depth:
        raise ValueError(
            f"chunk_length must be a multiple of frame_depth={frame_depth}, got {chunk_length}"
        )
    if n_frames < chunk_length:
        raise ValueError(
            f"clip {clip_id!r} has {n_frames} frames, fewer than one chunk of {chunk_length}"
        )
    n_chunks, dropped = divmod(n_frames, chunk_length)
    if dropped:
        logger.warning(
            "clip %r: %d tail frames dropped (%d frames = %d chunks of %d + %d)",
            clip_id,
            dropped,
            n_frames,
            n_chunks,
            chunk_length,
            dropped,
        )
    return [slice(i * chunk_length, (i + 1) * chunk_length) for i in range(n_chunks)], dropped


@dataclass
class PreprocessedClip:
    """One clip after preprocessing. Frame arrays may be memory maps (clips loaded from disk).

    motion, appearance: (T, S, S, 3) float32 network inputs (channels last).
    mask_frames: (T, M, M, 3) float32 in [1/255, 1], the network's crop on the attention-mask grid
        (M = S − 2 by default), for inverse attention.
    frame_times: (T,) s. boxes: (T, 4) int crop boxes (x, y, w, h) in source pixels.
    face_found: (T,) bool, False where the latest face detection failed (``"haar"`` crop only).
    labels / resp_labels: (T,) float32 derivative labels of bvp / resp, or None.
    bvp / resp: (T,) float64 waveforms at the frame times as given (kept raw), or None.
    stats: normalisation statistics, arrays with one entry per statistics chunk (one entry for
        whole-video statistics): ``appearance_mean``, ``appearance_std``, ``motion_std``.
    config: the PreprocessConfig as a dict. path: the folder the arrays live in, or None.
    from_cache: True when loaded from an existing cache entry rather than computed.
    """

    clip_id: str
    fps: float
    motion: np.ndarray
    appearance: np.ndarray
    mask_frames: np.ndarray
    frame_times: np.ndarray
    boxes: np.ndarray
    face_found: np.ndarray
    labels: np.ndarray | None = None
    bvp: np.ndarray | None = None
    resp: np.ndarray | None = None
    resp_labels: np.ndarray | None = None
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    from_cache: bool = False

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def size(self) -> int:
        return int(self.motion.shape[1])

    @property
    def n_no_face_frames(self) -> int:
        """Frames whose latest face detection failed (cropped with the fallback box)."""
        return int(np.count_nonzero(~self.face_found))

    def network_input(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) as the PyTorch models take them: (n, 6, S, S) float32, channels
        0–2 motion, 3–5 appearance (a copy, loaded into memory)."""
        sl = slice(start, stop)
        both = np.concatenate([self.motion[sl], self.appearance[sl]], axis=-1)
        return np.ascontiguousarray(both.transpose(0, 3, 1, 2), dtype=np.float32)

    def chunk_slices(self, chunk_length: int | None = None) -> tuple[list[slice], int]:
        """``chunks`` of this clip (default chunk length and frame depth from its config)."""
        return chunks(
            self.n_frames,
            chunk_length if chunk_length is not None else self.config["chunk_length"],
            self.config.get("frame_depth", FRAME_DEPTH),
            clip_id=self.clip_id,
        )

    def load(self) -> PreprocessedClip:
        """A copy with every array read into memory (no memory maps)."""

        def copy(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.array(a)

        return PreprocessedClip(
            **{
                name: copy(value) if isinstance(value, np.ndarray) else value
                for name, value in self.__dict__.items()
            }
        )

    @classmethod
    def open(cls, folder: str | os.PathLike, verify: bool | None = None) -> PreprocessedClip:
        """Open a clip folder written by the pipeline; frame arrays are read-only memory maps.
        ``verify`` checks every file's digest: True always, None (default) on the entry's first
        opening in this process, False never. Raises storage.CacheCorruptError when invalid."""
        manifest, arrays, meta = read_entry(folder, verify=verify)
        optional = {k: meta.get(k) for k in ("labels", "bvp", "resp", "resp_labels")}
        try:
            return cls._from_entry(folder, manifest, arrays, meta, optional)
        except (KeyError, TypeError, ValueError) as err:  # a hand-edited manifest or meta.npz
            raise CacheCorruptError(
                f"cache entry {folder} lacks or garbles {err} in its manifest or meta.npz; "
                f"delete {folder} and the clip is preprocessed again"
            ) from None

    @classmethod
    def _from_entry(
        cls,
        folder: str | os.PathLike,
        manifest: dict[str, Any],
        arrays: dict[str, np.ndarray],
        meta: dict[str, np.ndarray],
        optional: dict[str, Any],
    ) -> PreprocessedClip:
        return cls(
            clip_id=manifest["clip_id"],
            fps=float(manifest["fps"]),
            motion=arrays["motion"],
            appearance=arrays["appearance"],
            mask_frames=arrays["mask_frames"],
            frame_times=meta["frame_times"],
            boxes=meta["boxes"],
            face_found=meta["face_found"],
            stats={k[len("stats_") :]: v for k, v in meta.items() if k.startswith("stats_")},
            config=manifest["config"],
            path=Path(folder),
            **optional,
        )

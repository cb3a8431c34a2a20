"""Preprocessing for TS-CAN / CAN / MTTS-CAN: face crop, motion and appearance inputs, labels,
attention-grid frames, and an on-disk cache (notebook 01_preprocessing).

Per frame: a crop box (``face``: Haar face detection re-run every ``redetect_every`` frames, the
face tracked in between by optical flow, smoothed, held still within a dead band, and enlarged
×``box_scale`` so background stays in view; or the centre square, known boxes, or the whole
frame), the crop resized to S×S with area interpolation, scaled to [0, 1] and
clipped to [1/255, 1] (X[t]), and the same crop resized to the mask grid M×M (M = S − 2, the
gate-1 attention size) for the inverse-attention step. Per clip (``inputs``): motion
D[t] = (X[t+1] − X[t]) / (X[t+1] + X[t] + ε) divided by its standard deviation, last frame zero;
appearance A[t] = (X[t] − mean) / std; labels d[t] = diff(y)/std(diff(y)), zero-padded at the end.

The video is decoded once and memory stays bounded whatever its length: pass 1 streams the frames
into frame stores (``.npy`` files when a folder is given) while running float64 statistics
accumulate; pass 2 normalises the stores block by block.

Entry points
------------
``PreprocessConfig``
    Every parameter (size, crop, box_scale, redetect_every, smooth, no_face, tracker,
    redetect_tolerance, hold_band, filter_cutoff_hz, filter_beta, mask_size, mask_interpolation,
    appearance, frame_depth, chunk_length, stats, eps), validated.
``preprocess_frames(frames, fps, config, *, boxes, bvp, resp, frame_times, out_dir, ...)``
    Any iterable of RGB uint8 (H, W, 3) frames → ``PreprocessedClip``.
``preprocess_clip(clip, config, cache_dir)``
    A ``rppg_lib.datasets.Clip`` with its ground truth, through the cache.
``preprocess_dataset(clips, config, cache_dir, workers=0)``
    Many clips (optionally a process pool) → ``PreprocessedDataset`` with the chunk account.
``PreprocessedClip``
    motion, appearance (T, S, S, 3), mask_frames (T, M, M, 3), labels, bvp, resp, resp_labels,
    frame_times, boxes, face_found, stats, config; ``network_input()`` → (T, 6, S, S);
    ``PreprocessedClip.open(folder)`` memory-maps a stored clip.
``chunks(n_frames, chunk_length, frame_depth)``
    Chunk slices and the number of dropped tail frames (logged as a warning).

Fixes of the original code: MTTS-CAN's centre crop was one pixel off and its frames
were always rotated by 90°, and its motion loop skipped the last real difference: here the centre
square is exact, nothing is rotated, and all T−1 differences are computed. rPPG-Toolbox held whole
videos in memory and could lose chunks silently in worker processes: here memory does not grow
with the video, and frame and chunk counts are checked. Warnings (frames without a face, dropped
tail frames, constant inputs, rebuilt cache entries) go to the ``rppg_lib.preprocess`` logger.
"""

from rppg_lib.preprocess.cache import cache_key, source_fingerprint
from rppg_lib.preprocess.face_tracking import (
    BoxTracker,
    NoFaceError,
    center_box,
    detect_face,
    fit_box,
    scale_box,
    smooth_box,
)
from rppg_lib.preprocess.inputs import (
    EPS,
    RunningStats,
    appearance_input,
    derivative_labels,
    frame_difference,
    motion_input,
    normalize_crop,
    segment_mean,
)
from rppg_lib.preprocess.pipeline import PreprocessedDataset, preprocess_clip, preprocess_dataset
from rppg_lib.preprocess.preprocess_config import PreprocessConfig
from rppg_lib.preprocess.resize import matlab_bicubic_weights, resize
from rppg_lib.preprocess.result import PreprocessedClip, chunks
from rppg_lib.preprocess.storage import CacheCorruptError
from rppg_lib.preprocess.stream import preprocess_frames

__all__ = [
    "PreprocessConfig",
    "PreprocessedClip",
    "PreprocessedDataset",
    "preprocess_frames",
    "preprocess_clip",
    "preprocess_dataset",
    "chunks",
    "CacheCorruptError",
    "cache_key",
    "source_fingerprint",
    "BoxTracker",
    "NoFaceError",
    "detect_face",
    "center_box",
    "scale_box",
    "fit_box",
    "smooth_box",
    "EPS",
    "RunningStats",
    "normalize_crop",
    "frame_difference",
    "motion_input",
    "appearance_input",
    "segment_mean",
    "derivative_labels",
    "resize",
    "matlab_bicubic_weights",
]

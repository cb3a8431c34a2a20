"""Any video file or frame folder, with an optional ground-truth CSV.

``root`` may be
- a video file (any format the installed OpenCV/FFmpeg decodes): one clip;
- a folder of images (PNG, JPEG, BMP, TIFF, PPM) in natural name order: one clip, ``fps`` required;
- a folder of video files: one clip per video.

Ground truth is a CSV with a header row; columns (case-insensitive, any order):

- ``time``: seconds on the video's clock (frame k at ``k / fps``; for numbered image files at
  ``(number_k - number_0) / fps``), strictly increasing; or
- ``frame``: the frame index (0-based) each row belongs to; or neither, and then either ``gt_fs``
  gives the sample rate (first row at time 0) or each row is one frame (row count = frame count);
- any of ``bvp`` (pulse waveform, a.u.), ``resp`` (respiration waveform, a.u.), ``hr`` (bpm),
  ``br`` (breaths/min, kept in ``clip.extra["br"]``). Other columns are ignored with a warning.

Without ``gt_csv`` the file ``<video stem>.csv`` (``<folder name>.csv`` for a frame folder) next
to the source is used when it exists.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..video_io import IMAGE_EXTENSIONS, ImageFileFrames, list_image_files, natural_key
from ._common import check_no_blank_lines, check_no_clips, read_csv_table, video_clock
from .base import Clip, uniform_times
from .checks import numbered_frame_times, signal_from_samples
from .collection import Dataset

__all__ = ["read_video_dataset", "read_ground_truth_csv", "VIDEO_EXTENSIONS", "GT_COLUMNS"]

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
GT_COLUMNS = {"bvp": "a.u.", "resp": "a.u.", "hr": "bpm", "br": "breaths/min"}


def read_ground_truth_csv(
    path: str | os.PathLike,
    frame_times: np.ndarray,
    *,
    gt_fs: float | None = None,
    nan_policy: str = "raise",
) -> dict:
    """Signals from a ground-truth CSV (format in the module docstring), keyed ``bvp``, ``resp``,
    ``hr``, ``br``; ``frame_times`` (T,) s are the clip's frame times."""
    path = Path(path)
    table = read_csv_table(path)
    table.columns = [c.lower() for c in table.columns]
    known = {"time", "frame", *GT_COLUMNS}
    ignored = [c for c in table.columns if c not in known]
    if ignored:
        warnings.warn(f"{path}: columns {ignored} are not ground truth and are ignored "
                      f"(known: time, frame, {', '.join(GT_COLUMNS)})", stacklevel=2)
    present = [c for c in GT_COLUMNS if c in table.columns]
    if not present:
        raise ValueError(f"{path} has none of the ground-truth columns {list(GT_COLUMNS)}; "
                         f"its columns are {list(table.columns)}")
    n_rows = len(table)
    if "time" in table.columns:
        if gt_fs is not None:
            raise ValueError(f"{path} has a time column; gt_fs={gt_fs!r} would contradict it")
        times = table["time"].to_numpy()
    elif "frame" in table.columns:
        frames = table["frame"].to_numpy()
        if np.any(np.isnan(frames)) or np.any(frames != np.round(frames)) \
                or frames.min() < 0 or frames.max() >= frame_times.size:
            raise ValueError(f"{path}: column 'frame' must hold integer frame indices in "
                             f"[0, {frame_times.size - 1}], got values in "
                             f"[{np.nanmin(frames)}, {np.nanmax(frames)}]")
        times = frame_times[frames.astype(np.int64)]
    else:
        times = _times_by_position(path, n_rows, frame_times, gt_fs)
    return {
        name: signal_from_samples(table[name].to_numpy(), times, GT_COLUMNS[name], source=path,
                                  name=f"column {name!r}", nan_policy=nan_policy)
        for name in present
    }


def _times_by_position(
    path: Path, n_rows: int, frame_times: np.ndarray, gt_fs: float | None
) -> np.ndarray:
    """Sample times of a CSV without time or frame column: row k at k / gt_fs, or at frame k."""
    check_no_blank_lines(path)  # rows are placed by their position: none may be skipped
    if gt_fs is not None:
        return uniform_times(n_rows, gt_fs)
    if n_rows == frame_times.size:
        return frame_times
    raise ValueError(
        f"{path} has {n_rows} rows but the video has {frame_times.size} frames, and neither "
        "a 'time' (s) nor a 'frame' column nor gt_fs says when its samples were taken"
    )


@dataclass(frozen=True)
class _ClipLabels:
    """What every clip of a :func:`read_video_dataset` call shares: subject id (None: the clip
    name), task, ground-truth sample rate (Hz; None: from the CSV) and NaN policy."""

    subject: str | None
    task: str
    gt_fs: float | None
    nan_policy: str


def _clip(source: Path, frame_times: np.ndarray, fps: float, n: int, gt_csv: Path | None,
          labels: _ClipLabels, frame_source=None) -> Clip:
    signals = {}
    if gt_csv is not None:
        signals = read_ground_truth_csv(
            gt_csv, frame_times, gt_fs=labels.gt_fs, nan_policy=labels.nan_policy
        )
    extra = {"gt_csv": gt_csv}
    if "br" in signals:
        extra["br"] = signals["br"]
    name = source.stem if source.is_file() else source.name
    return Clip(name, labels.subject or name, labels.task, source, fps, n, frame_times,
                bvp=signals.get("bvp"), resp=signals.get("resp"), hr=signals.get("hr"),
                extra=extra, frame_source=frame_source)


def _sibling_csv(source: Path) -> Path | None:
    if source.is_file():
        candidate = source.with_suffix(".csv")
    else:
        candidate = source.parent / f"{source.name}.csv"
    return candidate if candidate.is_file() else None


def read_video_dataset(
    root: str | os.PathLike,
    *,
    gt_csv: str | os.PathLike | None = None,
    fps: float | None = None,
    gt_fs: float | None = None,
    subject: str | None = None,
    task: str = "video",
    count_frames: bool = True,
    on_gap: str = "raise",
    nan_policy: str = "raise",
) -> Dataset:
    """A video file, a frame folder or a folder of videos as a dataset (see module docstring).

    ``fps`` (Hz) overrides the video's rate and is required for a frame folder. ``count_frames``
    decodes each video once to count its frames exactly (container counts can be wrong).
    Subject id defaults to the clip name (file stem or folder name).
    """
    root = Path(root)
    labels = _ClipLabels(subject, task, gt_fs, nan_policy)
    if not root.exists():
        raise FileNotFoundError(f"video or frame folder not found: {root}")
    if gt_csv is not None and not Path(gt_csv).is_file():
        raise FileNotFoundError(f"ground-truth CSV not found: {gt_csv}")
    if root.is_file():
        rate, n = video_clock(root, fps=fps, count_frames=count_frames)
        csv = Path(gt_csv) if gt_csv is not None else _sibling_csv(root)
        clip = _clip(root, uniform_times(n, rate), rate, n, csv, labels)
        return Dataset([clip], "video", root)
    entries = sorted((p for p in root.iterdir() if p.is_file()), key=lambda p: natural_key(p.name))
    images = [p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS]
    videos = [p for p in entries if p.suffix.lower() in VIDEO_EXTENSIONS]
    if images and videos:
        raise ValueError(f"{root} holds both image files and video files; point root at one video "
                         "or at a folder holding only frames")
    if images:
        if fps is None:
            raise ValueError(f"fps is required for the frame folder {root} (images carry no rate)")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
            raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}")
        files = list_image_files(root)
        frame_times = numbered_frame_times(files, float(fps), on_gap=on_gap)
        csv = Path(gt_csv) if gt_csv is not None else _sibling_csv(root)
        clip = _clip(root, frame_times, float(fps), len(files), csv, labels,
                     frame_source=ImageFileFrames(files))
        return Dataset([clip], "video", root)
    if gt_csv is not None:
        raise ValueError(f"gt_csv applies to one clip; {root} is a folder of videos: name each "
                         "clip's CSV <video stem>.csv next to it")
    clips = []
    for video in videos:
        rate, n = video_clock(video, fps=fps, count_frames=count_frames)
        clips.append(_clip(video, uniform_times(n, rate), rate, n, _sibling_csv(video), labels))
    check_no_clips(clips, root, "video", f"a video file, image files or videos {VIDEO_EXTENSIONS}")
    return Dataset(clips, "video", root)

"""Readers for UBFC-rPPG (DATASET_1 and DATASET_2) and UBFC-Phys.

UBFC-rPPG, one folder per subject holding ``vid.avi`` (30 fps, 640×480) and either
``ground_truth.txt`` (DATASET_2: line 1 PPG waveform, line 2 HR in bpm, line 3 sample times in s)
or ``gtdump.xmp`` (DATASET_1: CSV rows ``time_ms, HR, SpO2, PPG``).

UBFC-Phys, one folder ``sN`` per subject holding ``vid_sN_T{1,2,3}.avi`` (35 fps) and
``bvp_sN_T{1,2,3}.csv`` (one BVP sample per line at 64 Hz, first sample at the first frame).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..validation import check_fs
from ..video_io import natural_key
from ._common import check_no_clips, read_column, read_numbers, require_dir, video_clock
from .base import Clip, Signal, uniform_times
from .checks import signal_from_samples
from .collection import Dataset

__all__ = ["read_ubfc_rppg", "read_ubfc_phys"]


def _ubfc2_ground_truth(
    path: Path, frame_times: np.ndarray, nan_policy: str
) -> tuple[Signal, Signal | None]:
    rows = read_numbers(path)
    if len(rows) < 2 or len(rows) > 3:
        raise ValueError(
            f"{path} must have 2 or 3 lines (PPG, HR[, time in s]), found {len(rows)} lines"
        )
    ppg = rows[0]
    for name, row in zip(("HR", "time"), rows[1:], strict=False):
        if row.size != ppg.size:
            raise ValueError(
                f"{path}: line 1 (PPG) has {ppg.size} values but the {name} line has {row.size}"
            )
    if len(rows) == 3:
        times = rows[2]
    elif ppg.size == frame_times.size:
        # Without a time line the samples can only be taken as one per frame.
        times = frame_times
    else:
        raise ValueError(
            f"{path} has no time line and {ppg.size} PPG samples for {frame_times.size} video "
            "frames: the ground truth cannot be aligned"
        )
    bvp = signal_from_samples(ppg, times, "a.u.", source=path, name="PPG (line 1)",
                              nan_policy=nan_policy)
    hr = signal_from_samples(rows[1], times, "bpm", source=path, name="HR (line 2)",
                             nan_policy=nan_policy)
    return bvp, hr


def _ubfc1_ground_truth(path: Path, nan_policy: str) -> tuple[Signal, Signal]:
    rows = read_numbers(path)
    widths = {r.size for r in rows}
    if widths != {4}:
        raise ValueError(
            f"{path} must hold 4 comma-separated columns (time_ms, HR, SpO2, PPG) per row, "
            f"found rows of {sorted(widths)} values"
        )
    table = np.stack(rows)
    times = table[:, 0] / 1000.0
    bvp = signal_from_samples(table[:, 3], times, "a.u.", source=path, name="PPG (column 4)",
                              nan_policy=nan_policy)
    hr = signal_from_samples(table[:, 1], times, "bpm", source=path, name="HR (column 2)",
                             nan_policy=nan_policy)
    return bvp, hr


# Ground truth may run a little past the video (UBFC's oximeter is started first and stopped
# last); a span many times the video's, or a tiny fraction of it, means the time stamps are in
# the wrong unit (milliseconds read as seconds, or the reverse).
_SPAN_RATIO_LIMIT = 10.0


def _check_time_unit(signal: Signal, path: Path, video: Path, duration: float) -> None:
    """ValueError naming ``path`` when its time stamps cannot be seconds on ``video``'s clock."""
    t0, t1 = signal.span
    span = t1 - t0
    if span > _SPAN_RATIO_LIMIT * duration + 10.0:
        hint = ""
        if abs(span / 1000.0 - duration) <= 0.5 * duration:
            hint = (f"; divided by 1000 they would span {span / 1000:.2f} s: they look like "
                    "milliseconds, and the time line must be in seconds")
        raise ValueError(
            f"{path}: the ground-truth time stamps span {span:.1f} s ({t0:g} to {t1:g}) but "
            f"{video.name} lasts {duration:.2f} s{hint}"
        )
    # shorter ground truth is legitimate (Clip.at_frames names what is missing), unless it is
    # exactly the video's length in the wrong unit
    if duration > 1.0 and abs(span * 1000.0 - duration) <= 0.5 * duration:
        raise ValueError(
            f"{path}: the ground-truth time stamps span {span:.4f} s but {video.name} lasts "
            f"{duration:.2f} s; multiplied by 1000 they would fit: they look like seconds where "
            "milliseconds are expected"
        )


def read_ubfc_rppg(
    root: str | os.PathLike,
    *,
    fps: float | None = None,
    count_frames: bool = False,
    nan_policy: str = "raise",
) -> Dataset:
    """UBFC-rPPG: every sub-folder of ``root`` holding ``vid.avi`` is one clip.

    Subject id = folder name (``subject1``), task = ``dataset2`` or ``dataset1`` after the ground-
    truth format. Frame times are ``k / fps`` (``fps`` from the video unless given); the PPG
    waveform (a.u.) and the oximeter HR (bpm) keep their own sample times.
    """
    root = require_dir(root, "UBFC-rPPG")
    clips = []
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))
    for folder in folders:
        video = folder / "vid.avi"
        gt2, gt1 = folder / "ground_truth.txt", folder / "gtdump.xmp"
        if not video.exists():
            if gt2.exists() or gt1.exists():
                raise FileNotFoundError(f"UBFC-rPPG: {folder} has ground truth but no {video.name}")
            continue
        rate, n = video_clock(video, fps=fps, count_frames=count_frames)
        frame_times = uniform_times(n, rate)
        if gt2.exists():
            bvp, hr = _ubfc2_ground_truth(gt2, frame_times, nan_policy)
            task = "dataset2"
        elif gt1.exists():
            bvp, hr = _ubfc1_ground_truth(gt1, nan_policy)
            task = "dataset1"
        else:
            raise FileNotFoundError(
                f"UBFC-rPPG: {folder} has {video.name} but neither ground_truth.txt nor gtdump.xmp"
            )
        _check_time_unit(bvp, gt2 if task == "dataset2" else gt1, video, n / rate)
        clips.append(Clip(folder.name, folder.name, task, video, rate, n, frame_times,
                          bvp=bvp, hr=hr))
    check_no_clips(clips, root, "UBFC-rPPG", "sub-folders holding vid.avi and ground_truth.txt")
    return Dataset(clips, "ubfc_rppg", root)


_PHYS_SUBJECT = re.compile(r"^s\d+$")


def read_ubfc_phys(
    root: str | os.PathLike,
    *,
    tasks: Sequence[str] = ("T1", "T2", "T3"),
    bvp_fs: float = 64.0,
    fps: float | None = None,
    count_frames: bool = False,
    nan_policy: str = "raise",
) -> Dataset:
    """UBFC-Phys: folders ``sN`` with ``vid_sN_<task>.avi`` and ``bvp_sN_<task>.csv``.

    Subject id ``sN``, task ``T1``/``T2``/``T3`` (rest, speech, arithmetic), clip id ``sN_T1``.
    The BVP (a.u.) is sampled at ``bvp_fs`` Hz from the first frame. A task with neither file in
    a subject's folder is skipped with a warning naming it; a video without its BVP file (or the
    reverse) raises FileNotFoundError.
    """
    root = require_dir(root, "UBFC-Phys")
    bvp_fs = check_fs(bvp_fs, "bvp_fs")
    if isinstance(tasks, str) or not tasks:
        raise ValueError(f"tasks must be a non-empty list of task ids, got {tasks!r}")
    clips = []
    subjects = [p for p in root.iterdir() if p.is_dir() and _PHYS_SUBJECT.match(p.name)]
    for folder in sorted(subjects, key=lambda p: natural_key(p.name)):
        subject = folder.name
        for task in tasks:
            video = folder / f"vid_{subject}_{task}.avi"
            gt = folder / f"bvp_{subject}_{task}.csv"
            if not video.exists() and not gt.exists():
                warnings.warn(
                    f"UBFC-Phys: {folder} has neither {video.name} nor {gt.name}; "
                    f"clip {subject}_{task} skipped",
                    stacklevel=2,
                )
                continue
            for path in (video, gt):
                if not path.exists():
                    raise FileNotFoundError(f"UBFC-Phys: missing {path}")
            rate, n = video_clock(video, fps=fps, count_frames=count_frames)
            values = read_column(gt)
            bvp = signal_from_samples(values, uniform_times(values.size, bvp_fs), "a.u.",
                                      source=gt, name="BVP", nan_policy=nan_policy)
            clips.append(Clip(f"{subject}_{task}", subject, task, video, rate, n,
                              uniform_times(n, rate), bvp=bvp))
    check_no_clips(clips, root, "UBFC-Phys", "folders sN with vid_sN_T1.avi and bvp_sN_T1.csv")
    return Dataset(clips, "ubfc_phys", root)

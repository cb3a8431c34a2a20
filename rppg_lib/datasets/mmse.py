"""Reader for MMSE-HR (Zhang et al. 2016; a subset of BP4D+): JPEG frames at 25 fps with a
blood-pressure waveform and a per-beat pulse-rate series sampled at 1 kHz.

Supported layout (mirroring the release's separate image and physiology trees)::

    <frames_root>/<subject>/<task>/0000.jpg, 0001.jpg, …          e.g. F013/T1/
    <physiology_root>/<subject>/<task>/BP_mmHg.txt                 one value per line, 1 kHz
                                      /Pulse Rate_BPM.txt          optional, 1 kHz
                                      /Resp_Volts.txt              optional, 1 kHz

Both roots default to ``root`` (frames and physiology files in the same folder); each may also be
a list of folders (the release splits subjects over several). The physiology series start at the
first frame. File names, rates and the task pattern are parameters.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from pathlib import Path

from ..validation import check_fs
from ..video_io import ImageFileFrames, list_image_files, natural_key
from ._common import check_no_clips, read_column, require_dir
from .base import Clip, Signal, uniform_times
from .checks import numbered_frame_times, signal_from_samples
from .collection import Dataset

__all__ = ["read_mmse_hr"]


def _roots(value: str | os.PathLike | Sequence[str | os.PathLike] | None, default: Path,
           what: str) -> list[Path]:
    if value is None:
        return [default]
    values = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    if not values:
        raise ValueError(f"{what} must name at least one folder, got an empty list")
    return [require_dir(v, f"MMSE-HR {what}") for v in values]


def _physio(path: Path, fs: float, unit: str, name: str, nan_policy: str) -> Signal:
    values = read_column(path)
    return signal_from_samples(values, uniform_times(values.size, fs), unit, source=path,
                               name=name, nan_policy=nan_policy)


def read_mmse_hr(
    root: str | os.PathLike,
    *,
    frames_root: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    physiology_root: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    fps: float = 25.0,
    physio_fs: float = 1000.0,
    task_pattern: str = "T*",
    frame_extensions: Sequence[str] = (".jpg", ".jpeg"),
    bvp_file: str = "BP_mmHg.txt",
    hr_file: str = "Pulse Rate_BPM.txt",
    resp_file: str = "Resp_Volts.txt",
    on_gap: str = "raise",
    nan_policy: str = "raise",
) -> Dataset:
    """MMSE-HR: every ``<subject>/<task>`` folder of JPEG frames is one clip (``F013_T1``).

    ``fps`` (Hz) of the frames, ``physio_fs`` (Hz) of the physiology files. ``bvp`` is the blood-
    pressure waveform (mmHg), ``hr`` the pulse rate (bpm) and ``resp`` the respiration (V) where
    those files exist; a missing ``bvp_file`` raises FileNotFoundError. Frame numbers are checked
    for gaps (``on_gap``).
    """
    root = require_dir(root, "MMSE-HR")
    fps = check_fs(fps, "fps")
    physio_fs = check_fs(physio_fs, "physio_fs")
    frame_roots = _roots(frames_root, root, "frames_root")
    physio_roots = _roots(physiology_root, root, "physiology_root")
    clips = []
    for frames_base in frame_roots:
        subjects = sorted((p for p in frames_base.iterdir() if p.is_dir()),
                          key=lambda p: natural_key(p.name))
        for subject_dir in subjects:
            tasks = sorted((p for p in subject_dir.iterdir()
                            if p.is_dir() and fnmatch.fnmatch(p.name, task_pattern)),
                           key=lambda p: natural_key(p.name))
            for task_dir in tasks:
                subject, task = subject_dir.name, task_dir.name
                files = list_image_files(task_dir, extensions=frame_extensions)
                physio_dir = next((r / subject / task for r in physio_roots
                                   if (r / subject / task / bvp_file).is_file()), None)
                if physio_dir is None:
                    looked = ", ".join(str(r / subject / task / bvp_file) for r in physio_roots)
                    raise FileNotFoundError(f"MMSE-HR: no blood-pressure file for {subject}/{task}"
                                            f" (looked for {looked})")
                bvp = _physio(physio_dir / bvp_file, physio_fs, "mmHg", "BP waveform", nan_policy)
                hr = resp = None
                if (physio_dir / hr_file).is_file():
                    hr = _physio(physio_dir / hr_file, physio_fs, "bpm", "pulse rate", nan_policy)
                if (physio_dir / resp_file).is_file():
                    resp = _physio(physio_dir / resp_file, physio_fs, "V", "respiration",
                                   nan_policy)
                frame_times = numbered_frame_times(files, fps, on_gap=on_gap)
                clips.append(Clip(f"{subject}_{task}", subject, task, task_dir, fps, len(files),
                                  frame_times, bvp=bvp, resp=resp, hr=hr,
                                  extra={"physiology_dir": physio_dir},
                                  frame_source=ImageFileFrames(files)))
    check_no_clips(clips, root, "MMSE-HR",
                   f"<subject>/<task matching {task_pattern!r}>/ folders of JPEG frames")
    return Dataset(clips, "mmse_hr", root)

"""Reader for PURE (Stricker et al. 2014): 10 subjects × 6 head-motion setups, 30 fps PNG frames.

Layout per clip ``NN-MM`` (subject NN, setup MM), either as the archives extract::

    root/NN-MM/NN-MM/Image<timestamp_ns>.png   root/NN-MM/NN-MM.json

or flattened::

    root/NN-MM/Image<timestamp_ns>.png         root/NN-MM.json

The JSON holds ``"/FullPackage": [{"Timestamp": ns, "Value": {"waveform": …, "pulseRate": …}}]``
(the pulse oximeter, ~60 Hz) and ``"/Image": [{"Timestamp": ns}]`` (one per frame). Frame times are
the frames' own time stamps minus the first frame's; the oximeter samples use the same origin.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..video_io import ImageFileFrames, frame_numbers, list_image_files, natural_key
from ._common import check_no_clips, require_dir
from .base import Clip
from .checks import check_frame_time_gaps, signal_from_samples
from .collection import Dataset

__all__ = ["read_pure"]

_CLIP = re.compile(r"^(\d+)-(\d+)$")


def _load_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"PURE: cannot parse {path} as JSON: {err}") from None
    if not isinstance(data, dict) or "/FullPackage" not in data:
        raise ValueError(f"PURE: {path} has no '/FullPackage' list")
    return data


def _package_series(data: dict, path: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    stamps, values = [], []
    packages = data["/FullPackage"]
    if not isinstance(packages, list):
        raise ValueError(f"PURE: {path}: /FullPackage is not a list")
    for i, entry in enumerate(packages):
        try:
            stamp = entry["Timestamp"]
            value = entry["Value"][key]
        except (KeyError, TypeError):
            raise ValueError(
                f"PURE: {path}: /FullPackage[{i}] lacks Timestamp or Value.{key}"
            ) from None
        stamps.append(_integer(stamp, path, f"/FullPackage[{i}].Timestamp"))
        values.append(np.nan if value is None else _number(value, path,
                                                              f"/FullPackage[{i}].Value.{key}"))
    if not stamps:
        raise ValueError(f"PURE: {path}: /FullPackage is empty")
    return np.asarray(stamps, dtype=np.int64), np.asarray(values, dtype=np.float64)


def _frame_stamps(files: list[Path], data: dict, json_path: Path) -> np.ndarray:
    numbers = frame_numbers(files)
    if numbers is not None:
        return numbers
    images = data.get("/Image")
    if not isinstance(images, list) or len(images) != len(files):
        count = len(images) if isinstance(images, list) else 0
        raise ValueError(
            f"PURE: frame names in {files[0].parent} carry no time stamps and {json_path} lists "
            f"{count} /Image time stamps for {len(files)} frames"
        )
    stamps = []
    for i, entry in enumerate(images):
        if not isinstance(entry, dict) or "Timestamp" not in entry:
            raise ValueError(f"PURE: {json_path}: /Image[{i}] has no Timestamp")
        stamps.append(_integer(entry["Timestamp"], json_path, f"/Image[{i}].Timestamp"))
    return np.asarray(stamps, dtype=np.int64)


def _number(value: Any, path: Path, where: str) -> float:
    """``value`` as a float; ValueError naming the file and the JSON location otherwise
    (a string such as "abc", a list, true/false)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            if not isinstance(value, str):
                raise ValueError
            return float(value)
        except ValueError:
            raise ValueError(f"PURE: {path}: {where} is {value!r}, not a number") from None
    return float(value)


def _integer(value: Any, path: Path, where: str) -> int:
    """A time stamp in ns as an int (exact: never through a float, which keeps only about 16 of
    its 19 digits); ValueError naming the file and the JSON location otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    elif isinstance(value, float) and np.isfinite(value) and value == int(value):
        return int(value)
    raise ValueError(f"PURE: {path}: {where} is {value!r}, not an integer time stamp in ns")


def read_pure(
    root: str | os.PathLike,
    *,
    fps: float | None = None,
    on_gap: str = "raise",
    nan_policy: str = "raise",
) -> Dataset:
    """PURE: clip ``NN-MM`` → subject ``NN``, task ``MM``.

    ``fps`` (Hz) is the nominal rate; by default 1 / the median frame interval. A frame interval
    longer than 1.5 × the median (a dropped frame) raises, or warns with ``on_gap="warn"``.
    BVP is the oximeter waveform (a.u.), HR its pulse rate (bpm).
    """
    root = require_dir(root, "PURE")
    clips = []
    entries = [p for p in root.iterdir() if p.is_dir() and _CLIP.match(p.name)]
    for folder in sorted(entries, key=lambda p: natural_key(p.name)):
        name = folder.name
        frames_dir = folder / name if (folder / name).is_dir() else folder
        json_path = folder / f"{name}.json"
        if not json_path.is_file():
            json_path = root / f"{name}.json"
        if not json_path.is_file():
            raise FileNotFoundError(
                f"PURE: no ground truth for {name}: neither {folder / (name + '.json')} nor "
                f"{json_path} exists"
            )
        data = _load_json(json_path)
        files = list_image_files(frames_dir, extensions=(".png",))
        stamps = _frame_stamps(files, data, json_path)
        t0 = stamps[0]
        frame_times = (stamps - t0).astype(np.float64) / 1e9
        if np.any(np.diff(frame_times) <= 0):
            raise ValueError(f"PURE: frame time stamps in {frames_dir} are not increasing")
        check_frame_time_gaps(frame_times, files, on_gap=on_gap)
        rate = fps if fps is not None else float(1.0 / np.median(np.diff(frame_times)))
        pkg_stamps, wave = _package_series(data, json_path, "waveform")
        pkg_times = (pkg_stamps - t0).astype(np.float64) / 1e9
        _, pulse = _package_series(data, json_path, "pulseRate")
        bvp = signal_from_samples(wave, pkg_times, "a.u.", source=json_path,
                                  name="/FullPackage[].Value.waveform", nan_policy=nan_policy)
        hr = signal_from_samples(pulse, pkg_times, "bpm", source=json_path,
                                 name="/FullPackage[].Value.pulseRate", nan_policy=nan_policy)
        match = _CLIP.match(name)
        clips.append(Clip(name, match.group(1), match.group(2), frames_dir, rate, len(files),
                          frame_times, bvp=bvp, hr=hr, frame_source=ImageFileFrames(files)))
    check_no_clips(clips, root, "PURE", "folders NN-MM with PNG frames and NN-MM.json")
    return Dataset(clips, "pure", root)

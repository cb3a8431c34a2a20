"""Pulse and heart rate from your own video, without ground truth: :func:`infer_video` and the
``rppg infer VIDEO`` command (:func:`register_infer_command`).

The chain: check every argument, the output folder, the weights and the video's clock (frame rate
against its time stamps and :data:`rppg_lib.video_io.FPS_RANGE_HZ`) before decoding anything;
then decode the video once, find and track the face (:mod:`rppg_lib.preprocess`'s tracker, or a
centre crop), and estimate the pulse with one or more methods on that same crop:

* ``tscan``: a network (default: :data:`DEFAULT_MODEL`, open-rppg's TS-CAN trained on the real
  PURE videos, read offline from the wheel fetched at set-up into ``data/weights/``);
* ``pos``, ``chrom``, ``green``, ``ica``: the unsupervised methods of :mod:`rppg_lib.baselines`
  on the crop's mean colour.

Every sliding window gets a confidence: the SNR of its spectral peak and the peak's share of the
in-band power (:func:`rppg_lib.signals.peak_quality`), and whether the face's colour changes at
that rate the way blood makes it (:func:`rppg_lib.baselines.pulse_colour_match`; flickering light
changes it another way). A window is reliable when its SNR reaches :data:`MIN_SNR_DB` and its
colour match :data:`MIN_PULSE_COLOUR`; a method's whole-video ``hr_bpm`` is the median of its
reliable windows, and null with a reason when fewer than :data:`MIN_RELIABLE_SHARE` of its
windows are reliable.

Files written to the output folder (a method's columns carry the suffix ``_<method>`` when
several methods run, e.g. ``hr_bpm_pos``):

* ``pulse.csv``: per frame ``time_s``, ``pulse`` (band-passed waveform, a.u.),
  ``pulse_derivative`` (network output, tscan only), ``hr_bpm`` (window heart rate interpolated
  to the frame) and ``reliable`` (the nearest window's flag);
* ``heart_rate.csv``: per window ``time_s`` (window centre), ``hr_bpm``, ``snr_db``,
  ``peak_share``, ``pulse_colour``, ``reliable``, and ``hr_ref_bpm`` with ``--ground-truth``;
* ``summary.json``: whole-video heart rate per method, confidence, errors against the ground
  truth, frame counts (header and decoded), the model's name, settings and timings;
* ``figures/pulse.png`` and ``.pdf``: the pulse and the heart rate over time, flagged windows
  marked, the ground truth overlaid;
* ``masks.npz`` and ``mask_frames.npy`` (with ``save_masks``, a standard-input network): the
  attention masks and the face crops on the mask grid (float16).

(A breathing network writes ``resp`` / ``resp_derivative`` columns and ``br_per_min``.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from rppg_lib.atomic import atomic_write_text, atomic_write_with, move_aside
from rppg_lib.attention import AttentionMasks
from rppg_lib.attention import save_masks as write_masks
from rppg_lib.baselines import pulse_colour_match, unsupervised_pulse
from rppg_lib.constants import BR_BAND, FRAME_DEPTH, HR_BAND, HR_STEP_S, HR_WINDOW_S
from rppg_lib.datasets.checks import numbered_frame_times
from rppg_lib.datasets.generic import read_ground_truth_csv
from rppg_lib.figure_style import style_context, write_figure
from rppg_lib.inference import (
    LoadedModel,
    NetworkRunner,
    load_model,
    process_waveform,
    run_network,
)
from rppg_lib.preprocess import PreprocessConfig
from rppg_lib.preprocess.face import NoFaceError
from rppg_lib.preprocess.stream import preprocess_frames
from rppg_lib.signals import (
    breathing_rate,
    check_rate_input,
    heart_rate,
    heart_rate_quality_series,
    peak_quality,
    resample_to_times,
)
from rppg_lib.threads import get_thread_settings, network_threads
from rppg_lib.training.data import ClipFrames
from rppg_lib.training.distributed import resolve_device
from rppg_lib.validation import check_choice
from rppg_lib.video_io import (
    IMAGE_EXTENSIONS,
    CheckedVideo,
    DecodedFrames,
    ImageFileFrames,
    check_frame_rate,
    check_video,
    list_image_files,
)
from rppg_lib.weights.open_rppg import OPEN_RPPG_CLIP_LENGTH, OpenRppgFrames

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_WEIGHTS_DIR",
    "METHODS",
    "MIN_PULSE_COLOUR",
    "MIN_RELIABLE_SHARE",
    "MIN_SNR_DB",
    "MethodResult",
    "VideoInference",
    "WEIGHTS_ENV",
    "default_weights",
    "infer_video",
    "plot_video_pulse",
    "prepare_infer_out_dir",
    "register_infer_command",
]

log = logging.getLogger(__name__)

# Environment variable naming the weights file used when none is given.
WEIGHTS_ENV = "RPPG_WEIGHTS"
# Where `make venv` puts open-rppg's wheel (its TS-CAN weights are read from it, offline).
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "data" / "weights"
_DEFAULT_WEIGHTS_GLOB = "open_rppg-*.whl"
DEFAULT_MODEL = "open-rppg TS-CAN trained on PURE"

METHODS = ("tscan", "pos", "chrom", "green", "ica")
_METHOD_CHOICES = (*METHODS, "all")

# A window is reliable when the SNR of its spectral peak (peak and first harmonic, ±0.1 Hz,
# against the rest of 0.7-5 Hz) is at least MIN_SNR_DB and the face's colour changes at that rate
# like blood (pulse colour, a cosine, at least MIN_PULSE_COLOUR); a video gets a heart rate (the
# median of its reliable windows) only when at least MIN_RELIABLE_SHARE of its windows are
# reliable. Chosen on seeds 0-5 (clean, illumination) and 0-3 (no pulse, blank, noise, face-less)
# of benchmarks/bench_infer_confidence.py, checked on the others (numbers in the README, "Your
# own video"): with the SNR alone, windows locked onto an in-band light flicker passed as
# reliable; the colour rule (0.8) passes none of the windows wrong by more than 5 bpm; -1 dB
# passes at most 5 % of the windows of any input without a pulse, and 0.5 lies between the most
# reliable windows such a clip had (36 %) and the fewest a clean clip had (73 %).
MIN_SNR_DB = -1.0
MIN_PULSE_COLOUR = 0.8
MIN_RELIABLE_SHARE = 0.5
_SNR_TOLERANCE_HZ = 0.1
# Side (pixels) of the face crops the unsupervised methods average, and of the unused standard
# inputs when no standard-input network reads them (PreprocessConfig's smallest size).
_CROP_SIDE = 36
_UNUSED_INPUT_SIDE = 3
# The shortest heart-rate window: two periods of the slowest heart rate of the band (42 bpm).
MIN_WINDOW_S = 2.0 / HR_BAND[0]

# What a previous `rppg infer` leaves in its folder: --force moves such a folder aside.
_RESULT_MARKERS = ("summary.json", "pulse.csv", "heart_rate.csv")


@dataclass
class MethodResult:
    """One method's estimate for the video.

    pulse: (T,) band-passed pulse (a.u.); derivative: (T,) the network output (tscan) or None.
    hr_times, hr_series, snr_db, peak_share, pulse_colour, reliable: (W,) per window (centre s,
    bpm, dB, 0-1, cosine -1-1 or NaN, bool). hr_bpm: whole-video heart rate (bpm), the median
    of the reliable windows; None when fewer than :data:`MIN_RELIABLE_SHARE` of them are
    reliable (then ``reason`` says why).
    snr_db_video: SNR of the whole-video spectral peak (dB).
    """

    name: str
    pulse: np.ndarray
    hr_times: np.ndarray
    hr_series: np.ndarray
    snr_db: np.ndarray
    peak_share: np.ndarray
    pulse_colour: np.ndarray
    reliable: np.ndarray
    hr_bpm: float | None
    snr_db_video: float | None
    reason: str | None = None
    derivative: np.ndarray | None = None


@dataclass
class VideoInference:
    """What :func:`infer_video` computed and wrote: the per-method results, the summary dict
    (also in ``summary.json``) and the written files by name ("pulse_csv", "heart_rate_csv",
    "summary", "figure_png", "figure_pdf", "masks", "mask_frames")."""

    fps: float
    frame_times: np.ndarray
    methods: dict[str, MethodResult]
    summary: dict[str, Any]
    files: dict[str, Path]
    resp: np.ndarray | None = None
    reference_hr: np.ndarray | None = None
    masks: AttentionMasks | None = field(default=None, repr=False)


# --- checks done before any decoding -------------------------------------------------------------


def default_weights() -> Path:
    """The open-rppg wheel in :data:`DEFAULT_WEIGHTS_DIR` (the newest version if several);
    FileNotFoundError saying how to get it when there is none."""
    wheels = sorted(DEFAULT_WEIGHTS_DIR.glob(_DEFAULT_WEIGHTS_GLOB))
    if not wheels:
        raise FileNotFoundError(
            f"no default weights: the open-rppg wheel ({_DEFAULT_WEIGHTS_GLOB}) is not in "
            f"{DEFAULT_WEIGHTS_DIR}; run `make venv` (it fetches it) or pass --weights FILE"
        )
    return wheels[-1]


def _resolve_weights(weights: str | os.PathLike | LoadedModel | None) -> tuple[LoadedModel, str]:
    """The loaded model and its name for the summary."""
    if isinstance(weights, LoadedModel):
        return weights, weights.source
    if weights is None:
        weights = os.environ.get(WEIGHTS_ENV) or default_weights()
    path = Path(weights)
    loaded = load_model(path)
    is_default = loaded.kind == "open_rppg" and path.suffix == ".whl"
    return loaded, f"{DEFAULT_MODEL} ({path.name})" if is_default else str(path)


def _check_methods(method: str | Iterable[str]) -> tuple[str, ...]:
    names = [method] if isinstance(method, str) else list(method)
    if not names:
        raise ValueError(f"method must name at least one of {_METHOD_CHOICES}")
    chosen: list[str] = []
    for name in names:
        name = check_choice(str(name).lower(), "method", _METHOD_CHOICES)
        for m in METHODS if name == "all" else (name,):
            if m not in chosen:
                chosen.append(m)
    return tuple(chosen)


def _check_window(window_s: float, step_s: float) -> tuple[float, float]:
    for name, value in (("window_s (--window)", window_s), ("step_s (--step)", step_s)):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if window_s < MIN_WINDOW_S:
        raise ValueError(
            f"window_s (--window) = {window_s:g} s is too short: a heart-rate window must hold two "
            f"periods of the slowest rate ({60 * HR_BAND[0]:g} bpm), at least {MIN_WINDOW_S:.2f} s"
        )
    return float(window_s), float(step_s)


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")


def prepare_infer_out_dir(out_dir: str | os.PathLike, *, force: bool = False) -> Path | None:
    """Check (and with ``force`` clear) the output folder before any work; returns where an old
    result was moved, if anywhere.

    Refused with a one-line error naming the folder: a path that is a file or lies under a file
    (FileExistsError / NotADirectoryError), a folder that cannot be created or written
    (PermissionError), a non-empty folder without ``force`` (FileExistsError). With ``force`` a
    folder holding a previous result (``summary.json``, ``pulse.csv`` or ``heart_rate.csv``) is
    renamed to ``<out>.old-<UTC time>``, so no stale file of the previous run (masks, figures) is
    left beside the new ones and nothing is deleted; any other non-empty folder is refused.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output folder --out {out} exists and is a file")
    anchor = _nearest_existing(out.parent if not out.exists() else out)
    if not anchor.is_dir():
        raise NotADirectoryError(f"output folder --out {out} lies under the file {anchor}")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise PermissionError(f"output folder --out {out}: {anchor} is not writable")
    moved = None
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FileExistsError(
                f"output folder --out {out} is not empty; pass --force to move a previous result "
                f"aside (to {out.name}.old-<time>) or choose another --out"
            )
        if not any((out / m).exists() for m in _RESULT_MARKERS):
            raise FileExistsError(
                f"output folder --out {out} is not empty and holds no rppg infer result; choose "
                "a new or empty folder"
            )
        moved = move_aside(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create output folder --out {out}: {err.strerror}") from None
    return moved


@dataclass
class _Source:
    """The checked video: its clock and its frames."""

    path: Path
    fps: float
    frame_times: np.ndarray  # (T,) s, from the header count (a video's may change on decoding)
    frames: Any  # iterable of RGB frames
    checked: CheckedVideo | None


def _open_source(path: Path, fps: float | None) -> _Source:
    if not path.exists():
        raise FileNotFoundError(f"video or frame folder not found: {path}")
    if path.is_dir():
        if fps is None:
            raise ValueError(
                f"--fps is required for the frame folder {path} (images carry no rate)"
            )
        fps = check_frame_rate(fps, "fps (--fps)")
        files = list_image_files(path, extensions=IMAGE_EXTENSIONS)
        times = numbered_frame_times(files, fps)
        return _Source(path, fps, times, ImageFileFrames(files).iter(), None)
    checked = check_video(path, fps)
    n = checked.header_frames
    return _Source(path, checked.fps, np.arange(n) / checked.fps, DecodedFrames(path), checked)


def _read_ground_truth(path: Path, frame_times: np.ndarray) -> tuple[str, Any]:
    """The reference of a ground-truth CSV: ("bvp", Signal) when it has a waveform, else ("hr",
    Signal)."""

    if not path.is_file():
        raise FileNotFoundError(f"--ground-truth file not found: {path}")
    signals = read_ground_truth_csv(path, frame_times)
    for kind in ("bvp", "hr"):
        if kind in signals:
            return kind, signals[kind]
    raise ValueError(f"--ground-truth {path} has neither a 'bvp' waveform nor an 'hr' column")


# --- estimation ---------------------------------------------------------------------------------


def _network_inputs(pre: Any, loaded: LoadedModel) -> Any:
    """The network input for ``loaded``, built lazily batch by batch (memory flat in the video's
    length): the preprocessed clip itself (standard inputs), or open-rppg's inputs built from the
    crops (:class:`~rppg_lib.weights.open_rppg.OpenRppgFrames`: clips of 160 frames, the last one
    completed by repeating the last frame)."""
    if loaded.inputs == "standard":
        return ClipFrames(pre.motion, pre.appearance)
    return OpenRppgFrames(pre.mask_frames, OPEN_RPPG_CLIP_LENGTH)


def _quality(name: str, pulse: np.ndarray, fps: float, window_s: float, step_s: float,
             rgb: np.ndarray, derivative: np.ndarray | None = None) -> MethodResult:
    """Windows, confidence and whole-video rate of one method's pulse; ``rgb`` (T, 3) is the mean
    colour of the face crop, against which each window's rate is checked."""
    window = min(window_s, len(pulse) / fps)
    try:
        # a constant network output (a blank video) integrates to a ramp whose detrended rest
        # is rounding noise: it has no pulse, whatever peak the band-pass leaves
        check_rate_input(pulse if derivative is None else derivative, fps, HR_BAND,
                         name=f"the {name} pulse")
    except ValueError as err:  # a constant pulse (blank video) or a clip too short for any rate
        empty = np.array([])
        return MethodResult(name, pulse, empty, empty, empty, empty, empty,
                            np.array([], dtype=bool), None, None, reason=str(err),
                            derivative=derivative)
    times, rates, snr, share = heart_rate_quality_series(
        pulse, fps, window, step_s, low=HR_BAND[0], high=HR_BAND[1],
        tolerance_hz=_SNR_TOLERANCE_HZ,
    )
    colour = _window_colours(rgb, fps, times, rates, window)
    reliable = (snr >= MIN_SNR_DB) & (colour >= MIN_PULSE_COLOUR)  # NaN colour: not reliable
    whole = peak_quality(pulse, fps, *HR_BAND, tolerance_hz=_SNR_TOLERANCE_HZ)
    hr, reason = None, None
    if reliable.mean() >= MIN_RELIABLE_SHARE:
        hr = float(np.median(rates[reliable]))
    else:
        reason = (f"no reliable heart rate: {int(reliable.sum())} of {reliable.size} windows have "
                  f"a peak SNR of at least {MIN_SNR_DB:g} dB (best {np.max(snr):.1f} dB) and a "
                  f"pulse colour of at least {MIN_PULSE_COLOUR:g}, fewer than "
                  f"{MIN_RELIABLE_SHARE:.0%}: no heart rate to trust")
    return MethodResult(name, pulse, times, rates, snr, share, colour, reliable, hr,
                        whole.snr_db, reason=reason, derivative=derivative)


def _window_colours(rgb: np.ndarray, fps: float, centres: np.ndarray, rates: np.ndarray,
                    window_s: float) -> np.ndarray:
    """:func:`pulse_colour_match` of each window (centre s) at its rate (bpm)."""
    length = int(round(window_s * fps))
    starts = np.clip(np.round(centres * fps - length / 2.0).astype(int), 0, len(rgb) - length)
    return np.array([pulse_colour_match(rgb[s : s + length], fps, r)
                     for s, r in zip(starts, rates, strict=True)])


def _unsupervised(name: str, rgb: np.ndarray, fps: float, window_s: float,
                  step_s: float) -> MethodResult:
    try:
        raw = unsupervised_pulse(name.upper(), rgb, fps)
        pulse = process_waveform(raw, fps, HR_BAND, integrate=False)
    except ValueError as err:  # e.g. ICA cannot standardise a constant colour trace
        pulse = np.zeros(len(rgb))
        result = _quality(name, pulse, fps, window_s, step_s, rgb)
        result.reason = f"{name} found no signal: {err}"
        return result
    return _quality(name, pulse, fps, window_s, step_s, rgb)


def _reference_rates(kind: str, signal: Any, frame_times: np.ndarray, result: MethodResult,
                     fps: float, window_s: float) -> np.ndarray:
    """Ground-truth heart rate (bpm) per window of ``result`` (NaN where the ground truth does
    not cover the whole window): the waveform through the same chain as the estimate, or the
    mean of an HR column over the window."""
    t = frame_times
    tol = 0.5 / fps
    covered = (t >= signal.times[0] - tol) & (t <= signal.times[-1] + tol)
    ref = np.full(result.hr_times.shape, np.nan)
    if covered.sum() < 2:
        return ref
    values = resample_to_times(signal.values, signal.times, t[covered], tolerance_s=tol)
    first = int(np.argmax(covered))
    length = int(round(min(window_s, len(t) / fps) * fps))
    if kind == "bvp":
        try:
            values = process_waveform(values, fps, HR_BAND, integrate=False)
        except ValueError:
            return ref
    for i, centre in enumerate(result.hr_times):
        start = int(round(centre * fps - length / 2.0)) - first
        if start < 0 or start + length > values.size:
            continue
        segment = values[start : start + length]
        if kind == "hr":
            ref[i] = float(np.mean(segment))
        else:
            try:
                ref[i] = heart_rate(segment, fps, *HR_BAND)
            except ValueError:
                pass  # a flat stretch of ground truth gives no reference
    return ref


def _errors(result: MethodResult, ref: np.ndarray) -> dict[str, Any]:
    if result.hr_series.size != ref.size:  # a method without windows (constant pulse)
        return {"n_windows": 0, "mae_bpm": None, "rmse_bpm": None, "mae_bpm_reliable": None,
                "rmse_bpm_reliable": None, "n_windows_reliable": 0}
    ok = np.isfinite(ref)
    out: dict[str, Any] = {"n_windows": int(ok.sum())}
    for label, keep in (("", ok), ("_reliable", ok & result.reliable)):
        err = result.hr_series[keep] - ref[keep]
        out[f"mae_bpm{label}"] = float(np.mean(np.abs(err))) if err.size else None
        out[f"rmse_bpm{label}"] = float(np.sqrt(np.mean(err**2))) if err.size else None
    out["n_windows_reliable"] = int((ok & result.reliable).sum())
    return out


# --- the whole chain ----------------------------------------------------------------------------


def infer_video(
    video_path: str | os.PathLike,
    weights: str | os.PathLike | LoadedModel | None = None,
    out_dir: str | os.PathLike = "rppg_infer",
    *,
    method: str | Iterable[str] = "tscan",
    ground_truth: str | os.PathLike | None = None,
    fps: float | None = None,
    crop: str = "haar",
    window_s: float = HR_WINDOW_S,
    step_s: float = HR_STEP_S,
    device: str = "auto",
    batch_frames: int | None = None,
    freeze: bool = True,
    bf16: bool = False,
    overlap: bool = True,
    save_masks: bool = False,
    force: bool = False,
    progress: bool = True,
) -> VideoInference:
    """Estimate the pulse and heart rate of the face in ``video_path``; write results to
    ``out_dir`` (see the module docstring for the files).

    weights: a weights file (see :func:`rppg_lib.inference.load_model`), a :class:`LoadedModel`,
        or None: the file named by ``$RPPG_WEIGHTS``, else :data:`DEFAULT_MODEL` from
        :func:`default_weights`. Only loaded when ``method`` includes "tscan".
    method: one of :data:`METHODS`, "all", or a list of them.
    ground_truth: a CSV (``time`` and ``bvp`` and/or ``hr`` columns; see
        :func:`rppg_lib.datasets.generic.read_ground_truth_csv`); then the summary carries the
        MAE/RMSE (bpm) of the window heart rates against it. A CSV beside the video is not read.
    fps: frame rate in Hz (5-240); needed for a folder of frames, overrides a video's own.
    crop: "haar" (face detection and tracking) or "center" (largest centre square: for videos
        where the face fills the frame but is not found).
    window_s, step_s: the sliding window of the heart rate over time (s); window_s >= 2.86 s.
    freeze: run the network as a frozen TorchScript (:func:`rppg_lib.inference.frozen_model`;
        outputs equal the eager float32 model's to ~1e-6); False: eagerly. The summary's
        ``network_path`` records which ran, on which device, with how many threads.
    bf16: the network eagerly in channels-last memory format under bfloat16 autocast (CPUs with
        AVX-512-BF16 or AMX, and CUDA; outputs differ from float32 by ~3e-3 relative).
    overlap: with weights whose input is built per clip of face crops (open-rppg's), run the
        network on each clip while the next ones decode (outputs equal to float rounding;
        the summary's ``network_path`` says whether it overlapped); False: after the decoding.
    force: move a previous result in ``out_dir`` aside instead of refusing the folder.
    Raises ValueError / FileNotFoundError / FileExistsError / PermissionError naming the
    argument or the file, before any decoding; NoFaceError (a ValueError) when no face is found
    in any frame (a warning is logged when some frames had none: they are cropped with the last
    box); a warning names the file and both counts when the video decodes to another number of
    frames than its header says.
    """
    video_path = Path(video_path)
    methods = _check_methods(method)
    window_s, step_s = _check_window(window_s, step_s)
    crop = check_choice(crop, "crop (--crop)", ("haar", "center"))
    gt_path = None if ground_truth is None else Path(ground_truth)
    if gt_path is not None and not gt_path.is_file():
        raise FileNotFoundError(f"--ground-truth file not found: {gt_path}")
    if "tscan" in methods:
        resolve_device(device)  # an unknown or absent device fails here, not after decoding
    source = _open_source(video_path, fps)
    _check_duration(video_path, len(source.frame_times), source.fps)
    reference = None if gt_path is None else _read_ground_truth(gt_path, source.frame_times)
    loaded, model_name = _resolve_weights(weights) if "tscan" in methods else (None, None)
    prepare_infer_out_dir(out_dir, force=force)

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    depth = (loaded.frame_depth or FRAME_DEPTH) if loaded is not None else FRAME_DEPTH
    standard = loaded is not None and loaded.inputs == "standard"
    crop_side = loaded.img_size if loaded is not None else _CROP_SIDE
    config = PreprocessConfig(
        # the motion/appearance inputs are only read by a standard-input network: otherwise
        # they are built on the smallest grid, and the crops (mask_frames) carry the pixels
        size=crop_side if standard else _UNUSED_INPUT_SIDE, crop=crop, frame_depth=depth,
        chunk_length=depth * max(1, round(180 / depth)),
        mask_size=None if standard else crop_side,
    )
    results: dict[str, MethodResult] = {}
    resp = br = masks = mask_frames = network_path = None
    streamed = (_StreamedNetwork(loaded, device, (freeze, bf16))
                if overlap and loaded is not None and loaded.inputs != "standard" else None)
    with tempfile.TemporaryDirectory(prefix="rppg_infer_") as tmp, contextlib.ExitStack() as stack:
        if streamed is not None:
            stack.callback(streamed.close)  # also on an error: no clip runs after it
        try:
            pre = preprocess_frames(
                source.frames, source.fps, config, clip_id=video_path.name,
                source=str(video_path), out_dir=tmp, progress=progress,
                on_mask_frame=None if streamed is None else streamed.add,
            )
        except NoFaceError:
            raise NoFaceError(
                f"no face found in {video_path} ({_count(source)} frames searched with the "
                "Haar face detector). Check that a frontal face is visible, or use "
                "crop='center' (--crop center) if the face fills the frame."
            ) from None
        n = int(pre.frame_times.shape[0])
        _frame_count_warning(source, n)
        frame_times = np.asarray(pre.frame_times, dtype=np.float64)
        fs = source.fps
        timings["decode_and_crop_s"] = time.perf_counter() - clock
        _check_duration(video_path, n, fs)
        rgb = np.asarray(pre.mask_frames, dtype=np.float64).mean(axis=(1, 2))  # the crop's colour
        if loaded is not None:
            clock = time.perf_counter()
            if streamed is not None:  # most clips ran during the preprocessing
                derivative, resp, masks, network_path = streamed.finish()
                timings["network_overlapped_s"] = streamed.busy_s
            else:
                derivative, resp, masks, network_path = _run_network(
                    loaded, pre, device, batch_frames, (freeze, bf16), save_masks, progress
                )
            timings["network_s"] = time.perf_counter() - clock
            if derivative is not None:
                pulse = process_waveform(derivative, fs, HR_BAND, integrate=True)
                results["tscan"] = _quality("tscan", pulse, fs, window_s, step_s, rgb, derivative)
            if resp is not None:
                resp = process_waveform(resp, fs, BR_BAND, integrate=True)
                br = _breathing(resp, fs)
            if masks is not None:
                mask_frames = np.asarray(pre.mask_frames, dtype=np.float16)
        clock = time.perf_counter()
        unsupervised = [m for m in methods if m != "tscan"]
        for m in unsupervised:
            results[m] = _unsupervised(m, rgb, fs, window_s, step_s)
        no_face = int(pre.n_no_face_frames) if crop == "haar" else 0
    results = {m: results[m] for m in methods if m in results}
    ref_rates = None
    windowed = [r for r in results.values() if r.hr_times.size]  # all share the same windows
    if reference is not None and windowed:
        ref_rates = _reference_rates(*reference, frame_times, windowed[0], fs, window_s)
    timings["post_s"] = time.perf_counter() - clock

    summary = _summary(
        video_path, source, fs, n, methods, results, model_name, loaded, crop, no_face,
        window_s, step_s, gt_path, reference, ref_rates, br, timings,
    )
    summary["network_path"] = network_path
    out = Path(out_dir)
    files = _write_tables(out, frame_times, results, resp, ref_rates)
    figure = plot_video_pulse(frame_times, results, resp=resp, reference_hr=ref_rates,
                              title=video_path.name)
    paths = write_figure(figure, out / "figures", "pulse", formats=("png", "pdf"))
    files["figure_png"], files["figure_pdf"] = paths["png"], paths["pdf"]
    if masks is not None:
        files["masks"] = write_masks(out / "masks.npz", masks)
        files["mask_frames"] = atomic_write_with(
            out / "mask_frames.npy", lambda handle: np.save(handle, mask_frames)
        )
    files["summary"] = atomic_write_text(
        out / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n"
    )
    return VideoInference(fps=fs, frame_times=frame_times, methods=results, summary=summary,
                          files=files, resp=resp, reference_hr=ref_rates, masks=masks)


def _check_duration(video_path: Path, n: int, fps: float) -> None:
    """A heart rate needs one period of the slowest rate, 1.43 s (``n`` 0: count unknown yet)."""
    if n and n / fps < 1.0 / HR_BAND[0]:
        raise ValueError(
            f"video {video_path} holds {n} frames ({n / fps:.2f} s at {fps:g} fps): too short "
            f"for a heart rate (at least {1 / HR_BAND[0]:.2f} s)"
        )


def _count(source: _Source) -> int:
    return getattr(source.frames, "n_decoded", len(source.frame_times))


def _frame_count_warning(source: _Source, n: int) -> None:
    """Warn, naming the file and both counts, when the decoded frames differ from the header."""
    header = source.checked.header_frames if source.checked is not None else n
    if source.checked is not None and header and n != header:
        warnings.warn(
            f"video {source.path}: its header says {header} frames but {n} decoded "
            f"({n / source.fps:.2f} s of {header / source.fps:.2f} s); the file may be truncated: "
            f"results cover the {n} decoded frames",
            stacklevel=3,
        )


# Clips of crops waiting for the network before the preprocessing waits for it (memory stays
# flat in the video's length: each clip of 160 crops at 72x72 holds 10 MB).
_MAX_QUEUED_CLIPS = 2


class _StreamedNetwork:
    """A network with open-rppg's inputs run while the video is still being preprocessed.

    Its input for a frame depends only on the crops of that frame's clip of
    ``OPEN_RPPG_CLIP_LENGTH`` frames, so each clip goes to a worker thread as soon as its crops
    exist (:meth:`add`, the preprocessing's ``on_mask_frame``): decoding, face tracking and the
    network overlap. The worker uses one torch thread while the preprocessing runs (it has the
    other core) and the usual number after. The outputs equal those of :func:`run_network` on
    the whole video (same segments, same padding of the last clip) to float rounding.
    """

    def __init__(self, loaded: LoadedModel, device: str, speed: tuple[bool, bool]) -> None:
        freeze, bf16 = speed
        self.loaded = loaded
        self.runner = NetworkRunner(loaded.model, frame_depth=loaded.frame_depth, device=device,
                                    bf16=bf16, channels_last=bf16, freeze=freeze)
        self.speed = speed
        self.crops: list[np.ndarray] = []
        self.pending: list[Future] = []
        self.preprocessing = True
        self.busy_s = 0.0  # worker time spent in the network, s
        self.pool: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="rppg-network")
        self.runner.__enter__()

    def add(self, crop: np.ndarray) -> None:
        self.crops.append(crop)
        if len(self.crops) == OPEN_RPPG_CLIP_LENGTH:
            self._submit()

    def _submit(self) -> None:
        crops, self.crops = np.stack(self.crops), []
        self.pending.append(self.pool.submit(self._run, crops))
        waiting = [future for future in self.pending if not future.done()]
        if len(waiting) > _MAX_QUEUED_CLIPS:  # the network lags: the preprocessing waits for it
            waiting[0].result()

    def _run(self, crops: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        settings = get_thread_settings()
        if self.preprocessing and settings.torch != 1:
            settings = settings.replace(torch=1)
        with network_threads(settings):
            inputs = OpenRppgFrames(crops, OPEN_RPPG_CLIP_LENGTH)[0 : len(crops)]
            outputs = self.runner(inputs)[0]
        self.busy_s += time.perf_counter() - start
        return outputs

    def close(self) -> None:
        """Cancel the clips not yet started, wait for the running one and restore the model
        (a second call does nothing)."""
        if self.pool is None:
            return
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = None
        self.runner.__exit__(None, None, None)

    def finish(self):
        """(pulse derivative, respiration derivative or None, None, the path that ran), as
        :func:`_run_network`, once the preprocessing has ended and every clip has run."""
        self.preprocessing = False  # the clips still waiting get every torch thread
        if self.crops:
            self._submit()
        raw = np.concatenate([future.result() for future in self.pending])
        self.close()
        with network_threads():
            threads = torch.get_num_threads()
        columns = {kind: raw[:, i].astype(np.float64) for i, kind in enumerate(self.loaded.outputs)}
        return columns.get("pulse"), columns.get("resp"), None, _network_path(
            self.loaded, self.speed, masks=False, threads=threads, overlapped=True)


def _network_path(loaded: LoadedModel, speed: tuple[bool, bool], *, masks: bool, threads: int,
                  overlapped: bool) -> dict[str, Any]:
    """What ran the network: mode, dtype, device, torch threads, torch version, and whether it
    overlapped the preprocessing."""
    freeze, bf16 = speed
    return {
        "mode": "frozen TorchScript" if freeze and not (masks or bf16) else "eager",
        "dtype": "bfloat16 autocast, channels-last" if bf16 else "float32",
        "device": str(next(loaded.model.parameters()).device),
        "torch_threads": threads, "torch": torch.__version__,
        "overlapped_with_preprocessing": overlapped,
    }


def _run_network(loaded: LoadedModel, pre: Any, device: str, batch_frames: int | None,
                 speed: tuple[bool, bool], save_masks: bool, progress: bool):
    """(pulse derivative or None, respiration derivative or None, masks or None, the path that
    ran: mode, dtype, device, torch threads). speed: (freeze, bf16)."""
    freeze, bf16 = speed
    inputs = _network_inputs(pre, loaded)
    want_masks = save_masks and loaded.inputs == "standard"
    with network_threads():
        threads = torch.get_num_threads()
    raw, gates, _ = run_network(
        loaded.model, inputs, frame_depth=loaded.frame_depth, batch_frames=batch_frames,
        device=device, freeze=freeze, bf16=bf16, channels_last=bf16, return_masks=want_masks,
        progress=progress,
    )
    columns = {kind: raw[:, i].astype(np.float64) for i, kind in enumerate(loaded.outputs)}
    masks = None
    if gates is not None:
        masks = AttentionMasks(gate1=gates["gate1"], gate2=gates["gate2"], fps=pre.fps,
                               clip_id=str(pre.clip_id), img_size=int(loaded.img_size))
    path = _network_path(loaded, speed, masks=want_masks, threads=threads, overlapped=False)
    return columns.get("pulse"), columns.get("resp"), masks, path


def _breathing(resp: np.ndarray, fs: float) -> float | None:
    try:
        return breathing_rate(resp, fs, *BR_BAND)
    except ValueError as err:
        log.warning("no breathing rate: %s", err)
        return None


def _summary(video_path, source, fs, n, methods, results, model_name, loaded, crop,
             no_face, window_s, step_s, gt_path, reference, ref_rates, br, timings) -> dict:
    per_method = {}
    for name, r in results.items():
        entry = {
            "hr_bpm": r.hr_bpm,
            "reason": r.reason,
            "snr_db_video": r.snr_db_video,
            "n_windows": int(r.hr_series.size),
            "n_windows_reliable": int(r.reliable.sum()),
            "median_snr_db": float(np.median(r.snr_db)) if r.snr_db.size else None,
            "median_peak_share": float(np.median(r.peak_share)) if r.peak_share.size else None,
            "median_pulse_colour": (float(np.nanmedian(r.pulse_colour))
                                    if np.isfinite(r.pulse_colour).any() else None),
        }
        if ref_rates is not None:
            entry["ground_truth"] = _errors(r, ref_rates)
        per_method[name] = entry
    primary = per_method.get(methods[0], {})
    checked = source.checked
    return {
        "video": str(video_path),
        "methods": per_method,
        "method": methods[0],
        "hr_bpm": primary.get("hr_bpm"),
        "hr_reason": primary.get("reason"),
        "br_per_min": br,
        "model": model_name,
        "weights_kind": None if loaded is None else loaded.kind,
        "fps": fs,
        "fps_header": None if checked is None else checked.header_fps,
        "fps_time_stamps": None if checked is None else checked.stamp_fps,
        "n_frames": n,
        "frames_in_header": None if checked is None else checked.header_frames,
        "frames_decoded": n,
        "duration_s": n / fs,
        "crop": crop,
        "frames_without_face": no_face,
        "window_s": window_s,
        "step_s": step_s,
        "min_snr_db": MIN_SNR_DB,
        "min_pulse_colour": MIN_PULSE_COLOUR,
        "min_reliable_share": MIN_RELIABLE_SHARE,
        "ground_truth": None if gt_path is None else {"file": str(gt_path),
                                                       "kind": reference[0]},
        "timings_s": timings,
    }


def _write_tables(out: Path, frame_times: np.ndarray, results: dict[str, MethodResult],
                  resp: np.ndarray | None, ref_rates: np.ndarray | None) -> dict[str, Path]:
    files: dict[str, Path] = {}
    table: dict[str, Any] = {"time_s": frame_times}
    windows: dict[str, Any] = {}
    several = len(results) > 1
    for name, r in results.items():
        sfx = f"_{name}" if several else ""
        table[f"pulse{sfx}"] = r.pulse
        if r.derivative is not None:
            table[f"pulse_derivative{sfx}"] = r.derivative
        if r.hr_times.size:
            table[f"hr_bpm{sfx}"] = np.interp(frame_times, r.hr_times, r.hr_series)
            nearest = np.abs(frame_times[:, None] - r.hr_times[None, :]).argmin(axis=1)
            table[f"reliable{sfx}"] = r.reliable[nearest]
            windows.setdefault("time_s", r.hr_times)
            windows |= {f"hr_bpm{sfx}": r.hr_series, f"snr_db{sfx}": r.snr_db,
                        f"peak_share{sfx}": r.peak_share, f"pulse_colour{sfx}": r.pulse_colour,
                        f"reliable{sfx}": r.reliable}
        else:
            table[f"hr_bpm{sfx}"] = np.full(frame_times.shape, np.nan)
            table[f"reliable{sfx}"] = np.zeros(frame_times.shape, dtype=bool)
    if resp is not None:
        table["resp"] = resp
    if windows and ref_rates is not None:
        windows["hr_ref_bpm"] = ref_rates
    if windows:
        files["heart_rate_csv"] = atomic_write_text(
            out / "heart_rate.csv", pd.DataFrame(windows).to_csv(index=False, float_format="%.9g")
        )
    files["pulse_csv"] = atomic_write_text(
        out / "pulse.csv", pd.DataFrame(table).to_csv(index=False, float_format="%.9g")
    )
    return files


def plot_video_pulse(
    frame_times: np.ndarray,
    results: dict[str, MethodResult],
    *,
    resp: np.ndarray | None = None,
    reference_hr: np.ndarray | None = None,
    title: str | None = None,
) -> Figure:
    """The pulse of every method (z-scored, offset) and the sliding-window heart rates over time
    (s); unreliable windows drawn as open grey markers, the ground-truth HR in black."""
    panels = (["pulse", "hr"] if results else []) + (["resp"] if resp is not None else [])
    t = frame_times
    with style_context():
        fig = Figure(figsize=(7.0, 1.9 * len(panels) + 0.5), layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(panels), 1, sharex=True))
        for ax, panel in zip(axes, panels, strict=True):
            if panel == "pulse":
                for k, (name, r) in enumerate(results.items()):
                    sd = r.pulse.std()
                    ax.plot(t, (r.pulse / sd if sd > 0 else r.pulse) - 4.0 * k, lw=0.7,
                            label=name)
                ax.set_ylabel("pulse (z, offset)")
                ax.set_yticks([])
                ax.legend(loc="upper right", fontsize="small", ncols=min(len(results), 5))
            elif panel == "hr":
                _plot_rates(ax, results, reference_hr)
            else:
                ax.plot(t, resp, lw=0.8)
                ax.set_ylabel("respiration (a.u.)")
        axes[-1].set_xlabel("time (s)")
        if title:
            fig.suptitle(title)
    return fig


def _plot_rates(ax: Any, results: dict[str, MethodResult], reference_hr: np.ndarray | None) -> None:
    first = None
    for name, r in results.items():
        if not r.hr_times.size:
            continue
        first = r if first is None else first
        line, = ax.plot(r.hr_times, np.where(r.reliable, r.hr_series, np.nan), marker=".",
                        lw=1, label=name)
        bad = ~r.reliable
        if bad.any():
            ax.plot(r.hr_times[bad], r.hr_series[bad], ls="none", marker="o", mfc="none",
                    color=line.get_color(), alpha=0.5, ms=4)
    if any((~r.reliable).any() for r in results.values()):
        ax.plot([], [], ls="none", marker="o", mfc="none", color="0.4",
                label=f"unreliable (SNR < {MIN_SNR_DB:g} dB or colour < {MIN_PULSE_COLOUR:g})")
    if reference_hr is not None and first is not None:
        ax.plot(first.hr_times, reference_hr, color="k", lw=1.5, label="ground truth")
    ax.set_ylabel("HR (bpm)")
    ax.set_ylim(60 * HR_BAND[0] - 3, 60 * HR_BAND[1] + 3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small", ncols=3)


# --- the `rppg infer` command --------------------------------------------------------------------


def register_infer_command(subparsers: argparse._SubParsersAction) -> None:
    """Add ``infer`` to the ``rppg`` command's subparsers (its ``func`` returns the exit status:
    0 success, 2 bad input such as a missing file, a bad option or no face)."""
    parser = subparsers.add_parser(
        "infer",
        help="estimate pulse and heart rate from a video (no ground truth needed)",
        description="Estimate the pulse and heart rate of the face in a video, with a confidence "
        "per window; writes pulse.csv, heart_rate.csv, summary.json and figures/pulse.png|pdf.",
    )
    parser.add_argument("video", help="video file (any format OpenCV reads) or folder of frames")
    parser.add_argument(
        "--method", default="tscan", choices=_METHOD_CHOICES,
        help="tscan (network, default), pos, chrom, green, ica, or all of them side by side",
    )
    parser.add_argument(
        "--weights", default=None,
        help=f"network weights: .pt (rppg_lib.train), .pth (rPPG-Toolbox), .weights.h5/.whl "
        f"(open-rppg); default ${WEIGHTS_ENV}, else {DEFAULT_MODEL} from data/weights/",
    )
    parser.add_argument("--ground-truth", default=None, metavar="CSV",
                        help="CSV with time and bvp and/or hr columns: MAE/RMSE in the summary")
    parser.add_argument("--out", default=None, help="output folder (default: ./<video name>_rppg)")
    parser.add_argument("--force", action="store_true",
                        help="if --out holds a previous result, move it aside to <out>.old-<time>")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate (Hz, 5-240): required for a folder of frames, overrides "
                        "a video's header")
    parser.add_argument("--crop", choices=("haar", "center"), default="haar",
                        help="face detection and tracking (default) or centre square")
    parser.add_argument("--window", type=float, default=10.0, help="HR window length (s)")
    parser.add_argument("--step", type=float, default=1.0, help="HR window step (s)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    parser.add_argument("--masks", action="store_true", help="also save the attention masks")
    parser.add_argument("--eager", action="store_true",
                        help="run the network eagerly instead of as a frozen TorchScript (same "
                        "numbers to ~1e-6; the summary's network_path says which ran)")
    parser.add_argument("--bf16", action="store_true",
                        help="the network under bfloat16 autocast, channels-last (CPUs with "
                        "AVX-512-BF16 or AMX; outputs within ~3e-3 of float32)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=_cmd_infer)


def _cmd_infer(args: argparse.Namespace) -> int:
    video = Path(args.video)
    out = Path(args.out) if args.out else Path(f"{video.stem}_rppg")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = infer_video(
                video, args.weights, out, method=args.method, ground_truth=args.ground_truth,
                fps=args.fps, crop=args.crop, window_s=args.window, step_s=args.step,
                device=args.device, freeze=not args.eager, bf16=args.bf16, save_masks=args.masks,
                force=args.force,
                progress=not args.no_progress,
            )
    except (ValueError, OSError) as err:
        print(f"rppg infer: error: {err}", file=sys.stderr)
        return 2
    for warning in caught:
        if warning.category.__module__.split(".")[0] in ("sklearn", "numpy"):
            continue  # FastICA's convergence and numpy's arithmetic notes: no action for a user
        print(f"rppg infer: warning: {warning.message}", file=sys.stderr)
    s = result.summary
    for name, m in s["methods"].items():
        if m["hr_bpm"] is not None:
            print(f"rppg infer: {name}: heart rate {m['hr_bpm']:.1f} bpm over "
                  f"{s['duration_s']:.1f} s ({m['n_windows_reliable']} of {m['n_windows']} "
                  "windows reliable)")
        else:
            print(f"rppg infer: {name}: {m['reason']}")
        if "ground_truth" in m and m["ground_truth"]["mae_bpm"] is not None:
            g = m["ground_truth"]
            print(f"rppg infer: {name}: MAE {g['mae_bpm']:.2f} bpm, RMSE {g['rmse_bpm']:.2f} bpm "
                  f"over {g['n_windows']} windows against the ground truth")
    if s["br_per_min"] is not None:
        print(f"rppg infer: breathing rate {s['br_per_min']:.1f} /min")
    if s["frames_without_face"]:
        print(f"rppg infer: warning: no face in {s['frames_without_face']} of {s['n_frames']} "
              "frames (cropped with the last box)")
    print(f"rppg infer: results in {out}")
    return 0

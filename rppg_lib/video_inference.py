"""Pulse and heart rate from your own video, without ground truth: :func:`infer_video`.

It computes and returns; it writes nothing (``rppg infer``, in :mod:`rppg_lib.run.infer`, writes
the tables, the summary and the figure). The chain: check every argument, the model and the
video's clock (frame rate against its time stamps and :data:`rppg_lib.video_io.FPS_RANGE_HZ`)
before decoding anything; then decode the video once, find and track the face
(:mod:`rppg_lib.preprocess`'s tracker, or a centre crop), and estimate the pulse with one or more
methods:

* ``network``: a network on the enlarged face crop it was trained with. Default
  :data:`DEFAULT_MODEL`, open-rppg's TS-CAN trained on the RLAP webcam videos, read offline from
  the wheel fetched at set-up into ``data/weights/``; ``model`` picks another of
  :data:`rppg_lib.weights.RELEASED_MODELS`, ``weights`` a file of one's own (``tscan``, the old
  name of this method, is still accepted);
* ``pos``, ``chrom``, ``green``, ``ica``: the unsupervised methods of :mod:`rppg_lib.baselines`
  on the mean colour of the skin: the inner :data:`SKIN_REGION` (width, height shares) of the
  face box, not enlarged, so that background, hair and clothes do not dilute it.

Every sliding window gets a confidence: the SNR of its spectral peak and the peak's share of the
in-band power (:func:`rppg_lib.signals.peak_quality`), and whether the skin's colour changes at
that rate the way blood makes it (:func:`rppg_lib.baselines.pulse_colour_match`; flickering light
changes it another way). A window is reliable when its SNR reaches :data:`MIN_SNR_DB` and its
colour match :data:`MIN_PULSE_COLOUR`; a method's whole-video ``hr_bpm`` is the median of its
reliable windows, and null with a reason when fewer than :data:`MIN_RELIABLE_SHARE` of its
windows are reliable. With several methods, the summary's ``agreement`` says whether their
rates lie within :data:`AGREEMENT_BPM` of each other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rppg_lib.attention import AttentionMasks
from rppg_lib.baselines import pulse_colour_match, unsupervised_pulse
from rppg_lib.constants import BR_BAND, FRAME_DEPTH, HR_BAND, HR_STEP_S, HR_WINDOW_S
from rppg_lib.datasets.checks import numbered_frame_times
from rppg_lib.datasets.generic import read_ground_truth_csv
from rppg_lib.network_inference import (
    LoadedModel,
    NetworkRunner,
    load_model,
    load_released_model,
    process_waveform,
    run_network,
)
from rppg_lib.network_input import ClipFrames
from rppg_lib.preprocess import PreprocessConfig
from rppg_lib.preprocess.face_tracking import NoFaceError, inner_box
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
from rppg_lib.weights import RELEASED_MODELS
from rppg_lib.weights.open_rppg import OPEN_RPPG_CLIP_LENGTH, OpenRppgFrames

__all__ = [
    "AGREEMENT_BPM",
    "COLOUR_REGIONS",
    "DEFAULT_MODEL",
    "DEFAULT_WEIGHTS_DIR",
    "METHODS",
    "METHOD_CHOICES",
    "MIN_PULSE_COLOUR",
    "MIN_RELIABLE_SHARE",
    "MIN_SNR_DB",
    "MethodResult",
    "SKIN_REGION",
    "VideoInference",
    "WEIGHTS_ENV",
    "check_model_name",
    "default_weights",
    "infer_video",
    "method_agreement",
]

log = logging.getLogger(__name__)

# Environment variable naming the weights file used when neither a model nor weights are given.
WEIGHTS_ENV = "RPPG_WEIGHTS"
# Where `make venv` puts open-rppg's wheel (its released weights are read from it, offline).
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "data" / "weights"
_DEFAULT_WEIGHTS_GLOB = "open_rppg-*.whl"
# The default network (docs/own-video.md says why): RLAP is a webcam dataset; on a real face
# video this TS-CAN agrees with FacePhys and the PURE TS-CAN, and it costs a 75th of FacePhys'
# CPU time per frame.
DEFAULT_MODEL = "tscan.rlap"

METHODS = ("network", "pos", "chrom", "green", "ica")
METHOD_CHOICES = (*METHODS, "tscan", "all")  # "tscan": the earlier name of "network"

# A window is reliable when the SNR of its spectral peak (peak and first harmonic, ±0.1 Hz,
# against the rest of 0.7-5 Hz) is at least MIN_SNR_DB and the skin's colour changes at that rate
# like blood (pulse colour, a cosine, at least MIN_PULSE_COLOUR); a video gets a heart rate (the
# median of its reliable windows) only when at least MIN_RELIABLE_SHARE of its windows are
# reliable. Chosen on seeds 0-5 (clean, illumination) and 0-3 (no pulse, blank, noise, face-less)
# of benchmarks/bench_infer_confidence.py with the crop's colour and the PURE TS-CAN; re-checked
# unchanged with the skin's colour and the RLAP TS-CAN (docs/own-video.md): with the SNR alone,
# windows locked onto an in-band light flicker passed as reliable (55 % of the held-out wrong
# ones); with the colour rule 0 of 141 pass; at most 9 % of a pulse-less input's windows pass,
# and 0.5 lies well above that and below the share of reliable windows of clean clips (98-100 %).
MIN_SNR_DB = -1.0
MIN_PULSE_COLOUR = 0.8
MIN_RELIABLE_SHARE = 0.5
_SNR_TOLERANCE_HZ = 0.1
# The skin the colour methods read: the centred 60 % of the face box's width (the cheeks, not the
# background beside them) and 80 % of its height (forehead to mouth, not the hair above nor the
# neck below); the Haar box is square and a little wider than the face.
SKIN_REGION = (0.6, 0.8)
# "skin": the mean colour of SKIN_REGION; "crop": of the network's enlarged crop (the earlier
# behaviour, kept to measure what the skin region changes).
COLOUR_REGIONS = ("skin", "crop")
# Methods whose video rates lie further apart than this (bpm) disagree: the summary and the figure
# say so. 5 bpm is the error a window must exceed to count as wrong in the benchmarks.
AGREEMENT_BPM = 5.0
# Side (pixels) of the face crops when no network reads them, and of the unused standard inputs
# when no standard-input network reads them (PreprocessConfig's smallest size).
_CROP_SIDE = 36
_UNUSED_INPUT_SIDE = 3
# The shortest heart-rate window: two periods of the slowest heart rate of the band (42 bpm).
MIN_WINDOW_S = 2.0 / HR_BAND[0]


@dataclass
class MethodResult:
    """One method's estimate for the video.

    pulse: (T,) band-passed pulse (a.u.); derivative: (T,) the network's raw output when it is a
    derivative (TS-CAN, EfficientPhys), else None.
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
    """What :func:`infer_video` computed: the per-method results, the summary (JSON-ready dict),
    the breathing signal of a breathing network, the reference rate per window (with ground
    truth) and, when asked for, the attention masks and the crops they were computed on."""

    fps: float
    frame_times: np.ndarray
    methods: dict[str, MethodResult]
    summary: dict[str, Any]
    resp: np.ndarray | None = None
    reference_hr: np.ndarray | None = None
    masks: AttentionMasks | None = field(default=None, repr=False)
    mask_frames: np.ndarray | None = field(default=None, repr=False)  # (T, S, S, 3) float16


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


def check_model_name(model: str) -> str:
    """The registry name of ``model`` (case-insensitive); ValueError listing the names."""
    key = str(model).lower()
    if key not in RELEASED_MODELS:
        raise ValueError(
            f"model (--model) must be one of {', '.join(sorted(RELEASED_MODELS))}; got {model!r}"
        )
    return key


def _resolve_weights(weights: str | os.PathLike | LoadedModel | None,
                     model: str | None) -> tuple[LoadedModel, str]:
    """The loaded network and its name for the summary: ``weights`` (a file or a loaded model),
    else the released ``model``, else ``$RPPG_WEIGHTS``, else :data:`DEFAULT_MODEL`."""
    if isinstance(weights, LoadedModel):
        return weights, weights.name or weights.source
    if weights is None and model is None:
        weights = os.environ.get(WEIGHTS_ENV) or None
    if weights is None:
        name = check_model_name(model or DEFAULT_MODEL)
        wheel = default_weights()
        return load_released_model(name, wheel), f"{name} (open-rppg, {wheel.name})"
    return load_model(Path(weights)), str(weights)


def _check_methods(method: str | Iterable[str]) -> tuple[str, ...]:
    names = [method] if isinstance(method, str) else list(method)
    if not names:
        raise ValueError(f"method must name at least one of {METHOD_CHOICES}")
    chosen: list[str] = []
    for name in names:
        name = check_choice(str(name).lower(), "method (--method)", METHOD_CHOICES)
        name = "network" if name == "tscan" else name
        for m in METHODS if name == "all" else (name,):
            if m not in chosen:
                chosen.append(m)
    return tuple(chosen)


def _check_window(window_s: float | None, step_s: float) -> tuple[float | None, float]:
    for name, value in (("window_s (--window)", window_s), ("step_s (--step)", step_s)):
        if value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if window_s is not None and window_s < MIN_WINDOW_S:
        raise ValueError(
            f"window_s (--window) = {window_s:g} s is too short: a heart-rate window must hold two "
            f"periods of the slowest rate ({60 * HR_BAND[0]:g} bpm), at least {MIN_WINDOW_S:.2f} s"
        )
    return (None if window_s is None else float(window_s)), float(step_s)


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
        pulse, fps, window_s, step_s, low=HR_BAND[0], high=HR_BAND[1],
        tolerance_hz=_SNR_TOLERANCE_HZ,
    )
    colour = _window_colours(rgb, fps, times, rates, window_s)
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
    length = int(round(window_s * fps))  # at most the video (_check_duration)
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
    *,
    model: str | None = None,
    method: str | Iterable[str] = "network",
    ground_truth: str | os.PathLike | None = None,
    fps: float | None = None,
    crop: str = "haar",
    colour_region: str = "skin",
    window_s: float | None = None,
    step_s: float = HR_STEP_S,
    device: str = "auto",
    batch_frames: int | None = None,
    freeze: bool = True,
    bf16: bool = False,
    overlap: bool = True,
    save_masks: bool = False,
    progress: bool = True,
    before_decoding: Callable[[], None] | None = None,
) -> VideoInference:
    """Estimate the pulse and heart rate of the face in ``video_path``; writes no file.

    weights: a weights file (see :func:`rppg_lib.network_inference.load_model`; a PyTorch file is
    read
        with ``weights_only``, no code unpickled) or a :class:`LoadedModel`.
    model: a released model by name (:data:`rppg_lib.weights.RELEASED_MODELS`, e.g.
        "physnet.rlap"), read from :func:`default_weights`. Neither: ``$RPPG_WEIGHTS``, else
        :data:`DEFAULT_MODEL`. Only loaded when ``method`` includes "network".
    method: one of :data:`METHODS` ("tscan" means "network"), "all", or a list of them.
    ground_truth: a CSV (``time`` and ``bvp`` and/or ``hr`` columns; see
        :func:`rppg_lib.datasets.generic.read_ground_truth_csv`); then the summary carries the
        MAE/RMSE (bpm) of the window heart rates against it. A CSV beside the video is not read.
    fps: frame rate in Hz (5-240); needed for a folder of frames, overrides a video's own.
    crop: "haar" (face detection and tracking) or "center" (largest centre square: for videos
        where the face fills the frame but is not found).
    colour_region: where the colour methods and the pulse-colour test read the mean colour:
        "skin" (:data:`SKIN_REGION` of the face box, at full resolution) or "crop" (the network's
        enlarged crop, the earlier behaviour).
    window_s, step_s: the sliding window of the heart rate over time (s); window_s >= 2.86 s and
        at most the video's length (longer is refused); None: 10 s (``HR_WINDOW_S``), or the
        whole video when it is shorter (the summary records the window used).
    freeze: run the network as a frozen TorchScript
    (:func:`rppg_lib.network_inference.frozen_model`;
        outputs equal the eager float32 model's to ~1e-6); False: eagerly. The summary's
        ``network_path`` records which ran, on which device, with how many threads.
    bf16: the network eagerly in channels-last memory format under bfloat16 autocast (CPUs with
        AVX-512-BF16 or AMX, and CUDA; outputs differ from float32 by ~3e-3 relative).
    overlap: with a TS-CAN of open-rppg (input built per clip of face crops), run the network on
        each clip while the next ones decode (outputs equal to float rounding; the summary's
        ``network_path`` says whether it overlapped); False: after the decoding.
    save_masks: keep the attention masks (a standard-input network) and their crops.
    before_decoding: called once every check has passed, before the first frame is decoded (the
        command line prepares its output folder there).
    Raises ValueError / FileNotFoundError naming the argument or the file, before any decoding;
    NoFaceError (a ValueError) when no face is found in any frame (a warning is logged when some
    frames had none: they are cropped with the last box); a warning names the file and both
    counts when the video decodes to another number of frames than its header says.
    """
    video_path = Path(video_path)
    methods = _check_methods(method)
    window_s, step_s = _check_window(window_s, step_s)
    crop = check_choice(crop, "crop (--crop)", ("haar", "center"))
    colour_region = check_choice(colour_region, "colour_region", COLOUR_REGIONS)
    gt_path = None if ground_truth is None else Path(ground_truth)
    if gt_path is not None and not gt_path.is_file():
        raise FileNotFoundError(f"--ground-truth file not found: {gt_path}")
    networked = "network" in methods
    if weights is not None and model is not None:
        raise ValueError("pass a model (--model) or a weights file (--weights), not both")
    if model is not None:
        check_model_name(model)  # an unknown name fails before the video is opened
    if networked:
        resolve_device(device)  # an unknown or absent device fails here, not after decoding
    source = _open_source(video_path, fps)
    window_s = _check_duration(video_path, len(source.frame_times), source.fps, window_s)
    reference = None if gt_path is None else _read_ground_truth(gt_path, source.frame_times)
    loaded, model_name = _resolve_weights(weights, model) if networked else (None, None)
    if before_decoding is not None:
        before_decoding()

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
                if overlap and loaded is not None and loaded.inputs == "open_rppg" else None)
    skin = _SkinColour() if colour_region == "skin" else None
    with tempfile.TemporaryDirectory(prefix="rppg_infer_") as tmp, contextlib.ExitStack() as stack:
        if streamed is not None:
            stack.callback(streamed.close)  # also on an error: no clip runs after it
        try:
            pre = preprocess_frames(
                source.frames, source.fps, config, clip_id=video_path.name,
                source=str(video_path), out_dir=tmp, progress=progress,
                on_mask_frame=None if streamed is None else streamed.add,
                on_frame=skin,
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
        window_s = _check_duration(video_path, n, fs, window_s)
        rgb = (skin.colours() if skin is not None
               else np.asarray(pre.mask_frames, dtype=np.float64).mean(axis=(1, 2)))
        if loaded is not None:
            clock = time.perf_counter()
            if streamed is not None:  # most clips ran during the preprocessing
                derivative, resp, masks, network_path = streamed.finish()
                timings["network_overlapped_s"] = streamed.busy_s
            elif loaded.inputs == "released":
                derivative, network_path = _run_released(loaded, pre.mask_frames, device)
            else:
                derivative, resp, masks, network_path = _run_network(
                    loaded, pre, device, batch_frames, (freeze, bf16), save_masks, progress
                )
            timings["network_s"] = time.perf_counter() - clock
            if derivative is not None:
                # TS-CAN and EfficientPhys give the pulse's derivative, PhysNet and FacePhys the
                # pulse itself
                is_derivative = loaded.spec is None or loaded.spec.output == "derivative"
                pulse = process_waveform(derivative, fs, HR_BAND, integrate=is_derivative)
                results["network"] = _quality("network", pulse, fs, window_s, step_s, rgb,
                                              derivative if is_derivative else None)
            if resp is not None:
                resp = process_waveform(resp, fs, BR_BAND, integrate=True)
                br = _breathing(resp, fs)
            if masks is not None:
                mask_frames = np.asarray(pre.mask_frames, dtype=np.float16)
        clock = time.perf_counter()
        for m in methods:
            if m != "network":
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
    summary["colour_region"] = ({"region": "skin", "face_box_share_w_h": list(SKIN_REGION)}
                                if colour_region == "skin" else {"region": "crop"})
    summary["network_path"] = network_path
    return VideoInference(fps=fs, frame_times=frame_times, methods=results, summary=summary,
                          resp=resp, reference_hr=ref_rates, masks=masks,
                          mask_frames=mask_frames)


class _SkinColour:
    """The preprocessing's ``on_frame``: the mean RGB of each frame's skin region (the inner
    :data:`SKIN_REGION` of its face box) at the frame's own resolution."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []

    def __call__(self, frame: np.ndarray, face_box: tuple[int, int, int, int]) -> None:
        x, y, w, h = inner_box(face_box, *SKIN_REGION)
        self.rows.append(frame[y : y + h, x : x + w].reshape(-1, 3).mean(axis=0))

    def colours(self) -> np.ndarray:
        """(T, 3) float64 mean RGB (0-255) per frame."""
        return np.asarray(self.rows, dtype=np.float64)


def _run_released(loaded: LoadedModel, crops: Any, device: str) -> tuple[np.ndarray, dict]:
    """A released model other than TS-CAN on the whole video's crops, with its own input
    preparation (:meth:`~rppg_lib.weights.ReleasedModel.predict`): (raw output per frame, the
    path that ran)."""
    target = resolve_device(device)
    with network_threads():
        threads = torch.get_num_threads()
        raw = loaded.spec.predict(loaded.model, np.asarray(crops, dtype=np.float32), target)
    path = {"mode": "eager", "dtype": "float32", "device": str(target), "torch_threads": threads,
            "torch": torch.__version__, "overlapped_with_preprocessing": False}
    return raw.astype(np.float64), path


def _check_duration(video_path: Path, n: int, fps: float,
                    window_s: float | None) -> float | None:
    """The window to use (s): ``window_s``, or for None the default HR_WINDOW_S capped at the
    video's length. Refuses a video shorter than one period of the slowest rate (1.43 s) and a
    window longer than the video (``n`` 0: count unknown yet; the window stays as given)."""
    if not n:
        return window_s
    duration = n / fps
    if duration < 1.0 / HR_BAND[0]:
        raise ValueError(
            f"video {video_path} holds {n} frames ({duration:.2f} s at {fps:g} fps): too short "
            f"for a heart rate (at least {1 / HR_BAND[0]:.2f} s)"
        )
    if window_s is None:
        return min(HR_WINDOW_S, duration)
    if window_s > duration:
        raise ValueError(
            f"window_s (--window) = {window_s:g} s is longer than video {video_path} "
            f"({duration:.2f} s at {fps:g} fps): choose a window of at most {duration:.2f} s"
        )
    return window_s


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


def method_agreement(results: dict[str, MethodResult]) -> dict[str, Any] | None:
    """Do the methods agree? None with fewer than two methods that have windows.

    ``spread_bpm``: the largest minus the smallest of the methods' median window rates (bpm, all
    windows, reliable or not); ``windows_within``: the share of windows whose rates all lie within
    :data:`AGREEMENT_BPM` of each other; ``disagree``: spread above :data:`AGREEMENT_BPM`;
    ``message``: one line saying so, naming each method's rate.
    """
    rated = {name: r for name, r in results.items() if r.hr_series.size}
    if len(rated) < 2:
        return None
    medians = {name: float(np.median(r.hr_series)) for name, r in rated.items()}
    spread = max(medians.values()) - min(medians.values())
    rates = np.stack([r.hr_series for r in rated.values()])  # (methods, windows): same windows
    within = float(np.mean(rates.max(axis=0) - rates.min(axis=0) <= AGREEMENT_BPM))
    disagree = spread > AGREEMENT_BPM
    listed = ", ".join(f"{name} {bpm:.1f}" for name, bpm in medians.items())
    message = (f"methods disagree: median window rates {listed} bpm, {spread:.1f} bpm apart "
               f"(more than {AGREEMENT_BPM:g}): a hard video; trust a rate only where methods agree"
               if disagree else
               f"methods agree within {spread:.1f} bpm (median window rates {listed} bpm)")
    return {"methods": list(rated), "median_window_bpm": medians, "spread_bpm": spread,
            "windows_within": within, "disagree": disagree, "message": message,
            "agreement_bpm": AGREEMENT_BPM}


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
            "median_window_bpm": float(np.median(r.hr_series)) if r.hr_series.size else None,
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
        "agreement": method_agreement(results),
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



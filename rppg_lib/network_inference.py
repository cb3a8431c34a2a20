"""Whole-clip prediction with the convolutional attention networks, and model loading.

:func:`predict_clip` runs a network over every frame of a preprocessed clip in batches, then
turns the per-frame pulse derivative into a pulse waveform and heart rates (the rPPG-Toolbox
post-processing: running sum, smoothness-priors detrend λ = 100, zero-phase Butterworth
band-pass, spectral peak). With ``return_masks`` it also keeps the attention masks of every frame.

Temporal-shift segments: TS-CAN reads its batch as consecutive segments of ``frame_depth``
frames starting at frame 0 (as in training, whose chunks are multiples of ``frame_depth``).
When T is not a multiple of ``frame_depth``, the last segment is completed by repeating the last
frame; the outputs (and masks) of those repeated frames are discarded, so every one of the T
frames gets exactly one prediction and none is dropped. ``ClipPrediction.padded_frames`` says
how many frames were repeated.

:func:`load_model` reads any supported weights file (a training checkpoint of this suite, an
rPPG-Toolbox ``.pth``, open-rppg's TS-CAN, the Benefit-of-Distraction Keras CAN);
:func:`rppg_lib.video_inference.infer_video` runs the whole chain on a video.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rppg_lib import weights as released
from rppg_lib.attention import AttentionMasks
from rppg_lib.constants import (
    BR_BAND,
    BR_DETREND_LAMBDA,
    DETREND_LAMBDA_TOOLBOX,
    FRAME_DEPTH,
    HR_BAND,
    HR_STEP_S,
    HR_WINDOW_S,
)
from rppg_lib.network_input import ClipFrames
from rppg_lib.progress import progress_bar
from rppg_lib.signals import bandpass, breathing_rate, detrend, heart_rate, heart_rate_series
from rppg_lib.threads import ThreadSettings, network_threads
from rppg_lib.training.build import model_from_checkpoint
from rppg_lib.training.checkpoint import CHECKPOINT_FORMAT
from rppg_lib.training.distributed import resolve_device
from rppg_lib.validation import check_positive, check_positive_int

__all__ = [
    "ClipPrediction",
    "run_network",
    "NetworkRunner",
    "bf16_supported",
    "frozen_model",
    "predict_clip",
    "extract_masks",
    "process_waveform",
    "hr_validator",
    "br_validator",
    "LoadedModel",
    "load_model",
    "load_released_model",
    "OUTPUT_KINDS",
]

OUTPUT_KINDS = ("pulse", "resp")


@dataclass
class ClipPrediction:
    """A network's estimate for one clip of T frames at ``fps`` Hz.

    pulse_derivative: (T,) the network output (standardised pulse derivative per frame).
    pulse: (T,) its running sum, detrended and band-passed to ``band`` (the pulse waveform).
    hr_bpm: heart rate of the whole clip (bpm). hr_times, hr_series: (W,) sliding-window centres
        (s, from the first frame) and heart rates (bpm).
    resp_derivative, resp, br_bpm: the same for respiration (breaths/min) when the model has a
        respiration output (MTTS-CAN, the Benefit-of-Distraction breathing CAN); else None, and
        the pulse fields are None for a respiration-only model. br_bpm is None also for a clip
        shorter than one cycle of the band's slowest rate (12.5 s for the default 0.08 Hz).
    masks: attention masks per frame (``return_masks=True``), else None.
    padded_frames: frames repeated to complete the last temporal-shift segment (their outputs
        were discarded).
    """

    clip_id: str
    fps: float
    frame_times: np.ndarray
    pulse_derivative: np.ndarray | None = None
    pulse: np.ndarray | None = None
    hr_bpm: float | None = None
    hr_times: np.ndarray | None = None
    hr_series: np.ndarray | None = None
    resp_derivative: np.ndarray | None = None
    resp: np.ndarray | None = None
    br_bpm: float | None = None
    masks: AttentionMasks | None = None
    padded_frames: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frame_times.shape[0])


def _model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def bf16_supported(device: str | torch.device = "cpu") -> bool:
    """Whether bfloat16 autocast (``run_network(bf16=True)``, ``TrainConfig.bf16``) has fast
    kernels on ``device``: a CUDA GPU that supports it, or a CPU with AVX-512-BF16 or AMX
    instructions (elsewhere it runs, emulated, slower than float32)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if dev.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as handle:
            flags = handle.read()
    except OSError:  # not Linux: no cheap way to tell
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _is_channels_last(model: nn.Module) -> bool:
    """Whether the model's first 4-D parameter (a conv weight) is stored channels-last."""
    for p in model.parameters():
        if p.ndim == 4:
            return p.is_contiguous(memory_format=torch.channels_last)
    return False


def frozen_model(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """``model`` (in eval mode) traced on ``example`` with TorchScript, frozen and optimised for
    inference: weights become constants, oneDNN convolutions keep their weight layout and fuse
    their activations. Outputs equal the eager model's to ~1e-7 relative, for any batch size
    (the batch size is read from the input, so a trace on one segment serves every batch)."""
    with torch.no_grad(), warnings.catch_warnings():
        # the forward's input checks read shapes: traced as constants, which is what we want
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # torch (2.13 here) marks TorchScript deprecated (for torch.compile, which needs a C++
        # compiler at run time); a note for developers that `rppg infer` printed four times
        warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is deprecated", DeprecationWarning)
        traced = torch.jit.trace(model, example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced))


class NetworkRunner:
    """A network prepared for inference on consecutive pieces of one input stream.

    ``with NetworkRunner(model, ...) as runner:`` puts the model in eval mode on its device (and
    channels-last with ``channels_last``) and restores it on exit; inside, ``runner(x)`` with
    ``x`` (k, 6, S, S) float32 frames returns ``(outputs (k, K) float32, masks or None)``, masks
    ``{"gate1": (k, M1, M1), "gate2": (k, M2, M2)}`` float16. Each piece must hold whole
    temporal-shift segments of ``frame_depth`` frames, except the stream's last piece: its last
    segment is completed by repeating its last frame and those outputs are discarded. With
    ``freeze`` the model is traced and frozen on the first segment of the first piece and the
    frozen model serves every later piece. Options as for :func:`run_network`.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        frame_depth: int | None = None,
        device: str | torch.device | None = None,
        amp: bool = False,
        bf16: bool = False,
        channels_last: bool = False,
        freeze: bool = False,
        return_masks: bool = False,
    ) -> None:
        if frame_depth is None:
            frame_depth = getattr(model, "frame_depth", None)
        self.depth = 1 if frame_depth is None else check_positive_int(frame_depth, "frame_depth")
        if device is not None:
            model = model.to(resolve_device(device) if isinstance(device, str) else device)
        self.model = model
        self.device = _model_device(model)
        self.autocast = (amp and self.device.type == "cuda") or bf16
        self.autocast_dtype = torch.bfloat16 if bf16 else torch.float16
        self.channels_last = channels_last
        self.return_masks = return_masks
        self.use_frozen = freeze and not return_masks and not self.autocast
        self._forward: Any = None

    def __enter__(self) -> NetworkRunner:
        self._was_training = self.model.training
        self._restore_layout = self.channels_last and not _is_channels_last(self.model)
        self.model.eval()
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        return self

    def __exit__(self, *exc: object) -> None:
        self.model.train(self._was_training)
        if self._restore_layout:
            self.model.to(memory_format=torch.contiguous_format)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
        keep = len(x)
        missing = -keep % self.depth
        if missing:  # complete the last segment with copies of the last frame
            x = np.concatenate([x, np.repeat(x[-1:], missing, axis=0)])
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        batch = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        batch = batch.contiguous(memory_format=memory_format)
        if self._forward is None:
            self._forward = (frozen_model(self.model, batch[: self.depth]) if self.use_frozen
                             else self.model)
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast),
        ):
            if self.return_masks:
                out, masks = self.model(batch, return_masks=True)
            else:
                out, masks = self._forward(batch), None
        outputs = out.float().reshape(out.shape[0], -1)[:keep].cpu().numpy()
        if masks is None:
            return outputs, None
        gates = {name: masks[name][:keep, 0].float().cpu().numpy().astype(np.float16)
                 for name in ("gate1", "gate2")}
        return outputs, gates


def run_network(
    model: nn.Module,
    inputs: Any,
    *,
    frame_depth: int | None = None,
    batch_frames: int | None = None,
    device: str | torch.device | None = None,
    amp: bool = False,
    bf16: bool = False,
    channels_last: bool = False,
    freeze: bool = False,
    threads: ThreadSettings | None = None,
    return_masks: bool = False,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray] | None, int]:
    """Raw network outputs for every frame of ``inputs`` (T, 6, S, S) (an array, memory map or
    :class:`~rppg_lib.network_input.ClipFrames`), in eval mode, under ``torch.inference_mode``.

    frame_depth: segment length of the temporal shift (default: ``model.frame_depth``, None for
    CAN). batch_frames: frames per forward pass (default 20 segments or 200 frames), a multiple
    of frame_depth. device: None = where the model is; "auto" or a device string moves it there.
    Returns ``(outputs (T, K) float32, masks or None, padded)``, masks
    ``{"gate1": (T, M1, M1), "gate2": (T, M2, M2)}`` float16.

    Speed options (all off by default; the default path's numbers do not change):
    amp: float16 autocast on CUDA (ignored elsewhere). bf16: bfloat16 autocast (CPUs with
    AVX-512-BF16 or AMX, and CUDA): outputs differ from float32 by ~1e-2 relative.
    channels_last: the model and each batch in channels-last memory format for the duration of
    the call (the model is restored afterwards): outputs equal float32 to ~1e-6.
    freeze: run a :func:`frozen_model` of the model, traced on its first segment (ignored with
    ``return_masks``, amp or bf16): outputs equal float32 to ~1e-6.
    threads: the network's PyTorch threads (default: ``rppg_lib.threads.get_thread_settings()``).
    :class:`NetworkRunner` runs the same network piece by piece as inputs arrive.
    """
    n = len(inputs)
    if n == 0:
        raise ValueError("inputs has no frames")
    runner = NetworkRunner(model, frame_depth=frame_depth, device=device, amp=amp, bf16=bf16,
                           channels_last=channels_last, freeze=freeze, return_masks=return_masks)
    depth = runner.depth
    if batch_frames is None:
        batch_frames = depth * max(1, 200 // depth)
    batch_frames = check_positive_int(batch_frames, "batch_frames")
    if batch_frames % depth:
        raise ValueError(
            f"batch_frames = {batch_frames} must be a multiple of frame_depth = {depth}"
        )
    outputs: list[np.ndarray] = []
    gates: dict[str, list[np.ndarray]] = {"gate1": [], "gate2": []}
    with runner, network_threads(threads):  # threads set once for all batches
        starts = progress_bar(range(0, n, batch_frames), desc="frames", unit="batch",
                              disable=not progress, leave=False)
        for start in starts:
            out, masks = runner(np.asarray(inputs[start : start + batch_frames], np.float32))
            outputs.append(out)
            for name, gate in (masks or {}).items():
                gates[name].append(gate)
    all_masks = {k: np.concatenate(v) for k, v in gates.items()} if return_masks else None
    return np.concatenate(outputs), all_masks, -n % depth


def process_waveform(
    x: np.ndarray,
    fs: float,
    band: tuple[float, float],
    *,
    integrate: bool,
    detrend_lambda: float = DETREND_LAMBDA_TOOLBOX,
    filter_order: int = 1,
) -> np.ndarray:
    """A derivative (``integrate=True``: running sum first) or a waveform sampled at ``fs`` Hz,
    smoothness-priors detrended (λ = ``detrend_lambda``) and zero-phase band-passed to ``band``
    Hz (Butterworth of ``filter_order``): the rPPG-Toolbox chain. Same length as ``x``."""
    y = np.asarray(x, dtype=np.float64)
    if integrate:
        y = np.cumsum(y)
    return bandpass(detrend(y, detrend_lambda), fs, band[0], band[1], order=filter_order)


def _rate_series(x: np.ndarray, fs: float, band, window_s: float, step_s: float):
    """Sliding-window heart rates; a clip shorter than the window is one window."""
    window = min(window_s, len(x) / fs)
    return heart_rate_series(x, fs, window, step_s, low=band[0], high=band[1])


def predict_clip(
    model: nn.Module,
    clip: Any,
    *,
    fps: float | None = None,
    outputs: Sequence[str] | None = None,
    batch_frames: int | None = None,
    device: str | torch.device | None = None,
    amp: bool = False,
    bf16: bool = False,
    channels_last: bool = False,
    return_masks: bool = False,
    band: tuple[float, float] = HR_BAND,
    resp_band: tuple[float, float] = BR_BAND,
    detrend_lambda: float = DETREND_LAMBDA_TOOLBOX,
    filter_order: int = 1,
    hr_window_s: float = HR_WINDOW_S,
    hr_step_s: float = HR_STEP_S,
    frame_depth: int | None = None,
    progress: bool = False,
) -> ClipPrediction:
    """Predict every frame of ``clip`` and derive the pulse, heart rate (and respiration).

    clip: a :class:`rppg_lib.preprocess.PreprocessedClip` (or any object with ``motion`` and
        ``appearance`` (T, S, S, 3), ``fps``, optional ``clip_id`` and ``frame_times``), or an
        array (T, 6, S, S) of network inputs together with ``fps``.
    outputs: what the model's output columns are; default ("pulse",) for one column and
        ("pulse", "resp") for two (MTTS-CAN); ("resp",) for a breathing model.
    band, resp_band: pass bands in Hz for the pulse and respiration; hr_window_s, hr_step_s:
        the sliding window of ``hr_series`` (s). Other arguments: see :func:`run_network`.
    """
    if isinstance(clip, np.ndarray):
        if fps is None:
            raise ValueError("fps is required when clip is an array of network inputs")
        inputs, clip_id, times = clip, "frames", None
    else:
        inputs = ClipFrames(clip.motion, clip.appearance)
        clip_id = str(getattr(clip, "clip_id", "clip"))
        times = getattr(clip, "frame_times", None)
        fps = clip.fps if fps is None else fps
    fs = check_positive(fps, "fps")
    raw, masks, padded = run_network(
        model, inputs, frame_depth=frame_depth, batch_frames=batch_frames, device=device,
        amp=amp, bf16=bf16, channels_last=channels_last, return_masks=return_masks,
        progress=progress,
    )
    n = raw.shape[0]
    kinds = tuple(outputs) if outputs is not None else (("pulse",), ("pulse", "resp"))[
        min(raw.shape[1], 2) - 1
    ]
    if len(kinds) != raw.shape[1] or any(k not in OUTPUT_KINDS for k in kinds):
        raise ValueError(
            f"outputs = {kinds} must name each of the model's {raw.shape[1]} output column(s) "
            f"with one of {OUTPUT_KINDS}"
        )
    frame_times = np.arange(n) / fs if times is None else np.asarray(times, dtype=np.float64)
    result = ClipPrediction(
        clip_id=clip_id, fps=fs, frame_times=frame_times, padded_frames=padded,
        settings=dict(band=tuple(band), resp_band=tuple(resp_band), detrend_lambda=detrend_lambda,
                      filter_order=filter_order, hr_window_s=hr_window_s, hr_step_s=hr_step_s),
    )
    post = dict(detrend_lambda=detrend_lambda, filter_order=filter_order, integrate=True)
    if "pulse" in kinds:
        d = raw[:, kinds.index("pulse")].astype(np.float64)
        result.pulse_derivative = d
        result.pulse = process_waveform(d, fs, band, **post)
        result.hr_bpm = heart_rate(result.pulse, fs, band[0], band[1])
        result.hr_times, result.hr_series = _rate_series(
            result.pulse, fs, band, hr_window_s, hr_step_s
        )
    if "resp" in kinds:
        r = raw[:, kinds.index("resp")].astype(np.float64)
        result.resp_derivative = r
        result.resp = process_waveform(r, fs, resp_band, **post)
        if r.size >= fs / resp_band[0]:  # a shorter clip holds no cycle of the slowest rate
            result.br_bpm = breathing_rate(result.resp, fs, resp_band[0], resp_band[1])
    if masks is not None:
        result.masks = AttentionMasks(
            gate1=masks["gate1"], gate2=masks["gate2"], fps=fs, clip_id=clip_id,
            img_size=int(np.shape(inputs)[-1]),
        )
    return result


def extract_masks(
    model: nn.Module,
    clip: Any,
    *,
    fps: float | None = None,
    batch_frames: int | None = None,
    device: str | torch.device | None = None,
) -> AttentionMasks:
    """The gate-1 and gate-2 attention masks (sigmoid outputs before normalisation) of every
    frame of ``clip`` (as for :func:`predict_clip`), without the pulse post-processing."""
    if isinstance(clip, np.ndarray):
        if fps is None:
            raise ValueError("fps is required when clip is an array of network inputs")
        inputs, clip_id = clip, "frames"
    else:
        inputs = ClipFrames(clip.motion, clip.appearance)
        clip_id = str(getattr(clip, "clip_id", "clip"))
        fps = clip.fps if fps is None else fps
    _, masks, _ = run_network(
        model, inputs, batch_frames=batch_frames, device=device, return_masks=True
    )
    return AttentionMasks(
        gate1=masks["gate1"], gate2=masks["gate2"], fps=check_positive(fps, "fps"),
        clip_id=clip_id, img_size=int(np.shape(inputs)[-1]),
    )


def hr_validator(
    clips: Sequence[Any],
    *,
    window_s: float = HR_WINDOW_S,
    step_s: float = 5.0,
    band: tuple[float, float] = HR_BAND,
    batch_frames: int | None = None,
) -> Callable[[nn.Module], dict[str, float]]:
    """A ``validate(model)`` function for :func:`rppg_lib.training.train`: the heart-rate MAE
    (bpm) over sliding windows of ``window_s`` s every ``step_s`` s of the validation ``clips``.

    Each clip (a PreprocessedClip with its ground-truth ``bvp``) is predicted whole; estimate and
    ground-truth waveform go through the same detrend, band-pass and spectral-peak chain.
    Returns ``{"val_hr_mae": mean |HR_est − HR_ref| over all windows}``.
    """
    clips = list(clips)
    if not clips:
        raise ValueError("clips is empty: nothing to validate on")
    references = []
    for clip in clips:
        if getattr(clip, "bvp", None) is None:
            raise ValueError(f"validation clip {getattr(clip, 'clip_id', '?')} has no bvp")
        ref = process_waveform(clip.bvp, clip.fps, band, integrate=False)
        references.append(_rate_series(ref, clip.fps, band, window_s, step_s)[1])

    def validate(model: nn.Module) -> dict[str, float]:
        errors = []
        for clip, ref_hr in zip(clips, references, strict=True):
            pred = predict_clip(
                model, clip, band=band, hr_window_s=window_s, hr_step_s=step_s,
                batch_frames=batch_frames,
            )
            errors.append(np.abs(pred.hr_series - ref_hr))
        return {"val_hr_mae": float(np.mean(np.concatenate(errors)))}

    return validate


def br_validator(
    clips: Sequence[Any],
    *,
    band: tuple[float, float] = BR_BAND,
    detrend_lambda: float = BR_DETREND_LAMBDA,
    batch_frames: int | None = None,
) -> Callable[[nn.Module], dict[str, float]]:
    """A ``validate(model)`` function for a network with a respiration output (MTTS-CAN): the
    breathing-rate MAE (breaths/min) over the validation ``clips``, one whole clip each.

    Each clip (a PreprocessedClip with its ground-truth ``resp``) is predicted whole; the running
    sum of the respiration output and the ground truth go through the same detrend (λ =
    ``detrend_lambda``) and band-pass (``band``, Hz) and their spectral peaks are compared.
    Returns ``{"val_br_mae": mean |BR_est − BR_ref|}``.
    """
    clips = list(clips)
    if not clips:
        raise ValueError("clips is empty: nothing to validate on")
    post = dict(detrend_lambda=detrend_lambda)
    references = []
    for clip in clips:
        if getattr(clip, "resp", None) is None:
            raise ValueError(f"validation clip {getattr(clip, 'clip_id', '?')} has no resp")
        ref = process_waveform(clip.resp, clip.fps, band, integrate=False, **post)
        references.append(breathing_rate(ref, clip.fps, *band))

    def validate(model: nn.Module) -> dict[str, float]:
        errors = []
        for clip, ref_br in zip(clips, references, strict=True):
            pred = predict_clip(model, clip, resp_band=band, batch_frames=batch_frames)
            if pred.resp_derivative is None:
                raise ValueError("br_validator needs a model with a respiration output")
            resp = process_waveform(pred.resp_derivative, clip.fps, band, integrate=True, **post)
            errors.append(abs(breathing_rate(resp, clip.fps, *band) - ref_br))
        return {"val_br_mae": float(np.mean(errors))}

    return validate


@dataclass
class LoadedModel:
    """A network ready for inference and what it needs.

    model (eval mode, CPU); kind: "checkpoint" (this suite's training), "toolbox" (rPPG-Toolbox
    .pth), "open_rppg" (open-rppg TS-CAN) or "keras_can" (Benefit-of-Distraction breathing CAN);
    outputs: the meaning of its output columns; img_size: input size S; frame_depth: temporal
    shift segment (None: no shift); inputs: "standard" (motion/appearance of notebook
    01_preprocessing), "open_rppg" (:func:`rppg_lib.weights.open_rppg_inputs`) or "released"
    (another open-rppg model, prepared and run by ``spec``); source: the file.
    """

    model: nn.Module
    kind: str
    outputs: tuple[str, ...]
    img_size: int
    frame_depth: int | None
    inputs: str
    source: str
    # the registry entry of a released open-rppg model; with inputs "released" its own input
    # preparation and forward pass run it (:meth:`~rppg_lib.weights.ReleasedModel.predict`)
    spec: released.ReleasedModel | None = None
    name: str | None = None  # the registry name ("tscan.rlap") of a released model


def load_released_model(name: str, wheel: str | Path) -> LoadedModel:
    """open-rppg's released model ``name`` (:data:`rppg_lib.weights.RELEASED_MODELS`, e.g.
    ``"tscan.rlap"``) from the wheel or the model's ``.weights.h5``, ready for inference.

    The TS-CANs keep the :class:`TSCAN` path (inputs "open_rppg", run clip by clip while the video
    decodes); every other model is run by its registry entry. ValueError lists the names.
    """
    spec = released.released_model(name)
    path = Path(wheel)
    if not path.is_file():
        raise FileNotFoundError(f"weights of model {spec.name} not found: {path}")
    model = spec.load(path)
    if spec.name.startswith("tscan."):
        return LoadedModel(model, "open_rppg", ("pulse",), model.img_size, model.frame_depth,
                           "open_rppg", str(path), spec=spec, name=spec.name)
    return LoadedModel(model, "open_rppg", ("pulse",), spec.side, None, "released", str(path),
                       spec=spec, name=spec.name)


def load_model(weights: str | Path, *, frame_depth: int | None = None) -> LoadedModel:
    """Load a weights file for inference, recognised by its extension and content.

    * ``.pt`` / ``.pth`` holding an rppg-suite training checkpoint: the network is rebuilt from
      the checkpoint's config;
    * other ``.pth`` / ``.pt`` state dicts: rPPG-Toolbox TS-CAN (``frame_depth`` default 10);
    * ``*.weights.h5`` or an ``open_rppg-*.whl`` wheel: open-rppg's TS-CAN (PURE weights);
    * other ``.h5``: the Benefit-of-Distraction Keras CAN (a breathing model: output "resp").
    """

    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    name = path.name.lower()
    if name.endswith((".pt", ".pth")):
        try:
            content = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            # torch's message runs over several lines (how to allow-list globals): keep the
            # first, so the command line's error stays one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            if isinstance(err, pickle.UnpicklingError):
                first = ("it holds objects that only running code from the file could rebuild, "
                         f"which is refused (weights_only): {first}")
            raise ValueError(f"{path} is not a readable PyTorch file: {first}") from err
        if isinstance(content, dict) and content.get("format") == CHECKPOINT_FORMAT:
            model, checkpoint = model_from_checkpoint(path)
            config = checkpoint["config"]
            outputs = {"mttscan": ("pulse", "resp")}.get(config["model"], ("pulse",))
            if config["model"] == "lstm":
                raise ValueError(f"{path} holds an LSTM denoiser, not a video network")
            return LoadedModel(
                model, "checkpoint", outputs, model.img_size, getattr(model, "frame_depth", None),
                "standard", str(path),
            )
        model = released.load_toolbox_tscan(path, frame_depth=frame_depth or FRAME_DEPTH)
        return LoadedModel(model, "toolbox", ("pulse",), model.img_size, model.frame_depth,
                           "standard", str(path))
    if name.endswith(".weights.h5") or name.endswith(".whl"):
        model = released.load_open_rppg_tscan(path)
        return LoadedModel(model, "open_rppg", ("pulse",), model.img_size, model.frame_depth,
                           "open_rppg", str(path))
    if name.endswith(".h5"):
        model = released.load_keras_can(path)
        return LoadedModel(model, "keras_can", ("resp",), model.img_size, None, "standard",
                           str(path))
    raise ValueError(
        f"weights = {path}: unknown kind; expected a .pt/.pth checkpoint, an open-rppg "
        ".weights.h5 or .whl, or a Keras .h5"
    )


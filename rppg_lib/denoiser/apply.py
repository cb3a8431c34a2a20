"""Inference: windows through the LSTM, stitched back into one pulse at the clip's frame times."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rppg_lib.denoiser.prepare import (
    CHANNEL_SETS,
    HOP,
    WINDOW,
    DenoiserClip,
    denoiser_windows,
    prepare_clip,
    to_frame_rate,
)
from rppg_lib.inverse_attention import CorruptionEstimates
from rppg_lib.validation import as_array, check_choice, check_positive_int
from rppg_lib.windows import stitch_windows

__all__ = ["STITCH_MODES", "channels_of", "denoise_windows", "denoise_signals", "denoise"]

STITCH_MODES = ("average", "release")


def channels_of(model: nn.Module, channels: str | None) -> str:
    """The channel option matching the model's input size (checked when given)."""
    size = getattr(model, "input_size", None)
    by_size = {len(cols): name for name, cols in CHANNEL_SETS.items()}
    if channels is None:
        if size not in by_size:
            raise ValueError(
                f"cannot tell the channels of a model with input_size = {size!r}; pass channels"
            )
        return by_size[size]
    check_choice(channels, "channels", tuple(CHANNEL_SETS))
    if size is not None and size != len(CHANNEL_SETS[channels]):
        raise ValueError(
            f"channels = {channels!r} gives {len(CHANNEL_SETS[channels])} inputs per step but "
            f"the model takes input_size = {size}"
        )
    return channels


@torch.no_grad()
def denoise_windows(model: nn.Module, windows: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """The model's output for windows (N, window, C): (N, window) float32, in eval mode on the
    model's device, in batches of ``batch_size``; the model's train/eval mode is restored."""
    x = as_array(windows, "windows", ndim=3).astype(np.float32)
    batch_size = check_positive_int(batch_size, "batch_size")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [
            model(torch.from_numpy(x[i : i + batch_size]).to(device)).float().cpu().numpy()
            for i in range(0, x.shape[0], batch_size)
        ]
    finally:
        model.train(was_training)
    return np.concatenate(out).astype(np.float32)


def denoise_signals(
    model: nn.Module, inputs: np.ndarray, *, hop: int = HOP, stitch: str = "average"
) -> np.ndarray:
    """Denoise 30 Hz input signals (T', C) into one waveform (T',) float64 at 30 Hz.

    Windows of ``model.window`` samples every ``hop``. stitch ``"average"``: the tail is covered
    by a zero-padded last window and every sample is the mean of the windows covering it;
    ``"release"``: the release's windows (tail dropped) and overwrite stitching, with zeros
    after the second-to-last window (see ``windows.stitch_windows``).
    """
    check_choice(stitch, "stitch", STITCH_MODES)
    x = as_array(inputs, "inputs", ndim=2)
    window = int(getattr(model, "window", WINDOW))
    hop = check_positive_int(hop, "hop")
    if hop > window:
        raise ValueError(f"hop = {hop} exceeds the window of {window}: samples would be skipped")
    tail = "pad" if stitch == "average" else "drop"
    xw, _ = denoiser_windows(x, window=window, hop=hop, tail=tail)
    out = denoise_windows(model, xw)
    return stitch_windows(out, hop, length=x.shape[0], mode=stitch)


def denoise(
    model: nn.Module,
    estimates: CorruptionEstimates,
    *,
    channels: str | None = None,
    hop: int = HOP,
    stitch: str = "average",
) -> np.ndarray:
    """The denoised pulse of one clip: (T,) float64 at the clip's frame times, dimensionless
    (the target's max|.| scale).

    channels: None = from the model's input size (4: "rgb+pulse", 1: "pulse"). The inputs are
    built by :func:`denoiser_inputs` (30 Hz), denoised by :func:`denoise_signals` and resampled
    back to the ``estimates.fs`` frame times.
    """
    channels = channels_of(model, channels)
    clip = prepare_clip(estimates, channels=channels, window=int(getattr(model, "window", WINDOW)))
    return denoise_clip(model, clip, hop, stitch)


def denoise_clip(model: nn.Module, clip: DenoiserClip, hop: int, stitch: str) -> np.ndarray:
    """:func:`denoise_signals` of a prepared clip, back at its frame times: (n_frames,)."""
    y = denoise_signals(model, clip.inputs, hop=hop, stitch=stitch)
    return to_frame_rate(y, clip.source_fs, clip.n_frames)

"""Loader for the TS-CAN weights shipped in the ``open-rppg`` wheel (Keras 3 ``.weights.h5``).

open-rppg (PyPI ``open-rppg``, package ``rppg``) ships ``rppg/weights/TSCAN.pure.weights.h5``
(trained on PURE) and ``TSCAN.rlap.weights.h5`` (trained on RLAP): float16 arrays of a TS-CAN at
36x36 trained under a mixed-float16 policy; we compute in float32. Its TS-CAN is a variant
(notebook 02_train_tscan) that the loaded :class:`TSCAN` and :func:`open_rppg_inputs` reproduce:

* clips of 160 frames; the temporal shift works on segments of 20 frames and repeats the border
  frame at segment edges (``TSCAN(frame_depth=20, tsm_edge="replicate")``);
* motion input: the plain difference of frames in [0, 1], standardised per frame and channel over
  the image (population std, plus 1e-6), the last difference repeated;
* appearance input: the clip's mean frame, for every frame of the clip, not normalised.

The file is not part of this repository; get it with ``pip download --no-deps open-rppg==0.1.1
-d data/weights`` and pass the wheel (or the extracted ``.h5``) to :func:`load_open_rppg_tscan`.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from rppg_lib.models.tscan import TSCAN, spatial_sizes
from rppg_lib.validation import check_choice, check_positive_int
from rppg_lib.weights.common import assign_parameters
from rppg_lib.weights.keras_h5 import conv_kernel_to_torch, dense_kernel_to_torch, open_h5

__all__ = [
    "load_open_rppg_tscan",
    "open_rppg_inputs",
    "OpenRppgFrames",
    "OPEN_RPPG_TSCAN_LAYERS",
    "OPEN_RPPG_FRAME_DEPTH",
    "OPEN_RPPG_CLIP_LENGTH",
    "open_wheel_h5",
]

OPEN_RPPG_FRAME_DEPTH = 20
OPEN_RPPG_CLIP_LENGTH = 160
OPEN_RPPG_IMG_SIZE = 36
_VARIANTS = ("pure", "rlap")

# our attribute -> group of the Keras 3 weights file (vars/0 kernel, vars/1 bias); d1/d2 are the
# motion blocks, g1/g2 the appearance blocks, attn1/attn2 the gates, d the head
OPEN_RPPG_TSCAN_LAYERS = {
    "motion_conv1": "inner/d1/layers/conv2d",
    "motion_conv2": "inner/d1/layers/conv2d_1",
    "motion_conv3": "inner/d2/layers/conv2d",
    "motion_conv4": "inner/d2/layers/conv2d_1",
    "appearance_conv1": "inner/g1/layers/conv2d",
    "appearance_conv2": "inner/g1/layers/conv2d_1",
    "appearance_conv3": "inner/g2/layers/conv2d",
    "appearance_conv4": "inner/g2/layers/conv2d_1",
    "attention_conv1": "inner/attn1/layers/conv2d",
    "attention_conv2": "inner/attn2/layers/conv2d",
    "dense1": "inner/d/layers/dense",
    "dense2": "inner/d/layers/dense_1",
}


def open_wheel_h5(path: Path, member_name: str, what: str) -> h5py.File:
    """Open ``rppg/weights/<member_name>`` of an open-rppg wheel, or ``path`` itself when it is not
    a ``.whl``; FileNotFoundError / ValueError naming the file otherwise. ``what`` names the
    weights in the message (``"open-rppg TS-CAN weights file"``)."""
    if path.suffix == ".whl":
        if not path.is_file():
            raise FileNotFoundError(f"open-rppg wheel not found: {path}")
        member = f"rppg/weights/{member_name}"
        try:
            with zipfile.ZipFile(path) as wheel:
                if member not in wheel.namelist():
                    raise ValueError(f"{path} has no {member}: not an open-rppg wheel")
                data = wheel.read(member)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
            raise ValueError(
                f"{path} is not a readable wheel (zip archive): {err}; download it again with "
                "pip download --no-deps open-rppg==0.1.1"
            ) from None
        try:
            return open_h5(io.BytesIO(data))
        except OSError as err:
            raise ValueError(f"{path}: {member} is not a readable HDF5 file: {err}") from None
    return open_h5(path, what)


def load_open_rppg_tscan(path: str | os.PathLike, variant: str = "pure") -> TSCAN:
    """open-rppg's TS-CAN as a :class:`TSCAN` (36x36, frame_depth 20, replicate edges), eval mode.

    ``path`` is a ``TSCAN.<variant>.weights.h5`` file or the ``open_rppg-*.whl`` wheel; for a
    wheel, ``variant`` picks ``"pure"`` or ``"rlap"`` (it is not used for an ``.h5`` path). The
    model's output per frame is the pulse derivative; open-rppg then takes the cumulative sum,
    standardises it and differences it again. Feed it :func:`open_rppg_inputs`.
    """
    variant = check_choice(variant, "variant", _VARIANTS)
    p = Path(path)
    source = f"{p}[{variant}]" if p.suffix == ".whl" else str(p)
    model = TSCAN(
        frame_depth=OPEN_RPPG_FRAME_DEPTH, img_size=OPEN_RPPG_IMG_SIZE, tsm_edge="replicate"
    )
    arrays = {}
    with open_wheel_h5(p, f"TSCAN.{variant}.weights.h5", "open-rppg TS-CAN weights file") as f:
        for ours, group in OPEN_RPPG_TSCAN_LAYERS.items():
            kernel_path, bias_path = f"{group}/vars/0", f"{group}/vars/1"
            if kernel_path not in f or bias_path not in f:
                raise ValueError(f"{source}: no {kernel_path} / {bias_path}: not open-rppg TS-CAN")
            # float16 on disk; the arithmetic is done in float32
            kernel = np.asarray(f[kernel_path], dtype=np.float32)
            bias = np.asarray(f[bias_path], dtype=np.float32)
            if ours == "dense1":  # Keras flattened the (7, 7, 64) channels-last map
                side = spatial_sizes(OPEN_RPPG_IMG_SIZE)[3]
                kernel = dense_kernel_to_torch(kernel, flatten_hwc=(side, side, 64))
            elif ours == "dense2":
                kernel = dense_kernel_to_torch(kernel)
            elif kernel.ndim == 4:
                kernel = conv_kernel_to_torch(kernel)
            else:
                raise ValueError(f"{source}: {kernel_path} has shape {kernel.shape}, not a conv")
            arrays[f"{ours}.weight"] = (group, kernel)
            arrays[f"{ours}.bias"] = (group, bias)
    assign_parameters(model, arrays, source)
    return model.eval()


def open_rppg_inputs(
    frames: np.ndarray, clip_length: int = OPEN_RPPG_CLIP_LENGTH, eps: float = 1e-6
) -> np.ndarray:
    """The open-rppg TS-CAN input ``(T, 6, S, S)`` float32 for face crops ``(T, S, S, 3)``.

    ``frames``: RGB, uint8 (divided by 255) or float in [0, 1]; T a multiple of ``clip_length``
    (160 frames, 5.3 s at 30 fps), each clip processed on its own as open-rppg does. Channels 0-2:
    ``x[t+1] - x[t]`` standardised over the image per frame and channel, ``(d - mean) / (std +
    eps)``, the clip's last difference repeated; channels 3-5: the clip's mean frame.
    """
    clip_length = check_positive_int(clip_length, "clip_length")
    if clip_length < 2 or clip_length % OPEN_RPPG_FRAME_DEPTH != 0:
        raise ValueError(
            f"clip_length must be a multiple of the TSM segment {OPEN_RPPG_FRAME_DEPTH}, "
            f"got {clip_length}"
        )
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"frames must have shape (T, S, S, 3), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[0] % clip_length != 0:
        raise ValueError(
            f"frames: T = {arr.shape[0]} must be a positive multiple of clip_length = {clip_length}"
        )
    x = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("frames contain NaN or infinite values")
    clips = x.reshape(-1, clip_length, *x.shape[1:])  # (clips, L, S, S, 3)
    diff = clips[:, 1:] - clips[:, :-1]
    mean = diff.mean(axis=(2, 3), keepdims=True)
    std = diff.std(axis=(2, 3), keepdims=True)
    diff = (diff - mean) / (std + eps)
    motion = np.concatenate([diff, diff[:, -1:]], axis=1)
    appearance = np.broadcast_to(clips.mean(axis=1, keepdims=True), clips.shape)
    both = np.concatenate([motion, appearance], axis=-1).reshape(-1, *x.shape[1:3], 6)
    return np.ascontiguousarray(both.transpose(0, 3, 1, 2), dtype=np.float32)


class OpenRppgFrames:
    """Lazy open-rppg TS-CAN input of face crops ``(T, S, S, 3)`` (any T): ``frames[a:b]`` is
    ``(b-a, 6, S, S)`` float32, :func:`open_rppg_inputs` of the clips that hold frames a to b-1.

    The last clip is completed by repeating the last crop; the inputs of those copies are never
    returned. Memory holds the clips of one slice, whatever T (``crops`` may be memory-mapped).
    """

    def __init__(self, crops: Any, clip_length: int = OPEN_RPPG_CLIP_LENGTH) -> None:
        shape = np.shape(crops)
        if len(shape) != 4 or shape[-1] != 3 or shape[1] != shape[2] or shape[0] == 0:
            raise ValueError(f"crops must have shape (T, S, S, 3) with T > 0, got {shape}")
        self.crops = crops
        self.clip_length = check_positive_int(clip_length, "clip_length")

    def __len__(self) -> int:
        return len(self.crops)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        n, side = len(self.crops), np.shape(self.crops)[1]
        return (n, 6, side, side)

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice):
            raise TypeError(f"OpenRppgFrames takes a slice, got {type(index).__name__}")
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise ValueError(f"OpenRppgFrames takes a slice with step 1, got step {step}")
        if stop <= start:
            return np.empty((0, *self.shape[1:]), dtype=np.float32)
        length = self.clip_length
        first, end = start // length * length, -(-stop // length) * length
        crops = np.asarray(self.crops[first:end], dtype=np.float32)
        if len(crops) < end - first:
            extra = np.repeat(crops[-1:], end - first - len(crops), axis=0)
            crops = np.concatenate([crops, extra])
        return open_rppg_inputs(crops, length)[start - first : stop - first]

"""Loaders for open-rppg's released PhysNet, EfficientPhys and FacePhys, and their inputs.

The ``open-rppg`` wheel (0.1.1) ships each model trained on PURE and on RLAP (FacePhys on RLAP
only) as Keras 3 ``.weights.h5`` files: float16 arrays (FacePhys' convs float32) read here with
h5py, never unpickled, and computed in float32. Each loader takes the ``.h5`` file or the wheel
(``variant`` then picks the file) and returns the PyTorch port in eval mode; a file of another
architecture gives a ValueError naming the file and the missing array.

How open-rppg feeds them (its ``Model``): each frame's face box (BlazeFace, detected every 5th
frame, Kalman-smoothed, not enlarged) resized with OpenCV ``INTER_AREA`` to the model's side,
uint8 RGB divided by 255, at 30 frames per second; clip models get non-overlapping clips, the last
one completed by repeating the last crop (whose outputs are dropped). The functions
``*_inputs`` reproduce this from the face crops (any size; resized here).

========================  =======  ======  ============  ====================================
model                     side     clip    fps           output per frame
========================  =======  ======  ============  ====================================
PhysNet                   32x32    128     30            pulse, standardised per clip
EfficientPhys             72x72    160     30            pulse derivative (cumsum for pulse)
FacePhys                  36x36    1       30 (dt 1/30)  pulse, streaming (state carried)
========================  =======  ======  ============  ====================================
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import h5py
import numpy as np

from rppg_lib.models.efficientphys import EfficientPhys
from rppg_lib.models.facephys import FacePhys
from rppg_lib.models.physnet import PhysNet
from rppg_lib.models.tscan import spatial_sizes
from rppg_lib.validation import check_choice, check_positive_int
from rppg_lib.weights.common import assign_parameters
from rppg_lib.weights.keras_h5 import conv_kernel_to_torch, dense_kernel_to_torch
from rppg_lib.weights.open_rppg import open_wheel_h5

__all__ = [
    "load_open_rppg_physnet",
    "load_open_rppg_efficientphys",
    "load_open_rppg_facephys",
    "facephys_inputs",
    "physnet_inputs",
    "efficientphys_inputs",
    "face_clips",
    "PHYSNET_SIDE",
    "PHYSNET_CLIP_LENGTH",
    "EFFICIENTPHYS_SIDE",
    "EFFICIENTPHYS_CLIP_LENGTH",
    "FACEPHYS_SIDE",
    "OPEN_RPPG_FPS",
]

OPEN_RPPG_FPS = 30.0  # open-rppg resamples every video to 30 frames per second
PHYSNET_SIDE, PHYSNET_CLIP_LENGTH = 32, 128
EFFICIENTPHYS_SIDE, EFFICIENTPHYS_CLIP_LENGTH = 72, 160
FACEPHYS_SIDE = 36
_VARIANTS = ("pure", "rlap")


class KerasVars:
    """The ``<group>/vars/<i>`` arrays of an open Keras 3 weights file, as float32."""

    def __init__(self, f: h5py.File, source: str, what: str) -> None:
        self.f, self.source, self.what = f, source, what

    def __call__(self, group: str, index: int) -> np.ndarray:
        path = f"{group}/vars/{index}"
        if path not in self.f or not isinstance(self.f[path], h5py.Dataset):
            raise ValueError(f"{self.source}: no {path}: not open-rppg {self.what} weights")
        return np.asarray(self.f[path], dtype=np.float32)

    def conv(self, ours: str, group: str, bias: bool = True) -> dict[str, tuple[str, np.ndarray]]:
        """A Keras conv (any dimension, or a transposed conv) as ``ours.weight`` / ``ours.bias``."""
        kernel = self(group, 0)
        if kernel.ndim < 3:
            raise ValueError(f"{self.source}: {group} has shape {kernel.shape}, not a conv kernel")
        out = {f"{ours}.weight": (group, conv_kernel_to_torch(kernel))}
        if bias:
            out[f"{ours}.bias"] = (group, self(group, 1))
        return out

    def dense(
        self,
        ours: str,
        group: str,
        bias: bool = True,
        flatten_hwc: tuple[int, int, int] | None = None,
    ) -> dict[str, tuple[str, np.ndarray]]:
        kernel = self(group, 0)
        if kernel.ndim != 2:
            raise ValueError(f"{self.source}: {group} has shape {kernel.shape}, not a dense kernel")
        out = {f"{ours}.weight": (group, dense_kernel_to_torch(kernel, flatten_hwc))}
        if bias:
            out[f"{ours}.bias"] = (group, self(group, 1))
        return out

    def batch_norm(self, ours: str, group: str) -> dict[str, tuple[str, np.ndarray]]:
        """Keras BatchNormalization: gamma, beta, moving mean, moving variance."""
        names = ("weight", "bias", "running_mean", "running_var")
        return {f"{ours}.{name}": (group, self(group, i)) for i, name in enumerate(names)}


def _source(path: Path, variant: str) -> str:
    return f"{path}[{variant}]" if path.suffix == ".whl" else str(path)


def load_open_rppg_physnet(path: str | os.PathLike, variant: str = "pure") -> PhysNet:
    """open-rppg's PhysNet (``physnet.<variant>.weights.h5``, or the wheel) as :class:`PhysNet`.

    Feed it :func:`physnet_inputs`: ``(clips, 3, 128, 32, 32)`` -> ``(clips, 128)``.
    """
    variant = check_choice(variant, "variant", _VARIANTS)
    p = Path(path)
    source = _source(p, variant)
    model = PhysNet()
    arrays: dict[str, tuple[str, np.ndarray]] = {}
    with open_wheel_h5(p, f"physnet.{variant}.weights.h5", "open-rppg PhysNet weights file") as f:
        read = KerasVars(f, source, "PhysNet")
        for i in range(9):
            block = f"ConvBlock{i + 1}/layers"
            arrays.update(read.conv(f"blocks.{i}.0", f"{block}/conv3d"))
            arrays.update(read.batch_norm(f"blocks.{i}.1", f"{block}/batch_normalization"))
        # the two upsampling blocks were saved under Keras' automatic Sequential names
        for ours, group in (("upsample1", "sequential_9"), ("upsample2", "sequential_10")):
            arrays.update(read.conv(f"{ours}.0", f"layers/{group}/layers/conv3d_transpose"))
            arrays.update(
                read.batch_norm(f"{ours}.1", f"layers/{group}/layers/batch_normalization")
            )
        arrays.update(read.conv("head", "convBlock10"))
    assign_parameters(model, arrays, source, buffers=True)
    return model.eval()


def load_open_rppg_efficientphys(path: str | os.PathLike, variant: str = "pure") -> EfficientPhys:
    """open-rppg's EfficientPhys (``EfficientPhys.<variant>.weights.h5``, or the wheel) as
    :class:`EfficientPhys` at 72x72.

    Feed it :func:`efficientphys_inputs`: ``(clips, 160, 3, 72, 72)`` -> ``(clips, 160)``, the
    pulse derivative (open-rppg takes its cumulative sum, standardises and differences it per
    clip, then integrates and detrends the whole signal).
    """
    variant = check_choice(variant, "variant", _VARIANTS)
    p = Path(path)
    source = _source(p, variant)
    side = EFFICIENTPHYS_SIDE
    model = EfficientPhys(img_size=side)
    flat = (spatial_sizes(side)[3], spatial_sizes(side)[3], 64)
    member = f"EfficientPhys.{variant}.weights.h5"
    with open_wheel_h5(p, member, "open-rppg EfficientPhys weights file") as f:
        read = KerasVars(f, source, "EfficientPhys")
        arrays = read.batch_norm("pixel_norm", "bn")
        # the four motion convs were saved under Keras' automatic names, in creation order
        for i, group in enumerate(("conv2d", "conv2d_1", "conv2d_2", "conv2d_3")):
            arrays.update(read.conv(f"conv{i + 1}", f"layers/{group}"))
        arrays.update(read.conv("attention_conv1", "attc1"))
        arrays.update(read.conv("attention_conv2", "attc2"))
        arrays.update(read.dense("dense1", "dense1", flatten_hwc=flat))
        arrays.update(read.dense("dense2", "dense2"))
    assign_parameters(model, arrays, source, buffers=True)
    return model.eval()


def face_clips(frames: np.ndarray, side: int, clip_length: int = 1) -> np.ndarray:
    """Face crops ``(T, H, W, 3)`` RGB as open-rppg feeds them: ``(clips, clip_length, side, side,
    3)`` float32 in [0, 1].

    Each crop is resized to ``side`` x ``side`` with OpenCV ``INTER_AREA`` (uint8 crops as uint8,
    as open-rppg does, then divided by 255; float crops must already lie in [0, 1]). T need not be
    a multiple of ``clip_length``: the last clip is completed by repeating the last crop, and a
    caller keeps the first T outputs.
    """
    side = check_positive_int(side, "side")
    clip_length = check_positive_int(clip_length, "clip_length")
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
        raise ValueError(f"frames must have shape (T, H, W, 3) with T > 0, got {arr.shape}")
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
        if not np.all(np.isfinite(arr)):
            raise ValueError("frames contain NaN or infinite values")
    if arr.shape[1:3] != (side, side):
        arr = np.stack([cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in arr])
    x = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr
    missing = -len(x) % clip_length
    if missing:
        x = np.concatenate([x, np.repeat(x[-1:], missing, axis=0)])
    return x.reshape(-1, clip_length, side, side, 3)


def physnet_inputs(frames: np.ndarray, clip_length: int = PHYSNET_CLIP_LENGTH) -> np.ndarray:
    """PhysNet's input ``(clips, 3, L, 32, 32)`` float32 for face crops ``(T, H, W, 3)``.

    L = 128 frames (4.3 s at 30 fps), a multiple of 4; crops resized to 32x32, in [0, 1]
    (:func:`face_clips`). The network standardises each clip per colour channel itself.
    """
    if check_positive_int(clip_length, "clip_length") % 4:
        raise ValueError(f"clip_length must be a multiple of 4 for PhysNet, got {clip_length}")
    clips = face_clips(frames, PHYSNET_SIDE, clip_length)
    return np.ascontiguousarray(clips.transpose(0, 4, 1, 2, 3))


def efficientphys_inputs(
    frames: np.ndarray, clip_length: int = EFFICIENTPHYS_CLIP_LENGTH
) -> np.ndarray:
    """EfficientPhys' input ``(clips, L, 3, 72, 72)`` float32 for face crops ``(T, H, W, 3)``.

    L = 160 frames (5.3 s at 30 fps), a multiple of 8 (the temporal-shift segment); crops resized
    to 72x72, in [0, 1] (:func:`face_clips`). Frame differences and their per-pixel batch norm
    are the network's first layers.
    """
    if check_positive_int(clip_length, "clip_length") % 8:
        raise ValueError(
            f"clip_length must be a multiple of 8 for EfficientPhys, got {clip_length}"
        )
    clips = face_clips(frames, EFFICIENTPHYS_SIDE, clip_length)
    return np.ascontiguousarray(clips.transpose(0, 1, 4, 2, 3))


def _facephys_ssm(read: KerasVars, ours: str, group: str) -> dict[str, tuple[str, np.ndarray]]:
    """One SSMrPPG layer: its dense, depthwise-conv and norm arrays and its five own variables."""
    arrays = read.dense(f"{ours}.in_proj", f"{group}/in_proj", bias=False)
    arrays.update(read.dense(f"{ours}.out_proj", f"{group}/out_proj", bias=False))
    kernel = read(f"{group}/conv1d", 0)  # DepthwiseConv2D (1, frames, channels, 1)
    if kernel.ndim != 4:
        raise ValueError(f"{read.source}: {group}/conv1d has shape {kernel.shape}, not depthwise")
    arrays[f"{ours}.conv_weight"] = (f"{group}/conv1d", kernel[0, :, :, 0])
    arrays[f"{ours}.conv_bias"] = (f"{group}/conv1d", read(f"{group}/conv1d", 1))
    arrays[f"{ours}.norm_weight"] = (f"{group}/norm", read(f"{group}/norm", 0))
    own = ("A_log", "dt_bias", "D", "init_conv", "init_ssm")
    for i, name in enumerate(own):
        array = read(group, i)
        if name in ("init_conv", "init_ssm"):  # drop the leading batch axes of the file
            array = array.reshape(array.shape[1:] if name == "init_conv" else array.shape[2:])
        arrays[f"{ours}.{name}"] = (group, array)
    return arrays


def _dense_as_1x1(read: KerasVars, ours: str, group: str, bias: bool) -> dict:
    arrays = read.dense(ours, group, bias=bias)
    origin, kernel = arrays[f"{ours}.weight"]
    arrays[f"{ours}.weight"] = (origin, kernel[:, :, None, None])
    return arrays


def load_open_rppg_facephys(path: str | os.PathLike, variant: str = "rlap") -> FacePhys:
    """open-rppg's FacePhys (``FacePhys.rlap.weights.h5``, or the wheel; RLAP is the only
    release) as :class:`FacePhys` at 36x36.

    Feed it :func:`facephys_inputs`: ``(1, T, 3, 36, 36)`` -> ``(1, T)`` pulse, frame by frame.
    """
    variant = check_choice(variant, "variant", ("rlap",))
    p = Path(path)
    source = _source(p, variant)
    model = FacePhys(side=FACEPHYS_SIDE)
    with open_wheel_h5(p, f"FacePhys.{variant}.weights.h5", "open-rppg FacePhys weights file") as f:
        read = KerasVars(f, source, "FacePhys")
        arrays: dict[str, tuple[str, np.ndarray]] = {}
        for i in range(4):
            block = "layers/sequential/layers/ssc_block" + (f"_{i}" if i else "")
            arrays.update(_dense_as_1x1(read, f"blocks.{i}.in_proj", f"{block}/in_proj", False))
            arrays.update(read.conv(f"blocks.{i}.downsample", f"{block}/ds"))
            for j in range(2):
                ours = f"blocks.{i}.layers.{j}"
                layer = f"{block}/ssc/layers/ss_conv" + (f"_{j}" if j else "")
                arrays.update(read.conv(f"{ours}.conv1", f"{layer}/conv1/layers/conv2d"))
                arrays.update(
                    _dense_as_1x1(read, f"{ours}.expand", f"{layer}/conv1/layers/dense", True)
                )
                arrays.update(read.conv(f"{ours}.conv2", f"{layer}/conv2"))
                arrays.update(read.dense(f"{ours}.proj", f"{layer}/proj", bias=False))
                arrays.update(_facephys_ssm(read, f"{ours}.ssm", f"{layer}/ssm"))
                norm = ("half_life_log", "gamma", "beta", "init_mean", "init_var_log")
                for k, name in enumerate(norm):
                    array = read(f"{layer}/tn", k)
                    if k >= 3:  # (1, 1, H, W, C) channels-last -> (1, C, H, W)
                        array = array[:, 0].transpose(0, 3, 1, 2)
                    arrays[f"{ours}.norm.{name}"] = (f"{layer}/tn", array)
        arrays.update(read.dense("out_proj", "layers/sequential_1/layers/dense", bias=False))
        for h, group in enumerate(("ss_mr_ppg", "ss_mr_ppg_1")):
            arrays.update(_facephys_ssm(read, f"head.{h}", f"head/layers/{group}"))
        arrays.update(read.dense("dense", "head/layers/dense"))
    assign_parameters(model, arrays, source)
    return model.eval()


def facephys_inputs(frames: np.ndarray) -> np.ndarray:
    """FacePhys' input ``(1, T, 3, 36, 36)`` float32 for face crops ``(T, H, W, 3)`` of one video.

    Any T: the model reads one frame at a time (at 30 fps, ``dt = 1/30`` s) and carries its state;
    crops resized to 36x36, in [0, 1] (:func:`face_clips`), no other normalisation (the network's
    running normalisation adapts to the video).
    """
    clips = face_clips(frames, FACEPHYS_SIDE)
    return np.ascontiguousarray(clips[:, 0].transpose(0, 3, 1, 2)[None])

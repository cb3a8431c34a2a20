"""open-rppg's released real-data models by name: ``"tscan.pure"``, ``"physnet.rlap"``, ...

Each :class:`ReleasedModel` says which file of the open-rppg wheel holds the weights, how to load
them into the PyTorch port, how to prepare face crops for it and how to run it on one video's
crops, so that a caller needs nothing model-specific::

    spec = released_model("physnet.pure")
    model = spec.load("data/weights/open_rppg-0.1.1-py3-none-any.whl")
    pulse = spec.predict(model, crops)  # crops (T, H, W, 3) uint8 at 30 fps -> (T,)

The wheel's PhysFormer, PhysMamba, RhythmMamba and ME are not listed: this suite has no port of
them proven against the wheel's Keras forward pass (docs/own-video.md, "Models").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rppg_lib.weights import open_rppg_models as ported
from rppg_lib.weights.open_rppg import (
    OPEN_RPPG_CLIP_LENGTH,
    OPEN_RPPG_IMG_SIZE,
    load_open_rppg_tscan,
    open_rppg_inputs,
)

__all__ = ["ReleasedModel", "RELEASED_MODELS", "released_model"]


@dataclass(frozen=True)
class ReleasedModel:
    """One released model of the open-rppg wheel and how to use it.

    ``load(path)``: the ``.weights.h5`` file or the wheel -> the PyTorch module (eval mode).
    ``prepare(crops)``: face crops ``(T, H, W, 3)`` RGB (uint8, or float in [0, 1]) at ``fps``
    -> the model's input array (resized to ``side``, cut into ``clip_length`` frames).
    ``output``: ``"pulse"`` or ``"derivative"`` (integrate it for the pulse, as open-rppg does).
    """

    name: str
    weights_file: str
    side: int
    clip_length: int | None  # None: a streaming model, one frame at a time
    output: str
    load_weights: Callable[[str | os.PathLike, str], nn.Module]
    prepare: Callable[[np.ndarray], np.ndarray]
    fps: float = ported.OPEN_RPPG_FPS

    @property
    def variant(self) -> str:
        return self.name.split(".")[1]

    def load(self, path: str | os.PathLike) -> nn.Module:
        """The PyTorch port with the weights of ``path`` (the wheel, or this model's ``.h5``)."""
        return self.load_weights(path, self.variant)

    def predict(
        self, model: nn.Module, crops: np.ndarray, device: str | torch.device = "cpu"
    ) -> np.ndarray:
        """The model's output ``(T,)`` float32 for one video's face crops ``(T, H, W, 3)``, run
        on ``device`` (the model is moved there)."""
        x = torch.from_numpy(self.prepare(crops)).to(device)
        with torch.inference_mode():
            out: Any = model.to(device)(x)
        if isinstance(out, tuple):  # a streaming model also returns its state
            out = out[0]
        return out.reshape(-1).float().cpu().numpy()[: len(crops)]


def _tscan_prepare(crops: np.ndarray) -> np.ndarray:
    """open-rppg TS-CAN input: crops resized to 36x36 (INTER_AREA), clips of 160 (last padded)."""
    clips = ported.face_clips(crops, OPEN_RPPG_IMG_SIZE, OPEN_RPPG_CLIP_LENGTH)
    return open_rppg_inputs(clips.reshape(-1, *clips.shape[2:]), OPEN_RPPG_CLIP_LENGTH)


def _entries() -> dict[str, ReleasedModel]:
    # (name, weights file, side, clip length, output, loader, input preparation)
    rows = [
        (
            "facephys.rlap",
            "FacePhys.rlap.weights.h5",
            ported.FACEPHYS_SIDE,
            None,
            "pulse",
            ported.load_open_rppg_facephys,
            ported.facephys_inputs,
        )
    ]
    for v in ("pure", "rlap"):
        rows += [
            (f"tscan.{v}", f"TSCAN.{v}.weights.h5", OPEN_RPPG_IMG_SIZE, OPEN_RPPG_CLIP_LENGTH,
             "derivative", load_open_rppg_tscan, _tscan_prepare),
            (f"physnet.{v}", f"physnet.{v}.weights.h5", ported.PHYSNET_SIDE,
             ported.PHYSNET_CLIP_LENGTH, "pulse", ported.load_open_rppg_physnet,
             ported.physnet_inputs),
            (f"efficientphys.{v}", f"EfficientPhys.{v}.weights.h5", ported.EFFICIENTPHYS_SIDE,
             ported.EFFICIENTPHYS_CLIP_LENGTH, "derivative", ported.load_open_rppg_efficientphys,
             ported.efficientphys_inputs),
        ]  # fmt: skip
    return {row[0]: ReleasedModel(*row) for row in rows}


RELEASED_MODELS: dict[str, ReleasedModel] = _entries()


def released_model(name: str) -> ReleasedModel:
    """The :class:`ReleasedModel` called ``name`` (case-insensitive, e.g. ``"PhysNet.PURE"``)."""
    key = str(name).lower()
    if key not in RELEASED_MODELS:
        raise ValueError(f"model must be one of {sorted(RELEASED_MODELS)}, got {name!r}")
    return RELEASED_MODELS[key]

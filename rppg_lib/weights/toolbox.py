"""Loader for rPPG-Toolbox TS-CAN checkpoints (``.pth``).

rPPG-Toolbox saves ``model.state_dict()`` of a ``torch.nn.DataParallel`` wrapper, so every key
starts with ``module.``; its layer names differ from ours (``apperance_conv1``, spelled so in the
toolbox, ``apperance_att_conv1``, ``final_dense_1``). Its released TS-CAN models take 72x72
inputs and use segments of 10 frames; like ours, channels 0-2 of the input are the normalised
difference and 3-5 the normalised frame, and tensors are channels-first, so the arrays are copied
as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from rppg_lib.constants import FRAME_DEPTH
from rppg_lib.models.tscan import TSCAN, spatial_sizes
from rppg_lib.weights.common import assign_parameters

__all__ = ["load_toolbox_tscan", "TOOLBOX_TSCAN_NAMES", "TOOLBOX_IMG_SIZES"]

# our attribute -> rPPG-Toolbox attribute (TS_CAN.py)
TOOLBOX_TSCAN_NAMES = {
    **{f"motion_conv{i}": f"motion_conv{i}" for i in range(1, 5)},
    **{f"appearance_conv{i}": f"apperance_conv{i}" for i in range(1, 5)},
    "attention_conv1": "apperance_att_conv1",
    "attention_conv2": "apperance_att_conv2",
    "dense1": "final_dense_1",
    "dense2": "final_dense_2",
}


# the input sizes rPPG-Toolbox's TS_CAN.py supports
TOOLBOX_IMG_SIZES = (36, 72, 96, 128)


def _flatten_width(img_size: int) -> int:
    return 64 * spatial_sizes(img_size)[3] ** 2


def load_toolbox_tscan(
    path: str | os.PathLike, frame_depth: int = FRAME_DEPTH, img_size: int | None = None
) -> TSCAN:
    """An rPPG-Toolbox TS-CAN ``.pth`` state dict as a :class:`TSCAN` (zero-padded TSM).

    ``img_size`` None: read from the width of the first dense layer, among the toolbox's sizes
    (16384 inputs: 72x72, the released models; 3136: 36; 30976: 96; 57600: 128). ``frame_depth``
    is the TSM segment length the checkpoint was trained with (10 in the toolbox's configs).
    Raises ValueError naming the key and both shapes when a tensor does not fit, and listing
    missing or unknown keys. Returns the model in eval mode.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"rPPG-Toolbox checkpoint not found: {p}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a file that is not a checkpoint
        raise ValueError(f"{p} is not a readable PyTorch checkpoint: {err}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{p} does not hold a state dict of tensors (got {type(state).__name__})")
    # DataParallel prefixes every key with "module."; checkpoints saved without it load as well
    original = {k.removeprefix("module."): k for k in state}
    state = {k.removeprefix("module."): v for k, v in state.items()}

    dense_key = "final_dense_1.weight"
    if dense_key not in state:
        raise ValueError(
            f"{p}: no {dense_key!r}: not an rPPG-Toolbox TS-CAN (keys {sorted(state)})"
        )
    width = state[dense_key].shape[1]
    if img_size is None:
        by_width = {_flatten_width(s): s for s in TOOLBOX_IMG_SIZES}
        if width not in by_width:
            raise ValueError(
                f"{p}: {dense_key} has {width} inputs, which none of the toolbox's input sizes "
                f"{TOOLBOX_IMG_SIZES} gives; pass img_size"
            )
        img_size = by_width[width]
    dense_units = state[dense_key].shape[0]
    model = TSCAN(frame_depth=frame_depth, img_size=img_size, dense_units=dense_units)

    arrays = {}
    used = set()
    for ours, theirs in TOOLBOX_TSCAN_NAMES.items():
        for kind in ("weight", "bias"):
            key = f"{theirs}.{kind}"
            if key in state:
                arrays[f"{ours}.{kind}"] = (original[key], state[key].float().numpy())
                used.add(key)
    unknown = sorted(set(state) - used)
    if unknown:
        raise ValueError(
            f"{p}: keys that are not part of TS-CAN: {[original[k] for k in unknown]}"
        )
    assign_parameters(model, arrays, str(p))
    return model.eval()

"""Copying named arrays into a model's parameters, with shape checks that name the layer."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

__all__ = ["assign_parameters"]


def assign_parameters(
    model: nn.Module,
    arrays: Mapping[str, tuple[str, np.ndarray]],
    source: str,
    buffers: bool = False,
) -> nn.Module:
    """Fill every parameter of ``model`` from ``arrays`` and return the model.

    ``arrays`` maps a parameter name of ``model`` (``"motion_conv1.weight"``) to ``(origin,
    array)``, ``origin`` naming where the array came from in ``source`` (a layer or key of the
    checkpoint file), already converted to PyTorch's layout. Raises ValueError naming ``source``,
    the origin and both shapes when a shape differs, when an array holds NaN/inf, or when a
    parameter has no array (or an array has no parameter); the model is left untouched then.
    With ``buffers``, the floating-point buffers (a batch norm's running mean and variance) are
    filled too, as parameters are.
    """
    params = dict(model.named_parameters())
    if buffers:
        params.update((name, b) for name, b in model.named_buffers() if torch.is_floating_point(b))
    missing = sorted(set(params) - set(arrays))
    unexpected = sorted(set(arrays) - set(params))
    if missing or unexpected:
        raise ValueError(
            f"{source}: the checkpoint does not fit {type(model).__name__}: "
            f"no weights for {missing}; no parameter for {unexpected}"
        )
    converted: dict[str, torch.Tensor] = {}
    for name, (origin, array) in arrays.items():
        array = np.asarray(array)
        expected = tuple(params[name].shape)
        if array.shape != expected:
            raise ValueError(
                f"{source}: layer {origin!r} has shape {array.shape} (as {name!r} in PyTorch "
                f"layout), but {type(model).__name__}.{name} expects {expected}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{source}: layer {origin!r} contains NaN or infinite weights")
        converted[name] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    with torch.no_grad():
        for name, tensor in converted.items():
            params[name].copy_(tensor)
    return model

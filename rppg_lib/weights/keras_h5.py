"""Reading Keras ``.h5`` files with h5py, and converting Keras layouts to PyTorch's.

The released Keras models are never deserialised with Keras (the Benefit-of-Distraction CAN holds
a Lambda layer compiled to Python 2 bytecode): the graph is read from the ``model_config`` JSON
attribute and the arrays from ``model_weights/<layer>/``, in the order of each layer's
``weight_names`` attribute.

Layouts: a Keras ``Conv2D`` kernel is (kh, kw, in, out) on channels-last tensors, PyTorch's is
(out, in, kh, kw); a Keras ``Dense`` kernel is (in, out), PyTorch's (out, in); a Keras ``LSTM``
has ``kernel`` (in, 4h), ``recurrent_kernel`` (h, 4h) and one ``bias`` (4h,), gates ordered i, f,
c, o, which is PyTorch's i, f, g, o.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

__all__ = [
    "open_h5",
    "read_model_config",
    "keras2_layer_weights",
    "conv_kernel_to_torch",
    "dense_kernel_to_torch",
    "lstm_to_torch",
]


def open_h5(path: str | os.PathLike | io.BytesIO, what: str = "weights file") -> h5py.File:
    """Open an HDF5 file read-only; FileNotFoundError or ValueError naming ``path`` otherwise."""
    if isinstance(path, io.BytesIO):
        return h5py.File(path, "r")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        return h5py.File(p, "r")
    except OSError as err:
        raise ValueError(f"{what} {p} is not a readable HDF5 file: {err}") from None


def read_model_config(f: h5py.File, source: str) -> dict[str, Any]:
    """The Keras 2 ``model_config`` attribute of an h5 model file, parsed from JSON."""
    if "model_config" not in f.attrs:
        raise ValueError(
            f"{source} has no 'model_config' attribute: not a whole Keras 2 model saved with "
            "model.save()"
        )
    raw = f.attrs["model_config"]
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        config = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{source}: its 'model_config' attribute is not JSON: {err}") from None
    if not isinstance(config, dict):
        raise ValueError(
            f"{source}: its 'model_config' attribute is {type(config).__name__}, not a mapping"
        )
    return config


def keras2_layer_weights(f: h5py.File, layer: str, source: str) -> dict[str, np.ndarray]:
    """Arrays of one layer of a Keras 2 h5 model file, as float32.

    Keys are the weight names with the layer prefix and the ``:0`` suffix removed: ``"kernel"``,
    ``"bias"``, ``"recurrent_kernel"``, or ``"forward_lstm_22/kernel"`` inside a Bidirectional.
    """
    path = f"model_weights/{layer}"
    if path not in f:
        raise ValueError(f"{source}: no weights stored for layer {layer!r} (no group {path})")
    group = f[path]
    out: dict[str, np.ndarray] = {}
    for raw in group.attrs.get("weight_names", []):
        full = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        key = full.split("/", 1)[1] if "/" in full else full
        out[key.removesuffix(":0")] = np.asarray(group[full], dtype=np.float32)
    if not out:
        raise ValueError(f"{source}: layer {layer!r} stores no weights")
    return out


def conv_kernel_to_torch(kernel: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, in, out) -> PyTorch (out, in, kh, kw); likewise for 1-D and 3-D kernels
    ((*k, in, out) -> (out, in, *k)). A Keras transposed conv's (*k, out, in) becomes PyTorch's
    (in, out, *k) by the same permutation."""
    nd = kernel.ndim
    return np.transpose(kernel, (nd - 1, nd - 2, *range(nd - 2)))


def dense_kernel_to_torch(
    kernel: np.ndarray, flatten_hwc: tuple[int, int, int] | None = None
) -> np.ndarray:
    """Keras (in, out) -> PyTorch (out, in).

    With ``flatten_hwc = (H, W, C)`` the layer follows a Flatten: Keras flattened a channels-last
    (H, W, C) map, PyTorch flattens (C, H, W), so the input rows are reordered to match.
    """
    if flatten_hwc is not None:
        h, w, c = flatten_hwc
        if kernel.shape[0] != h * w * c:
            raise ValueError(
                f"dense kernel has {kernel.shape[0]} input rows, expected H*W*C = {h}*{w}*{c} = "
                f"{h * w * c} after the flatten"
            )
        out = kernel.shape[1]
        kernel = kernel.reshape(h, w, c, out).transpose(2, 0, 1, 3).reshape(h * w * c, out)
    return np.ascontiguousarray(kernel.T)


def lstm_to_torch(
    kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray
) -> dict[str, np.ndarray]:
    """A Keras LSTM's three arrays as PyTorch's ``weight_ih`` (4h, in), ``weight_hh`` (4h, h),
    ``bias_ih`` (Keras' bias) and ``bias_hh`` (zeros: PyTorch adds the two biases)."""
    return {
        "weight_ih": np.ascontiguousarray(kernel.T),
        "weight_hh": np.ascontiguousarray(recurrent_kernel.T),
        "bias_ih": np.asarray(bias),
        "bias_hh": np.zeros_like(bias),
    }

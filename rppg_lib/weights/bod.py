"""Loaders for the Benefit-of-Distraction release (Keras 2 ``.h5``): the breathing CAN and the
HR / BR LSTM denoisers.

The graph is rebuilt from the ``model_config`` JSON: the loader finds each layer by its role
(which conv feeds the gate, which one is gated), checks every hyper-parameter our PyTorch model
assumes (kernel sizes, paddings, activations, widths, input size) and raises a ValueError naming
the file, the layer and both values where one differs, instead of loading weights into a network
that computes something else.
"""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np

from rppg_lib.models.lstm import RECURRENT_ACTIVATIONS, LSTMDenoiser
from rppg_lib.models.tscan import CAN, spatial_sizes
from rppg_lib.weights.common import assign_parameters
from rppg_lib.weights.keras_h5 import (
    conv_kernel_to_torch,
    dense_kernel_to_torch,
    keras2_layer_weights,
    lstm_to_torch,
    open_h5,
    read_model_config,
)

__all__ = ["load_keras_can", "load_keras_lstm"]


class _Graph:
    """The layers of a Keras 2 functional model config, by name, with their inbound layers."""

    def __init__(self, config: dict[str, Any], source: str) -> None:
        self.source = source
        self.layers: list[dict[str, Any]] = config["config"]["layers"]
        self.by_name = {layer["name"]: layer for layer in self.layers}

    def inbound(self, name: str) -> list[str]:
        nodes = self.by_name[name]["inbound_nodes"]
        return [node[0] for node in nodes[0]] if nodes else []

    def of_class(self, class_name: str) -> list[str]:
        return [layer["name"] for layer in self.layers if layer["class_name"] == class_name]

    def single_inbound(self, name: str, class_name: str) -> str:
        """The one layer of ``class_name`` feeding ``name``."""
        found = [n for n in self.inbound(name) if self.by_name[n]["class_name"] == class_name]
        if len(found) != 1:
            raise ValueError(
                f"{self.source}: layer {name!r} should have one {class_name} input, "
                f"found {found} among {self.inbound(name)}"
            )
        return found[0]

    def expect(self, name: str, **expected: Any) -> None:
        """Check config entries of layer ``name``: ValueError naming both values otherwise."""
        config = self.by_name[name]["config"]
        for key, want in expected.items():
            got = config.get(key)
            if isinstance(want, tuple):
                got = tuple(got) if isinstance(got, list) else got
            if got != want:
                raise ValueError(
                    f"{self.source}: layer {name!r} has {key} = {got!r}, the PyTorch CAN "
                    f"needs {want!r}"
                )


def load_keras_can(path: str | os.PathLike) -> CAN:
    """The Benefit-of-Distraction breathing CAN (``model_BR_CAN.h5``) as a :class:`CAN`.

    Reads the Keras 2 h5 with h5py; the two inputs are found by role (the one whose branch is
    gated is the motion input, which the returned model takes as channels 0-2; the release lists
    it first, ``input_1``). Input size (36), dense width (32) and dropout rates (0.75 in the
    release: inert at inference) are taken from the file. The Lambda after each 1x1 sigmoid conv is
    the attention-mask normalisation (its Python 2 code object is named ``masknorm``), which
    :class:`~rppg_lib.models.AttentionMask` computes. Returns the model in eval mode.
    """
    source = str(path)
    with open_h5(path, "Keras CAN file") as f:
        graph = _Graph(read_model_config(f, source), source)
        roles = _can_roles(graph)
        img_size = _can_input_size(graph)
        dense_units = graph.by_name[roles["dense1"]]["config"]["units"]
        rates = _can_dropout_rates(graph, roles["dense1"])
        model = CAN(img_size=img_size, dense_units=dense_units, **rates)
        _, _, _, pool2 = spatial_sizes(img_size)
        arrays: dict[str, tuple[str, np.ndarray]] = {}
        for role, layer in roles.items():
            w = keras2_layer_weights(f, layer, source)
            if role == "dense1":
                kernel = dense_kernel_to_torch(w["kernel"], flatten_hwc=(pool2, pool2, 64))
            elif role == "dense2":
                kernel = dense_kernel_to_torch(w["kernel"])
            else:
                kernel = conv_kernel_to_torch(w["kernel"])
            arrays[f"{role}.weight"] = (layer, kernel)
            arrays[f"{role}.bias"] = (layer, w["bias"])
    assign_parameters(model, arrays, source)
    return model.eval()


def _can_roles(graph: _Graph) -> dict[str, str]:
    """Map our attribute names (``motion_conv1``, ``attention_conv2``, ``dense1``...) to Keras
    layer names, following the graph from each Multiply (gated motion features x mask)."""
    multiplies = graph.of_class("Multiply")
    if len(multiplies) != 2:
        raise ValueError(f"{graph.source}: expected 2 Multiply (gating) layers, got {multiplies}")
    roles: dict[str, str] = {}
    for k, mul in enumerate(multiplies, start=1):
        motion_valid = graph.single_inbound(mul, "Conv2D")
        norm = graph.single_inbound(mul, "Lambda")
        code = graph.by_name[norm]["config"].get("function", [""])[0]
        if "masknorm" not in str(code):
            raise ValueError(
                f"{graph.source}: Lambda layer {norm!r} is not the attention-mask normalisation "
                "'masknorm' of the release; cannot map this graph"
            )
        gate = graph.single_inbound(norm, "Conv2D")
        appearance_valid = graph.single_inbound(gate, "Conv2D")
        motion_same = graph.single_inbound(motion_valid, "Conv2D")
        appearance_same = graph.single_inbound(appearance_valid, "Conv2D")
        filters = 32 * k
        graph.expect(gate, filters=1, kernel_size=(1, 1), activation="sigmoid")
        for name, padding in (
            (motion_same, "same"),
            (motion_valid, "valid"),
            (appearance_same, "same"),
            (appearance_valid, "valid"),
        ):
            graph.expect(
                name,
                filters=filters,
                kernel_size=(3, 3),
                padding=padding,
                strides=(1, 1),
                activation="tanh",
            )
        roles[f"motion_conv{2 * k - 1}"] = motion_same
        roles[f"motion_conv{2 * k}"] = motion_valid
        roles[f"appearance_conv{2 * k - 1}"] = appearance_same
        roles[f"appearance_conv{2 * k}"] = appearance_valid
        roles[f"attention_conv{k}"] = gate
    for pool in graph.of_class("AveragePooling2D"):
        graph.expect(pool, pool_size=(2, 2), strides=(2, 2), padding="valid")
    dense = graph.of_class("Dense")
    if len(dense) != 2:
        raise ValueError(f"{graph.source}: expected 2 Dense layers, got {dense}")
    graph.expect(dense[0], activation="tanh")
    graph.expect(dense[1], activation="linear", units=1)
    roles["dense1"], roles["dense2"] = dense
    return roles


def _can_input_size(graph: _Graph) -> int:
    sizes = set()
    for name in graph.of_class("InputLayer"):
        shape = graph.by_name[name]["config"]["batch_input_shape"]
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
            raise ValueError(
                f"{graph.source}: input {name!r} has shape {shape}, expected [None, S, S, 3]"
            )
        sizes.add(int(shape[1]))
    if len(sizes) != 1:
        raise ValueError(f"{graph.source}: the two inputs differ in size: {sorted(sizes)}")
    return sizes.pop()


def _can_dropout_rates(graph: _Graph, dense1: str) -> dict[str, float]:
    conv_rates, dense_rates = set(), set()
    for name in graph.of_class("Dropout"):
        rate = float(graph.by_name[name]["config"]["rate"])
        (dense_rates if dense1 in graph.inbound(name) else conv_rates).add(rate)
    if len(conv_rates) > 1 or len(dense_rates) > 1:
        raise ValueError(
            f"{graph.source}: dropout rates differ between layers: conv {sorted(conv_rates)}, "
            f"dense {sorted(dense_rates)}"
        )
    return {
        "dropout_conv": conv_rates.pop() if conv_rates else 0.0,
        "dropout_dense": dense_rates.pop() if dense_rates else 0.0,
    }


def load_keras_lstm(path: str | os.PathLike) -> LSTMDenoiser:
    """A released Keras 2 LSTM denoiser (``model_denoising_HR_LSTM.h5`` or ``..._BR_LSTM.h5``).

    Reads units, window, input width, recurrent activation and whether the decoder is
    bidirectional from the file's ``model_config`` (Sequential: LSTM -> RepeatVector -> LSTM or
    Bidirectional(LSTM) -> TimeDistributed(Dense(1, tanh))). Returns the model in eval mode.
    """
    source = str(path)
    with open_h5(path, "Keras LSTM file") as f:
        config = read_model_config(f, source)
        layers = config["config"]
        layers = layers["layers"] if isinstance(layers, dict) else layers  # Keras >= 2.2.3
        classes = [layer["class_name"] for layer in layers]
        if classes[:2] != ["LSTM", "RepeatVector"] or classes[3:] != ["TimeDistributed"] or (
            classes[2] not in ("LSTM", "Bidirectional")
        ):
            raise ValueError(
                f"{source}: expected LSTM, RepeatVector, LSTM or Bidirectional, TimeDistributed; "
                f"got {classes}"
            )
        encoder, repeat, decoder, head = layers
        bidirectional = decoder["class_name"] == "Bidirectional"
        decoder_lstm = decoder["config"]["layer"] if bidirectional else decoder
        if bidirectional and decoder["config"].get("merge_mode") != "concat":
            raise ValueError(
                f"{source}: layer {_name(decoder)!r} merges directions by "
                f"{decoder['config'].get('merge_mode')!r}, only 'concat' is supported"
            )
        _check_lstm(encoder, source, return_sequences=False)
        _check_lstm(decoder_lstm, source, return_sequences=True)
        units = encoder["config"]["units"]
        activation = encoder["config"]["recurrent_activation"]
        if decoder_lstm["config"]["units"] != units or (
            decoder_lstm["config"]["recurrent_activation"] != activation
        ):
            raise ValueError(
                f"{source}: encoder and decoder LSTMs differ in units or recurrent activation"
            )
        dense = head["config"]["layer"]
        if dense["class_name"] != "Dense" or dense["config"]["units"] != 1 or (
            dense["config"]["activation"] != "tanh"
        ):
            raise ValueError(
                f"{source}: layer {_name(head)!r} is not TimeDistributed(Dense(1, tanh))"
            )
        _, steps, features = encoder["config"]["batch_input_shape"]
        window = repeat["config"]["n"]
        if steps is not None and steps != window:
            raise ValueError(
                f"{source}: input windows of {steps} steps but RepeatVector n = {window}"
            )
        model = LSTMDenoiser(
            input_size=features,
            hidden_size=units,
            window=window,
            bidirectional_decoder=bidirectional,
            recurrent_activation=activation,
        )
        arrays = _lstm_arrays(f, _name(encoder), "encoder", "", source)
        if bidirectional:
            inner = _name(decoder_lstm)
            for direction, suffix in (("forward", ""), ("backward", "_reverse")):
                arrays |= _lstm_arrays(
                    f, _name(decoder), "decoder", suffix, source, prefix=f"{direction}_{inner}/"
                )
        else:
            arrays |= _lstm_arrays(f, _name(decoder), "decoder", "", source)
        w = keras2_layer_weights(f, _name(head), source)
        arrays["output.weight"] = (_name(head), dense_kernel_to_torch(w["kernel"]))
        arrays["output.bias"] = (_name(head), w["bias"])
    assign_parameters(model, arrays, source)
    return model.eval()


def _name(layer: dict[str, Any]) -> str:
    """A Sequential layer's name (in its config; older files also carry it at the top)."""
    return layer.get("name") or layer["config"]["name"]


def _check_lstm(layer: dict[str, Any], source: str, *, return_sequences: bool) -> None:
    c = layer["config"]
    problems = []
    if c.get("activation") != "tanh":
        problems.append(f"activation = {c.get('activation')!r} (needs 'tanh')")
    if c.get("recurrent_activation") not in RECURRENT_ACTIVATIONS:
        problems.append(
            f"recurrent_activation = {c.get('recurrent_activation')!r} "
            f"(supported: {RECURRENT_ACTIVATIONS})"
        )
    if c.get("return_sequences") != return_sequences:
        problems.append(f"return_sequences = {c.get('return_sequences')!r}")
    if c.get("go_backwards") or c.get("stateful") or not c.get("use_bias", True):
        problems.append("go_backwards, stateful or no bias")
    if problems:
        raise ValueError(f"{source}: LSTM layer {_name(layer)!r}: " + "; ".join(problems))


def _lstm_arrays(
    f: h5py.File, layer: str, module: str, suffix: str, source: str, prefix: str = ""
) -> dict[str, tuple[str, np.ndarray]]:
    w = keras2_layer_weights(f, layer, source)
    try:
        kernel, recurrent, bias = (w[prefix + k] for k in ("kernel", "recurrent_kernel", "bias"))
    except KeyError as err:
        raise ValueError(
            f"{source}: layer {layer!r} lacks the LSTM weight {err.args[0]!r} "
            f"(has {sorted(w)})"
        ) from None
    origin = f"{layer}/{prefix}".rstrip("/")
    return {
        f"{module}.{name}_l0{suffix}": (origin, array)
        for name, array in lstm_to_torch(kernel, recurrent, bias).items()
    }

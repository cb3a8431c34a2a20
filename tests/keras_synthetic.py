"""Writers of small synthetic Keras weight files (random arrays, our own layer names), so that the
loaders' graph reading and layout conversions are tested without any released file.

* :func:`write_keras2_can`: a Keras 2 functional CAN h5 (``model_config`` + ``model_weights``),
  optionally with the appearance input listed first and a hidden dense width of choice;
* :func:`write_keras2_lstm`: a Keras 2 Sequential LSTM denoiser h5, any recurrent activation;
* :func:`write_open_rppg_weights`: a Keras 3 ``.weights.h5`` with open-rppg's TS-CAN layout.
"""

from __future__ import annotations

import json

import h5py
import numpy as np


def _write_keras2(path, config: dict, weights: dict[str, dict[str, np.ndarray]], order) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.3.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([n.encode() for n in order])
        for name in order:
            g = mw.create_group(name)
            arrays = weights.get(name, {})
            g.attrs["weight_names"] = np.array([f"{name}/{k}:0".encode() for k in arrays])
            for key, value in arrays.items():
                g.create_dataset(f"{name}/{key}:0", data=value.astype(np.float32))


def _node(*sources: str) -> list:
    return [[[s, 0, 0, {}] for s in sources]]


def write_keras2_can(
    path, rng: np.random.Generator, *, img_size: int = 36, dense_units: int = 32,
    appearance_first: bool = False,
) -> None:
    """A Keras 2 CAN h5 with random weights; layer names deliberately unlike the release's."""
    layers: list[dict] = []
    weights: dict[str, dict[str, np.ndarray]] = {}

    def add(name, kind, sources, **config):
        config["name"] = name
        layers.append({"name": name, "class_name": kind, "config": config,
                       "inbound_nodes": _node(*sources) if sources else []})

    def conv(name, src, cin, cout, k, padding, act):
        add(name, "Conv2D", [src], filters=cout, kernel_size=[k, k], padding=padding,
            strides=[1, 1], activation=act)
        scale = 1.0 / np.sqrt(k * k * cin)
        weights[name] = {"kernel": rng.normal(0, scale, (k, k, cin, cout)),
                         "bias": rng.normal(0, 0.1, cout)}

    shape = [None, img_size, img_size, 3]
    add("in_motion", "InputLayer", [], batch_input_shape=shape)
    add("in_app", "InputLayer", [], batch_input_shape=shape)
    conv("app_a", "in_app", 3, 32, 3, "same", "tanh")
    conv("app_b", "app_a", 32, 32, 3, "valid", "tanh")
    conv("gate_one", "app_b", 32, 1, 1, "same", "sigmoid")
    add("norm_one", "Lambda", ["gate_one"], function=["<code of masknorm>", None, None])
    conv("mot_a", "in_motion", 3, 32, 3, "same", "tanh")
    conv("mot_b", "mot_a", 32, 32, 3, "valid", "tanh")
    add("gated_one", "Multiply", ["mot_b", "norm_one"])
    add("pool_m1", "AveragePooling2D", ["gated_one"], pool_size=[2, 2], strides=[2, 2],
        padding="valid")
    add("drop_m1", "Dropout", ["pool_m1"], rate=0.25)
    add("pool_a1", "AveragePooling2D", ["app_b"], pool_size=[2, 2], strides=[2, 2],
        padding="valid")
    add("drop_a1", "Dropout", ["pool_a1"], rate=0.25)
    conv("app_c", "drop_a1", 32, 64, 3, "same", "tanh")
    conv("app_d", "app_c", 64, 64, 3, "valid", "tanh")
    conv("gate_two", "app_d", 64, 1, 1, "same", "sigmoid")
    add("norm_two", "Lambda", ["gate_two"], function=["<code of masknorm>", None, None])
    conv("mot_c", "drop_m1", 32, 64, 3, "same", "tanh")
    conv("mot_d", "mot_c", 64, 64, 3, "valid", "tanh")
    add("gated_two", "Multiply", ["norm_two", "mot_d"])
    add("pool_m2", "AveragePooling2D", ["gated_two"], pool_size=[2, 2], strides=[2, 2],
        padding="valid")
    add("drop_m2", "Dropout", ["pool_m2"], rate=0.25)
    add("flat", "Flatten", ["drop_m2"])
    side = ((img_size - 2) // 2 - 2) // 2
    flat = side * side * 64
    add("hidden", "Dense", ["flat"], units=dense_units, activation="tanh")
    weights["hidden"] = {"kernel": rng.normal(0, 1 / np.sqrt(flat) * 3, (flat, dense_units)),
                         "bias": rng.normal(0, 0.1, dense_units)}
    add("drop_h", "Dropout", ["hidden"], rate=0.5)
    add("out", "Dense", ["drop_h"], units=1, activation="linear")
    weights["out"] = {"kernel": rng.normal(0, 1 / np.sqrt(dense_units), (dense_units, 1)),
                      "bias": rng.normal(0, 0.1, 1)}
    inputs = [["in_app", 0, 0], ["in_motion", 0, 0]] if appearance_first else [
        ["in_motion", 0, 0], ["in_app", 0, 0]]
    config = {"class_name": "Model", "config": {"name": "can", "layers": layers,
              "input_layers": inputs, "output_layers": [["out", 0, 0]]}}
    _write_keras2(path, config, weights, [layer["name"] for layer in layers])


def write_keras2_lstm(
    path, rng: np.random.Generator, *, bidirectional: bool, recurrent_activation: str,
    units: int = 8, window: int = 12, features: int = 4,
) -> None:
    """A Keras 2 Sequential LSTM denoiser h5 with random weights."""

    def lstm_config(name, return_sequences, **extra):
        return {"name": name, "units": units, "activation": "tanh",
                "recurrent_activation": recurrent_activation, "use_bias": True,
                "return_sequences": return_sequences, "go_backwards": False, "stateful": False,
                **extra}

    def lstm_arrays(n_in):
        return {"kernel": rng.normal(0, 0.5, (n_in, 4 * units)),
                "recurrent_kernel": rng.normal(0, 0.5, (units, 4 * units)),
                "bias": rng.normal(0, 0.5, 4 * units)}

    enc = {"class_name": "LSTM",
           "config": lstm_config("enc", False, batch_input_shape=[None, window, features])}
    rep = {"class_name": "RepeatVector", "config": {"name": "rep", "n": window}}
    weights = {"enc": lstm_arrays(features)}
    if bidirectional:
        dec = {"class_name": "Bidirectional", "config": {
            "name": "bi", "merge_mode": "concat",
            "layer": {"class_name": "LSTM", "config": lstm_config("dec", True)}}}
        weights["bi"] = {f"{d}_dec/{k}": v for d in ("forward", "backward")
                         for k, v in lstm_arrays(units).items()}
    else:
        dec = {"class_name": "LSTM", "config": lstm_config("dec", True)}
        weights["dec"] = lstm_arrays(units)
    width = 2 * units if bidirectional else units
    head = {"class_name": "TimeDistributed", "config": {"name": "td", "layer": {
        "class_name": "Dense", "config": {"name": "d", "units": 1, "activation": "tanh"}}}}
    weights["td"] = {"kernel": rng.normal(0, 0.5, (width, 1)), "bias": rng.normal(0, 0.1, 1)}
    config = {"class_name": "Sequential", "config": {"name": "seq",
              "layers": [enc, rep, dec, head]}}
    order = ["enc", "rep", "bi" if bidirectional else "dec", "td"]
    _write_keras2(path, config, weights, order)


# group -> (kernel shape) of open-rppg's TS-CAN weights file (read from its models.py and file)
OPEN_RPPG_GROUPS = {
    "d1/layers/conv2d": (3, 3, 3, 32),
    "d1/layers/conv2d_1": (3, 3, 32, 32),
    "d2/layers/conv2d": (3, 3, 32, 64),
    "d2/layers/conv2d_1": (3, 3, 64, 64),
    "g1/layers/conv2d": (3, 3, 3, 32),
    "g1/layers/conv2d_1": (3, 3, 32, 32),
    "g2/layers/conv2d": (3, 3, 32, 64),
    "g2/layers/conv2d_1": (3, 3, 64, 64),
    "attn1/layers/conv2d": (1, 1, 32, 1),
    "attn2/layers/conv2d": (1, 1, 64, 1),
    "d/layers/dense": (3136, 128),
    "d/layers/dense_1": (128, 1),
}


def write_open_rppg_weights(path, rng: np.random.Generator, *, skip: str | None = None) -> None:
    """A Keras 3 weights file laid out like open-rppg's TS-CAN, float16 random arrays."""
    with h5py.File(path, "w") as f:
        for group, shape in OPEN_RPPG_GROUPS.items():
            if group == skip:
                continue
            fan_in = int(np.prod(shape[:-1]))
            g = f.create_group(f"inner/{group}/vars")
            kernel = rng.normal(0, 1.5 / np.sqrt(fan_in), shape)
            g.create_dataset("0", data=kernel.astype(np.float16))
            g.create_dataset("1", data=rng.normal(0, 0.1, shape[-1]).astype(np.float16))

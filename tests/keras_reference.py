"""Independent numpy forward passes of Keras graphs, to prove the PyTorch weight mappings.

Nothing here imports rppg_lib: each function reads the raw arrays of a Keras file with h5py and
computes in Keras' own layout (channels-last tensors, kernels (kh, kw, in, out), (in, out) dense
kernels, LSTM gates i, f, c, o in column blocks), following the file's ``model_config``. A model
loaded into PyTorch must give the same numbers.
"""

from __future__ import annotations

import json

import h5py
import numpy as np

# ---------------------------------------------------------------------------- elementary layers


def activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "hard_sigmoid":  # Keras 2
        return np.clip(0.2 * x + 0.5, 0.0, 1.0)
    if name == "linear":
        return x
    raise ValueError(f"activation {name!r} not in the reference")


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, padding: str) -> np.ndarray:
    """Keras Conv2D, stride 1: x (N, H, W, Cin), kernel (kh, kw, Cin, Cout)."""
    kh, kw = kernel.shape[:2]
    if padding == "same":
        x = np.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    n, h, w, _ = x.shape
    ho, wo = h - kh + 1, w - kw + 1
    out = np.zeros((n, ho, wo, kernel.shape[3]), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            out += x[:, i : i + ho, j : j + wo, :] @ kernel[i, j]
    return out + bias


def avg_pool2(x: np.ndarray) -> np.ndarray:
    """Keras AveragePooling2D((2, 2)), padding valid: odd rows/columns at the end dropped."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def mask_norm(g: np.ndarray) -> np.ndarray:
    """The release's Lambda ``masknorm``: g / sum_hw(g) * H * W * 0.5 on (N, H, W, 1)."""
    h, w = g.shape[1:3]
    return g / g.sum(axis=(1, 2), keepdims=True) * h * w * 0.5


def dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, act: str) -> np.ndarray:
    return activation(act, x @ kernel + bias)


def lstm(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent: np.ndarray,
    bias: np.ndarray,
    act: str,
    recurrent_act: str,
    go_backwards: bool = False,
) -> np.ndarray:
    """Keras LSTM returning the whole sequence (N, T, h) (in processing order if go_backwards)."""
    n, steps, _ = x.shape
    units = recurrent.shape[0]
    h = np.zeros((n, units))
    c = np.zeros((n, units))
    outputs = []
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    for t in order:
        z = x[:, t] @ kernel + h @ recurrent + bias
        zi, zf, zc, zo = (z[:, k * units : (k + 1) * units] for k in range(4))
        i, f, o = (activation(recurrent_act, v) for v in (zi, zf, zo))
        c = f * c + i * activation(act, zc)
        h = o * activation(act, c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


# ----------------------------------------------------------------------------- Keras 2 files


def _weights(f: h5py.File, layer: str) -> dict[str, np.ndarray]:
    group = f["model_weights"][layer]
    out = {}
    for raw in group.attrs["weight_names"]:
        full = raw.decode() if isinstance(raw, bytes) else raw
        out[full.split("/", 1)[1].removesuffix(":0")] = np.asarray(group[full], dtype=np.float64)
    return out


def _config(f: h5py.File) -> dict:
    raw = f.attrs["model_config"]
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def keras_functional_forward(path, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate a Keras 2 functional model (Conv2D, Lambda-masknorm, pooling, Multiply, Dropout,
    Flatten, Dense) at inference; ``inputs`` in the order of the model's ``input_layers``.
    Returns every layer's output by layer name (channels-last)."""
    with h5py.File(path, "r") as f:
        cfg = _config(f)["config"]
        layers = {layer["name"]: layer for layer in cfg["layers"]}
        names = [entry[0] for entry in cfg["input_layers"]]
        values = {name: x.astype(np.float64) for name, x in zip(names, inputs, strict=True)}
        pending = [name for name in layers if name not in values]
        while pending:
            for name in list(pending):
                layer = layers[name]
                srcs = [node[0] for node in layer["inbound_nodes"][0]]
                if not all(s in values for s in srcs):
                    continue
                args = [values[s] for s in srcs]
                kind, c = layer["class_name"], layer["config"]
                if kind == "Conv2D":
                    w = _weights(f, name)
                    y = conv2d(args[0], w["kernel"], w["bias"], c["padding"])
                    y = activation(c["activation"], y)
                elif kind == "Lambda":
                    y = mask_norm(args[0])
                elif kind == "AveragePooling2D":
                    y = avg_pool2(args[0])
                elif kind == "Multiply":
                    y = args[0] * args[1]
                elif kind == "Dropout":
                    y = args[0]
                elif kind == "Flatten":
                    y = args[0].reshape(len(args[0]), -1)
                elif kind == "Dense":
                    w = _weights(f, name)
                    y = dense(args[0], w["kernel"], w["bias"], c["activation"])
                else:
                    raise ValueError(f"layer class {kind} not in the reference")
                values[name] = y
                pending.remove(name)
    return values


def keras_sequential_lstm_forward(path, x: np.ndarray) -> np.ndarray:
    """Evaluate a Keras 2 Sequential LSTM / RepeatVector / [Bidirectional] LSTM /
    TimeDistributed(Dense) model on x (N, T, F); returns (N, T_out) (the last axis of size 1
    dropped)."""
    with h5py.File(path, "r") as f:
        cfg = _config(f)["config"]
        layers = cfg["layers"] if isinstance(cfg, dict) else cfg
        y = x.astype(np.float64)
        for layer in layers:
            kind, c = layer["class_name"], layer["config"]
            name = c["name"]
            if kind == "LSTM":
                w = _weights(f, name)
                seq = lstm(y, w["kernel"], w["recurrent_kernel"], w["bias"], c["activation"],
                           c["recurrent_activation"], c["go_backwards"])
                y = seq if c["return_sequences"] else seq[:, -1]
            elif kind == "RepeatVector":
                y = np.repeat(y[:, None, :], c["n"], axis=1)
            elif kind == "Bidirectional":
                inner = c["layer"]["config"]
                w = _weights(f, name)
                fw = {k.split("/")[1]: v for k, v in w.items() if k.startswith("forward_")}
                bw = {k.split("/")[1]: v for k, v in w.items() if k.startswith("backward_")}
                args = (inner["activation"], inner["recurrent_activation"])
                forward = lstm(y, fw["kernel"], fw["recurrent_kernel"], fw["bias"], *args)
                backward = lstm(y, bw["kernel"], bw["recurrent_kernel"], bw["bias"], *args,
                                go_backwards=True)
                # Keras reverses the backward sequence so that both are indexed by input time
                y = np.concatenate([forward, backward[:, ::-1]], axis=2)
            elif kind == "TimeDistributed":
                w = _weights(f, name)
                y = dense(y, w["kernel"], w["bias"], c["layer"]["config"]["activation"])
            else:
                raise ValueError(f"layer class {kind} not in the reference")
    return y[..., 0]


# ------------------------------------------------------------------- open-rppg TS-CAN (Keras 3)


def _tsm_replicate(x: np.ndarray, segment: int) -> np.ndarray:
    """open-rppg's temporal shift on channels-last frames (T, H, W, C), border frame repeated."""
    t_total, _, _, c = x.shape
    fold = c // 3
    out = x.copy()
    for t in range(t_total):
        start = t // segment * segment
        nxt = min(t + 1, start + segment - 1)
        prv = max(t - 1, start)
        out[t, ..., :fold] = x[nxt, ..., :fold]
        out[t, ..., fold : 2 * fold] = x[prv, ..., fold : 2 * fold]
    return out


def open_rppg_tscan_forward(path, frames: np.ndarray, segment: int = 20) -> np.ndarray:
    """open-rppg's TSCANToEnd on one clip of RGB frames in [0, 1], (T, 36, 36, 3) -> (T,).

    Preprocessing: standardised plain differences (last repeated) and the clip-mean appearance
    frame; then the TS-CAN graph of open-rppg's ``models.py`` with the file's float16 arrays in
    float64.
    """
    with h5py.File(path, "r") as f:
        def w(group):
            g = f["inner"][group]["vars"]
            return np.asarray(g["0"], dtype=np.float64), np.asarray(g["1"], dtype=np.float64)

        x = frames.astype(np.float64)
        d = x[1:] - x[:-1]
        d = (d - d.mean(axis=(1, 2), keepdims=True)) / (d.std(axis=(1, 2), keepdims=True) + 1e-6)
        d = np.concatenate([d, d[-1:]], axis=0)
        g = x.mean(axis=0, keepdims=True)  # one appearance frame, broadcast over the clip

        def block(y, prefix, tsm):
            for layer, pad in (("conv2d", "same"), ("conv2d_1", "valid")):
                if tsm:
                    y = _tsm_replicate(y, segment)
                k, b = w(f"{prefix}/layers/{layer}")
                y = np.tanh(conv2d(y, k, b, pad))
            return y

        d = block(d, "d1", True)
        g = block(g, "g1", False)
        k, b = w("attn1/layers/conv2d")
        d = avg_pool2(d * mask_norm(activation("sigmoid", conv2d(g, k, b, "valid"))))
        d = block(d, "d2", True)
        g = block(avg_pool2(g), "g2", False)
        k, b = w("attn2/layers/conv2d")
        d = avg_pool2(d * mask_norm(activation("sigmoid", conv2d(g, k, b, "valid"))))
        k, b = w("d/layers/dense")
        h = np.tanh(d.reshape(len(d), -1) @ k + b)
        k, b = w("d/layers/dense_1")
        return (h @ k + b)[:, 0]

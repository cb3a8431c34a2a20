"""Checkpoint loaders on synthetic files: rPPG-Toolbox ``.pth``, Keras 2 ``.h5`` (CAN, LSTM) and
open-rppg's Keras 3 weights, each compared with an independent numpy forward pass; plus the
released open-rppg file when its wheel has been downloaded (conftest's ``open_rppg_wheel``)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from keras_reference import (
    keras_functional_forward,
    keras_sequential_lstm_forward,
    open_rppg_tscan_forward,
)
from keras_synthetic import write_keras2_can, write_keras2_lstm, write_open_rppg_weights

from rppg_lib.models import TSCAN, ExplicitLSTM
from rppg_lib.weights import (
    OpenRppgFrames,
    load_keras_can,
    load_keras_lstm,
    load_open_rppg_tscan,
    load_toolbox_tscan,
    open_rppg_inputs,
)

torch.set_num_threads(1)

# rPPG-Toolbox TS_CAN.py, DataParallel-wrapped, 72x72: key -> shape
TOOLBOX_KEYS_72 = {
    "module.motion_conv1.weight": (32, 3, 3, 3),
    "module.motion_conv2.weight": (32, 32, 3, 3),
    "module.motion_conv3.weight": (64, 32, 3, 3),
    "module.motion_conv4.weight": (64, 64, 3, 3),
    "module.apperance_conv1.weight": (32, 3, 3, 3),
    "module.apperance_conv2.weight": (32, 32, 3, 3),
    "module.apperance_conv3.weight": (64, 32, 3, 3),
    "module.apperance_conv4.weight": (64, 64, 3, 3),
    "module.apperance_att_conv1.weight": (1, 32, 1, 1),
    "module.apperance_att_conv2.weight": (1, 64, 1, 1),
    "module.final_dense_1.weight": (128, 16384),
    "module.final_dense_2.weight": (1, 128),
}
TOOLBOX_KEYS_72 |= {
    k.replace(".weight", ".bias"): (shape[0],) for k, shape in list(TOOLBOX_KEYS_72.items())
}
OUR_NAME = {  # toolbox attribute -> ours
    **{f"motion_conv{i}": f"motion_conv{i}" for i in range(1, 5)},
    **{f"apperance_conv{i}": f"appearance_conv{i}" for i in range(1, 5)},
    "apperance_att_conv1": "attention_conv1",
    "apperance_att_conv2": "attention_conv2",
    "final_dense_1": "dense1",
    "final_dense_2": "dense2",
}


def _toolbox_state(img_size: int = 72, seed: int = 0) -> tuple[TSCAN, dict[str, torch.Tensor]]:
    """A random TS-CAN and its weights under rPPG-Toolbox's DataParallel key names."""
    torch.manual_seed(seed)
    source = TSCAN(frame_depth=10, img_size=img_size).eval()
    ours = source.state_dict()
    state = {}
    for key in TOOLBOX_KEYS_72:
        layer, kind = key.removeprefix("module.").rsplit(".", 1)
        state[key] = ours[f"{OUR_NAME[layer]}.{kind}"].clone()
    return source, state


def test_toolbox_checkpoint_loads_into_tscan(tmp_path):
    source, state = _toolbox_state()
    assert {k: tuple(v.shape) for k, v in state.items()} == TOOLBOX_KEYS_72
    path = tmp_path / "PURE_TSCAN.pth"
    torch.save(state, path)
    model = load_toolbox_tscan(path, frame_depth=10)
    assert isinstance(model, TSCAN) and not model.training
    assert model.img_size == 72 and model.frame_depth == 10 and model.tsm1.edge == "zero"
    x = torch.randn(10, 6, 72, 72, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_toolbox_checkpoint_without_prefix_and_at_36(tmp_path):
    torch.manual_seed(3)
    source = TSCAN(frame_depth=10, img_size=36).eval()
    state = {}
    for key, value in source.state_dict().items():
        layer, kind = key.rsplit(".", 1)
        theirs = {v: k for k, v in OUR_NAME.items()}[layer]
        state[f"{theirs}.{kind}"] = value
    torch.save(state, tmp_path / "t.pth")
    model = load_toolbox_tscan(tmp_path / "t.pth")
    assert model.img_size == 36
    x = torch.randn(10, 6, 36, 36)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_toolbox_wrong_shape_names_the_layer_and_both_shapes(tmp_path):
    _, state = _toolbox_state()
    state["module.apperance_conv3.weight"] = torch.zeros(64, 32, 5, 5)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError) as err:
        load_toolbox_tscan(tmp_path / "bad.pth")
    message = str(err.value)
    assert "module.apperance_conv3.weight" in message
    assert "(64, 32, 5, 5)" in message and "(64, 32, 3, 3)" in message


def test_toolbox_missing_unknown_and_unreadable(tmp_path):
    _, state = _toolbox_state()
    missing = dict(state)
    del missing["module.motion_conv2.bias"]
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"no weights for \['motion_conv2.bias'\]"):
        load_toolbox_tscan(tmp_path / "missing.pth")
    extra = dict(state) | {"module.final_dense_3.weight": torch.zeros(1, 1)}
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match="final_dense_3"):
        load_toolbox_tscan(tmp_path / "extra.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        load_toolbox_tscan(tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_toolbox_tscan(tmp_path / "nowhere.pth")


# ------------------------------------------------------------------------------ Keras 2 (synthetic)


def _can_inputs(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random frames with a per-frame level and contrast, so that outputs differ between frames."""
    rng = np.random.default_rng(seed)
    shape = (n, size, size, 3)
    scale = rng.uniform(0.2, 2.0, (n, 1, 1, 1))
    motion = rng.normal(0, 1, shape) * scale + rng.normal(0, 1, (n, 1, 1, 3))
    appearance = rng.normal(0, 1, shape) * scale[::-1] + rng.normal(0, 1, (n, 1, 1, 3))
    return motion.astype(np.float32), appearance.astype(np.float32)


def _torch_input(motion: np.ndarray, appearance: np.ndarray) -> torch.Tensor:
    both = np.concatenate([motion, appearance], axis=-1).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(both))


@pytest.mark.parametrize("appearance_first", [False, True])
def test_keras2_can_matches_numpy_reference(tmp_path, appearance_first):
    path = tmp_path / "can.h5"
    write_keras2_can(path, np.random.default_rng(5), dense_units=16,
                     appearance_first=appearance_first)
    model = load_keras_can(path)
    assert model.dense_units == 16 and model.img_size == 36
    motion, appearance = _can_inputs(3, 36, seed=6)
    keras_inputs = [appearance, motion] if appearance_first else [motion, appearance]
    ref = keras_functional_forward(path, keras_inputs)
    with torch.no_grad():
        out, masks = model(_torch_input(motion, appearance), return_masks=True)
    assert float(np.std(ref["out"])) > 0.05  # the check below is not on a constant
    np.testing.assert_allclose(out.numpy(), ref["out"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(masks["gate1"].numpy()[:, 0], ref["gate_one"][..., 0], atol=1e-5)
    np.testing.assert_allclose(masks["gate2_normalized"].numpy()[:, 0], ref["norm_two"][..., 0],
                               atol=1e-5)


def test_keras2_can_with_a_wrong_layer_is_refused(tmp_path):
    path = tmp_path / "can.h5"
    write_keras2_can(path, np.random.default_rng(5))
    with h5py.File(path, "r+") as f:
        del f["model_weights/mot_c/mot_c/kernel:0"]
        f["model_weights/mot_c/mot_c"].create_dataset("kernel:0", data=np.zeros((3, 3, 32, 48)))
    with pytest.raises(ValueError) as err:
        load_keras_can(path)
    assert "'mot_c'" in str(err.value)
    assert "(48, 32, 3, 3)" in str(err.value) and "(64, 32, 3, 3)" in str(err.value)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_keras2_hard_sigmoid_lstm_matches_numpy_reference(tmp_path, bidirectional):
    path = tmp_path / "lstm.h5"
    write_keras2_lstm(path, np.random.default_rng(7), bidirectional=bidirectional,
                      recurrent_activation="hard_sigmoid", units=8, window=12)
    model = load_keras_lstm(path)
    assert isinstance(model.encoder, ExplicitLSTM)  # torch.nn.LSTM has no hard_sigmoid
    assert model.window == 12 and model.hidden_size == 8
    assert model.bidirectional_decoder == bidirectional
    x = np.random.default_rng(8).normal(0, 1, (4, 12, 4)).astype(np.float32)
    ref = keras_sequential_lstm_forward(path, x)
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    assert float(np.std(ref)) > 0.05
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)


def test_keras2_lstm_unsupported_activation_is_refused(tmp_path):
    path = tmp_path / "lstm.h5"
    write_keras2_lstm(path, np.random.default_rng(7), bidirectional=False,
                      recurrent_activation="relu")
    with pytest.raises(ValueError, match=r"'enc'.*recurrent_activation = 'relu'"):
        load_keras_lstm(path)
    with pytest.raises(FileNotFoundError, match="absent.h5"):
        load_keras_lstm(tmp_path / "absent.h5")


# ---------------------------------------------------------------------------------- open-rppg


def _clip(n: int = 40, seed: int = 9) -> np.ndarray:
    """A smooth moving uint8 clip (n, 36, 36, 3) with a flicker, like a face crop."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None, None, None]
    yy, xx = np.mgrid[:36, :36]
    base = 120 + 60 * np.sin(xx / 6.0 + yy / 9.0)[None, :, :, None] * np.array([1.0, 0.8, 0.6])
    frames = base + 5 * np.sin(2 * np.pi * t / 23) + rng.normal(0, 2, (n, 36, 36, 3))
    return np.clip(frames, 0, 255).astype(np.uint8)


def test_open_rppg_inputs_follow_the_variant():
    frames = _clip(40)
    x = open_rppg_inputs(frames, clip_length=20)
    assert x.shape == (40, 6, 36, 36) and x.dtype == np.float32
    f = frames.astype(np.float64) / 255
    d = f[1] - f[0]
    expected = (d - d.mean(axis=(0, 1))) / (d.std(axis=(0, 1)) + 1e-6)
    np.testing.assert_allclose(x[0, :3].transpose(1, 2, 0), expected, atol=1e-4)
    np.testing.assert_array_equal(x[19, :3], x[18, :3])  # last difference of a clip repeated
    np.testing.assert_allclose(x[0, :3].mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(x[0, :3].std(axis=(1, 2)), 1, atol=1e-4)
    np.testing.assert_allclose(x[25, 3:].transpose(1, 2, 0), f[20:].mean(axis=0), atol=1e-6)
    np.testing.assert_array_equal(x[20, 3:], x[39, 3:])  # one appearance frame per clip
    with pytest.raises(ValueError, match=r"T = 30 .*clip_length = 20"):
        open_rppg_inputs(frames[:30], clip_length=20)
    with pytest.raises(ValueError, match="clip_length"):
        open_rppg_inputs(frames, clip_length=25)


def test_open_rppg_frames_build_the_same_inputs_clip_by_clip(tmp_path):
    crops = _clip(50).astype(np.float32) / 255  # 50 frames: the last clip of 20 is completed
    np.save(tmp_path / "crops.npy", crops)
    lazy = OpenRppgFrames(np.load(tmp_path / "crops.npy", mmap_mode="r"), clip_length=20)
    padded = np.concatenate([crops, np.repeat(crops[-1:], 10, axis=0)])
    whole = open_rppg_inputs(padded, clip_length=20)[:50]
    assert len(lazy) == 50 and lazy.shape == (50, 6, 36, 36)
    for start, stop in [(0, 50), (0, 20), (7, 33), (40, 50), (45, 99), (30, 30)]:
        np.testing.assert_array_equal(lazy[start:stop], whole[start:stop])
    with pytest.raises(ValueError, match="step 1"):
        lazy[::2]
    with pytest.raises(ValueError, match=r"\(T, S, S, 3\)"):
        OpenRppgFrames(crops[:, :20])


def test_open_rppg_synthetic_weights_match_numpy_reference(tmp_path):
    path = tmp_path / "TSCAN.synthetic.weights.h5"
    write_open_rppg_weights(path, np.random.default_rng(10))
    model = load_open_rppg_tscan(path)
    assert model.frame_depth == 20 and model.tsm1.edge == "replicate" and model.img_size == 36
    frames = _clip(40)
    ref = open_rppg_tscan_forward(path, frames.astype(np.float64) / 255, segment=20)
    with torch.no_grad():
        out = model(torch.from_numpy(open_rppg_inputs(frames, clip_length=40)))[:, 0].numpy()
    assert float(np.std(ref)) > 0.05
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)


def test_open_rppg_file_missing_a_layer_is_refused(tmp_path):
    path = tmp_path / "TSCAN.bad.weights.h5"
    write_open_rppg_weights(path, np.random.default_rng(10), skip="attn2/layers/conv2d")
    with pytest.raises(ValueError, match="inner/attn2/layers/conv2d"):
        load_open_rppg_tscan(path)


@pytest.mark.reference
@pytest.mark.parametrize("variant", ["pure", "rlap"])
def test_released_open_rppg_tscan_matches_numpy_reference(open_rppg_wheel, tmp_path, variant):
    member = f"rppg/weights/TSCAN.{variant}.weights.h5"
    with zipfile.ZipFile(open_rppg_wheel) as wheel:
        h5_path = Path(wheel.extract(member, tmp_path))
    from_wheel = load_open_rppg_tscan(open_rppg_wheel, variant=variant)
    from_h5 = load_open_rppg_tscan(h5_path)
    for a, b in zip(from_wheel.parameters(), from_h5.parameters(), strict=True):
        assert torch.equal(a, b)
    frames = _clip(160, seed=11)  # one open-rppg clip
    ref = open_rppg_tscan_forward(h5_path, frames.astype(np.float64) / 255, segment=20)
    with torch.no_grad():
        out = from_h5(torch.from_numpy(open_rppg_inputs(frames)))[:, 0].numpy()
    assert float(np.std(ref)) > 0.01
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)

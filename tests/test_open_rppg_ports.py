"""The PyTorch ports of open-rppg's PhysNet, EfficientPhys and FacePhys against open-rppg's own
Keras models on the released weights.

``tests/data/open_rppg_parity.npz`` holds seeded crops and the Keras outputs on them (written by
``tests/open_rppg_keras.py`` in a separate Keras 3 + JAX environment), so the parity tests need
no Keras; the weights come from the wheel in data/weights. Where Keras and JAX are importable,
``test_ports_match_live_keras`` also runs the wheel's model code on the trained clip lengths.
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from open_rppg_keras import FIXTURE, WEIGHT_FILES, keras_outputs, seeded_frames

from rppg_lib import weights
from rppg_lib.models import EfficientPhys, FacePhys, PhysNet
from rppg_lib.models.facephys import approx_cos, approx_exp, approx_sin

torch.set_num_threads(1)

TOLERANCE = 1e-5  # max abs difference to open-rppg's float32 forward pass
PORTS = [
    "physnet.pure",
    "physnet.rlap",
    "efficientphys.pure",
    "efficientphys.rlap",
    "facephys.rlap",
]
LOADERS = {
    "physnet": weights.load_open_rppg_physnet,
    "efficientphys": weights.load_open_rppg_efficientphys,
    "facephys": weights.load_open_rppg_facephys,
}


def _run(model: str, net: torch.nn.Module, frames: np.ndarray) -> np.ndarray:
    """The port's output (T,) on crops (T, S, S, 3), the whole clip as one input."""
    if model == "physnet":
        x = weights.physnet_inputs(frames, clip_length=len(frames))
    elif model == "efficientphys":
        x = weights.efficientphys_inputs(frames, clip_length=len(frames))
    else:
        x = weights.facephys_inputs(frames)
    with torch.no_grad():
        out = net(torch.from_numpy(x))
    return (out[0] if isinstance(out, tuple) else out)[0].numpy()


@pytest.fixture(scope="module")
def parity() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return dict(data)


@pytest.mark.reference
@pytest.mark.parametrize("name", PORTS)
def test_ports_match_stored_keras_outputs(open_rppg_wheel, parity, name):
    model, variant = name.split(".")
    net = LOADERS[model](open_rppg_wheel, variant)
    frames = parity[f"{model}.input"]
    ref = parity[name]
    out = _run(model, net, frames)
    assert out.shape == ref.shape == (len(frames),)
    assert float(np.std(ref)) > 0.01  # a non-trivial output, not a constant that anything matches
    assert float(np.abs(out - ref).max()) <= TOLERANCE


@pytest.mark.reference
def test_ports_match_live_keras(open_rppg_wheel):
    missing = [
        m for m in ("keras", "jax", "einops", "pkg_resources") if not importlib.util.find_spec(m)
    ]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not importable: the live Keras parity runs in a separate "
            "environment (see tests/open_rppg_keras.py)"
        )
    lengths = {"physnet": 128, "efficientphys": 160, "facephys": 30}  # trained clips; 1 s
    for name in PORTS:
        model, variant = name.split(".")
        frames = seeded_frames(model, frames=lengths[model], seed=7)
        ref = keras_outputs(open_rppg_wheel, model, variant, frames)
        out = _run(model, LOADERS[model](open_rppg_wheel, variant), frames)
        assert float(np.abs(out - ref).max()) <= TOLERANCE, name


@pytest.mark.reference
def test_wheel_and_extracted_file_load_the_same(open_rppg_wheel, tmp_path):
    member = "rppg/weights/" + WEIGHT_FILES["physnet"].format(variant="rlap")
    with zipfile.ZipFile(open_rppg_wheel) as wheel:
        h5_path = Path(wheel.extract(member, tmp_path))
    a = weights.load_open_rppg_physnet(open_rppg_wheel, "rlap").state_dict()
    b = weights.load_open_rppg_physnet(h5_path).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.reference
def test_a_file_of_another_architecture_is_refused(open_rppg_wheel, tmp_path):
    member = "rppg/weights/" + WEIGHT_FILES["efficientphys"].format(variant="pure")
    with zipfile.ZipFile(open_rppg_wheel) as wheel:
        h5_path = Path(wheel.extract(member, tmp_path))
    with pytest.raises(
        ValueError, match=r"EfficientPhys\.pure\.weights\.h5.*not open-rppg PhysNet"
    ):
        weights.load_open_rppg_physnet(h5_path)


@pytest.mark.parametrize("loader", list(LOADERS.values()))
def test_missing_and_unreadable_files_name_the_file(loader, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.weights.h5"):
        loader(tmp_path / "nowhere.weights.h5")
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="bad.weights.h5"):
        loader(bad)
    empty = tmp_path / "empty.weights.h5"
    h5py.File(empty, "w").close()
    with pytest.raises(ValueError, match=r"empty\.weights\.h5: no .*vars/0"):
        loader(empty)


def test_face_clips_resize_scale_and_pad():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, size=(10, 50, 40, 3), dtype=np.uint8)
    clips = weights.face_clips(crops, side=32, clip_length=4)
    assert clips.shape == (3, 4, 32, 32, 3) and clips.dtype == np.float32
    flat = clips.reshape(-1, 32, 32, 3)
    assert 0.0 <= flat.min() and flat.max() <= 1.0
    np.testing.assert_array_equal(flat[10], flat[9])  # the last clip repeats the last crop
    np.testing.assert_array_equal(flat[11], flat[9])
    assert weights.physnet_inputs(crops, clip_length=8).shape == (2, 3, 8, 32, 32)
    assert weights.efficientphys_inputs(crops, clip_length=8).shape == (2, 8, 3, 72, 72)
    assert weights.facephys_inputs(crops).shape == (1, 10, 3, 36, 36)
    with pytest.raises(ValueError, match="multiple of 8"):
        weights.efficientphys_inputs(crops, clip_length=12)
    with pytest.raises(ValueError, match="multiple of 4"):
        weights.physnet_inputs(crops, clip_length=6)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        weights.face_clips(crops[..., :2], side=32)


def test_models_refuse_wrong_shapes():
    with pytest.raises(ValueError, match="multiple of 4"):
        PhysNet()(torch.zeros(1, 3, 6, 32, 32))
    with pytest.raises(ValueError, match="multiple of 8"):
        EfficientPhys()(torch.zeros(1, 12, 3, 72, 72))
    with pytest.raises(ValueError, match="36, 36"):
        FacePhys()(torch.zeros(1, 2, 3, 32, 32))


def test_facephys_state_carries_over_clips():
    torch.manual_seed(0)
    net = FacePhys().eval()
    x = torch.rand(1, 6, 3, 36, 36)
    with torch.no_grad():
        whole, _ = net(x)
        first, state = net(x[:, :4])
        rest, _ = net(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole)


def test_approximate_functions_follow_the_true_ones():
    x = torch.linspace(-8, 3, 2001)
    # open-rppg's polynomials: close to exp/sin/cos, not equal (the port keeps them, as trained)
    assert float((approx_exp(x) / torch.exp(x) - 1).abs().max()) < 5e-3
    assert float((approx_sin(x) - torch.sin(x)).abs().max()) < 1e-3
    assert float((approx_cos(x) - torch.cos(x)).abs().max()) < 1e-3


def test_registry_names_and_predict():
    assert set(PORTS) < set(weights.RELEASED_MODELS)
    assert {"tscan.pure", "tscan.rlap"} < set(weights.RELEASED_MODELS)
    assert weights.released_model("PhysNet.PURE").name == "physnet.pure"
    with pytest.raises(ValueError, match="physformer.pure"):
        weights.released_model("physformer.pure")
    crops = np.random.default_rng(1).integers(0, 256, size=(20, 48, 48, 3), dtype=np.uint8)
    torch.manual_seed(0)
    untrained = {"physnet": PhysNet(), "efficientphys": EfficientPhys(), "facephys": FacePhys()}
    for name in ("physnet.rlap", "efficientphys.pure", "facephys.rlap"):
        spec = weights.released_model(name)
        out = spec.predict(untrained[name.split(".")[0]].eval(), crops)
        assert out.shape == (20,) and np.all(np.isfinite(out))
        assert spec.weights_file == WEIGHT_FILES[name.split(".")[0]].format(variant=spec.variant)


@pytest.mark.reference
def test_registry_loads_the_released_tscan(open_rppg_wheel):
    spec = weights.released_model("tscan.rlap")
    crops = np.random.default_rng(2).integers(0, 256, size=(170, 40, 40, 3), dtype=np.uint8)
    out = spec.predict(spec.load(open_rppg_wheel), crops)
    assert out.shape == (170,) and spec.output == "derivative"

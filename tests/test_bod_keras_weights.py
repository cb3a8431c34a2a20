"""The released Benefit-of-Distraction Keras 2 models, loaded into PyTorch, against independent
numpy forward passes of the Keras graphs (tests/keras_reference.py) and against the sample's
ground truth. Reads ../shared/reference (``bod_reference`` fixture: skipped where absent)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from keras_reference import keras_functional_forward, keras_sequential_lstm_forward

from rppg_lib.models import CAN, LSTMDenoiser
from rppg_lib.weights import load_keras_can, load_keras_lstm
from rppg_lib.windows import stitch_windows

torch.set_num_threads(1)
pytestmark = pytest.mark.reference

HOP = 30  # samples between LSTM windows (30 Hz, 1 s)


def _random_can_inputs(n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Motion and appearance frames (n, 36, 36, 3) with per-frame level and contrast."""
    rng = np.random.default_rng(seed)
    shape = (n, 36, 36, 3)
    scale = rng.uniform(0.3, 2.0, (n, 1, 1, 1))
    motion = rng.normal(0, 1, shape) * scale + rng.normal(0, 0.5, (n, 1, 1, 3))
    appearance = rng.normal(0, 1, shape) * scale[::-1] + rng.normal(0, 0.5, (n, 1, 1, 3))
    return motion.astype(np.float32), appearance.astype(np.float32)


def test_br_can_configuration_read_from_the_file(bod_reference):
    model = load_keras_can(bod_reference / "model_BR_CAN.h5")
    assert isinstance(model, CAN) and not model.training
    assert model.img_size == 36 and model.dense_units == 32
    assert sum(p.numel() for p in model.parameters()) == 231_651
    assert model.dropout_motion1.p == 0.75 and model.dropout_dense.p == 0.75  # as released


def test_br_can_matches_the_keras_graph(bod_reference):
    path = bod_reference / "model_BR_CAN.h5"
    model = load_keras_can(path)
    motion, appearance = _random_can_inputs()
    # the release's inputs are [input_1, input_2]; input_1's branch is the gated one (motion)
    ref = keras_functional_forward(path, [motion, appearance])
    x = np.concatenate([motion, appearance], axis=-1).transpose(0, 3, 1, 2)
    with torch.no_grad():
        out, masks = model(torch.from_numpy(np.ascontiguousarray(x)), return_masks=True)
    assert float(np.std(ref["dense_2"])) > 1e-3
    diff = float(np.abs(out.numpy() - ref["dense_2"]).max())
    assert diff < 1e-4, f"max |PyTorch - Keras reference| = {diff:.2e}"
    # gate 1 before normalisation is the 1x1 sigmoid conv feeding lambda_1; after it, lambda_1
    np.testing.assert_allclose(masks["gate1"].numpy()[:, 0], ref["conv2d_5"][..., 0], atol=1e-5)
    np.testing.assert_allclose(
        masks["gate1_normalized"].numpy()[:, 0], ref["lambda_1"][..., 0], atol=1e-5
    )
    np.testing.assert_allclose(masks["gate2"].numpy()[:, 0], ref["conv2d_10"][..., 0], atol=1e-5)


@pytest.fixture(scope="module")
def xtest(bod_reference) -> np.ndarray:
    return scipy.io.loadmat(bod_reference / "sample_LSTM_input_data.mat")["Xtest"].astype(
        np.float32
    )


@pytest.mark.parametrize(
    ("filename", "bidirectional"),
    [("model_denoising_HR_LSTM.h5", False), ("model_denoising_BR_LSTM.h5", True)],
)
def test_lstm_matches_the_keras_graph(bod_reference, xtest, filename, bidirectional):
    path = bod_reference / filename
    model = load_keras_lstm(path)
    assert isinstance(model, LSTMDenoiser) and not model.training
    assert (model.window, model.input_size, model.hidden_size) == (60, 4, 128)
    assert model.bidirectional_decoder == bidirectional
    assert model.recurrent_activation == "sigmoid"  # what both files' configs say
    rng = np.random.default_rng(1)
    x = np.concatenate([xtest[:6], rng.uniform(-1, 1, (3, 60, 4)).astype(np.float32)])
    ref = keras_sequential_lstm_forward(path, x)
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    assert out.shape == (9, 60)
    diff = float(np.abs(out - ref).max())
    assert diff < 1e-4, f"max |PyTorch - Keras reference| = {diff:.2e}"


def test_hr_lstm_on_the_sample_recovers_the_ground_truth_waveform(bod_reference, xtest):
    model = load_keras_lstm(bod_reference / "model_denoising_HR_LSTM.h5")
    with torch.no_grad():
        windows = model(torch.from_numpy(xtest)).numpy()
    stitched = stitch_windows(windows, HOP)  # overlap-add average
    assert stitched.shape == ((33 - 1) * HOP + 60,) == (1020,)
    with h5py.File(bod_reference / "RGB_noise_estimates_red" / "sample_noise.mat", "r") as f:
        gt = np.asarray(f["bp_gt_resamp"]).ravel()  # (1031,): 30 Hz, from the first window on
    assert gt.shape == (1031,)

    def corr(lag: int) -> float:  # stitched[t] against gt[t + lag]
        a = stitched[max(0, -lag) :]
        b = gt[max(0, lag) :]
        n = min(len(a), len(b))
        return float(np.corrcoef(a[:n], b[:n])[0, 1])

    r = corr(0)
    assert r >= 0.95, f"r = {r:.3f}"  # measured 0.974
    assert r > max(corr(lag) for lag in (-3, -2, -1, 1, 2, 3))  # aligned without a lag
    # the network input's pulse channel (the CAN's estimate) is far from it: the LSTM did the work
    baseline = stitch_windows(xtest[..., 3], HOP)
    assert abs(float(np.corrcoef(baseline, gt[:1020])[0, 1])) < 0.5

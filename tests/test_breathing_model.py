"""The optional breathing network's glue (notebooks 02, 05, 06): its record and respiration
artifacts, the BR LSTM's inputs conditioned in the BR band, the BR methods added to notebook 06's
evaluation, and the perfect respiration's breathing rate."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from study_clips import FS, estimates_for
from test_comparison import _clip_signals

from rppg_lib.constants import BR_BAND, BR_DETREND_LAMBDA
from rppg_lib.inverse_attention import reconditioned
from rppg_lib.network_inference import load_model
from rppg_lib.steps.evaluation import add_breathing, breathing_methods, evaluate_methods
from rppg_lib.steps.lstm_denoising import (
    breathing_estimates,
    denoise_br_clips,
    has_br_denoised,
    load_br_denoised,
)
from rppg_lib.steps.train_tscan import (
    br_config,
    load_br_model,
    load_br_resp,
    predict_resp,
    save_br_model,
    train_br_model,
    training_summary,
)
from rppg_lib.training import TrainConfig

N = 600  # 20 s at 30 Hz


class PassLast(torch.nn.Module):
    """A stand-in BR LSTM whose output is its last input channel (r), unchanged."""

    input_size, window = 4, 120

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., -1] * self.scale


def _resp_derivative(f_hz: float = 0.25) -> np.ndarray:
    return np.append(np.diff(np.sin(2 * np.pi * f_hz * np.arange(N) / FS)), 0.0)


def test_reconditioned_keeps_the_breathing_band_that_the_hr_chain_removes():
    est = estimates_for(N)
    derivative = _resp_derivative()
    resp = np.sin(2 * np.pi * 0.25 * np.arange(N) / FS)
    br = reconditioned(est, derivative, lam=BR_DETREND_LAMBDA, band=BR_BAND)
    hr = reconditioned(est, derivative)  # the release's HR chain: lambda 50, 0.7-2.5 Hz
    core = slice(90, -90)
    assert np.corrcoef(br.pulse_conditioned[core], resp[core])[0, 1] > 0.98
    # measured: the HR chain keeps 6 % of the breathing's amplitude, the BR chain all of it
    assert np.std(hr.pulse_conditioned[core]) < 0.1 * np.std(br.pulse_conditioned[core])
    assert br.params["band"] == BR_BAND and br.params["lam"] == BR_DETREND_LAMBDA
    np.testing.assert_array_equal(br.raw, est.raw)
    assert br.conditioned.shape == (N, 3)
    with pytest.raises(ValueError, match="derivative has 10 samples"):
        reconditioned(est, np.zeros(10))


def test_no_breathing_network_is_recorded_and_read_back_as_none(tmp_path):
    assert load_br_model(tmp_path)["br_model"] == "none"  # a run from before br_model
    save_br_model(tmp_path, "none")
    assert load_br_resp(tmp_path) is None
    assert breathing_methods(tmp_path, ["a"]) == {}
    with pytest.raises(ValueError, match="br_model must be one of"):
        save_br_model(tmp_path, "lstm")
    with pytest.raises(ValueError, match="resp must be given"):
        save_br_model(tmp_path, "mttscan")


def test_br_artifacts_flow_from_02_through_05_to_06(tmp_path):
    derivative = _resp_derivative()
    save_br_model(tmp_path, "mttscan", {"a": derivative}, {"val_br_mae": 1.5})
    assert load_br_model(tmp_path)["label"] == "MTTS-CAN (resp)"
    np.testing.assert_array_equal(load_br_resp(tmp_path)["a"], derivative)
    # 05: BR-band inputs [n_R, n_G, n_B, r] and the BR LSTM's output per test clip
    inputs = breathing_estimates({"a": estimates_for(N), "b": estimates_for(N)},
                                 load_br_resp(tmp_path))
    assert list(inputs) == ["a"] and inputs["a"].params["band"] == BR_BAND
    assert not has_br_denoised(tmp_path, "a")
    out = denoise_br_clips(PassLast(), inputs, ["a"], run_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(load_br_denoised(tmp_path, "a"), out["a"])
    with pytest.raises(KeyError, match="no corruption estimates"):
        breathing_estimates({}, {"a": derivative})
    # 06: both methods, evaluated as BR windows
    methods = breathing_methods(tmp_path, ["a"])
    assert sorted(methods["a"]) == ["MTTS-CAN (resp)", "MTTS-CAN (resp) + BR LSTM"]
    signals = add_breathing([_clip_signals("a", "clean")], methods)
    assert set(signals[0].pulse) == {"perfect", "wrong"}  # HR methods unchanged
    br = evaluate_methods(signals, window_s=10.0, br_window_s=20.0).br
    errors = br.groupby("method")["abs_error"].agg(["mean", "size"])
    # the breathing network's respiration is the perfect 15 breaths/min sinusoid: n = 1 window
    assert errors.loc["MTTS-CAN (resp)", "mean"] < 0.5
    assert errors.loc["MTTS-CAN (resp) + BR LSTM", "mean"] < 0.5
    assert errors.loc["MTTS-CAN (resp)", "size"] == 1
    with pytest.raises(ValueError, match="already has breathing methods"):
        add_breathing(signals, methods)
    with pytest.raises(ValueError, match="samples for 600 frames"):
        add_breathing([_clip_signals("a", "clean")], {"a": {"x": np.zeros(5)}})


def _preprocessed(clip_id: str, seed: int, n: int = 390) -> SimpleNamespace:
    """A 13 s clip (a breathing rate needs one cycle at 0.08 Hz, 12.5 s) of random 36 x 36 inputs
    with pulse (72 bpm) and respiration (15 /min)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    bvp, resp = np.sin(2 * np.pi * 1.2 * t), np.sin(2 * np.pi * 0.25 * t)
    return SimpleNamespace(
        clip_id=clip_id, fps=FS, frame_times=t, bvp=bvp, resp=resp,
        motion=rng.standard_normal((n, 36, 36, 3)).astype(np.float32),
        appearance=rng.standard_normal((n, 36, 36, 3)).astype(np.float32),
        labels=np.append(np.diff(bvp), 0.0).astype(np.float32),
        resp_labels=np.append(np.diff(resp), 0.0).astype(np.float32),
    )


def test_train_br_model_trains_mttscan_with_both_labels_and_records_its_stop(tmp_path):
    splits = {"train": ["a"], "val": ["b"], "test": []}
    study = SimpleNamespace(clip_ids=lambda split: splits[split])
    preprocessed = {"a": _preprocessed("a", 0), "b": _preprocessed("b", 1)}
    base = TrainConfig(epochs=1, batch_size=2, chunk_length=30, lr=1e-3, scheduler="none",
                       progress=False, device="cpu", seed=0)
    config = br_config(base, tmp_path, epochs=2, patience=1)
    assert (config.model, config.monitor, config.patience) == ("mttscan", "val_loss", 1)
    assert config.checkpoint_dir == str(tmp_path / "artifacts" / "02_train_tscan" / "br_model")
    result = train_br_model(study, preprocessed, config)
    summary = training_summary(result)
    assert summary["monitor"] == "val_loss" and summary["best_epoch"] in (1, 2)
    assert 0 <= summary["val_br_mae"] < 30 and 0 <= summary["val_hr_mae"] < 110
    assert summary["stopped_epoch"] == len(result.history) <= 2
    model = load_model(result.best_path).model
    resp = predict_resp(model, preprocessed, progress=False)
    assert sorted(resp) == ["a", "b"] and resp["a"].shape == (390,)
    assert np.isfinite(resp["a"]).all()
    with pytest.raises(ValueError, match="config.model must be one of"):
        train_br_model(study, preprocessed, base)
    splits["val"] = []
    with pytest.raises(ValueError, match="no validation clips"):
        train_br_model(study, preprocessed, config)

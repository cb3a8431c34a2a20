"""The LSTM denoiser stage (rppg_lib.denoiser): 30 Hz inputs and targets, windows and stitching,
inference at the clip's frame times, training with the suite's loop, the channel ablation on a
problem only the corruption channels can solve, the released HR LSTM through the same API, and
the inverse-attention vs attention-region correlation helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matfiles import load_mat
from torch import nn

from rppg_lib.constants import BR_BAND, BR_DETREND_LAMBDA
from rppg_lib.denoiser import (
    NETWORK_LABEL,
    corruption_correlation,
    denoise,
    denoise_signals,
    denoiser_dataset,
    denoiser_inputs,
    denoiser_target,
    denoiser_windows,
    evaluate_denoiser,
    prepare_clip,
    region_correlations,
    region_means,
    run_ablation,
    to_frame_rate,
    to_lstm_rate,
    train_denoiser,
)
from rppg_lib.inverse_attention import CorruptionEstimates, condition_signal, reconditioned
from rppg_lib.signals import normalize_max_abs
from rppg_lib.training import model_from_checkpoint, preset
from rppg_lib.weights import load_keras_lstm
from rppg_lib.windows import stitch_windows

torch.set_num_threads(1)


def _estimates(noise: np.ndarray, pulse: np.ndarray, fs: float) -> CorruptionEstimates:
    """CorruptionEstimates holding given conditioned signals (the LSTM reads only those)."""
    return CorruptionEstimates(
        raw=noise, conditioned=noise, pulse_raw=pulse, pulse_conditioned=pulse, fs=fs,
        inverse_masks=np.zeros((len(pulse), 1, 1), np.float32), params={},
    )


def _random_estimates(n: int, fs: float, seed: int = 0) -> CorruptionEstimates:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    noise = np.stack([np.sin(2 * np.pi * f * t) for f in (0.8, 1.3, 2.1)], axis=1)
    noise = noise * np.array([2.0, 0.5, 3.0]) + 0.1 * rng.standard_normal((n, 3))
    return _estimates(noise, 4.0 * np.sin(2 * np.pi * 1.1 * t + 0.4), fs)


class PassPulse(nn.Module):
    """A stand-in for the LSTM whose output is its last input channel (the pulse), unchanged."""

    def __init__(self, input_size: int = 4, window: int = 60) -> None:
        super().__init__()
        self.input_size, self.window = input_size, window
        self.scale = nn.Parameter(torch.ones(()))  # gives the module a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., -1] * self.scale


# --- known answers: windows, stitching, resampling, normalisation -----------------------------


def test_windows_cover_the_tail_and_average_stitching_restores_the_signal():
    x = np.random.default_rng(0).standard_normal((200, 4))
    windows, _ = denoiser_windows(x)  # starts 0, 30, ..., 120 whole; 150 padded past the end
    assert windows.shape == (6, 60, 4) and windows.dtype == np.float32
    np.testing.assert_array_equal(windows[2], x[60:120].astype(np.float32))
    np.testing.assert_array_equal(windows[5, :50], x[150:].astype(np.float32))
    assert not windows[5, 50:].any()  # the padding
    assert denoiser_windows(x, tail="drop")[0].shape == (5, 60, 4)
    np.testing.assert_allclose(stitch_windows(windows, 30, length=200), x, atol=1e-6)


def test_denoise_signals_average_keeps_every_sample_release_zeros_the_tail():
    x = np.random.default_rng(1).standard_normal((200, 4))
    out = denoise_signals(PassPulse(), x)  # the pass-through model: output = pulse channel
    assert out.shape == (200,)
    np.testing.assert_allclose(out, x[:, 3], atol=1e-6)  # tail included
    # release: 5 windows (tail dropped), the 5th dropped too: 3 * 30 + 60 = 150 samples written
    rel = denoise_signals(PassPulse(), x, stitch="release")
    np.testing.assert_allclose(rel[:150], x[:150, 3], atol=1e-6)
    assert not rel[150:].any()


def test_resampling_25_to_30_hz_and_back_keeps_a_sinusoid():
    fs, n = 25.0, 500
    t = np.arange(n) / fs
    x = np.sin(2 * np.pi * 1.2 * t + 0.3)
    y = to_lstm_rate(x, fs)
    assert y.shape == (599,)  # j / 30 s for j / 30 <= 499 / 25 = 19.96 s
    t30 = np.arange(599) / 30.0
    assert np.abs(y - np.sin(2 * np.pi * 1.2 * t30 + 0.3)).max() < 1e-3  # measured 4.9e-5
    back = to_frame_rate(y, fs, n)
    assert back.shape == (n,)
    assert np.abs(back - x).max() < 1e-2  # measured 5e-4, the last (extrapolated) frame included
    np.testing.assert_array_equal(to_lstm_rate(x, 30.0), x)  # 30 Hz: untouched


def test_inputs_are_resampled_and_max_abs_normalised_per_channel():
    est = _random_estimates(500, 25.0)
    inputs = denoiser_inputs(est)
    assert inputs.shape == (599, 4)
    np.testing.assert_allclose(np.abs(inputs).max(axis=0), 1.0, rtol=0, atol=1e-12)
    pulse30 = to_lstm_rate(est.pulse_conditioned, 25.0)
    np.testing.assert_allclose(inputs[:, 3], pulse30 / np.abs(pulse30).max(), atol=1e-12)
    red30 = to_lstm_rate(est.conditioned[:, 0], 25.0)
    np.testing.assert_allclose(inputs[:, 0], red30 / np.abs(red30).max(), atol=1e-12)
    only = denoiser_inputs(est, "pulse")
    np.testing.assert_array_equal(only, inputs[:, 3:])


def test_target_removes_baseline_and_keeps_the_waveform():
    fs = 25.0
    t = np.arange(750) / fs
    pulse = np.sin(2 * np.pi * 1.3 * t) + 0.4 * np.sin(2 * np.pi * 2.6 * t + 1.0)  # + harmonic
    wave = 5.0 + 0.3 * t + 0.5 * np.sin(2 * np.pi * 0.1 * t) + pulse  # offset, drift, breathing
    target = denoiser_target(wave, fs)
    assert target.shape == (899,)
    assert abs(np.abs(target).max() - 1.0) < 1e-12 and abs(target.mean()) < 0.01
    expected = to_lstm_rate(pulse, fs)
    assert np.corrcoef(target[30:-30], expected[30:-30])[0, 1] > 0.99
    conditioned = denoiser_target(wave, fs, target_filter="condition")
    np.testing.assert_allclose(
        conditioned, normalize_max_abs(to_lstm_rate(condition_signal(wave, fs), fs)), atol=1e-12
    )


def test_denoise_returns_the_pulse_at_the_clip_frame_times():
    est = _random_estimates(500, 25.0)
    out = denoise(PassPulse(), est)  # 25 -> 30 Hz, pass-through, stitched, 30 -> 25 Hz
    assert out.shape == (500,)
    expected = est.pulse_conditioned / np.abs(to_lstm_rate(est.pulse_conditioned, 25.0)).max()
    assert np.abs(out - expected).max() < 1e-2
    single = denoise(PassPulse(input_size=1), est)  # channels inferred from input_size = 1
    np.testing.assert_allclose(single, out, atol=1e-6)


# --- bad input ---------------------------------------------------------------------------------


def test_waveform_of_another_length_is_refused_naming_both_lengths():
    est = _random_estimates(300, 30.0)
    with pytest.raises(ValueError, match=r"clip 7: the waveform has 299 samples .* 300 frames"):
        prepare_clip(est, np.zeros(299), name="clip 7")


def test_clip_shorter_than_one_window_is_refused():
    with pytest.raises(ValueError, match="50 samples at 30 Hz, fewer than one window of 60"):
        prepare_clip(_random_estimates(50, 30.0), np.sin(np.arange(50.0)))
    with pytest.raises(ValueError, match="fewer than one window"):
        denoise(PassPulse(), _random_estimates(50, 30.0))


def test_nans_are_refused():
    est = _random_estimates(300, 30.0)
    pulse = est.pulse_conditioned.copy()
    pulse[5] = np.nan
    with pytest.raises(ValueError, match=r"pulse_conditioned contains a non-finite value: nan at"):
        denoiser_inputs(_estimates(est.conditioned, pulse, 30.0))
    wave = np.sin(np.arange(300.0))
    wave[10] = np.nan
    with pytest.raises(ValueError, match="waveform contains a non-finite value"):
        prepare_clip(est, wave)


def test_unknown_options_are_refused():
    est = _random_estimates(300, 30.0)
    with pytest.raises(ValueError, match=r"channels must be one of \('rgb\+pulse', 'pulse'\)"):
        denoiser_inputs(est, "rgb")
    with pytest.raises(ValueError, match="target_filter must be one of"):
        denoiser_target(np.sin(np.arange(300.0)), 30.0, target_filter="bandpass")
    with pytest.raises(ValueError, match="stitch must be one of"):
        denoise(PassPulse(), est, stitch="overwrite")
    with pytest.raises(ValueError, match="channels = 'pulse' gives 1 inputs per step but the "
                       "model takes input_size = 4"):
        denoise(PassPulse(), est, channels="pulse")
    with pytest.raises(ValueError, match="hop = 61 exceeds the window of 60"):
        denoise(PassPulse(), est, hop=61)
    with pytest.raises(ValueError, match="must be a CorruptionEstimates"):
        denoise(PassPulse(), est.conditioned)


def test_training_refuses_contradicting_config_and_too_short_validation():
    t = np.arange(300) / 30.0
    item = (_random_estimates(300, 30.0), np.sin(2 * np.pi * 1.2 * t))
    config = preset("lstm", epochs=1, model_kwargs={"input_size": 4}, progress=False)
    with pytest.raises(ValueError, match=r"model_kwargs\['input_size'\] = 4 contradicts "
                       "channels = 'pulse'"):
        train_denoiser([item], config=config, channels="pulse")
    with pytest.raises(ValueError, match="val item 0 lasts 10 s, shorter than hr_window_s = 30"):
        train_denoiser([item], [item], preset("lstm", epochs=1, progress=False))
    with pytest.raises(ValueError, match="config.model must be 'lstm'"):
        train_denoiser([item], config=preset("toolbox"))


def test_dataset_windows_stay_inside_each_clip():
    t = np.arange(100) / 30.0
    clips = [
        prepare_clip(_random_estimates(n, 30.0, seed=n), np.sin(2 * np.pi * 1.2 * t[:n]),
                     name=f"c{n}")
        for n in (100, 90)
    ]
    data = denoiser_dataset(clips)
    # clip of 100: starts 0, 30 and 40 (aligned with its end); clip of 90: 0 and 30
    assert [start for _, start in data.index] == [0, 30, 40, 0, 30]
    x, y = data[2]
    np.testing.assert_array_equal(x.numpy(), clips[0].inputs[40:100])
    np.testing.assert_array_equal(y.numpy(), clips[0].target[40:100])


# --- training: checkpoints round-trip; the ablation -------------------------------------------


FS = 30.0


def _flicker_item(rng: np.random.Generator, seconds: float = 12.0):
    """A clip where only the corruption channels tell the pulse from the flicker.

    The pulse and an in-band flicker of about the same amplitude are sinusoids at about 60 and
    96 /min, which one is the pulse drawn per clip; the pulse channel carries their sum, the R,
    G, B channels the flicker (scaled, plus noise). From the pulse channel alone the two are
    indistinguishable; with the R, G, B channels the flicker can be subtracted.
    """
    t = np.arange(int(seconds * FS)) / FS
    f_pulse, f_flicker = (1.0, 1.6) if rng.random() < 0.5 else (1.6, 1.0)
    f_pulse += rng.uniform(-0.05, 0.05)
    f_flicker += rng.uniform(-0.05, 0.05)
    pulse = np.sin(2 * np.pi * f_pulse * t + rng.uniform(0, 2 * np.pi))
    flicker = rng.uniform(0.8, 1.25) * np.sin(2 * np.pi * f_flicker * t + rng.uniform(0, 2 * np.pi))
    noise = flicker[:, None] * np.array([1.0, 0.8, 0.6]) + 0.05 * rng.standard_normal((t.size, 3))
    return _estimates(noise, pulse + flicker, FS), pulse


def test_checkpoint_rebuilds_the_trained_denoiser(tmp_path):
    rng = np.random.default_rng(3)
    items = [_flicker_item(rng) for _ in range(2)]
    config = preset("lstm", epochs=1, model_kwargs={"hidden_size": 8}, progress=False,
                    device="cpu", checkpoint_dir=str(tmp_path))
    run = train_denoiser(items, items, config, hr_window_s=12.0)
    assert run.config.model_kwargs == {"hidden_size": 8, "input_size": 4, "window": 60}
    assert list(run.history.columns[:2]) == ["epoch", "train_loss"]
    assert {"val_loss", "val_hr_mae", "val_snr_db", "val_wmae"} <= set(run.history.columns)
    assert run.result.monitor == "val_snr_db"  # smooth in the weights, unlike val_hr_mae
    model, _ = model_from_checkpoint(run.result.last_path)
    np.testing.assert_allclose(denoise(model, items[0][0]), denoise(run.model, items[0][0]),
                               atol=1e-6)


@pytest.mark.slow
def test_corruption_channels_beat_the_pulse_only_ablation():
    """The rgb+pulse LSTM removes the flicker; the pulse-only LSTM, trained the same way, cannot.

    Measured (seed 0): HR MAE 0.0 bpm vs 28.0 bpm (network's own pulse: 15.0), WMAE 0.15 vs 0.45;
    seeds 1 and 2 give 0.5 vs 17.7 and 0.2 vs 29.8 bpm.
    """
    rng = np.random.default_rng(0)
    train_items = [_flicker_item(rng) for _ in range(32)]  # 32 clips x 11 windows
    val_items = [_flicker_item(rng) for _ in range(3)]
    test_items = [_flicker_item(rng) for _ in range(8)]
    config = preset(
        "lstm", epochs=36, lr=0.02, max_grad_norm=1.0, model_kwargs={"hidden_size": 16},
        progress=False, device="cpu", seed=0,
    )
    result = run_ablation(train_items, test_items, config, val_items=val_items, window_s=12.0)
    summary = result.summary.set_index("method")
    full, ablated = summary.loc["LSTM (rgb+pulse)"], summary.loc["LSTM (pulse)"]
    assert summary.loc[NETWORK_LABEL, "n"] == 8 and full["n"] == ablated["n"] == 8
    assert full["mae"] < 3.0, summary
    assert ablated["mae"] > full["mae"] + 10.0, summary
    assert full["wmae"] < 0.7 * ablated["wmae"], summary
    assert full["snr_db"] > ablated["snr_db"] + 5.0, summary
    for channels, size in (("rgb+pulse", 4), ("pulse", 1)):
        run = result.runs[channels]
        assert run.model.input_size == size and len(run.result.history) == 36
        assert np.isfinite(run.history["val_hr_mae"]).all()


# --- the released HR LSTM through the denoise API ---------------------------------------------


@pytest.fixture(scope="module")
def release_sample(bod_reference):
    xtest = load_mat(bod_reference / "sample_LSTM_input_data.mat", ["Xtest"])["Xtest"]
    red = bod_reference / "RGB_noise_estimates_red" / "sample_noise.mat"
    gt = load_mat(red, ["bp_gt_resamp"])["bp_gt_resamp"].ravel()  # (1031,) at 30 Hz
    model = load_keras_lstm(bod_reference / "model_denoising_HR_LSTM.h5")
    return xtest.astype(np.float64), gt, model


@pytest.mark.reference
def test_released_lstm_through_denoise_signals(release_sample):
    xtest, gt, model = release_sample
    # Xtest holds consecutive windows (hop 30) of one 30 Hz signal: rebuild it, cut it again
    signals = stitch_windows(xtest, 30, mode="overwrite")
    assert signals.shape == (1020, 4)
    np.testing.assert_array_equal(denoiser_windows(signals, tail="error")[0],
                                  xtest.astype(np.float32))
    out = denoise_signals(model, signals)
    with torch.no_grad():
        direct = model(torch.from_numpy(xtest.astype(np.float32))).numpy()
    np.testing.assert_allclose(out, stitch_windows(direct, 30), atol=1e-6)
    r = np.corrcoef(out, gt[:1020])[0, 1]
    assert r >= 0.95, f"r = {r:.3f}"  # measured 0.974
    release = denoise_signals(model, signals, stitch="release")
    assert not release[990:].any()  # the release dropped the last window: 32 x 30 + 30 written
    assert np.corrcoef(release[:990], gt[:990])[0, 1] >= 0.95
    # a length that leaves a 15-sample tail: a zero-padded window covers it. Only the samples
    # that window touches change; they are returned (less accurate: r 0.58 over them, against
    # 0.96 from whole windows), not dropped.
    tail = denoise_signals(model, signals[:1005])
    assert tail.shape == (1005,)
    np.testing.assert_allclose(tail[:960], out[:960], atol=1e-6)
    assert np.abs(tail[960:]).max() <= 1.0 and np.abs(tail[990:] - out[990:1005]).max() > 0.01
    assert np.corrcoef(tail, gt[:1005])[0, 1] >= 0.95


# --- inverse-attention vs attention region ----------------------------------------------------


def _two_region_clip(n: int = 300, fs: float = FS):
    """Masks with a 4x4 'face' (attention 0.9) in an 8x8 frame (background 0.1); the face has a
    pulse, both regions share the illumination gain (per channel)."""
    t = np.arange(n) / fs
    gain = 1.0 + 0.05 * np.stack([np.sin(2 * np.pi * f * t) for f in (1.3, 1.7, 0.9)], axis=1)
    pulse = 0.05 * np.sin(2 * np.pi * 1.1 * t)
    face = np.zeros((8, 8), bool)
    face[2:6, 2:6] = True
    masks = np.where(face, 0.9, 0.1)[None].repeat(n, axis=0)
    frames = np.empty((n, 8, 8, 3))
    frames[:, ~face, :] = (0.4 * gain)[:, None, :]
    frames[:, face, :] = (0.6 * gain * (1.0 + pulse[:, None]))[:, None, :]
    return masks, frames, gain, pulse


def test_region_means_split_background_and_face():
    masks, frames, gain, pulse = _two_region_clip()
    means = region_means(masks, frames)
    # binary inverse mask = the 48 background pixels; normalised attention = the 16 face pixels;
    # both summed over all 64 pixels
    np.testing.assert_allclose(means.inverse, 0.4 * gain * 48 / 64, atol=1e-12)
    np.testing.assert_allclose(means.attention, 0.6 * gain * (1 + pulse[:, None]) * 16 / 64,
                               atol=1e-12)


def test_corruption_correlation_is_affine_invariant_and_sign_free():
    t = np.arange(300) / FS
    injected = 1.0 + 0.05 * np.sin(2 * np.pi * 1.3 * t) + 0.02 * np.sin(2 * np.pi * 0.9 * t)
    one = pytest.approx(1.0, abs=1e-12)
    assert corruption_correlation(7.0 + 3.0 * injected, injected, FS) == one
    assert corruption_correlation(-2.0 * injected, injected, FS) == one
    other = np.random.default_rng(0).standard_normal(300)
    assert corruption_correlation(other, injected, FS) < 0.2
    with pytest.raises(ValueError, match="estimate and injected must have the same length"):
        corruption_correlation(injected[:-1], injected, FS)


def test_inverse_region_tracks_the_injected_corruption_better():
    masks, frames, gain, _ = _two_region_clip()
    table = region_correlations(masks, frames, gain, FS)
    assert list(table["channel"]) == ["red", "green", "blue"]
    assert (table["r_inverse"] > 0.999).all()
    assert (table["r_attention"] < 0.9).all()  # the face also carries the pulse


# --- the BR LSTM: target "resp" -----------------------------------------------------------------


def _breathing_item(rng: np.random.Generator, seconds: float = 20.0):
    """(BR-conditioned estimates, respiration): the network's respiration output r carries the
    breathing plus a slow flicker in the BR band, which the R, G, B estimates carry too."""
    t = np.arange(int(seconds * FS)) / FS
    f_resp, f_flicker = (0.2, 0.37) if rng.random() < 0.5 else (0.37, 0.2)
    f_resp += rng.uniform(-0.02, 0.02)
    resp = np.sin(2 * np.pi * f_resp * t + rng.uniform(0, 2 * np.pi))
    flicker = rng.uniform(1.1, 1.4) * np.sin(2 * np.pi * f_flicker * t + rng.uniform(0, 6.3))
    raw = flicker[:, None] * np.array([1.0, 0.8, 0.6]) + 0.05 * rng.standard_normal((t.size, 3))
    derivative = np.append(np.diff(resp + flicker), 0.0)
    base = _estimates(raw, np.zeros_like(t), FS)
    return reconditioned(base, derivative, lam=BR_DETREND_LAMBDA, band=BR_BAND), resp


def test_br_lstm_learns_the_respiration_under_a_flicker():
    """Measured (seed 0; 16 training clips of 20 s, 10 epochs, about 15 s on one CPU thread): BR
    MAE 0.0 breaths/min for the BR LSTM against 3.6 for its input r, over n = 6 test clips of
    one 20 s window each (small n: the margin, not the exact numbers, is the claim)."""
    rng = np.random.default_rng(0)
    train_items = [_breathing_item(rng) for _ in range(16)]
    val_items = [_breathing_item(rng) for _ in range(2)]
    test_items = [_breathing_item(rng) for _ in range(6)]
    config = preset("lstm", epochs=10, lr=0.003, max_grad_norm=1.0, batch_size=8,
                    model_kwargs={"hidden_size": 16}, progress=False, device="cpu", seed=0)
    run = train_denoiser(train_items, val_items, config, hr_window_s=20.0, target="resp")
    assert run.target == "resp" and run.model.bidirectional_decoder
    assert run.result.monitor == "val_loss" and "val_br_mae" in run.history.columns
    assert "val_hr_mae" not in run.history.columns
    rows = evaluate_denoiser(run.model, test_items, window_s=20.0, target="resp")
    errors = rows.groupby("method")["abs_error"].agg(["mean", "size"])
    lstm, network = errors.loc["LSTM (rgb+pulse)"], errors.loc[NETWORK_LABEL]
    assert lstm["size"] == network["size"] == 6
    assert lstm["mean"] < 1.5, errors
    assert lstm["mean"] < network["mean"] - 2.0, errors

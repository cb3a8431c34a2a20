"""Per-clip glue of notebooks 04 and 05 (rppg_lib.steps.inverse_attention_noise and
rppg_lib.steps.lstm_denoising) and the storage of corruption estimates
(rppg_lib.inverse_attention.save_estimates / load_estimates): known answers on constructed clips."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from study_clips import FS, estimates_for, gt_clip, two_region_clip
from torch import nn

from rppg_lib.attention import AttentionMasks
from rppg_lib.datasets import Clip
from rppg_lib.inverse_attention import (
    condition_signal,
    corruption_estimates,
    load_estimates,
    save_estimates,
)
from rppg_lib.signals import normalize_max_abs
from rppg_lib.steps.inverse_attention_noise import (
    estimate_clips,
    load_clip_estimates,
    mask_variant_table,
    region_correlation_table,
    trained_network,
)
from rppg_lib.steps.lstm_denoising import (
    denoise_clips,
    denoiser_items,
    evaluate_denoisers,
    load_denoised,
    save_denoised,
    torch_threads,
    with_injected_light,
)
from rppg_lib.steps.notebook_plots import plot_inverse_masks
from rppg_lib.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint


def test_estimates_round_trip_through_npz(tmp_path):
    masks, frames, _, derivative = two_region_clip()
    est = corruption_estimates(masks, frames, derivative, FS, kind="binary", threshold=0.2)
    path = save_estimates(tmp_path / "e.npz", est)
    back = load_estimates(path)
    for name in ("raw", "conditioned", "pulse_raw", "pulse_conditioned", "inverse_masks"):
        np.testing.assert_array_equal(getattr(back, name), getattr(est, name))
    assert back.fs == FS and back.params == est.params and back.params["band"] == (0.7, 2.5)
    assert back.inverse_masks.dtype == np.float32
    with pytest.raises(FileNotFoundError, match="corruption-estimates file not found"):
        load_estimates(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", raw=est.raw)
    with pytest.raises(ValueError, match="is not a corruption-estimates file"):
        load_estimates(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="estimates must be a CorruptionEstimates"):
        save_estimates(tmp_path / "x.npz", {"raw": est.raw})


def _attention(masks: np.ndarray, derivative: np.ndarray, clip_id: str) -> SimpleNamespace:
    n = masks.shape[0]
    gates = AttentionMasks(gate1=masks, gate2=np.zeros((n, 3, 3)), fps=FS, clip_id=clip_id)
    return SimpleNamespace(masks=gates, pulse_derivative=derivative)


def test_estimate_clips_uses_each_clip_own_rate_and_saves(tmp_path):
    masks, frames, _, derivative = two_region_clip()
    attention = {"a": _attention(masks, derivative, "a"), "b": _attention(masks, derivative, "b")}
    pre = {"a": SimpleNamespace(mask_frames=frames, fps=FS),
           "b": SimpleNamespace(mask_frames=frames, fps=25.0)}
    out = estimate_clips(attention, pre, run_dir=tmp_path, progress=False)
    assert [out["a"].fs, out["b"].fs] == [FS, 25.0]
    # float16 masks as stored by notebook 03: the estimates are those of the stored masks
    expected = corruption_estimates(masks.astype(np.float16), frames, derivative, 25.0)
    np.testing.assert_allclose(out["b"].conditioned, expected.conditioned, atol=1e-12)
    np.testing.assert_array_equal(load_clip_estimates(tmp_path, "b").raw, out["b"].raw)
    with pytest.raises(KeyError, match="no preprocessed frames"):
        estimate_clips({"c": attention["a"]}, pre, progress=False)


def _illuminated_clip(clip_id: str, gain: np.ndarray) -> Clip:
    frames = np.zeros((gain.shape[0], 4, 4, 3), dtype=np.uint8)
    return Clip.from_frames(frames, FS, clip_id=clip_id, subject="s01", task="illumination",
                            extra={"illumination": gain})


def test_region_table_and_claim_prefer_the_inverse_region():
    masks, frames, gain, derivative = two_region_clip()
    clip = _illuminated_clip("s01_illumination", gain)
    table = region_correlation_table(
        [clip], {clip.clip_id: _attention(masks, derivative, clip.clip_id)},
        {clip.clip_id: SimpleNamespace(mask_frames=frames, fps=FS)},
    )
    assert list(table.columns) == ["clip_id", "subject", "scenario", "channel", "r_inverse",
                                   "r_attention"]
    assert (table["r_inverse"] > 0.999).all() and (table["r_attention"] < 0.9).all()
    no_light = Clip.from_frames(np.zeros((10, 4, 4, 3), np.uint8), FS, clip_id="x")
    with pytest.raises(ValueError, match="carries no injected illumination"):
        region_correlation_table([no_light], {}, {})


def test_inverse_mask_figure_shows_crop_attention_and_inverse_per_frame():
    masks, frames, _, derivative = two_region_clip(60)
    est = corruption_estimates(masks, frames, derivative, FS)
    fig = plot_inverse_masks(frames, masks, est.inverse_masks, FS, n=3)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 3 * 3 and len(fig.axes) == 3 * 3 + 2  # and two colour bars
    assert [ax.get_title() for ax in images[:3]] == ["0.0 s", "1.0 s", "2.0 s"]
    # background: 48 of the 64 cells
    assert fig.get_suptitle() == "inverse region: 75 % of the grid on average"
    with pytest.raises(ValueError, match="differ in frames: 59, 60, 60"):
        plot_inverse_masks(frames[1:], masks, est.inverse_masks, FS)


def test_mask_variant_table_describes_each_mask_option():
    masks, frames, gain, derivative = two_region_clip()
    clip = _illuminated_clip("s01_illumination", gain)
    args = ([clip], {clip.clip_id: _attention(masks, derivative, clip.clip_id)},
            {clip.clip_id: SimpleNamespace(mask_frames=frames, fps=FS)})
    table = mask_variant_table(*args)
    assert list(zip(table["kind"], table["mode"], strict=True)) == [
        ("binary", "all_pixels"), ("binary", "inverse_pixels"), ("continuous", "all_pixels"),
        ("continuous", "inverse_pixels")]
    first = region_correlation_table(*args)
    assert table.loc[0, "r_inverse"] == pytest.approx(first["r_inverse"].mean())
    assert table.loc[0, "difference"] == pytest.approx(
        first["r_inverse"].mean() - first["r_attention"].mean())
    # the background alone carries only the light, in every variant; no verdict column
    assert (table["r_inverse"] > 0.99).all() and (table["difference"] > 0.1).all()
    assert "verdict" not in table and (table["n_clips"] == 1).all()


def test_denoiser_items_pair_estimates_with_ground_truth():
    clip, est = gt_clip(300), estimates_for(300)
    (got_est, wave), = denoiser_items({"c1": est}, [clip])
    assert got_est is est
    np.testing.assert_allclose(wave, clip.bvp_at_frames())
    with pytest.raises(KeyError, match="no corruption estimates"):
        denoiser_items({}, [clip])
    with pytest.raises(ValueError, match="300 ground-truth samples for 200 estimated frames"):
        denoiser_items({"c1": estimates_for(200)}, [clip])


def test_with_injected_light_replaces_only_the_corruption_estimates():
    masks, frames, gain, derivative = two_region_clip(300)
    est = corruption_estimates(masks, frames, derivative, FS, lam=20.0)
    clip = _illuminated_clip("c1", gain)
    ideal = with_injected_light({"c1": est}, [clip])["c1"]
    # the injected gain through the estimate's own chain (its lam of 20, not the default 50)
    np.testing.assert_allclose(ideal.conditioned, condition_signal(gain, FS, lam=20.0))
    assert not np.allclose(ideal.conditioned, condition_signal(gain, FS, lam=50.0))
    np.testing.assert_array_equal(ideal.raw, gain)
    np.testing.assert_array_equal(ideal.pulse_conditioned, est.pulse_conditioned)
    assert ideal.params["corruption_source"] == "injected illumination"
    assert "corruption_source" not in est.params  # the input is left as it was
    with pytest.raises(KeyError, match="no corruption estimates"):
        with_injected_light({}, [clip])
    with pytest.raises(ValueError, match="carries no injected illumination"):
        with_injected_light({"x": est}, [Clip.from_frames(frames[:, :4, :4].astype(np.uint8), FS,
                                                          clip_id="x")])
    with pytest.raises(ValueError, match=r"shape \(200, 3\) for estimates of shape \(300, 3\)"):
        with_injected_light({"c1": est}, [_illuminated_clip("c1", gain[:200])])


def test_denoised_round_trip_and_bad_keys(tmp_path):
    signals = {"rgb_pulse": np.arange(5.0), "pulse": np.ones(5)}
    save_denoised(tmp_path, "c1", signals)
    back = load_denoised(tmp_path, "c1")
    assert set(back) == {"rgb_pulse", "pulse"}
    np.testing.assert_array_equal(back["rgb_pulse"], signals["rgb_pulse"])
    with pytest.raises(ValueError, match="denoised keys must be among"):
        save_denoised(tmp_path, "c1", {"lstm": np.ones(5)})
    with pytest.raises(ValueError, match="differ in length"):
        save_denoised(tmp_path, "c1", {"rgb_pulse": np.ones(5), "pulse": np.ones(4)})


class PassPulse(nn.Module):
    """A stand-in LSTM whose output is its last input channel (the pulse), unchanged."""

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.input_size, self.window = input_size, 60
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., -1] * self.scale


def test_denoise_clips_runs_each_model_with_its_channels_and_saves(tmp_path):
    est = estimates_for(310)  # not a whole number of hops: the padded tail window is cut off
    models = {"rgb_pulse": PassPulse(4), "pulse": PassPulse(1)}
    out = denoise_clips(models, {"c1": est}, ["c1"], run_dir=tmp_path, progress=False)
    expected = normalize_max_abs(est.pulse_conditioned)  # the max-abs normalised pulse input
    for key in models:
        np.testing.assert_allclose(out["c1"][key], expected, atol=1e-6)
        np.testing.assert_array_equal(load_denoised(tmp_path, "c1")[key], out["c1"][key])
    with pytest.raises(ValueError, match="input_size = 1"):  # the pulse-only model gets 4 inputs
        denoise_clips({"rgb_pulse": PassPulse(1)}, {"c1": est}, ["c1"], progress=False)
    with pytest.raises(KeyError, match="no corruption estimates"):
        denoise_clips(models, {}, ["c1"], progress=False)


def test_evaluate_denoisers_scores_each_run_and_the_network_once():
    clip, est = gt_clip(300), estimates_for(300)  # a 72 bpm pulse and ground truth
    runs = {"LSTM a": (PassPulse(4), {"c1": est}), "LSTM b": (PassPulse(1), {"c1": est})}
    rows = evaluate_denoisers(runs, [clip], window_s=5.0)
    assert list(dict.fromkeys(rows["method"])) == ["LSTM a", "network (no LSTM)", "LSTM b"]
    assert (rows["scenario"] == "illumination").all() and (rows["clip"] == "c1").all()
    per_method = rows.groupby("method", sort=False)
    assert per_method.size().tolist() == [2, 2, 2]  # two 5 s windows of the 10 s clip each
    # the stand-in passes the pulse through: every method reads the network's 72 bpm
    for _, group in per_method:
        np.testing.assert_allclose(group["hr_estimate"], 72.0, atol=2.0)
        np.testing.assert_allclose(group["hr_reference"], 72.0, atol=2.0)
    with pytest.raises(ValueError, match="runs is empty"):
        evaluate_denoisers({}, [clip])
    with pytest.raises(KeyError, match="no corruption estimates"):
        evaluate_denoisers({"LSTM a": (PassPulse(4), {})}, [clip])


def test_trained_network_reads_the_model_of_notebook_02(tmp_path):
    folder = tmp_path / "artifacts" / "02_train_tscan"
    folder.mkdir(parents=True)
    for model, label in (("tscan", "TS-CAN"), ("mttscan", "MTTS-CAN"), ("can", "CAN")):
        checkpoint = {"format": CHECKPOINT_FORMAT, "config": {"model": model}}
        save_checkpoint(folder / "best.pt", checkpoint)
        assert trained_network(tmp_path) == label
    with pytest.raises(FileNotFoundError, match="run notebook 02_train_tscan"):
        trained_network(tmp_path / "elsewhere")


def test_torch_threads_sets_and_restores_the_thread_count():
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(before + 1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n must be"), torch_threads(0):
        pass

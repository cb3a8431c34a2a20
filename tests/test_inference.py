"""Whole-clip prediction, attention masks, the skin metric, and inference on a video file."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from rppg_lib.attention import (
    AttentionMasks,
    crop_skin_masks,
    load_masks,
    save_masks,
    skin_fraction,
    skin_on_mask_grid,
)
from rppg_lib.models import CAN, MTTSCAN, TSCAN
from rppg_lib.network_inference import (
    LoadedModel,
    br_validator,
    extract_masks,
    hr_validator,
    load_model,
    predict_clip,
    run_network,
)
from rppg_lib.plots import (
    plot_mask_kymograph,
    plot_mask_overlays,
    plot_masks_over_time,
    plot_mean_mask,
)
from rppg_lib.preprocess import NoFaceError
from rppg_lib.run.infer import infer_to_folder, register_infer_command
from rppg_lib.training import ChunkDataset, TrainConfig, build_model, train
from rppg_lib.video_inference import infer_video
from rppg_lib.video_io import write_video

torch.set_num_threads(1)
FPS = 30.0


def _clip(frames: int, seed: int = 0, size: int = 36) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    return SimpleNamespace(
        clip_id=f"random{frames}",
        fps=FPS,
        motion=rng.standard_normal((frames, size, size, 3)).astype(np.float32),
        appearance=rng.standard_normal((frames, size, size, 3)).astype(np.float32),
    )


@pytest.fixture(scope="module")
def tscan() -> TSCAN:
    torch.manual_seed(0)
    return TSCAN().eval()


def test_predict_clip_covers_every_frame_and_repeats_the_last_to_fill_a_segment(tscan):
    clip = _clip(65)
    pred = predict_clip(tscan, clip, batch_frames=20, return_masks=True)
    assert pred.pulse_derivative.shape == pred.pulse.shape == pred.frame_times.shape == (65,)
    assert pred.padded_frames == 5
    assert 42.0 <= pred.hr_bpm <= 150.0 and pred.resp is None
    # the first 60 frames are six whole segments: adding a tail does not change them
    head = predict_clip(tscan, _clip(65), batch_frames=20)  # same data: same seed
    short = SimpleNamespace(**{**vars(clip), "motion": clip.motion[:60],
                               "appearance": clip.appearance[:60]})
    np.testing.assert_allclose(
        predict_clip(tscan, short).pulse_derivative, head.pulse_derivative[:60], rtol=1e-5,
        atol=1e-6,
    )
    # the tail: the last segment completed with four copies of frame 64, outputs discarded
    x = np.concatenate([clip.motion[60:], clip.appearance[60:]], axis=-1).transpose(0, 3, 1, 2)
    x = np.concatenate([x, np.repeat(x[-1:], 5, axis=0)])
    with torch.no_grad():
        expected = tscan(torch.from_numpy(np.ascontiguousarray(x)))[:5, 0].numpy()
    np.testing.assert_allclose(pred.pulse_derivative[60:], expected, rtol=1e-5, atol=1e-6)


def test_predictions_do_not_depend_on_the_batch_size(tscan):
    clip = _clip(80, seed=1)
    a = predict_clip(tscan, clip, batch_frames=10).pulse_derivative
    b = predict_clip(tscan, clip, batch_frames=80).pulse_derivative
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch_frames = 25 must be a multiple of frame_depth"):
        predict_clip(tscan, clip, batch_frames=25)


def test_clip_shorter_than_one_segment_and_models_without_shift():
    torch.manual_seed(0)
    outputs, _, padded = run_network(TSCAN().eval(), np.zeros((7, 6, 36, 36), np.float32))
    assert outputs.shape == (7, 1) and padded == 3
    outputs, _, padded = run_network(CAN().eval(), np.zeros((7, 6, 36, 36), np.float32))
    assert outputs.shape == (7, 1) and padded == 0


def test_mttscan_prediction_has_respiration_and_breathing_rate():
    torch.manual_seed(0)
    pred = predict_clip(MTTSCAN().eval(), _clip(390))  # 13 s: one cycle at 0.08 Hz is 12.5 s
    assert pred.resp.shape == pred.resp_derivative.shape == (390,)
    assert 4.8 <= pred.br_bpm <= 30.0
    short = predict_clip(MTTSCAN().eval(), _clip(90))  # 3 s: no breathing cycle to read
    assert short.resp.shape == (90,) and short.br_bpm is None and short.hr_bpm is not None
    with pytest.raises(ValueError, match="must name each of the model's 2 output column"):
        predict_clip(MTTSCAN().eval(), _clip(30), outputs=("pulse",))


def test_masks_are_the_gate_sigmoids_of_every_frame_in_float16(tscan):
    clip = _clip(60, seed=2)  # 2 s: a heart rate needs a cycle at 0.7 Hz
    masks = predict_clip(tscan, clip, batch_frames=20, return_masks=True).masks
    assert masks.gate1.shape == (60, 34, 34) and masks.gate2.shape == (60, 15, 15)
    assert masks.gate1.dtype == np.float16 and masks.gate2.dtype == np.float16
    x = np.concatenate([clip.motion, clip.appearance], axis=-1).transpose(0, 3, 1, 2)
    with torch.no_grad():
        _, direct = tscan(torch.from_numpy(np.ascontiguousarray(x)), return_masks=True)
    np.testing.assert_allclose(masks.gate1, direct["gate1"][:, 0].numpy(), atol=1e-3)
    np.testing.assert_allclose(masks.gate2, direct["gate2"][:, 0].numpy(), atol=1e-3)
    assert 0.0 <= masks.gate1.min() and masks.gate1.max() <= 1.0
    alone = extract_masks(tscan, clip, batch_frames=60)
    np.testing.assert_array_equal(alone.gate1, masks.gate1)
    assert alone.clip_id == "random60" and alone.fps == FPS


def test_masks_round_trip_through_a_compressed_float16_file(tmp_path):
    rng = np.random.default_rng(0)
    masks = AttentionMasks(
        gate1=rng.uniform(size=(30, 34, 34)), gate2=rng.uniform(size=(30, 15, 15)), fps=25.0,
        clip_id="subject1/T1",
    )
    path = save_masks(tmp_path / "masks.npz", masks)
    back = load_masks(path)
    assert back.gate1.dtype == np.float16 and back.clip_id == "subject1/T1" and back.fps == 25.0
    np.testing.assert_array_equal(back.gate1, masks.gate1)
    np.testing.assert_array_equal(back.gate2, masks.gate2)
    assert path.stat().st_size < 30 * (34 * 34 + 15 * 15) * 2 + 2000  # at most float16 size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks.npz"]
    with pytest.raises(ValueError, match="gate1 must have shape"):
        AttentionMasks(gate1=np.zeros((3, 4)), gate2=np.zeros((3, 2, 2)), fps=30)


def test_skin_fraction_known_answers():
    skin = np.zeros((4, 4))
    skin[:, :3] = 1.0  # the left three quarters are skin
    uniform = np.ones((2, 4, 4))
    result = skin_fraction(uniform, skin)
    assert result.fraction == pytest.approx(0.75) and result.chance_mean == pytest.approx(0.75)
    assert result.lift == pytest.approx(1.0)
    left = np.zeros((1, 4, 4))
    left[0, :, :2] = 0.9
    assert skin_fraction(left, skin).fraction == pytest.approx(1.0)
    # weight 2 on skin and 1 elsewhere over a half-skin grid: 2*8 / (2*8 + 8) = 2/3
    half = np.zeros((4, 4))
    half[:2] = 1.0
    weights = np.where(half == 1, 2.0, 1.0)[None]
    assert skin_fraction(weights, half).fraction == pytest.approx(2 / 3)
    assert skin_fraction(weights, half).lift == pytest.approx(4 / 3)
    with pytest.raises(ValueError, match="must match the masks"):
        skin_fraction(uniform, np.ones((3, 3)))


def test_skin_maps_onto_the_gate_grids_as_the_network_sees_them():
    skin = np.zeros((36, 36), np.float32)
    skin[1:5, 1:5] = 1.0  # input pixels 1-4: gate-1 cells 0-3, pooled cells 0-1
    g1 = skin_on_mask_grid(skin, "gate1")
    assert g1.shape == (34, 34) and g1[:4, :4].all() and g1.sum() == 16
    g2 = skin_on_mask_grid(skin, "gate2")
    assert g2.shape == (15, 15)
    assert g2[0, 0] == 1.0 and g2.sum() == 1.0  # pooled cell (1, 1) is gate-2 cell (0, 0)


def test_crop_skin_masks_crops_with_the_boxes_and_resizes_to_the_input():
    masks = np.zeros((2, 100, 120), bool)
    masks[:, 20:60, 30:70] = True
    boxes = np.array([[30, 20, 40, 40], [10, 0, 80, 80]])
    crops = crop_skin_masks(masks, boxes, 36)
    assert crops.shape == (2, 36, 36)
    assert crops[0].min() == 1.0  # the box is all skin
    assert crops[1].mean() == pytest.approx(40 * 40 / (80 * 80), abs=0.01)
    with pytest.raises(ValueError, match=r"boxes\[1\] = \(100, 0, 80, 80\) is not inside"):
        crop_skin_masks(masks, np.array([[0, 0, 10, 10], [100, 0, 80, 80]]), 36)


def test_mask_figures_are_matplotlib_figures():
    rng = np.random.default_rng(0)
    masks = AttentionMasks(gate1=rng.uniform(size=(20, 34, 34)),
                           gate2=rng.uniform(size=(20, 15, 15)), fps=30.0)
    frames = rng.uniform(size=(20, 34, 34, 3))
    overlays = plot_mask_overlays(masks, frames, n=3)
    assert isinstance(overlays, Figure) and len(overlays.axes) == 2 * 3 + 1  # + colour bar
    assert isinstance(plot_mean_mask(masks, frames), Figure)
    assert isinstance(plot_mask_kymograph(masks, gate="gate2"), Figure)
    grid = plot_masks_over_time(masks, n=5, columns=3)  # 2 rows of 3, one panel left empty
    assert sum(len(ax.images) for ax in grid.axes) == 5
    with pytest.raises(ValueError, match="indices must be frame numbers"):
        plot_mask_overlays(masks, frames, indices=[25])


class _Echo(nn.Module):
    """Outputs pixel (0, 0) of motion channel 0: a clip can carry the answer there."""

    frame_depth = None
    img_size = 36

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x, return_masks=False):
        return x[:, 0, 0, 0][:, None] + self.unused


def _clip_carrying(derivative: np.ndarray, bvp: np.ndarray) -> SimpleNamespace:
    clip = _clip(len(bvp), size=36)
    clip.motion[:, 0, 0, 0] = derivative
    clip.bvp = bvp
    return clip


def test_hr_validator_known_answers():
    t = np.arange(600) / FPS
    bvp = np.sin(2 * np.pi * 1.2 * t)  # 72 bpm
    labels = np.append(np.diff(bvp), 0.0)
    validate = hr_validator([_clip_carrying(labels, bvp)], window_s=10, step_s=5)
    assert validate(_Echo())["val_hr_mae"] == pytest.approx(0.0, abs=0.11)
    wrong = np.append(np.diff(np.sin(2 * np.pi * 1.5 * t)), 0.0)  # 90 bpm
    validate = hr_validator([_clip_carrying(wrong, bvp)], window_s=10, step_s=5)
    assert validate(_Echo())["val_hr_mae"] == pytest.approx(18.0, abs=0.2)
    with pytest.raises(ValueError, match="has no bvp"):
        hr_validator([_clip(60)])


class _Echo2(_Echo):
    """Two outputs (pulse, respiration): pixels (0, 0) of motion channels 0 and 1."""

    def forward(self, x, return_masks=False):
        return x[:, 0:2, 0, 0] + self.unused


def test_br_validator_known_answers():
    t = np.arange(900) / FPS  # 30 s
    resp = np.sin(2 * np.pi * 0.25 * t)  # 15 breaths/min
    bvp = np.sin(2 * np.pi * 1.2 * t)
    clip = _clip_carrying(np.append(np.diff(bvp), 0.0), bvp)
    clip.resp = resp
    clip.motion[:, 0, 0, 1] = np.append(np.diff(resp), 0.0)
    assert br_validator([clip])(_Echo2())["val_br_mae"] == pytest.approx(0.0, abs=0.3)
    clip.motion[:, 0, 0, 1] = np.append(np.diff(np.sin(2 * np.pi * 0.35 * t)), 0.0)  # 21 /min
    assert br_validator([clip])(_Echo2())["val_br_mae"] == pytest.approx(6.0, abs=0.3)
    with pytest.raises(ValueError, match="has no resp"):
        br_validator([_clip(60)])
    with pytest.raises(ValueError, match="clips is empty"):
        br_validator([])


@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory) -> Path:
    """A TS-CAN checkpoint from one tiny epoch of the training loop."""
    folder = tmp_path_factory.mktemp("ckpt")
    rng = np.random.default_rng(0)
    data = ChunkDataset([(rng.standard_normal((20, 6, 36, 36)).astype(np.float32),
                          rng.standard_normal(20).astype(np.float32))], 20)
    config = TrainConfig(epochs=1, batch_size=1, chunk_length=20, progress=False,
                         checkpoint_dir=str(folder))
    return train(build_model(config), data, config).last_path


def test_load_model_recognises_checkpoints_and_toolbox_state_dicts(checkpoint_path, tmp_path):
    loaded = load_model(checkpoint_path)
    assert (loaded.kind, loaded.outputs, loaded.img_size, loaded.frame_depth) == (
        "checkpoint", ("pulse",), 36, 10)
    from rppg_lib.weights.toolbox import TOOLBOX_TSCAN_NAMES

    state = {}
    for ours, theirs in TOOLBOX_TSCAN_NAMES.items():
        for kind in ("weight", "bias"):
            state[f"module.{theirs}.{kind}"] = loaded.model.state_dict()[f"{ours}.{kind}"]
    torch.save(state, tmp_path / "toolbox.pth")
    toolbox = load_model(tmp_path / "toolbox.pth")
    assert toolbox.kind == "toolbox" and toolbox.img_size == 36
    for name, tensor in toolbox.model.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name])
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown kind"):
        load_model(tmp_path / "model.onnx")
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_model(tmp_path / "missing.pt")


class _GreenMotion(nn.Module):
    """A pulse 'network' without training: minus the mean green motion input of each frame
    (the pulse darkens the skin, so the negated intensity change follows the blood volume)."""

    frame_depth = None
    img_size = 36

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x, return_masks=False):
        return -x[:, 1].mean(dim=(1, 2))[:, None] + self.unused


@pytest.fixture(scope="module")
def synthetic_video(tmp_path_factory) -> tuple[Path, float]:
    """An 8 s clean synthetic face video (128x128, 30 fps, lossless) and its mean heart rate."""
    from rppg_lib.synthetic import generate

    clip = generate("clean", seconds=8.0, fps=FPS, size=128, seed=3)
    path = tmp_path_factory.mktemp("video") / "face.avi"
    write_video(path, clip.frames, FPS)
    return path, float(np.mean(clip.hr))


def test_infer_video_recovers_the_heart_rate_of_a_synthetic_video(synthetic_video, tmp_path):
    path, true_hr = synthetic_video
    model = LoadedModel(_GreenMotion(), "custom", ("pulse",), 36, None, "standard", "green")
    result = infer_to_folder(path, model, tmp_path, crop="center", window_s=8.0, progress=False)
    assert np.median(result.methods["network"].hr_series) == pytest.approx(true_hr, abs=2.0)
    table = pd.read_csv(tmp_path / "pulse.csv")
    assert list(table.columns) == ["time_s", "pulse", "pulse_derivative", "hr_bpm", "reliable"]
    assert len(table) == 240
    np.testing.assert_allclose(table["time_s"], np.arange(240) / FPS, atol=1e-6)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_frames"] == 240 and summary["fps"] == FPS
    assert (tmp_path / "figures" / "pulse.png").stat().st_size > 0
    assert (tmp_path / "figures" / "pulse.pdf").stat().st_size > 0


def test_infer_video_with_a_trained_checkpoint_finds_the_face(
    synthetic_video, checkpoint_path, tmp_path
):
    path, _ = synthetic_video
    result = infer_to_folder(path, checkpoint_path, tmp_path, window_s=4.0, step_s=2.0,
                             save_masks=True, progress=False)
    assert result.summary["frames_without_face"] == 0
    assert result.summary["weights_kind"] == "checkpoint"
    windows = pd.read_csv(tmp_path / "heart_rate.csv")
    assert list(windows.columns) == ["time_s", "hr_bpm", "snr_db", "peak_share", "pulse_colour",
                                     "reliable"]
    # 4 s windows every 2 s over 8 s: starting at 0, 2 and 4 s
    np.testing.assert_allclose(windows["time_s"], [2.0, 4.0, 6.0])
    assert windows["hr_bpm"].between(42, 150).all()
    masks = load_masks(tmp_path / "masks.npz")
    assert masks.gate1.shape == (240, 34, 34)


def _random_open_rppg_model() -> LoadedModel:
    torch.manual_seed(0)
    net = TSCAN(frame_depth=20, tsm_edge="replicate").eval()
    return LoadedModel(net, "open_rppg", ("pulse",), 36, 20, "open_rppg", "random")


def _runs_with_and_without(option: str, path: Path, tmp_path: Path, **kwargs) -> dict:
    """{True: run, False: run} of infer_video with ``option`` on and off (random open-rppg
    model, centre crop, 4 s windows)."""
    return {
        value: infer_video(path, _random_open_rppg_model(), crop="center", window_s=4.0,
                           progress=False, **{option: value}, **kwargs)
        for value in (True, False)
    }


def test_frozen_and_eager_networks_give_the_same_heart_rates(synthetic_video, tmp_path):
    path, _ = synthetic_video
    runs = _runs_with_and_without("freeze", path, tmp_path)
    assert runs[True].summary["network_path"]["mode"] == "frozen TorchScript"
    assert runs[False].summary["network_path"]["mode"] == "eager"
    assert runs[True].summary["network_path"]["torch_threads"] >= 1
    frozen, eager = (runs[freeze].methods["network"] for freeze in (True, False))
    scale = np.max(np.abs(eager.derivative))
    np.testing.assert_allclose(frozen.derivative, eager.derivative, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(frozen.hr_series, eager.hr_series, atol=0.01)


def test_the_network_overlapping_the_decoding_gives_the_same_pulse(synthetic_video, tmp_path):
    """240 frames: one whole 160-frame clip runs while the video decodes, then the last 80."""
    path, _ = synthetic_video
    runs = _runs_with_and_without("overlap", path, tmp_path)
    assert runs[True].summary["network_path"]["overlapped_with_preprocessing"] is True
    assert runs[False].summary["network_path"]["overlapped_with_preprocessing"] is False
    assert runs[True].summary["network_path"]["mode"] == "frozen TorchScript"
    assert runs[True].summary["timings_s"]["network_overlapped_s"] > 0
    streamed, after = (runs[overlap].methods["network"] for overlap in (True, False))
    assert streamed.derivative.shape == after.derivative.shape == (240,)
    scale = np.max(np.abs(after.derivative))
    np.testing.assert_allclose(streamed.derivative, after.derivative, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(streamed.hr_series, after.hr_series, atol=0.01)


def test_no_network_thread_outlives_a_video_without_a_face(tmp_path):
    """The preprocessing fails (no face): the clips queued for the network are dropped and its
    worker thread ends with the call."""
    path = tmp_path / "grey.avi"
    write_video(path, np.full((210, 64, 64, 3), 128, np.uint8), FPS)
    with pytest.raises(NoFaceError, match="no face found"):
        infer_video(path, _random_open_rppg_model(), progress=False)
    assert not [t for t in threading.enumerate() if t.name.startswith("rppg-network")]


def test_bf16_network_path_is_recorded_and_stays_close(synthetic_video, tmp_path):
    path, _ = synthetic_video
    runs = _runs_with_and_without("bf16", path, tmp_path, freeze=False)
    assert runs[True].summary["network_path"]["dtype"] == "bfloat16 autocast, channels-last"
    assert runs[True].summary["network_path"]["mode"] == "eager"
    fast, eager = (runs[bf16].methods["network"].derivative for bf16 in (True, False))
    assert np.max(np.abs(fast - eager)) < 5e-2 * np.max(np.abs(eager))


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_rppg_infer_runs_the_network_on_cuda(synthetic_video, tmp_path):
    path, _ = synthetic_video
    result = infer_video(path, _random_open_rppg_model(), crop="center", device="cuda",
                         progress=False)
    assert result.summary["network_path"]["device"].startswith("cuda")
    assert result.methods["network"].derivative.shape == result.frame_times.shape


def test_video_without_a_face_is_reported_clearly(tmp_path, checkpoint_path, capsys):
    rng = np.random.default_rng(0)
    frames = rng.integers(90, 110, size=(60, 96, 96, 3), dtype=np.uint8)
    video = tmp_path / "wall.avi"
    write_video(video, frames, FPS)
    with pytest.raises(NoFaceError, match=r"no face found in .*wall\.avi \(60 frames searched"):
        infer_video(video, checkpoint_path, progress=False)

    parser = argparse.ArgumentParser(prog="rppg")
    register_infer_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["infer", str(video), "--weights", str(checkpoint_path),
                              "--no-progress"])
    assert args.func(args) == 2
    assert "no face found" in capsys.readouterr().err


def test_infer_command_writes_results_and_reports_the_heart_rate(
    synthetic_video, checkpoint_path, tmp_path, capsys, monkeypatch
):
    path, _ = synthetic_video
    parser = argparse.ArgumentParser(prog="rppg")
    register_infer_command(parser.add_subparsers(dest="command"))
    monkeypatch.setenv("RPPG_WEIGHTS", str(checkpoint_path))  # no --weights: the environment's
    args = parser.parse_args(["infer", str(path), "--out", str(tmp_path), "--crop", "center",
                              "--no-progress"])
    assert args.func(args) == 0
    assert "heart rate" in capsys.readouterr().out
    assert (tmp_path / "pulse.csv").is_file()
    monkeypatch.delenv("RPPG_WEIGHTS")
    monkeypatch.setattr("rppg_lib.video_inference.DEFAULT_WEIGHTS_DIR", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match=r"no default weights.*make venv.*--weights"):
        infer_video(path, None, progress=False)


def test_open_rppg_models_get_their_own_inputs_in_whole_clips_of_160(synthetic_video, tmp_path):
    from rppg_lib.video_inference import _network_inputs
    from rppg_lib.weights import open_rppg_inputs

    torch.manual_seed(0)
    net = TSCAN(frame_depth=20, tsm_edge="replicate").eval()
    loaded = LoadedModel(net, "open_rppg", ("pulse",), 36, 20, "open_rppg", "random")
    crops = np.random.default_rng(0).uniform(0.1, 0.9, size=(200, 36, 36, 3)).astype(np.float32)
    inputs = _network_inputs(SimpleNamespace(mask_frames=crops), loaded)
    assert inputs.shape == (200, 6, 36, 36)
    # the first clip of 160 frames is untouched by the padding of the second
    np.testing.assert_array_equal(inputs[:160], open_rppg_inputs(crops[:160]))
    last = np.concatenate([crops[160:], np.repeat(crops[-1:], 120, axis=0)])
    np.testing.assert_array_equal(inputs[160:], open_rppg_inputs(last)[:40])

    path, _ = synthetic_video
    result = infer_video(path, loaded, crop="center", progress=False)
    assert len(result.frame_times) == 240 and result.summary["weights_kind"] == "open_rppg"


def test_freezing_the_network_warns_nobody_about_torchscript():
    # torch deprecates torch.jit.trace/freeze; `rppg infer` printed that note four times per run
    import warnings

    from rppg_lib.network_inference import frozen_model

    model = TSCAN().eval()
    example = torch.zeros(10, 6, 36, 36)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        frozen = frozen_model(model, example)
    with torch.no_grad():
        torch.testing.assert_close(frozen(example), model(example), rtol=1e-5, atol=1e-6)

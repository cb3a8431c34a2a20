"""`rppg infer` on your own video: default weights, methods side by side, confidence, ground
truth, container checks and the output folder, each checked before any decoding."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rppg_lib import video_inference
from rppg_lib.constants import PULSE_RGB
from rppg_lib.preprocess.face_tracking import BoxTracker, inner_box
from rppg_lib.run import infer as infer_cli
from rppg_lib.run.cli import main
from rppg_lib.run.infer import infer_to_folder
from rppg_lib.synthetic import generate
from rppg_lib.video_inference import (
    DEFAULT_WEIGHTS_DIR,
    MIN_PULSE_COLOUR,
    MIN_RELIABLE_SHARE,
    MIN_SNR_DB,
    SKIN_REGION,
    check_model_name,
    infer_video,
    method_agreement,
)
from rppg_lib.video_io import write_video
from rppg_lib.weights import RELEASED_MODELS

torch.set_num_threads(1)
FPS = 30.0
HAS_WHEEL = any(DEFAULT_WEIGHTS_DIR.glob("open_rppg-*.whl"))


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, object]:
    """A 10 s clean synthetic face video (128x128, 30 fps, lossless) and its generator clip."""
    clip = generate("clean", seconds=10.0, fps=FPS, size=128, seed=3)
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    write_video(path, clip.frames, FPS)
    return path, clip


@pytest.fixture(scope="module")
def blank(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blank") / "grey.avi"
    write_video(path, np.full((150, 64, 64, 3), 128, dtype=np.uint8), FPS)
    return path


def _no_decoding(monkeypatch) -> None:
    """Make any decoding of frames fail the test: the checks must come first."""
    def fail(*args, **kwargs):
        raise AssertionError("frames were decoded before the arguments were checked")

    monkeypatch.setattr("rppg_lib.preprocess.stream.preprocess_frames", fail)
    monkeypatch.setattr("rppg_lib.video_inference.preprocess_frames", fail)


# --- default weights, methods, confidence ----------


@pytest.mark.skipif(not HAS_WHEEL, reason="open-rppg wheel not in data/weights (run make venv)")
def test_infer_runs_without_weights_on_the_released_rlap_tscan(clean, tmp_path, capsys):
    path, clip = clean
    out = tmp_path / "out"
    assert main(["infer", str(path), "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"].startswith("tscan.rlap (open-rppg")
    assert summary["hr_bpm"] == pytest.approx(float(np.mean(clip.hr)), abs=3.0)
    assert "heart rate" in capsys.readouterr().out


@pytest.mark.skipif(not HAS_WHEEL, reason="open-rppg wheel not in data/weights (run make venv)")
def test_method_all_on_the_command_line_runs_the_network_and_the_four_others(clean, tmp_path):
    path, clip = clean
    out = tmp_path / "all"
    assert main(["infer", str(path), "--method", "all", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "network"  # the network first, then the four others
    assert set(summary["methods"]) == {"network", "pos", "chrom", "green", "ica"}
    windows = pd.read_csv(out / "heart_rate.csv")
    for m in summary["methods"]:
        assert {f"hr_bpm_{m}", f"snr_db_{m}", f"pulse_colour_{m}", f"reliable_{m}"} <= set(
            windows.columns)
    assert summary["hr_bpm"] == pytest.approx(float(np.mean(clip.hr)), abs=3.0)  # TS-CAN's


def test_method_all_writes_every_method_side_by_side(clean, tmp_path):
    path, clip = clean
    methods = ["pos", "chrom", "green", "ica"]
    result = infer_to_folder(path, None, tmp_path, method=methods, progress=False)
    table = pd.read_csv(tmp_path / "pulse.csv")
    windows = pd.read_csv(tmp_path / "heart_rate.csv")
    for m in methods:
        assert {f"pulse_{m}", f"hr_bpm_{m}", f"reliable_{m}"} <= set(table.columns)
        assert {f"snr_db_{m}", f"peak_share_{m}"} <= set(windows.columns)
    assert list(result.summary["methods"]) == methods
    assert result.summary["model"] is None  # no network was loaded for these methods
    # One 10 s window per method: where a method calls it reliable, its rate is the true one;
    # POS and CHROM together find the pulse (single windows sit near the 1 dB threshold).
    rated = {m: s["hr_bpm"] for m, s in result.summary["methods"].items() if s["hr_bpm"]}
    assert {"pos", "chrom"} & set(rated), result.summary["methods"]
    for m, hr in rated.items():
        assert hr == pytest.approx(float(np.mean(clip.hr)), abs=3.0), m
    assert all(s["n_windows"] == 1 for s in result.summary["methods"].values())
    assert (tmp_path / "figures" / "pulse.png").stat().st_size > 0


def test_blank_and_noise_videos_are_flagged_not_given_a_rate(blank, tmp_path, capsys):
    result = infer_video(blank, None, method=["pos", "green"], crop="center", window_s=4.0,
                         progress=False)
    assert result.summary["hr_bpm"] is None
    assert "constant" in result.summary["hr_reason"]
    noise = np.random.default_rng(1).integers(0, 256, size=(300, 64, 64, 3), dtype=np.uint8)
    video = tmp_path / "noise.avi"
    write_video(video, noise, FPS)
    code = main(["infer", str(video), "--method", "pos", "--crop", "center", "--out",
                 str(tmp_path / "noise"), "--no-progress"])
    assert code == 0
    assert "pos: no reliable heart rate: 0 of 1" in capsys.readouterr().out
    windows = pd.read_csv(tmp_path / "noise" / "heart_rate.csv")
    failed = (windows["snr_db"] < MIN_SNR_DB) | (windows["pulse_colour"] < MIN_PULSE_COLOUR)
    assert not windows["reliable"].any() and failed.all()


def _faceless(seed: int, seconds: float) -> np.ndarray:
    """The top-left background corner of a clean clip, blown up: a video with no face in it."""
    frames = generate("clean", seconds=seconds, fps=FPS, size=128, seed=seed).frames[:, :32, :32]
    return np.repeat(np.repeat(frames, 4, axis=1), 4, axis=2)


@pytest.mark.parametrize("kind", ["no_pulse", "faceless"])
def test_a_face_without_a_pulse_and_a_background_without_a_face_get_no_rate(kind, tmp_path):
    if kind == "no_pulse":
        frames, crop = generate("no_pulse", seconds=15.0, fps=FPS, size=128, seed=5).frames, "haar"
    else:
        frames, crop = _faceless(5, 15.0), "center"
    video = tmp_path / f"{kind}.avi"
    write_video(video, frames, FPS)
    methods = ["network", "pos", "chrom", "green", "ica"] if HAS_WHEEL else ["pos", "chrom",
                                                                            "green", "ica"]
    result = infer_video(video, None, method=methods, crop=crop, progress=False)
    for name, r in result.methods.items():
        assert r.hr_bpm is None and "no reliable heart rate" in r.reason, name
        assert r.reliable.mean() < MIN_RELIABLE_SHARE, name


def test_windows_locked_onto_flickering_light_are_flagged_and_reliable_ones_are_right(tmp_path):
    """An illumination clip whose light flickers at 52.5 bpm (its pulse: 101 bpm): the peak SNR
    alone passed GREEN's and ICA's windows at the flicker's rate; the pulse colour flags them."""
    clip = generate("illumination", seconds=20.0, fps=FPS, size=128, seed=0)
    flicker_bpm = 60.0 * clip.params["drawn"]["illumination"]["flicker_freqs_hz"][0]
    video = tmp_path / "flicker.avi"
    write_video(video, clip.frames, FPS)
    result = infer_video(video, None, method=["pos", "chrom", "green", "ica"], progress=False)
    t = np.arange(clip.hr.size) / FPS
    at_flicker = clear_peaks = 0
    for name, r in result.methods.items():
        truth = np.array([clip.hr[np.abs(t - c) <= 5.0].mean() for c in r.hr_times])
        assert np.all(np.abs(r.hr_series - truth)[r.reliable] < 3.0), name
        locked = np.abs(r.hr_series - flicker_bpm) < 3.0
        at_flicker += int(locked.sum())
        assert not r.reliable[locked].any() and (r.pulse_colour[locked] < MIN_PULSE_COLOUR).all()
        clear_peaks += int((r.snr_db[locked] >= MIN_SNR_DB).sum())
    # the test has windows at the flicker's rate, and the SNR alone would have passed some
    assert at_flicker >= 11 and clear_peaks >= 1, (at_flicker, clear_peaks)


def test_ground_truth_gives_errors_per_window_and_a_sibling_csv_is_not_read(clean, tmp_path):
    path, clip = clean
    (path.parent / "clip.csv").write_text("garbage,,\n1,2\n")  # beside the video: ignored
    gt = tmp_path / "truth.csv"
    pd.DataFrame({"time": np.arange(len(clip.bvp)) / FPS, "bvp": clip.bvp}).to_csv(gt,
                                                                                  index=False)
    result = infer_to_folder(path, None, tmp_path / "out", method="pos", ground_truth=gt,
                             window_s=5.0, step_s=1.0, progress=False)
    errors = result.summary["methods"]["pos"]["ground_truth"]
    assert errors["n_windows"] == 6 and errors["mae_bpm"] < 3.0
    assert errors["rmse_bpm"] >= errors["mae_bpm"]
    windows = pd.read_csv(tmp_path / "out" / "heart_rate.csv")
    assert "hr_ref_bpm" in windows.columns
    assert np.abs(windows["hr_ref_bpm"] - np.mean(clip.hr)).max() < 6.0


# --- container checks ----------


def _patched_avi(source: Path, target: Path, rate: int, scale: int = 1) -> Path:
    data = bytearray(source.read_bytes())
    at = data.find(b"strh")  # chunk id, size, "vids", handler, flags, ..., dwScale, dwRate
    assert data[at + 8 : at + 12] == b"vids"
    data[at + 28 : at + 32] = scale.to_bytes(4, "little")
    data[at + 32 : at + 36] = rate.to_bytes(4, "little")
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("rate, message", [(0, "gives no frame rate"),
                                           (100000, "header says 100000 fps, outside")])
def test_a_header_frame_rate_of_zero_or_100_khz_is_refused(blank, tmp_path, rate, message,
                                                          capsys, monkeypatch):
    _no_decoding(monkeypatch)
    video = _patched_avi(blank, tmp_path / "bad.avi", rate)
    assert main(["infer", str(video), "--method", "pos", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.avi" in err and "--fps" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("fps", ["1e9", "1e6", "0", "nan"])
def test_an_implausible_fps_option_is_refused_before_decoding(blank, tmp_path, fps, capsys,
                                                             monkeypatch):
    _no_decoding(monkeypatch)
    assert main(["infer", str(blank), "--fps", fps, "--method", "pos", "--out",
                 str(tmp_path / "o")]) == 2
    assert "fps" in capsys.readouterr().err


def test_a_truncated_video_is_processed_with_a_warning_naming_both_counts(clean, tmp_path,
                                                                          capsys):
    path, _ = clean
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert main(["infer", str(cut), "--method", "pos", "--window", "4", "--out",
                 str(tmp_path / "o"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "cut.avi" in err and "header says 300 frames but" in err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["frames_in_header"] == 300 and summary["frames_decoded"] < 300


# --- arguments and the output folder, before any decoding ----------


@pytest.mark.parametrize("args, message", [
    (["--window", "0"], "window_s (--window)"),
    (["--window", "1"], "too short"),
    (["--step", "-1"], "step_s (--step)"),
    (["--ground-truth", "missing.csv"], "--ground-truth file not found"),
    (["--method", "network", "--weights", "missing.pt"], "weights file not found"),
    (["--method", "network", "--model", "physformer.rlap"], "model (--model) must be one of"),
    (["--model", "tscan.pure", "--weights", "x.pt"], "--model) or a weights file (--weights)"),
])
def test_bad_arguments_fail_before_decoding(blank, tmp_path, args, message, capsys, monkeypatch):
    _no_decoding(monkeypatch)
    base = ["infer", str(blank), "--method", "pos", "--out", str(tmp_path / "o")]
    assert main(base + args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_output_folder_is_a_file_under_a_file_or_unwritable(blank, tmp_path, capsys, monkeypatch):
    _no_decoding(monkeypatch)
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    cases = [(a_file, "exists and is a file"), (a_file / "sub", "lies under the file")]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append((locked / "sub", "is not writable"))
    for out, message in cases:
        assert main(["infer", str(blank), "--method", "pos", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and str(out) in err and "Traceback" not in err
    locked.chmod(0o700)


def test_a_second_run_needs_force_and_leaves_no_stale_file(blank, tmp_path):
    out = tmp_path / "out"
    infer_to_folder(blank, None, out, method="pos", crop="center", window_s=4.0, progress=False)
    (out / "mask_frames.npy").write_bytes(b"from an earlier run with --masks")
    with pytest.raises(FileExistsError, match=r"--out .*out is not empty; pass --force"):
        infer_to_folder(blank, None, out, method="pos", crop="center", window_s=4.0,
                        progress=False)
    infer_to_folder(blank, None, out, method="pos", crop="center", window_s=4.0, force=True,
                    progress=False)
    assert not (out / "mask_frames.npy").exists()
    old = [p for p in tmp_path.iterdir() if p.name.startswith("out.old-")]
    assert len(old) == 1 and (old[0] / "mask_frames.npy").is_file()


def test_a_window_longer_than_the_video_is_refused_before_decoding(tmp_path, capsys,
                                                                   monkeypatch):
    _no_decoding(monkeypatch)
    video = tmp_path / "clip.avi"
    write_video(video, np.full((150, 64, 64, 3), 128, dtype=np.uint8), FPS)  # 5 s
    argv = ["infer", str(video), "--method", "pos", "--window", "1000",
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2  # it used to become one 5 s window, the summary saying 1000
    err = capsys.readouterr().err
    assert "window_s (--window) = 1000 s is longer than video" in err
    assert "(5.00 s at 30 fps): choose a window of at most 5.00 s" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_a_video_shorter_than_one_slow_beat_is_refused_before_decoding(tmp_path, capsys,
                                                                      monkeypatch):
    _no_decoding(monkeypatch)
    video = tmp_path / "short.avi"
    write_video(video, np.full((30, 64, 64, 3), 128, dtype=np.uint8), FPS)  # 1 s
    assert main(["infer", str(video), "--method", "pos", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "short.avi holds 30 frames (1.00 s at 30 fps): too short" in err


def test_a_frame_folder_needs_a_plausible_fps(tmp_path, capsys):
    from rppg_lib.video_io import write_image_folder

    folder = tmp_path / "frames"
    write_image_folder(folder, np.full((120, 32, 32, 3), 100, dtype=np.uint8))
    base = ["infer", str(folder), "--method", "green", "--crop", "center", "--window", "3"]
    assert main(base + ["--out", str(tmp_path / "a")]) == 2
    assert "--fps is required for the frame folder" in capsys.readouterr().err
    assert main(base + ["--fps", "500", "--out", str(tmp_path / "b")]) == 2
    assert "fps (--fps) = 500.0 Hz is outside" in capsys.readouterr().err
    assert main(base + ["--fps", "30", "--out", str(tmp_path / "c"), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["n_frames"] == 120 and summary["hr_bpm"] is None  # a still grey: no pulse


REAL_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "real" / "naber_rppg_video" / \
    "rPPG_video.mp4"


@pytest.mark.skipif(not REAL_VIDEO.is_file(), reason=f"real face video absent: {REAL_VIDEO}")
def test_a_real_mp4_passes_the_clock_checks_and_decodes_to_its_header_count():
    result = infer_video(REAL_VIDEO, None, method=["pos", "chrom"], progress=False)
    s = result.summary
    assert s["frames_in_header"] == s["frames_decoded"] == 907
    assert s["fps"] == pytest.approx(29.5013, abs=1e-3)
    assert s["fps_time_stamps"] == pytest.approx(s["fps_header"], rel=1e-3)
    assert s["frames_without_face"] == 0
    # POS and CHROM on the skin agree window by window where both are reliable
    pos, chrom = result.methods["pos"], result.methods["chrom"]
    both = pos.reliable & chrom.reliable
    assert both.any() and np.abs(pos.hr_series[both] - chrom.hr_series[both]).max() < 3.0
    assert s["agreement"]["windows_within"] > 0.5  # 15 of 22 windows within 5 bpm


@pytest.mark.skipif(not REAL_VIDEO.is_file(), reason=f"real face video absent: {REAL_VIDEO}")
@pytest.mark.skipif(not HAS_WHEEL, reason="open-rppg wheel not in data/weights (run make venv)")
def test_on_a_hard_real_video_the_summary_says_the_methods_disagree():
    """On this 30 s webcam-like video the released TS-CANs, FacePhys and the RLAP EfficientPhys
    agree on 73-76 bpm and the colour methods on the skin read 63-68 bpm (benchmarks/
    bench_infer_real.py): the summary must say so, and the default network's reliable windows
    lie where the agreeing networks are."""
    result = infer_video(REAL_VIDEO, None, method=["network", "pos"], progress=False)
    agreement = result.summary["agreement"]
    assert agreement["disagree"] and agreement["spread_bpm"] > 5.0
    network = result.methods["network"]
    assert network.reliable.sum() >= 5  # 9 of 22 windows measured
    assert np.all(np.abs(network.hr_series[network.reliable] - 75.0) < 4.0)


def test_ground_truth_with_a_method_that_found_no_signal(blank, tmp_path):
    gt = tmp_path / "hr.csv"
    pd.DataFrame({"time": np.arange(0, 5.01, 0.5), "hr": 70.0}).to_csv(gt, index=False)
    result = infer_video(blank, None, method=["pos", "ica"], crop="center", ground_truth=gt,
                         window_s=4.0, progress=False)
    methods = result.summary["methods"]
    assert methods["pos"]["ground_truth"]["n_windows"] == 0  # a constant pulse: no windows
    ica = methods["ica"]["ground_truth"]
    assert ica["n_windows"] == result.methods["ica"].hr_series.size == 2
    np.testing.assert_allclose(result.reference_hr, 70.0)
    assert ica["mae_bpm"] == pytest.approx(np.mean(np.abs(result.methods["ica"].hr_series - 70)))


def test_windows_the_ground_truth_does_not_cover_are_left_out_of_the_errors(blank, tmp_path):
    gt = tmp_path / "hr.csv"
    pd.DataFrame({"time": np.arange(0, 4.51, 0.5), "hr": 70.0}).to_csv(gt, index=False)
    result = infer_video(blank, None, method="ica", crop="center", ground_truth=gt,
                         window_s=4.0, progress=False)
    # windows [0, 4] s and [1, 5] s: the second ends after the ground truth's 4.5 s
    assert np.isnan(result.reference_hr[1]) and result.reference_hr[0] == 70.0
    assert result.summary["methods"]["ica"]["ground_truth"]["n_windows"] == 1


# --- the core writes nothing; models; the skin region; agreement ----------


def test_the_core_infer_video_writes_no_file(blank, tmp_path, monkeypatch):
    """infer_video computes and returns: nothing appears in the working folder nor beside the
    video (the command line writes, in rppg_lib.run.infer)."""
    monkeypatch.chdir(tmp_path)
    before = sorted(blank.parent.iterdir())
    result = infer_video(blank, None, method=["pos", "green"], crop="center", window_s=4.0,
                         progress=False)
    assert result.summary["methods"]["pos"]["n_windows"] == 0  # a grey video: no pulse
    assert list(tmp_path.iterdir()) == [] and sorted(blank.parent.iterdir()) == before
    source = Path(video_inference.__file__).read_text()
    imported = {node.names[0].name if isinstance(node, ast.Import) else node.module
                for node in ast.walk(ast.parse(source))
                if isinstance(node, (ast.Import, ast.ImportFrom))}
    assert not imported & {"argparse", "json", "rppg_lib.atomic", "rppg_lib.figure_style"}


def test_model_names_unknown_ones_and_both_a_model_and_weights(blank, tmp_path, capsys,
                                                               monkeypatch):
    _no_decoding(monkeypatch)
    assert video_inference.DEFAULT_MODEL in RELEASED_MODELS
    assert check_model_name("PhysNet.RLAP") == "physnet.rlap"
    with pytest.raises(ValueError) as err:
        check_model_name("physmamba.pure")  # in the wheel, not ported
    assert all(name in str(err.value) for name in RELEASED_MODELS)
    assert main(["infer", str(blank), "--model", "me.rlap", "--out", str(tmp_path / "o")]) == 2
    message = capsys.readouterr().err
    assert len(message.strip().splitlines()) == 1 and "tscan.rlap" in message
    assert "Traceback" not in message and not (tmp_path / "o").exists()


@pytest.mark.skipif(not HAS_WHEEL, reason="open-rppg wheel not in data/weights (run make venv)")
# FacePhys steps frame by frame (about 0.1-0.3 s a frame on 2 cores): its port is checked in
# tests/test_open_rppg_ports.py, and here only the clip models, which run in a second or two
@pytest.mark.parametrize("name", sorted(set(RELEASED_MODELS) - {"facephys.rlap"}))
def test_every_released_model_runs_from_the_command_line_with_its_own_input(name, clean,
                                                                            tmp_path):
    """Each model gets its own input size (TS-CAN 36, PhysNet 32, EfficientPhys 72) and its
    output is read the right way (a derivative integrated, a pulse not): on a clean synthetic
    face every model finds the true rate within 3 bpm."""
    path, clip = clean
    out = tmp_path / "out"
    assert main(["infer", str(path), "--model", name.upper(), "--out", str(out),
                 "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"].startswith(f"{name} (open-rppg")
    assert summary["methods"]["network"]["median_window_bpm"] == pytest.approx(
        float(np.mean(clip.hr)), abs=3.0)
    columns = pd.read_csv(out / "pulse.csv").columns
    derivative = RELEASED_MODELS[name].output == "derivative"
    assert ("pulse_derivative" in columns) == derivative


def _skin_and_flickering_background(seconds: float = 10.0) -> tuple[np.ndarray, float, float]:
    """A square 120x120 video: the skin region of its centre square (the inner 60 % x 80 %)
    pulses at 60 bpm, everything around it at 90 bpm with three times the amplitude, both in
    the blood-volume colour direction."""
    n, side = int(seconds * FPS), 120
    t = np.arange(n) / FPS
    skin_bpm, background_bpm = 60.0, 90.0
    x, y, w, h = inner_box((0, 0, side, side), *SKIN_REGION)
    inside = np.zeros((side, side), dtype=bool)
    inside[y : y + h, x : x + w] = True
    pulse = np.sin(2 * np.pi * skin_bpm / 60 * t)
    flicker = 3.0 * np.sin(2 * np.pi * background_bpm / 60 * t)
    wave = np.where(inside[None], pulse[:, None, None], flicker[:, None, None])
    frames = 128.0 + 2.0 * wave[..., None] * np.asarray(PULSE_RGB)
    noise = np.random.default_rng(0).normal(0.0, 1.0, frames.shape)
    return np.clip(np.round(frames + noise), 0, 255).astype(np.uint8), skin_bpm, background_bpm


def test_the_colour_methods_read_the_skin_not_the_flickering_background(tmp_path):
    frames, skin_bpm, background_bpm = _skin_and_flickering_background()
    video = tmp_path / "skin.avi"
    write_video(video, frames, FPS)
    rates = {}
    for region in ("skin", "crop"):
        result = infer_video(video, None, method=["pos", "chrom"], crop="center",
                             colour_region=region, progress=False)
        rates[region] = {m: float(r.hr_series[0]) for m, r in result.methods.items()}
    assert rates["skin"] == pytest.approx({"pos": skin_bpm, "chrom": skin_bpm}, abs=1.5)
    # the whole crop is dominated by the background: what the earlier behaviour read
    assert rates["crop"] == pytest.approx({"pos": background_bpm, "chrom": background_bpm},
                                          abs=1.5)
    assert result.summary["colour_region"] == {"region": "crop"}


def test_the_tracker_hands_out_the_face_box_it_enlarged_the_crop_from():
    boxes = np.array([[40.0, 30.0, 20.0, 20.0]] * 2)
    tracker = BoxTracker("box", box_scale=1.8, boxes=boxes)
    crop, _ = tracker(np.zeros((120, 160, 3), np.uint8), 0)
    assert crop == (32, 22, 36, 36) and tracker.face_box == (40, 30, 20, 20)
    assert inner_box(tracker.face_box, *SKIN_REGION) == (44, 32, 12, 16)


def _result(name: str, rates: list[float]) -> video_inference.MethodResult:
    r = np.asarray(rates, dtype=float)
    return video_inference.MethodResult(name, np.zeros(300), np.arange(r.size) + 5.0, r,
                                        np.zeros(r.size), np.zeros(r.size), np.ones(r.size),
                                        np.ones(r.size, dtype=bool), float(np.median(r)), 0.0)


def test_methods_that_disagree_are_said_to_in_the_summary_and_the_figure(tmp_path,
                                                                          monkeypatch):
    near = method_agreement({"network": _result("network", [70, 71, 72]),
                             "pos": _result("pos", [70.5, 71, 80])})
    assert not near["disagree"] and near["spread_bpm"] == pytest.approx(0.0)
    assert near["windows_within"] == pytest.approx(2 / 3)
    far = method_agreement({"network": _result("network", [75, 76, 75]),
                            "pos": _result("pos", [60, 61, 62])})
    assert far["disagree"] and far["spread_bpm"] == pytest.approx(14.0)
    assert "methods disagree" in far["message"] and "network 75.0" in far["message"]
    assert method_agreement({"pos": _result("pos", [60, 61])}) is None  # one method: no claim
    titles = []
    real_plot = infer_cli.plot_video_pulse
    monkeypatch.setattr(infer_cli, "plot_video_pulse",
                        lambda *a, **k: titles.append(k["title"]) or real_plot(*a, **k))
    methods = {"network": _result("network", [75, 76, 75]), "pos": _result("pos", [60, 61, 62])}
    summary = {"video": "clip.mp4", "agreement": method_agreement(methods)}
    result = video_inference.VideoInference(30.0, np.arange(300) / 30.0, methods, summary)
    files = infer_cli.write_results(result, tmp_path)
    assert titles == ["clip.mp4: methods disagree by 14 bpm"] and files["figure_png"].is_file()
    assert json.loads(files["summary"].read_text())["agreement"]["disagree"] is True


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_own_weights_are_read_without_running_code_from_the_file(blank, tmp_path, capsys):
    """A .pt file whose pickle would call os.mkdir: --weights refuses it in one line and the
    directory is never made (torch.load with weights_only)."""
    marker = tmp_path / "made_by_the_weights_file"
    weights = tmp_path / "evil.pt"
    torch.save({"state_dict": _RunsCodeWhenUnpickled(marker)}, weights)
    assert main(["infer", str(blank), "--weights", str(weights), "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "evil.pt is not a readable PyTorch file" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not marker.exists()

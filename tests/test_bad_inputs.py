"""Bad inputs a new user might give: each is answered by one clear error naming the file or the
parameter (and its value), before any long work starts, and never by a traceback, a silently
shifted series or a corrupt cache entry being served."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from rppg_lib.run import runner
from rppg_lib.run.cli import main
from rppg_lib.run.params import (
    check_parameter_values,
    load_params,
    notebook_parameters,
    resolve_parameters,
)

KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _one_line_error(text: str, prefix: str) -> str:
    """The single stderr line of a CLI error (no traceback)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


# -- rppg run: every value checked against its notebook before anything runs ------------------


@pytest.fixture
def two_notebooks(tmp_path) -> Path:
    """Params file of two notebooks whose kernels must never start (``_execute`` is refused)."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    cells = {
        "00_first": "run_dir = None  # set by the runner\n"
                    "seed = 0  # random seed; range [0, inf)\n",
        "02_train": "run_dir = None  # set by the runner\nepochs = 2  # epochs; range [1, inf)\n"
                    "lr = 1e-3  # learning rate; range (0, inf)\nwindow = 10.0  # no range\n",
    }
    for stem, source in cells.items():
        nb = new_notebook(metadata=KERNELSPEC)
        nb.cells = [new_code_cell(source, metadata={"tags": ["parameters"]})]
        nbformat.write(nb, folder / f"{stem}.ipynb")
    params = tmp_path / "params" / "p.yaml"
    params.parent.mkdir()
    params.write_text("notebooks: [00_first, 02_train]\n")
    return params


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("02_train.epochs=abc", r"epochs of notebook 02_train must be an integer .* got 'abc'"),
        ("epochs=-1", r"epochs of notebook 02_train must be >= 1, got -1"),
        ("seed=abc", r"seed of notebook 00_first must be an integer .* got 'abc'"),
        ("seed=1.5", r"seed of notebook 00_first must be an integer .* got 1.5"),
        ("02_train.lr=0", r"lr of notebook 02_train must be > 0, got 0"),
        ("02_train.lr=fast", r"lr of notebook 02_train must be a number .* got 'fast'"),
    ],
)
def test_run_checks_every_value_before_any_notebook_runs(
    two_notebooks, tmp_path, monkeypatch, capsys, override, match
):
    def refuse(*args, **kwargs):
        raise AssertionError("a notebook was executed before the parameters were checked")

    monkeypatch.setattr(runner, "_execute", refuse)
    out = tmp_path / "out"
    argv = ["run", "--params", str(two_notebooks), "--out", str(out), "-p", override,
            "--notebooks-dir", str(two_notebooks.parent.parent / "notebooks"), "--no-progress"]
    assert main(argv) == 2
    line = _one_line_error(capsys.readouterr().err, "rppg run: error: parameter ")
    assert re.search(match, line), line
    assert not out.exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"02_train_tscan.epochs": "abc"}, "epochs of notebook 02_train_tscan must be an integer"),
        ({"02_train_tscan.epochs": -1}, "epochs of notebook 02_train_tscan must be >= 1, got -1"),
        ({"seed": "abc"}, "seed of notebook 00_synthetic_data must be an integer"),
        ({"02_train_tscan.lr": "1e-3x"}, "lr of notebook 02_train_tscan must be a number"),
        ({"04_inverse_attention_noise.threshold": 1.0}, "must be >= 0 and < 1, got 1.0"),
    ],
)
def test_suite_notebooks_declare_types_and_ranges(repo_root, tmp_path, override, message):
    spec = load_params(repo_root / "params" / "default.yaml")
    defaults = {s: notebook_parameters(NOTEBOOKS / f"{s}.ipynb") for s in spec.notebooks}
    declared = {s: list(d) for s, d in defaults.items()}
    resolved = resolve_parameters(spec, declared, override, tmp_path)
    with pytest.raises(ValueError, match=message):
        check_parameter_values(resolved, defaults)


def test_a_range_is_read_from_the_end_of_the_parameter_comment(two_notebooks):
    declared = notebook_parameters(two_notebooks.parent.parent / "notebooks" / "02_train.ipynb")
    assert str(declared["epochs"].range) == ">= 1" and 1 in declared["epochs"].range
    assert 0 not in declared["lr"].range and 1e-9 in declared["lr"].range
    assert declared["window"].range is None and declared["window"].default == 10.0
    nb = new_notebook(metadata=KERNELSPEC)
    nb.cells = [new_code_cell("tau = 0.1  # share; range [0, one)",
                              metadata={"tags": ["parameters"]})]
    bad = two_notebooks.parent / "bad.ipynb"
    nbformat.write(nb, bad)
    with pytest.raises(ValueError, match=r"parameter tau: range bound 'one' is not a number"):
        notebook_parameters(bad)


def test_every_numeric_parameter_of_the_suite_declares_its_range():
    """One declaration per parameter: the runner checks what the notebook's line says."""
    unbounded = []
    for path in sorted(NOTEBOOKS.glob("0*.ipynb")):
        for name, declared in notebook_parameters(path).items():
            numeric = isinstance(declared.default, (int, float))
            if numeric and not isinstance(declared.default, bool) and declared.range is None:
                unbounded.append(f"{path.stem}.{name}")
    assert unbounded == []


@pytest.mark.parametrize("name", ["default", "smoke", "paper_ubfc_phys", "paper_mmse_hr"])
def test_shipped_params_pass_the_value_checks(repo_root, tmp_path, name):
    spec = load_params(repo_root / "params" / f"{name}.yaml")
    defaults = {s: notebook_parameters(NOTEBOOKS / f"{s}.ipynb") for s in spec.notebooks}
    declared = {s: list(d) for s, d in defaults.items()}
    check_parameter_values(resolve_parameters(spec, declared, {}, tmp_path), defaults)


# -- rppg run: Ctrl-C --------------------------------------------------------------------------


def test_ctrl_c_in_run_marks_the_report_and_says_so_in_one_line(
    two_notebooks, tmp_path, monkeypatch, capsys
):
    calls = []

    def interrupted_second(source, executed, *args, **kwargs):
        calls.append(source.stem)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_execute", interrupted_second)
    out = tmp_path / "out"
    argv = ["run", "--params", str(two_notebooks), "--out", str(out), "--no-progress",
            "--notebooks-dir", str(two_notebooks.parent.parent / "notebooks")]
    assert main(argv) == 130
    line = _one_line_error(capsys.readouterr().err, "rppg run: interrupted")
    assert "02_train" in line and str(out) in line and "marked interrupted" in line
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["interrupted_notebook"] == "02_train"
    assert set(manifest["timings_seconds"]) == {"00_first", "02_train"}
    assert (out / "index.html").is_file()


# -- checkpoints and released weights ----------------------------------------------------------


def _tiny_checkpoint(path: Path, model_name: str = "tscan", **changes) -> Path:
    """A whole training checkpoint of a freshly built network, with ``changes`` applied (a
    value None deletes the key)."""
    import torch

    from rppg_lib.training import TrainConfig, build_model
    from rppg_lib.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint

    config = TrainConfig(model=model_name, epochs=1, progress=False, model_kwargs={"img_size": 36})
    model = build_model(config)
    optimizer = torch.optim.AdamW(model.parameters())
    checkpoint = {
        "format": CHECKPOINT_FORMAT, "model": model.state_dict(), "model_class": "x",
        "optimizer": optimizer.state_dict(), "scheduler": None,
        "scaler": torch.amp.GradScaler("cuda", enabled=False).state_dict(), "epoch": 1,
        "rng": [{"cpu": torch.get_rng_state()}], "config": config.to_dict(), "history": [],
        "best": {"monitor": None, "epoch": None, "value": None}, "world_size": 1,
    }
    for key, value in changes.items():
        if value is None:
            checkpoint.pop(key)
        else:
            checkpoint[key] = value
    save_checkpoint(path, checkpoint)
    return path


def test_checkpoint_of_another_architecture_names_the_file(tmp_path):
    from rppg_lib.network_inference import load_model
    from rppg_lib.training import TrainConfig, build_model
    from rppg_lib.training.checkpoint import load_weights

    # MTTS-CAN weights (two heads) in a checkpoint whose config says TS-CAN
    other = build_model(TrainConfig(model="mttscan", model_kwargs={"img_size": 36})).state_dict()
    path = _tiny_checkpoint(tmp_path / "mixed.pt", "tscan", model=other)
    with pytest.raises(ValueError, match=rf"checkpoint {re.escape(str(path))}: the model weights "
                       r"do not fit TSCAN \(another architecture"):
        load_model(path)
    mttscan = build_model(TrainConfig(model="mttscan", model_kwargs={"img_size": 36}))
    good = _tiny_checkpoint(tmp_path / "tscan.pt")
    with pytest.raises(ValueError, match=rf"checkpoint {re.escape(str(good))}: .* fit MTTSCAN"):
        load_weights(mttscan, good)


def test_checkpoint_without_config_or_rng_names_the_file_and_key(tmp_path):
    from rppg_lib.network_inference import load_model
    from rppg_lib.training import ChunkDataset, TrainConfig, build_model, train

    no_config = _tiny_checkpoint(tmp_path / "no_config.pt", config=None)
    message = rf"checkpoint {re.escape(str(no_config))} lacks \['config'\]"
    with pytest.raises(ValueError, match=message):
        load_model(no_config)
    folder = tmp_path / "run"
    folder.mkdir()
    config = TrainConfig(model="tscan", epochs=1, batch_size=2, chunk_length=20, progress=False,
                         checkpoint_dir=str(folder), model_kwargs={"img_size": 36})
    rng = np.random.default_rng(0)
    data = ChunkDataset([(rng.standard_normal((40, 6, 36, 36)).astype(np.float32),
                          rng.standard_normal(40).astype(np.float32))], 20)
    train(build_model(config), data, config)
    import torch

    last = folder / "last.pt"
    state = torch.load(last, weights_only=True)
    del state["rng"]
    torch.save(state, last)
    with pytest.raises(ValueError, match=rf"checkpoint {re.escape(str(last))} lacks \['rng'\]"):
        train(build_model(config), data, config)


def test_nan_weights_in_a_checkpoint_name_the_file(tmp_path):
    import torch

    from rppg_lib.network_inference import load_model
    from rppg_lib.training import TrainConfig, build_model

    weights = build_model(TrainConfig(model="tscan", model_kwargs={"img_size": 36})).state_dict()
    weights["dense1.weight"] = torch.full_like(weights["dense1.weight"], float("nan"))
    path = _tiny_checkpoint(tmp_path / "nan.pt", model=weights)
    message = rf"{re.escape(str(path))} holds NaN .* \['dense1.weight'\]"
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_wheel_that_is_not_a_zip_names_the_file(tmp_path):
    from rppg_lib.network_inference import load_model

    wheel = tmp_path / "open_rppg-0.1.1-py3-none-any.whl"
    wheel.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(ValueError, match=rf"{re.escape(str(wheel))} is not a readable wheel"):
        load_model(wheel)


def test_keras_h5_whose_model_config_is_not_json_names_the_file(tmp_path):
    import h5py

    from rppg_lib.weights import load_keras_can

    path = tmp_path / "can.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = "{not json"
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: its 'model_config' attribute "
                       "is not JSON"):
        load_keras_can(path)


# -- python -m rppg_lib.train ------------------------------------------------------------------


def _train_yaml(tmp_path: Path, body: str = "", x=None, y=None) -> Path:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.standard_normal((40, 6, 36, 36)).astype(np.float32)
            if x is None else x)
    np.save(tmp_path / "y.npy", rng.standard_normal(40).astype(np.float32) if y is None else y)
    path = tmp_path / "run.yaml"
    path.write_text(
        "model: can\nepochs: 1\nbatch_size: 2\nchunk_length: 20\nprogress: false\n" + body
        + "data:\n  kind: arrays\n  train: [{inputs: x.npy, targets: y.npy}]\n"
    )
    return path


def _train_error(capsys, argv) -> str:
    from rppg_lib.train import main

    assert main(argv) == 2
    return _one_line_error(capsys.readouterr().err, "error: ")


def test_train_cli_malformed_yaml_is_one_line_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: can\ndata: {kind: arrays\n  train: [x\n")
    line = _train_error(capsys, ["--config", str(bad)])
    assert f"training config {bad} is not valid YAML" in line


def test_train_cli_checkpoint_folder_under_a_file_is_refused_before_training(
    tmp_path, capsys, monkeypatch
):
    import rppg_lib.train as train_cli

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the checkpoint folder was checked")

    monkeypatch.setattr(train_cli, "train", refuse)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    config = _train_yaml(tmp_path, f"checkpoint_dir: {blocker / 'out'}\n")
    line = _train_error(capsys, ["--config", str(config)])
    assert f"checkpoint_dir = {blocker / 'out'} cannot be created" in line


def test_train_cli_truncated_npy_names_the_file(tmp_path, capsys):
    config = _train_yaml(tmp_path)
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[: len(data) // 2])
    line = _train_error(capsys, ["--config", str(config)])
    assert f"data.train[0].inputs: {tmp_path / 'x.npy'} is not a readable .npy file" in line


def test_train_cli_nan_targets_are_named_before_training(tmp_path, capsys):
    y = np.random.default_rng(1).standard_normal(40).astype(np.float32)
    y[17] = np.nan
    config = _train_yaml(tmp_path, y=y)
    line = _train_error(capsys, ["--config", str(config)])
    assert f"data.train[0].targets: {tmp_path / 'y.npy'} holds NaN or inf at step 17" in line


def test_chunk_dataset_names_the_sequence_with_nan_targets():
    from rppg_lib.training import ChunkDataset

    y = np.zeros(40, dtype=np.float32)
    y[[5, 30]] = np.inf
    with pytest.raises(ValueError, match=r"clip s3_T1: 2 target step\(s\) hold NaN or inf, first "
                       "at step 5"):
        ChunkDataset([(np.zeros((40, 6, 4, 4), np.float32), y)], 20, names=["clip s3_T1"])


# -- the preprocessing cache -------------------------------------------------------------------


def _cached_clip(cache_dir: Path):
    from rppg_lib.datasets.base import Clip, Signal
    from rppg_lib.preprocess import PreprocessConfig, preprocess_clip

    frames = np.random.default_rng(0).integers(0, 256, (30, 12, 16, 3), dtype=np.uint8)
    t = np.arange(30) / 30.0
    clip = Clip.from_frames(frames, 30.0, clip_id="c", bvp=Signal(np.sin(2 * np.pi * t), t, "a.u."))
    config = PreprocessConfig(crop="center", size=8, frame_depth=5, chunk_length=20)
    return clip, config, preprocess_clip(clip, config, cache_dir, progress=False)


def _forget_verified():
    from rppg_lib.preprocess import storage

    storage._VERIFIED.clear()  # a new process (the next notebook, the next run)


def test_same_size_corruption_of_a_cached_array_is_never_served(tmp_path, caplog):
    import logging

    from rppg_lib.preprocess import CacheCorruptError, PreprocessedClip, preprocess_clip

    clip, config, first = _cached_clip(tmp_path)
    motion = first.path / "motion.npy"
    good = np.load(motion).copy()
    data = bytearray(motion.read_bytes())
    data[-5] ^= 0xFF  # one byte flipped on disk: same size, valid header
    motion.write_bytes(bytes(data))
    _forget_verified()
    with pytest.raises(CacheCorruptError, match=rf"cache entry {re.escape(str(first.path))}: "
                       r"motion.npy does not match the SHA-256 digest .* delete"):
        PreprocessedClip.open(first.path)  # default: digests checked on the first use
    _forget_verified()
    with caplog.at_level(logging.WARNING, logger="rppg_lib.preprocess"):
        again = preprocess_clip(clip, config, tmp_path, progress=False)
    assert "motion.npy does not match" in caplog.text and str(first.path) in caplog.text
    assert not again.from_cache  # rebuilt, not served
    np.testing.assert_array_equal(np.asarray(again.motion), good)


def test_cache_entry_that_is_a_file_is_named_and_kept(tmp_path):
    from rppg_lib.preprocess import preprocess_clip

    clip, config, first = _cached_clip(tmp_path)
    folder = first.path
    import shutil

    shutil.rmtree(folder)
    folder.write_text("someone's notes")
    with pytest.raises(ValueError, match=rf"cache entry {re.escape(str(folder))} is a file"):
        preprocess_clip(clip, config, tmp_path, progress=False)
    assert folder.read_text() == "someone's notes"


@pytest.mark.parametrize("edit", ["drop_bytes", "drop_clip_id", "files_list"])
def test_hand_edited_cache_manifest_is_rebuilt_with_a_warning(tmp_path, caplog, edit):
    import logging

    from rppg_lib.preprocess import CacheCorruptError, PreprocessedClip, preprocess_clip

    clip, config, first = _cached_clip(tmp_path)
    path = first.path / "manifest.json"
    manifest = json.loads(path.read_text())
    if edit == "drop_bytes":
        del manifest["files"]["motion.npy"]["bytes"]
    elif edit == "drop_clip_id":
        del manifest["clip_id"]
    else:
        manifest["files"] = list(manifest["files"])
    path.write_text(json.dumps(manifest))
    with pytest.raises(CacheCorruptError, match=re.escape(str(first.path))):
        PreprocessedClip.open(first.path)
    with caplog.at_level(logging.WARNING, logger="rppg_lib.preprocess"):
        again = preprocess_clip(clip, config, tmp_path, progress=False)
    assert f"cache entry {first.path} is invalid, rebuilding it" in caplog.text
    assert not again.from_cache and again.clip_id == "c"


def test_cache_digests_are_checked_once_per_process(tmp_path, monkeypatch):
    from rppg_lib.preprocess import PreprocessedClip, storage

    _, _, first = _cached_clip(tmp_path)
    hashed = []
    real = storage._file_digest
    monkeypatch.setattr(storage, "_file_digest", lambda p, skip=0: hashed.append(p.name)
                        or real(p, skip))
    PreprocessedClip.open(first.path)  # just built here: its digests are known
    assert hashed == []
    _forget_verified()
    PreprocessedClip.open(first.path)
    assert sorted(hashed) == ["appearance.npy", "mask_frames.npy", "meta.npz", "motion.npy"]
    PreprocessedClip.open(first.path)
    assert len(hashed) == 4
    PreprocessedClip.open(first.path, verify=True)
    assert len(hashed) == 8


# -- dataset readers ---------------------------------------------------------------------------


def _video(path: Path, n: int, fps: float) -> None:
    from rppg_lib.video_io import write_video

    k = np.arange(n) % 256
    write_video(path, np.broadcast_to(k[:, None, None, None], (n, 16, 16, 3)).astype(np.uint8),
                fps=fps)


def test_blank_line_inside_a_ubfc_phys_bvp_file_names_file_and_line(tmp_path):
    from rppg_lib.datasets import read_ubfc_phys

    folder = tmp_path / "s1"
    folder.mkdir()
    _video(folder / "vid_s1_T1.avi", 14, 35.0)
    values = [f"{v:.6f}" for v in np.arange(30) / 64.0]
    gt = folder / "bvp_s1_T1.csv"
    gt.write_text("\n".join(values[:12] + [""] + values[12:]) + "\n\n")  # line 13 is blank
    with pytest.raises(ValueError, match=rf"{re.escape(str(gt))}, line 13: blank line between "
                       "samples; skipping it would move every later sample"):
        read_ubfc_phys(tmp_path, tasks=["T1"])
    gt.write_text("\n" + "\n".join(values) + "\n\n")  # blank lines at the ends shift nothing
    clip = read_ubfc_phys(tmp_path, tasks=["T1"])["s1_T1"]
    np.testing.assert_allclose(clip.bvp.values[12], 12 / 64.0, atol=1e-6)


def test_blank_line_inside_a_video_csv_with_a_sampling_rate_names_file_and_line(tmp_path):
    from rppg_lib.datasets import read_video_dataset

    _video(tmp_path / "v.avi", 6, 20.0)
    csv = tmp_path / "gt.csv"
    csv.write_text("bvp\n0\n1\n2\n\n3\n4\n5\n6\n7\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(csv))}, line 5: blank line"):
        read_video_dataset(tmp_path / "v.avi", gt_csv=csv, gt_fs=40.0)
    with pytest.raises(ValueError, match=rf"{re.escape(str(csv))}, line 5: blank line"):
        csv.write_text("bvp\n0\n1\n2\n\n3\n4\n5\n")  # one row per frame: the same shift
        read_video_dataset(tmp_path / "v.avi", gt_csv=csv)
    csv.write_text("time,bvp\n0,0\n0.1,1\n\n0.2,2\n0.3,3\n")  # time stamps place each row
    clip = read_video_dataset(tmp_path / "v.avi", gt_csv=csv)["v"]
    np.testing.assert_allclose(clip.bvp.times, [0, 0.1, 0.2, 0.3])


def test_ubfc_time_stamps_in_milliseconds_are_refused(tmp_path):
    from rppg_lib.datasets import read_ubfc_rppg

    folder = tmp_path / "subject1"
    folder.mkdir()
    _video(folder / "vid.avi", 60, 30.0)  # 2 s
    t_ms = np.arange(0, 1983, 1000 / 64)  # 64 Hz, in ms
    lines = [" ".join(f"{v:.6f}" for v in row) for row in (np.sin(t_ms), 70 + 0 * t_ms, t_ms)]
    gt = folder / "ground_truth.txt"
    gt.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(gt))}: the ground-truth time stamps "
                       r"span 1968.8 s .* vid.avi lasts 2.00 s.*look like milliseconds"):
        read_ubfc_rppg(tmp_path)
    lines[2] = " ".join(f"{v:.9f}" for v in t_ms / 1000)
    gt.write_text("\n".join(lines) + "\n")
    assert read_ubfc_rppg(tmp_path)["subject1"].bvp.span[1] == pytest.approx(1.96875)


def test_ground_truth_shorter_than_the_video_names_the_file(tmp_path):
    from rppg_lib.datasets import read_ubfc_phys

    folder = tmp_path / "s1"
    folder.mkdir()
    _video(folder / "vid_s1_T1.avi", 14, 35.0)
    gt = folder / "bvp_s1_T1.csv"
    gt.write_text("\n".join(f"{v:.4f}" for v in np.arange(10) / 64.0) + "\n")
    clip = read_ubfc_phys(tmp_path, tasks=["T1"])["s1_T1"]
    with pytest.raises(ValueError, match=rf"clip s1_T1: ground truth {re.escape(str(gt))} "
                       r"\(a.u.\) covers"):
        clip.bvp_at_frames()


def _pure(root: Path, package_value, image_stamp=None) -> Path:
    import cv2

    stamps = 1392643993642815000 + 33_333_333 * np.arange(4, dtype=np.int64)
    frames = root / "01-01" / "01-01"
    frames.mkdir(parents=True)
    for k, s in enumerate(stamps):
        # without an image stamp the frame names carry no number: /Image gives the times
        name = f"Image{s}.png" if image_stamp is None else f"frame_{chr(97 + k)}.png"
        cv2.imwrite(str(frames / name), np.full((8, 8, 3), k, np.uint8))
    packages = [{"Timestamp": int(s) + d, "Value": {"waveform": 1.0, "pulseRate": 70.0}}
                for s in stamps for d in (0, 16_000_000)]
    packages[3]["Value"]["waveform"] = package_value
    images = [{"Timestamp": int(s)} for s in stamps]
    if image_stamp is not None:
        images[2]["Timestamp"] = image_stamp
    path = root / "01-01" / "01-01.json"
    path.write_text(json.dumps({"/FullPackage": packages, "/Image": images}))
    return path


@pytest.mark.parametrize(
    ("package_value", "image_stamp", "where"),
    [("abc", None, r"/FullPackage\[3\].Value.waveform is 'abc', not a number"),
     (1.0, "abc", r"/Image\[2\].Timestamp is 'abc', not an integer time stamp")],
)
def test_pure_value_abc_names_the_file_and_the_entry(tmp_path, package_value, image_stamp, where):
    from rppg_lib.datasets import read_pure

    path = _pure(tmp_path, package_value, image_stamp)
    with pytest.raises(ValueError, match=rf"PURE: {re.escape(str(path))}: {where}"):
        read_pure(tmp_path)


def test_binary_json_and_csv_name_the_file(tmp_path):
    from rppg_lib.datasets import read_pure, read_video_dataset

    path = _pure(tmp_path / "pure", 1.0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    with pytest.raises(ValueError, match=rf"PURE: cannot parse {re.escape(str(path))} as JSON"):
        read_pure(tmp_path / "pure")
    _video(tmp_path / "v.avi", 6, 20.0)
    csv = tmp_path / "gt.csv"
    csv.write_bytes(b"\xff\xfe\x00\x81bvp\x00\x9f\n\x00\xc3\x28")
    with pytest.raises(ValueError, match=rf"cannot parse the CSV {re.escape(str(csv))}"):
        read_video_dataset(tmp_path / "v.avi", gt_csv=csv)


# -- estimators --------------------------------------------------------------------------------


def test_snr_refuses_a_heart_rate_above_nyquist_and_a_band_beyond_it():
    from rppg_lib.metrics import snr

    fs = 4.0  # Nyquist 2 Hz = 120 bpm
    t = np.arange(int(30 * fs)) / fs
    x = np.sin(2 * np.pi * 1.0 * t)
    assert snr(x, fs, 60.0, low=0.5, high=2.0) > 20  # 1 Hz pulse, well inside
    with pytest.raises(ValueError, match=r"hr_bpm = 150.0 bpm \(2.5 Hz\) is at or above the "
                       r"Nyquist frequency 2 Hz"):
        snr(x, fs, 150.0, low=0.5, high=2.0)  # used to return -inf
    with pytest.raises(ValueError, match=r"SNR band \(low, high\) = \(0.7, 4.0\) Hz must .* "
                       r"<= Nyquist = 2 Hz"):
        snr(x, fs, 60.0)  # the default band (0.7, 4) Hz reaches past 2 Hz


def test_snr_of_a_constant_is_refused_not_the_leakage_of_its_mean():
    from rppg_lib.metrics import snr

    fs = 30.0
    with pytest.raises(ValueError, match=r"^x is constant \(all 300 samples equal 0.5\): it holds "
                       r"no pulse, so it has no SNR"):
        snr(np.full(300, 0.5), fs, 72.0)  # used to return -22 dB
    t = np.arange(300) / fs
    assert snr(0.5 + 1e-3 * np.sin(2 * np.pi * 1.2 * t), fs, 72.0) > 20  # a small pulse is scored


def test_heart_rate_needs_a_cycle_of_the_slowest_rate_of_the_band():
    from rppg_lib.signals import breathing_rate, heart_rate

    fs = 30.0
    t = np.arange(int(1.0 * fs)) / fs  # 1 s: shorter than a cycle at 0.7 Hz (1.43 s)
    with pytest.raises(ValueError, match=r"^x has 30 samples \(1 s at 30 Hz\): a rate in a band "
                       r"from 0.7 Hz needs at least one cycle, 1.43 s \(43 samples\)"):
        heart_rate(np.sin(2 * np.pi * 1.2 * t), fs)  # used to return 71.2 bpm
    t = np.arange(int(2.0 * fs)) / fs
    assert heart_rate(np.sin(2 * np.pi * 1.2 * t), fs) == pytest.approx(72.0, abs=3.0)
    with pytest.raises(ValueError, match=r"a rate in a band from 0.08 Hz needs at least one "
                       r"cycle, 12.5 s"):
        breathing_rate(np.sin(2 * np.pi * 0.25 * t), fs)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="sends SIGINT to a process group")
def test_ctrl_c_in_a_real_run_is_one_line_and_the_report_is_marked(tmp_path):
    """A real kernel, a real SIGINT to the command's process group (what a terminal sends)."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    marker = tmp_path / "cell_started"
    nb = new_notebook(metadata=KERNELSPEC)
    nb.cells = [
        new_code_cell("run_dir = None  # set by the runner", metadata={"tags": ["parameters"]}),
        new_code_cell(f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\n"
                      "time.sleep(120)"),
    ]
    nbformat.write(nb, folder / "00_sleep.ipynb")
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "p.yaml").write_text("notebooks: [00_sleep]\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rppg_lib.run.cli", "run", "--params",
               str(tmp_path / "params" / "p.yaml"), "--out", str(out), "--no-progress"]
    # A foreground job of a terminal takes Ctrl-C's default action; a job started in the
    # background by a shell without job control (as CI may start the tests) inherits SIGINT
    # ignored, and so would this command and its kernel unless the default is restored.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), process.communicate(timeout=10)
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    line = _one_line_error(err, "rppg run: interrupted (Ctrl-C) during notebook 00_sleep")
    assert "is marked interrupted" in line
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"


def test_rppg_cli_prints_user_errors_on_one_line(tmp_path, capsys):
    params = tmp_path / "p.yaml"
    params.write_text("notebooks: [00_a\nparameters: {seed: 0\n")  # PyYAML's message: 6 lines
    assert main(["run", "--params", str(params), "--out", str(tmp_path / "o")]) == 2
    line = _one_line_error(capsys.readouterr().err, "rppg run: error: params file ")
    assert f"{params} is not valid YAML" in line
    params.write_bytes(b"notebooks: [00_a]\n\x80\x81 binary")
    assert main(["run", "--params", str(params), "--out", str(tmp_path / "o")]) == 2
    line = _one_line_error(capsys.readouterr().err, "rppg run: error: params file ")
    assert f"{params} is not UTF-8 text (byte 18 is b'\\x80')" in line
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    assert main(["run", "--params", str(folder)]) == 2
    assert f"params file not found: {folder}" in _one_line_error(capsys.readouterr().err,
                                                                 "rppg run: error:")

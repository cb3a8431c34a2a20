"""Training loop: determinism, exact resume, atomic checkpoints, best/last, CSV log, splits."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from rppg_lib.training import (
    LOG_COLUMNS,
    ChunkDataset,
    TrainConfig,
    build_model,
    chunks_from_clips,
    load_checkpoint,
    model_from_checkpoint,
    preset,
    split_by_subject,
    stop_reason,
    train,
)
from rppg_lib.training import checkpoint as checkpoint_module

torch.set_num_threads(1)


def _clip_data(seed: int = 0, frames: int = 60, size: int = 36):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((frames, 6, size, size)).astype(np.float32)
    y = rng.standard_normal(frames).astype(np.float32)
    return x, y


@pytest.fixture(scope="module")
def tiny_set() -> ChunkDataset:
    """One 60-frame clip at 36x36 in three chunks of 20 frames (two TS-CAN segments each)."""
    return ChunkDataset([_clip_data()], 20)


def _config(tmp_path: Path | None, **overrides) -> TrainConfig:
    values = dict(
        model="tscan", epochs=2, batch_size=2, chunk_length=20, progress=False, seed=3,
        checkpoint_dir=None if tmp_path is None else str(tmp_path),
    )
    values.update(overrides)
    return TrainConfig(**values)


def _params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_same_config_and_seed_give_identical_weights(tiny_set):
    cfg = _config(None)
    first = train(build_model(cfg), tiny_set, cfg).model
    second = train(build_model(cfg), tiny_set, cfg).model
    assert _same(_params(first), _params(second))
    other = _config(None, seed=4)
    third = train(build_model(other), tiny_set, other).model
    assert not _same(_params(first), _params(third))


def test_training_moved_the_weights_and_logged_finite_losses(tiny_set):
    cfg = _config(None)
    initial = _params(build_model(cfg))
    result = train(build_model(cfg), tiny_set, cfg)
    assert not _same(initial, _params(result.model))
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert all(np.isfinite(row["train_loss"]) for row in result.history)


class _Interrupt(RuntimeError):
    pass


def _log_values(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).drop(columns=["seconds"])


def test_resumed_run_reproduces_uninterrupted_run(tiny_set, tmp_path):
    straight_dir, resumed_dir = tmp_path / "straight", tmp_path / "resumed"
    # AdamW + OneCycle (scheduler state), dropout (RNG state), shuffled chunks (epoch seed)
    cfg = _config(straight_dir, epochs=3)
    straight = train(build_model(cfg), tiny_set, cfg, val_set=tiny_set)

    cfg = _config(resumed_dir, epochs=3)

    def crash_after_first_epoch(row):
        if row["epoch"] == 1:
            raise _Interrupt("simulated interruption")

    with pytest.raises(_Interrupt):
        train(
            build_model(cfg), tiny_set, cfg, val_set=tiny_set,
            on_epoch_end=crash_after_first_epoch,
        )
    assert load_checkpoint(resumed_dir / "last.pt")["epoch"] == 1

    # a fresh process would rebuild the model from the seed; resume replaces its weights
    fresh = build_model(_config(None, seed=99))
    resumed = train(fresh, tiny_set, cfg, val_set=tiny_set)
    assert _same(_params(straight.model), _params(resumed.model))
    pd.testing.assert_frame_equal(
        _log_values(straight_dir / "log.csv"), _log_values(resumed_dir / "log.csv")
    )
    assert len(resumed.history) == 3


def test_resume_of_a_finished_run_returns_its_weights_without_training(tiny_set, tmp_path):
    cfg = _config(tmp_path)
    done = train(build_model(cfg), tiny_set, cfg)
    again = train(build_model(_config(None, seed=7)), tiny_set, cfg)
    assert _same(_params(done.model), _params(again.model))
    assert again.history == done.history


def test_resume_refuses_a_changed_config(tiny_set, tmp_path):
    cfg = _config(tmp_path, epochs=1)
    train(build_model(cfg), tiny_set, cfg)
    changed = _config(tmp_path, epochs=1, lr=1e-4)
    with pytest.raises(ValueError, match=r"lr: None -> 0\.0001"):
        train(build_model(changed), tiny_set, changed)
    # resume=False starts over instead
    restarted = _config(tmp_path, epochs=1, lr=1e-4, resume=False)
    train(build_model(restarted), tiny_set, restarted)
    assert load_checkpoint(tmp_path / "last.pt")["config"]["lr"] == 1e-4


def test_crash_while_saving_leaves_previous_checkpoint_intact(tiny_set, tmp_path, monkeypatch):
    cfg = _config(tmp_path, epochs=2)
    real_save = torch.save
    calls = []

    def save_that_dies_on_epoch_two(obj, handle, *args, **kwargs):
        calls.append(obj["epoch"])
        if obj["epoch"] == 2:
            handle.write(b"half a checkpoint")
            raise OSError("disk full (simulated)")
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "save", save_that_dies_on_epoch_two)
    with pytest.raises(OSError, match="simulated"):
        train(build_model(cfg), tiny_set, cfg)
    monkeypatch.undo()
    assert 2 in calls
    checkpoint = load_checkpoint(tmp_path / "last.pt")
    assert checkpoint["epoch"] == 1
    assert not list(tmp_path.glob(".*.tmp")), "temporary files left behind"
    resumed = train(build_model(cfg), tiny_set, cfg)
    assert [row["epoch"] for row in resumed.history] == [1, 2]


def test_a_higher_is_better_monitor_keeps_the_highest_epoch(tiny_set, tmp_path):
    """val_snr_db (dB) is the one monitored metric where higher is better."""
    cfg = _config(tmp_path, epochs=4, monitor="val_snr_db", patience=2)
    scripted = iter([1.0, 3.0, 2.0, 2.5])

    def validate(net):
        return {"val_snr_db": next(scripted)}

    result = train(build_model(cfg), tiny_set, cfg, validate=validate)
    assert (result.monitor, result.best_epoch, result.best_value) == ("val_snr_db", 2, 3.0)
    assert len(result.history) == 4  # epochs 3 and 4 did not beat 3.0 dB: patience ran out


def test_best_and_last_checkpoints_follow_the_monitored_metric(tiny_set, tmp_path):
    cfg = _config(tmp_path, epochs=3)
    scripted = iter([3.0, 1.0, 2.0])
    weights_by_epoch = {}
    model = build_model(cfg)

    def validate(net):
        assert not net.training
        return {"val_hr_mae": next(scripted)}

    def remember(row):
        weights_by_epoch[row["epoch"]] = {k: v.clone() for k, v in model.state_dict().items()}

    result = train(model, tiny_set, cfg, validate=validate, on_epoch_end=remember)
    assert (result.monitor, result.best_epoch, result.best_value) == ("val_hr_mae", 2, 1.0)
    best, last = load_checkpoint(result.best_path), load_checkpoint(result.last_path)
    assert best["epoch"] == 2 and last["epoch"] == 3
    for name, tensor in best["model"].items():
        assert torch.equal(tensor, weights_by_epoch[2][name])
    for name, tensor in last["model"].items():
        assert torch.equal(tensor, weights_by_epoch[3][name])
    assert {"optimizer", "scheduler", "rng", "config", "history"} <= set(last)
    rebuilt, _ = model_from_checkpoint(result.best_path)
    for name, tensor in rebuilt.state_dict().items():
        assert torch.equal(tensor, weights_by_epoch[2][name])


def test_csv_log_has_the_documented_columns_and_the_history_values(tiny_set, tmp_path):
    cfg = _config(tmp_path, epochs=2)
    result = train(
        build_model(cfg), tiny_set, cfg, val_set=tiny_set,
        validate=lambda net: {"val_hr_mae": 4.5, "val_snr_db": -1.0},
    )
    log = pd.read_csv(result.log_path)
    assert list(log.columns) == [*LOG_COLUMNS, "val_snr_db"]
    assert log["epoch"].tolist() == [1, 2]
    for column in ("train_loss", "val_loss", "lr"):
        expected = [row[column] for row in result.history]
        np.testing.assert_allclose(log[column], expected, rtol=1e-8)
    assert log["val_hr_mae"].tolist() == [4.5, 4.5]
    assert (log["seconds"] > 0).all()
    # OneCycle: the learning rate of the last step of epoch 2 is the schedule's floor, far below
    # the peak 9e-3 (max_lr / (25 * 1e4))
    assert log["lr"].iloc[-1] == pytest.approx(9e-3 / 25 / 1e4)


def test_without_validation_the_best_checkpoint_follows_the_training_loss(tiny_set, tmp_path):
    cfg = _config(tmp_path, epochs=1)
    result = train(build_model(cfg), tiny_set, cfg)
    assert result.monitor == "train_loss"
    assert np.isnan(pd.read_csv(result.log_path)["val_loss"]).all()
    with pytest.raises(ValueError, match="monitor = 'val_hr_mae'"):
        cfg = _config(tmp_path / "x", epochs=1, monitor="val_hr_mae")
        train(build_model(cfg), tiny_set, cfg)


def test_amp_on_cpu_is_ignored_with_a_log_message(tiny_set, caplog):
    cfg = _config(None, epochs=1, amp=True, device="cpu")
    with caplog.at_level(logging.WARNING, logger="rppg_lib.training.loop"):
        result = train(build_model(cfg), tiny_set, cfg)
    assert "amp=True ignored" in caplog.text
    plain = _config(None, epochs=1, device="cpu")
    assert _same(_params(result.model), _params(train(build_model(plain), tiny_set, plain).model))


def test_lstm_denoiser_trains_with_the_same_loop():
    # windows of 60 steps; channel 3 holds a level that is constant over each window and the
    # target is half of it: the encoder must carry the level through its last state
    rng = np.random.default_rng(1)
    level = np.repeat(rng.uniform(-1, 1, 20), 60)
    signals = np.column_stack([rng.standard_normal((1200, 3)) * 0.1, level]).astype(np.float32)
    target = (0.5 * level).astype(np.float32)
    windows = ChunkDataset([(signals, target)], 60, collate="stack")
    assert len(windows) == 20
    cfg = preset(
        "lstm", epochs=8, batch_size=4, lr=3e-3, progress=False, model_kwargs={"hidden_size": 16}
    )
    result = train(build_model(cfg), windows, cfg, val_set=windows)
    losses = [row["val_loss"] for row in result.history]
    assert losses[-1] < 0.2 * losses[0]
    x, _ = windows[0]
    assert result.model(x[None]).shape == (1, 60)


def test_chunk_dataset_cuts_chunks_and_covers_the_tail():
    x, y = np.arange(50.0)[:, None], np.arange(50.0)
    ds = ChunkDataset([(x, y)], 20)
    # 0-19, 20-39, then a chunk ending on the last frame instead of dropping frames 40-49
    assert [ds.index[i][1] for i in range(len(ds))] == [0, 20, 30]
    inputs, targets = ds[2]
    assert inputs.dtype == torch.float32 and inputs.shape == (20, 1)
    assert targets[0].item() == 30 and targets[-1].item() == 49
    batch_x, batch_y = ds.collate_fn([ds[0], ds[1]])
    assert batch_x.shape == (40, 1) and batch_y.shape == (40,)
    with pytest.raises(ValueError, match="clip A has 10 steps, fewer than the chunk length 20"):
        ChunkDataset([(x[:10], y[:10])], 20, names=["clip A"])
    with pytest.raises(ValueError, match="inputs have 50 steps but targets have 49"):
        ChunkDataset([(x, y[:49])], 20)


def test_chunks_from_clips_reads_preprocessed_clips_channels_first():
    rng = np.random.default_rng(0)
    clip = SimpleNamespace(
        clip_id="s1/t1",
        motion=rng.standard_normal((40, 36, 36, 3)).astype(np.float32),
        appearance=rng.standard_normal((40, 36, 36, 3)).astype(np.float32),
        labels=rng.standard_normal(40).astype(np.float32),
    )
    ds = chunks_from_clips([clip], 20, frame_depth=10)
    inputs, labels = ds[1]
    assert inputs.shape == (20, 6, 36, 36)
    np.testing.assert_array_equal(inputs[:, :3].numpy(), clip.motion[20:].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(inputs[:, 3:].numpy(), clip.appearance[20:].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(labels.numpy(), clip.labels[20:])
    with pytest.raises(ValueError, match="chunk_length = 25 frames must be a multiple of"):
        chunks_from_clips([clip], 25, frame_depth=10)
    with pytest.raises(ValueError, match="no respiration labels"):
        chunks_from_clips([clip], 20, targets="pulse+resp")


def test_split_by_subject_gives_disjoint_complete_groups():
    clips = [SimpleNamespace(subject=f"s{k % 10}", clip_id=f"c{k}") for k in range(40)]
    train_set, val_set, test_set = split_by_subject(clips, (0.6, 0.2, 0.2), seed=1)
    subjects = [{c.subject for c in group} for group in (train_set, val_set, test_set)]
    assert [len(s) for s in subjects] == [6, 2, 2]
    assert not (subjects[0] & subjects[1] or subjects[0] & subjects[2] or subjects[1] & subjects[2])
    assert sorted(c.clip_id for g in (train_set, val_set, test_set) for c in g) == sorted(
        c.clip_id for c in clips
    )
    again = split_by_subject(clips, (0.6, 0.2, 0.2), seed=1)
    assert [[c.clip_id for c in g] for g in again] == [
        [c.clip_id for c in g] for g in (train_set, val_set, test_set)
    ]
    # every group with a positive share gets a subject even when rounding would give it none
    small = split_by_subject(clips[:3], (0.8, 0.1, 0.1))
    assert [len(g) for g in small] == [1, 1, 1]
    with pytest.raises(ValueError, match="2 subject"):
        split_by_subject(clips[:2], (0.6, 0.2, 0.2))
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_subject(clips, (0.5, 0.2))


def test_config_rejects_bad_values_by_name():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match=r"unknown training config keys \['epoch'\]"):
        TrainConfig.from_dict({"epoch": 3})
    assert TrainConfig.from_dict({"lr": "9e-3"}).lr == 9e-3  # PyYAML reads 9e-3 as a string
    assert TrainConfig(optimizer="adadelta").learning_rate == 1.0
    assert TrainConfig(optimizer="adadelta").scheduler_name == "none"
    assert TrainConfig().scheduler_name == "onecycle"


def test_command_line_trains_from_a_yaml_file_of_arrays(tmp_path, capsys):
    from rppg_lib.train import main

    x, y = _clip_data(frames=40)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "run.yaml").write_text(
        "model: can\nepochs: 3\nbatch_size: 2\nchunk_length: 20\nlr: 1e-3\nprogress: false\n"
        "checkpoint_dir: out\n"
        "data:\n  kind: arrays\n  train: [{inputs: x.npy, targets: y.npy}]\n"
        "  val: {inputs: x.npy, targets: y.npy}\n"
    )
    out = tmp_path / "elsewhere"
    assert main(["--config", str(tmp_path / "run.yaml"), "--epochs", "1",
                 "--checkpoint-dir", str(out)]) == 0
    checkpoint = load_checkpoint(out / "last.pt")
    assert checkpoint["epoch"] == 1 and checkpoint["config"]["model"] == "can"
    assert checkpoint["model_class"] == "CAN" and checkpoint["config"]["lr"] == 1e-3
    assert np.isfinite(pd.read_csv(out / "log.csv")["val_loss"]).all()

    (tmp_path / "bad.yaml").write_text(
        "epochs: 1\ndata:\n  kind: arrays\n  train: [{inputs: no.npy, targets: y.npy}]\n"
    )
    assert main(["--config", str(tmp_path / "bad.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_command_line_trains_on_a_synthetic_dataset_split_by_subject(tmp_path):
    from rppg_lib.train import run_from_yaml

    (tmp_path / "run.yaml").write_text(
        "model: tscan\nepochs: 1\nbatch_size: 2\nchunk_length: 60\nprogress: false\n"
        "checkpoint_dir: out\n"
        "data:\n  kind: dataset\n  name: synthetic\n  root: synth\n  cache_dir: cache\n"
        "  options: {subjects: 3, scenarios: [clean], seconds: 4, fps: 30, size: 64, seed: 0,"
        " progress: false}\n"
        "  preprocess: {crop: box}\n  split: [0.34, 0.33, 0.33]\n"
    )
    result = run_from_yaml(tmp_path / "run.yaml", {"checkpoint_dir": str(tmp_path / "out")})
    row = result.history[0]
    # one training subject (2 chunks of 60 of its 120 frames), one validation subject
    assert np.isfinite(row["val_loss"]) and 0 <= row["val_hr_mae"] < 110
    assert result.monitor == "val_hr_mae"
    assert load_checkpoint(result.last_path)["config"]["chunk_length"] == 60
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "chunk_length: 60\ndata:\n  kind: dataset\n  name: synthetic\n  root: synth\n"
        "  preprocess: {chunk_length: 90}\n"
    )
    with pytest.raises(ValueError, match="data.preprocess.chunk_length = 90 contradicts"):
        run_from_yaml(bad)


def test_memory_mapped_chunks_travel_to_workers_as_file_references(tmp_path):
    import pickle

    x, y = _clip_data(frames=80)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "m.npy", np.ascontiguousarray(x[:, :3].transpose(0, 2, 3, 1)))
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    ds = ChunkDataset([(mapped[20:], y[20:])], 20)  # a view that starts inside the file
    payload = pickle.dumps(ds)
    assert len(payload) < x.nbytes / 10  # the frames are not in the pickle
    back = pickle.loads(payload)
    for k in range(len(ds)):
        for a, b in zip(back[k], ds[k], strict=True):
            assert torch.equal(a, b)

    motion = np.load(tmp_path / "m.npy", mmap_mode="r")
    clip = SimpleNamespace(clip_id="c", motion=motion, appearance=motion, labels=y)
    clips = chunks_from_clips([clip], 40, frame_depth=10)
    again = pickle.loads(pickle.dumps(clips))
    assert len(pickle.dumps(clips)) < motion.nbytes / 10
    assert torch.equal(again[1][0], clips[1][0])


def _linear_sets(val_scale: float) -> tuple[ChunkDataset, ChunkDataset]:
    """y = x @ w on the training sequence; y = val_scale * x @ w on the validation one."""
    rng = np.random.default_rng(0)
    w = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    x_train = rng.standard_normal((200, 3)).astype(np.float32)
    x_val = rng.standard_normal((100, 3)).astype(np.float32)
    return (
        ChunkDataset([(x_train, x_train @ w)], 20),
        ChunkDataset([(x_val, val_scale * (x_val @ w))], 20),
    )


def _zero_linear() -> torch.nn.Module:
    model = torch.nn.Linear(3, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    return model


def test_patience_stops_where_the_validation_loss_stops_improving(tmp_path):
    # The weights grow from 0 towards w; the validation targets are 0.5 x @ w, so the validation
    # loss falls while the weights approach w / 2 and rises after: early stopping must end the
    # run `patience` epochs after the minimum and keep the minimum's weights in best.pt.
    train_set, val_set = _linear_sets(0.5)
    cfg = TrainConfig(model="custom", epochs=40, patience=3, batch_size=2, chunk_length=20,
                      optimizer="adam", lr=0.02, progress=False, checkpoint_dir=str(tmp_path))
    result = train(_zero_linear(), train_set, cfg, val_set=val_set)
    val = np.array([row["val_loss"] for row in result.history])
    best = int(np.argmin(val)) + 1
    assert result.monitor == "val_loss" and result.best_epoch == best
    assert 2 <= best <= 30, f"the minimum must lie inside the run, got epoch {best}"
    assert result.stopped_epoch == best + 3 == len(result.history)
    assert (val[best:] >= val[best - 1]).all()
    assert "patience 3" in result.stop_reason and f"since epoch {best}" in result.stop_reason
    assert load_checkpoint(result.best_path)["epoch"] == best
    assert load_checkpoint(result.last_path)["epoch"] == best + 3
    # resuming a run that stopped early trains no further
    again = train(_zero_linear(), train_set, dataclasses.replace(cfg, resume=True), val_set=val_set)
    assert again.stopped_epoch == best + 3 and len(again.history) == best + 3


def test_without_patience_every_epoch_runs(tmp_path):
    train_set, val_set = _linear_sets(0.5)
    for patience in (None, 0):
        cfg = TrainConfig(model="custom", epochs=12, patience=patience, batch_size=2,
                          chunk_length=20, optimizer="adam", lr=0.02, progress=False)
        result = train(_zero_linear(), train_set, cfg, val_set=val_set)
        assert result.stopped_epoch == 12 and result.stop_reason == "reached epochs = 12"
        assert result.best_epoch < 12  # validation had stopped improving: nobody stopped it


def test_stop_reason_counts_epochs_since_the_best():
    best = {"monitor": "val_hr_mae", "epoch": 2, "value": 1.5}
    assert stop_reason(best, 4, 3) is None
    reason = stop_reason(best, 5, 3)
    assert "no improvement of val_hr_mae since epoch 2 (1.5) for 3 epochs" in reason
    assert stop_reason(best, 50, None) is None and stop_reason(best, 50, 0) is None
    with pytest.raises(ValueError, match="patience"):
        TrainConfig(patience=-1)

"""rppg_lib.steps.dataset_split: the split of a run, its artifacts between notebooks, and the
per-clip
loops."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rppg_lib.attention import AttentionMasks, load_masks
from rppg_lib.datasets import Clip, Dataset
from rppg_lib.models import TSCAN
from rppg_lib.network_inference import ClipPrediction
from rppg_lib.preprocess import PreprocessConfig, preprocess_clip, preprocess_dataset
from rppg_lib.steps import artifacts
from rppg_lib.steps.artifacts import ATTENTION_STAGE
from rppg_lib.steps.attention_masks import attention_skin_fraction, load_attention, save_attention
from rppg_lib.steps.dataset_split import Study, load_study, prepare_study, save_study
from rppg_lib.steps.preprocessing import load_preprocessed, save_preprocessed_index
from rppg_lib.steps.synthetic_data import ground_truth_signals, ground_truth_table
from rppg_lib.steps.train_tscan import hr_windows, predict_all, training_sets
from rppg_lib.training import TrainConfig

FRACTIONS = (0.34, 0.33, 0.33)  # 3 subjects -> one per split


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 3-subject x 2-scenario synthetic study (4 s at 64 px) and its preprocessed clips."""
    base = tmp_path_factory.mktemp("study")
    study = prepare_study(
        "synthetic", base / "data", subjects=3, scenarios=["clean", "illumination"], seconds=4.0,
        fps=30.0, frame_size=64, seed=0, split_fractions=FRACTIONS, progress=False,
    )
    config = PreprocessConfig(size=36, crop="box", chunk_length=60)
    done = preprocess_dataset(study.dataset, config, base / "cache", progress=False)
    return study, done, base


def test_prepare_study_builds_and_splits_by_subject(world):
    study, _, base = world
    assert study.name == "synthetic" and study.fps == 30.0
    assert study.data_root == (base / "data").resolve() and study.data_root.is_absolute()
    assert len(study.dataset) == 6 and study.scenarios == ["clean", "illumination"]
    subjects = [set(study.part(s).subjects) for s in ("train", "val", "test")]
    assert all(len(s) == 1 for s in subjects) and set.union(*subjects) == {"s01", "s02", "s03"}
    for split in ("train", "val", "test"):
        assert len(study.clips(split)) == 2  # both scenarios of its subject
        for clip_id in study.clip_ids(split):
            assert study.split_of(clip_id) == split
    assert study.clip_ids() == [c.clip_id for c in study.dataset]
    table = study.table()
    assert table["split"].value_counts().to_dict() == {"train": 2, "val": 2, "test": 2}
    assert study.build == {"subjects": 3, "scenarios": ["clean", "illumination"], "seconds": 4.0,
                           "fps": 30.0, "size": 64, "seed": 0}


def test_ground_truth_table_and_signals(world):
    study = world[0]
    table = ground_truth_table(study)
    assert list(table["clip_id"]) == study.clip_ids()
    clip = study.dataset[0]
    hr = clip.hr_at_frames()
    row = table.iloc[0]
    assert (row["hr_mean"], row["hr_min"], row["hr_max"]) == (hr.mean(), hr.min(), hr.max())
    assert row["seconds"] == pytest.approx(4.0) and row["split"] == study.split_of(clip.clip_id)
    signals, units = ground_truth_signals(clip)
    assert units == {"BVP": "a.u.", "respiration": "a.u.", "heart rate": "bpm"}
    np.testing.assert_array_equal(signals["heart rate"], hr)
    frames = np.zeros((clip.n_frames, 8, 8, 3), dtype=np.uint8)
    no_resp = Clip.from_frames(frames, clip.fps, bvp=clip.bvp, hr=clip.hr)
    assert list(ground_truth_signals(no_resp)[0]) == ["BVP", "heart rate"]
    with pytest.raises(ValueError, match="has no ground truth"):
        ground_truth_signals(Clip.from_frames(frames, clip.fps, clip_id="bare"))


def test_study_rejects_unknown_split_and_clip(world):
    study = world[0]
    with pytest.raises(ValueError, match="split must be one of"):
        study.clips("training")
    with pytest.raises(KeyError, match="s09_clean"):
        study.split_of("s09_clean")


def test_prepare_study_refuses_open_kwargs_for_synthetic(tmp_path):
    with pytest.raises(ValueError, match=r"open_kwargs \['task'\] are for real datasets"):
        prepare_study("synthetic", tmp_path, open_kwargs={"task": "T1"})


def test_save_and_load_study_round_trip(world, tmp_path):
    study = world[0]
    path = study.save(tmp_path)
    assert path == tmp_path / "artifacts" / "00_synthetic_data" / "study.json"
    content = json.loads(path.read_text())
    assert content["dataset"] == "synthetic" and content["fps"] == 30.0
    assert content["split"] == {s: study.part(s).subjects for s in ("train", "val", "test")}
    back = load_study(tmp_path)
    assert isinstance(back, Study)
    for split in ("all", "train", "val", "test"):
        assert back.clip_ids(split) == study.clip_ids(split)
    assert back.build == study.build and back.fps == 30.0
    clip = back.test[0]
    np.testing.assert_array_equal(clip.bvp_at_frames(), study.dataset[clip.clip_id].bvp_at_frames())


def test_load_study_names_missing_artifact_and_vanished_clips(world, tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 00_synthetic_data"):
        load_study(tmp_path)
    path = world[0].save(tmp_path)
    content = json.loads(path.read_text())
    content["clips"]["test"].append("s07_clean")
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=r"test clips \['s07_clean'\].*not in synthetic"):
        load_study(tmp_path)


def test_save_study_rejects_overlapping_and_foreign_splits(world, tmp_path):
    study = world[0]
    with pytest.raises(ValueError, match="is in both train and test"):
        save_study(tmp_path, dataset=study.dataset, data_root=study.data_root,
                   split=(study.train, study.val, study.train))
    foreign = Dataset([study.train[0]], "synthetic", study.data_root)
    smaller = Dataset(study.clips("val"), "synthetic", study.data_root)
    with pytest.raises(ValueError, match="not in the dataset"):
        save_study(tmp_path, dataset=smaller, data_root=study.data_root,
                   split={"train": foreign, "val": smaller, "test": Dataset([], "x", ".")})
    with pytest.raises(ValueError, match="split must have the parts"):
        save_study(tmp_path, dataset=study.dataset, data_root=study.data_root,
                   split={"train": study.train})


def test_preprocessed_index_round_trip(world, tmp_path):
    study, done, _ = world
    path = save_preprocessed_index(tmp_path, done)
    index = json.loads(path.read_text())
    assert list(index) == study.clip_ids()
    loaded = load_preprocessed(tmp_path)
    assert list(loaded) == study.clip_ids()
    for original in done.clips:
        np.testing.assert_array_equal(loaded[original.clip_id].motion, original.motion)
    subset = load_preprocessed(tmp_path, ["s02_clean"])
    assert list(subset) == ["s02_clean"]
    with pytest.raises(KeyError, match="s05_clean"):
        load_preprocessed(tmp_path, ["s05_clean"])


def test_preprocessed_index_refuses_in_memory_clips(world, tmp_path):
    clip = world[0].dataset[0]
    in_memory = preprocess_clip(clip, PreprocessConfig(size=36, crop="box", chunk_length=60),
                                progress=False)
    with pytest.raises(ValueError, match="preprocessed in memory; give a cache_dir"):
        save_preprocessed_index(tmp_path, {clip.clip_id: in_memory})
    with pytest.raises(ValueError, match="index is empty"):
        save_preprocessed_index(tmp_path, {})


def test_training_sets_chunk_the_train_and_val_clips(world):
    study, done, _ = world
    pre = {c.clip_id: c for c in done.clips}
    config = TrainConfig(model="tscan", chunk_length=40, progress=False)
    train_set, val_set, validate = training_sets(study, pre, config)
    # 120 frames per clip, chunks of 40: 3 per clip, 2 clips per split
    assert len(train_set) == 6 and len(val_set) == 6
    x, y = train_set[0]
    assert tuple(x.shape) == (40, 6, 36, 36) and tuple(y.shape) == (40,)
    first_train = pre[study.clip_ids("train")[0]]
    np.testing.assert_allclose(y.numpy(), first_train.labels[:40])
    torch.manual_seed(0)
    metrics = validate(TSCAN())
    assert set(metrics) == {"val_hr_mae"} and metrics["val_hr_mae"] >= 0
    with pytest.raises(ValueError, match="multiple of frame_depth"):
        training_sets(study, pre, TrainConfig(model="tscan", chunk_length=45))
    with pytest.raises(KeyError, match="train clips"):
        training_sets(study, {}, config)


def test_predict_all_and_attention_artifacts_round_trip(world, tmp_path):
    study, done, _ = world
    pre = {c.clip_id: c for c in done.clips[:2]}
    torch.manual_seed(0)
    predictions = predict_all(TSCAN(), pre, return_masks=True, progress=False)
    assert list(predictions) == list(pre)
    for clip_id, prediction in predictions.items():
        assert prediction.pulse_derivative.shape == (120,)
        assert prediction.masks.gate1.shape == (120, 34, 34)
        path = save_attention(tmp_path, prediction)
        assert path == tmp_path / "artifacts" / ATTENTION_STAGE / f"{clip_id}.npz"
        back = load_attention(tmp_path, clip_id)
        assert back.clip_id == clip_id and back.masks.fps == 30.0
        np.testing.assert_array_equal(back.masks.gate1, prediction.masks.gate1)
        np.testing.assert_array_equal(back.pulse_derivative, prediction.pulse_derivative)
        same = load_masks(path)  # the attention module's reader accepts the file too
        np.testing.assert_array_equal(same.gate2, prediction.masks.gate2)
    bare = ClipPrediction("x", 30.0, np.arange(3) / 30.0, pulse_derivative=np.zeros(3))
    with pytest.raises(ValueError, match="predict with return_masks=True"):
        save_attention(tmp_path, bare)
    with pytest.raises(FileNotFoundError, match="run notebook 03_attention_masks"):
        load_attention(tmp_path, "s03_clean")
    with pytest.raises(ValueError, match="preprocessed is empty"):
        predict_all(TSCAN(), {})


def test_hr_windows_of_the_ground_truth_has_zero_error(world):
    study = world[0]
    estimates = {c.clip_id: c.bvp_at_frames() for c in study.clips("test")}
    table = hr_windows(estimates, study, window_s=2.0, method="truth")
    assert len(table) == 2 * 2  # two 2 s windows per 4 s clip
    assert (table["abs_error"] == 0).all()
    assert set(table["split"]) == {"test"} and set(table["method"]) == {"truth"}
    assert sorted(table["scenario"].unique()) == ["clean", "illumination"]
    with pytest.raises(ValueError, match="estimates is empty"):
        hr_windows({}, study)


def test_attention_skin_fraction_uniform_mask_scores_chance(world):
    study, done, _ = world
    pre = {c.clip_id: c for c in done.clips}
    clip_id = study.clip_ids("test")[0]
    n = pre[clip_id].n_frames
    uniform = AttentionMasks(np.full((n, 34, 34), 0.5), np.full((n, 15, 15), 0.5), 30.0, clip_id)
    table = attention_skin_fraction({clip_id: uniform}, study, pre)
    row = table.iloc[0]
    assert row["split"] == "test" and 0.05 < row["chance"] < 0.9
    assert row["fraction"] == pytest.approx(row["chance"], rel=1e-6)
    assert row["lift"] == pytest.approx(1.0, rel=1e-6)
    # a mask on the face box centre, where the skin is, beats chance
    focused = np.zeros((n, 34, 34))
    focused[:, 13:21, 13:21] = 1.0
    table = attention_skin_fraction(
        {clip_id: AttentionMasks(focused, np.full((n, 15, 15), 0.5), 30.0, clip_id)}, study, pre
    )
    assert table.iloc[0]["lift"] > 1.5


def test_attention_skin_fraction_needs_synthetic_data(world):
    study = world[0]
    real = Study(study.dataset, study.train, study.val, study.test, "ubfc_rppg",
                 study.data_root, 30.0)
    with pytest.raises(ValueError, match="only for synthetic data, not 'ubfc_rppg'"):
        attention_skin_fraction({}, real, {})


def test_artifact_locations_follow_the_contract(world, tmp_path):
    study = world[0]
    study.save(tmp_path)
    assert artifacts.load_json(tmp_path, "00_synthetic_data", "study")["clips"]["test"] == (
        study.clip_ids("test")
    )

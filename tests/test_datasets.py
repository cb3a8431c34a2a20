"""rppg_lib.datasets core: Signal, Clip (streaming, resampling onto frames), Dataset splits,
ground-truth checks shared by the readers, and open_dataset."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from rppg_lib.datasets import Clip, Dataset, Signal, open_dataset, uniform_times
from rppg_lib.datasets.checks import (
    check_frame_time_gaps,
    numbered_frame_times,
    signal_from_samples,
)
from rppg_lib.video_io import write_video


def index_frames(n: int, h: int = 8, w: int = 8) -> np.ndarray:
    k = np.arange(n) % 256
    return np.broadcast_to(k[:, None, None, None], (n, h, w, 3)).astype(np.uint8)


def memory_clip(n=30, fps=30.0, **fields) -> Clip:
    return Clip.from_frames(index_frames(n), fps, **fields)


# --- Signal -------------------------------------------------------------------------------------


def test_signal_is_validated_and_read_only():
    s = Signal.uniform([1.0, 2.0, 3.0], fs=2.0, unit="bpm", t0=1.0)
    assert s.times.tolist() == [1.0, 1.5, 2.0]
    assert s.fs == 2.0 and s.span == (1.0, 2.0) and len(s) == 3
    with pytest.raises(ValueError):
        s.values[0] = 5.0
    with pytest.raises(ValueError, match="same length"):
        Signal(np.zeros(3), np.arange(4.0), "a.u.")
    with pytest.raises(ValueError, match="non-finite.*index 1"):
        Signal(np.array([0.0, np.nan, 1.0]), np.arange(3.0), "a.u.")
    with pytest.raises(ValueError, match=r"strictly increasing; sample 2 \(1.0 s\)"):
        Signal(np.zeros(3), np.array([0.0, 1.0, 1.0]), "a.u.")
    with pytest.raises(ValueError, match="at least 2 samples"):
        Signal(np.zeros(1), np.zeros(1), "a.u.")


def test_signal_from_samples_nan_policies():
    times = np.arange(6) / 10.0
    values = np.array([0.0, 1.0, np.nan, 3.0, np.nan, 5.0])
    with pytest.raises(
        ValueError, match=r"bvp in gt.csv holds 2 NaN/inf sample\(s\) at indices \[2, 4\]"
    ):
        signal_from_samples(values, times, "a.u.", source="gt.csv", name="bvp")
    with pytest.warns(UserWarning, match=r"dropped 2 NaN/inf sample\(s\) of 6 at indices \[2, 4\]"):
        s = signal_from_samples(values, times, "a.u.", source="gt.csv", name="bvp",
                                nan_policy="drop")
    assert s.values.tolist() == [0.0, 1.0, 3.0, 5.0]
    assert s.times.tolist() == [0.0, 0.1, 0.3, 0.5]
    with pytest.raises(ValueError, match="nan_policy must be one of"):
        signal_from_samples(values, times, "a.u.", source="x", name="y", nan_policy="ignore")
    with pytest.raises(ValueError, match="time stamps of bvp in gt.csv must be strictly"):
        signal_from_samples([1, 2, 3], [0.0, 0.2, 0.1], "a.u.", source="gt.csv", name="bvp")


# --- Clip ----------------------------------------------------------------------------------------


def test_at_frames_resamples_a_linear_signal_exactly():
    clip = memory_clip(n=30, fps=30.0)
    t = np.arange(0, 1.2, 1 / 64)  # 64 Hz ground truth, like UBFC-Phys
    clip.bvp = Signal(3.0 * t - 1.0, t, "a.u.")
    expected = 3.0 * np.arange(30) / 30.0 - 1.0
    np.testing.assert_allclose(clip.bvp_at_frames(), expected, atol=1e-12)


def test_at_frames_refuses_ground_truth_that_ends_early():
    clip = memory_clip(n=30, fps=30.0)
    short = Signal.uniform(np.zeros(40), fs=64.0, unit="a.u.")  # 0.61 s for a 0.97 s clip
    with pytest.raises(
        ValueError, match=r"covers 0.0000–0.6094 s but the frames span 0.0000–0.9667 s"
    ):
        clip.at_frames(short)
    # within the default tolerance (one frame period) the edge value is held
    almost = Signal.uniform(np.arange(62.0), fs=64.0, unit="a.u.")  # ends at 0.953 s
    assert clip.at_frames(almost)[-1] == 61.0
    with pytest.raises(ValueError, match="0.0135 s at the end"):
        clip.at_frames(almost, tolerance=0.0)
    late = Signal(np.zeros(3), np.array([0.2, 0.5, 2.0]), "a.u.")
    with pytest.raises(ValueError, match="0.2000 s missing at the start"):
        clip.at_frames(late)


def test_missing_ground_truth_is_named():
    clip = memory_clip(clip_id="c7")
    with pytest.raises(ValueError, match="clip c7 .* has no resp ground truth"):
        clip.resp_at_frames()


def test_clip_validation():
    frames = index_frames(5)
    with pytest.raises(ValueError, match="fps must be a positive"):
        Clip.from_frames(frames, 0.0)
    with pytest.raises(ValueError, match=r"frame_times of clip clip must have shape \(5,\)"):
        Clip.from_frames(frames, 30.0, frame_times=np.arange(4.0))
    with pytest.raises(ValueError, match="frame_times of clip clip must be strictly increasing"):
        Clip.from_frames(frames, 30.0, frame_times=np.array([0, 1, 2, 2, 3.0]))
    with pytest.raises(ValueError, match=r"face_boxes of clip clip must have shape \(5, 4\)"):
        Clip.from_frames(frames, 30.0, face_boxes=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="bvp must be a Signal"):
        Clip.from_frames(frames, 30.0, bvp=np.zeros(5))
    with pytest.raises(FileNotFoundError, match="source not found"):
        Clip("c", "s", "t", Path("/no/such/file.avi"), 30.0, 5, uniform_times(5, 30.0))


def test_clip_streams_from_a_video_file(tmp_path):
    write_video(tmp_path / "v.avi", index_frames(12), fps=30.0)
    clip = Clip("c", "s1", "t", tmp_path / "v.avi", 30.0, 12, uniform_times(12, 30.0))
    assert [int(f[0, 0, 0]) for f in clip.iter_frames(2, 5)] == [2, 3, 4]
    whole = clip.read_frames()
    assert whole.shape == (12, 8, 8, 3) and whole[:, 0, 0, 0].tolist() == list(range(12))
    # a clip that claims more frames than the file holds fails naming the file and the index
    wrong = Clip("c", "s1", "t", tmp_path / "v.avi", 30.0, 14, uniform_times(14, 30.0))
    with pytest.raises(ValueError, match="v.avi ended .* at frame 12; expected 14"):
        wrong.read_frames()


def test_clip_over_a_frame_folder_checks_the_count(tmp_path):
    from rppg_lib.video_io import write_image_folder

    write_image_folder(tmp_path / "frames", index_frames(6))
    clip = Clip("c", "s", "t", tmp_path / "frames", 25.0, 6, uniform_times(6, 25.0))
    assert clip.read_frames()[:, 0, 0, 0].tolist() == list(range(6))
    with pytest.raises(ValueError, match="n_frames=7 but its frame source"):
        Clip("c", "s", "t", tmp_path / "frames", 25.0, 7, uniform_times(7, 25.0))


def test_subclip_keeps_the_clock_and_ground_truth():
    clip = memory_clip(n=30, fps=30.0, face_boxes=np.tile(np.arange(30)[:, None], (1, 4)))
    t = np.linspace(0, 1, 101)
    clip.bvp = Signal(t**2, t, "a.u.")
    sub = clip.subclip(10, 20)
    assert sub.n_frames == 10 and sub.frame_times[0] == pytest.approx(10 / 30)
    assert [int(f[0, 0, 0]) for f in sub.iter_frames()] == list(range(10, 20))
    assert [int(f[0, 0, 0]) for f in sub.iter_frames(8, 10)] == [18, 19]
    np.testing.assert_allclose(sub.bvp_at_frames(), clip.bvp_at_frames()[10:20])
    assert sub.face_boxes[:, 0].tolist() == list(range(10, 20))
    with pytest.raises(ValueError, match="start=5, stop=5"):
        clip.subclip(5, 5)


# --- ground-truth helpers used by the readers ------------------------------------------------


def test_numbered_frame_times_and_gaps():
    files = [Path(f"f/img_{k:04d}.jpg") for k in (0, 1, 2, 5, 6)]
    gap = r"2 missing frame\(s\) \(between img_0002.jpg and img_0005.jpg\); missing numbers \[3, 4"
    with pytest.raises(ValueError, match=gap):
        numbered_frame_times(files, 25.0)
    with pytest.warns(UserWarning, match=r"missing numbers \[3, 4\]"):
        times = numbered_frame_times(files, 25.0, on_gap="warn")
    assert times.tolist() == [0.0, 0.04, 0.08, 0.2, 0.24]
    # numbering in steps of 2 from 10 is regular
    even = [Path(f"{k}.png") for k in (10, 12, 14)]
    assert numbered_frame_times(even, 10.0).tolist() == [0.0, 0.1, 0.2]
    with pytest.raises(ValueError, match="carry the same frame number"):
        numbered_frame_times([Path("a_1.png"), Path("b_1.png")], 10.0)


def test_time_stamp_gap_detection():
    files = [Path(f"x/Image{k}.png") for k in range(6)]
    times = np.array([0.0, 1, 2, 4, 5, 6]) / 30
    with pytest.raises(ValueError, match=r"between Image2.png and Image3.png \(about 1 frame"):
        check_frame_time_gaps(times, files)
    with pytest.warns(UserWarning, match="1 gap"):
        check_frame_time_gaps(times, files, on_gap="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_frame_time_gaps(np.arange(6) / 30, files)


# --- Dataset -------------------------------------------------------------------------------------


def make_dataset(n_subjects=10, tasks=("a", "b")) -> Dataset:
    clips = [
        memory_clip(n=4, clip_id=f"p{s}_{t}", subject=f"p{s}", task=t)
        for s in range(1, n_subjects + 1)
        for t in tasks
    ]
    return Dataset(clips, "toy", "/toy")


def test_dataset_lists_subjects_in_natural_order():
    ds = make_dataset(11)
    assert ds.subjects[:3] == ["p1", "p2", "p3"] and ds.subjects[-1] == "p11"
    assert ds.tasks == ["a", "b"] and len(ds) == 22
    assert ds["p3_b"].subject == "p3" and ds[0].clip_id == "p1_a"
    with pytest.raises(KeyError, match="no clip 'p99_a'"):
        ds["p99_a"]
    table = ds.table()
    assert list(table["n_frames"].unique()) == [4] and table.shape[0] == 22
    with pytest.raises(ValueError, match="clip id 'p1_a' occurs twice"):
        Dataset(ds.clips + [ds.clips[0]], "toy", "/toy")


def test_split_by_subject_is_disjoint_complete_and_seeded():
    ds = make_dataset(10)
    train, val, test = ds.split_by_subject()
    sets = [set(part.subjects) for part in (train, val, test)]
    assert [len(s) for s in sets] == [6, 2, 2]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert set().union(*sets) == set(ds.subjects)
    assert len(train) + len(val) + len(test) == len(ds)
    for part in (train, val, test):  # every clip of a subject goes with the subject
        assert all(len(part.select(subjects=[s])) == 2 for s in part.subjects)
    again = ds.split_by_subject(seed=0)
    assert [p.subjects for p in again] == [p.subjects for p in (train, val, test)]
    other = ds.split_by_subject(seed=1)
    assert [p.subjects for p in other] != [p.subjects for p in (train, val, test)]


def test_split_small_dataset_gives_every_part_a_subject():
    train, val, test = make_dataset(3).split_by_subject((0.6, 0.2, 0.2))
    assert [len(p.subjects) for p in (train, val, test)] == [1, 1, 1]
    train, val, test = make_dataset(4).split_by_subject((0.5, 0.5, 0.0))
    assert [len(p.subjects) for p in (train, val, test)] == [2, 2, 0]
    with pytest.raises(ValueError, match="cannot split 2 subject"):
        make_dataset(2).split_by_subject()
    with pytest.raises(ValueError, match="must sum to 1"):
        make_dataset(5).split_by_subject((0.5, 0.2, 0.2))


def test_split_with_explicit_subject_lists():
    ds = make_dataset(5)
    with pytest.warns(UserWarning, match=r"subject\(s\) \['p5'\] are in no split"):
        train, val, test = ds.split_by_subject(train=["p1", "p2"], val=["p3"], test=["p4"])
    assert (train.subjects, val.subjects, test.subjects) == (["p1", "p2"], ["p3"], ["p4"])
    with pytest.raises(ValueError, match=r"\['p2'\] are in both train and test"):
        ds.split_by_subject(train=["p1", "p2"], test=["p2"])
    with pytest.raises(ValueError, match=r"unknown subject\(s\) \['zz'\]"):
        ds.split_by_subject(train=["zz"])
    with pytest.raises(ValueError, match="either fractions or explicit"):
        ds.split_by_subject((0.5, 0.5, 0.0), train=["p1"])


def test_select_by_task_and_unknown_ids():
    ds = make_dataset(3)
    assert [c.clip_id for c in ds.select(tasks=["b"])] == ["p1_b", "p2_b", "p3_b"]
    with pytest.raises(ValueError, match=r"unknown task id\(s\) \['c'\]"):
        ds.select(tasks=["c"])


# --- open_dataset --------------------------------------------------------------------------------


def test_open_dataset_rejects_unknown_names_and_parameters(tmp_path):
    valid = r"\['mmse_hr', 'pure', 'synthetic', 'ubfc_phys', 'ubfc_rppg', 'video'\]"
    with pytest.raises(ValueError, match=r"unknown dataset 'ubfc'; valid names: " + valid):
        open_dataset("ubfc", tmp_path)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['frame_rate'\]; it accepts"):
        open_dataset("pure", tmp_path, frame_rate=30)
    with pytest.raises(FileNotFoundError, match="UBFC-rPPG folder not found"):
        open_dataset("ubfc_rppg", tmp_path / "absent")

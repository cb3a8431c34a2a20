"""UBFC-rPPG and UBFC-Phys readers on tiny fake datasets written by the tests."""

from __future__ import annotations

import numpy as np
import pytest

from rppg_lib.datasets import open_dataset, read_ubfc_phys, read_ubfc_rppg
from rppg_lib.video_io import write_video


def write_clip_video(path, n, fps, size=16):
    k = np.arange(n) % 256
    frames = np.broadcast_to(k[:, None, None, None], (n, size, size, 3)).astype(np.uint8)
    write_video(path, frames, fps=fps)


def write_ubfc2(folder, n_frames=10, fps=30.0, gt_seconds=0.35, gt_fs=60.0, ppg=None):
    """subject folder with vid.avi and ground_truth.txt: PPG = 2t + 1, HR = 60 + 10t."""
    folder.mkdir(parents=True)
    write_clip_video(folder / "vid.avi", n_frames, fps)
    t = np.arange(round(gt_seconds * gt_fs)) / gt_fs
    ppg = 2 * t + 1 if ppg is None else ppg
    lines = [" ".join(f"{v:.10e}" for v in row) for row in (ppg, 60 + 10 * t, t)]
    (folder / "ground_truth.txt").write_text("\n".join(lines) + "\n")
    return t


def test_ubfc_rppg_dataset2_known_answer(tmp_path):
    for k in (1, 2, 10):
        write_ubfc2(tmp_path / f"subject{k}")
    (tmp_path / "README.txt").write_text("not a subject")
    (tmp_path / "extra_folder").mkdir()  # holds neither video nor ground truth: ignored
    ds = open_dataset("ubfc_rppg", tmp_path)
    assert ds.subjects == ["subject1", "subject2", "subject10"]
    clip = ds["subject2"]
    assert (clip.fps, clip.n_frames, clip.task) == (30.0, 10, "dataset2")
    np.testing.assert_allclose(clip.frame_times, np.arange(10) / 30.0)
    # ground truth at 60 Hz, longer than the video: resampled onto the frames
    np.testing.assert_allclose(clip.bvp_at_frames(), 2 * np.arange(10) / 30.0 + 1, atol=1e-9)
    np.testing.assert_allclose(clip.hr_at_frames(), 60 + 10 * np.arange(10) / 30.0, atol=1e-9)
    assert clip.bvp.unit == "a.u." and clip.hr.unit == "bpm"
    assert clip.read_frames()[:, 0, 0, 0].tolist() == list(range(10))
    train, val, test = ds.split_by_subject((1 / 3, 1 / 3, 1 / 3))
    assert sorted(train.subjects + val.subjects + test.subjects) == sorted(ds.subjects)
    assert len(set(train.subjects) | set(val.subjects) | set(test.subjects)) == 3


def test_ubfc_rppg_dataset1_gtdump(tmp_path):
    folder = tmp_path / "10-gt"
    folder.mkdir()
    write_clip_video(folder / "vid.avi", 8, 30.0)
    t_ms = np.arange(0, 400, 12.5)  # 80 Hz
    rows = [f"{t:.1f},{70 + t / 100:.6f},98,{5 - t / 1000:.9f}" for t in t_ms]
    (folder / "gtdump.xmp").write_text("\n".join(rows) + "\n")
    clip = read_ubfc_rppg(tmp_path)["10-gt"]
    assert clip.task == "dataset1"
    np.testing.assert_allclose(clip.bvp_at_frames(), 5 - np.arange(8) / 30.0, atol=1e-9)
    np.testing.assert_allclose(clip.hr_at_frames(), 70 + 10 * np.arange(8) / 30.0, atol=1e-6)


def test_ubfc_rppg_ground_truth_shorter_than_video_is_an_error(tmp_path):
    write_ubfc2(tmp_path / "subject1", n_frames=30, gt_seconds=0.5)  # video lasts 0.97 s
    clip = read_ubfc_rppg(tmp_path)["subject1"]
    with pytest.raises(
        ValueError, match=r"clip subject1: .*covers 0.0000–0.4833 s.*0.4833 s at the end"
    ):
        clip.bvp_at_frames()
    assert clip.subclip(0, 14).bvp_at_frames().shape == (14,)


def test_ubfc_rppg_two_line_file_needs_one_sample_per_frame(tmp_path):
    folder = tmp_path / "subject1"
    folder.mkdir()
    write_clip_video(folder / "vid.avi", 6, 30.0)
    (folder / "ground_truth.txt").write_text("1 2 3 4 5 6\n70 70 70 70 70 70\n")
    np.testing.assert_array_equal(read_ubfc_rppg(tmp_path)["subject1"].bvp_at_frames(),
                                  [1, 2, 3, 4, 5, 6])
    (folder / "ground_truth.txt").write_text("1 2 3 4 5\n70 70 70 70 70\n")
    with pytest.raises(ValueError, match="no time line and 5 PPG samples for 6 video frames"):
        read_ubfc_rppg(tmp_path)


def test_ubfc_rppg_nan_in_ground_truth(tmp_path):
    t = np.arange(21) / 60.0
    ppg = 2 * t + 1
    ppg[[4, 7]] = np.nan
    write_ubfc2(tmp_path / "subject1", ppg=ppg)
    with pytest.raises(
        ValueError, match=r"PPG \(line 1\) in .*ground_truth.txt holds 2 NaN.*\[4, 7\]"
    ):
        read_ubfc_rppg(tmp_path)
    with pytest.warns(
        UserWarning, match=r"dropped 2 NaN/inf sample\(s\) of 21 at indices \[4, 7\]"
    ):
        clip = read_ubfc_rppg(tmp_path, nan_policy="drop")["subject1"]
    # linear ground truth: interpolating across the dropped samples is exact
    np.testing.assert_allclose(clip.bvp_at_frames(), 2 * np.arange(10) / 30.0 + 1, atol=1e-9)


def test_ubfc_rppg_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no UBFC-rPPG clips found"):
        read_ubfc_rppg(tmp_path)
    (tmp_path / "subject1").mkdir()
    write_clip_video(tmp_path / "subject1" / "vid.avi", 4, 30.0)
    with pytest.raises(FileNotFoundError, match="neither ground_truth.txt nor gtdump.xmp"):
        read_ubfc_rppg(tmp_path)
    (tmp_path / "subject1" / "ground_truth.txt").write_text("1 2 3 oops\n1 2 3 4\n")
    with pytest.raises(ValueError, match=r"ground_truth.txt, line 1: 'oops' is not a number"):
        read_ubfc_rppg(tmp_path)
    (tmp_path / "subject1" / "vid.avi").write_bytes(b"corrupt" * 100)
    with pytest.raises(ValueError, match=r"subject1/vid.avi \(corrupt or unsupported"):
        read_ubfc_rppg(tmp_path)
    (tmp_path / "subject1" / "vid.avi").unlink()
    with pytest.raises(FileNotFoundError, match="has ground truth but no vid.avi"):
        read_ubfc_rppg(tmp_path)


def write_phys(root, subject, task, n_frames=14, fps=35.0, bvp_samples=30, header=False):
    folder = root / subject
    folder.mkdir(parents=True, exist_ok=True)
    write_clip_video(folder / f"vid_{subject}_{task}.avi", n_frames, fps)
    t = np.arange(bvp_samples) / 64.0
    lines = (["BVP"] if header else []) + [f"{v:.12f}" for v in 4 * t - 2]
    (folder / f"bvp_{subject}_{task}.csv").write_text("\n".join(lines) + "\n")


def test_ubfc_phys_known_answer(tmp_path):
    for subject in ("s1", "s2", "s12"):
        for task in ("T1", "T2"):
            write_phys(tmp_path, subject, task, header=subject == "s2")
    ds = read_ubfc_phys(tmp_path, tasks=("T1", "T2"))
    assert ds.subjects == ["s1", "s2", "s12"] and ds.tasks == ["T1", "T2"]
    assert [c.clip_id for c in ds][:3] == ["s1_T1", "s1_T2", "s2_T1"]
    clip = ds["s2_T2"]
    assert (clip.fps, clip.n_frames, clip.subject, clip.task) == (35.0, 14, "s2", "T2")
    assert clip.bvp.fs == pytest.approx(64.0)
    np.testing.assert_allclose(clip.bvp_at_frames(), 4 * np.arange(14) / 35.0 - 2, atol=1e-9)
    train, val, test = ds.split_by_subject((1 / 3, 1 / 3, 1 / 3), seed=3)
    assert {len(p) for p in (train, val, test)} == {2}  # each subject's two tasks together


def test_ubfc_phys_missing_files(tmp_path):
    write_phys(tmp_path, "s1", "T1")
    with pytest.warns(
        UserWarning, match=r"neither vid_s1_T2.avi nor bvp_s1_T2.csv; clip s1_T2 skipped"
    ):
        ds = read_ubfc_phys(tmp_path, tasks=("T1", "T2"))
    assert [c.clip_id for c in ds] == ["s1_T1"]
    (tmp_path / "s1" / "bvp_s1_T1.csv").unlink()
    with pytest.raises(FileNotFoundError, match="missing .*bvp_s1_T1.csv"):
        read_ubfc_phys(tmp_path, tasks=["T1"])
    with pytest.raises(ValueError, match="bvp_fs must be a positive"):
        read_ubfc_phys(tmp_path, bvp_fs=0)


def test_ubfc_phys_bvp_file_problems(tmp_path):
    write_phys(tmp_path, "s1", "T1", bvp_samples=10)  # 0.14 s of BVP for 0.4 s of video
    clip = read_ubfc_phys(tmp_path, tasks=["T1"])["s1_T1"]
    with pytest.raises(ValueError, match="s missing at the start and 0.2308 s at the end"):
        clip.bvp_at_frames()
    (tmp_path / "s1" / "bvp_s1_T1.csv").write_text("1.0\n2.0,3.0\n")
    with pytest.raises(ValueError, match="one number per line; line 2"):
        read_ubfc_phys(tmp_path, tasks=["T1"])

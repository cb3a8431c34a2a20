"""The generic reader (any video file or frame folder + optional CSV) and the AimaNet arrays."""

from __future__ import annotations

import numpy as np
import pytest

from rppg_lib import video_io
from rppg_lib.datasets import load_aimanet_arrays, open_dataset, read_video_dataset
from rppg_lib.video_io import write_image_folder, write_video


def frames(n, size=16):
    k = np.arange(n) % 256
    return np.broadcast_to(k[:, None, None, None], (n, size, size, 3)).astype(np.uint8)


def test_video_with_time_stamped_csv(tmp_path):
    write_video(tmp_path / "me.avi", frames(15), fps=30.0)
    t = np.arange(0, 0.6, 0.01)  # 100 Hz
    rows = ["time,bvp,hr,resp,br,spo2"] + [
        f"{x:.4f},{np.sin(2 * np.pi * x):.12f},{70 + x:.6f},{-x:.6f},{15:.1f},98" for x in t
    ]
    (tmp_path / "me.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match=r"columns \['spo2'\] are not ground truth"):
        ds = open_dataset("video", tmp_path / "me.avi")
    clip = ds["me"]
    assert (clip.subject, clip.task, clip.fps, clip.n_frames) == ("me", "video", 30.0, 15)
    ft = np.arange(15) / 30.0
    # linear interpolation of a 100 Hz sine: error below (2π)² / 8 · 0.01² ≈ 5e-4
    np.testing.assert_allclose(clip.bvp_at_frames(), np.sin(2 * np.pi * ft), atol=5e-4)
    np.testing.assert_allclose(clip.hr_at_frames(), 70 + ft, atol=1e-9)
    np.testing.assert_allclose(clip.resp_at_frames(), -ft, atol=1e-9)
    assert clip.extra["br"].unit == "breaths/min"
    assert clip.read_frames()[:, 0, 0, 0].tolist() == list(range(15))


def test_csv_without_time_column(tmp_path):
    write_video(tmp_path / "v.avi", frames(6), fps=20.0)
    csv = tmp_path / "gt.csv"
    csv.write_text("bvp\n" + "\n".join(str(v) for v in range(6)) + "\n")
    clip = read_video_dataset(tmp_path / "v.avi", gt_csv=csv, subject="alice", task="rest")["v"]
    assert (clip.subject, clip.task) == ("alice", "rest")
    np.testing.assert_array_equal(clip.bvp_at_frames(), np.arange(6.0))  # one row per frame
    csv.write_text("bvp\n" + "\n".join(str(v) for v in range(8)) + "\n")
    with pytest.raises(ValueError, match="gt.csv has 8 rows but the video has 6 frames"):
        read_video_dataset(tmp_path / "v.avi", gt_csv=csv)
    # with gt_fs the 8 rows are 40 Hz samples (0-0.175 s); the 6 frames at 20 Hz span 0-0.25 s
    clip = read_video_dataset(tmp_path / "v.avi", gt_csv=csv, gt_fs=40.0)["v"]
    with pytest.raises(ValueError, match="covers 0.0000–0.1750 s .* 0.0750 s at the end"):
        clip.bvp_at_frames()
    np.testing.assert_allclose(clip.subclip(0, 4).bvp_at_frames(), [0.0, 2.0, 4.0, 6.0])


def test_csv_with_frame_column(tmp_path):
    write_video(tmp_path / "v.avi", frames(10), fps=10.0)
    csv = tmp_path / "gt.csv"
    csv.write_text("frame,hr\n0,60\n5,65\n9,69\n")
    clip = read_video_dataset(tmp_path / "v.avi", gt_csv=csv)["v"]
    np.testing.assert_allclose(clip.hr_at_frames(), 60 + np.arange(10.0))
    csv.write_text("frame,hr\n0,60\n10,70\n")
    with pytest.raises(
        ValueError, match=r"column 'frame' must hold integer frame indices in \[0, 9\]"
    ):
        read_video_dataset(tmp_path / "v.avi", gt_csv=csv)


def test_csv_errors(tmp_path):
    write_video(tmp_path / "v.avi", frames(4), fps=10.0)
    csv = tmp_path / "gt.csv"
    csv.write_text("time,ppg\n0,1\n0.1,2\n")
    no_gt = r"none of the ground-truth columns .*columns are \['time', 'ppg'\]"
    with pytest.warns(UserWarning, match="ppg"), pytest.raises(ValueError, match=no_gt):
        read_video_dataset(tmp_path / "v.avi", gt_csv=csv)
    csv.write_text("time,bvp\n0,1\n0.1,abc\n")
    with pytest.raises(
        ValueError, match=r"gt.csv: column 'bvp', data row 1: 'abc' is not a number"
    ):
        read_video_dataset(tmp_path / "v.avi", gt_csv=csv)
    csv.write_text("time,bvp\n0,1\n0.1,\n0.2,3\n0.3,4\n")  # an empty cell is a NaN
    with pytest.raises(
        ValueError, match=r"column 'bvp' in .*gt.csv holds 1 NaN/inf sample\(s\) at indices \[1\]"
    ):
        read_video_dataset(tmp_path / "v.avi", gt_csv=csv)
    dropped = r"dropped 1 NaN/inf sample\(s\) of 4 at indices \[1\] \(times \[0.1\] s\)"
    with pytest.warns(UserWarning, match=dropped):
        clip = read_video_dataset(tmp_path / "v.avi", gt_csv=csv, nan_policy="drop")["v"]
    np.testing.assert_allclose(clip.bvp_at_frames(), [1.0, 2.0, 3.0, 4.0])
    csv.write_text("time,bvp\n0,1\n0.2,2\n0.1,3\n")
    with pytest.raises(
        ValueError, match="time stamps of column 'bvp' in .*must be strictly increasing"
    ):
        read_video_dataset(tmp_path / "v.avi", gt_csv=csv)
    with pytest.raises(FileNotFoundError, match="ground-truth CSV not found"):
        read_video_dataset(tmp_path / "v.avi", gt_csv=tmp_path / "absent.csv")


def test_frame_folder(tmp_path):
    folder = tmp_path / "shots"
    write_image_folder(folder, frames(8, size=9))
    (tmp_path / "shots.csv").write_text("time,bvp\n0,0\n1,10\n")
    with pytest.raises(ValueError, match="fps is required for the frame folder"):
        read_video_dataset(folder)
    with pytest.raises(ValueError, match="fps must be a positive"):
        read_video_dataset(folder, fps=0)
    clip = read_video_dataset(folder, fps=10.0)["shots"]
    assert clip.n_frames == 8 and clip.read_frames().shape == (8, 9, 9, 3)
    np.testing.assert_allclose(clip.bvp_at_frames(), np.arange(8.0))  # 10 units/s at 10 fps
    (folder / "000003.png").unlink()
    with pytest.raises(
        ValueError, match=r"between 000002.png and 000004.png\); missing numbers \[3\]"
    ):
        read_video_dataset(folder, fps=10.0)
    with pytest.warns(UserWarning, match=r"missing numbers \[3\]"):
        clip = read_video_dataset(folder, fps=10.0, on_gap="warn")["shots"]
    assert clip.frame_times.tolist() == pytest.approx([0, 0.1, 0.2, 0.4, 0.5, 0.6, 0.7])
    assert [int(f[0, 0, 0]) for f in clip.iter_frames()] == [0, 1, 2, 4, 5, 6, 7]


def test_folder_of_videos(tmp_path):
    for name, n in (("b", 5), ("a", 7)):
        write_video(tmp_path / f"{name}.avi", frames(n), fps=25.0)
    (tmp_path / "a.csv").write_text("hr\n" + "\n".join(["72"] * 7) + "\n")
    ds = read_video_dataset(tmp_path)
    found = [(c.clip_id, c.n_frames, c.hr is not None) for c in ds]
    assert found == [("a", 7, True), ("b", 5, False)]
    assert ds.subjects == ["a", "b"]
    with pytest.raises(ValueError, match="gt_csv applies to one clip"):
        read_video_dataset(tmp_path, gt_csv=tmp_path / "a.csv")
    write_image_folder(tmp_path, frames(2))
    with pytest.raises(ValueError, match="holds both image files and video files"):
        read_video_dataset(tmp_path)


def test_video_problems(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="video or frame folder not found"):
        read_video_dataset(tmp_path / "absent.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no video clips found under .*empty"):
        read_video_dataset(tmp_path / "empty")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(ValueError, match=r"bad.mp4 \(corrupt or unsupported format\)"):
        read_video_dataset(bad)
    # a container whose header gives no frame rate (OpenCV reports 0)
    write_video(tmp_path / "v.avi", frames(4), fps=30.0)
    real_open = video_io._open_capture

    class NoRate:
        def __init__(self, cap):
            self.cap = cap

        def get(self, prop):
            return 0.0 if prop == video_io.cv2.CAP_PROP_FPS else self.cap.get(prop)

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(video_io, "_open_capture", lambda p: NoRate(real_open(p)))
    with pytest.raises(
        ValueError, match=r"v.avi gives no frame rate \(fps missing or 0.*pass fps="
    ):
        read_video_dataset(tmp_path / "v.avi")
    assert read_video_dataset(tmp_path / "v.avi", fps=24.0)["v"].fps == 24.0


def test_count_frames_catches_a_wrong_header(tmp_path):
    path = tmp_path / "v.avi"
    noise = np.random.default_rng(0).integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)
    write_video(path, noise, fps=30.0)  # incompressible: the cut lands inside the frame data
    data = path.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) * 2 // 3])
    counted = read_video_dataset(tmp_path / "cut.avi")["cut"]  # count_frames=True by default
    assert 0 < counted.n_frames < 20
    assert counted.read_frames().shape[0] == counted.n_frames
    trusting = read_video_dataset(tmp_path / "cut.avi", count_frames=False)["cut"]
    assert trusting.n_frames == 20
    with pytest.raises(
        ValueError, match=f"cut.avi ended .* at frame {counted.n_frames}; expected 20"
    ):
        trusting.read_frames()


def write_aimanet(root, n=5, s=36, in_dtype=np.float32, out_shape=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6, s, s)).astype(in_dtype)
    y = rng.normal(size=out_shape or (n,)).astype(np.float32)
    np.save(root / "input_numpy.npy", x)
    np.save(root / "output_numpy.npy", y)
    return x, y


def test_aimanet_arrays(tmp_path):
    x, y = write_aimanet(tmp_path)
    inputs, targets = load_aimanet_arrays(tmp_path)
    assert inputs.shape == (5, 6, 36, 36) and inputs.dtype == np.float32
    assert targets.shape == (5,) and targets.dtype == np.float32
    assert isinstance(inputs, np.memmap)  # not read into memory
    np.testing.assert_array_equal(inputs, x)
    np.testing.assert_array_equal(targets, y)
    x64, _ = write_aimanet(tmp_path, in_dtype=np.float64)
    inputs, _ = load_aimanet_arrays(tmp_path)
    assert inputs.dtype == np.float32 and np.array_equal(inputs, x64.astype(np.float32))
    write_aimanet(tmp_path, out_shape=(5, 1))
    assert load_aimanet_arrays(tmp_path)[1].shape == (5,)


def test_aimanet_bad_arrays(tmp_path):
    with pytest.raises(FileNotFoundError, match="AimaNet arrays folder not found"):
        load_aimanet_arrays(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="input_numpy.npy"):
        load_aimanet_arrays(tmp_path)
    write_aimanet(tmp_path, s=34)
    with pytest.raises(ValueError, match=r"must have shape \(N, 6, 36, 36\).*got \(5, 6, 34, 34\)"):
        load_aimanet_arrays(tmp_path)
    x, _ = write_aimanet(tmp_path)
    np.save(tmp_path / "output_numpy.npy", np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="has 5 samples but .*output_numpy.npy has 4 targets"):
        load_aimanet_arrays(tmp_path)
    x[3, 2, 1, 0] = np.nan
    np.save(tmp_path / "input_numpy.npy", x)
    np.save(tmp_path / "output_numpy.npy", np.zeros(5, np.float32))
    with pytest.raises(
        ValueError, match=r"input_numpy.npy holds a non-finite value at index \(3, 2, 1, 0\)"
    ):
        load_aimanet_arrays(tmp_path)
    (tmp_path / "input_numpy.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read .*input_numpy.npy as a .npy array"):
        load_aimanet_arrays(tmp_path)

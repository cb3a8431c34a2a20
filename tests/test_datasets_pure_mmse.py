"""PURE and MMSE-HR readers (frame folders with time stamps / numbers) on tiny fake datasets."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from rppg_lib.datasets import open_dataset, read_mmse_hr, read_pure

T0_NS = 1392643993642815000  # a PURE-like absolute time stamp (ns)
FRAME_NS = 33_333_333  # 30 fps


def write_frames(folder, names, size=12):
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((size, size, 3), k % 256, np.uint8))


def write_pure(root, name, n_frames=12, nested=True, waveform=None):
    """Frames at 30 fps; oximeter at 60 Hz from 10 ms before the first frame to after the last:
    waveform = 50 + 30 t, pulseRate = 70 + 6 t (t in s from the first frame)."""
    stamps = T0_NS + FRAME_NS * np.arange(n_frames, dtype=np.int64)
    folder = root / name / name if nested else root / name
    write_frames(folder, [f"Image{s}.png" for s in stamps])
    pkg_stamps = T0_NS - 10_000_000 + np.arange(0, n_frames * 2 + 4, dtype=np.int64) * 16_666_667
    t = (pkg_stamps - T0_NS) / 1e9
    wave = 50 + 30 * t if waveform is None else waveform
    data = {
        "/FullPackage": [
            {"Timestamp": int(s), "Value": {"waveform": None if np.isnan(w) else float(w),
                                            "pulseRate": float(70 + 6 * tt),
                                            "o2saturation": 98, "signalStrength": 4}}
            for s, w, tt in zip(pkg_stamps, wave, t, strict=True)
        ],
        "/Image": [{"Timestamp": int(s)} for s in stamps],
    }
    json_path = (root / name / f"{name}.json") if nested else (root / f"{name}.json")
    json_path.write_text(json.dumps(data))
    return folder


def test_pure_known_answer_both_layouts(tmp_path):
    write_pure(tmp_path, "01-01")
    write_pure(tmp_path, "01-02")
    write_pure(tmp_path, "02-03", nested=False, n_frames=9)
    ds = open_dataset("pure", tmp_path)
    assert [c.clip_id for c in ds] == ["01-01", "01-02", "02-03"]
    assert ds.subjects == ["01", "02"] and ds.tasks == ["01", "02", "03"]
    clip = ds["01-02"]
    assert clip.n_frames == 12 and clip.fps == pytest.approx(30.0, rel=1e-6)
    np.testing.assert_allclose(clip.frame_times, np.arange(12) * FRAME_NS / 1e9, atol=1e-12)
    t = clip.frame_times
    np.testing.assert_allclose(clip.bvp_at_frames(), 50 + 30 * t, atol=1e-9)
    np.testing.assert_allclose(clip.hr_at_frames(), 70 + 6 * t, atol=1e-9)
    assert clip.read_frames()[:, 0, 0, 0].tolist() == list(range(12))
    assert ds["02-03"].n_frames == 9
    train, _, test = ds.split_by_subject((0.5, 0.0, 0.5))
    assert set(train.subjects).isdisjoint(test.subjects) and len(train.subjects) == 1


def test_pure_dropped_frame(tmp_path):
    folder = write_pure(tmp_path, "03-01")
    missing = sorted(folder.iterdir())[5]
    missing.unlink()
    with pytest.raises(
        ValueError, match=r"Image\d+.png and Image\d+.png \(about 1 frame\(s\) missing\)"
    ):
        read_pure(tmp_path)
    with pytest.warns(UserWarning, match="1 gap"):
        clip = read_pure(tmp_path, on_gap="warn")["03-01"]
    assert clip.n_frames == 11
    assert clip.frame_times[5] == pytest.approx(6 * FRAME_NS / 1e9)  # the gap stays in the clock
    np.testing.assert_allclose(clip.bvp_at_frames(), 50 + 30 * clip.frame_times, atol=1e-9)


def test_pure_bad_ground_truth(tmp_path):
    wave = np.full(28, 60.0)
    wave[3] = np.nan
    write_pure(tmp_path, "04-01", waveform=wave)
    with pytest.raises(
        ValueError, match=r"waveform in .*04-01.json holds 1 NaN/inf sample\(s\) at indices \[3\]"
    ):
        read_pure(tmp_path)
    (tmp_path / "04-01" / "04-01.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot parse .*04-01.json"):
        read_pure(tmp_path)
    (tmp_path / "04-01" / "04-01.json").unlink()
    with pytest.raises(FileNotFoundError, match="no ground truth for 04-01"):
        read_pure(tmp_path)


def test_pure_empty_root(tmp_path):
    with pytest.raises(ValueError, match="no PURE clips found"):
        read_pure(tmp_path)


def write_mmse(frames_dir, physio_dir, n_frames=10, seconds=0.5, with_hr=True, bp=None):
    """JPEG frames 0000.jpg…; BP = 100 + 20 t and pulse rate = 80 - 4 t at 1 kHz."""
    write_frames(frames_dir, [f"{k:04d}.jpg" for k in range(n_frames)])
    physio_dir.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * 1000)) / 1000.0
    bp = 100 + 20 * t if bp is None else bp
    (physio_dir / "BP_mmHg.txt").write_text("\n".join(f"{v:.9f}" for v in bp) + "\n")
    if with_hr:
        (physio_dir / "Pulse Rate_BPM.txt").write_text("\n".join(f"{80 - 4 * v:.9f}" for v in t))


def test_mmse_same_folder_layout(tmp_path):
    for subject in ("F013", "M002"):
        for task in ("T1", "T10", "T2"):
            write_mmse(tmp_path / subject / task, tmp_path / subject / task)
    ds = read_mmse_hr(tmp_path)
    assert ds.subjects == ["F013", "M002"] and ds.tasks == ["T1", "T2", "T10"]
    clip = ds["M002_T10"]
    assert (clip.fps, clip.n_frames) == (25.0, 10)
    np.testing.assert_allclose(clip.frame_times, np.arange(10) / 25.0)
    np.testing.assert_allclose(clip.bvp_at_frames(), 100 + 20 * np.arange(10) / 25.0, atol=1e-9)
    np.testing.assert_allclose(clip.hr_at_frames(), 80 - 4 * np.arange(10) / 25.0, atol=1e-9)
    assert clip.bvp.unit == "mmHg" and clip.bvp.fs == pytest.approx(1000.0) and clip.resp is None
    assert clip.read_frames().shape == (10, 12, 12, 3)


def test_mmse_separate_trees_and_several_roots(tmp_path):
    write_mmse(tmp_path / "first 10 subjects 2D" / "F001" / "T1",
               tmp_path / "first 10 subjects physiology" / "F001" / "T1", with_hr=False)
    write_mmse(tmp_path / "last 30 subjects 2D" / "M040" / "T3",
               tmp_path / "last 30 subjects physiology" / "M040" / "T3")
    ds = open_dataset(
        "mmse_hr", tmp_path,
        frames_root=[tmp_path / "first 10 subjects 2D", tmp_path / "last 30 subjects 2D"],
        physiology_root=[tmp_path / "first 10 subjects physiology",
                         tmp_path / "last 30 subjects physiology"],
    )
    assert [c.clip_id for c in ds] == ["F001_T1", "M040_T3"]
    assert ds["F001_T1"].hr is None and ds["M040_T3"].hr is not None


def test_mmse_bad_input(tmp_path):
    write_mmse(tmp_path / "F005" / "T1", tmp_path / "F005" / "T1", n_frames=10)
    (tmp_path / "F005" / "T1" / "0004.jpg").unlink()
    with pytest.raises(ValueError, match=r"between 0003.jpg and 0005.jpg\); missing numbers \[4\]"):
        read_mmse_hr(tmp_path)
    with pytest.warns(UserWarning, match=r"missing numbers \[4\]"):
        clip = read_mmse_hr(tmp_path, on_gap="warn")["F005_T1"]
    assert clip.n_frames == 9 and clip.frame_times[4] == pytest.approx(5 / 25)
    np.testing.assert_allclose(clip.bvp_at_frames(), 100 + 20 * clip.frame_times, atol=1e-9)
    (tmp_path / "F005" / "T1" / "BP_mmHg.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"no blood-pressure file for F005/T1"):
        read_mmse_hr(tmp_path, on_gap="warn")
    with pytest.raises(ValueError, match="fps must be a positive"):
        read_mmse_hr(tmp_path, fps=0)
    with pytest.raises(FileNotFoundError, match="frames_root folder not found"):
        read_mmse_hr(tmp_path, frames_root=tmp_path / "nope")


def test_mmse_ground_truth_too_short_and_nan(tmp_path):
    write_mmse(tmp_path / "F001" / "T1", tmp_path / "F001" / "T1", n_frames=25, seconds=0.5)
    clip = read_mmse_hr(tmp_path)["F001_T1"]  # 0.96 s of frames, 0.5 s of blood pressure
    with pytest.raises(ValueError, match="0.4610 s at the end"):
        clip.bvp_at_frames()
    bp = np.full(500, 90.0)
    bp[100:103] = np.nan
    write_mmse(tmp_path / "F001" / "T1", tmp_path / "F001" / "T1", n_frames=25, bp=bp)
    with pytest.raises(
        ValueError, match=r"BP waveform in .*BP_mmHg.txt holds 3 NaN.*\[100, 101, 102\]"
    ):
        read_mmse_hr(tmp_path)

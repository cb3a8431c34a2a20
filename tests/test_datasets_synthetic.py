"""The synthetic dataset on disk: lossless storage, exact ground truth, caching and crash safety."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rppg_lib.synthetic as synthetic
from rppg_lib.datasets import (
    build_synthetic_dataset,
    load_skin_masks,
    open_dataset,
    read_synthetic,
    subject_seed,
)

SMALL = {"seconds": 1.0, "fps": 10.0, "size": 64, "seed": 3, "progress": False}


@pytest.fixture
def count_generate(monkeypatch):
    """Counts the generator calls the builder makes (and which clips they were)."""
    calls = []
    real = synthetic.generate

    def counting(scenario, seconds, fps, size, seed, **overrides):
        calls.append((scenario, seed))
        return real(scenario, seconds, fps, size, seed, **overrides)

    monkeypatch.setattr(synthetic, "generate", counting)
    return calls


def test_build_writes_lossless_clips_with_exact_ground_truth(tmp_path, count_generate):
    root = tmp_path / "synth"
    ds = build_synthetic_dataset(root, subjects=2, scenarios=["clean", "illumination"], **SMALL)
    assert [c.clip_id for c in ds] == ["s01_clean", "s01_illumination", "s02_clean",
                                      "s02_illumination"]
    assert ds.subjects == ["s01", "s02"] and ds.tasks == ["clean", "illumination"]
    # subject k keeps the seed 3 * 1000 + k in every scenario
    assert count_generate == [("clean", 3001), ("illumination", 3001), ("clean", 3002),
                              ("illumination", 3002)]
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["complete"] and manifest["parameters"]["subjects"] == 2
    assert [c["seed"] for c in manifest["clips"]] == [3001, 3001, 3002, 3002]

    clip = ds["s02_illumination"]
    ref = synthetic.generate("illumination", 1.0, 10.0, 64, subject_seed(3, 2))
    assert clip.source.name == "video.avi" and clip.source.suffix == ".avi"
    assert (clip.fps, clip.n_frames, clip.subject, clip.task) == (10.0, 10, "s02", "illumination")
    np.testing.assert_array_equal(clip.read_frames(), ref.frames)  # FFV1: bit-exact
    np.testing.assert_array_equal(clip.frame_times, np.arange(10) / 10.0)
    np.testing.assert_array_equal(clip.bvp_at_frames(), ref.bvp)
    np.testing.assert_array_equal(clip.resp_at_frames(), ref.resp)
    np.testing.assert_array_equal(clip.hr_at_frames(), ref.hr)
    np.testing.assert_array_equal(clip.at_frames(clip.extra["br"]), ref.br)
    np.testing.assert_array_equal(clip.face_boxes, ref.face_box)
    np.testing.assert_array_equal(clip.extra["illumination"], ref.illumination)
    np.testing.assert_array_equal(clip.extra["motion"], ref.motion)
    np.testing.assert_array_equal(load_skin_masks(clip), ref.skin_mask)
    assert clip.extra["seed"] == 3002 and clip.extra["scenario"] == "illumination"

    again = read_synthetic(root)
    assert [c.clip_id for c in again] == [c.clip_id for c in ds]
    train, val, test = again.split_by_subject((0.5, 0.5, 0.0))
    assert len(train) == 2 and len(val) == 2 and set(train.subjects).isdisjoint(val.subjects)


def test_rebuild_reuses_matching_clips_and_regenerates_changed_ones(tmp_path, count_generate):
    root = tmp_path / "synth"
    build_synthetic_dataset(root, subjects=1, scenarios=["clean", "motion"], **SMALL)
    video = root / "s01_clean" / "video.avi"
    stamp = (video.stat().st_ino, video.stat().st_mtime_ns)
    count_generate.clear()

    ds = open_dataset("synthetic", root, subjects=1, scenarios=["clean", "motion"], **SMALL)
    assert count_generate == [] and len(ds) == 2  # nothing regenerated
    assert (video.stat().st_ino, video.stat().st_mtime_ns) == stamp

    ds = build_synthetic_dataset(root, subjects=2, scenarios=["clean", "motion"], **SMALL)
    assert count_generate == [("clean", 3002), ("motion", 3002)]  # only the new subject
    assert len(ds) == 4
    count_generate.clear()

    ds = build_synthetic_dataset(root, subjects=2, scenarios=["clean"], **{**SMALL, "seconds": 1.5})
    assert count_generate == [("clean", 3001), ("clean", 3002)]  # a changed parameter
    assert [(c.clip_id, c.n_frames) for c in ds] == [("s01_clean", 15), ("s02_clean", 15)]
    count_generate.clear()

    build_synthetic_dataset(root, subjects=1, scenarios=["clean"], overrides={"noise_std": 0.0},
                            **{**SMALL, "seconds": 1.5})
    assert count_generate == [("clean", 3001)]  # a changed generator knob


def test_half_written_and_damaged_clips_are_rebuilt(tmp_path, count_generate, monkeypatch):
    root = tmp_path / "synth"
    build_synthetic_dataset(root, subjects=2, scenarios=["clean"], **SMALL)
    count_generate.clear()
    # a crash mid-clip leaves a temporary folder; another clip lost its completion record,
    # and a third had its video truncated
    leftover = root / ".tmp-s01_clean-deadbeef"
    leftover.mkdir()
    (leftover / "video.avi").write_bytes(b"partial")
    (root / "s01_clean" / "clip.json").unlink()
    video = root / "s02_clean" / "video.avi"
    video.write_bytes(video.read_bytes()[:1000])
    with pytest.raises(ValueError, match="s01_clean is incomplete or damaged"):
        read_synthetic(root)
    ds = build_synthetic_dataset(root, subjects=2, scenarios=["clean"], **SMALL)
    assert count_generate == [("clean", 3001), ("clean", 3002)]
    assert not leftover.exists()
    ref = synthetic.generate("clean", 1.0, 10.0, 64, 3002)
    np.testing.assert_array_equal(ds["s02_clean"].read_frames(), ref.frames)


def test_interrupted_build_keeps_finished_clips(tmp_path, monkeypatch):
    root = tmp_path / "synth"
    real = synthetic.generate
    calls = []

    def failing(scenario, seconds, fps, size, seed, **overrides):
        calls.append(seed)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user stops the build during the second clip
        return real(scenario, seconds, fps, size, seed, **overrides)

    monkeypatch.setattr(synthetic, "generate", failing)
    with pytest.raises(KeyboardInterrupt):
        build_synthetic_dataset(root, subjects=3, scenarios=["clean"], **SMALL)
    assert sorted(p.name for p in root.iterdir()) == ["manifest.json", "s01_clean"]
    with pytest.warns(UserWarning, match="interrupted; reading the 1 finished clip"):
        assert [c.clip_id for c in read_synthetic(root)] == ["s01_clean"]
    monkeypatch.setattr(synthetic, "generate", real)
    assert len(build_synthetic_dataset(root, subjects=3, scenarios=["clean"], **SMALL)) == 3


def test_png_storage_for_odd_sizes_and_on_request(tmp_path):
    ds = build_synthetic_dataset(tmp_path / "odd", subjects=1, scenarios=["clean"],
                                 **{**SMALL, "size": 65})
    clip = ds["s01_clean"]
    assert clip.source.name == "frames" and clip.source.is_dir()
    ref = synthetic.generate("clean", 1.0, 10.0, 65, 3001)
    np.testing.assert_array_equal(clip.read_frames(), ref.frames)
    png = build_synthetic_dataset(tmp_path / "png", subjects=1, scenarios=["clean"],
                                  video_format="png", **SMALL)
    assert png["s01_clean"].source.name == "frames"


def test_build_and_read_errors(tmp_path):
    with pytest.raises(ValueError, match=r"scenarios must be distinct names from .*'sunny'"):
        build_synthetic_dataset(tmp_path, subjects=1, scenarios=["sunny"], **SMALL)
    with pytest.raises(ValueError, match="scenarios must be a non-empty list"):
        build_synthetic_dataset(tmp_path, subjects=1, scenarios="clean", **SMALL)
    with pytest.raises(ValueError, match="subjects must be a positive integer, got 0"):
        build_synthetic_dataset(tmp_path, subjects=0, scenarios=["clean"], **SMALL)
    with pytest.raises(ValueError, match="video_format must be one of"):
        build_synthetic_dataset(tmp_path, subjects=1, scenarios=["clean"], video_format="mp4",
                                **SMALL)
    with pytest.raises(ValueError, match="FFV1 through OpenCV needs an even frame size"):
        build_synthetic_dataset(tmp_path, subjects=1, scenarios=["clean"], video_format="ffv1",
                                **{**SMALL, "size": 65})
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        read_synthetic(tmp_path)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['frames'\]"):
        open_dataset("synthetic", tmp_path, frames=3)

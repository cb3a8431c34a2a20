"""Crop policies: exact centre crop, box geometry, smoothing, Haar detection, missing faces."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rppg_lib.preprocess import (
    BoxTracker,
    PreprocessConfig,
    appearance_input,
    center_box,
    detect_face,
    fit_box,
    normalize_crop,
    preprocess_frames,
    scale_box,
    smooth_box,
)
from rppg_lib.preprocess import face as face_module
from rppg_lib.synthetic import generate


@pytest.fixture(scope="module")
def synthetic_clip():
    return generate("clean", seconds=1.0, fps=30.0, size=128, seed=0)


def test_center_box_exact_indices():
    assert center_box(5, 7) == (1, 0, 5, 5)  # columns 1..5 of 0..6, all rows
    assert center_box(7, 5) == (0, 1, 5, 5)
    assert center_box(5, 8) == (1, 0, 5, 5)  # odd leftover column goes to the right
    assert center_box(4, 4) == (0, 0, 4, 4)


def test_center_crop_of_a_5x7_frame_no_off_by_one_no_rotation():
    # Pixel value encodes its position: rows step by 30, columns by 5 (all distinct, 0..150).
    grid = (30 * np.arange(5)[:, None] + 5 * np.arange(7)[None, :]).astype(np.uint8)
    frames = np.stack([np.repeat(grid[:, :, None], 3, axis=2) + k for k in range(4)])
    cfg = PreprocessConfig(crop="center", size=5, mask_size=5, frame_depth=2, chunk_length=2)
    out = preprocess_frames(frames, 30.0, cfg)
    assert out.boxes.tolist() == [[1, 0, 5, 5]] * 4
    crops = np.stack([normalize_crop(f[0:5, 1:6], 5) for f in frames])
    np.testing.assert_allclose(out.mask_frames, crops, atol=1e-7)  # 5 → 5 keeps pixels as they are
    np.testing.assert_allclose(out.mask_frames[0, :, :, 0] * 255, grid[:, 1:6], atol=1e-4)
    np.testing.assert_allclose(out.appearance, appearance_input(crops), rtol=1e-6, atol=1e-6)


def test_scale_and_fit_box():
    assert scale_box((10, 20, 30, 30), 2.0) == (-5, 5, 60, 60)
    assert fit_box((-5, 5, 60, 60), 100, 100) == (0, 5, 60, 60)
    assert fit_box((90, 90, 20, 20), 100, 100) == (80, 80, 20, 20)
    # A box larger than the frame shrinks about its centre to the shorter side, then moves in.
    assert fit_box((0, 0, 200, 200), 80, 100) == (20, 0, 80, 80)
    # Non-square boxes become squares of the longer side.
    assert scale_box((0, 0, 10, 20), 1.0) == (-5, 0, 20, 20)


def test_smooth_box_moving_average():
    assert smooth_box(None, (20.0, 30.0, 40.0), 0.5) == (20.0, 30.0, 40.0)
    assert smooth_box((10.0, 10.0, 20.0), (20.0, 30.0, 40.0), 0.5) == (15.0, 20.0, 30.0)
    assert smooth_box((10.0, 10.0, 20.0), (20.0, 30.0, 40.0), 0.0) == (20.0, 30.0, 40.0)


class _ScriptedDetector:
    """Replaces detect_face: returns the scripted face (x, y, w, h) or None per frame index."""

    def __init__(self, script: dict[int, tuple | None], default=(40.0, 40.0, 20.0, 20.0)):
        self.script, self.default, self.calls = script, default, []

    def __call__(self, frame, max_side, min_face_fraction, near=None):
        t = int(frame[0, 0, 0])  # the test writes the frame index into pixel (0, 0)
        self.calls.append(t)
        return self.script.get(t, self.default)


def _indexed_frames(n: int, size: int = 100) -> list[np.ndarray]:
    frames = []
    for t in range(n):
        f = np.zeros((size, size, 3), dtype=np.uint8)
        f[0, 0, 0] = t
        frames.append(f)
    return frames


def test_legacy_tracker_redetects_every_n_frames_and_smooths(monkeypatch):
    detector = _ScriptedDetector({0: (40.0, 40.0, 20.0, 20.0), 3: (50.0, 40.0, 20.0, 20.0)})
    monkeypatch.setattr(face_module, "detect_face", detector)
    tracker = BoxTracker("haar", box_scale=1.0, redetect_every=3, smooth=0.5, tracker="legacy")
    boxes = [tracker(f, t) for t, f in enumerate(_indexed_frames(7))]
    assert detector.calls == [0, 3, 6]
    # Centre x: 50 from frame 0, then 0.5·50 + 0.5·60 = 55 from frame 3, 0.5·55 + 0.5·50 = 52.5
    # (default face again) from frame 6, rounded half up; side 20.
    assert [b for b, _ in boxes] == [(40, 40, 20, 20)] * 3 + [(45, 40, 20, 20)] * 3 + [
        (43, 40, 20, 20)
    ]
    assert all(found for _, found in boxes)


@pytest.mark.parametrize("policy", ["last", "center"])
def test_no_face_frames_use_fallback_and_are_flagged(monkeypatch, policy):
    # No face on frames 2..4: detection retried every frame until it succeeds at frame 5.
    detector = _ScriptedDetector({t: None for t in (2, 3, 4)})
    monkeypatch.setattr(face_module, "detect_face", detector)
    tracker = BoxTracker("haar", box_scale=1.0, redetect_every=2, no_face=policy)
    results = [tracker(f, t) for t, f in enumerate(_indexed_frames(8))]
    assert detector.calls == [0, 2, 3, 4, 5, 7]
    assert [found for _, found in results] == [True, True, False, False, False, True, True, True]
    fallback = (40, 40, 20, 20) if policy == "last" else (0, 0, 100, 100)
    assert all(box == fallback for box, _ in results[2:5])


def test_no_face_before_the_first_detection_uses_the_centre(monkeypatch):
    monkeypatch.setattr(face_module, "detect_face", _ScriptedDetector({0: None}))
    tracker = BoxTracker("haar", box_scale=1.0, no_face="last")
    assert tracker(_indexed_frames(1)[0], 0) == ((0, 0, 100, 100), False)


def test_known_boxes_are_scaled_and_fitted():
    boxes = np.array([[10, 10, 20, 20], [80, 80, 20, 20]])
    tracker = BoxTracker("box", box_scale=2.0, boxes=boxes)
    frames = _indexed_frames(2)
    assert tracker(frames[0], 0) == ((0, 0, 40, 40), True)
    assert tracker(frames[1], 1) == ((60, 60, 40, 40), True)
    with pytest.raises(ValueError, match="boxes"):
        BoxTracker("box")
    with pytest.raises(ValueError, match="boxes"):
        tracker(frames[0], 2)


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_haar_finds_the_synthetic_face(synthetic_clip):
    for t in (0, 15, 29):
        face = detect_face(synthetic_clip.frames[t])
        assert face is not None, f"no face detected in synthetic frame {t}"
        assert _iou(face, synthetic_clip.face_box[t]) > 0.5


def test_haar_pipeline_on_synthetic_clip(synthetic_clip):
    clip = synthetic_clip
    out = preprocess_frames(clip.frames, clip.fps, PreprocessConfig(box_scale=1.8), bvp=clip.bvp)
    assert out.n_no_face_frames == 0
    assert out.motion.shape == (30, 36, 36, 3) and out.mask_frames.shape == (30, 34, 34, 3)
    # The enlarged crop contains the true face box and keeps background around it.
    for (x, y, w, h), (fx, fy, fw, fh) in zip(out.boxes, clip.face_box, strict=True):
        assert x <= fx and y <= fy and x + w >= fx + fw and y + h >= fy + fh
        assert w * h > 1.5 * fw * fh


def test_missing_face_frames_counted_and_reported(synthetic_clip, caplog):
    frames = synthetic_clip.frames.copy()
    frames[10:20] = 128  # ten grey frames: no face
    cfg = PreprocessConfig(redetect_every=5, frame_depth=10, chunk_length=10)
    with caplog.at_level(logging.WARNING, logger="rppg_lib.preprocess"):
        out = preprocess_frames(frames, 30.0, cfg, clip_id="grey-gap")
    assert out.n_no_face_frames == 10
    assert np.flatnonzero(~out.face_found).tolist() == list(range(10, 20))
    assert "no face found in 10 of 30 frames" in caplog.text and "grey-gap" in caplog.text
    np.testing.assert_array_equal(out.boxes[10:20], np.repeat(out.boxes[9:10], 10, axis=0))


def test_no_face_in_any_frame_is_an_error_naming_the_clip():
    frames = np.full((12, 64, 64, 3), 100, dtype=np.uint8)
    with pytest.raises(ValueError, match=r"blank\.avi.*no face found in any of its 12 frames"):
        preprocess_frames(frames, 30.0, PreprocessConfig(), clip_id="blank", source="blank.avi")

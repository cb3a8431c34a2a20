"""Crop policies: exact centre crop, box geometry, smoothing, Haar detection, missing faces."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from rppg_lib.preprocess import (
    BoxTracker,
    NoFaceError,
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
from rppg_lib.preprocess import face_tracking as face_module
from rppg_lib.synthetic import generate
from rppg_lib.video_io import read_video


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


@pytest.mark.parametrize("tracker", ["flow", "legacy"])
@pytest.mark.parametrize("policy", ["last", "center"])
def test_no_face_frames_use_fallback_and_are_flagged(monkeypatch, policy, tracker):
    # No face on frames 2..4: detection retried every frame until it succeeds at frame 5. The flow
    # tracker detects the first face twice (again around itself, as every later detection runs).
    detector = _ScriptedDetector({t: None for t in (2, 3, 4)})
    monkeypatch.setattr(face_module, "detect_face", detector)
    tracker = BoxTracker("haar", box_scale=1.0, redetect_every=2, no_face=policy, tracker=tracker)
    results = [tracker(f, t) for t, f in enumerate(_indexed_frames(8))]
    first = [0, 0] if tracker.tracker == "flow" else [0]
    assert detector.calls == first + [2, 3, 4, 5, 7]
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
    with pytest.raises(NoFaceError, match=r"blank\.avi.*no face found in any of its 12 frames"):
        preprocess_frames(frames, 30.0, PreprocessConfig(), clip_id="blank", source="blank.avi")


# --- the flow tracker (default): still on a still face, follows a moving one -------------------

REAL_VIDEO = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "naber_rppg_video"
    / "rPPG_video.mp4"
)


def _track(frames, fps=30.0, **kwargs) -> np.ndarray:
    tracker = BoxTracker("haar", fps=fps, **kwargs)
    return np.array([tracker(frame, t)[0] for t, frame in enumerate(frames)])


def _jitter(boxes: np.ndarray, face_px: float) -> float:
    """RMS over (centre x, centre y, side) of the std of their frame-to-frame change / face_px."""
    c = np.c_[boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2, boxes[:, 2]]
    return float(np.sqrt(np.mean(np.diff(c, axis=0).std(axis=0) ** 2)) / face_px)


@pytest.fixture(scope="module")
def still_clip():
    # 4 s: detections at frames 0, 30, 60, 90 (the legacy tracker moves its box at most of them).
    return generate("clean", seconds=4.0, fps=30.0, size=128, seed=1)


def test_flow_crop_holds_still_on_a_still_face(still_clip):
    boxes = _track(still_clip.frames)
    assert np.all(boxes == boxes[0]), "the crop moved on a still face"
    legacy = _track(still_clip.frames, tracker="legacy")
    assert np.any(legacy != legacy[0])  # today's tracker does move here
    # The held box is the face: it contains the true face box (the crop is 1.8 times larger).
    x, y, w, h = boxes[0]
    fx, fy, fw, fh = still_clip.face_box[0]
    assert x <= fx and y <= fy and x + w >= fx + fw and y + h >= fy + fh and w > 1.5 * fw


def test_flow_crop_follows_a_translated_face(still_clip):
    # Frame 0 of the clip shifted right and down by a ramp of 0.5 px/frame for 24 frames (12 px),
    # then held for 1.5 s; border pixels replicated.
    frame = still_clip.frames[0]
    shifts = np.r_[np.zeros(10), 0.5 * np.arange(1, 25), np.full(45, 12.0)]
    frames = [
        cv2.warpAffine(frame, np.float32([[1, 0, s], [0, 1, s]]), (128, 128),
                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        for s in shifts
    ]  # fmt: skip
    boxes = _track(frames, box_scale=1.0)
    moved = boxes[:, :2] - boxes[0, :2]
    np.testing.assert_allclose(moved[-1], [12, 12], atol=1)  # followed to within a pixel
    # While it moves, the box trails the face by at most the dead band (3 % of the side) plus the
    # filter's lag: under 4 px here (8 frames at 0.5 px/frame, 0.27 s).
    assert np.max(np.abs(moved - shifts[:, None])) < 4.0
    assert np.all(boxes[-15:] == boxes[-1])  # and holds still again once the face stops


def test_flow_crop_lag_on_the_motion_scenario():
    clip = generate("motion", seconds=8.0, fps=30.0, size=128, seed=2)
    subject = clip.params["drawn"]["subject"]
    truth = np.asarray(subject["face_center_px"]) + clip.motion[:, :2]
    boxes = _track(clip.frames, box_scale=1.0)
    est = boxes[:, :2] + boxes[:, 2:] / 2

    def rms(k: int) -> float:  # centre error at a shift of k frames, Haar's constant offset removed
        err = est[k:] - truth[: len(truth) - k]
        return float(np.sqrt(np.mean(np.sum((err - err.mean(axis=0)) ** 2, axis=1))))

    errors = [rms(k) for k in range(31)]
    lag = int(np.argmin(errors))
    assert lag <= 9, f"lag {lag} frames > 0.3 s"  # benchmark: 4-6 frames
    assert errors[lag] < 0.035 * max(subject["face_size_px"])  # benchmark: 0.02-0.03 face sides
    legacy = _track(clip.frames, box_scale=1.0, tracker="legacy")
    est = legacy[:, :2] + legacy[:, 2:] / 2
    assert int(np.argmin([rms(k) for k in range(31)])) > 2 * lag  # today's tracker trails more


def test_flow_tracks_in_a_region_about_the_face_with_the_whole_frame_s_result(monkeypatch):
    # The scikit-image astronaut's head (a face with corners to track) on a textured 640x480
    # background, moving 1 px/frame right and 0.5 px/frame down for 40 frames, then still. The
    # flow runs in a square of three face sides about the key face (here 354 px square, 41 % of
    # the frame) instead of the whole frame, and gives the same boxes, to the pixel.
    from skimage import data

    rng = np.random.default_rng(0)
    noise = rng.random((60, 80, 3)).astype(np.float32)
    background = (cv2.resize(noise, (640, 480), interpolation=cv2.INTER_CUBIC) * 120 + 60)
    background = np.clip(background, 0, 255).astype(np.uint8)
    head = cv2.resize(data.astronaut()[10:280, 130:350], (215, 264), interpolation=cv2.INTER_AREA)
    shifts = np.r_[np.zeros(10), np.arange(1, 41), np.full(30, 40.0)]
    frames = []
    for s in shifts:
        frame = background.copy()
        x, y = 180 + int(s), 100 + int(s // 2)
        frame[y : y + 264, x : x + 215] = head
        frames.append(frame)
    tracker = BoxTracker("haar", fps=30.0)
    boxes = np.array([tracker(frame, t)[0] for t, frame in enumerate(frames)])
    x0, y0, x1, y1 = tracker._track.region
    assert tracker._track.key_points is not None  # the flow tracked (not a flat face held)
    assert (x1 - x0) * (y1 - y0) < 0.45 * 640 * 480
    assert x0 % 8 == 0 and y0 % 8 == 0  # on the coarsest pyramid level's grid
    monkeypatch.setattr(face_module, "TRACK_REGION_SIDES", 100.0)  # the whole frame
    np.testing.assert_array_equal(boxes, _track(frames))
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    np.testing.assert_allclose(centre[-1] - centre[0], [40, 20], atol=2)  # followed


def test_flow_redetection_dead_band(monkeypatch):
    # Flat frames (no corners to track): the face is held between detections (every 3 frames), so
    # only detections move it. Frame 3's is 2 px off (within 0.2 × 20 px): ignored, the box stays
    # bit-for-bit. From frame 6 on the face is 10 px to the right: the box glides there.
    script = {t: (40.0, 40.0, 20.0, 20.0) if t < 6 else (50.0, 40.0, 20.0, 20.0) for t in range(60)}
    script[3] = (42.0, 41.0, 21.0, 21.0)
    monkeypatch.setattr(face_module, "detect_face", _ScriptedDetector(script))
    tracker = BoxTracker("haar", box_scale=1.0, redetect_every=3, smooth=0.0)
    boxes = [tracker(frame, t)[0] for t, frame in enumerate(_indexed_frames(60))]
    assert boxes[:6] == [(40, 40, 20, 20)] * 6
    xs = [b[0] for b in boxes]
    assert 40 < xs[6] < 50  # the one-euro filter takes most of a fast step at once, not all ...
    assert all(a <= b for a, b in zip(xs, xs[1:], strict=False)) and xs[-1] == 50  # ... to 50
    assert boxes[-10:] == [(50, 40, 20, 20)] * 10
    # smooth = 0.5: a far detection moves the face half way.
    monkeypatch.setattr(face_module, "detect_face", _ScriptedDetector(script))
    tracker = BoxTracker("haar", box_scale=1.0, redetect_every=3, smooth=0.5)
    for t, frame in enumerate(_indexed_frames(7)):
        tracker(frame, t)
    assert tracker._tracked == (55.0, 50.0, 20.0)


def test_one_euro_filter_numbers():
    # beta = 0: an exponential smoother with alpha = 2π f dt / (1 + 2π f dt) = 0.17316 at 1 Hz,
    # 30 fps; a constant input passes unchanged.
    smoother = face_module.OneEuroFilter(30.0, 1.0, 0.0)
    assert smoother(np.array([10.0]))[0] == 10.0 and smoother(np.array([10.0]))[0] == 10.0
    alpha = 2 * np.pi / 30 / (1 + 2 * np.pi / 30)
    assert smoother(np.array([20.0]))[0] == pytest.approx(10 + 10 * alpha, rel=1e-12)
    # beta > 0 follows a fast move faster.
    fast = face_module.OneEuroFilter(30.0, 1.0, 4.0)
    slow = face_module.OneEuroFilter(30.0, 1.0, 0.0)
    for value in (0.0, 0.0, 10.0, 20.0, 30.0):
        out_fast, out_slow = fast(np.array([value]), 20.0), slow(np.array([value]), 20.0)
    assert out_fast[0] > out_slow[0] + 1.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("tracker", "kalman"),
        ("redetect_tolerance", -0.1),
        ("redetect_tolerance", 1.0),
        ("hold_band", float("nan")),
        ("hold_band", True),
        ("filter_cutoff_hz", 0.0),
        ("filter_beta", -1.0),
        ("filter_beta", float("inf")),
    ],
)
def test_bad_tracking_parameters_name_themselves(name, value):
    with pytest.raises(ValueError, match=name):
        PreprocessConfig(**{name: value})
    with pytest.raises(ValueError, match=name):
        BoxTracker("haar", **{name: value})
    with pytest.raises(ValueError, match="fps"):
        BoxTracker("haar", fps=0.0)


@pytest.mark.parametrize("tracker", ["flow", "legacy"])
def test_pipeline_crops_with_the_configured_tracker(still_clip, tracker):
    # preprocess_frames (training and `rppg infer` alike) hands out BoxTracker's boxes.
    frames = still_clip.frames[:60]
    out = preprocess_frames(frames, 30.0, PreprocessConfig(tracker=tracker))
    np.testing.assert_array_equal(out.boxes, _track(frames, tracker=tracker))


def test_flow_crop_on_the_real_video_is_five_times_stiller():
    if not REAL_VIDEO.is_file():
        pytest.skip(f"real face video not found: {REAL_VIDEO}")
    frames, fps = read_video(REAL_VIDEO)
    legacy = _track(frames, fps, box_scale=1.0, tracker="legacy")
    flow = _track(frames, fps, box_scale=1.0)
    face_px = float(np.median(legacy[:, 2]))
    assert _jitter(legacy, face_px) > 5e-4  # benchmark: 1.1e-3 (22 moves in 907 frames)
    assert _jitter(flow, face_px) <= _jitter(legacy, face_px) / 5
    assert np.count_nonzero(np.any(np.diff(flow, axis=0) != 0, axis=1)) <= 2  # benchmark: 0

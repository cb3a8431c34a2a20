"""Where to crop each frame: Haar face detection with tracking, centre square, known boxes, none.

Boxes are ``(x, y, w, h)`` integer pixels, top-left origin. Every crop box handed to the pipeline
is a square lying inside the frame (``fit_box``), so resizing to S×S never distorts the face and
never needs padding; the ``"none"`` policy (whole frame, aspect not kept) is the only exception.

Face policy (``"haar"``): OpenCV's frontal-face Haar cascade (shipped in the OpenCV 4.x wheel) runs
on a grey, histogram-equalised copy of the frame shrunk to at most ``detect_max_side`` pixels
(after the first face, first around the last face: ``detect_face(near=...)``); the most confident
detection wins. It runs on frame 0 and every ``redetect_every`` frames, and on every frame while
the last attempt found no face (so that a face is picked up again as soon as it reappears).
The face box is enlarged ``box_scale`` times about its centre so that background stays in view
(inverse attention needs it). Frames whose latest detection attempt failed are flagged (``found``
False) and use the last box (``no_face="last"``) or the centre square (``"center"``; also used by
``"last"`` before the first face). Between detections, two trackers:

``tracker="flow"`` (default): a crop that holds still when the face does and follows it when it
moves. Every crop step is a step in the motion input D[t], so the crop must not move for nothing:

1. *Track* (``FlowTrack``): up to 60 Shi-Tomasi corners inside the face box of a key frame are
   followed into every frame (shrunk so that the face is at most 128 pixels wide) with pyramidal
   Lucas-Kanade optical flow, within a region three face sides wide about the key face (the
   flow's image pyramids are then built from about a third of a 640×480 frame's pixels), always
   from the key frame
   (not frame to frame, so tracking noise does not add up into drift on a still face), kept when
   the backward flow returns within 1 px, and turned into a new (centre, side) by the median
   translation and the median change of spread (robust to a few points on hair or background).
   The key frame is renewed when fewer than half of its points survive; when fewer than 6
   survive the track is lost and the detector runs at once. A face without corners (a flat
   image) is held where it was detected.
2. *Re-detect with hysteresis*: a scheduled detection whose centre (in x and y) and side lie
   within ``redetect_tolerance`` × side of the tracked face is ignored; a farther one moves the
   face to ``smooth`` · tracked + (1 − ``smooth``) · detected and renews the key frame. After a
   lost track the detection is taken as it is.
3. *Smooth* (``OneEuroFilter``, Casiez et al. 2012): centre and side are low-passed with a
   cut-off of ``filter_cutoff_hz`` at rest that rises by ``filter_beta`` Hz per face side per
   second of speed, so that a still face gets a low cut-off (little jitter) and a moving one a
   high cut-off (little lag).
4. *Hold* (dead band with hysteresis): the box handed out starts to move only when the smoothed
   face has moved more than ``hold_band`` × side (in centre x, y or side) away from it; it then
   follows the smoothed face frame by frame until the face is at rest again (the filter's speed
   under ``hold_band`` × side per second), and holds there. On a still face the crop is
   bit-for-bit still; a face that moved and stopped is followed to where it stopped.

``tracker="legacy"``: the earlier behaviour, kept for comparison (``benchmarks/
bench_face_tracking.py``): the box is held between detections and each detection moves it to an
exponential moving average of centre and side (``smooth`` = weight of the previous box; 0 keeps
raw detections).
"""

from __future__ import annotations

import functools
import math
from numbers import Real
from pathlib import Path

import cv2
import numpy as np

from rppg_lib.validation import check_choice, check_fs, check_positive

__all__ = [
    "CROP_POLICIES",
    "haar_cascade",
    "detect_face",
    "center_box",
    "scale_box",
    "inner_box",
    "fit_box",
    "smooth_box",
    "check_tracking",
    "OneEuroFilter",
    "FlowTrack",
    "BoxTracker",
    "NoFaceError",
]

CROP_POLICIES = ("haar", "center", "box", "none")
TRACKERS = ("flow", "legacy")
HAAR_FILE = "haarcascade_frontalface_default.xml"
NEAR_FACE_PX = 48  # face size (pixels) when re-detecting near the previous face
# Optical-flow tracking of the face (``FlowTrack``).
MAX_CORNERS = 60  # Shi-Tomasi corners followed per key frame
MIN_CORNERS = 6  # fewer surviving points: the track is lost
RENEW_FRACTION = 0.5  # fewer surviving points than this share of the key frame's: new key frame
FORWARD_BACKWARD_PX = 1.0  # dropped: points whose backward flow misses their start by more (px)
LK_WINDOW_PX = 11  # Lucas-Kanade window side at each pyramid level
LK_LEVELS = 3  # pyramid levels above full resolution (follows 2^3 × 5 px moves between frames)
TRACK_FACE_PX = 128  # frames are shrunk for tracking so that the face is at most this wide
INNER_FACE = (0.7, 0.8)  # corners are picked in the central 70 % × 80 % of the face box (no hair)
TRACK_REGION_SIDES = 3.0  # flow runs in a square of this many face sides about the key face
# ... but at least this wide (px at tracking resolution), so that every pyramid level keeps a few
# Lucas-Kanade windows: 2^LK_LEVELS × LK_WINDOW_PX × 2 = 176 px
TRACK_REGION_MIN_PX = 2**LK_LEVELS * LK_WINDOW_PX * 2
DERIVATIVE_CUTOFF_HZ = 1.0  # one-euro filter: low-pass of the speed estimate (the paper's value)
# Defaults of the tracking parameters (``BoxTracker``, ``PreprocessConfig``), chosen with
# benchmarks/bench_face_tracking.py: Haar's side alone varies by about ±10 % between detections
# of a still synthetic face, hence the 0.2 tolerance; the 0.03 dead band holds the crop still on
# the real test video; cut-off and beta keep the lag on the synthetic motion scenario at 4-5
# frames (0.15 s at 30 fps).
DEFAULT_TRACKER = "flow"
DEFAULT_REDETECT_TOLERANCE = 0.2  # fraction of the face side
DEFAULT_HOLD_BAND = 0.03  # fraction of the face side
DEFAULT_FILTER_CUTOFF_HZ = 1.0  # Hz
DEFAULT_FILTER_BETA = 4.0  # Hz per (face side / s)



class NoFaceError(ValueError):
    """The face detector found no face in any frame of a clip or video."""


@functools.lru_cache(maxsize=1)
def haar_cascade() -> cv2.CascadeClassifier:
    """The frontal-face cascade bundled with the OpenCV 4.x wheel (``cv2.data.haarcascades``)."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if folder is None:
        raise FileNotFoundError(
            f"OpenCV {cv2.__version__} ships no cv2.data.haarcascades (OpenCV 5 wheels dropped the "
            "Haar cascades): install opencv-python-headless 4.x or use crop='center' or 'box'"
        )
    path = Path(folder) / HAAR_FILE
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise FileNotFoundError(f"cannot load the Haar cascade {path}")
    return cascade


def _best_face(
    grey: np.ndarray, min_side: int, max_side: int | None = None
) -> tuple[float, float, float, float] | None:
    """The most confident detection in a grey image, or None. The most confident (highest
    final-stage weight), not the largest: a large false positive in the background (e.g. the
    shuttle next to the scikit-image astronaut) must not win over the face."""
    grey = cv2.equalizeHist(grey)
    kwargs = {"maxSize": (max_side, max_side)} if max_side else {}
    faces, _, weights = haar_cascade().detectMultiScale3(
        grey,
        scaleFactor=1.1,
        minNeighbors=5,
        minSize=(min_side, min_side),
        outputRejectLevels=True,
        **kwargs,
    )
    if len(faces) == 0:
        return None
    return tuple(float(v) for v in faces[int(np.argmax(np.ravel(weights)))])


def _grey(image: np.ndarray, factor: float) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if factor < 1.0:
        grey = cv2.resize(grey, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return grey


def detect_face(
    frame: np.ndarray,
    max_side: int = 320,
    min_face_fraction: float = 0.1,
    near: tuple[float, float, float, float] | None = None,
) -> tuple[float, float, float, float] | None:
    """The most confident frontal face in an RGB uint8 frame (H, W, 3) as a float box
    (x, y, w, h) in frame pixels, or None.

    The whole frame is searched at most ``max_side`` pixels wide/high, for faces at least
    ``min_face_fraction`` × its shorter side. With ``near`` (a previous face box) the search
    first looks only around it (a window twice its size, shrunk so that the face is about
    ``NEAR_FACE_PX`` pixels, for faces 0.75–1.33× its size), an order of magnitude faster than
    the whole frame, and falls back to the whole frame when nothing is found there.
    """
    height, width = frame.shape[:2]
    if near is not None:
        x, y, w, h = near
        side = max(w, h)
        cx, cy = x + w / 2.0, y + h / 2.0
        x0, x1 = max(0, int(cx - side)), min(width, int(cx + side) + 1)
        y0, y1 = max(0, int(cy - side)), min(height, int(cy + side) + 1)
        factor = min(1.0, NEAR_FACE_PX / side)
        lo, hi = max(24, int(0.75 * side * factor)), int(1.33 * side * factor) + 1
        if x1 - x0 >= lo and y1 - y0 >= lo:
            face = _best_face(_grey(frame[y0:y1, x0:x1], factor), lo, hi)
            if face is not None:
                fx, fy, fw, fh = face
                return (x0 + fx / factor, y0 + fy / factor, fw / factor, fh / factor)
    factor = min(1.0, max_side / max(height, width))
    grey = _grey(frame, factor)
    face = _best_face(grey, max(24, int(min_face_fraction * min(grey.shape))))
    if face is None:
        return None
    return tuple(v / factor for v in face)


def center_box(height: int, width: int) -> tuple[int, int, int, int]:
    """The largest centred square of an (height, width) frame; an odd leftover pixel goes to the
    right/bottom. For a 5×7 (H×W) frame: (1, 0, 5, 5), i.e. columns 1–5 and rows 0–4."""
    side = min(height, width)
    return ((width - side) // 2, (height - side) // 2, side, side)


def scale_box(box: tuple[float, float, float, float], scale: float) -> tuple[int, int, int, int]:
    """A square box with side round(max(w, h) · scale) centred on ``box``'s centre, as ints."""
    x, y, w, h = (float(v) for v in box)
    side = max(1, int(round(max(w, h) * scale)))
    cx, cy = x + w / 2.0, y + h / 2.0
    x0 = int(math.floor(cx - side / 2.0 + 0.5))
    y0 = int(math.floor(cy - side / 2.0 + 0.5))
    return (x0, y0, side, side)


def inner_box(
    box: tuple[int, int, int, int], width_share: float, height_share: float
) -> tuple[int, int, int, int]:
    """The centred part of ``box`` (x, y, w, h) that is ``width_share`` of its width and
    ``height_share`` of its height (shares in (0, 1]), at least one pixel each way."""
    x, y, w, h = (int(v) for v in box)
    inner_w = max(1, int(round(w * width_share)))
    inner_h = max(1, int(round(h * height_share)))
    return (x + (w - inner_w) // 2, y + (h - inner_h) // 2, inner_w, inner_h)


def fit_box(box: tuple[int, int, int, int], height: int, width: int) -> tuple[int, int, int, int]:
    """Move a square box inside an (height, width) frame, shrinking it (about its centre) to the
    shorter frame side only where it is larger than the frame. Non-square boxes are kept as they
    are but clamped the same way per axis."""
    x, y, w, h = (int(v) for v in box)
    if w == h and w > min(height, width):
        shrink = w - min(height, width)
        x, y, w, h = x + shrink // 2, y + shrink // 2, w - shrink, h - shrink
    w, h = max(1, min(w, width)), max(1, min(h, height))
    x = min(max(x, 0), width - w)
    y = min(max(y, 0), height - h)
    return (x, y, w, h)


def smooth_box(
    previous: tuple[float, float, float] | None, detected: tuple[float, float, float], smooth: float
) -> tuple[float, float, float]:
    """Exponential moving average of (centre x, centre y, side): ``smooth``·previous +
    (1 − ``smooth``)·detected; the detection itself where there is no previous box."""
    if previous is None:
        return detected
    return tuple(smooth * p + (1.0 - smooth) * d for p, d in zip(previous, detected, strict=True))


def check_tracking(
    tracker: str,
    redetect_tolerance: float,
    hold_band: float,
    filter_cutoff_hz: float,
    filter_beta: float,
) -> None:
    """ValueError naming the first bad tracking parameter (see ``BoxTracker``)."""
    check_choice(tracker, "tracker", TRACKERS)
    for name, value in (("redetect_tolerance", redetect_tolerance), ("hold_band", hold_band)):
        if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be a fraction of the face side in [0, 1), got {value!r}")
    check_positive(filter_cutoff_hz, "filter_cutoff_hz")
    if isinstance(filter_beta, bool) or not isinstance(filter_beta, Real) or not (
        math.isfinite(filter_beta) and filter_beta >= 0
    ):
        raise ValueError(f"filter_beta must be a finite number >= 0, got {filter_beta!r}")


class OneEuroFilter:
    """One-euro filter (Casiez, Roussel and Vogel, CHI 2012) of a vector sampled at ``fps`` Hz.

    An exponential low-pass whose cut-off is ``cutoff_hz`` + ``beta`` · |speed| per component,
    speed (units/s) itself low-passed at 1 Hz; speeds are divided by ``scale`` (e.g. the face
    side, so that ``beta`` is in Hz per face side per second). ``reset`` starts over at a value.
    """

    def __init__(self, fps: float, cutoff_hz: float, beta: float) -> None:
        self.dt = 1.0 / check_fs(fps, "fps")
        self.cutoff_hz, self.beta = cutoff_hz, beta
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None

    def _alpha(self, cutoff_hz: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff_hz)
        return 1.0 / (1.0 + tau / self.dt)

    def reset(self, value: np.ndarray) -> np.ndarray:
        self.value = np.asarray(value, dtype=np.float64).copy()
        self.speed = np.zeros_like(self.value)
        return self.value.copy()

    def __call__(self, value: np.ndarray, scale: float = 1.0) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self.value is None:
            return self.reset(value)
        raw_speed = (value - self.value) / self.dt
        self.speed += self._alpha(DERIVATIVE_CUTOFF_HZ) * (raw_speed - self.speed)
        cutoff = self.cutoff_hz + self.beta * np.abs(self.speed) / scale
        self.value = self.value + self._alpha(cutoff) * (value - self.value)
        return self.value.copy()


class FlowTrack:
    """The face (centre x, centre y, side) followed from a key frame by Lucas-Kanade flow.

    ``start(grey, face)`` makes ``grey`` (uint8 H×W) the key frame and picks corners in the face;
    ``update(grey)`` returns the face in a new frame, or None when the track is lost. A key frame
    with too few corners (a flat face) makes a track that holds the face where it was started.
    """

    def __init__(self) -> None:
        self.key_grey: np.ndarray | None = None  # the key frame's region, tracking resolution
        self.region = (0, 0, 0, 0)  # (x0, y0, x1, y1) of that region in the shrunk frame
        self.key_points: np.ndarray | None = None  # (N, 1, 2) float32 in the key frame
        self.points: np.ndarray | None = None  # (N, 1, 2) their latest positions
        self.face: tuple[float, float, float] | None = None  # in the key frame
        self.factor = 1.0  # tracking resolution / frame resolution
        self.needs_renewal = False

    def start(self, grey: np.ndarray, face: tuple[float, float, float]) -> None:
        self.factor = min(1.0, TRACK_FACE_PX / face[2])
        grey = self._shrink(grey)
        cx, cy, side = (v * self.factor for v in face)
        height, width = grey.shape
        half_w, half_h = INNER_FACE[0] * side / 2.0, INNER_FACE[1] * side / 2.0
        x0, x1 = max(0, int(cx - half_w)), min(width, int(cx + half_w) + 1)
        y0, y1 = max(0, int(cy - half_h)), min(height, int(cy + half_h) + 1)
        self.face, self.key_grey, self.key_points, self.points = face, None, None, None
        self.needs_renewal = False
        if x1 - x0 < LK_WINDOW_PX or y1 - y0 < LK_WINDOW_PX:
            return
        self.region = _track_region(cx, cy, side, height, width)
        rx0, ry0, rx1, ry1 = self.region
        grey = grey[ry0:ry1, rx0:rx1]
        mask = np.zeros_like(grey)
        mask[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0] = 255
        corners = cv2.goodFeaturesToTrack(
            grey, MAX_CORNERS, qualityLevel=0.01, minDistance=max(2.0, side / 20.0), mask=mask
        )
        if corners is not None and len(corners) >= MIN_CORNERS:
            self.key_points = corners.astype(np.float32)  # in the region's pixels
            self.points = self.key_points.copy()
            self.key_grey = grey

    def _shrink(self, grey: np.ndarray) -> np.ndarray:
        """The frame at tracking resolution (a large face is tracked at TRACK_FACE_PX: as
        precise as the dead band needs, several times faster)."""
        if self.factor >= 1.0:
            return grey
        return cv2.resize(grey, None, fx=self.factor, fy=self.factor, interpolation=cv2.INTER_AREA)

    def _flow(self, src: np.ndarray, dst: np.ndarray, p0: np.ndarray, guess: np.ndarray):
        points, status, _ = cv2.calcOpticalFlowPyrLK(
            src,
            dst,
            p0,
            guess.copy(),
            winSize=(LK_WINDOW_PX, LK_WINDOW_PX),
            maxLevel=LK_LEVELS,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01),
            flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
        )
        return points, status.ravel().astype(bool)

    def update(self, grey: np.ndarray) -> tuple[float, float, float] | None:
        if self.key_points is None:
            return self.face
        x0, y0, x1, y1 = self.region
        grey = self._shrink(grey)[y0:y1, x0:x1]
        points, ok = self._flow(self.key_grey, grey, self.key_points, self.points)
        back, ok_back = self._flow(grey, self.key_grey, points, self.key_points)
        miss = np.linalg.norm((back - self.key_points).reshape(-1, 2), axis=1)
        good = ok & ok_back & (miss < FORWARD_BACKWARD_PX)
        if np.count_nonzero(good) < MIN_CORNERS:
            return None
        self.points = np.where(good[:, None, None], points, self.points)
        self.needs_renewal = np.count_nonzero(good) < RENEW_FRACTION * len(good)
        key, now = self.key_points[good, 0], points[good, 0]
        key_mid, now_mid = np.median(key, axis=0), np.median(now, axis=0)
        offset = np.array([x0, y0], dtype=np.float64)  # region pixels → shrunk-frame pixels
        spread_key = np.linalg.norm(key - key_mid, axis=1)
        spread_now = np.linalg.norm(now - now_mid, axis=1)
        usable = spread_key > 1.0
        scale = float(np.median(spread_now[usable] / spread_key[usable])) if usable.any() else 1.0
        cx, cy, side = self.face
        centre = (now_mid + offset) / self.factor + scale * (
            np.array([cx, cy]) - (key_mid + offset) / self.factor
        )
        return (float(centre[0]), float(centre[1]), side * scale)


def _track_region(
    cx: float, cy: float, side: float, height: int, width: int
) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the square of ``TRACK_REGION_SIDES`` face sides (at least
    ``TRACK_REGION_MIN_PX``) centred on the face, clipped to the (height, width) frame. Its corner
    lies on the grid of the coarsest pyramid level (a multiple of 2^LK_LEVELS px), so that the
    region's pyramid samples the same pixels as the whole frame's would."""
    half = max(TRACK_REGION_SIDES * side, TRACK_REGION_MIN_PX) / 2.0
    grid = 2**LK_LEVELS
    x0 = max(0, int(cx - half) // grid * grid)
    y0 = max(0, int(cy - half) // grid * grid)
    return x0, y0, min(width, int(cx + half) + 1), min(height, int(cy + half) + 1)


def _within(a: tuple[float, float, float], b: tuple[float, float, float], band: float) -> bool:
    """Whether centres (per axis) and sides of a and b differ by at most band × b's side."""
    return max(abs(p - q) for p, q in zip(a, b, strict=True)) <= band * b[2]


class BoxTracker:
    """Per-frame crop boxes under one policy; call ``tracker(frame, t)`` → ((x, y, w, h), found)
    for frames t = 0, 1, 2, ... in order.

    ``found`` is False only for the ``"haar"`` policy on frames whose latest detection attempt
    failed. ``boxes`` (T, 4) is required for the ``"box"`` policy (known boxes, e.g. synthetic).
    The tracking parameters (``tracker``, ``redetect_tolerance``, ``hold_band``,
    ``filter_cutoff_hz``, ``filter_beta``; module docstring) apply to ``"haar"``; ``fps`` (Hz) is
    the frame rate the filter's cut-offs refer to.
    """

    def __init__(
        self,
        policy: str = "haar",
        *,
        box_scale: float = 1.8,
        redetect_every: int = 30,
        smooth: float = 0.5,
        no_face: str = "last",
        detect_max_side: int = 320,
        min_face_fraction: float = 0.1,
        boxes: np.ndarray | None = None,
        tracker: str = DEFAULT_TRACKER,
        redetect_tolerance: float = DEFAULT_REDETECT_TOLERANCE,
        hold_band: float = DEFAULT_HOLD_BAND,
        filter_cutoff_hz: float = DEFAULT_FILTER_CUTOFF_HZ,
        filter_beta: float = DEFAULT_FILTER_BETA,
        fps: float = 30.0,
    ) -> None:
        if policy not in CROP_POLICIES:
            raise ValueError(f"crop must be one of {CROP_POLICIES}, got {policy!r}")
        if policy == "box":
            if boxes is None:
                raise ValueError("crop='box' needs known face boxes (T, 4), got boxes=None")
            boxes = np.asarray(boxes, dtype=np.float64)
            if boxes.ndim != 2 or boxes.shape[1] != 4 or not np.all(np.isfinite(boxes)):
                raise ValueError(f"boxes must be finite (T, 4) (x, y, w, h), got {boxes.shape}")
            if np.any(boxes[:, 2:] <= 0):
                raise ValueError("boxes must have positive width and height")
        check_tracking(tracker, redetect_tolerance, hold_band, filter_cutoff_hz, filter_beta)
        self.policy = policy
        self.box_scale = box_scale
        self.redetect_every = redetect_every
        self.smooth = smooth
        self.no_face = no_face
        self.detect_max_side = detect_max_side
        self.min_face_fraction = min_face_fraction
        self.boxes = boxes
        self.tracker = tracker
        self.redetect_tolerance = redetect_tolerance
        self.hold_band = hold_band
        self._filter = OneEuroFilter(fps, filter_cutoff_hz, filter_beta)
        self._track = FlowTrack()
        self._state: tuple[float, float, float] | None = None  # (cx, cy, side) handed out
        self._tracked: tuple[float, float, float] | None = None  # latest tracked face (flow)
        self._last_face: tuple[float, float, float, float] | None = None  # raw, unsmoothed
        self._following = False  # the crop follows the smoothed face until it is at rest again
        self._last_found = False
        self._last_attempt = -1
        # (x, y, w, h) of the latest frame's face, not enlarged, inside the frame
        self.face_box: tuple[int, int, int, int] | None = None

    def __call__(self, frame: np.ndarray, t: int) -> tuple[tuple[int, int, int, int], bool]:
        height, width = frame.shape[:2]
        crop, face, found = self._boxes(frame, t)
        # the face itself, not enlarged: where the skin is (the crop keeps background in view)
        self.face_box = fit_box(face, height, width)
        return crop, found

    def _boxes(
        self, frame: np.ndarray, t: int
    ) -> tuple[tuple[int, int, int, int], tuple[float, float, float, float], bool]:
        """(crop box, face box before enlarging, found) of frame ``t``."""
        height, width = frame.shape[:2]
        if self.policy == "none":
            return (0, 0, width, height), (0, 0, width, height), True
        if self.policy == "center":
            return center_box(height, width), center_box(height, width), True
        if self.policy == "box":
            if t >= len(self.boxes):
                raise ValueError(
                    f"boxes has {len(self.boxes)} rows but the clip has more frames (frame {t})"
                )
            box = self.boxes[t]
            return fit_box(scale_box(box, self.box_scale), height, width), box, True
        if self.tracker == "legacy":
            self._legacy_step(frame, t)
        else:
            self._flow_step(frame, t)
        if (not self._last_found and self.no_face == "center") or self._state is None:
            return center_box(height, width), center_box(height, width), self._last_found
        cx, cy, side = self._state
        face_box = (cx - side / 2, cy - side / 2, side, side)
        crop = fit_box(scale_box(face_box, self.box_scale), height, width)
        return crop, scale_box(face_box, 1.0), self._last_found

    def _detect(
        self, frame: np.ndarray, t: int, refine: bool = False
    ) -> tuple[float, float, float] | None:
        """Run the detector; the face as (centre x, centre y, side) or None. With ``refine``, a
        first face (found in the whole frame) is detected again around itself, the way every
        later detection runs: the two searches frame the same face about 10 % apart in size, and
        the tracker's hysteresis compares later detections with the first."""
        self._last_attempt = t
        first = self._last_face is None
        face = detect_face(
            frame, self.detect_max_side, self.min_face_fraction, near=self._last_face
        )
        if refine and first and face is not None:
            face = detect_face(frame, self.detect_max_side, self.min_face_fraction, near=face)
        self._last_found = face is not None
        if face is None:
            return None
        self._last_face = face
        x, y, w, h = face
        return (x + w / 2, y + h / 2, max(w, h))

    def _due(self, t: int) -> bool:
        scheduled = self._last_attempt < 0 or t - self._last_attempt >= self.redetect_every
        return scheduled or not self._last_found

    def _legacy_step(self, frame: np.ndarray, t: int) -> None:
        """Hold the box between detections; each detection moves it to the moving average."""
        if self._due(t):
            detected = self._detect(frame, t)
            if detected is not None:
                self._state = smooth_box(self._state, detected, self.smooth)

    def _flow_step(self, frame: np.ndarray, t: int) -> None:
        """Track, re-detect with hysteresis, smooth, then hold within the dead band."""
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        tracked = self._track.update(grey) if self._tracked is not None else None
        renew = tracked is not None and self._track.needs_renewal
        restart = False
        if self._due(t) or tracked is None:
            detected = self._detect(frame, t, refine=True)
            if detected is not None and tracked is None:
                tracked, renew, restart = detected, True, True
            elif detected is not None and not _within(detected, tracked, self.redetect_tolerance):
                tracked, renew = smooth_box(tracked, detected, self.smooth), True
        self._tracked = tracked
        if tracked is None:  # lost and not found again: keep the last box
            return
        if renew:
            self._track.start(grey, tracked)
        if restart:
            self._state = tuple(self._filter.reset(np.array(tracked)))
            self._following = False
            return
        smoothed = tuple(self._filter(np.array(tracked), scale=tracked[2]))
        if not self._following and not _within(smoothed, self._state, self.hold_band):
            self._following = True
        if self._following:
            self._state = smoothed
            # At rest again (under one dead band per second): hold from here on.
            self._following = np.max(np.abs(self._filter.speed)) > self.hold_band * tracked[2]

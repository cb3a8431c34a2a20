"""Where to crop each frame: Haar face detection with tracking, centre square, known boxes, none.

Boxes are ``(x, y, w, h)`` integer pixels, top-left origin. Every crop box handed to the pipeline
is a square lying inside the frame (``fit_box``), so resizing to S×S never distorts the face and
never needs padding; the ``"none"`` policy (whole frame, aspect not kept) is the only exception.

Face policy (``"haar"``): OpenCV's frontal-face Haar cascade runs on a grey, histogram-equalised
copy of the frame shrunk to at most ``detect_max_side`` pixels (after the first face, first
around the last face: ``detect_face(near=...)``); the most confident detection wins. It runs
on frame 0 and every ``redetect_every`` frames, and on every frame while the last attempt found no
face (so that a face is picked up again as soon as it reappears). Detected boxes are smoothed over
time with an exponential moving average of centre and side (``smooth`` = weight of the previous
box; 0 keeps raw detections) and enlarged ``box_scale`` times about their centre so that background
stays in view (inverse attention needs it). Between detections the box is held. Frames whose latest
detection attempt failed are flagged (``found`` False) and use the last box (``no_face="last"``) or
the centre square (``"center"``; also used by ``"last"`` before the first face).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "CROP_POLICIES",
    "haar_cascade",
    "detect_face",
    "center_box",
    "scale_box",
    "fit_box",
    "smooth_box",
    "BoxTracker",
]

CROP_POLICIES = ("haar", "center", "box", "none")
HAAR_FILE = "haarcascade_frontalface_default.xml"
NEAR_FACE_PX = 48  # face size (pixels) when re-detecting near the previous face


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


class BoxTracker:
    """Per-frame crop boxes under one policy; call ``tracker(frame, t)`` → ((x, y, w, h), found).

    ``found`` is False only for the ``"haar"`` policy on frames whose latest detection attempt
    failed. ``boxes`` (T, 4) is required for the ``"box"`` policy (known boxes, e.g. synthetic).
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
        self.policy = policy
        self.box_scale = box_scale
        self.redetect_every = redetect_every
        self.smooth = smooth
        self.no_face = no_face
        self.detect_max_side = detect_max_side
        self.min_face_fraction = min_face_fraction
        self.boxes = boxes
        self._state: tuple[float, float, float] | None = None  # smoothed (cx, cy, side) of the face
        self._last_face: tuple[float, float, float, float] | None = None  # raw, unsmoothed
        self._last_found = False
        self._last_attempt = -1

    def __call__(self, frame: np.ndarray, t: int) -> tuple[tuple[int, int, int, int], bool]:
        height, width = frame.shape[:2]
        if self.policy == "none":
            return (0, 0, width, height), True
        if self.policy == "center":
            return center_box(height, width), True
        if self.policy == "box":
            if t >= len(self.boxes):
                raise ValueError(
                    f"boxes has {len(self.boxes)} rows but the clip has more frames (frame {t})"
                )
            return fit_box(scale_box(self.boxes[t], self.box_scale), height, width), True
        due = self._last_attempt < 0 or t - self._last_attempt >= self.redetect_every
        if due or not self._last_found:
            self._last_attempt = t
            face = detect_face(
                frame, self.detect_max_side, self.min_face_fraction, near=self._last_face
            )
            self._last_found = face is not None
            if face is not None:
                self._last_face = face
                x, y, w, h = face
                side = max(w, h)
                self._state = smooth_box(self._state, (x + w / 2, y + h / 2, side), self.smooth)
        if (not self._last_found and self.no_face == "center") or self._state is None:
            return center_box(height, width), self._last_found
        cx, cy, side = self._state
        face_box = (cx - side / 2, cy - side / 2, side, side)
        return fit_box(scale_box(face_box, self.box_scale), height, width), self._last_found

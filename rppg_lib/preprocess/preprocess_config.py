"""Every parameter of the preprocessing, validated in one place (and hashed into cache keys)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from rppg_lib.constants import FRAME_DEPTH
from rppg_lib.preprocess.face_tracking import (
    CROP_POLICIES,
    DEFAULT_FILTER_BETA,
    DEFAULT_FILTER_CUTOFF_HZ,
    DEFAULT_HOLD_BAND,
    DEFAULT_REDETECT_TOLERANCE,
    DEFAULT_TRACKER,
    BoxTracker,
    check_tracking,
)
from rppg_lib.preprocess.inputs import EPS
from rppg_lib.preprocess.resize import INTERPOLATIONS
from rppg_lib.validation import check_choice, check_positive, check_positive_int

__all__ = ["PreprocessConfig"]


@dataclass(frozen=True)
class PreprocessConfig:
    """Parameters of the preprocessing (units: pixels, frames; see the package docstring).

    size: network grid S (36 as MTTS-CAN and Benefit of Distraction, 72 as rPPG-Toolbox).
    crop: ``"haar"`` face detection, ``"center"`` largest centre square, ``"box"`` known boxes,
        ``"none"`` whole frame.
    box_scale: enlargement of face/known boxes about their centre (1.8 keeps background in view).
    redetect_every: frames between Haar detections. smooth: weight of the previous box when a
        detection moves it (0 = take the detection as it is). no_face: box for frames without a
        detected face, ``"last"`` box or ``"center"`` square.
    tracker: between detections ``"flow"`` (optical-flow tracking, smoothing and a dead band:
        the crop holds still on a still face) or ``"legacy"`` (box held, moved by each detection);
        see ``rppg_lib.preprocess.face_tracking``. redetect_tolerance: a detection within this
        fraction of
        the face side of the tracked face is ignored. hold_band: the crop moves only when the
        smoothed face moves more than this fraction of its side. filter_cutoff_hz, filter_beta:
        one-euro filter cut-off at rest (Hz) and its rise with speed (Hz per face side per second).
    detect_max_side, min_face_fraction: detection resolution (pixels) and smallest face (fraction
        of the shorter frame side).
    mask_size: grid of the frames kept for inverse attention (default S − 2, the gate-1 mask size).
    mask_interpolation: ``"area"`` (cv2.INTER_AREA) or ``"bicubic"`` (MATLAB imresize).
    appearance: ``"frame"`` per-frame appearance (inference convention) or ``"chunk_mean"`` mean
        over each segment of ``frame_depth`` frames (MTTS-CAN training convention).
    frame_depth: TSM segment length (frames). chunk_length: frames per training chunk (a multiple
        of frame_depth; rPPG-Toolbox uses 180).
    stats: normalisation statistics over the whole ``"video"`` or per ``"chunk"`` of chunk_length.
    eps: ε of the motion denominator (1e-7 as rPPG-Toolbox).
    """

    size: int = 36
    crop: str = "haar"
    box_scale: float = 1.8
    redetect_every: int = 30
    smooth: float = 0.5
    no_face: str = "last"
    detect_max_side: int = 320
    min_face_fraction: float = 0.1
    tracker: str = DEFAULT_TRACKER
    redetect_tolerance: float = DEFAULT_REDETECT_TOLERANCE
    hold_band: float = DEFAULT_HOLD_BAND
    filter_cutoff_hz: float = DEFAULT_FILTER_CUTOFF_HZ
    filter_beta: float = DEFAULT_FILTER_BETA
    mask_size: int | None = None
    mask_interpolation: str = "area"
    appearance: str = "frame"
    frame_depth: int = FRAME_DEPTH
    chunk_length: int = 180
    stats: str = "video"
    eps: float = EPS

    def __post_init__(self) -> None:
        if check_positive_int(self.size, "size") < 3:
            raise ValueError(f"size must be at least 3 pixels, got {self.size!r}")
        check_choice(self.crop, "crop", CROP_POLICIES)
        check_positive(self.box_scale, "box_scale")
        check_positive_int(self.redetect_every, "redetect_every")
        if isinstance(self.smooth, bool) or not 0.0 <= float(self.smooth) < 1.0:
            raise ValueError(f"smooth must be in [0, 1), got {self.smooth!r}")
        check_choice(self.no_face, "no_face", ("last", "center"))
        check_positive_int(self.detect_max_side, "detect_max_side")
        if not 0.0 < check_positive(self.min_face_fraction, "min_face_fraction") <= 1.0:
            raise ValueError(f"min_face_fraction must be in (0, 1], got {self.min_face_fraction!r}")
        check_tracking(
            self.tracker,
            self.redetect_tolerance,
            self.hold_band,
            self.filter_cutoff_hz,
            self.filter_beta,
        )
        if self.mask_size is not None:
            check_positive_int(self.mask_size, "mask_size")
        check_choice(self.mask_interpolation, "mask_interpolation", INTERPOLATIONS)
        check_choice(self.appearance, "appearance", ("frame", "chunk_mean"))
        check_positive_int(self.frame_depth, "frame_depth")
        check_positive_int(self.chunk_length, "chunk_length")
        if self.chunk_length % self.frame_depth:
            raise ValueError(
                f"chunk_length must be a multiple of frame_depth={self.frame_depth}, "
                f"got {self.chunk_length!r}"
            )
        check_choice(self.stats, "stats", ("video", "chunk"))
        check_positive(self.eps, "eps")

    @property
    def mask_grid(self) -> int:
        """Side of the mask-resolution frames: ``mask_size`` or S − 2."""
        return self.mask_size if self.mask_size is not None else self.size - 2

    def box_tracker(self, fps: float, boxes: np.ndarray | None = None) -> BoxTracker:
        """A fresh :class:`~rppg_lib.preprocess.face_tracking.BoxTracker` with this crop policy and
        its
        tracking settings, for a clip at ``fps`` Hz (``boxes`` (T, 4) for ``crop="box"``)."""
        return BoxTracker(
            self.crop,
            box_scale=self.box_scale,
            redetect_every=self.redetect_every,
            smooth=self.smooth,
            no_face=self.no_face,
            detect_max_side=self.detect_max_side,
            min_face_fraction=self.min_face_fraction,
            boxes=boxes,
            tracker=self.tracker,
            redetect_tolerance=self.redetect_tolerance,
            hold_band=self.hold_band,
            filter_cutoff_hz=self.filter_cutoff_hz,
            filter_beta=self.filter_beta,
            fps=fps,
        )

    def to_dict(self) -> dict[str, Any]:
        """All fields (with ``mask_size`` resolved) as a JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["mask_size"] = self.mask_grid
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PreprocessConfig:
        """Inverse of ``to_dict``; unknown keys raise ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown preprocessing parameters {unknown}; known: {sorted(names)}")
        return cls(**values)

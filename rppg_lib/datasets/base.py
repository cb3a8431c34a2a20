"""The common record of one clip: a frame stream, its clock, and ground truth on its own clock.

Every reader returns :class:`Clip` objects. Frames are streamed from disk (``iter_frames``) and only
loaded whole on request (``read_frames``). Ground-truth series keep their own sample times
(:class:`Signal`) and are resampled onto the frame times explicitly with :meth:`Clip.at_frames`,
which refuses to extrapolate beyond a small tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..validation import check_positive, check_positive_int
from ..video_io import (
    ArrayFrames,
    FrameSource,
    ImageFileFrames,
    VideoFileFrames,
    list_image_files,
)

__all__ = ["Signal", "Clip", "uniform_times"]


def strictly_increasing(times: np.ndarray, what: str) -> None:
    """ValueError naming `what` and the first offending sample unless `times` strictly increase."""
    steps = np.diff(times)
    if steps.size and not np.all(steps > 0):
        i = int(np.argmax(steps <= 0))
        raise ValueError(
            f"{what} must be strictly increasing; sample {i + 1} ({float(times[i + 1])!r} s) does "
            f"not follow sample {i} ({float(times[i])!r} s)"
        )


@dataclass(frozen=True)
class Signal:
    """A ground-truth series with its own clock.

    ``values`` (N,) in ``unit``; ``times`` (N,) seconds on the same clock as ``Clip.frame_times``,
    strictly increasing. Both are stored as read-only float64 arrays; N >= 2. ``source``: the
    file the series was read from (None when not from a file), named in error messages.
    """

    values: np.ndarray
    times: np.ndarray
    unit: str
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)
        times = np.array(self.times, dtype=np.float64)
        if values.ndim != 1 or times.ndim != 1:
            raise ValueError(
                f"Signal values and times must be 1-D, got shapes {values.shape} and {times.shape}"
            )
        if values.shape != times.shape:
            raise ValueError(
                f"Signal values and times must have the same length, got {values.size} and "
                f"{times.size}"
            )
        if values.size < 2:
            raise ValueError(f"a Signal needs at least 2 samples, got {values.size}")
        for name, arr in (("values", values), ("times", times)):
            bad = np.flatnonzero(~np.isfinite(arr))
            if bad.size:
                raise ValueError(
                    f"Signal {name} holds {bad.size} non-finite sample(s), first at index "
                    f"{int(bad[0])}: {float(arr[bad[0]])!r}"
                )
        strictly_increasing(times, "Signal times")
        if not isinstance(self.unit, str):
            raise ValueError(f"Signal unit must be a string, got {self.unit!r}")
        if self.source is not None:
            object.__setattr__(self, "source", str(self.source))
        values.flags.writeable = False
        times.flags.writeable = False
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "times", times)

    @classmethod
    def uniform(cls, values: Any, fs: float, unit: str, t0: float = 0.0) -> Signal:
        """A series sampled at ``fs`` Hz whose first sample is at ``t0`` seconds."""
        values = np.asarray(values, dtype=np.float64)
        return cls(values, uniform_times(values.shape[0], fs, t0), unit)

    @property
    def fs(self) -> float:
        """Median sample rate in Hz (1 / median sample interval)."""
        return float(1.0 / np.median(np.diff(self.times)))

    @property
    def span(self) -> tuple[float, float]:
        """First and last sample time in seconds."""
        return float(self.times[0]), float(self.times[-1])

    def __len__(self) -> int:
        return int(self.values.size)


def uniform_times(n: int, fs: float, t0: float = 0.0) -> np.ndarray:
    """``n`` sample times in seconds at ``fs`` Hz starting at ``t0``: ``t0 + k / fs``."""
    n = check_positive_int(n, "n")
    fs = check_positive(fs, "fs")
    return t0 + np.arange(n, dtype=np.float64) / fs


@dataclass(eq=False)
class Clip:
    """One recording: frames streamed from ``source``, their times, and ground truth.

    ``fps`` (Hz) is the nominal frame rate; ``frame_times`` (T,) seconds are the actual frame
    times (``k / fps`` unless the dataset gives time stamps). ``bvp``, ``resp``, ``hr`` (bpm) are
    :class:`Signal` on the same clock or None. ``face_boxes`` (T, 4) int ``(x, y, w, h)`` where
    known. ``frame_source`` streams the frames; by default it is derived from ``source`` (a video
    file, or a folder of images in natural order).
    """

    clip_id: str
    subject: str
    task: str
    source: Path
    fps: float
    n_frames: int
    frame_times: np.ndarray
    bvp: Signal | None = None
    resp: Signal | None = None
    hr: Signal | None = None
    face_boxes: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    frame_source: FrameSource | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("clip_id", "subject", "task"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        self.source = Path(self.source)
        self.fps = check_positive(self.fps, "fps")
        self.n_frames = check_positive_int(self.n_frames, "n_frames")
        times = np.array(self.frame_times, dtype=np.float64)
        if times.shape != (self.n_frames,):
            raise ValueError(
                f"frame_times of clip {self.clip_id} must have shape ({self.n_frames},), "
                f"got {times.shape}"
            )
        if not np.all(np.isfinite(times)):
            raise ValueError(f"frame_times of clip {self.clip_id} holds non-finite values")
        strictly_increasing(times, f"frame_times of clip {self.clip_id}")
        times.flags.writeable = False
        self.frame_times = times
        for name in ("bvp", "resp", "hr"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Signal):
                raise ValueError(f"{name} must be a Signal or None, got {type(value).__name__}")
        if self.face_boxes is not None:
            boxes = np.asarray(self.face_boxes)
            if boxes.shape != (self.n_frames, 4):
                raise ValueError(
                    f"face_boxes of clip {self.clip_id} must have shape ({self.n_frames}, 4), "
                    f"got {boxes.shape}"
                )
            self.face_boxes = boxes.astype(np.int64)
        if self.frame_source is None:
            if self.source.is_dir():
                self.frame_source = ImageFileFrames(list_image_files(self.source))
            elif self.source.is_file():
                self.frame_source = VideoFileFrames(self.source, self.n_frames)
            else:
                raise FileNotFoundError(f"clip {self.clip_id}: source not found: {self.source}")
        if self.frame_source.n_frames != self.n_frames:
            raise ValueError(
                f"clip {self.clip_id}: n_frames={self.n_frames} but its frame source "
                f"{self.frame_source!r} holds {self.frame_source.n_frames} frames"
            )

    @classmethod
    def from_frames(
        cls,
        frames: np.ndarray,
        fps: float,
        *,
        clip_id: str = "clip",
        subject: str = "subject",
        task: str = "task",
        **fields: Any,
    ) -> Clip:
        """A clip over in-memory RGB ``uint8`` frames ``(T, H, W, 3)`` at ``fps`` Hz."""
        source = ArrayFrames(frames)
        fps = check_positive(fps, "fps")
        fields.setdefault("frame_times", uniform_times(source.n_frames, fps))
        return cls(
            clip_id=clip_id,
            subject=subject,
            task=task,
            source=Path(f"<memory:{clip_id}>"),
            fps=fps,
            n_frames=source.n_frames,
            frame_source=source,
            **fields,
        )

    @property
    def duration(self) -> float:
        """Seconds covered by the frames: last minus first frame time plus one frame period."""
        return float(self.frame_times[-1] - self.frame_times[0] + 1.0 / self.fps)

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Stream frames ``start .. stop-1`` as RGB ``uint8`` ``(H, W, 3)``.

        Reading to the end verifies that exactly ``n_frames`` frames decode (ValueError naming
        the file and frame index otherwise).
        """
        return self.frame_source.iter(start, stop)

    def read_frames(self) -> np.ndarray:
        """All frames as one ``(T, H, W, 3)`` ``uint8`` array (memory: T·H·W·3 bytes)."""
        out = None
        for index, frame in enumerate(self.iter_frames()):
            if out is None:
                out = np.empty((self.n_frames, *frame.shape), dtype=np.uint8)
            out[index] = frame
        return out

    def at_frames(self, signal: Signal, *, tolerance: float | None = None) -> np.ndarray:
        """``signal`` linearly interpolated at ``frame_times``: (T,) float64 in the signal's unit.

        Frame times may lie at most ``tolerance`` seconds (default one frame period, 1 / fps)
        outside the signal's span; there the edge value is held. Beyond it ValueError says how
        much is missing: ground truth shorter than the video is not extrapolated.
        """
        if not isinstance(signal, Signal):
            raise ValueError(f"signal must be a Signal, got {type(signal).__name__}")
        tol = 1.0 / self.fps if tolerance is None else float(tolerance)
        if not math.isfinite(tol) or tol < 0:
            raise ValueError(
                f"tolerance must be a finite number of seconds >= 0, got {tolerance!r}"
            )
        t0, t1 = signal.span
        f0, f1 = float(self.frame_times[0]), float(self.frame_times[-1])
        if f0 < t0 - tol or f1 > t1 + tol:
            origin = f"ground truth {signal.source}" if signal.source else "ground truth"
            raise ValueError(
                f"clip {self.clip_id}: {origin} ({signal.unit}) covers {t0:.4f}–{t1:.4f} s but "
                f"the frames span {f0:.4f}–{f1:.4f} s (tolerance {tol:.4f} s): "
                f"{max(t0 - f0, 0.0):.4f} s missing at the start and {max(f1 - t1, 0.0):.4f} s at "
                "the end; use clip.subclip(start, stop) to keep the covered frames"
            )
        return np.interp(self.frame_times, signal.times, signal.values)

    def _named_at_frames(self, name: str) -> np.ndarray:
        signal = getattr(self, name)
        if signal is None:
            raise ValueError(f"clip {self.clip_id} ({self.source}) has no {name} ground truth")
        return self.at_frames(signal)

    def bvp_at_frames(self) -> np.ndarray:
        """Ground-truth pulse waveform at the frame times, (T,)."""
        return self._named_at_frames("bvp")

    def resp_at_frames(self) -> np.ndarray:
        """Ground-truth respiration waveform at the frame times, (T,)."""
        return self._named_at_frames("resp")

    def hr_at_frames(self) -> np.ndarray:
        """Ground-truth heart rate (bpm) at the frame times, (T,)."""
        return self._named_at_frames("hr")

    def subclip(self, start: int, stop: int) -> Clip:
        """Frames ``start .. stop-1`` as a new clip on the same clock (ground truth shared)."""
        if not (isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer))):
            raise ValueError(f"start and stop must be integers, got {start!r} and {stop!r}")
        if not 0 <= start < stop <= self.n_frames:
            raise ValueError(
                f"subclip needs 0 <= start < stop <= n_frames={self.n_frames}, got start={start}, "
                f"stop={stop}"
            )
        extra = dict(self.extra)
        extra["subclip_of"] = (self.clip_id, int(start), int(stop))
        return Clip(
            clip_id=f"{self.clip_id}[{start}:{stop}]",
            subject=self.subject,
            task=self.task,
            source=self.source,
            fps=self.fps,
            n_frames=int(stop - start),
            frame_times=self.frame_times[start:stop],
            bvp=self.bvp,
            resp=self.resp,
            hr=self.hr,
            face_boxes=None if self.face_boxes is None else self.face_boxes[start:stop],
            extra=extra,
            frame_source=_OffsetFrames(self.frame_source, int(start), int(stop)),
        )


class _OffsetFrames(FrameSource):
    """Frames ``offset .. stop-1`` of another source, re-indexed from 0."""

    def __init__(self, base: FrameSource, offset: int, stop: int):
        self.base, self.offset, self.n_frames = base, offset, stop - offset

    def iter(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        stop = self.n_frames if stop is None else stop
        if not 0 <= start <= stop <= self.n_frames:
            raise ValueError(
                f"frame range start={start}, stop={stop} must satisfy 0 <= start <= stop <= "
                f"n_frames={self.n_frames}"
            )
        return self.base.iter(self.offset + start, self.offset + stop)

    def __repr__(self) -> str:
        return f"{self.base!r}[{self.offset}:{self.offset + self.n_frames}]"

"""Video files and frame folders as streams of RGB ``uint8`` frames, and lossless writing.

OpenCV reads and writes BGR; this module is the boundary where frames become RGB ``(H, W, 3)``
``uint8``. Nothing here holds a whole video in memory unless asked (:func:`read_video`).

Frame counts: a container's ``CAP_PROP_FRAME_COUNT`` is only a claim (it is computed from the
index or from duration × fps, and a truncated file keeps its header). Every stream therefore counts
the frames it decodes and raises, naming the file and the frame index, when it ends before the
claimed count or holds more frames than claimed. :func:`probe_video` with ``count_frames=True``
decodes the whole file once to get the exact count.

Clocks: :func:`check_video` checks a video's frame rate before any long work, against
:data:`FPS_RANGE_HZ` and the time stamps of its first frames (and, for AVI, the stream header
itself: OpenCV reports 25 Hz for a header rate of 0); :class:`DecodedFrames` streams a file once
and counts what decodes, for comparison with the header's count.

Lossless writing: FFV1 in an ``.avi`` through the opencv-python-headless wheel round-trips RGB
frames bit-exactly, but only for even widths and heights (the wheel's encoder silently drops an odd
last row or column), so :func:`write_video` refuses odd sizes for FFV1; PNG frame folders
(:func:`write_image_folder`) have no such limit.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rppg_lib.atomic import current_umask

__all__ = [
    "IMAGE_EXTENSIONS",
    "VideoInfo",
    "FrameSource",
    "VideoFileFrames",
    "ImageFileFrames",
    "ArrayFrames",
    "probe_video",
    "iter_video",
    "read_video",
    "read_image",
    "list_image_files",
    "natural_key",
    "frame_numbers",
    "write_video",
    "write_image_folder",
    "FPS_RANGE_HZ",
    "check_frame_rate",
    "CheckedVideo",
    "check_video",
    "DecodedFrames",
]

# Frame rates (Hz) a camera plausibly records at: a rate outside is a broken header or a typo
# (OpenCV reads a header rate of 0 as 25 Hz, and a rate of 1e6 Hz would make every clip last
# microseconds), so it is refused with a message that asks for the true rate.
FPS_RANGE_HZ = (5.0, 240.0)
# Relative disagreement allowed between the header's rate and the rate of the frame time stamps.
_STAMP_TOLERANCE = 0.02
# Frames whose time stamps are read to check the header's rate.
_STAMPED_FRAMES = 61

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")


@dataclass(frozen=True)
class VideoInfo:
    """What a video container says about itself (``n_frames`` exact when counted)."""

    path: Path
    fps: float | None  # frames per second; None where the container gives none, 0 or non-finite
    n_frames: int
    width: int
    height: int
    counted: bool  # True when n_frames comes from decoding every frame, not from the header


def _open_capture(path: Path) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture`` on ``path``; FileNotFoundError / ValueError otherwise."""
    if not path.exists():
        raise FileNotFoundError(f"video file not found: {path}")
    if not path.is_file():
        raise ValueError(f"video path is not a file: {path}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise ValueError(f"OpenCV cannot open the video {path} (corrupt or unsupported format)")
    return cap


def probe_video(path: str | os.PathLike, *, count_frames: bool = False) -> VideoInfo:
    """Frame rate (Hz), frame count and size of a video file.

    ``count_frames=True`` decodes the whole stream (``grab`` without colour conversion) and reports
    the exact number of frames; otherwise the container's claim is used and streams verify it.
    Raises FileNotFoundError for a missing file and ValueError for an unreadable file or one with
    zero frames.
    """
    path = Path(path)
    cap = _open_capture(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        claimed = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if count_frames:
            n = 0
            while cap.grab():
                n += 1
        else:
            n = int(round(claimed)) if math.isfinite(claimed) and claimed > 0 else 0
            if n == 0 and cap.grab():
                # The header gives no count but frames decode: count them rather than guess.
                n = 1
                while cap.grab():
                    n += 1
                count_frames = True
    finally:
        cap.release()
    if n == 0:
        raise ValueError(f"video {path} has zero decodable frames")
    return VideoInfo(
        path=path,
        fps=fps if math.isfinite(fps) and fps > 0 else None,
        n_frames=n,
        width=width,
        height=height,
        counted=count_frames,
    )


def _check_range(start: int, stop: int | None, n_frames: int) -> tuple[int, int]:
    stop = n_frames if stop is None else stop
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer frame index, got {value!r}")
    if not 0 <= start <= stop <= n_frames:
        raise ValueError(
            f"frame range start={start}, stop={stop} must satisfy 0 <= start <= stop <= "
            f"n_frames={n_frames}"
        )
    return int(start), int(stop)


def iter_video(
    path: str | os.PathLike, start: int = 0, stop: int | None = None, *, n_frames: int
) -> Iterator[np.ndarray]:
    """Stream frames ``start .. stop-1`` of a video as RGB ``uint8`` ``(H, W, 3)`` arrays.

    ``n_frames`` is the clip's frame count. The stream is read sequentially from the first frame
    (frames before ``start`` are grabbed, not converted): seeking is not frame-accurate for every
    codec. Raises ValueError naming the file and the frame index when the stream ends early, when
    a frame's size changes, or (when reading to the end) when it holds more than ``n_frames``.
    """
    path = Path(path)
    start, stop = _check_range(start, stop, n_frames)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    return _stream_video(path, start, stop, n_frames)


def _stream_video(path: Path, start: int, stop: int, n_frames: int) -> Iterator[np.ndarray]:
    if start == stop:
        return
    cap = _open_capture(path)
    try:
        for index in range(start):
            if not cap.grab():
                raise ValueError(
                    f"video {path} ended at frame {index} while skipping to frame {start}; "
                    f"expected {n_frames} frames"
                )
        shape = None
        for index in range(start, stop):
            ok, bgr = cap.read()
            if not ok or bgr is None:
                raise ValueError(
                    f"video {path} ended (or failed to decode) at frame {index}; expected "
                    f"{n_frames} frames: the file is truncated or corrupt"
                )
            if shape is None:
                shape = bgr.shape
            elif bgr.shape != shape:
                raise ValueError(
                    f"video {path}: frame {index} has shape {bgr.shape}, frame {start} had {shape}"
                )
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if stop == n_frames and cap.grab():
            raise ValueError(
                f"video {path} holds more than the {n_frames} frames its header claims; "
                "open it with count_frames=True to count them exactly"
            )
    finally:
        cap.release()


def read_video(path: str | os.PathLike, *, count_frames: bool = True) -> tuple[np.ndarray, float]:
    """The whole video as ``(T, H, W, 3)`` RGB ``uint8`` and its frame rate in Hz (0 if unknown)."""
    info = probe_video(path, count_frames=count_frames)
    frames = np.stack(list(iter_video(info.path, n_frames=info.n_frames)))
    return frames, info.fps or 0.0


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image file as RGB ``uint8`` ``(H, W, 3)``; ValueError naming the file if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"OpenCV cannot decode the image {path} (corrupt or unsupported)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers numerically: ``f2.png`` before ``f10.png``."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(name))


def list_image_files(
    folder: str | os.PathLike, *, extensions: Sequence[str] = IMAGE_EXTENSIONS
) -> list[Path]:
    """Image files directly inside ``folder`` in natural order.

    Raises FileNotFoundError for a missing folder and ValueError when it holds no image file with
    one of ``extensions`` (case-insensitive).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"frame folder not found: {folder}")
    exts = {e.lower() for e in extensions}
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts]
    if not files:
        raise ValueError(
            f"frame folder {folder} holds no image files with extensions {sorted(exts)}"
        )
    return sorted(files, key=lambda p: natural_key(p.name))


_TRAILING_NUMBER = re.compile(r"(\d+)$")


def frame_numbers(files: Sequence[Path]) -> np.ndarray | None:
    """The integer ending each file stem (``frame_0012.png`` → 12); None if any stem lacks one."""
    numbers = []
    for f in files:
        match = _TRAILING_NUMBER.search(Path(f).stem)
        if match is None:
            return None
        numbers.append(int(match.group(1)))
    return np.asarray(numbers, dtype=np.int64)


class FrameSource:
    """A sequence of ``n_frames`` RGB ``uint8`` frames that can be streamed in order."""

    n_frames: int

    def iter(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        raise NotImplementedError


class VideoFileFrames(FrameSource):
    """Frames of a video file; ``n_frames`` is verified while streaming (see :func:`iter_video`)."""

    def __init__(self, path: str | os.PathLike, n_frames: int):
        self.path = Path(path)
        self.n_frames = int(n_frames)

    def iter(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        return iter_video(self.path, start, stop, n_frames=self.n_frames)

    def __repr__(self) -> str:
        return f"VideoFileFrames({str(self.path)!r}, n_frames={self.n_frames})"


class ImageFileFrames(FrameSource):
    """Frames stored one image file each, in the given order."""

    def __init__(self, files: Sequence[str | os.PathLike]):
        self.files = tuple(Path(f) for f in files)
        if not self.files:
            raise ValueError("files must name at least one image file, got an empty list")
        self.n_frames = len(self.files)

    def iter(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        start, stop = _check_range(start, stop, self.n_frames)
        return self._stream(start, stop)

    def _stream(self, start: int, stop: int) -> Iterator[np.ndarray]:
        shape = None
        for index in range(start, stop):
            frame = read_image(self.files[index])
            if shape is None:
                shape = frame.shape
            elif frame.shape != shape:
                raise ValueError(
                    f"image {self.files[index]} (frame {index}) has shape {frame.shape}, "
                    f"frame {start} had {shape}"
                )
            yield frame

    def __repr__(self) -> str:
        return f"ImageFileFrames({len(self.files)} files in {str(self.files[0].parent)!r})"


class ArrayFrames(FrameSource):
    """Frames already in memory, ``(T, H, W, 3)`` ``uint8`` RGB (for tests and generated data)."""

    def __init__(self, frames: np.ndarray):
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be uint8 of shape (T, H, W, 3), got {frames.dtype} {frames.shape}"
            )
        if frames.shape[0] == 0:
            raise ValueError("frames holds zero frames")
        self.frames = frames
        self.n_frames = int(frames.shape[0])

    def iter(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        start, stop = _check_range(start, stop, self.n_frames)
        return iter(self.frames[start:stop])

    def __repr__(self) -> str:
        return f"ArrayFrames(shape={self.frames.shape})"


def _check_frame(frame: np.ndarray, index: int, shape: tuple | None) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"frame {index} must be uint8 RGB of shape (H, W, 3), got {frame.dtype} {frame.shape}"
        )
    if shape is not None and frame.shape != shape:
        raise ValueError(f"frame {index} has shape {frame.shape}, frame 0 had {shape}")
    return frame


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    fourcc: str = "FFV1",
) -> int:
    """Write RGB ``uint8`` frames to a video file atomically; returns the number of frames written.

    ``fps`` in Hz. The default FFV1 codec in ``.avi``/``.mkv`` is lossless (bit-exact round trip
    through this module) and needs an even width and height. The file is written under a
    temporary name in the destination folder and renamed when complete, so a crash never leaves a
    half-written file at ``path``.
    """
    path = Path(path)
    if not isinstance(fps, (int, float, np.floating)) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive finite number (Hz), got {fps!r}")
    if len(fourcc) != 4:
        raise ValueError(f"fourcc must be a four-character code, got {fourcc!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp_name, 0o666 & ~current_umask())  # mkstemp's 0600 would hide the video from others
    writer = None
    count = 0
    try:
        shape = None
        for index, frame in enumerate(frames):
            frame = _check_frame(frame, index, shape)
            if writer is None:
                shape = frame.shape
                writer = _open_writer(tmp_name, path, fourcc, fps, shape)
            writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
            count += 1
        if writer is None:
            raise ValueError(f"frames is empty: refusing to write a zero-frame video to {path}")
        writer.release()
        writer = None
        with open(tmp_name, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if writer is not None:
            writer.release()
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return count



def _open_writer(
    tmp_name: str, path: Path, fourcc: str, fps: float, shape: tuple[int, ...]
) -> cv2.VideoWriter:
    """An OpenCV writer of ``fourcc`` video to ``tmp_name`` for frames of ``shape`` (H, W, 3);
    ValueError (naming ``path``) when the codec cannot write them."""
    height, width = shape[:2]
    if fourcc.upper() == "FFV1" and (height % 2 or width % 2):
        raise ValueError(
            f"FFV1 through OpenCV needs an even frame size, got {height}x{width} "
            "(H x W): its encoder would drop the odd row/column; write PNG frames "
            "with write_image_folder instead"
        )
    writer = cv2.VideoWriter(
        tmp_name, cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height)
    )
    if not writer.isOpened():
        writer.release()
        raise ValueError(
            f"OpenCV cannot write {fourcc!r} video to {path} (codec or container "
            "unsupported by this OpenCV build)"
        )
    return writer

def write_image_folder(
    folder: str | os.PathLike,
    frames: Iterable[np.ndarray],
    *,
    ext: str = ".png",
    digits: int = 6,
) -> list[Path]:
    """Write RGB ``uint8`` frames as ``000000.png``, ``000001.png``, … into ``folder``.

    PNG is lossless for any frame size. Each image is written under a temporary name and renamed.
    Returns the written paths in frame order.
    """
    folder = Path(folder)
    if ext.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(f"ext must be one of {IMAGE_EXTENSIONS}, got {ext!r}")
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    shape = None
    for index, frame in enumerate(frames):
        frame = _check_frame(frame, index, shape)
        shape = frame.shape
        target = folder / f"{index:0{digits}d}{ext}"
        tmp = folder / f".{target.stem}.tmp{ext}"
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(frame[:, :, ::-1])):
            raise ValueError(f"OpenCV cannot write the image {target}")
        os.replace(tmp, target)
        paths.append(target)
    if not paths:
        raise ValueError(f"frames is empty: nothing written to {folder}")
    return paths


# --- container checks for your own videos --------------------------------------------------------


def check_frame_rate(fps: object, name: str = "fps") -> float:
    """``fps`` as a float within :data:`FPS_RANGE_HZ` (Hz); ValueError naming ``name`` otherwise."""
    lo, hi = FPS_RANGE_HZ
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number of frames per second, got {fps!r}")
    value = float(fps)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(
            f"{name} = {fps!r} Hz is outside the plausible camera range [{lo:g}, {hi:g}] Hz"
        )
    return value


def _avi_stream_rate(path: Path) -> float | None:
    """The frame rate ``dwRate / dwScale`` of the first video stream header of an AVI file
    (None when 0 or not an AVI). OpenCV reports 25 Hz for a rate of 0, so it is read here."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return None
    at = head.find(b"strh")  # chunk id, 4-byte size, then fccType "vids" for a video stream
    while at >= 0 and head[at + 8 : at + 12] != b"vids":
        at = head.find(b"strh", at + 4)
    if at < 0 or at + 36 > len(head):
        return None
    scale = int.from_bytes(head[at + 28 : at + 32], "little")
    rate = int.from_bytes(head[at + 32 : at + 36], "little")
    return rate / scale if rate > 0 and scale > 0 else 0.0


def _stamp_rate(cap: cv2.VideoCapture, n: int) -> float | None:
    """Frames per second from the time stamps of the first ``n`` frames (None without usable
    stamps: fewer than 3 frames or stamps that do not increase)."""
    stamps = []
    for _ in range(n):
        if not cap.grab():
            break
        stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC))
    steps = np.diff(np.asarray(stamps, dtype=np.float64))
    if steps.size < 2 or not np.all(steps > 0):
        return None
    return 1000.0 * steps.size / float(stamps[-1] - stamps[0])


@dataclass(frozen=True)
class CheckedVideo:
    """A video file whose clock was checked (:func:`check_video`).

    fps: the rate used (Hz): ``fps`` given, else the header's, confirmed by the time stamps.
    header_fps: what the container says (None when it gives none). stamp_fps: the rate of the first
    frames' time stamps (None when they carry none). header_frames: the container's frame count
    (0 when unknown); the decoded count is only known after decoding (:class:`DecodedFrames`).
    """

    path: Path
    fps: float
    header_fps: float | None
    stamp_fps: float | None
    header_frames: int
    width: int
    height: int


def check_video(path: str | os.PathLike, fps: float | None = None) -> CheckedVideo:
    """Open ``path`` and check its clock before any long work: the frame rate must lie in
    :data:`FPS_RANGE_HZ` and agree (within 2 %) with the time stamps of its first frames.

    ``fps`` (Hz, checked against the same range) overrides the container and skips the checks of
    its rate. Raises FileNotFoundError for a missing file and ValueError, naming the file, the
    values and ``fps`` as the way out, for a header with no rate (OpenCV would assume 25 Hz), an
    implausible rate or one that its time stamps contradict. Decodes at most 61 frames.
    """
    path = Path(path)
    if fps is not None:
        fps = check_frame_rate(fps, "fps")
    cap = _open_capture(path)
    try:
        header = float(cap.get(cv2.CAP_PROP_FPS))
        claimed = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        stamp_fps = _stamp_rate(cap, _STAMPED_FRAMES)
    finally:
        cap.release()
    avi_rate = _avi_stream_rate(path)
    header_fps: float | None = header if math.isfinite(header) and header > 0 else None
    if avi_rate == 0.0:
        header_fps = None  # OpenCV's 25 Hz is its default, not the file's
    header_frames = int(round(claimed)) if math.isfinite(claimed) and claimed > 0 else 0
    if fps is None:
        lo, hi = FPS_RANGE_HZ
        if header_fps is None:
            raise ValueError(
                f"video {path} gives no frame rate (0 or missing in its header); pass the "
                "camera's rate with fps= (--fps)"
            )
        if not lo <= header_fps <= hi:
            raise ValueError(
                f"video {path}: its header says {header_fps:g} fps, outside the plausible "
                f"[{lo:g}, {hi:g}] Hz; pass the camera's rate with fps= (--fps)"
            )
        if stamp_fps is not None and abs(stamp_fps / header_fps - 1.0) > _STAMP_TOLERANCE:
            raise ValueError(
                f"video {path}: its header says {header_fps:g} fps but the time stamps of its "
                f"first frames run at {stamp_fps:.4g} fps; pass the true rate with fps= (--fps)"
            )
        fps = header_fps
    return CheckedVideo(path, fps, header_fps, stamp_fps, header_frames, width, height)


class DecodedFrames:
    """Every frame of a video file as RGB ``uint8``, streamed once, counting what decodes.

    Unlike :class:`VideoFileFrames` it does not need the frame count in advance (a header's count
    is only a claim): iterate, then compare ``n_decoded`` with the header's count. A frame whose
    size differs from the first raises ValueError naming the file and frame.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.n_decoded = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        cap = _open_capture(self.path)
        self.n_decoded = 0
        shape = None
        try:
            while True:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    return
                if shape is None:
                    shape = bgr.shape
                elif bgr.shape != shape:
                    raise ValueError(
                        f"video {self.path}: frame {self.n_decoded} has shape {bgr.shape[:2]}, "
                        f"frame 0 had {shape[:2]}"
                    )
                self.n_decoded += 1
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

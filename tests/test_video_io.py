"""rppg_lib.video_io: RGB streams from videos and frame folders, lossless FFV1 writing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rppg_lib import video_io
from rppg_lib.video_io import (
    ArrayFrames,
    ImageFileFrames,
    VideoFileFrames,
    frame_numbers,
    iter_video,
    list_image_files,
    probe_video,
    read_image,
    read_video,
    write_image_folder,
    write_video,
)


def pulse_like_frames(n: int = 24, h: int = 32, w: int = 40, seed: int = 0) -> np.ndarray:
    """A textured face-like sequence whose green channel carries a ~0.4 % pulse plus sensor noise:
    what a lossy codec would erase."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(60, 190, size=(h, w, 3))
    t = np.arange(n) / 30.0
    pulse = 1.0 + 0.004 * np.sin(2 * np.pi * 1.2 * t)
    frames = np.repeat(base[None], n, axis=0)
    frames[..., 1] *= pulse[:, None, None]
    frames += rng.normal(0, 2.0, size=frames.shape)
    return np.clip(np.round(frames), 0, 255).astype(np.uint8)


def index_frames(n: int, h: int = 16, w: int = 16) -> np.ndarray:
    """Frame k is uniformly (k, 2k, 3k) mod 256: its content names its index."""
    k = np.arange(n, dtype=np.int64)
    colours = np.stack([k, 2 * k, 3 * k], axis=1) % 256
    return np.broadcast_to(colours[:, None, None, :], (n, h, w, 3)).astype(np.uint8)


def test_ffv1_round_trip_is_bit_exact(tmp_path):
    frames = pulse_like_frames()
    path = tmp_path / "clip.avi"
    assert write_video(path, frames, fps=30.0) == len(frames)
    back, fps = read_video(path)
    assert fps == pytest.approx(30.0)
    assert back.dtype == np.uint8 and back.shape == frames.shape
    assert np.array_equal(back, frames)
    # the 0.4 % pulse survives exactly: mean green per frame identical to the source
    assert np.array_equal(back[..., 1].mean(axis=(1, 2)), frames[..., 1].mean(axis=(1, 2)))


def test_ffv1_round_trip_in_mkv(tmp_path):
    frames = pulse_like_frames(n=8, seed=1)
    write_video(tmp_path / "clip.mkv", frames, fps=25.0)
    info = probe_video(tmp_path / "clip.mkv", count_frames=True)
    assert info.n_frames == 8 and info.fps == pytest.approx(25.0)
    assert np.array_equal(np.stack(list(iter_video(info.path, n_frames=8))), frames)


def test_colour_order_is_rgb_at_the_boundary(tmp_path):
    red = np.zeros((2, 8, 8, 3), np.uint8)
    red[..., 0] = 200
    write_video(tmp_path / "red.avi", red, fps=10.0)
    back, _ = read_video(tmp_path / "red.avi")
    assert back[0, 0, 0].tolist() == [200, 0, 0]
    # an image written by plain OpenCV (BGR order): blue in BGR is (255, 0, 0)
    cv2.imwrite(str(tmp_path / "blue.png"), np.full((4, 4, 3), (255, 0, 0), np.uint8))
    assert read_image(tmp_path / "blue.png")[0, 0].tolist() == [0, 0, 255]


def test_probe_reports_rate_count_and_size(tmp_path):
    write_video(tmp_path / "v.avi", index_frames(12, 20, 30), fps=35.0)
    info = probe_video(tmp_path / "v.avi")
    assert (info.fps, info.n_frames, info.width, info.height) == (35.0, 12, 30, 20)
    assert not info.counted
    assert probe_video(tmp_path / "v.avi", count_frames=True).counted


def test_iter_video_range_gives_the_requested_frames(tmp_path):
    frames = index_frames(10)
    write_video(tmp_path / "v.avi", frames, fps=30.0)
    got = list(iter_video(tmp_path / "v.avi", 3, 7, n_frames=10))
    assert len(got) == 4
    assert [int(f[0, 0, 0]) for f in got] == [3, 4, 5, 6]
    assert list(iter_video(tmp_path / "v.avi", 5, 5, n_frames=10)) == []
    with pytest.raises(ValueError, match="start=4, stop=11"):
        iter_video(tmp_path / "v.avi", 4, 11, n_frames=10)
    with pytest.raises(ValueError, match="start=5, stop=2"):
        iter_video(tmp_path / "v.avi", 5, 2, n_frames=10)


def test_odd_frame_size_refused_for_ffv1_and_nothing_left_behind(tmp_path):
    with pytest.raises(ValueError, match="even frame size, got 33x40"):
        write_video(tmp_path / "odd.avi", pulse_like_frames(n=3, h=33), fps=30.0)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file(tmp_path):
    def frames():
        yield np.zeros((8, 8, 3), np.uint8)
        yield np.zeros((8, 10, 3), np.uint8)  # the size changes mid-stream

    with pytest.raises(ValueError, match=r"frame 1 has shape \(8, 10, 3\)"):
        write_video(tmp_path / "v.avi", frames(), fps=30.0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((0, 8, 8, 3), np.uint8), "frames is empty"),
        (np.zeros((2, 8, 8, 3), np.float32), "frame 0 must be uint8"),
        (np.zeros((2, 8, 8), np.uint8), "frame 0 must be uint8"),
    ],
)
def test_write_video_refuses_bad_frames(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        write_video(tmp_path / "v.avi", bad, fps=30.0)


@pytest.mark.parametrize("fps", [0, -30.0, float("nan")])
def test_write_video_refuses_bad_fps(tmp_path, fps):
    with pytest.raises(ValueError, match="fps must be a positive"):
        write_video(tmp_path / "v.avi", index_frames(2), fps=fps)


def test_missing_and_unreadable_video(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.avi"):
        probe_video(tmp_path / "nope.avi")
    with pytest.raises(FileNotFoundError, match="nope.avi"):
        iter_video(tmp_path / "nope.avi", n_frames=3)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"definitely not a video" * 50)
    with pytest.raises(ValueError, match="junk.avi.*corrupt or unsupported"):
        probe_video(junk)


def test_zero_frame_video_is_an_error(tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / "empty.avi"), cv2.VideoWriter_fourcc(*"FFV1"),
                             30.0, (16, 16))
    writer.release()
    with pytest.raises(ValueError, match="empty.avi has zero decodable frames"):
        probe_video(tmp_path / "empty.avi")


def test_truncated_video_raises_at_the_first_missing_frame(tmp_path):
    path = tmp_path / "v.avi"
    write_video(path, pulse_like_frames(n=20), fps=30.0)
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    claimed = probe_video(cut)
    decodable = probe_video(cut, count_frames=True).n_frames
    assert claimed.n_frames == 20 and 0 < decodable < 20  # the header still claims 20
    stream = iter_video(cut, n_frames=claimed.n_frames)
    with pytest.raises(ValueError, match=rf"cut.avi ended .* at frame {decodable}; expected 20"):
        for _ in stream:
            pass


def test_stream_longer_than_claimed_is_an_error(tmp_path):
    write_video(tmp_path / "v.avi", index_frames(10), fps=30.0)
    source = VideoFileFrames(tmp_path / "v.avi", n_frames=8)
    assert len(list(source.iter(0, 5))) == 5  # a partial read does not need the count
    with pytest.raises(ValueError, match="more than the 8 frames"):
        list(source.iter())


def test_image_folder_natural_order_and_round_trip(tmp_path):
    frames = index_frames(12, 9, 7)  # odd sizes are fine for PNG
    paths = write_image_folder(tmp_path / "f", frames)
    assert [p.name for p in paths[:2]] == ["000000.png", "000001.png"]
    for name in ("f2.png", "f10.png", "f1.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((2, 2, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in list_image_files(tmp_path)] == ["f1.png", "f2.png", "f10.png"]
    source = ImageFileFrames(list_image_files(tmp_path / "f"))
    assert np.array_equal(np.stack(list(source.iter())), frames)
    assert [int(f[0, 0, 0]) for f in source.iter(10, 12)] == [10, 11]


def test_image_folder_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        list_image_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image files"):
        list_image_files(tmp_path / "empty")
    write_image_folder(tmp_path / "f", index_frames(3))
    (tmp_path / "f" / "000001.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="000001.png"):
        list(ImageFileFrames(list_image_files(tmp_path / "f")).iter())
    cv2.imwrite(str(tmp_path / "f" / "000001.png"), np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(ValueError, match=r"000001.png \(frame 1\) has shape \(5, 5, 3\)"):
        list(ImageFileFrames(list_image_files(tmp_path / "f")).iter())


def test_frame_numbers():
    from pathlib import Path

    names = [Path(n) for n in ("frame_0009.png", "frame_0010.png", "Image1392643993642815000.png")]
    assert frame_numbers(names).tolist() == [9, 10, 1392643993642815000]
    assert frame_numbers([Path("a.png"), Path("b1.png")]) is None


def test_array_frames_validate():
    with pytest.raises(ValueError, match="uint8 of shape"):
        ArrayFrames(np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="zero frames"):
        ArrayFrames(np.zeros((0, 4, 4, 3), np.uint8))
    frames = index_frames(4)
    assert [int(f[0, 0, 1]) for f in ArrayFrames(frames).iter(1, 3)] == [2, 4]


def test_missing_fps_in_container_is_reported_as_none(tmp_path, monkeypatch):
    write_video(tmp_path / "v.avi", index_frames(3), fps=30.0)
    real_open = video_io._open_capture

    class NoRate:
        def __init__(self, cap):
            self.cap = cap

        def get(self, prop):
            return 0.0 if prop == cv2.CAP_PROP_FPS else self.cap.get(prop)

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(video_io, "_open_capture", lambda p: NoRate(real_open(p)))
    assert probe_video(tmp_path / "v.avi").fps is None

"""Per-clip and many-clip drivers: Clip inputs, bad input, chunk accounting."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rppg_lib.datasets.base import Clip, Signal
from rppg_lib.preprocess import (
    PreprocessConfig,
    PreprocessedClip,
    chunks,
    derivative_labels,
    preprocess_clip,
    preprocess_dataset,
    preprocess_frames,
)
from rppg_lib.preprocess import pipeline as pipeline_module
from rppg_lib.video_io import write_video

CFG = PreprocessConfig(crop="center", size=8, frame_depth=5, chunk_length=20)


def _frames(n: int, seed: int = 0, height: int = 16, width: int = 20) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def _clip(clip_id: str, n: int = 50, seed: int = 0, fps: float = 25.0) -> Clip:
    t = np.arange(n) / fps
    bvp = Signal(np.sin(2 * np.pi * 1.3 * t), t, "a.u.")
    resp = Signal(np.cos(2 * np.pi * 0.3 * t), t, "a.u.")
    return Clip.from_frames(_frames(n, seed), fps, clip_id=clip_id, subject=clip_id, bvp=bvp,
                            resp=resp)


def test_preprocess_clip_uses_ground_truth_at_frame_times():
    clip = _clip("c1")
    out = preprocess_clip(clip, CFG, progress=False)
    assert out.clip_id == "c1" and out.fps == 25.0 and out.n_frames == 50
    np.testing.assert_allclose(out.bvp, clip.bvp_at_frames())
    np.testing.assert_allclose(out.labels, derivative_labels(clip.bvp_at_frames()), rtol=1e-6)
    np.testing.assert_allclose(out.resp_labels, derivative_labels(clip.resp_at_frames()), rtol=1e-6)
    np.testing.assert_array_equal(out.frame_times, clip.frame_times)
    assert out.config == CFG.to_dict()


def test_known_boxes_from_the_clip():
    boxes = np.tile([4, 2, 6, 6], (30, 1))
    clip = Clip.from_frames(_frames(30), 30.0, clip_id="boxed", face_boxes=boxes)
    out = preprocess_clip(clip, PreprocessConfig(crop="box", box_scale=2.0, size=8, frame_depth=5,
                                                 chunk_length=10), progress=False)
    assert out.boxes.tolist() == [[1, 0, 12, 12]] * 30  # centre (7, 5), side 12, moved inside
    with pytest.raises(ValueError, match="face_boxes"):
        preprocess_clip(_clip("plain"), PreprocessConfig(crop="box"), progress=False)


def test_zero_length_stream_is_an_error():
    with pytest.raises(ValueError, match="'empty' has no frames"):
        preprocess_frames(iter([]), 30.0, CFG, clip_id="empty")


def test_clip_shorter_than_frame_depth_is_an_error():
    with pytest.raises(ValueError, match="4 frames, fewer than frame_depth=5"):
        preprocess_frames(_frames(4), 30.0, CFG, clip_id="short")


@pytest.mark.parametrize(
    ("frames", "match"),
    [
        ([np.zeros((8, 8, 3), np.float32)] * 6, "frame 0 must be an RGB uint8"),
        ([np.zeros((8, 8), np.uint8)] * 6, "frame 0 must be an RGB uint8"),
        ([np.zeros((8, 8, 3), np.uint8)] * 3 + [np.zeros((8, 9, 3), np.uint8)] * 3,
         "frame 3 has shape"),
    ],
)
def test_bad_frames_are_named(frames, match):
    with pytest.raises(ValueError, match=match):
        preprocess_frames(frames, 30.0, CFG)


def test_length_mismatches_are_errors():
    with pytest.raises(ValueError, match="bvp has 9 samples but the clip has 10 frames"):
        preprocess_frames(_frames(10), 30.0, CFG, bvp=np.zeros(9))
    with pytest.raises(ValueError, match="held 10 frames, expected n_frames=12"):
        preprocess_frames(_frames(10), 30.0, CFG, n_frames=12)
    with pytest.raises(ValueError, match="fps"):
        preprocess_frames(_frames(10), 0.0, CFG)


def test_failed_run_leaves_no_partial_files(tmp_path):
    with pytest.raises(ValueError):
        preprocess_frames(_frames(10), 30.0, CFG, bvp=np.zeros(9), out_dir=tmp_path / "x")
    assert list((tmp_path / "x").iterdir()) == []


def test_unreadable_and_missing_videos_are_errors_naming_the_file(tmp_path):
    path = tmp_path / "v.avi"
    write_video(path, list(_frames(12)), 30.0)
    clip = Clip("v", "s", "t", path, 30.0, 12, np.arange(12) / 30.0)
    cfg = PreprocessConfig(crop="center", size=8, frame_depth=4, chunk_length=4)
    assert preprocess_clip(clip, cfg, progress=False).n_frames == 12
    path.write_bytes(b"this is not a video" * 10)
    with pytest.raises(ValueError, match="v.avi"):
        preprocess_clip(clip, CFG, progress=False)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="v.avi"):
        preprocess_clip(clip, CFG, tmp_path / "cache", progress=False)


def test_chunks_count_and_report_dropped_tail(caplog):
    with caplog.at_level(logging.WARNING, logger="rppg_lib.preprocess"):
        slices, dropped = chunks(95, 20, 5, clip_id="c")
    assert [(s.start, s.stop) for s in slices] == [(0, 20), (20, 40), (40, 60), (60, 80)]
    assert dropped == 15
    assert "'c': 15 tail frames dropped" in caplog.text
    caplog.clear()
    assert chunks(40, 20, 5) == ([slice(0, 20), slice(20, 40)], 0)
    assert caplog.text == ""
    with pytest.raises(ValueError, match="'tiny' has 19 frames, fewer than one chunk of 20"):
        chunks(19, 20, 5, clip_id="tiny")
    with pytest.raises(ValueError, match="multiple of frame_depth"):
        chunks(100, 25, 10)


def test_preprocess_dataset_accounts_for_every_chunk(tmp_path, caplog):
    clips = [_clip("a", n=50), _clip("b", n=40, seed=1)]
    with caplog.at_level(logging.WARNING, logger="rppg_lib.preprocess"):
        data = preprocess_dataset(clips, CFG, tmp_path, progress=False)
    assert [c.clip_id for c in data.clips] == ["a", "b"]
    assert data.n_chunks == 4 and data.dropped_tail_frames == {"a": 10, "b": 0}
    assert "'a': 10 tail frames dropped" in caplog.text
    table = data.summary()
    assert table["n_chunks"].tolist() == [2, 2] and table["from_cache"].tolist() == [False, False]
    again = preprocess_dataset(clips, CFG, tmp_path, progress=False)
    assert all(c.from_cache for c in again.clips)
    np.testing.assert_array_equal(again.clips[1].motion, data.clips[1].motion)


def test_preprocess_dataset_rejects_bad_sets(tmp_path):
    with pytest.raises(ValueError, match="shorter than one chunk.*short \\(15 frames\\)"):
        preprocess_dataset([_clip("ok"), _clip("short", n=15)], CFG, progress=False)
    with pytest.raises(ValueError, match="unique.*'a'"):
        preprocess_dataset([_clip("a"), _clip("a", seed=2)], CFG, progress=False)
    with pytest.raises(ValueError, match="cache_dir"):
        preprocess_dataset([_clip("a")], CFG, workers=2, progress=False)
    with pytest.raises(ValueError, match="empty"):
        preprocess_dataset([], CFG, progress=False)


def test_lost_frames_are_detected(monkeypatch):
    real = pipeline_module.preprocess_clip

    def truncating(clip, config, cache_dir, **kwargs) -> PreprocessedClip:
        out = real(clip, config, cache_dir, **kwargs)
        if clip.clip_id == "b":  # as if a worker lost the last frames of one clip
            out.motion, out.appearance = out.motion[:20], out.appearance[:20]
        return out

    monkeypatch.setattr(pipeline_module, "preprocess_clip", truncating)
    with pytest.raises(RuntimeError, match="'b': 20 preprocessed frames, expected 40"):
        preprocess_dataset([_clip("a"), _clip("b", n=40)], CFG, progress=False)


def test_worker_pool_gives_the_same_result(tmp_path):
    clips = [_clip("a", n=40), _clip("b", n=40, seed=1)]
    serial = preprocess_dataset(clips, CFG, progress=False)
    pooled = preprocess_dataset(clips, CFG, tmp_path, workers=1, progress=False)
    assert pooled.n_chunks == serial.n_chunks == 4
    for s, p in zip(serial.clips, pooled.clips, strict=True):
        np.testing.assert_array_equal(s.motion, p.motion)
        np.testing.assert_array_equal(s.appearance, p.appearance)
        np.testing.assert_array_equal(s.labels, p.labels)


def test_synthetic_dataset_on_disk_end_to_end(tmp_path):
    from rppg_lib.datasets import build_synthetic_dataset

    dataset = build_synthetic_dataset(tmp_path / "data", subjects=2, scenarios=["clean"],
                                      seconds=2.0, fps=30.0, size=96, seed=0, progress=False)
    cfg = PreprocessConfig(frame_depth=10, chunk_length=30)
    data = preprocess_dataset(dataset, cfg, tmp_path / "cache", progress=False)
    assert data.n_chunks == 4 and set(data.dropped_tail_frames.values()) == {0}
    for out, clip in zip(data.clips, dataset.clips, strict=True):
        assert out.n_no_face_frames == 0 and out.motion.shape == (60, 36, 36, 3)
        np.testing.assert_allclose(out.bvp, clip.bvp_at_frames())
        # the Haar crop holds the known face box (background kept around it)
        x, y, w, h = out.boxes[0]
        fx, fy, fw, fh = clip.face_boxes[0]
        assert x <= fx and y <= fy and x + w >= fx + fw and y + h >= fy + fh
    assert all(c.from_cache for c in preprocess_dataset(dataset, cfg, tmp_path / "cache",
                                                        progress=False).clips)


def test_prefetch_keeps_order_and_results_and_closes_the_source():
    frames = _frames(30)
    a = preprocess_frames(frames, 30.0, CFG, prefetch=0)
    b = preprocess_frames(iter(list(frames)), 30.0, CFG, prefetch=3)
    np.testing.assert_array_equal(a.motion, b.motion)
    np.testing.assert_array_equal(a.appearance, b.appearance)
    closed = []

    def source(bad_at: int, error: Exception | None = None):
        try:
            for t, f in enumerate(frames):
                if t == bad_at:
                    if error is not None:
                        raise error
                    f = f.astype(np.float32)  # the consumer rejects it
                yield f
        finally:
            closed.append(bad_at)

    with pytest.raises(OSError, match="disk gone"):
        preprocess_frames(source(7, OSError("disk gone")), 30.0, CFG, prefetch=4)
    with pytest.raises(ValueError, match="frame 5 must be an RGB uint8"):
        preprocess_frames(source(5), 30.0, CFG, prefetch=4)
    assert closed == [7, 5]

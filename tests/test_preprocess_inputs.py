"""Known-answer tests of the TS-CAN input formulas, the streaming statistics and the resizers."""

from __future__ import annotations

import numpy as np
import pytest

from rppg_lib.preprocess import (
    EPS,
    PreprocessConfig,
    RunningStats,
    appearance_input,
    derivative_labels,
    matlab_bicubic_weights,
    motion_input,
    normalize_crop,
    preprocess_frames,
    resize,
    segment_mean,
)

# Four frames, each one RGB colour (uint8); divided by 255 they are exact multiples of 0.2,
# and frame 3's red 0 is clipped up to 1/255.
COLOURS = np.array(
    [[51, 102, 153], [102, 102, 51], [153, 51, 102], [0, 255, 102]], dtype=np.uint8
)
X = np.array([[0.2, 0.4, 0.6], [0.4, 0.4, 0.2], [0.6, 0.2, 0.4], [1 / 255, 1.0, 0.4]])


def _constant_frames(colours: np.ndarray, height: int = 6, width: int = 6) -> np.ndarray:
    return np.broadcast_to(colours[:, None, None, :], (len(colours), height, width, 3)).copy()


def test_known_answer_four_constant_frames():
    cfg = PreprocessConfig(crop="none", size=4, frame_depth=2, chunk_length=2)
    out = preprocess_frames(_constant_frames(COLOURS), 30.0, cfg)
    # Motion by hand: (X[t+1] − X[t]) / (X[t+1] + X[t] + ε) for t = 0, 1, 2, then / population std
    # of those 9 numbers (every pixel repeats them, which leaves the std unchanged); last frame 0.
    raw = (X[1:] - X[:-1]) / (X[1:] + X[:-1] + 1e-7)
    np.testing.assert_allclose(raw[0], [1 / 3, 0.0, -0.5], atol=1e-6)
    np.testing.assert_allclose(raw[1], [0.2, -1 / 3, 1 / 3], atol=1e-6)
    expected_motion = np.vstack([raw / raw.std(), np.zeros((1, 3))])
    # Appearance by hand: (X − mean of the 12 numbers) / their population std.
    expected_appearance = (X - X.mean()) / X.std()
    for t in range(4):
        np.testing.assert_allclose(out.motion[t], np.broadcast_to(expected_motion[t], (4, 4, 3)),
                                   atol=1e-6)
        np.testing.assert_allclose(out.appearance[t],
                                   np.broadcast_to(expected_appearance[t], (4, 4, 3)), atol=1e-6)
        np.testing.assert_allclose(out.mask_frames[t], np.broadcast_to(X[t], (2, 2, 3)), atol=1e-6)
    assert out.motion.dtype == out.appearance.dtype == out.mask_frames.dtype == np.float32
    assert out.motion.shape == (4, 4, 4, 3) and out.mask_frames.shape == (4, 2, 2, 3)
    np.testing.assert_allclose(out.stats["motion_std"], [raw.std()], rtol=1e-6)
    np.testing.assert_allclose(out.stats["appearance_mean"], [X.mean()], rtol=1e-6)


def test_network_input_channel_order():
    cfg = PreprocessConfig(crop="none", size=4, frame_depth=2, chunk_length=2)
    out = preprocess_frames(_constant_frames(COLOURS), 30.0, cfg)
    net = out.network_input()
    assert net.shape == (4, 6, 4, 4) and net.dtype == np.float32
    np.testing.assert_array_equal(net[:, :3], out.motion.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(net[:, 3:], out.appearance.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(out.network_input(1, 3), net[1:3])


def test_whole_array_formulas_by_hand():
    frames = X[:, None, None, :].astype(np.float32)
    raw = (X[1:] - X[:-1]) / (X[1:] + X[:-1] + EPS)
    expected = np.vstack([raw / raw.std(), [[0] * 3]])
    np.testing.assert_allclose(motion_input(frames)[:, 0, 0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(appearance_input(frames)[:, 0, 0], (X - X.mean()) / X.std(),
                               rtol=1e-5, atol=1e-6)


def _random_frames(n: int = 47, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 20, 26, 3), dtype=np.uint8)


def _reference_crops(frames: np.ndarray, size: int) -> np.ndarray:
    return np.stack([normalize_crop(f, size) for f in frames])


@pytest.mark.parametrize("in_memory", [True, False])
def test_streaming_equals_in_memory(tmp_path, in_memory):
    frames = _random_frames()
    cfg = PreprocessConfig(crop="none", size=8)
    out = preprocess_frames(frames, 30.0, cfg, out_dir=None if in_memory else tmp_path / "clip")
    ref = _reference_crops(frames, 8)
    np.testing.assert_allclose(out.motion, motion_input(ref), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.appearance, appearance_input(ref), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.mask_frames, _reference_crops(frames, 6), atol=1e-7)


def test_chunk_statistics_and_chunk_mean_appearance():
    frames = _random_frames(n=47, seed=1)
    ref = _reference_crops(frames, 8)
    cfg = PreprocessConfig(crop="none", size=8, frame_depth=5, chunk_length=20, stats="chunk")
    out = preprocess_frames(frames, 30.0, cfg)
    raw = np.zeros_like(ref)
    raw[:-1] = (ref[1:] - ref[:-1]) / (ref[1:] + ref[:-1] + np.float32(EPS))
    for start in (0, 20, 40):  # statistics chunks of 20 frames, the last one 7 frames long
        sl = slice(start, start + 20)
        real = raw[start : min(start + 20, 46)]  # motion frame 46 is the zero pad
        np.testing.assert_allclose(out.motion[sl][: len(real)], real / real.std(), rtol=1e-5,
                                   atol=1e-6)
        chunk = ref[sl]
        np.testing.assert_allclose(out.appearance[sl], (chunk - chunk.mean()) / chunk.std(),
                                   rtol=1e-5, atol=1e-6)
    assert len(out.stats["motion_std"]) == 3
    averaged = preprocess_frames(frames, 30.0, PreprocessConfig(crop="none", size=8, frame_depth=5,
                                                                 chunk_length=20,
                                                                 appearance="chunk_mean"))
    np.testing.assert_allclose(averaged.appearance, segment_mean(appearance_input(ref), 5),
                               rtol=1e-5, atol=1e-6)
    assert np.all(averaged.appearance[45] == averaged.appearance[46])  # the 2-frame last segment


def test_chunk_statistics_with_a_one_frame_last_chunk(caplog):
    frames = _random_frames(n=41, seed=2)
    cfg = PreprocessConfig(crop="none", size=8, frame_depth=5, chunk_length=20, stats="chunk")
    out = preprocess_frames(frames, 30.0, cfg)
    assert np.all(out.motion[40] == 0) and out.stats["motion_std"][2] == 1.0
    last = _reference_crops(frames[40:], 8)[0]  # a chunk of one frame: its own statistics
    np.testing.assert_allclose(out.appearance[40], (last - last.mean()) / last.std(), atol=1e-5)
    assert "constant" not in caplog.text


def test_segment_mean_known_answer():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])[:, None, None, None]
    np.testing.assert_allclose(segment_mean(x, 2).ravel(), [1.5, 1.5, 3.5, 3.5, 5.0])


def test_running_stats_match_numpy_on_offset_data():
    rng = np.random.default_rng(3)
    batches = [1e4 + rng.normal(0, 1e-2, size=rng.integers(1, 500)) for _ in range(60)]
    stats = RunningStats()
    for b in batches:
        stats.update(b.astype(np.float32))
    joined = np.concatenate([b.astype(np.float32) for b in batches]).astype(np.float64)
    assert stats.count == joined.size
    assert stats.mean == pytest.approx(joined.mean(), rel=1e-12)
    assert stats.std == pytest.approx(joined.std(), rel=1e-6)
    assert RunningStats().std == 0.0


def test_derivative_labels_known_answer():
    y = np.array([0.0, 1.0, 3.0, 6.0])
    d = derivative_labels(y)
    np.testing.assert_allclose(d, [1 / np.sqrt(2 / 3), 2 / np.sqrt(2 / 3), 3 / np.sqrt(2 / 3), 0.0],
                               rtol=1e-6)
    assert d.dtype == np.float32
    with pytest.raises(ValueError, match="bvp"):
        derivative_labels(np.array([1.0]))


def test_constant_inputs_stay_finite_and_warn(caplog):
    frames = np.full((12, 8, 8, 3), 90, dtype=np.uint8)
    cfg = PreprocessConfig(crop="none", size=4, frame_depth=4, chunk_length=4)
    out = preprocess_frames(frames, 30.0, cfg, bvp=np.ones(12))
    assert np.all(out.motion == 0) and np.all(out.appearance == 0) and np.all(out.labels == 0)
    assert "constant" in caplog.text


def test_labels_pair_with_motion_frames():
    frames = _random_frames(n=30)
    bvp = np.sin(2 * np.pi * 1.2 * np.arange(30) / 30.0)
    resp = np.cos(2 * np.pi * 0.25 * np.arange(30) / 30.0)
    out = preprocess_frames(frames, 30.0, PreprocessConfig(crop="none", size=4), bvp=bvp, resp=resp)
    np.testing.assert_array_equal(out.bvp, bvp)
    d = np.diff(bvp)
    np.testing.assert_allclose(out.labels, np.append(d / d.std(), 0.0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out.resp_labels, derivative_labels(resp), rtol=1e-7)


def test_resize_area_averages_blocks():
    img = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    np.testing.assert_allclose(resize(img, 2, "area")[..., 0], [[2.5, 4.5], [10.5, 12.5]])


def test_matlab_bicubic_halving_a_ramp():
    # MATLAB imresize((1:8)', [4 1]) (bicubic, antialiased): kernel 0.5·cubic(0.5·x) over 8 taps,
    # output i centred on u = 2i − 0.5 (1-based), weights [-3, -9, 29, 111, 111, 29, -9, -3]/256
    # on samples u−3.5 … u+3.5, those outside 1…8 mirrored (0 → 1, −1 → 2, 9 → 8, …).
    w = np.array([-3, -9, 29, 111, 111, 29, -9, -3]) / 256
    samples = [[3, 2, 1, 1, 2, 3, 4, 5], [1, 1, 2, 3, 4, 5, 6, 7], [2, 3, 4, 5, 6, 7, 8, 8],
               [4, 5, 6, 7, 8, 8, 7, 6]]
    expected = [float(w @ np.array(s)) for s in samples]
    assert expected == pytest.approx([1.44921875, 3.48828125, 5.51171875, 7.55078125])
    ramp = np.arange(1, 9, dtype=np.float32)[:, None, None] * np.ones((1, 8, 1), np.float32)
    np.testing.assert_allclose(resize(ramp, 4, "bicubic")[:, 0, 0], expected, rtol=1e-6)
    # Away from the borders a cubic kernel reproduces a ramp exactly: output i is the ramp at u.
    long_ramp = np.arange(1, 33, dtype=np.float32)[:, None, None] * np.ones((1, 4, 1), np.float32)
    out = resize(long_ramp, 16, "bicubic")[:, 0, 0]
    np.testing.assert_allclose(out[2:-2], 2 * np.arange(3, 15) - 0.5, rtol=1e-6)
    np.testing.assert_allclose(matlab_bicubic_weights(8, 4).sum(axis=1), 1.0, rtol=1e-6)
    flat = np.full((50, 40, 3), 0.3, np.float32)
    np.testing.assert_allclose(resize(flat, 34, "bicubic"), 0.3, rtol=1e-6)


def test_bicubic_mask_frames_option():
    frames = _random_frames(n=12)
    cfg = PreprocessConfig(crop="none", size=8, mask_interpolation="bicubic", frame_depth=4,
                           chunk_length=4)
    out = preprocess_frames(frames, 30.0, cfg)
    expected = np.stack([normalize_crop(f, 6, "bicubic") for f in frames])
    np.testing.assert_allclose(out.mask_frames, expected, atol=1e-7)
    assert out.mask_frames.min() >= np.float32(1 / 255) and out.mask_frames.max() <= 1.0


def test_config_validation_names_the_parameter():
    with pytest.raises(ValueError, match="crop"):
        PreprocessConfig(crop="face")
    with pytest.raises(ValueError, match="chunk_length"):
        PreprocessConfig(frame_depth=10, chunk_length=25)
    with pytest.raises(ValueError, match="smooth"):
        PreprocessConfig(smooth=1.0)
    with pytest.raises(ValueError, match="size"):
        PreprocessConfig(size=0)
    assert PreprocessConfig(size=72).mask_grid == 70
    cfg = PreprocessConfig(mask_size=34)
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg

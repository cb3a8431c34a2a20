"""Inverse attention: known answers on hand-made masks, a constructed scene, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from rppg_lib.constants import BR_BAND, HR_BAND
from rppg_lib.inverse_attention import (
    CorruptionEstimates,
    condition_signal,
    corruption_estimates,
    frames_to_mask_grid,
    inverse_masks,
    masked_channel_means,
    normalize_masks,
)
from rppg_lib.signals import bandpass, detrend, zscore

FS = 30.0


def _peak_frequency(x: np.ndarray, fs: float) -> float:
    spectrum = np.abs(np.fft.rfft(x, n=8 * len(x))) ** 2
    return float(np.fft.rfftfreq(8 * len(x), 1.0 / fs)[np.argmax(spectrum)])


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


# --- masks ------------------------------------------------------------------------------------


def test_normalize_masks_min_max_per_frame():
    masks = np.array([[[0.2, 0.4], [0.6, 1.0]], [[5.0, 7.0], [6.0, 9.0]]])
    out = normalize_masks(masks[..., None])  # (T, H, W, 1) as the networks give
    np.testing.assert_allclose(out[0], [[0.0, 0.25], [0.5, 1.0]], atol=1e-15)
    np.testing.assert_allclose(out[1], [[0.0, 0.5], [0.25, 1.0]], atol=1e-15)
    assert out.shape == (2, 2, 2)


def test_binary_inverse_mask_includes_threshold_exactly():
    # min 0, max 1: A' = A, so 0.1 sits exactly on τ = 0.1 and is inverse (≤), 0.1 + 1e-9 is not.
    masks = np.array([[[0.0, 0.1, 0.1 + 1e-9], [0.05, 0.5, 1.0]]])
    inv = inverse_masks(masks)
    np.testing.assert_array_equal(inv, [[[1, 1, 0], [1, 0, 0]]])
    assert inv.dtype == np.float32
    np.testing.assert_array_equal(inverse_masks(masks, threshold=0.5), [[[1, 1, 1], [1, 1, 0]]])
    np.testing.assert_array_equal(inverse_masks(masks, threshold=0.0), [[[1, 0, 0], [0, 0, 0]]])


def test_binary_threshold_applies_to_normalised_mask_not_raw_values():
    # Raw values all > 0.1; after normalisation (exact in binary floating point) 0.5 → 0 and
    # 0.5625 → 0.0625 / 0.625 = 0.1 are inverse, 0.6 → 0.16 is not.
    masks = np.array([[[0.5, 0.5625], [0.6, 1.125]]])
    np.testing.assert_array_equal(inverse_masks(masks), [[[1, 1], [0, 0]]])


def test_continuous_inverse_mask_is_one_minus_normalised():
    masks = np.array([[[0.2, 0.4], [0.6, 1.0]]])
    np.testing.assert_allclose(inverse_masks(masks, kind="continuous"), [[[1, 0.75], [0.5, 0]]])


# --- masked means -----------------------------------------------------------------------------


def test_masked_mean_release_mode_divides_by_all_pixels():
    t, m = 2, 34
    frames = np.full((t, m, m, 3), 0.5)
    frames[..., 1] = 0.25
    frames[..., 2] = 0.75
    inverse = np.zeros((t, m, m))
    inverse[0, :10, :10] = 1.0  # 100 inverse pixels
    inverse[1, :, :17] = 1.0  # 578 = half the grid
    means = masked_channel_means(frames, inverse)
    np.testing.assert_allclose(means[0], np.array([0.5, 0.25, 0.75]) * 100 / 1156, rtol=1e-14)
    np.testing.assert_allclose(means[1], np.array([0.5, 0.25, 0.75]) / 2, rtol=1e-14)


def test_masked_mean_inverse_pixels_mode_divides_by_the_mask_weight():
    frames = np.zeros((1, 2, 2, 3))
    frames[0, :, :, 0] = [[0.2, 0.4], [0.6, 0.8]]
    frames[0, :, :, 1:] = 1.0
    binary = np.array([[[1.0, 1.0], [0.0, 0.0]]])
    np.testing.assert_allclose(
        masked_channel_means(frames, binary, mode="inverse_pixels"), [[0.3, 1.0, 1.0]]
    )
    np.testing.assert_allclose(masked_channel_means(frames, binary), [[0.15, 0.5, 0.5]])
    weights = np.array([[[1.0, 0.5], [0.5, 0.0]]])  # continuous: weighted mean
    np.testing.assert_allclose(
        masked_channel_means(frames, weights, mode="inverse_pixels"),
        [[(0.2 + 0.2 + 0.3) / 2.0, 1.0, 1.0]],
    )


# --- conditioning -----------------------------------------------------------------------------


def test_condition_signal_is_detrend_zscore_bandpass_and_keeps_in_band_tone():
    rng = np.random.default_rng(0)
    t = np.arange(900) / FS
    x = 3.0 + 0.5 * t + np.sin(2 * np.pi * 1.2 * t) + 0.1 * rng.standard_normal(t.size)
    out = condition_signal(x, FS)
    np.testing.assert_allclose(out, bandpass(zscore(detrend(x, 50.0)), FS, 0.7, 2.5, 1))
    assert _peak_frequency(out, FS) == pytest.approx(1.2, abs=0.01)
    both = condition_signal(np.column_stack([x, x[::-1]]), FS, band=BR_BAND)
    np.testing.assert_allclose(both[:, 0], condition_signal(x, FS, band=BR_BAND))


def test_sampling_rate_comes_from_the_clip():
    # The release's fs = 30 on a 25 fps video filters with the band scaled by 25/30: in real
    # units [0.58, 2.08] Hz instead of [0.7, 2.5] Hz.
    fs = 25.0
    t = np.arange(750) / fs
    x = np.sin(2 * np.pi * 2.3 * t) + 0.02 * np.sin(2 * np.pi * 0.3 * t)
    wrong = condition_signal(x, 30.0)
    np.testing.assert_allclose(
        wrong, condition_signal(x, fs, band=(0.7 * fs / 30, 2.5 * fs / 30)), atol=1e-9
    )
    # A 2.3 Hz (138 bpm) pulse is inside the true band and keeps its power with the clip's fs.
    right = condition_signal(x, fs)
    assert _peak_frequency(right, fs) == pytest.approx(2.3, abs=0.01)
    assert np.std(right[100:-100]) > 1.3 * np.std(wrong[100:-100])


# --- frames on the mask grid ------------------------------------------------------------------


def test_frames_to_mask_grid_area_averages_blocks_and_clips():
    frames = np.zeros((2, 68, 68, 3), dtype=np.uint8)
    frames[0, ::2, :, 0] = 255  # every other row: 2×2 blocks average to 0.5
    frames[1] = 255
    out = frames_to_mask_grid(frames, 34)
    assert out.shape == (2, 34, 34, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, ..., 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(out[0, ..., 1:], 1 / 255)  # black is clipped up to 1/255
    np.testing.assert_allclose(out[1], 1.0)
    rect = frames_to_mask_grid(frames.astype(np.float64) / 255, (17, 34), interpolation="bicubic")
    assert rect.shape == (2, 17, 34, 3)
    assert rect.min() >= 1 / 255 - 1e-9 and rect.max() <= 1.0


# --- a constructed scene: background carries the illumination, the face the pulse -------------


def _scene(seconds: float = 30.0, size: int = 34, seed: int = 7):
    """Frames on the mask grid, attention masks and signals of a face disk on a background.

    Illumination (drift + two in-band flickers) multiplies every pixel; the pulse modulates the
    face only, along [0.33, 0.77, 0.53]; masks are high on the face, low elsewhere.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    pulse = np.sin(2 * np.pi * 1.2 * t) + 0.3 * np.sin(2 * np.pi * 2.4 * t + 0.5)
    illumination = (
        1.0
        + 0.04 * t / seconds
        + 0.002 * np.sin(2 * np.pi * 1.7 * t)
        + 0.0015 * np.sin(2 * np.pi * 0.9 * t + 1.0)
    )
    yy, xx = np.mgrid[:size, :size]
    face = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3.5) ** 2
    colour = np.where(face[..., None], [0.70, 0.50, 0.40], [0.35, 0.45, 0.55])
    pulse_gain = 1.0 + 0.01 * pulse[:, None, None, None] * np.array([0.33, 0.77, 0.53])
    pulse_gain = np.where(face[None, ..., None], pulse_gain, 1.0)
    frames = colour[None] * illumination[:, None, None, None] * pulse_gain
    frames += 0.01 * rng.standard_normal(frames.shape)
    frames = np.clip(frames, 1 / 255, 1.0)
    masks = np.where(face, 0.9, 0.05)[None] + 0.02 * rng.random((n, size, size))
    derivative = np.append(np.diff(pulse), 0.0)
    return frames, masks, derivative, pulse, illumination, face


@pytest.mark.parametrize("kind", ["binary", "continuous"])
@pytest.mark.parametrize("mode", ["all_pixels", "inverse_pixels"])
def test_inverse_region_recovers_shared_illumination(kind, mode):
    frames, masks, derivative, pulse, illumination, face = _scene()
    est = corruption_estimates(masks, frames, derivative, FS, kind=kind, mode=mode)
    assert isinstance(est, CorruptionEstimates)
    assert est.raw.shape == est.conditioned.shape == (len(pulse), 3)
    illum = condition_signal(illumination, FS)
    truth = condition_signal(pulse, FS)
    for c in range(3):
        assert _corr(est.conditioned[:, c], illum) > 0.9
        assert abs(_corr(est.conditioned[:, c], truth)) < 0.2
    # The derivative d[t] = y[t+1] − y[t] integrates to y[t+1] − y[0]: one sample ahead.
    np.testing.assert_allclose(est.pulse_raw[:-1], pulse[1:] - pulse[0], atol=1e-12)
    assert _corr(est.pulse_conditioned[:-1], truth[1:]) > 0.99
    if kind == "binary":  # the inverse region is exactly the background
        np.testing.assert_array_equal(est.inverse_masks[0].astype(bool), ~face)


def test_attention_region_is_dominated_by_the_pulse():
    frames, masks, derivative, pulse, illumination, _ = _scene()
    est = corruption_estimates(masks, frames, derivative, FS)
    attended = masked_channel_means(frames, 1.0 - est.inverse_masks, mode="inverse_pixels")
    green = condition_signal(attended[:, 1], FS)
    truth = condition_signal(pulse, FS)
    assert _corr(green, truth) > 0.9
    assert _corr(green, truth) > 2 * abs(_corr(green, condition_signal(illumination, FS)))
    # The inverse estimate of the same channel carries (almost) none of the pulse.
    assert abs(_corr(est.conditioned[:, 1], truth)) < 0.2


def test_corruption_estimates_records_its_inputs_and_integrates_the_pulse():
    frames, masks, derivative, _, _, _ = _scene(seconds=10)
    est = corruption_estimates(
        masks, frames, derivative[:, None], 25.0, band=BR_BAND, lam=100.0, threshold=0.2
    )
    np.testing.assert_allclose(est.pulse_raw, np.cumsum(derivative))
    np.testing.assert_allclose(
        est.pulse_conditioned,
        condition_signal(np.cumsum(derivative), 25.0, lam=100.0, band=BR_BAND),
    )
    assert est.fs == 25.0
    assert est.params == {
        "kind": "binary",
        "threshold": 0.2,
        "mode": "all_pixels",
        "lam": 100.0,
        "band": BR_BAND,
        "order": 1,
        "integration_dtype": "float64",
    }
    cont = corruption_estimates(masks, frames, derivative, 25.0, kind="continuous")
    assert cont.params["threshold"] is None and cont.params["band"] == HR_BAND


# --- bad input --------------------------------------------------------------------------------


def test_frame_count_mismatch_is_an_error_not_zero_padding():
    frames, masks, derivative, _, _, _ = _scene(seconds=5)
    with pytest.raises(ValueError, match=r"same number of frames, got 150, 149 and 150"):
        corruption_estimates(masks, frames[:-1], derivative, FS)
    with pytest.raises(ValueError, match=r"got 150, 150 and 151"):
        corruption_estimates(masks, frames, np.append(derivative, 0.0), FS)
    with pytest.raises(ValueError, match=r"same number of frames, got 150 and 149"):
        masked_channel_means(frames, inverse_masks(masks)[:-1])


def test_grid_mismatch_names_both_grids():
    frames, masks, derivative, _, _, _ = _scene(seconds=5)
    with pytest.raises(ValueError, match=r"grid \(33, 33\) but inverse has \(34, 34\)"):
        corruption_estimates(masks, frames[:, :33, :33], derivative, FS)


def test_constant_attention_mask_names_the_frame():
    masks = np.random.default_rng(1).random((6, 4, 4))
    masks[3] = 0.5
    with pytest.raises(ValueError, match=r"constant within frame\(s\) 3 "):
        inverse_masks(masks)


def test_all_zero_inverse_mask_names_the_frame():
    frames = np.full((3, 4, 4, 3), 0.5)
    inverse = np.ones((3, 4, 4))
    inverse[2] = 0.0
    with pytest.raises(ValueError, match=r"all zeros in frame\(s\) 2"):
        masked_channel_means(frames, inverse)


@pytest.mark.parametrize(
    ("masks", "message"),
    [
        (np.zeros((0, 34, 34)), r"masks is empty"),
        (np.zeros((5, 0, 0)), r"masks has an empty grid"),
        (np.zeros((5, 34, 34, 2)), r"must have one channel"),
        (np.zeros((34, 34)), r"masks must be 3-D or 4-D"),
    ],
)
def test_bad_mask_shapes(masks, message):
    with pytest.raises(ValueError, match=message):
        inverse_masks(masks)


def test_nan_is_reported_with_its_position():
    masks = np.random.default_rng(2).random((4, 3, 3))
    masks[2, 1, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"masks contains a non-finite value: .*nan.* at index \(2, 1, 0\)"
    ):
        inverse_masks(masks)
    frames = np.full((4, 3, 3, 3), 0.5)
    frames[1, 0, 0, 2] = np.nan
    with pytest.raises(ValueError, match=r"frames_on_mask_grid contains a non-finite"):
        masked_channel_means(frames, np.ones((4, 3, 3)))


def test_bad_values_and_options():
    frames = np.full((4, 3, 3, 3), 0.5)
    masks = np.random.default_rng(3).random((4, 3, 3))
    unscaled = frames.copy()
    unscaled[0, 0, 0] = 255.0  # a uint8-range value in a float frame
    with pytest.raises(ValueError, match=r"got values in \[0.5, 255\] \(scale uint8 frames"):
        masked_channel_means(unscaled, np.ones((4, 3, 3)))
    with pytest.raises(ValueError, match=r"inverse must lie in \[0, 1\]"):
        masked_channel_means(frames, np.full((4, 3, 3), 2.0))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) RGB"):
        masked_channel_means(frames[..., :2], np.ones((4, 3, 3)))
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\).*got 1.0"):
        inverse_masks(masks, threshold=1.0)
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\).*got -0.1"):
        inverse_masks(masks, threshold=-0.1)
    with pytest.raises(ValueError, match=r"threshold applies to kind='binary' only"):
        inverse_masks(masks, kind="continuous", threshold=0.1)
    with pytest.raises(ValueError, match=r"kind must be one of \('binary', 'continuous'\)"):
        inverse_masks(masks, kind="soft")
    with pytest.raises(ValueError, match=r"mode must be one of"):
        masked_channel_means(frames, np.ones((4, 3, 3)), mode="mean")
    with pytest.raises(ValueError, match=r"frames\[0\] must lie in \[0, 1\]"):
        frames_to_mask_grid(np.full((2, 8, 8, 3), 200.0), 4)
    nan_frames = np.full((3, 8, 8, 3), 0.5)
    nan_frames[2, 1, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"frames\[2\] contains a non-finite value"):
        frames_to_mask_grid(nan_frames, 4)
    with pytest.raises(ValueError, match=r"uint8 or float in \[0, 1\], got dtype uint16"):
        frames_to_mask_grid(np.zeros((2, 8, 8, 3), dtype=np.uint16), 4)
    with pytest.raises(ValueError, match=r"frames must be \(T, H, W, 3\)"):
        frames_to_mask_grid(np.zeros((8, 8, 3), dtype=np.uint8), 4)
    with pytest.raises(ValueError, match=r"mask_size must be a positive integer, got 0"):
        frames_to_mask_grid(np.zeros((2, 8, 8, 3), dtype=np.uint8), 0)
    with pytest.raises(ValueError, match=r"interpolation must be one of \('area', 'bicubic'\)"):
        frames_to_mask_grid(np.zeros((2, 8, 8, 3), dtype=np.uint8), 4, interpolation="nearest")


def test_conditioning_bad_input():
    t = np.arange(300) / FS
    with pytest.raises(ValueError, match=r"no variation left after detrending"):
        condition_signal(np.full(300, 0.3), FS)
    with pytest.raises(ValueError, match=r"x column\(s\) \[1\] has no variation"):
        condition_signal(np.column_stack([np.sin(2 * np.pi * t), 0.1 + 0.01 * t]), FS)
    with pytest.raises(ValueError, match=r"fs must be a positive"):
        condition_signal(np.sin(t), 0)
    with pytest.raises(ValueError, match=r"band = \(0.7, 2.5\) Hz must satisfy .* Nyquist = 2 Hz"):
        condition_signal(np.sin(t), 4.0)
    with pytest.raises(ValueError, match=r"band must be a pair"):
        condition_signal(np.sin(t), FS, band=0.7)
    frames, masks, derivative, _, _, _ = _scene(seconds=5)
    with pytest.raises(ValueError, match=r"pulse_derivative must be \(T,\) or \(T, 1\)"):
        corruption_estimates(masks, frames, np.column_stack([derivative, derivative]), FS)


def test_static_scene_or_flat_pulse_has_nothing_to_standardise():
    frames, masks, derivative, _, _, _ = _scene(seconds=5)
    static = np.broadcast_to(frames[:1], frames.shape)  # no illumination change, no noise
    with pytest.raises(
        ValueError, match=r"corruption estimates \(R, G, B\) column\(s\) \[0, 1, 2\]"
    ):
        corruption_estimates(masks, static, derivative, FS)
    with pytest.raises(ValueError, match=r"pulse \(cumsum of pulse_derivative\) has no variation"):
        corruption_estimates(masks, frames, np.zeros_like(derivative), FS)

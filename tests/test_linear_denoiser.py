"""The linear adaptive filter (rppg_lib.denoiser.linear): exact removal of a known linear
mixture, no harm without correlated corruption, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest

from rppg_lib.denoiser import linear_denoise

FS = 30.0


def _times(seconds: float = 30.0) -> np.ndarray:
    return np.arange(int(seconds * FS)) / FS


def _corruption(t: np.ndarray) -> np.ndarray:
    """Three light channels at 0.6, 1.0 and 2.0 Hz: whole cycles in every 5 s half-window, so
    they are orthogonal to a 1.2 Hz pulse over every 10 s window the filter fits."""
    return np.stack([np.sin(2 * np.pi * 0.6 * t), np.cos(2 * np.pi * 1.0 * t),
                     np.sin(2 * np.pi * 2.0 * t + 0.3)], axis=1)


def test_removes_an_exactly_mixed_corruption():
    t = _times()
    pulse = np.sin(2 * np.pi * 1.2 * t)
    noise = _corruption(t)
    mixed = pulse + noise @ np.array([0.8, -1.5, 0.6]) + 0.25  # an offset is fitted, not removed
    out = linear_denoise(mixed, noise, FS, window_s=10.0)
    assert np.max(np.abs(out - 0.25 - pulse)) < 1e-6
    # corruption alone (no pulse) is removed to rounding error
    assert np.max(np.abs(linear_denoise(noise @ np.array([1.0, 2.0, 3.0]), noise, FS))) < 1e-6


def test_leaves_a_pulse_without_correlated_corruption_nearly_unchanged():
    t = _times()
    pulse = np.sin(2 * np.pi * 1.2 * t)
    unrelated = np.random.default_rng(0).normal(size=(t.size, 3))
    out = linear_denoise(pulse, unrelated, FS, window_s=10.0)
    # 4 coefficients per 300-sample window remove about 4/300 of the power
    assert np.linalg.norm(out - pulse) / np.linalg.norm(pulse) < 0.2
    assert np.corrcoef(out, pulse)[0, 1] > 0.98


def test_no_estimate_is_the_identity():
    pulse = np.sin(2 * np.pi * 1.2 * _times())
    out = linear_denoise(pulse, np.zeros((pulse.size, 0)), FS)
    np.testing.assert_array_equal(out, pulse)
    assert out is not pulse


def test_nlms_converges_on_a_fixed_mixture():
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(3000, 3))
    mixed = noise @ np.array([0.5, -1.0, 2.0])
    out = linear_denoise(mixed, noise, FS, method="nlms", mu=0.5)
    tail = slice(1500, None)
    assert np.sqrt(np.mean(out[tail] ** 2)) < 1e-3 * np.sqrt(np.mean(mixed[tail] ** 2))


def test_bad_inputs_name_the_parameter():
    t = _times()
    pulse, noise = np.sin(t), _corruption(t)
    with pytest.raises(ValueError, match="corruption has 899 samples"):
        linear_denoise(pulse, noise[:-1], FS)
    with pytest.raises(ValueError, match="pulse"):
        linear_denoise(np.r_[pulse[:-1], np.nan], noise, FS)
    with pytest.raises(ValueError, match="corruption"):
        linear_denoise(pulse, np.where(noise > 0.99, np.inf, noise), FS)
    with pytest.raises(ValueError, match="fs"):
        linear_denoise(pulse, noise, 0.0)
    with pytest.raises(ValueError, match="window_s = 1 s holds 30 samples"):
        linear_denoise(pulse, noise, FS, window_s=1.0)
    with pytest.raises(ValueError, match="window_s = 40 s .* longer than the pulse"):
        linear_denoise(pulse, noise, FS, window_s=40.0)
    with pytest.raises(ValueError, match="method"):
        linear_denoise(pulse, noise, FS, method="rls")
    with pytest.raises(ValueError, match="mu"):
        linear_denoise(pulse, noise, FS, method="nlms", mu=2.5)

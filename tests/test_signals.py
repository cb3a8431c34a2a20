"""Known-answer tests for rppg_lib.signals and rppg_lib.windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.io
import scipy.signal

from rppg_lib.signals import (
    bandpass,
    breathing_rate,
    butter_bandpass,
    detrend,
    heart_rate,
    heart_rate_peaks,
    heart_rate_series,
    integrate,
    normalize_max_abs,
    peak_quality,
    power_spectrum,
    resample_rate,
    resample_to_times,
    sliding_windows,
    stitch_windows,
    zscore,
)

FS = 30.0


def _dense_detrend(x: np.ndarray, lam: float) -> np.ndarray:
    """The published formula with an explicit (N−2)×N second-difference matrix."""
    n = x.size
    d2 = np.zeros((n - 2, n))
    for i in range(n - 2):
        d2[i, i : i + 3] = [1.0, -2.0, 1.0]
    return x - np.linalg.solve(np.eye(n) + lam**2 * d2.T @ d2, x)


def _pulse_with_harmonics(seconds: float, bpm: float, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(0, seconds, 1 / FS)
    f = bpm / 60.0
    clean = (
        np.sin(2 * np.pi * f * t)
        + 0.5 * np.sin(2 * np.pi * 2 * f * t + 0.8)
        + 0.25 * np.sin(2 * np.pi * 3 * f * t + 1.3)
    )
    return clean + noise * rng.standard_normal(t.size)


# --- detrend -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 4, 5, 17, 200])
@pytest.mark.parametrize("lam", [1.0, 50.0, 100.0])
def test_detrend_equals_dense_formula(n: int, lam: float) -> None:
    x = np.random.default_rng(n).standard_normal(n).cumsum()
    np.testing.assert_allclose(detrend(x, lam), _dense_detrend(x, lam), rtol=0, atol=1e-9)


def test_detrend_columns_independently() -> None:
    x = np.random.default_rng(1).standard_normal((120, 3)).cumsum(axis=0)
    out = detrend(x, 50)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], _dense_detrend(x[:, c], 50), atol=1e-9)


def test_detrend_removes_linear_exactly_and_quadratic_away_from_the_ends() -> None:
    t = np.arange(0, 40, 1 / FS)
    np.testing.assert_allclose(detrend(3.0 * t + 1.0, 50), 0.0, atol=1e-9)
    quadratic = 4.0 * (t / 40) ** 2 - 1.0  # range 4
    residual = detrend(quadratic, 50)
    # The fourth difference of a quadratic is zero, so only the two ends keep a residual.
    assert np.abs(residual[150:-150]).max() < 1e-8
    assert np.abs(residual).max() < 1e-3
    # A 2 Hz pulse on top survives (λ = 50 at 30 Hz is a high-pass near 0.67 Hz).
    pulse = np.sin(2 * np.pi * 2.0 * t)
    kept = detrend(pulse + quadratic, 50)[150:-150]
    assert np.corrcoef(kept, pulse[150:-150])[0, 1] > 0.9999


# --- band-pass -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "min_in_band", "max_out_of_band"), [(1, 0.95, 0.1), (3, 0.99, 1e-3)]
)
def test_bandpass_attenuates_out_of_band_tones(
    order: int, min_in_band: float, max_out_of_band: float
) -> None:
    t = np.arange(0, 40, 1 / FS)
    middle = slice(300, -300)
    gain = {
        f: np.abs(bandpass(np.sin(2 * np.pi * f * t), FS, 0.7, 2.5, order)[middle]).max()
        for f in (0.1, 1.5, 6.0, 10.0)
    }
    assert gain[1.5] > min_in_band
    assert gain[1.5] < 1.0 + 1e-9
    for f in (0.1, 6.0, 10.0):
        assert gain[f] < max_out_of_band, f


def test_bandpass_is_zero_phase() -> None:
    t = np.arange(0, 40, 1 / FS)
    y = bandpass(np.sin(2 * np.pi * 1.5 * t), FS, 0.7, 2.5, order=3)
    mid = slice(300, 900)
    phase = np.arctan2(
        np.sum(y[mid] * np.cos(2 * np.pi * 1.5 * t[mid])),
        np.sum(y[mid] * np.sin(2 * np.pi * 1.5 * t[mid])),
    )
    assert abs(phase) < 1e-6
    lag = np.argmax(scipy.signal.correlate(y, np.sin(2 * np.pi * 1.5 * t))) - (t.size - 1)
    assert lag == 0


def test_bandpass_uses_matlab_pad_length_not_scipys() -> None:
    x = np.random.default_rng(3).standard_normal(300)
    b, a = butter_bandpass(FS, 0.7, 2.5, order=1)
    ours = bandpass(x, FS, 0.7, 2.5, order=1)
    np.testing.assert_allclose(ours, scipy.signal.filtfilt(b, a, x, padlen=6), atol=1e-12)
    scipy_default = bandpass(x, FS, 0.7, 2.5, order=1, padding="scipy")
    np.testing.assert_allclose(scipy_default, scipy.signal.filtfilt(b, a, x), atol=1e-12)
    assert np.abs(ours - scipy_default)[:10].max() > 1e-3  # the ends differ


def test_bandpass_on_columns_matches_1d() -> None:
    x = np.random.default_rng(4).standard_normal((200, 2))
    out = bandpass(x, FS, 0.7, 2.5)
    np.testing.assert_allclose(out[:, 1], bandpass(x[:, 1], FS, 0.7, 2.5), atol=1e-12)


# --- Octave parity (Benefit-of-Distraction reference) --------------------------------------------


@pytest.mark.reference
def test_detrend_and_filter_coefficients_match_octave(bod_reference) -> None:
    h5py = pytest.importorskip("h5py")
    ref = scipy.io.loadmat(bod_reference / "bod_octave_reference.mat")
    with h5py.File(bod_reference / "RGB_noise_estimates_red" / "sample_noise.mat", "r") as f:
        frames = f["mask_noise_red"][()]  # HDF5 holds MATLAB's (861, 34, 34) as (34, 34, 861)
    red_mean = frames.reshape(-1, frames.shape[-1]).mean(axis=0)
    np.testing.assert_allclose(red_mean, ref["noise_red_mean"].ravel(), atol=1e-12)
    np.testing.assert_allclose(detrend(red_mean, 50), ref["detrend_only_red"].ravel(), atol=1e-9)
    b, a = butter_bandpass(30, 0.7, 2.5, order=1)
    np.testing.assert_allclose(b, ref["b"].ravel(), atol=1e-12)
    np.testing.assert_allclose(a, ref["a"].ravel(), atol=1e-12)
    bb, ab = butter_bandpass(30, 0.08, 0.5, order=1)
    np.testing.assert_allclose(bb, ref["bb"].ravel(), atol=1e-12)
    np.testing.assert_allclose(ab, ref["ab"].ravel(), atol=1e-12)


@pytest.mark.reference
def test_zscore_and_bandpass_match_octave_filtfilt(bod_reference) -> None:
    ref = scipy.io.loadmat(bod_reference / "bod_octave_reference.mat")
    standardised = zscore(ref["detrend_only_red"].ravel())
    hr = bandpass(standardised, 30, 0.7, 2.5, order=1)
    np.testing.assert_allclose(hr, ref["noise_red_mean2"].ravel(), atol=1e-9)
    br = bandpass(standardised, 30, 0.08, 0.5, order=1)
    np.testing.assert_allclose(br, ref["noise_red_mean2_br"].ravel(), atol=1e-9)
    # scipy's default pad length would miss the reference by a wide margin near the ends.
    scipy_ends = bandpass(standardised, 30, 0.7, 2.5, order=1, padding="scipy")
    assert np.abs(scipy_ends - ref["noise_red_mean2"].ravel()).max() > 1e-3


# --- normalisation and integration ---------------------------------------------------------------


def test_zscore_uses_sample_std() -> None:
    out = zscore(np.array([1.0, 2.0, 3.0, 4.0]))
    # mean 2.5, sample std sqrt(5/3)
    np.testing.assert_allclose(out, (np.array([1, 2, 3, 4]) - 2.5) / math.sqrt(5 / 3))
    with pytest.raises(ValueError, match="constant"):
        zscore(np.ones(5))


def test_normalize_max_abs_and_integrate() -> None:
    np.testing.assert_allclose(normalize_max_abs(np.array([1.0, -4.0, 2.0])), [0.25, -1.0, 0.5])
    with pytest.raises(ValueError, match="all zeros"):
        normalize_max_abs(np.zeros(4))
    y = np.array([0.0, 1.0, 3.0, 2.0])
    np.testing.assert_allclose(integrate(np.diff(y, prepend=0.0)), y)
    single = integrate(np.full(10, 0.1, dtype=np.float32), dtype=np.float32)
    assert single.dtype == np.float64
    assert single[-1] == np.float32(np.cumsum(np.full(10, 0.1, np.float32))[-1])


# --- spectra and rates ---------------------------------------------------------------------------


def test_power_spectrum_peak_and_grid() -> None:
    t = np.arange(0, 10, 1 / FS)
    freqs, power = power_spectrum(np.sin(2 * np.pi * 2.0 * t), FS, nfft=600)
    assert freqs[1] == pytest.approx(FS / 600)
    assert freqs[np.argmax(power)] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="nfft"):
        power_spectrum(t, FS, nfft=100)


def test_heart_rate_of_72_bpm_pulse_with_harmonics_and_noise() -> None:
    x = _pulse_with_harmonics(60.0, 72.0, noise=0.3, seed=0)
    assert heart_rate(x, FS) == pytest.approx(72.0, abs=0.5)
    assert heart_rate_peaks(x, FS) == pytest.approx(72.0, abs=0.5)


def test_heart_rate_peaks_ignores_dicrotic_notch() -> None:
    t = np.arange(0, 60, 1 / FS)
    phase = (t * 72 / 60) % 1
    beat = np.exp(-(((phase - 0.2) / 0.08) ** 2)) + 0.4 * np.exp(-(((phase - 0.55) / 0.1) ** 2))
    noisy = beat + 0.2 * np.random.default_rng(1).standard_normal(t.size) + 0.5 * t / 60
    assert heart_rate_peaks(noisy, FS) == pytest.approx(72.0, abs=0.5)
    assert heart_rate(noisy, FS) == pytest.approx(72.0, abs=0.5)


def test_breathing_rate_known_answer() -> None:
    t = np.arange(0, 120, 1 / FS)
    resp = np.sin(2 * np.pi * 0.25 * t) + 0.3 * np.random.default_rng(2).standard_normal(t.size)
    assert breathing_rate(resp, FS) == pytest.approx(15.0, abs=0.5)


def test_heart_rate_series_follows_a_step_and_covers_the_tail() -> None:
    first = _pulse_with_harmonics(40.0, 60.0, noise=0.1, seed=3)
    second = _pulse_with_harmonics(45.0, 90.0, noise=0.1, seed=4)
    x = np.concatenate([first, second])  # 85 s
    centres, rates = heart_rate_series(x, FS, window_s=20.0, step_s=10.0)
    # windows start at 0, 10, ..., 60 s, plus one ending at 85 s (centre 75 s)
    np.testing.assert_allclose(centres, [10, 20, 30, 40, 50, 60, 70, 75])
    np.testing.assert_allclose(rates[:3], 60.0, atol=0.5)
    np.testing.assert_allclose(rates[-3:], 90.0, atol=0.5)


# --- resampling ----------------------------------------------------------------------------------


def test_resample_to_times_is_exact_on_linear_signals() -> None:
    rng = np.random.default_rng(5)
    t_src = np.sort(rng.uniform(0, 10, 200))
    t_src[0], t_src[-1] = 0.0, 10.0
    t_new = np.linspace(0, 10, 301)
    out = resample_to_times(np.stack([3 * t_src + 2, -t_src], axis=1), t_src, t_new)
    np.testing.assert_allclose(out[:, 0], 3 * t_new + 2, atol=1e-12)
    np.testing.assert_allclose(out[:, 1], -t_new, atol=1e-12)


def test_resample_to_times_refuses_extrapolation() -> None:
    t_src = np.arange(10) / 10.0
    x = t_src.copy()
    within = resample_to_times(x, t_src, np.array([0.93]))  # 0.03 s past the end, tol 0.05 s
    np.testing.assert_allclose(within, [0.9])
    with pytest.raises(ValueError, match="extrapolation"):
        resample_to_times(x, t_src, np.array([0.5, 1.2]))
    with pytest.raises(ValueError, match="t_src must increase"):
        resample_to_times(x, t_src[::-1], np.array([0.5]))


def test_resample_rate_linear_and_polyphase() -> None:
    t25 = np.arange(250) / 25.0
    out = resample_rate(2 * t25 - 1, 25, 30)
    t30 = np.arange(out.size) / 30.0
    assert out.size == 299  # t = k/30 <= 9.96 s: k = 0..298
    np.testing.assert_allclose(out, 2 * t30 - 1, atol=1e-12)
    tone = np.sin(2 * np.pi * 1.0 * t25)
    poly = resample_rate(tone, 25, 30, method="polyphase")
    assert poly.size == 300
    t_poly = np.arange(poly.size) / 30.0
    np.testing.assert_allclose(poly[30:-30], np.sin(2 * np.pi * t_poly[30:-30]), atol=1e-2)


# --- windows -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(101,), (101, 4)])
def test_windows_round_trip_in_average_mode(shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(6).standard_normal(shape)
    windows = sliding_windows(x, 20, 10)  # 9 full windows cover 100; one more, padded, at 90
    assert windows.shape == (10, 20) + shape[1:]
    np.testing.assert_array_equal(windows[-1][:11], x[90:])
    np.testing.assert_array_equal(windows[-1][11:], 0.0)
    np.testing.assert_allclose(stitch_windows(windows, 10, length=shape[0]), x, atol=1e-12)


def test_sliding_windows_tail_options() -> None:
    x = np.arange(1031.0)
    dropped = sliding_windows(x, 60, 30, tail="drop")
    assert dropped.shape == (33, 60)  # the release's Xtest: 1020 of 1031 samples covered
    np.testing.assert_array_equal(dropped[-1], np.arange(960.0, 1020.0))
    with pytest.raises(ValueError, match="last 11 of 1031"):
        sliding_windows(x, 60, 30, tail="error")
    assert sliding_windows(x[:1020], 60, 30, tail="error").shape == (33, 60)


def test_stitch_release_and_overwrite_modes() -> None:
    w = np.array([[1.0, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    # release: windows 0..N-2 written at k*hop into zeros, the last window dropped
    np.testing.assert_array_equal(
        stitch_windows(w, 2, length=9, mode="release"), [1, 2, 5, 6, 7, 8, 0, 0, 0]
    )
    overwritten = stitch_windows(w, 2, mode="overwrite")
    np.testing.assert_array_equal(overwritten, [1, 2, 5, 6, 9, 10, 11, 12])
    np.testing.assert_allclose(stitch_windows(w, 2), [1, 2, 4, 5, 8, 9, 11, 12])
    with pytest.raises(ValueError, match="needs length"):
        stitch_windows(w, 2, mode="release")
    with pytest.raises(ValueError, match="longer than the 8 samples"):
        stitch_windows(w, 2, length=9)


# --- no rate without a pulse ----------


@pytest.mark.parametrize("x", [np.full(400, 0.7), np.array([0.1, 0.3])])  # 400: 13.3 s
def test_heart_rate_refuses_constant_and_too_short_inputs(x):
    with pytest.raises(ValueError, match=r"^x (is constant|needs at least 3 samples, got 2)"):
        heart_rate(x, FS)
    with pytest.raises(ValueError, match=r"^x (is constant|needs at least 3 samples, got 2)"):
        heart_rate_peaks(x, FS)
    with pytest.raises(ValueError, match=r"^x (is constant|needs at least 3 samples, got 2)"):
        breathing_rate(x, FS)


def test_peak_quality_separates_a_pulse_from_noise():
    t = np.arange(300) / FS
    pulse = peak_quality(np.sin(2 * np.pi * 1.2 * t), FS)
    assert pulse.rate_bpm == pytest.approx(72.0, abs=0.2)
    assert pulse.snr_db > 10 and pulse.peak_share > 0.8
    noise = peak_quality(np.random.default_rng(0).standard_normal(300), FS)
    assert noise.snr_db < 1.0 and noise.peak_share < 0.3  # white noise has no clear peak


def test_quality_series_gives_the_spectral_rates_with_their_snr():
    from rppg_lib.signals import heart_rate_quality_series

    t = np.arange(600) / FS
    x = np.sin(2 * np.pi * 1.2 * t) + 0.3 * np.random.default_rng(0).standard_normal(600)
    times, rates, snr, share = heart_rate_quality_series(x, FS, 10.0, 2.0)
    ref_times, ref_rates = heart_rate_series(x, FS, 10.0, 2.0)
    np.testing.assert_array_equal(times, ref_times)
    np.testing.assert_allclose(rates, ref_rates)
    assert snr.shape == share.shape == (6,) and np.all(snr > 5) and np.all(share > 0.5)

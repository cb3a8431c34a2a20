"""Bad input raises ValueError naming the parameter and the value, at every public entry point."""

from __future__ import annotations

import numpy as np
import pytest

from rppg_lib import evaluation_protocols as evaluation
from rppg_lib import metrics, signals
from rppg_lib.validation import (
    as_signal,
    check_band,
    check_fs,
    check_positive_int,
    check_same_length,
)

GOOD = np.sin(np.linspace(0, 20, 300))
WITH_NAN = GOOD.copy()
WITH_NAN[7] = np.nan


def test_as_signal_accepts_and_converts() -> None:
    out = as_signal([1, 2, 3], "x")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], r"x is empty"),
        ([1.0], r"x needs at least 2 samples, got 1"),
        ([1.0, np.nan, 2.0], r"x contains a non-finite value: nan at index 1"),
        ([1.0, np.inf], r"x contains a non-finite value: inf at index 1"),
        (np.zeros((3, 2)), r"x must be 1-D, got shape \(3, 2\)"),
        (5.0, r"x must be 1-D, got shape \(\)"),
        (["a", "b"], r"x must be numeric"),
    ],
)
def test_as_signal_rejects(value, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_signal(value, "x")


@pytest.mark.parametrize("fs", [0, -30, float("nan"), float("inf"), "30", None, True])
def test_check_fs_rejects(fs) -> None:
    with pytest.raises(ValueError, match=r"fs must be a positive"):
        check_fs(fs)


def test_small_checks() -> None:
    assert check_fs(30) == 30.0
    assert check_band(0.7, 2.5, 30) == (0.7, 2.5)
    assert check_positive_int(np.int64(4), "hop") == 4
    with pytest.raises(ValueError, match=r"hop must be a positive integer, got 2.5"):
        check_positive_int(2.5, "hop")
    with pytest.raises(ValueError, match=r"est and ref must have the same length, got 2 and 3"):
        check_same_length(np.zeros(2), np.zeros(3), "est", "ref")
    with pytest.raises(ValueError, match=r"band = \(2.5, 0.7\) Hz must satisfy 0 < low < high"):
        check_band(2.5, 0.7, 30)


# (callable, kwargs, message regex): each names the parameter and shows the value.
BAD_CALLS = [
    ("detrend empty", signals.detrend, {"x": []}, r"x is empty"),
    ("detrend short", signals.detrend, {"x": [1.0, 2.0]}, r"x needs at least 3 samples, got 2"),
    ("detrend nan", signals.detrend, {"x": WITH_NAN}, r"x contains a non-finite value: nan at "
     r"index 7"),
    ("detrend lam", signals.detrend, {"x": GOOD, "lam": -1}, r"lam must be a positive finite "
     r"number, got -1"),
    ("bandpass fs", signals.bandpass, {"x": GOOD, "fs": 0, "low": 0.7, "high": 2.5},
     r"fs must be a positive finite number, got 0"),
    ("bandpass nyquist", signals.bandpass, {"x": GOOD, "fs": 4, "low": 0.7, "high": 2.5},
     r"band = \(0.7, 2.5\) Hz must satisfy .* Nyquist = 2 Hz"),
    ("bandpass order", signals.bandpass, {"x": GOOD, "fs": 30, "low": 0.7, "high": 2.5,
                                          "order": 0}, r"order must be a positive integer, got 0"),
    ("bandpass too short", signals.bandpass, {"x": GOOD[:10], "fs": 30, "low": 0.7, "high": 2.5,
                                              "order": 3}, r"x has 10 samples.*needs more than 18"),
    ("heart_rate nan", signals.heart_rate, {"x": WITH_NAN, "fs": 30}, r"x contains a non-finite"),
    ("heart_rate band", signals.heart_rate, {"x": GOOD, "fs": 30, "low": 2.5, "high": 20},
     r"band = \(2.5, 20\) Hz .* Nyquist = 15 Hz"),
    ("breathing fs", signals.breathing_rate, {"x": GOOD, "fs": -1}, r"fs must be a positive"),
    ("peaks short", signals.heart_rate_peaks, {"x": [1.0], "fs": 30}, r"x needs at least 3"),
    ("series window", signals.heart_rate_series, {"x": GOOD, "fs": 30, "window_s": 20,
                                                  "step_s": 1},
     r"window_s = 600 samples is longer than the signal \(300\)"),
    ("series method", signals.heart_rate_series, {"x": GOOD, "fs": 30, "window_s": 5,
                                                  "step_s": 1, "method": "fft"},
     r"method must be 'spectral' or 'peaks', got 'fft'"),
    ("sliding window long", signals.sliding_windows, {"x": GOOD, "length": 301, "hop": 10},
     r"length = 301 samples is longer than the signal \(300\)"),
    ("sliding hop", signals.sliding_windows, {"x": GOOD, "length": 30, "hop": 0},
     r"hop must be a positive integer, got 0"),
    ("sliding tail", signals.sliding_windows, {"x": GOOD, "length": 30, "hop": 7,
                                               "tail": "shift"}, r"tail must be"),
    ("stitch mode", signals.stitch_windows, {"windows": np.zeros((3, 4)), "hop": 2,
                                             "mode": "sum"}, r"mode must be .* got 'sum'"),
    ("resample mismatch", signals.resample_to_times, {"x": GOOD, "t_src": np.arange(299.0),
                                                      "t_new": [1.0]},
     r"t_src has 299 times but x has 300 samples"),
    ("resample fs_new", signals.resample_rate, {"x": GOOD, "fs": 30, "fs_new": 0},
     r"fs_new must be a positive finite number, got 0"),
    ("zscore empty", signals.zscore, {"x": []}, r"x is empty"),
    ("integrate nan", signals.integrate, {"derivative": WITH_NAN}, r"derivative contains a "
     r"non-finite value: nan at index 7"),
    ("mae mismatch", metrics.mae, {"estimate": [1.0, 2.0], "reference": [1.0, 2.0, 3.0]},
     r"estimate and reference must have the same length, got 2 and 3"),
    ("mae empty", metrics.mae, {"estimate": [], "reference": []}, r"estimate is empty"),
    ("mape zero", metrics.mape, {"estimate": [1.0, 2.0], "reference": [1.0, 0.0]},
     r"reference\[1\] = 0"),
    ("pearson short", metrics.pearson, {"estimate": [1.0, 2.0], "reference": [1.0, 2.0]},
     r"estimate needs at least 3 samples, got 2"),
    ("pearson constant", metrics.pearson, {"estimate": [1.0, 2.0, 3.0],
                                           "reference": [5.0, 5.0, 5.0]},
     r"reference is constant \(5.0\)"),
    ("rmse se", metrics.rmse, {"estimate": [1.0], "reference": [2.0], "se": "bootstrap"},
     r"se must be one of \('delta', 'toolbox'\), got 'bootstrap'"),
    ("snr hr", metrics.snr, {"x": GOOD, "fs": 30, "hr_bpm": 0}, r"hr_bpm must be a positive "
     r"finite number, got 0"),
    ("snr db", metrics.snr, {"x": GOOD, "fs": 30, "hr_bpm": 60, "db": "dB"},
     r"db must be one of \('power', 'amplitude'\), got 'dB'"),
    ("bland_altman nan", metrics.bland_altman, {"estimate": [1.0, np.nan],
                                                "reference": [1.0, 2.0]},
     r"estimate contains a non-finite value: nan at index 1"),
    ("windows too long", evaluation.evaluate_windows, {"estimate": GOOD, "fs": 30},
     r"window_s = 30 s is longer than the signals: estimate 10 s"),
    ("windows ref length", evaluation.evaluate_windows, {"estimate": GOOD, "fs": 30,
                                                         "window_s": 5,
                                                         "reference_waveform": GOOD[:-1]},
     r"estimate and reference_waveform must have the same length, got 300 and 299"),
    ("windows hr fs", evaluation.evaluate_windows, {"estimate": GOOD, "fs": 30, "window_s": 5,
                                                    "reference_hr_series": GOOD},
     r"reference_hr_fs \(Hz\) is required"),
    ("video fs", evaluation.evaluate_video, {"estimate": GOOD, "fs": -30},
     r"fs must be a positive finite number, got -30"),
    ("video method", evaluation.evaluate_video, {"estimate": GOOD, "fs": 30,
                                                 "hr_method": "welch"},
     r"hr_method must be one of \('fft', 'peaks'\), got 'welch'"),
    ("summarize columns", evaluation.summarize, {"rows": [{"hr_estimate": 70.0}]},
     r"rows lack the column 'hr_reference'"),
]


@pytest.mark.parametrize(
    ("func", "kwargs", "message"),
    [case[1:] for case in BAD_CALLS],
    ids=[case[0] for case in BAD_CALLS],
)
def test_bad_input_raises_value_error_naming_it(func, kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        func(**kwargs)

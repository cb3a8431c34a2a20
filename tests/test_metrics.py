"""Known-answer tests for rppg_lib.metrics and rppg_lib.evaluation_protocols."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from rppg_lib.evaluation_protocols import evaluate_video, evaluate_windows, summarize
from rppg_lib.metrics import bland_altman, mae, mape, pearson, rmse, snr, wmae

EST = np.array([70.0, 80.0, 90.0, 100.0])
REF = np.array([72.0, 78.0, 95.0, 100.0])  # errors −2, 2, −5, 0
FS = 30.0


def test_mae_by_hand() -> None:
    m = mae(EST, REF)
    assert m.value == pytest.approx(9 / 4)  # (2 + 2 + 5 + 0) / 4
    # |e| = 2, 2, 5, 0 around 2.25: population variance 12.75 / 4
    assert m.std_error == pytest.approx(math.sqrt(12.75 / 4) / 2)
    assert m.n == 4


def test_rmse_by_hand_both_se_conventions() -> None:
    m = rmse(EST, REF)
    assert m.value == pytest.approx(math.sqrt(33 / 4))  # (4 + 4 + 25 + 0) / 4
    # e² = 4, 4, 25, 0 around 8.25: population variance 384.75 / 4
    se_mse = math.sqrt(384.75 / 4) / 2
    assert m.std_error == pytest.approx(se_mse / (2 * math.sqrt(33 / 4)))
    assert rmse(EST, REF, se="toolbox").std_error == pytest.approx(math.sqrt(se_mse))
    assert rmse(REF, REF).std_error == 0.0


def test_mape_by_hand() -> None:
    m = mape(EST, REF)
    rel = [2 / 72, 2 / 78, 5 / 95, 0.0]
    assert m.value == pytest.approx(100 * sum(rel) / 4)
    assert m.std_error == pytest.approx(100 * np.std(rel) / 2)


def test_single_pair_has_undefined_standard_error() -> None:
    m = mae([70.0], [72.0])
    assert m.value == 2.0
    assert math.isnan(m.std_error)


def test_pearson_by_hand() -> None:
    c = pearson([1.0, 2, 3, 4, 5], [2.0, 4, 5, 4, 5])
    # deviations (−2, −1, 0, 1, 2) and (−2, 0, 1, 0, 1): r = 6 / sqrt(10 · 6)
    r = 6 / math.sqrt(60)
    assert c.value == pytest.approx(r)
    assert c.std_error == pytest.approx(math.sqrt((1 - r * r) / 3))
    t = r * math.sqrt(3) / math.sqrt(1 - r * r)
    assert c.p_value == pytest.approx(2 * scipy.stats.t.sf(t, df=3))
    assert c.n == 5


def test_bland_altman_by_hand() -> None:
    ba = bland_altman(EST, REF)
    assert ba.bias == pytest.approx(-1.25)
    sd = math.sqrt(26.75 / 3)  # deviations −0.75, 3.25, −3.75, 1.25
    assert ba.sd == pytest.approx(sd)
    assert ba.lower == pytest.approx(-1.25 - 1.96 * sd)
    assert ba.upper == pytest.approx(-1.25 + 1.96 * sd)


def test_wmae_by_hand() -> None:
    assert wmae([0.0, 0.5, -1.0], [0.5, 0.5, 0.0]) == pytest.approx(0.5)


def _tones(t: np.ndarray, parts: list[tuple[float, float]]) -> np.ndarray:
    return sum(a * np.sin(2 * np.pi * f * t + 0.3) for f, a in parts)


def test_snr_equals_closed_form_of_a_constructed_spectrum() -> None:
    # 100 s at 30 Hz: bins every 0.01 Hz, and every tone sits on a bin, so the rectangular
    # periodogram has no leakage and the power of a tone of amplitude a is proportional to a².
    t = np.arange(3000) / FS
    x = _tones(t, [(1.2, 1.0), (2.4, 0.5), (3.0, 0.2), (0.3, 2.0), (5.0, 3.0)])
    # signal: 1.2 Hz and its harmonic 2.4 Hz; noise in [0.7, 4] Hz: 3.0 Hz only
    ratio = (1.0**2 + 0.5**2) / 0.2**2
    assert snr(x, FS, 72.0) == pytest.approx(10 * math.log10(ratio), abs=1e-9)
    assert snr(x, FS, 72.0, db="amplitude") == pytest.approx(20 * math.log10(ratio), abs=1e-9)
    # a reference HR 1.5 bpm off (0.025 Hz, 0.05 Hz at the harmonic) keeps both tones inside
    assert snr(x, FS, 73.5) == pytest.approx(10 * math.log10(ratio), abs=1e-9)
    # a wider band takes in the 5 Hz tone as noise
    wide = (1.0 + 0.25) / (0.04 + 9.0)
    assert snr(x, FS, 72.0, high=6.0) == pytest.approx(10 * math.log10(wide), abs=1e-9)
    # with the 3 Hz tone inside the 2nd-harmonic interval of 90 bpm it counts as signal
    x2 = _tones(t, [(1.5, 1.0), (3.05, 0.2), (1.0, 0.5)])
    assert snr(x2, FS, 90.0) == pytest.approx(10 * math.log10(1.04 / 0.25), abs=1e-9)


def _pulse(n: int, bpm: float, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n) / FS
    clean = np.sin(2 * np.pi * bpm / 60 * t) + 0.4 * np.sin(2 * np.pi * 2 * bpm / 60 * t + 1.0)
    noisy = clean + noise * np.random.default_rng(seed).standard_normal(t.size)
    return clean, noisy


def test_evaluate_windows_known_answer() -> None:
    clean, noisy = _pulse(2850, 72.0, seed=0, noise=0.3)
    hr_series = np.full(95_000, 72.0)  # per-beat HR held at 1 kHz
    df = evaluate_windows(
        noisy, FS, reference_waveform=clean, reference_hr_series=hr_series, reference_hr_fs=1000
    )
    assert list(df["start_s"]) == [0.0, 30.0, 60.0]
    assert list(df["end_s"]) == [30.0, 60.0, 90.0]
    assert df.attrs["unevaluated_s"] == pytest.approx(5.0)
    assert df.attrs["nfft"] == 3600
    np.testing.assert_allclose(df["hr_estimate"], 72.0)  # 0.5 bpm bins: 72 is on the grid
    np.testing.assert_allclose(df["abs_error"], 0.0)
    assert (df["snr_db"] > 3).all()
    assert (df["wmae"] < 0.2).all()
    # the reference waveform alone gives the same reference HR spectrally
    alone = evaluate_windows(noisy, FS, reference_waveform=clean)
    np.testing.assert_allclose(alone["hr_reference"], 72.0)
    # a shorter HR series limits the windows to those it covers
    short = evaluate_windows(noisy, FS, reference_hr_series=hr_series[:61_000],
                             reference_hr_fs=1000)
    assert len(short) == 2
    assert short["wmae"].isna().all()


def test_evaluate_windows_without_ground_truth_still_estimates() -> None:
    _, noisy = _pulse(1800, 84.0, seed=1, noise=0.2)
    df = evaluate_windows(noisy, FS)
    np.testing.assert_allclose(df["hr_estimate"], 84.0)
    assert df[["hr_reference", "abs_error", "snr_db", "wmae"]].isna().all().all()


def test_evaluate_video_integrates_the_derivative() -> None:
    clean, noisy = _pulse(2048, 78.0, seed=2, noise=0.2)  # nfft = 2048
    derivative = np.diff(noisy, prepend=noisy[0])
    row = evaluate_video(derivative, FS, reference_waveform=clean)
    bin_bpm = 60 * FS / 2048
    assert row["hr_estimate"] == pytest.approx(78.0, abs=bin_bpm / 2)
    assert row["hr_reference"] == pytest.approx(78.0, abs=bin_bpm / 2)
    assert row["snr_db"] > 0
    assert row["duration_s"] == pytest.approx(2048 / FS)
    peaks = evaluate_video(derivative, FS, reference_hr=78.0, hr_method="peaks")
    assert peaks["hr_estimate"] == pytest.approx(78.0, abs=0.5)
    assert peaks["abs_error"] == pytest.approx(abs(peaks["hr_estimate"] - 78.0))


def test_summarize_per_method() -> None:
    rows = pd.DataFrame({
        "method": ["a"] * 4 + ["b"] * 3,
        "hr_estimate": [*EST, 60.0, 61.0, 62.0],
        "hr_reference": [*REF, 60.0, 60.0, np.nan],
        "snr_db": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 9.0],
        "wmae": [0.1, 0.2, 0.3, 0.4, np.nan, np.nan, np.nan],
    })
    table = summarize(rows).set_index("method")
    a, b = table.loc["a"], table.loc["b"]
    assert a["n"] == 4
    assert a["mae"] == pytest.approx(mae(EST, REF).value)
    assert a["mae_se"] == pytest.approx(mae(EST, REF).std_error)
    assert a["rmse"] == pytest.approx(rmse(EST, REF).value)
    assert a["mape"] == pytest.approx(mape(EST, REF).value)
    assert a["pearson_r"] == pytest.approx(pearson(EST, REF).value)
    assert a["snr_db"] == pytest.approx(2.5)
    assert a["snr_db_se"] == pytest.approx(np.std([1, 2, 3, 4]) / 2)
    assert a["wmae"] == pytest.approx(0.25)
    # b: the row without a reference is counted but not used; 2 pairs: r undefined
    assert (b["n"], b["n_rows"]) == (2, 3)
    assert b["mae"] == pytest.approx(0.5)
    assert math.isnan(b["pearson_r"])
    assert b["snr_db"] == pytest.approx(7.0)
    assert math.isnan(b["wmae"])


def test_summarize_accepts_video_rows_without_method() -> None:
    rows = [{"hr_estimate": e, "hr_reference": r} for e, r in zip(EST, REF, strict=True)]
    table = summarize(rows)
    assert list(table["method"]) == ["all"]
    assert table.loc[0, "rmse"] == pytest.approx(math.sqrt(33 / 4))

"""The claims read from intervals over subjects (notebooks 04 and 06: method_table, verdicts,
region_verdicts) and the linear reference's glue (linear_denoised), on constructed windows with
known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from study_clips import FS, estimates_for, face_clip, gt_clip

from rppg_lib.denoiser import linear_denoise
from rppg_lib.stats import VERDICT_COLUMNS
from rppg_lib.steps.evaluation import (
    BR_LSTM_SUFFIX,
    METHOD_TABLE_COLUMNS,
    br_verdicts,
    clip_signals,
    method_labels,
    method_table,
    verdicts,
)
from rppg_lib.steps.inverse_attention_noise import region_verdicts
from rppg_lib.steps.lstm_denoising import linear_denoised

LABELS = method_labels("TS-CAN")


def _rows(subjects: int, windows: int = 2) -> pd.DataFrame:
    """HR windows of ``subjects`` subjects (one illumination clip each): the network errs by
    3-5 bpm, the LSTM by 2 bpm less on every window with 1 dB more SNR; the linear filter equals
    the network; the pulse-only LSTM is 1 bpm worse than the LSTM on every window."""
    rng = np.random.default_rng(0)
    n = subjects * windows
    subject = np.repeat([f"s{i:02d}" for i in range(subjects)], windows)
    reference = 70.0 + rng.normal(0, 8, n)
    error = 3.0 + 2.0 * rng.random(n)
    snr = rng.normal(0, 2, n)
    base = {"scenario": "illumination", "subject": subject, "clip_id": subject,
            "window": np.tile(np.arange(windows), subjects), "hr_reference": reference}
    tables = []
    for label, shift, gain in ((LABELS["network"], 0.0, 0.0), (LABELS["rgb+pulse"], -2.0, 1.0),
                               (LABELS["pulse"], -1.0, 0.5),
                               (LABELS["linear_rgb_pulse"], 0.0, 0.0)):
        tables.append(pd.DataFrame({**base, "method": label, "hr_estimate": reference + error
                                    + shift, "abs_error": error + shift, "snr_db": snr + gain}))
    return pd.concat(tables, ignore_index=True)


def test_method_table_gives_each_metric_with_its_interval_over_subjects():
    rows = _rows(12)
    table = method_table(rows, n_resamples=2000, seed=0)
    assert tuple(table.columns) == METHOD_TABLE_COLUMNS and len(table) == 4
    net = table.set_index("method").loc[LABELS["network"]]
    mine = rows[rows["method"] == LABELS["network"]]
    assert net["mae_bpm"] == pytest.approx(mine["abs_error"].mean())
    assert net["rmse_bpm"] == pytest.approx(np.sqrt(np.mean(mine["abs_error"] ** 2)))
    assert net["r"] == pytest.approx(np.corrcoef(mine["hr_estimate"], mine["hr_reference"])[0, 1])
    assert (net["n_windows"], net["n_subjects"]) == (24, 12)
    for metric in ("mae", "rmse", "snr"):
        low, high = net[f"{metric}_ci_low"], net[f"{metric}_ci_high"]
        value = net["mae_bpm" if metric == "mae" else "rmse_bpm" if metric == "rmse" else "snr_db"]
        assert low < value < high
    assert net["r_ci_low"] < net["r"] <= net["r_ci_high"] <= 1.0
    assert method_table(rows, seed=0).equals(table)  # seeded


def test_verdicts_hold_fail_or_stay_undecided_from_the_interval():
    rows = _rows(12)
    out = verdicts(rows, network="TS-CAN", n_resamples=2000, seed=0)
    assert tuple(out.columns) == VERDICT_COLUMNS
    got = out.set_index(["claim", "metric"])["verdict"]
    claim_of = out.groupby("claim", sort=False)["claim_verdict"].agg(set).to_dict()
    assert all(len(v) == 1 for v in claim_of.values())  # one verdict per claim, on every row
    # claim 1: 2 bpm less and 1 dB more on every window: both intervals are a point above 0
    assert got[("1", "HR MAE reduction (bpm)")] == "holds"
    assert out.set_index(["claim", "metric"]).loc[("1", "HR MAE reduction (bpm)"), "ci_low"] \
        == pytest.approx(2.0)
    assert claim_of["1"] == {"holds"} and claim_of["2"] == {"holds"}
    # the linear filter equals the network: the paired interval is [0, 0], undecided
    linear = out[(out["claim"] == "linear") & (out["metric"] == "SNR gain (dB)")].iloc[0]
    assert (linear["ci_low"], linear["ci_high"], linear["verdict"]) == (0.0, 0.0, "undecided")
    assert claim_of["lstm-vs-linear"] == {"holds"} and claim_of["linear"] == {"undecided"}
    assert "linear-oracle" not in set(out["claim"])  # its method is absent
    # the other way round, the network against the LSTM, fails
    worse = rows.replace({LABELS["network"]: "tmp"}).replace(
        {LABELS["rgb+pulse"]: LABELS["network"]}).replace({"tmp": LABELS["rgb+pulse"]})
    assert set(verdicts(worse).query("claim == '1'")["claim_verdict"]) == {"fails"}
    # two subjects: never decided, whatever the interval
    two = verdicts(_rows(2))
    assert set(two["verdict"]) == {"undecided"}
    assert (two["n_subjects"] == 2).all() and "3 distinct resample(s)" in two["reason"].iloc[0]
    assert set(two["claim_verdict"]) == {"undecided"}
    assert "3 distinct resample(s)" in two["claim_reason"].iloc[0]
    with pytest.raises(ValueError, match="no comparison has both methods"):
        verdicts(rows, scenario="clean")
    with pytest.raises(ValueError, match="hr_rows must be"):
        verdicts(rows.drop(columns="subject"))


def test_region_verdicts_bootstrap_the_r_difference_over_subjects():
    subjects = [f"s{i:02d}" for i in range(12)]
    table = pd.DataFrame({
        "clip_id": np.repeat(subjects, 3), "subject": np.repeat(subjects, 3),
        "channel": ["red", "green", "blue"] * 12,
        "r_inverse": np.linspace(0.5, 0.9, 36),
    })
    table["r_attention"] = table["r_inverse"] - 0.3
    out = region_verdicts(table, seed=0)
    assert tuple(out.columns) == VERDICT_COLUMNS and set(out["claim"]) == {"3"}
    assert list(out["metric"].str.split(", ").str[-1]) == ["all channels", "red", "green", "blue"]
    assert set(out["verdict"]) == {"holds"} and set(out["claim_verdict"]) == {"holds"}
    assert out["ci_low"].iloc[0] == pytest.approx(0.3) and out["n_windows"].iloc[0] == 36
    flipped = table.assign(r_attention=table["r_inverse"] + 0.1)
    assert set(region_verdicts(flipped)["claim_verdict"]) == {"fails"}
    few = region_verdicts(table[table["subject"].isin(subjects[:2])])
    assert set(few["verdict"]) == {"undecided"}
    with pytest.raises(ValueError, match="table must be"):
        region_verdicts(table.drop(columns="subject"))


def test_linear_denoised_filters_each_clip_with_its_estimates_and_the_light():
    est = estimates_for(300)
    light = {"c1": dataclasses.replace(est, conditioned=np.roll(est.conditioned, 7, axis=0))}
    out = linear_denoised({"c1": est}, light, window_s=5.0)
    np.testing.assert_allclose(out["c1"]["linear_rgb_pulse"], linear_denoise(
        est.pulse_conditioned, est.conditioned, FS, window_s=5.0))
    np.testing.assert_allclose(out["c1"]["linear_light_pulse"], linear_denoise(
        est.pulse_conditioned, light["c1"].conditioned, FS, window_s=5.0))
    assert set(linear_denoised({"c1": est})["c1"]) == {"linear_rgb_pulse"}
    with pytest.raises(ValueError, match="estimates is empty"):
        linear_denoised({})
    # clip_signals labels them next to the LSTMs
    _, pre, _ = face_clip(300)
    item = clip_signals(gt_clip(300), pre, est, out["c1"], baselines=())
    assert list(item.pulse) == ["TS-CAN", LABELS["linear_rgb_pulse"], LABELS["linear_light_pulse"]]
    assert LABELS["linear_rgb_pulse"] == "TS-CAN + linear (inverse attention)"


def test_br_verdicts_relabel_the_breathing_comparisons():
    """The same paired intervals as for HR, on BR rows: the breathing network (here the rows'
    LSTM, 2 breaths/min better than the pulse network on every window) holds against it; a
    missing BR LSTM leaves its comparison out; no comparable method is a ValueError."""
    rows = _rows(12)
    mtts = "MTTS-CAN (resp)"
    rows["method"] = rows["method"].replace({LABELS["rgb+pulse"]: mtts})
    table = br_verdicts(rows, mtts, network=LABELS["network"], seed=0)
    assert set(table["claim"]) == {"br-network"}
    assert set(table["metric"]) == {"BR MAE reduction (breaths/min)", "SNR gain (dB)"}
    mae = table.set_index("metric").loc["BR MAE reduction (breaths/min)"]
    assert mae["estimate"] == pytest.approx(2.0) and mae["verdict"] == "holds"
    with pytest.raises(ValueError, match="no comparison has both methods"):
        br_verdicts(rows, "no such network" + BR_LSTM_SUFFIX, network="none")

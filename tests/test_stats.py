"""Cluster bootstrap over subjects and the verdicts read from its intervals (rppg_lib.stats), on
simulated clustered data with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rppg_lib.stats import (
    MIN_SUBJECTS,
    Interval,
    cluster_bootstrap,
    combine,
    distinct_resamples,
    paired_cluster_bootstrap,
    verdict,
)

TRUE_MEAN = 5.0


def _clustered(seed: int, subjects: int, windows: int = 4, between: float = 2.0,
               within: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``subjects`` subjects: TRUE_MEAN + a subject effect + window noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(subjects), windows)
    effects = rng.normal(0, between, subjects)[labels]
    values = TRUE_MEAN + effects + rng.normal(0, within, labels.size)
    return values, labels


def test_interval_covers_the_true_mean_at_about_the_nominal_rate():
    # 14 subjects (the study's test split), 200 seeds: the 95 % interval covers the truth in
    # 188 of 200 (measured 0.94); a binomial at 0.95 falls below 0.90 with probability ~0.1 %.
    covered = 0
    for seed in range(200):
        values, labels = _clustered(seed, 14)
        iv = cluster_bootstrap(values, labels, seed=seed, n_resamples=2000)
        covered += iv.low <= TRUE_MEAN <= iv.high
    assert covered / 200 >= 0.90


def test_interval_resamples_subjects_not_windows():
    # Same windows, subject effects four times larger: the interval widens with them; pooling
    # the windows as if independent (one subject per window) gives a narrower interval.
    widths = {}
    for between in (0.5, 2.0):
        values, labels = _clustered(3, 12, between=between)
        iv = cluster_bootstrap(values, labels, seed=1)
        widths[between] = iv.high - iv.low
    assert widths[2.0] > 2.5 * widths[0.5]
    values, labels = _clustered(3, 12, between=2.0)
    as_windows = cluster_bootstrap(values, np.arange(values.size), seed=1)
    assert as_windows.high - as_windows.low < 0.7 * widths[2.0]


def test_bootstrap_is_seeded_and_the_estimate_is_the_statistic_of_all_rows():
    values, labels = _clustered(0, 10)
    a = cluster_bootstrap(values, labels, seed=7)
    assert a == cluster_bootstrap(values, labels, seed=7)
    assert a != cluster_bootstrap(values, labels, seed=8)
    assert a.estimate == pytest.approx(values.mean(), abs=1e-12)
    assert (a.n_subjects, a.n_windows) == (10, 40)
    rmse = cluster_bootstrap(values, labels, "rmse")
    assert rmse.estimate == pytest.approx(np.sqrt(np.mean(values**2)), abs=1e-12)
    pairs = np.c_[values, 2 * values + np.sin(np.arange(values.size))]
    r = cluster_bootstrap(pairs, labels, "pearson")
    assert r.estimate == pytest.approx(np.corrcoef(pairs.T)[0, 1], abs=1e-12)
    assert -1 <= r.low <= r.estimate <= r.high <= 1


def test_paired_interval_of_identical_methods_is_zero_and_a_shift_is_found():
    values, labels = _clustered(2, 12)
    same = paired_cluster_bootstrap(values, values, labels)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    # b is a worse by 1.5 on every window: MAE_b − MAE_a is exactly 1.5 in every resample
    shifted = paired_cluster_bootstrap(values + 1.5, values, labels)
    assert shifted.low == pytest.approx(1.5) and shifted.high == pytest.approx(1.5)
    pairs = np.c_[values, values]
    r_same = paired_cluster_bootstrap(pairs, pairs, labels, "pearson")
    assert (r_same.low, r_same.high) == (0.0, 0.0)


def test_verdicts_from_intervals_and_subject_counts():
    def iv(low: float, high: float, n: int = 14) -> Interval:
        return Interval((low + high) / 2, low, high, n, 4 * n)

    assert verdict(iv(0.2, 1.0))[0] == "holds"
    assert verdict(iv(-1.0, -0.1))[0] == "fails"
    state, reason = verdict(iv(-0.5, 1.0))
    assert state == "undecided" and "contains 0" in reason
    # two test subjects: only 3 distinct resamples, never decided however far from 0
    state, reason = verdict(iv(3.0, 4.0, n=2))
    assert state == "undecided" and "3 distinct resample(s)" in reason
    assert verdict(iv(3.0, 4.0, n=MIN_SUBJECTS - 1))[0] == "undecided"
    assert verdict(iv(3.0, 4.0, n=MIN_SUBJECTS))[0] == "holds"
    assert verdict(iv(float("nan"), float("nan")))[0] == "undecided"
    assert [distinct_resamples(n) for n in (1, 2, 3, 4)] == [1, 3, 10, 35]
    assert combine(["holds", "holds"])[0] == "holds"
    assert combine(["holds", "fails"])[0] == "fails"
    assert combine(["holds", "undecided"])[0] == "undecided"


def test_one_subject_has_no_interval():
    iv = cluster_bootstrap([1.0, 2.0, 3.0], ["a", "a", "a"])
    assert iv.estimate == 2.0 and np.isnan(iv.low) and np.isnan(iv.high)
    assert verdict(iv)[0] == "undecided"


def test_an_undefined_statistic_gives_an_undefined_interval_without_warnings():
    # r of two windows of one subject drawn twice is undefined where its references are equal
    pairs = np.c_[[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 6.0, 7.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        iv = cluster_bootstrap(pairs, ["a", "a", "b", "b"], "pearson")
    assert iv.estimate == pytest.approx(np.corrcoef(pairs.T)[0, 1])
    assert np.isnan(iv.low) and np.isnan(iv.high)
    assert verdict(iv, min_subjects=2)[1].startswith("the interval is undefined")


def test_bad_inputs_name_the_parameter():
    values, labels = _clustered(0, 4)
    with pytest.raises(ValueError, match="statistic"):
        cluster_bootstrap(values, labels, "median")
    with pytest.raises(ValueError, match="subjects"):
        cluster_bootstrap(values, labels[:-1])
    with pytest.raises(ValueError, match="values"):
        cluster_bootstrap(np.r_[values[:-1], np.nan], labels)
    with pytest.raises(ValueError, match="values"):
        cluster_bootstrap(values, labels, "pearson")
    with pytest.raises(ValueError, match="values_a and values_b"):
        paired_cluster_bootstrap(values, values[:-1], labels)
    with pytest.raises(ValueError, match="n_resamples"):
        cluster_bootstrap(values, labels, n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        cluster_bootstrap(values, labels, confidence=95)
    with pytest.raises(ValueError, match="seed"):
        cluster_bootstrap(values, labels, seed=-1)
    with pytest.raises(ValueError, match="method"):
        cluster_bootstrap(values, labels, method="basic")
    with pytest.raises(ValueError, match="min_subjects"):
        verdict(cluster_bootstrap(values, labels), min_subjects=0)
    with pytest.raises(ValueError, match="verdicts entry"):
        combine(["holds", "maybe"])

r"""Confidence intervals over subjects, and the verdict a comparison reads from its interval.

Windows of one subject are not independent (same face, same heart, same light), so every
interval here is a **cluster bootstrap over subjects**: a resample draws ``n_subjects`` subjects
with replacement and keeps *all* windows of each drawn subject. :func:`cluster_bootstrap` gives
the interval of one method's statistic (MAE, RMSE, Pearson r, mean SNR of per-window rows);
:func:`paired_cluster_bootstrap` that of the difference between two methods evaluated on the same
windows (both statistics computed on the same resample of subjects). The resampling is
``scipy.stats.bootstrap`` over subject indices, vectorised: each subject's window sums are
computed once and a resample's statistic is a weighted sum of them, so 2,000 resamples of a
whole method table take well under a second.

**Interval.** Percentile, 95 %, :data:`N_RESAMPLES` = 2,000 resamples, seeded (the same seed
gives the same interval). Percentile rather than BCa: it is defined for every resample
distribution (two identical methods give exactly [0, 0], where BCa's acceleration is 0/0), and
BCa's jackknife over a dozen subjects is itself noisy. ``method="BCa"`` is available.

**Verdict** (:func:`verdict`), for an *improvement* (positive = better: an MAE reduction, an SNR
gain): ``"holds"`` when the whole interval lies above zero, ``"fails"`` when it lies below zero,
``"undecided"`` otherwise, and always ``"undecided"`` when fewer than :data:`MIN_SUBJECTS`
subjects were resampled. A cluster bootstrap over n subjects has only C(2n − 1, n) distinct
resamples (3 for two subjects, 35 for four) and its interval is too narrow for small n: on
simulated clustered data (4 windows per subject, between-subject sd twice the within-subject sd;
``tests/test_stats.py``) the 95 % interval of a mean covered the truth in 72 % of 200 seeds with
3 subjects, 88.5 % with 6, 89.5 % with 8, 91 % with 10 and 94 % with 14. A claim
with several metrics (:func:`combine`) holds when every metric holds, fails when any fails, and
is undecided otherwise; :func:`verdict_rows` gives one row per metric, each with the metric's
``verdict`` and the claim's ``claim_verdict``. A claim may be tested at several ``level``\ s (the
masks it is computed from, a condition): each level has rows and a claim verdict of its own.
Across repeated runs (seeds) a row's verdict is the common one, undecided when the runs disagree
(:func:`across_runs`). This module is the suite's only verdict rule.

**Records.** What a step hands to a run's report and to a study is declared here, once:
:data:`RECORDS` names the two records (the verdict rows and the method table) and the columns
that identify a row of each.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from rppg_lib.validation import check_choice, check_positive_int, show

__all__ = [
    "STATISTICS",
    "N_RESAMPLES",
    "CONFIDENCE",
    "MIN_SUBJECTS",
    "VERDICTS",
    "Interval",
    "cluster_bootstrap",
    "paired_cluster_bootstrap",
    "distinct_resamples",
    "interval_verdict",
    "verdict",
    "combine",
    "across_runs",
    "VERDICT_COLUMNS",
    "verdict_rows",
    "VERDICTS_RECORD",
    "METHOD_TABLE_RECORD",
    "RECORDS",
]

# "mean" of values (n,), "rmse" = sqrt(mean(values²)) of errors (n,), "pearson" r of pairs (n, 2).
STATISTICS = ("mean", "rmse", "pearson")
N_RESAMPLES = 2000
CONFIDENCE = 0.95
# Fewest subjects for which a cluster-bootstrap interval decides anything (see the docstring).
MIN_SUBJECTS = 10
VERDICTS = ("holds", "fails", "undecided")
INTERVAL_METHODS = ("percentile", "BCa")
# The keys of a verdict row (:func:`verdict_rows`), the contract of the report's claims table.
VERDICT_COLUMNS = ("claim", "statement", "scenario", "level", "metric", "estimate", "ci_low",
                   "ci_high", "n_subjects", "n_windows", "verdict", "reason", "claim_verdict",
                   "claim_reason")
# The records a step makes for the report and the study: {record name: the columns naming a row}.
VERDICTS_RECORD = "verdicts"  # verdict rows (VERDICT_COLUMNS)
METHOD_TABLE_RECORD = "method_table"  # one row per scenario and method, metrics with intervals
RECORDS: dict[str, tuple[str, ...]] = {
    VERDICTS_RECORD: ("claim", "level", "metric", "scenario"),
    METHOD_TABLE_RECORD: ("scenario", "method"),
}
BOOTSTRAP_DEFAULTS: dict[str, Any] = {"n_resamples": N_RESAMPLES, "confidence": CONFIDENCE,
                                      "method": "percentile", "seed": 0}


@dataclass(frozen=True)
class Interval:
    """A statistic's ``estimate`` on all rows and its bootstrap interval [``low``, ``high``]
    (NaN with fewer than two subjects), over ``n_subjects`` clusters and ``n_windows`` rows."""

    estimate: float
    low: float
    high: float
    n_subjects: int
    n_windows: int
    confidence: float = CONFIDENCE
    method: str = "percentile"
    n_resamples: int = N_RESAMPLES


def distinct_resamples(n_subjects: int) -> int:
    """Number of distinct cluster-bootstrap resamples (multisets) of ``n_subjects``:
    C(2n − 1, n)."""
    n = check_positive_int(n_subjects, "n_subjects")
    return math.comb(2 * n - 1, n)


def _values(values: Any, statistic: str, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    want = 2 if statistic == "pearson" else 1
    if arr.ndim != want or (want == 2 and arr.shape[1] != 2):
        shape = "(n, 2) pairs" if want == 2 else "(n,)"
        raise ValueError(f"{name} must have shape {shape} for statistic {statistic!r}, "
                         f"got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds non-finite values (drop those windows first)")
    return arr


def _codes(subjects: Any, n: int) -> tuple[np.ndarray, int]:
    labels = np.asarray(subjects)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"subjects must be one label per row ({n}), got shape {labels.shape}")
    _, codes = np.unique(labels, return_inverse=True)
    return codes.ravel(), int(codes.max()) + 1


def _moments(values: np.ndarray, codes: np.ndarray, k: int, statistic: str) -> np.ndarray:
    """Per-subject sums (k, m) from which ``statistic`` of any union of subjects follows."""
    if statistic == "mean":
        columns = [np.ones(len(values)), values]
    elif statistic == "rmse":
        columns = [np.ones(len(values)), values**2]
    else:  # pearson, on values centred by the overall means (shift-invariant, better conditioned)
        x, y = (values - values.mean(axis=0)).T
        columns = [np.ones(len(x)), x, y, x * x, y * y, x * y]
    return np.stack([np.bincount(codes, weights=c, minlength=k) for c in columns], axis=1)


def _from_sums(sums: np.ndarray, statistic: str) -> np.ndarray:
    """The statistic from summed moments (..., m); NaN where it is undefined (r of a constant)."""
    n = sums[..., 0]
    if statistic == "mean":
        return sums[..., 1] / n
    if statistic == "rmse":
        return np.sqrt(sums[..., 1] / n)
    sx, sy, sxx, syy, sxy = (sums[..., i] for i in range(1, 6))
    cov, vx, vy = n * sxy - sx * sy, n * sxx - sx * sx, n * syy - sy * sy
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = np.sqrt(vx * vy)
        r = np.where(denom > 1e-12 * n * n, cov / denom, np.nan)
    return np.clip(r, -1.0, 1.0)


def _bootstrap(
    statistic_of_sums: Callable[[np.ndarray], np.ndarray],
    n_clusters: int,
    n_rows: int,
    *,
    n_resamples: int,
    confidence: float,
    method: str,
    seed: int,
) -> Interval:
    """Percentile/BCa interval of ``statistic_of_sums(counts)`` with counts (..., n_clusters) the
    number of times each subject is drawn."""
    n_resamples = check_positive_int(n_resamples, "n_resamples")
    check_choice(method, "method", INTERVAL_METHODS)
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {show(confidence)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {show(seed)}")
    estimate = float(statistic_of_sums(np.ones(n_clusters)))
    low = high = math.nan
    if n_clusters >= 2:
        def on_indices(idx: np.ndarray, axis: int = -1) -> np.ndarray:
            idx = np.moveaxis(np.asarray(idx), axis, -1)
            counts = (idx[..., None] == np.arange(n_clusters)).sum(axis=-2)
            return statistic_of_sums(counts.astype(np.float64))

        # A resample whose statistic is undefined (r of constant values) makes the interval NaN;
        # scipy then warns about BCa even for a percentile interval: the NaN is the answer.
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
            result = scipy.stats.bootstrap(
                (np.arange(n_clusters),), on_indices, n_resamples=n_resamples,
                confidence_level=float(confidence), method=method, vectorized=True,
                rng=np.random.default_rng(int(seed)),
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Interval(estimate, low, high, n_clusters, n_rows, float(confidence), method,
                    n_resamples)


def cluster_bootstrap(
    values: Any,
    subjects: Any,
    statistic: str = "mean",
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    method: str = "percentile",
    seed: int = 0,
) -> Interval:
    """Interval of ``statistic`` of per-window ``values`` resampled by subject.

    values: (n,) for "mean" (e.g. absolute HR errors in bpm, SNRs in dB) and "rmse" (signed
    errors), (n, 2) (estimate, reference) pairs for "pearson"; subjects: (n,) the subject of each
    row. Deterministic for a given ``seed``.
    """
    check_choice(statistic, "statistic", STATISTICS)
    arr = _values(values, statistic, "values")
    codes, k = _codes(subjects, len(arr))
    sums = _moments(arr, codes, k, statistic)
    return _bootstrap(lambda w: _from_sums(w @ sums, statistic), k, len(arr),
                      n_resamples=n_resamples, confidence=confidence, method=method, seed=seed)


def paired_cluster_bootstrap(
    values_a: Any,
    values_b: Any,
    subjects: Any,
    statistic: str = "mean",
    **options: Any,
) -> Interval:
    """Interval of statistic(a) − statistic(b) for two methods on the same windows.

    values_a, values_b: row i of both is the same window (shapes as in :func:`cluster_bootstrap`);
    subjects: (n,) the subject of each window. Each resample of subjects is applied to both
    methods (a paired comparison). For an improvement pass the better-is-positive order, e.g.
    MAE: (errors of b, errors of a) gives MAE_b − MAE_a. options: n_resamples, confidence,
    method, seed as for :func:`cluster_bootstrap`.
    """
    check_choice(statistic, "statistic", STATISTICS)
    a, b = _values(values_a, statistic, "values_a"), _values(values_b, statistic, "values_b")
    if a.shape != b.shape:
        raise ValueError(f"values_a and values_b must be the same windows, got shapes {a.shape} "
                         f"and {b.shape}")
    codes, k = _codes(subjects, len(a))
    sums_a, sums_b = _moments(a, codes, k, statistic), _moments(b, codes, k, statistic)

    def difference(w: np.ndarray) -> np.ndarray:
        return _from_sums(w @ sums_a, statistic) - _from_sums(w @ sums_b, statistic)

    return _bootstrap(difference, k, len(a), **{**BOOTSTRAP_DEFAULTS, **options})


def verdict(interval: Interval, *, min_subjects: int = MIN_SUBJECTS) -> tuple[str, str]:
    """("holds" | "fails" | "undecided", reason) of an improvement's interval (positive =
    better; see the module docstring for the rule)."""
    if not isinstance(interval, Interval):
        raise ValueError(f"interval must be an Interval, got {type(interval).__name__}")
    minimum = check_positive_int(min_subjects, "min_subjects")
    n = interval.n_subjects
    level = f"{100 * interval.confidence:g} %"
    if n < minimum:
        return "undecided", (
            f"{n} subject(s), fewer than the {minimum} a cluster bootstrap needs: "
            f"{distinct_resamples(n)} distinct resample(s) of {n} subject(s)"
        )
    low, high = interval.low, interval.high
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undecided", "the interval is undefined (the statistic is undefined on resamples)"
    state = interval_verdict(low, high)
    where = {"holds": "lies above", "fails": "lies below", "undecided": "contains"}[state]
    return state, f"the {level} interval [{low:.3g}, {high:.3g}] over {n} subjects {where} 0"


def interval_verdict(low: float, high: float, threshold: float = 0.0) -> str:
    """"holds" when the interval [low, high] lies wholly above ``threshold``, "fails" when it
    lies wholly below, "undecided" otherwise (also for a NaN end). :func:`verdict` applies it to
    an improvement over subjects; a benchmark to a ratio against its target."""
    if low > threshold:
        return "holds"
    return "fails" if high < threshold else "undecided"


def across_runs(verdicts: Sequence[str | None]) -> tuple[str, str]:
    """The verdict of one row over repeated runs (seeds), with its reason: the runs' common
    verdict; "undecided" when they disagree or a run lacks the row (None)."""
    items = list(verdicts)
    if not items:
        raise ValueError("verdicts is empty: no run to read")
    for v in items:
        if v is not None:
            check_choice(v, "verdicts entry", VERDICTS)
    if None in items:
        return "undecided", f"{items.count(None)} of {len(items)} run(s) lack the row"
    if len(set(items)) == 1:
        return items[0], f"all {len(items)} run(s) agree"
    counts = ", ".join(f"{items.count(v)} {v}" for v in VERDICTS if v in items)
    return "undecided", f"the {len(items)} runs disagree ({counts})"


def combine(verdicts: Sequence[str]) -> tuple[str, str]:
    """Overall verdict of a claim over its metrics: holds when every metric holds, fails when
    any fails, undecided otherwise."""
    items = [check_choice(v, "verdicts entry", VERDICTS) for v in verdicts]
    if not items:
        raise ValueError("verdicts is empty")
    if "fails" in items:
        return "fails", f"{items.count('fails')} of {len(items)} metric(s) fail"
    if all(v == "holds" for v in items):
        return "holds", f"all {len(items)} metric(s) hold"
    return "undecided", f"{items.count('undecided')} of {len(items)} metric(s) undecided"


def verdict_rows(
    claim: str,
    statement: str,
    scenario: str,
    intervals: Mapping[str, Interval],
    *,
    level: str = "",
    min_subjects: int = MIN_SUBJECTS,
) -> list[dict[str, Any]]:
    """Rows (keys :data:`VERDICT_COLUMNS`) of one claim at one ``level`` ("" when the claim has
    a single one), one per metric of ``intervals`` ({metric label: interval of the improvement,
    positive = better}): the metric's estimate, interval, n, :func:`verdict` and reason, and on
    every row the claim's verdict at this level over all its metrics (``claim_verdict``,
    :func:`combine`) with ``claim_reason`` (naming the first metric that does not hold)."""
    if not intervals:
        raise ValueError(f"intervals is empty: claim {claim!r} has no metric")
    rows = []
    for metric, interval in intervals.items():
        state, reason = verdict(interval, min_subjects=min_subjects)
        rows.append({"claim": claim, "statement": statement, "scenario": scenario,
                     "level": str(level), "metric": metric, "estimate": interval.estimate,
                     "ci_low": interval.low, "ci_high": interval.high,
                     "n_subjects": interval.n_subjects, "n_windows": interval.n_windows,
                     "verdict": state, "reason": reason})
    state, reason = combine([row["verdict"] for row in rows])
    if state != "holds":  # say why: the first metric that does not hold
        first = next(r for r in rows if r["verdict"] == state)
        reason += f"; {first['metric']}: {first['reason']}"
    return [{**row, "claim_verdict": state, "claim_reason": reason} for row in rows]

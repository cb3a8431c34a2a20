"""The answer of a run, read from its records: the claims' verdicts and the method comparison.

Verdict rows come from any ``verdicts`` record (a list of rows: claim, statement, scenario,
metric, estimate, ci_low, ci_high, n_subjects, n_windows, verdict), in notebook order. Runs
without them get rows derived from the claim records of notebooks 06 (``claim1``, ``claim2``)
and 04 (``claim3``): the estimate with estimate ± 1.96 standard errors as its interval.

Method rows come from ``06_evaluation.method_table`` when recorded, else from the HR summary
(``06_evaluation.hr_summary`` or ``tables/06_evaluation_hr.csv``), intervals ± 1.96 SE.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["VERDICTS", "Z95", "interval_verdict", "verdict_rows", "method_rows"]

VERDICTS = ("holds", "fails", "undecided")
Z95 = 1.959963984540054  # two-sided 95 % normal quantile
EVALUATION = "06_evaluation"
NOISE = "04_inverse_attention_noise"
HR_TABLE = "tables/06_evaluation_hr.csv"

# A method row's column: (HR summary column, its standard-error column, interval prefix).
_FROM_SUMMARY = {
    "mae_bpm": ("mae", "mae_se", "mae"),
    "rmse_bpm": ("rmse", "rmse_se", "rmse"),
    "r": ("pearson_r", "pearson_r_se", "r"),
    "snr_db": ("snr_db", "snr_db_se", "snr"),
}

def _section(metrics: dict, name: str) -> dict:
    section = metrics.get(name)
    return section if isinstance(section, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def interval_verdict(ci_low: float | None, ci_high: float | None, threshold: float = 0.0) -> str:
    """``holds`` when the whole interval lies above ``threshold``, ``fails`` when it lies below,
    else ``undecided`` (also when an end is missing)."""
    if ci_low is None or ci_high is None:
        return "undecided"
    if ci_low > threshold:
        return "holds"
    return "fails" if ci_high < threshold else "undecided"


def _derived_row(claim: str, statement: str, metric: str, estimate: Any, se: Any,
                 threshold: float = 0.0, **counts: Any) -> dict[str, Any]:
    est, err = _number(estimate), _number(se)
    low = high = None
    if est is not None and err is not None:
        low, high = est - Z95 * err, est + Z95 * err
    return {"claim": claim, "statement": statement, "metric": metric, "estimate": est,
            "ci_low": low, "ci_high": high, "verdict": interval_verdict(low, high, threshold),
            **counts}


def _claims_1_2(metrics: dict, scenario: str) -> list[dict[str, Any]]:
    rows = []
    for name in ("claim1", "claim2"):
        claim = _section(metrics, EVALUATION).get(name)
        if not isinstance(claim, dict):
            continue
        statement = f"The LSTM with the corruption estimates beats {claim.get('versus', '?')}"
        counts = {"scenario": claim.get("scenario", scenario), "n_windows": claim.get("n_windows"),
                  "n_clips": claim.get("n_clips")}
        rows.append(_derived_row(name[-1], statement + ": higher SNR", "SNR gain (dB)",
                                 claim.get("snr_gain_db"), claim.get("snr_gain_se"), **counts))
        rows.append(_derived_row(name[-1], statement + ": lower HR MAE", "HR MAE reduction (bpm)",
                                 claim.get("mae_reduction_bpm"), claim.get("mae_reduction_se"),
                                 **counts))
    return rows


def _claim_3(metrics: dict) -> list[dict[str, Any]]:
    claim = _section(metrics, NOISE).get("claim3")
    if not isinstance(claim, dict):
        return []
    margin = _number(claim.get("min_difference")) or 0.0
    statement = ("The inverse-attention region tracks the injected light better than the "
                 f"attended region, by at least {margin:g} in |r|")
    return [_derived_row("3", statement, "|r| inverse − |r| attention", claim.get("difference"),
                         claim.get("difference_se"), margin, scenario="clips with injected light",
                         n_clips=claim.get("n_clips"))]


def verdict_rows(metrics: dict, parameters: dict | None = None) -> tuple[list[dict], bool]:
    """The verdict rows of a run and whether they were recorded (False: derived from the claim
    records). ``parameters``: the manifest's per-notebook parameters (the claims' scenario)."""
    recorded = [
        row for section in metrics.values() if isinstance(section, dict)
        for row in (section.get("verdicts") or []) if isinstance(row, dict)
    ]
    if recorded:
        return recorded, True
    # Notebook 06 judges claims 1 and 2 on ``claim_scenario``, "illumination" unless overridden.
    scenario = _section(parameters or {}, EVALUATION).get("claim_scenario", "illumination")
    return _claims_1_2(metrics, scenario) + _claim_3(metrics), False


def _from_summary(summary: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for rec in summary.to_dict("records"):
        row = {"scenario": rec.get("scenario"), "method": rec.get("method"),
               "n_windows": rec.get("n")}
        for column, (source, se_column, prefix) in _FROM_SUMMARY.items():
            est, se = _number(rec.get(source)), _number(rec.get(se_column))
            row[column] = est
            if est is not None and se is not None:
                row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"] = est - Z95 * se, est + Z95 * se
        rows.append(row)
    return rows

def method_rows(metrics: dict, run_dir: Path) -> list[dict[str, Any]]:
    """The method comparison rows (scenario, method, mae_bpm, rmse_bpm, r, snr_db, their
    ``*_ci_low``/``*_ci_high`` when known, n_windows, n_subjects); empty when the run has none."""
    section = _section(metrics, EVALUATION)
    table = section.get("method_table")
    if isinstance(table, list) and table:
        return [row for row in table if isinstance(row, dict)]
    summary = section.get("hr_summary")
    if isinstance(summary, list) and summary:
        return _from_summary(pd.DataFrame(summary))
    csv = run_dir / HR_TABLE
    return _from_summary(pd.read_csv(csv)) if csv.is_file() else []

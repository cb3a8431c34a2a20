"""The answer of a run, read from its records: the claims' verdicts and the method comparison.

Which records these are is declared once, in :data:`rppg_lib.stats.RECORDS`: every section's
verdict rows (:data:`rppg_lib.stats.VERDICT_COLUMNS`, in section order) and the method table of
the section that records one. Nothing here knows which notebook made them; a run that recorded
neither gets an empty answer, never one derived from other numbers.
"""

from __future__ import annotations

from typing import Any

from rppg_lib.stats import METHOD_TABLE_RECORD, VERDICTS_RECORD

__all__ = ["verdict_rows", "method_rows"]


def _sections(metrics: dict) -> list[tuple[str, dict]]:
    return [(name, values) for name, values in metrics.items() if isinstance(values, dict)]


def verdict_rows(metrics: dict) -> list[dict[str, Any]]:
    """Every section's verdict rows, in section order, each with its ``section``."""
    return [{"section": name, **row} for name, values in _sections(metrics)
            for row in (values.get(VERDICTS_RECORD) or []) if isinstance(row, dict)]


def method_rows(metrics: dict) -> list[dict[str, Any]]:
    """The rows of the first section's method table (scenario, method, mae_bpm, rmse_bpm, r,
    snr_db, their ``*_ci_low``/``*_ci_high``, n_windows, n_subjects); empty when none has one."""
    for _, values in _sections(metrics):
        table = values.get(METHOD_TABLE_RECORD)
        if isinstance(table, list) and table:
            return [row for row in table if isinstance(row, dict)]
    return []

"""A study: the whole run repeated over seeds, and a small record of its answer.

``rppg study --params params/study.yaml --out reports/study`` (``make study``):

1. runs the params file once per seed of its ``study`` section (or ``--seeds``) into
   ``<out>/runs/seed-<s>/``, each a complete report of :func:`rppg_lib.run.runner.run` with
   ``seed`` = s and the section's ``per_seed`` parameters filled in (e.g. a data folder per
   seed). Every seed resumes: notebooks that a seed completed before with the same parameters
   are kept, so an interrupted study goes on where it stopped (:func:`run_study`);
2. writes the record of the study to ``<out>`` (:func:`write_study_record`): ``summary.md`` (the
   claims with each seed's estimate, 95 % interval, n and verdict, their mean and spread across
   seeds, the method table, the key figures), ``metrics.json`` (the same numbers),
   ``manifest.json`` (params file, seeds, parameters, versions, commits, timings) and
   ``figures/`` (the key figures as PNG). The record is small and meant to be committed; the
   runs are not.

A claim's verdict across seeds is the verdict every seed gives when they all agree, and
"undecided" when they do not (:func:`rppg_lib.stats.across_runs`): a result that depends on the
seed is not decided. The record keeps of each run what :data:`rppg_lib.stats.RECORDS` declares:
the verdict rows of every section and the method table.

:func:`compare_records` (``rppg study --compare OTHER``) checks a rerun against a record: every
number of the seeds both hold, at the precision the summary prints, and every verdict.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rppg_lib.atomic import atomic_write_json, atomic_write_text
from rppg_lib.run.params import load_params
from rppg_lib.run.provenance import host_info, sha256_file, utc_timestamp
from rppg_lib.run.record import METRICS_FILE, load_metrics
from rppg_lib.run.report.answer import method_rows, verdict_rows
from rppg_lib.run.report.html import MANIFEST_FILE
from rppg_lib.run.runner import run
from rppg_lib.stats import METHOD_TABLE_RECORD, RECORDS, VERDICTS_RECORD, across_runs

__all__ = [
    "RUNS_FOLDER",
    "SUMMARY_FILE",
    "StudyResult",
    "seed_overrides",
    "run_study",
    "write_study_record",
    "across_seeds",
    "compare_records",
]

RUNS_FOLDER = "runs"
# compare_records: numbers within half the last digit summary.md prints are the same number
COMPARE_TOLERANCE = 0.005
SUMMARY_FILE = "summary.md"
FIGURES_FOLDER = "figures"
CAPTIONS_FILE = "captions.json"
# What the record keeps of each seed's run manifest.
RUN_KEYS = ("started_at", "finished_at", "total_seconds", "timings_seconds", "parameters",
            "versions", "git", "host")
# The records of each run that the study keeps ({name: the columns naming a row}; one
# declaration, in rppg_lib.stats), each row with its section.
VERDICT_ROW_KEYS = ("section", *RECORDS[VERDICTS_RECORD])
TABLES = {VERDICTS_RECORD: VERDICT_ROW_KEYS, METHOD_TABLE_RECORD: RECORDS[METHOD_TABLE_RECORD]}
# Verdict columns of a verdict row: the metric's own and its claim's (all metrics together).
VERDICT_FIELDS = ("verdict", "claim_verdict")
# The columns of the method table that the summary shows, with their labels.
METHOD_COLUMNS = {"mae_bpm": "MAE (bpm)", "rmse_bpm": "RMSE (bpm)", "r": "r", "snr_db": "SNR (dB)"}


@dataclass(frozen=True)
class StudyResult:
    """A finished study: its record folder, the run folder of each seed, the summary file."""

    out_dir: Path
    run_dirs: dict[int, Path]
    summary: Path


def seed_overrides(study: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The ``-p`` overrides of one seed: ``seed`` and the study's ``per_seed`` templates."""
    templates = study.get("per_seed") or {}
    return {"seed": int(seed), **{k: v.format(seed=seed) for k, v in templates.items()}}


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds) or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be distinct integers >= 0, got {seeds!r}")
    return [int(s) for s in seeds]


def run_study(
    params: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    seeds: Sequence[int] | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> StudyResult:
    """Run ``params`` once per seed into ``out_dir/runs/seed-<s>`` (resuming each) and write the
    study record to ``out_dir``. ``seeds`` defaults to the params file's ``study.seeds`` less the
    seeds that the record in ``out_dir`` already holds for the same params file (a clone that has
    the record but not its runs does not run them again); seeds given explicitly always run.
    ``overrides`` are ``-p`` values applied to every seed (a seed's own values win); with
    overrides, recorded seeds are neither skipped nor kept: the record holds the seeds run."""
    spec = load_params(params)
    out = Path(out_dir)
    keep = not overrides
    if seeds is None:
        recorded = _recorded_runs(out, sha256_file(params)) if keep else {}
        seeds = [s for s in spec.study.get("seeds", [0]) if s not in recorded]
        if not seeds:  # every seed is recorded already: nothing to run
            return StudyResult(out, {}, out / SUMMARY_FILE)
    seeds = _check_seeds(seeds)
    run_dirs = {}
    for seed in seeds:
        run_dir = out / RUNS_FOLDER / f"seed-{seed}"
        values = {**dict(overrides or {}), **seed_overrides(spec.study, seed)}
        run(params, run_dir, values, resume=True, progress=progress)
        run_dirs[seed] = run_dir
    summary = write_study_record(out, params, run_dirs, keep_recorded=keep)
    return StudyResult(out, run_dirs, summary)


# --- reading the runs ----------------------------------------------------------------------------


def _read_run(run_dir: Path) -> dict[str, Any]:
    manifest_path = run_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no run in {run_dir} (no {MANIFEST_FILE})")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("status") != "completed":
        raise ValueError(f"the run in {run_dir} did not complete (status "
                         f"{manifest.get('status')!r}); run the study again to resume it")
    metrics = load_metrics(run_dir)
    return {"manifest": {k: manifest.get(k) for k in RUN_KEYS},
            VERDICTS_RECORD: verdict_rows(metrics), METHOD_TABLE_RECORD: method_rows(metrics)}


def _recorded_runs(out: Path, params_sha256: str) -> dict[int, dict[str, Any]]:
    """The seeds of an earlier record in ``out`` made from the same params file (same SHA-256),
    in the form of :func:`_read_run`: so that seeds can be added in later sessions without
    running the recorded ones again."""
    try:
        metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
        manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    if manifest.get("params_file", {}).get("sha256") != params_sha256:
        return {}
    return {int(seed): {"manifest": manifest["runs"][seed], **{name: [] for name in TABLES},
                        **tables}
            for seed, tables in metrics.get("per_seed", {}).items() if seed in manifest["runs"]}


# --- across seeds --------------------------------------------------------------------------------


def _finite(values: list[Any]) -> np.ndarray:
    array = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return array[np.isfinite(array)]


def _mean_sd(values: list[Any]) -> tuple[float | None, float | None]:
    array = _finite(values)
    if array.size == 0:
        return None, None
    sd = float(array.std(ddof=1)) if array.size > 1 else None
    return float(array.mean()), sd


def _ident(row: Mapping[str, Any], key: Sequence[str]) -> tuple[str, ...]:
    """What a row is, by the columns ``key`` (a missing or None column reads as "")."""
    return tuple("" if row.get(k) is None else str(row.get(k)) for k in key)


def across_seeds(per_seed: Mapping[int, list[dict[str, Any]]],
                 key: Sequence[str]) -> list[dict[str, Any]]:
    """Rows matched across seeds by the columns ``key``: each row of the first seed with, per
    numeric column, the list over seeds and their mean and sample standard deviation; for
    verdict rows also the verdicts per seed and the verdict across seeds
    (:func:`rppg_lib.stats.across_runs`: the common verdict, else undecided)."""
    seeds = list(per_seed)
    indexed = {s: {_ident(r, key): r for r in per_seed[s]} for s in seeds}
    out = []
    for row in per_seed[seeds[0]]:
        matched = [indexed[s].get(_ident(row, key)) for s in seeds]
        merged: dict[str, Any] = {k: row.get(k) for k in key}
        for column, value in row.items():
            if column in key or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            values = [None if m is None else m.get(column) for m in matched]
            mean, sd = _mean_sd(values)
            merged[column] = {"per_seed": values, "mean": mean, "sd": sd}
        for column in VERDICT_FIELDS:
            if column in row:
                verdicts = [None if m is None else m.get(column) for m in matched]
                merged[f"{column}s"] = verdicts
                merged[column] = across_runs(verdicts)[0]
        if "statement" in row:
            merged["statement"] = row["statement"]
        out.append(merged)
    return out


# --- the record ----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """Text for a Markdown table cell: a literal "|" (as in "|r|") must not end the cell."""
    return str(value).replace("|", "\\|")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def _interval(row: Mapping[str, Any], stem: str = "", digits: int = 2) -> str:
    low, high = row.get(f"{stem}ci_low"), row.get(f"{stem}ci_high")
    if low is None or high is None:
        return ""
    return f" [{_fmt(low, digits)}, {_fmt(high, digits)}]"


def _claims_table(runs: Mapping[int, dict[str, Any]], combined: list[dict[str, Any]]) -> str:
    seeds = list(runs)
    head = ["claim", "metric", "scenario"] + [f"seed {s}: estimate [95 % CI], n, verdict"
                                              for s in seeds]
    head += ["mean ± sd across seeds", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for merged in combined:
        level = f" ({merged['level']})" if merged.get("level") else ""
        cells = [_cell(merged["claim"]), _cell(merged["metric"]),
                 _cell(f"{merged['scenario']}{level}")]
        ident = _ident(merged, VERDICT_ROW_KEYS)
        for s in seeds:
            row = next((r for r in runs[s][VERDICTS_RECORD]
                        if _ident(r, VERDICT_ROW_KEYS) == ident), None)
            cells.append("–" if row is None else (
                f"{_fmt(row.get('estimate'))}{_interval(row)}, n = {row.get('n_subjects')} "
                f"subjects / {row.get('n_windows')} windows, {row.get('verdict')}"))
        estimate = merged.get("estimate") or {}
        cells.append(f"{_fmt(estimate.get('mean'))} ± {_fmt(estimate.get('sd'))}")
        cells.append(f"**{merged['verdict']}**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _answer_table(combined: list[dict[str, Any]], seeds: list[int]) -> str:
    """One line per claim and level: its statement, its verdict per seed and across seeds."""
    head = ["claim", "statement"] + [f"seed {s}" for s in seeds] + ["across seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    seen = set()
    for merged in combined:
        ident = _ident(merged, ("section", "claim", "level"))
        if ident in seen or "claim_verdicts" not in merged:
            continue
        seen.add(ident)
        level = f" ({merged['level']})" if merged.get("level") else ""
        cells = [_cell(merged["claim"]), _cell(f"{merged.get('statement', '')}{level}")]
        cells += [str(v) for v in merged["claim_verdicts"]]
        cells.append(f"**{merged['claim_verdict']}**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _methods_table(first: list[dict[str, Any]], combined: list[dict[str, Any]], seed: int) -> str:
    head = ["scenario", "method"] + [f"{label} seed {seed} [95 % CI]"
                                     for label in METHOD_COLUMNS.values()]
    head += ["MAE mean ± sd across seeds", "n windows / subjects"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, merged in zip(first, combined, strict=True):
        cells = [_cell(row.get("scenario")), _cell(row.get("method"))]
        for column in METHOD_COLUMNS:
            stem = column.split("_")[0] + "_"
            cells.append(f"{_fmt(row.get(column))}{_interval(row, stem)}")
        mae = merged.get("mae_bpm") or {}
        cells.append(f"{_fmt(mae.get('mean'))} ± {_fmt(mae.get('sd'))}")
        cells.append(f"{row.get('n_windows')} / {row.get('n_subjects')}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _key_figures(run_dir: Path) -> list[tuple[Path, str]]:
    """(PNG, caption) of the figures the run marked key (``figures/<name>.json`` sidecars with
    ``"key": true``), in name order."""
    found = []
    for sidecar in sorted((run_dir / FIGURES_FOLDER).glob("*.json")):
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        png = sidecar.with_suffix(".png")
        if isinstance(meta, Mapping) and meta.get("key") and png.is_file():
            found.append((png, str(meta.get("caption") or sidecar.stem)))
    return found


def _copy_figures(figures: list[tuple[Path, str]], out: Path) -> None:
    """Copy the (PNG, caption) ``figures`` into ``out/figures/`` with their captions in
    ``captions.json`` (in order), replacing an earlier record's figures as a whole."""
    target = out / FIGURES_FOLDER
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for png, _ in figures:
        shutil.copyfile(png, target / png.name)
    atomic_write_json(target / CAPTIONS_FILE, [[png.name, caption] for png, caption in figures],
                      sort_keys=False)


def _recorded_figures(out: Path) -> list[tuple[str, str]]:
    """(relative path, caption) of the record's figures, in order."""
    path = out / FIGURES_FOLDER / CAPTIONS_FILE
    if not path.is_file():
        return []
    return [(f"{FIGURES_FOLDER}/{name}", caption)
            for name, caption in json.loads(path.read_text(encoding="utf-8"))]


def _summary_text(spec_path: Path, runs: Mapping[int, dict[str, Any]], claims: list,
                  methods: list, figures: list[tuple[str, str]]) -> str:
    seeds = list(runs)
    first = runs[seeds[0]]
    # the notebooks' own times: a resumed seed's total_seconds covers its last session only
    minutes = [sum(runs[s]["manifest"]["timings_seconds"].values()) / 60 for s in seeds]
    parts = [
        f"# Study record: {spec_path.name}",
        "",
        f"Seeds {', '.join(map(str, seeds))}; wall time of the notebooks per seed "
        f"{', '.join(f'{m:.1f}' for m in minutes)} min "
        f"({first['manifest']['host'].get('cpu_count', '?')} CPU cores). Reproduce with "
        f"`make study` (`rppg study --params {spec_path.as_posix()}`); parameters, versions and "
        "commits are in `manifest.json`, every number in `metrics.json`.",
        "",
        "## The answer",
        "",
        "Each claim's verdict per seed (all its metrics together: it holds when every metric "
        "holds, fails when one fails) and across seeds.",
        "",
        _answer_table(claims, seeds) if claims else "No run recorded verdicts.",
        "",
        "## Claims, metric by metric",
        "",
        "Each seed: the estimate with its 95 % bootstrap interval over test subjects, n and the "
        "verdict from that interval (holds: the whole interval shows an improvement; fails: the "
        "whole interval shows the opposite; undecided: otherwise, or too few subjects). Across "
        "seeds: the common verdict, or undecided when the seeds disagree.",
        "",
        _claims_table(runs, claims) if claims else "No run recorded verdicts.",
        "",
        "## Methods",
        "",
        _methods_table(first[METHOD_TABLE_RECORD], methods, seeds[0]) if methods
        else "No run recorded a method table.",
        "",
    ]
    if figures:
        parts += ["## Key figures (the first seed)", ""]
        for number, (path, caption) in enumerate(figures, start=1):
            parts += [f"**Figure {number}.** {caption}", "", f"![{caption}]({path})", ""]
    return "\n".join(parts)


def write_study_record(
    out_dir: str | os.PathLike,
    params: str | os.PathLike,
    run_dirs: Mapping[int, str | os.PathLike],
    *,
    keep_recorded: bool = True,
) -> Path:
    """Write ``summary.md``, ``metrics.json``, ``manifest.json`` and ``figures/`` of the study
    whose seeds ran into ``run_dirs`` ({seed: run folder}, all completed); returns the summary.
    ``keep_recorded``: also keep the seeds of the params file's ``study.seeds`` that an earlier
    record in ``out_dir`` made from the same params file holds (and ``run_dirs`` does not).
    """
    if not run_dirs:
        raise ValueError("run_dirs must name at least one seed's run folder")
    out = Path(out_dir)
    spec_path = Path(params)
    spec = load_params(spec_path)
    fresh = {int(s): _read_run(Path(d)) for s, d in run_dirs.items()}
    recorded = _recorded_runs(out, sha256_file(spec_path)) if keep_recorded else {}
    wanted = set(spec.study.get("seeds", [])) | set(fresh)
    runs = {s: fresh.get(s) or recorded[s] for s in sorted(wanted) if s in fresh or s in recorded}
    seeds = list(runs)
    claims, methods = (across_seeds({s: r[name] for s, r in runs.items()}, TABLES[name])
                       for name in (VERDICTS_RECORD, METHOD_TABLE_RECORD))
    if seeds[0] in fresh or not (out / FIGURES_FOLDER).is_dir():
        # the key figures of the first seed; an earlier record's stay when that seed is not rerun
        first = seeds[0] if seeds[0] in fresh else min(fresh)
        _copy_figures(_key_figures(Path(run_dirs[first])), out)
    figures = _recorded_figures(out)
    metrics = {
        "seeds": seeds,
        "claims": claims,
        "methods": methods,
        "per_seed": {str(s): {name: r[name] for name in TABLES}
                     for s, r in runs.items()},
    }
    manifest = {
        "written_at": utc_timestamp(),
        "params_file": {"path": spec_path.as_posix(), "sha256": sha256_file(spec_path)},
        "study": spec.study,
        "parameters": spec.parameters,
        "per_notebook": spec.per_notebook,
        "notebooks": spec.notebooks,
        "seeds": seeds,
        "runs": {str(s): r["manifest"] for s, r in runs.items()},
        "host": host_info(),
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / METRICS_FILE, metrics, sort_keys=False)
    atomic_write_json(out / MANIFEST_FILE, manifest, sort_keys=False)
    return atomic_write_text(out / SUMMARY_FILE,
                             _summary_text(spec_path, runs, claims, methods, figures))


# --- comparing two records -----------------------------------------------------------------------


def _keyed_rows(seed_metrics: Mapping[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    """One seed's verdict and table rows of a record's metrics.json, keyed by what they are."""
    rows = {}
    for name, columns in TABLES.items():
        for row in seed_metrics.get(name, []):
            rows[(name, *_ident(row, columns))] = row
    return rows


def _read_record(folder: Path) -> dict[str, Any]:
    path = folder / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no study record in {folder} (no {METRICS_FILE})")
    record = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(record, dict) or not isinstance(record.get("per_seed"), dict):
        raise ValueError(f"{path} is not a study record (no per_seed section)")
    return record


def _same_value(a: Any, b: Any, tolerance: float) -> bool:
    """Equal, or two finite numbers (not both integers) at most ``tolerance`` apart."""
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if not numbers or (isinstance(a, int) and isinstance(b, int)):
        return a == b
    if not (math.isfinite(a) and math.isfinite(b)):
        return str(a) == str(b)
    return abs(a - b) <= tolerance + 1e-12


def compare_records(
    record: str | os.PathLike, other: str | os.PathLike, *, tolerance: float = COMPARE_TOLERANCE,
    digits: int = 2,
) -> tuple[list[int], list[str]]:
    """Compare two study records (folders with ``metrics.json``) on the seeds both hold: every
    number of every verdict and method row, equal when they differ by at most ``tolerance``
    (default half the last digit ``summary.md`` prints, so that a difference in the 12th digit
    that rounds differently is not one), every verdict and every count exactly.

    Returns ``(common seeds, differences)``, each difference one line naming the seed, the row
    and the field with both values at ``digits`` decimals; none means the records agree.
    ValueError when the records share no seed or a row is missing from one of them.
    """
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    first, second = _read_record(Path(record)), _read_record(Path(other))
    seeds = sorted(set(first["per_seed"]) & set(second["per_seed"]), key=int)
    if not seeds:
        raise ValueError(f"the records in {record} (seeds {sorted(first['per_seed'])}) and "
                         f"{other} (seeds {sorted(second['per_seed'])}) share no seed")
    differences = []
    for seed in seeds:
        mine, theirs = (_keyed_rows(r["per_seed"][seed]) for r in (first, second))
        if set(mine) != set(theirs):
            missing = sorted(set(mine) ^ set(theirs))
            raise ValueError(f"seed {seed}: rows in only one record: {missing[:3]}")
        for key, row in mine.items():
            for field in dict.fromkeys([*row, *theirs[key]]):
                if field.endswith("reason"):
                    continue  # prose that repeats the numbers at three significant digits
                value, other_value = row.get(field), theirs[key].get(field)
                if not _same_value(value, other_value, tolerance):
                    a, b = str(value), str(other_value)
                    if isinstance(value, float) or isinstance(other_value, float):
                        a, b = _fmt(value, digits), _fmt(other_value, digits)
                    named = " / ".join(part for part in key if part)
                    differences.append(f"seed {seed} {named}: {field} {a} vs {b}")
    return [int(seed) for seed in seeds], differences


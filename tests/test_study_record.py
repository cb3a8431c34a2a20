"""The committed record of the synthetic study (reports/study/, written by `make study`): its
structure, and that it was made from params/study.yaml as it stands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rppg_lib.run.params import load_params
from rppg_lib.run.provenance import sha256_file

VERDICTS = {"holds", "fails", "undecided"}


@pytest.fixture(scope="module")
def record(repo_root: Path) -> dict:
    folder = repo_root / "reports" / "study"
    return {
        "folder": folder,
        "metrics": json.loads((folder / "metrics.json").read_text()),
        "manifest": json.loads((folder / "manifest.json").read_text()),
        "summary": (folder / "summary.md").read_text(),
        "spec": load_params(repo_root / "params" / "study.yaml"),
        "params_path": repo_root / "params" / "study.yaml",
    }


def test_record_was_made_from_the_study_params(record):
    manifest, spec = record["manifest"], record["spec"]
    assert manifest["params_file"]["sha256"] == sha256_file(record["params_path"])
    assert manifest["notebooks"] == spec.notebooks
    assert manifest["parameters"] == spec.parameters
    assert manifest["per_notebook"] == spec.per_notebook
    assert manifest["study"] == spec.study
    # seeds are added to the record as they are run (rppg study keeps the recorded ones)
    assert manifest["seeds"] == record["metrics"]["seeds"]
    assert manifest["seeds"] and set(manifest["seeds"]) <= set(spec.study["seeds"])
    for seed in manifest["seeds"]:
        run = manifest["runs"][str(seed)]
        assert run["parameters"]["00_synthetic_data"]["seed"] == seed
        assert run["git"]["commit"] and run["versions"]["torch"]
        assert run["total_seconds"] > 0  # the wall time is reported in summary.md, not judged


def test_every_claim_has_a_verdict_with_interval_and_n_per_seed(record):
    claims = record["metrics"]["claims"]
    seeds = record["metrics"]["seeds"]
    assert {c["claim"] for c in claims} >= {"1", "2", "3"}
    for claim in claims:
        assert claim["verdict"] in VERDICTS
        assert len(claim["verdicts"]) == len(seeds) and set(claim["verdicts"]) <= VERDICTS
        for key in ("estimate", "ci_low", "ci_high", "n_subjects", "n_windows"):
            assert len(claim[key]["per_seed"]) == len(seeds)
        for low, mid, high in zip(claim["ci_low"]["per_seed"], claim["estimate"]["per_seed"],
                                  claim["ci_high"]["per_seed"], strict=True):
            assert low <= mid <= high
        agreed = len(set(claim["verdicts"])) == 1
        assert claim["verdict"] == (claim["verdicts"][0] if agreed else "undecided")


def test_the_study_is_big_enough_to_decide(record):
    """At least 40 HR windows per scenario in every seed's test split (the issue's size)."""
    for seed, tables in record["metrics"]["per_seed"].items():
        windows = {}
        for row in tables["method_table"]:
            windows[row["scenario"]] = max(windows.get(row["scenario"], 0), row["n_windows"])
        assert windows and min(windows.values()) >= 40, f"seed {seed}: {windows}"


def test_summary_shows_every_claim_and_its_figures(record):
    summary = record["summary"]
    for claim in record["metrics"]["claims"]:
        metric = claim["metric"].replace("|", "\\|")  # a literal | is escaped in a table cell
        assert f"| {claim['claim']} | {metric} | {claim['scenario']} |" in summary
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", summary)
    assert images, "the summary shows no figure"
    for path in images:
        assert (record["folder"] / path).is_file(), path

"""The whole notebook suite, end to end, with the `smoke` parameter set (about a minute or two).

It runs twice with the same seed: the two metrics.json files must be identical. The report must
hold everything a reader expects: executed notebooks, figures (PDF and PNG), tables (CSV, LaTeX,
Markdown), metrics.json, manifest.json and index.html.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rppg_lib.run.runner import run

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

SECTIONS = [
    "00_synthetic_data",
    "01_preprocessing",
    "02_train_tscan",
    "03_attention_masks",
    "04_inverse_attention_noise",
    "05_lstm_denoising",
    "06_evaluation",
    "07_reproduce_benefit_of_distraction",
]


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("smoke")
    params = REPO_ROOT / "params" / "smoke.yaml"
    first = run(params, base / "first", progress=False)
    run(params, base / "second", progress=False)
    return first, base / "first", base / "second"


def _numbers(obj, path=""):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _numbers(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _numbers(value, f"{path}[{index}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


def test_every_notebook_records_finite_results(smoke_runs):
    _, first, _ = smoke_runs
    metrics = json.loads((first / "metrics.json").read_text())
    assert set(SECTIONS) <= set(metrics), set(SECTIONS) - set(metrics)
    numbers = list(_numbers(metrics))
    assert len(numbers) > 50
    for path, value in numbers:
        assert math.isfinite(value), path


def test_same_seed_same_metrics(smoke_runs):
    _, first, second = smoke_runs
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()


def test_report_holds_notebooks_figures_tables_manifest_and_index(smoke_runs):
    _, first, _ = smoke_runs
    executed = sorted(path.stem for path in (first / "notebooks").glob("*.ipynb"))
    assert executed == SECTIONS
    pngs = sorted((first / "figures").glob("*.png"))
    assert len(pngs) >= len(SECTIONS)
    for png in pngs:
        assert png.with_suffix(".pdf").exists()
    for csv in (first / "tables").glob("*.csv"):
        assert csv.with_suffix(".tex").exists() and csv.with_suffix(".md").exists()
    manifest = json.loads((first / "manifest.json").read_text())
    for key in ("parameters", "seeds", "git", "versions", "timings_seconds", "host"):
        assert key in manifest, key
    assert manifest["status"] == "completed"
    assert set(manifest["timings_seconds"]) == set(SECTIONS)
    index = (first / "index.html").read_text()
    for png in pngs:  # each figure in its notebook's section; the key ones also on top
        assert f'<figure class="fig" id="fig-{png.stem}"><a href="figures/{png.name}">' in index
    keys = [p.stem for p in pngs if json.loads(p.with_suffix(".json").read_text())["key"]]
    assert len(keys) >= 3 and index.count('<figure class="key"') == len(keys)
    assert index.index('id="verdicts"') < index.index('<figure class="key"')
    assert "<table" in index


def test_executed_notebooks_store_one_progress_line_per_loop(smoke_runs):
    # rppg run's kernels draw no bar while a loop runs (rppg_lib.progress): a redrawing bar
    # stored hundreds of stream outputs per notebook.
    _, first, _ = smoke_runs
    for path in sorted((first / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        streams = [o for c in cells for o in c.get("outputs", []) if o["output_type"] == "stream"]
        text = "".join("".join(o["text"]) for o in streams)
        assert len(streams) <= 20 and "\r" not in text, (path.name, len(streams))

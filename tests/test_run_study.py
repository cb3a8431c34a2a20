"""rppg_lib.run.study and `rppg study`: seeds run (and resume) into runs/seed-<s>/, and the
study's record (summary.md, metrics.json, manifest.json, key figures) states each claim per seed
and across seeds. The notebooks are tiny ones the test writes; the committed record of the real
study is checked in test_study_record.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from rppg_lib.run.cli import main
from rppg_lib.run.params import load_params
from rppg_lib.run.study import across_seeds, compare_records, run_study, seed_overrides

KERNELSPEC = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}

CLAIMS = [
    new_code_cell(
        "run_dir = None  # report folder\nseed = 0  # random seed\n"
        "data_root = 'data'  # a folder per seed",
        metadata={"tags": ["parameters"]},
    ),
    new_code_cell(
        "import json\n"
        "from pathlib import Path\n"
        "import matplotlib.pyplot as plt\n"
        "from rppg_lib.run.record import record\n"
        "from rppg_lib.run.report import save_figure\n"
        "gain = 1.0 + seed\n"
        "verdict = 'undecided' if seed == 2 else 'holds'\n"
        "record('verdicts', [{'claim': '1', 'statement': 'A beats B', 'scenario': 'illumination',\n"
        "    'metric': 'HR MAE reduction (bpm)', 'estimate': gain, 'ci_low': gain - 0.5,\n"
        "    'ci_high': gain + 0.5, 'n_subjects': 14, 'n_windows': 42, 'verdict': verdict,\n"
        "    'claim_verdict': verdict},\n"
        "    {'claim': '3', 'statement': 'C tracks the light', 'scenario': 'illumination',\n"
        "    'level': 'oracle masks', 'metric': '|r| difference', 'estimate': 0.04,\n"
        "    'ci_low': 0.02, 'ci_high': 0.06 + seed, 'n_subjects': 14, 'n_windows': 14,\n"
        "    'verdict': 'holds', 'claim_verdict': 'holds'}],\n"
        "    section='00_claims')\n"
        "record('method_table', [{'scenario': 'clean', 'method': 'A', 'mae_bpm': 2.0 + seed,\n"
        "    'mae_ci_low': 1.0, 'mae_ci_high': 3.0 + seed, 'rmse_bpm': 3.0, 'r': 0.9,\n"
        "    'snr_db': 4.0, 'n_windows': 42, 'n_subjects': 14}], section='00_claims')\n"
        "record('data_root', data_root, section='00_claims')\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot([0, 1], [0, gain])\n"
        "save_figure(fig, 'gain', run_dir)\n"
        "Path(run_dir, 'figures', 'gain.json').write_text(json.dumps({'key': True,\n"
        "    'caption': 'The gain.'}))"
    ),
]

PARAMS = """\
notebooks: [00_claims]
study:
  seeds: [0, 1]
  per_seed:
    00_claims.data_root: data/seed-{seed}
"""


@pytest.fixture()
def project(tmp_path) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params").mkdir()
    nb = new_notebook(metadata=KERNELSPEC)
    nb.cells = CLAIMS
    nbformat.write(nb, tmp_path / "notebooks" / "00_claims.ipynb")
    (tmp_path / "params" / "claims.yaml").write_text(PARAMS)
    return tmp_path


def test_params_study_section_is_checked(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(PARAMS)
    spec = load_params(path)
    assert spec.study == {"seeds": [0, 1], "per_seed": {"00_claims.data_root": "data/seed-{seed}"}}
    assert seed_overrides(spec.study, 3) == {"seed": 3, "00_claims.data_root": "data/seed-3"}
    for bad, match in (("seeds: [1, 1]", "distinct integers"), ("seeds: [-1]", "distinct"),
                       ("per_seed: {a: fixed}", "holding {seed}"), ("rounds: 2", "keys seeds")):
        path.write_text(f"notebooks: [00_claims]\nstudy:\n  {bad}\n")
        with pytest.raises(ValueError, match=match):
            load_params(path)


def test_study_runs_each_seed_and_writes_the_record(project):
    out = project / "reports" / "claims"
    result = run_study(project / "params" / "claims.yaml", out, seeds=[0, 1, 2], progress=False)
    assert sorted(result.run_dirs) == [0, 1, 2]
    for seed, run_dir in result.run_dirs.items():
        assert run_dir == out / "runs" / f"seed-{seed}"
        recorded = json.loads((run_dir / "metrics.json").read_text())["00_claims"]
        assert recorded["data_root"] == f"data/seed-{seed}"

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seeds"] == [0, 1, 2]
    claim, region = metrics["claims"]
    assert claim["estimate"]["per_seed"] == [1.0, 2.0, 3.0]
    assert claim["estimate"]["mean"] == pytest.approx(2.0)
    assert claim["estimate"]["sd"] == pytest.approx(1.0)
    assert claim["verdicts"] == ["holds", "holds", "undecided"]
    assert claim["verdict"] == "undecided"  # the seeds disagree
    (method,) = metrics["methods"]
    assert method["mae_bpm"]["mean"] == pytest.approx(3.0)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"] == [0, 1, 2] and manifest["study"]["seeds"] == [0, 1]
    assert manifest["runs"]["1"]["parameters"]["00_claims"]["seed"] == 1
    assert (out / "figures" / "gain.png").is_file()
    summary = result.summary.read_text()
    assert "| 1 | HR MAE reduction (bpm) | illumination |" in summary
    assert "1.00 [0.50, 1.50], n = 14 subjects / 42 windows, holds" in summary
    assert "2.00 ± 1.00 | **undecided** |" in summary
    assert "| 1 | A beats B | holds | holds | undecided | **undecided** |" in summary
    assert claim["claim_verdicts"] == ["holds", "holds", "undecided"]
    assert "![The gain.](figures/gain.png)" in summary
    # a claim tested at a level (here: with the ground-truth masks) is a verdict row like any
    assert region["level"] == "oracle masks" and region["verdict"] == "holds"
    assert ("| 3 | \\|r\\| difference | illumination (oracle masks) | 0.04 [0.02, 0.06], n = 14 "
            "subjects / 14 windows, holds | 0.04 [0.02, 1.06]") in summary
    answer = "| 3 | C tracks the light (oracle masks) | holds | holds | holds | **holds** |"
    assert answer in summary
    assert metrics["per_seed"]["2"]["verdicts"][1]["ci_high"] == 2.06

    # Run again: every seed is complete, so nothing is executed twice; the recorded seed 1 (in
    # the params file's seeds) stays in the record, seed 2 (asked for once) leaves it.
    before = (out / "runs" / "seed-0" / "notebooks" / "00_claims.ipynb").stat().st_mtime_ns
    again = run_study(project / "params" / "claims.yaml", out, seeds=[0], progress=False)
    assert (out / "runs" / "seed-0" / "notebooks" / "00_claims.ipynb").stat().st_mtime_ns == before
    assert json.loads((out / "metrics.json").read_text())["seeds"] == [0, 1]
    assert again.run_dirs == {0: out / "runs" / "seed-0"}


def test_a_later_session_adds_seeds_without_rerunning_recorded_ones(project):
    """The record keeps its seeds: a clone without the runs can add a seed to it."""
    out = project / "reports" / "claims"
    run_study(project / "params" / "claims.yaml", out, seeds=[0], progress=False)
    first = json.loads((out / "metrics.json").read_text())
    shutil.rmtree(out / "runs")  # a fresh clone: the record only
    run_study(project / "params" / "claims.yaml", out, seeds=[1], progress=False)
    assert not (out / "runs" / "seed-0").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seeds"] == [0, 1]
    assert metrics["per_seed"]["0"] == first["per_seed"]["0"]
    assert metrics["claims"][0]["estimate"]["per_seed"] == [1.0, 2.0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["runs"]) == {"0", "1"}
    assert (out / "figures" / "gain.png").is_file()
    assert "![The gain.](figures/gain.png)" in (out / "summary.md").read_text()
    # With the seeds of the params file ([0, 1]) both recorded, `make study` runs nothing.
    untouched = run_study(project / "params" / "claims.yaml", out, progress=False)
    assert untouched.run_dirs == {} and not (out / "runs" / "seed-0").exists()
    # A changed params file does not mix with the old record.
    params = project / "params" / "claims.yaml"
    params.write_text(params.read_text() + "# changed\n")
    run_study(params, out, seeds=[1], progress=False)
    assert json.loads((out / "metrics.json").read_text())["seeds"] == [1]


def test_across_seeds_agreeing_verdicts_and_missing_rows():
    row = {"claim": "1", "estimate": 1.0, "verdict": "fails"}
    merged = across_seeds({0: [row], 1: [{**row, "estimate": 2.0}]}, ("claim",))
    assert merged[0]["verdict"] == "fails" and merged[0]["estimate"]["mean"] == 1.5
    missing = across_seeds({0: [row], 1: []}, ("claim",))
    assert missing[0]["verdict"] == "undecided"
    assert missing[0]["estimate"]["per_seed"] == [1.0, None]


def test_cli_study_bad_seeds_is_one_line(project, capsys):
    status = main(["study", "--params", str(project / "params" / "claims.yaml"),
                   "--out", str(project / "out"), "--seeds", "1", "1"])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err == "rppg study: error: seeds must be distinct integers >= 0, got [1, 1]"


def test_compare_records_finds_a_rerun_equal_and_a_changed_number(project, capsys):
    """A rerun of a seed into another folder has the same numbers to the summary's precision;
    a number changed in the third decimal is not a difference, one in the second is, and so is
    a verdict."""
    params = project / "params" / "claims.yaml"
    first, second = project / "reports" / "first", project / "reports" / "second"
    run_study(params, first, seeds=[0, 1], progress=False)
    run_study(params, second, seeds=[1], progress=False)
    assert compare_records(first, second) == ([1], [])
    status = main(["study", "--params", str(params), "--out", str(first),
                   "--compare", str(second)])
    assert status == 0
    assert capsys.readouterr().out.strip().endswith(
        "seeds [1] of " + str(first) + " and " + str(second)
        + ": the same numbers within 0.005")

    metrics_path = second / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    row = metrics["per_seed"]["1"]["verdicts"][0]
    row["estimate"] += 0.001  # 2.001: prints as 2.00
    metrics_path.write_text(json.dumps(metrics))
    assert compare_records(first, second)[1] == []
    row["estimate"] += 0.0035  # 2.0045 rounds to 2.00 and 2.005 to 2.01: still within 0.005
    metrics_path.write_text(json.dumps(metrics))
    assert compare_records(first, second)[1] == []
    assert len(compare_records(first, second, tolerance=0.001)[1]) == 1
    row["estimate"] -= 0.0035
    row["estimate"] += 0.01  # 2.011: prints as 2.01
    row["verdict"] = "undecided"
    metrics["per_seed"]["1"]["method_table"][0]["n_windows"] = 41
    metrics_path.write_text(json.dumps(metrics))
    _, differences = compare_records(first, second)
    assert differences == [
        "seed 1 verdicts / 00_claims / 1 / HR MAE reduction (bpm) / illumination: "
        "estimate 2.00 vs 2.01",
        "seed 1 verdicts / 00_claims / 1 / HR MAE reduction (bpm) / illumination: "
        "verdict holds vs undecided",
        "seed 1 method_table / clean / A: n_windows 42 vs 41",
    ]
    status = main(["study", "--params", str(params), "--out", str(first),
                   "--compare", str(second)])
    assert status == 1
    assert "3 difference(s)" in capsys.readouterr().out

    assert main(["study", "--params", str(params), "--out", str(first),
                 "--compare", str(second), "--tolerance", "-1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "rppg study --compare: tolerance must be a number >= 0, got -1.0")
    assert main(["study", "--params", str(params), "--out", str(first),
                 "--compare", str(project / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"rppg study --compare: no study record in {project / 'nowhere'} (no metrics.json)")
    run_dir = first / "runs" / "seed-0"  # a run's metrics.json is not a study record
    assert main(["study", "--params", str(params), "--out", str(first),
                 "--compare", str(run_dir)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"rppg study --compare: {run_dir / 'metrics.json'} is not a study record "
        "(no per_seed section)")

"""Bad inputs a new user might give: each is answered by one clear error naming the file or the
parameter (and its value), before any long work starts, and never by a traceback, a silently
shifted series or a corrupt cache entry being served."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from rppg_lib import runner
from rppg_lib.cli import main
from rppg_lib.run_params import (
    check_parameter_values,
    load_params,
    parameter_defaults,
    resolve_parameters,
)

KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _one_line_error(text: str, prefix: str) -> str:
    """The single stderr line of a CLI error (no traceback)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


# -- rppg run: every value checked against its notebook before anything runs ------------------


@pytest.fixture
def two_notebooks(tmp_path) -> Path:
    """Params file of two notebooks whose kernels must never start (``_execute`` is refused)."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    cells = {
        "00_first": "run_dir = None  # set by the runner\nseed = 0  # random seed\n",
        "02_train": "run_dir = None  # set by the runner\nepochs = 2  # epochs\nlr = 1e-3\n",
    }
    for stem, source in cells.items():
        nb = new_notebook(metadata=KERNELSPEC)
        nb.cells = [new_code_cell(source, metadata={"tags": ["parameters"]})]
        nbformat.write(nb, folder / f"{stem}.ipynb")
    params = tmp_path / "params" / "p.yaml"
    params.parent.mkdir()
    params.write_text("notebooks: [00_first, 02_train]\n")
    return params


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("02_train.epochs=abc", r"epochs of notebook 02_train must be an integer .* got 'abc'"),
        ("epochs=-1", r"epochs of notebook 02_train must be >= 1, got -1"),
        ("seed=abc", r"seed of notebook 00_first must be an integer .* got 'abc'"),
        ("seed=1.5", r"seed of notebook 00_first must be an integer .* got 1.5"),
        ("02_train.lr=0", r"lr of notebook 02_train must be > 0, got 0"),
        ("02_train.lr=fast", r"lr of notebook 02_train must be a number .* got 'fast'"),
    ],
)
def test_run_checks_every_value_before_any_notebook_runs(
    two_notebooks, tmp_path, monkeypatch, capsys, override, match
):
    def refuse(*args, **kwargs):
        raise AssertionError("a notebook was executed before the parameters were checked")

    monkeypatch.setattr(runner, "_execute", refuse)
    out = tmp_path / "out"
    argv = ["run", "--params", str(two_notebooks), "--out", str(out), "-p", override,
            "--notebooks-dir", str(two_notebooks.parent.parent / "notebooks"), "--no-progress"]
    assert main(argv) == 2
    line = _one_line_error(capsys.readouterr().err, "rppg run: error: parameter ")
    assert re.search(match, line), line
    assert not out.exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"02_train_tscan.epochs": "abc"}, "epochs of notebook 02_train_tscan must be an integer"),
        ({"02_train_tscan.epochs": -1}, "epochs of notebook 02_train_tscan must be >= 1, got -1"),
        ({"seed": "abc"}, "seed of notebook 00_synthetic_data must be an integer"),
        ({"02_train_tscan.lr": "1e-3x"}, "lr of notebook 02_train_tscan must be a number"),
        ({"04_inverse_attention_noise.threshold": 1.0}, "must be >= 0 and < 1, got 1.0"),
    ],
)
def test_suite_notebooks_declare_types_and_ranges(repo_root, tmp_path, override, message):
    spec = load_params(repo_root / "params" / "default.yaml")
    defaults = {s: parameter_defaults(NOTEBOOKS / f"{s}.ipynb") for s in spec.notebooks}
    declared = {s: list(d) for s, d in defaults.items()}
    resolved = resolve_parameters(spec, declared, override, tmp_path)
    with pytest.raises(ValueError, match=message):
        check_parameter_values(resolved, defaults)


@pytest.mark.parametrize("name", ["default", "smoke", "paper_ubfc_phys", "paper_mmse_hr"])
def test_shipped_params_pass_the_value_checks(repo_root, tmp_path, name):
    spec = load_params(repo_root / "params" / f"{name}.yaml")
    defaults = {s: parameter_defaults(NOTEBOOKS / f"{s}.ipynb") for s in spec.notebooks}
    declared = {s: list(d) for s, d in defaults.items()}
    check_parameter_values(resolve_parameters(spec, declared, {}, tmp_path), defaults)


# -- rppg run: Ctrl-C --------------------------------------------------------------------------


def test_ctrl_c_in_run_marks_the_report_and_says_so_in_one_line(
    two_notebooks, tmp_path, monkeypatch, capsys
):
    calls = []

    def interrupted_second(source, executed, *args, **kwargs):
        calls.append(source.stem)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_execute", interrupted_second)
    out = tmp_path / "out"
    argv = ["run", "--params", str(two_notebooks), "--out", str(out), "--no-progress",
            "--notebooks-dir", str(two_notebooks.parent.parent / "notebooks")]
    assert main(argv) == 130
    line = _one_line_error(capsys.readouterr().err, "rppg run: interrupted")
    assert "02_train" in line and str(out) in line and "marked interrupted" in line
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["interrupted_notebook"] == "02_train"
    assert set(manifest["timings_seconds"]) == {"00_first", "02_train"}
    assert (out / "index.html").is_file()

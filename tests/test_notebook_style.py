"""The committed notebooks follow the suite's conventions (no execution: fast).

Each notebook: a narrative, exactly one `parameters` cell in which every assignment has a
comment, `run_dir` among its parameters, calls into rppg_lib only (no functions or classes
defined in notebooks), and a last code cell that nbval checks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
EXPECTED = [
    "00_synthetic_data",
    "01_preprocessing",
    "02_train_tscan",
    "03_attention_masks",
    "04_inverse_attention_noise",
    "05_lstm_denoising",
    "06_evaluation",
    "07_reproduce_benefit_of_distraction",
]
ALLOWED_IMPORT_ROOTS = {"rppg_lib", "numpy", "pandas", "matplotlib", "IPython", "pathlib"}


def _notebook(stem: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)


def _code_cells(nb: nbformat.NotebookNode) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_ordered_notebooks_exist_and_the_params_sets_list_them():
    assert sorted(path.stem for path in NOTEBOOKS_DIR.glob("*.ipynb")) == EXPECTED
    for name in ("default", "smoke"):
        spec = yaml.safe_load((REPO_ROOT / "params" / f"{name}.yaml").read_text())
        assert spec["notebooks"] == EXPECTED, name


@pytest.mark.parametrize("stem", EXPECTED)
def test_notebook_shape(stem):
    nb = _notebook(stem)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    narrative = sum(len(cell.source) for cell in nb.cells if cell.cell_type == "markdown")
    assert narrative > 800, f"{stem}: the narrative is too thin for students ({narrative} chars)"

    parameter_cells = [c for c in _code_cells(nb) if "parameters" in c.metadata.get("tags", [])]
    assert len(parameter_cells) == 1, f"{stem}: expected one cell tagged 'parameters'"
    names = []
    for line in parameter_cells[0].source.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assert "=" in line and "#" in line.split("=", 1)[1], f"{stem}: uncommented '{line}'"
        names.append(line.split("=", 1)[0].strip())
    assert "run_dir" in names, f"{stem}: no run_dir parameter"

    for cell in _code_cells(nb):
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)), (
                f"{stem}: logic belongs in rppg_lib, not in a notebook ({cell.source[:60]!r})"
            )
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= ALLOWED_IMPORT_ROOTS, f"{stem}: imports {roots - ALLOWED_IMPORT_ROOTS}"

    last = _code_cells(nb)[-1].source
    assert last.startswith("# NBVAL_CHECK_OUTPUT"), f"{stem}: last cell is not nbval-checked"
    assert "record(" in "".join(c.source for c in _code_cells(nb)), f"{stem}: records nothing"
    assert "save_figure(" in "".join(c.source for c in _code_cells(nb)), f"{stem}: no figure"


@pytest.mark.parametrize("stem", EXPECTED)
def test_committed_notebook_outputs_hold_no_error(stem):
    for cell in _code_cells(_notebook(stem)):
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"{stem}: stored error output"


@pytest.mark.parametrize("stem", EXPECTED)
def test_every_saved_figure_shows_in_the_committed_notebook(stem):
    # A student who opens the notebook (or reads it on a code host) sees each figure as an
    # image, not as the text "<Figure size ...>".
    cells = [c for c in _code_cells(_notebook(stem)) if "save_figure(" in c.source]
    assert cells, f"{stem}: saves no figure"
    for cell in cells:
        kinds = [set(out.get("data", {})) for out in cell.get("outputs", [])]
        assert any("image/png" in k for k in kinds), f"{stem}: no image for {cell.source[:80]!r}"


MAX_STREAM_OUTPUTS = 20


@pytest.mark.parametrize("stem", EXPECTED)
def test_committed_notebook_holds_no_per_iteration_progress_lines(stem):
    # rppg run's kernels write one final line per progress bar (rppg_lib.progress); a notebook
    # executed with redrawing bars stores hundreds of stream outputs.
    streams = [
        out for cell in _code_cells(_notebook(stem)) for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    ]
    assert len(streams) <= MAX_STREAM_OUTPUTS, f"{stem}: {len(streams)} stream outputs"


@pytest.mark.parametrize("params_file", sorted((REPO_ROOT / "params").glob("*.yaml")))
def test_every_parameter_set_names_only_declared_parameters(params_file, tmp_path):
    from rppg_lib.run.params import declared_parameters, load_params, resolve_parameters

    spec = load_params(params_file)
    declared = {
        stem: declared_parameters(NOTEBOOKS_DIR / f"{stem}.ipynb") for stem in spec.notebooks
    }
    resolved = resolve_parameters(spec, declared, {}, tmp_path)
    assert set(resolved) == set(spec.notebooks)

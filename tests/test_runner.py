"""rppg_lib.run.runner, rppg_lib.run.params, rppg_lib.run.provenance and the `rppg run` command.

The end-to-end tests execute tiny notebooks that the test writes itself (kernel start-up takes
seconds, so one module-scoped run is shared by several tests, and only five notebooks are
executed in all).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from rppg_lib.run.cli import build_parser, main
from rppg_lib.run.params import (
    ParamsFile,
    load_params,
    parse_override,
    parse_overrides,
    resolve_parameters,
)
from rppg_lib.run.provenance import (
    Stopwatch,
    collect_seeds,
    git_info,
    host_info,
    package_versions,
    sha256_file,
    utc_timestamp,
)
from rppg_lib.run.record import RUN_DIR_ENV, load_metrics, read_notebook_records
from rppg_lib.run.report.browser import find_chromium
from rppg_lib.run.runner import RunError, prepare_out_dir, run

KERNELSPEC = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}

MEASURE = [
    new_markdown_cell("# Measure\nDraws samples and saves them as an artifact."),
    new_code_cell(
        "run_dir = None  # report folder (set by the runner)\n"
        "seed = 0  # random seed\n"
        "n = 8  # number of samples",
        metadata={"tags": ["parameters"]},
    ),
    new_code_cell(
        "import os\n"
        "from pathlib import Path\n"
        "import numpy as np\n"
        "from rppg_lib.run.record import record\n"
        "rng = np.random.default_rng(seed)\n"
        "x = rng.normal(size=n)\n"
        "# no run_dir argument: record() finds the run through RPPG_RUN_DIR\n"
        "record('mean', float(x.mean()), section='00_measure')\n"
        "record('cwd', os.getcwd(), section='00_measure')\n"
        "record('hash_seed', os.environ.get('PYTHONHASHSEED'), section='00_measure')\n"
        "record('env_matches', os.environ['RPPG_RUN_DIR'] == run_dir, section='00_measure')\n"
        "artifacts = Path(run_dir, 'artifacts', '00_measure')\n"
        "artifacts.mkdir(parents=True, exist_ok=True)\n"
        "np.save(artifacts / 'x.npy', x)"
    ),
    new_code_cell(
        "import matplotlib.pyplot as plt\n"
        "from rppg_lib.run.report import save_figure, use_style\n"
        "use_style()\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot(x, marker='o')\n"
        "ax.set(xlabel='sample', ylabel='value')\n"
        "paths = save_figure(fig, 'samples', run_dir)"
    ),
]

SUMMARIZE = [
    new_code_cell(
        "run_dir = None  # report folder\nscale = 1.0  # multiplier of the sum",
        metadata={"tags": ["parameters"]},
    ),
    new_code_cell(
        "from pathlib import Path\n"
        "import numpy as np\n"
        "import pandas as pd\n"
        "from rppg_lib.run.record import record\n"
        "from rppg_lib.run.report import save_table\n"
        "x = np.load(Path(run_dir, 'artifacts', '00_measure', 'x.npy'))\n"
        "record('scaled_sum', float(scale * x.sum()), section='01_summarize', run_dir=run_dir)\n"
        "table = pd.DataFrame({'i': np.arange(len(x)), 'x': x})\n"
        "paths = save_table(table, 'samples', run_dir, caption='The samples.')"
    ),
]

BROKEN = [
    new_markdown_cell("# Broken"),
    new_code_cell("run_dir = None", metadata={"tags": ["parameters"]}),
    new_code_cell("value = 41"),
    new_code_cell(
        "# fails on purpose\nvalue += 1\nraise RuntimeError(f'broken on purpose {value}')"
    ),
]

NO_RUN_DIR = [new_code_cell("seed = 0", metadata={"tags": ["parameters"]})]

PARAMS = """\
notebooks: [00_measure, 01_summarize]
parameters:
  seed: 3   # random seed
  n: 5      # samples
per_notebook:
  01_summarize: {scale: 2.0}
"""
OVERRIDES = {"n": 4, "01_summarize.scale": 3}
CLI_OVERRIDES = ["-p", "n=4", "-p", "01_summarize.scale=3"]


def _write_notebook(path: Path, cells: list) -> None:
    nb = new_notebook(metadata=KERNELSPEC)
    nb.cells = cells
    nbformat.write(nb, path)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.org",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A small project (params/, notebooks/) committed to git, as the suite's repository is."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("project")
    (root / "notebooks").mkdir()
    (root / "params").mkdir()
    _write_notebook(root / "notebooks" / "00_measure.ipynb", MEASURE)
    _write_notebook(root / "notebooks" / "01_summarize.ipynb", SUMMARIZE)
    _write_notebook(root / "notebooks" / "02_broken.ipynb", BROKEN)
    _write_notebook(root / "notebooks" / "03_no_run_dir.ipynb", NO_RUN_DIR)
    (root / "params" / "tiny.yaml").write_text(PARAMS)
    (root / "params" / "broken.yaml").write_text("notebooks: [02_broken, 01_summarize]\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "tiny project")
    return root


@pytest.fixture(scope="module")
def first_run(project, tmp_path_factory):
    """One run through the Python API, with the notebooks folder found from the params path."""
    out = tmp_path_factory.mktemp("reports") / "tiny"
    env_before = os.environ.get(RUN_DIR_ENV)
    result = run(project / "params" / "tiny.yaml", out, OVERRIDES, progress=False)
    assert os.environ.get(RUN_DIR_ENV) == env_before  # the runner restores the environment
    return result


def _expected_samples() -> np.ndarray:
    return np.random.default_rng(3).normal(size=4)


def test_run_records_known_values(first_run, project):
    x = _expected_samples()
    metrics = json.loads((first_run.run_dir / "metrics.json").read_text())
    assert metrics == {
        "00_measure": {
            "mean": float(x.mean()),
            "cwd": str(project / "notebooks"),
            "hash_seed": os.environ.get("PYTHONHASHSEED", "0"),
            "env_matches": True,
        },
        "01_summarize": {"scaled_sum": float(3 * x.sum())},
    }
    assert first_run.metrics == metrics == load_metrics(first_run.run_dir)
    # The same records can be read back from each executed notebook alone.
    executed = first_run.run_dir / "notebooks"
    assert read_notebook_records(executed / "00_measure.ipynb") == {
        "00_measure": metrics["00_measure"]
    }
    assert read_notebook_records(executed / "01_summarize.ipynb") == {
        "01_summarize": metrics["01_summarize"]
    }


def test_run_writes_the_report_folder(first_run):
    out = first_run.run_dir
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == [
        "00_measure.ipynb",
        "01_summarize.ipynb",
    ]
    assert (out / "artifacts" / "00_measure" / "x.npy").is_file()
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "samples.json",
        "samples.pdf",
        "samples.png",
        "samples.svg",
    ]
    assert sorted(p.name for p in (out / "tables").iterdir()) == [
        "samples.csv",
        "samples.md",
        "samples.tex",
    ]
    # The executed notebook shows the injected parameters.
    nb = nbformat.read(out / "notebooks" / "01_summarize.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "scale = 3" in injected[0].source
    assert f'run_dir = "{out}"' in injected[0].source


def test_manifest_has_parameters_provenance_and_timings(first_run, project):
    manifest = json.loads((first_run.run_dir / "manifest.json").read_text())
    assert manifest == first_run.manifest
    assert manifest["status"] == "completed"
    assert manifest["notebooks"] == ["00_measure", "01_summarize"]
    out = str(first_run.run_dir)
    assert manifest["parameters"] == {
        "00_measure": {"run_dir": out, "seed": 3, "n": 4},
        "01_summarize": {"run_dir": out, "scale": 3},
    }
    assert manifest["overrides"] == OVERRIDES
    assert manifest["seeds"] == {"00_measure": {"seed": 3}}
    params_file = project / "params" / "tiny.yaml"
    assert manifest["params_file"] == {
        "path": str(params_file),
        "sha256": hashlib.sha256(params_file.read_bytes()).hexdigest(),
    }
    assert manifest["git"] == {
        "root": str(project),
        "commit": _git(project, "rev-parse", "HEAD"),
        "dirty": False,  # the run wrote nothing into the source tree
    }
    versions = manifest["versions"]
    for name in (
        "python",
        "numpy",
        "scipy",
        "torch",
        "opencv",
        "pandas",
        "matplotlib",
        "papermill",
        "rppg_lib",
    ):
        assert name in versions
    assert versions["numpy"] == np.__version__
    assert manifest["host"]["cpu_count"] == os.cpu_count()
    timings = manifest["timings_seconds"]
    assert list(timings) == ["00_measure", "01_summarize"]
    assert all(t > 0 for t in timings.values())
    assert manifest["total_seconds"] >= sum(timings.values())
    assert manifest["started_at"] <= manifest["finished_at"]


def test_index_html_shows_every_figure_and_links_the_notebooks(first_run):
    html = (first_run.run_dir / "index.html").read_text()
    assert first_run.index == first_run.run_dir / "index.html"
    for png in (first_run.run_dir / "figures").glob("*.png"):
        assert f'<img src="figures/{png.name}" alt="{png.stem}"' in html
    assert '<a href="notebooks/00_measure.ipynb">executed notebook</a>' in html
    assert "The samples." in html and "01_summarize.scaled_sum" in html
    assert first_run.manifest["git"]["commit"] in html
    if find_chromium() is not None:  # the first screen, kept for review
        assert (first_run.run_dir / "index.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_run_with_same_params_gives_identical_outputs(first_run, project, tmp_path):
    out = tmp_path / "again"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rppg_lib.run.cli",
            "run",
            "--params",
            str(project / "params" / "tiny.yaml"),
            "--out",
            str(out),
            *CLI_OVERRIDES,
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"report: {out / 'index.html'}" in done.stdout
    assert (out / "metrics.json").read_bytes() == (first_run.run_dir / "metrics.json").read_bytes()
    for rel in (
        "figures/samples.json",
        "figures/samples.pdf",
        "figures/samples.svg",
        "figures/samples.png",
        "tables/samples.csv",
        "tables/samples.tex",
        "tables/samples.md",
    ):
        assert (out / rel).read_bytes() == (first_run.run_dir / rel).read_bytes(), rel


def test_failing_notebook_stops_the_run(project, tmp_path):
    out = tmp_path / "broken"
    with pytest.raises(RunError) as info:
        run(project / "params" / "broken.yaml", out, progress=False)
    err = info.value
    message = str(err)
    assert err.notebook == "02_broken" and err.cell_index == 3
    assert err.ename == "RuntimeError" and err.evalue == "broken on purpose 42"
    assert "notebook 02_broken failed in cell 3" in message
    assert "# fails on purpose" in message  # the cell's first line
    assert "line 3: raise RuntimeError" in message  # the failing line
    assert "RuntimeError: broken on purpose 42" in message
    executed = out / "notebooks" / "02_broken.ipynb"
    assert err.executed_path == executed and str(executed) in message
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].evalue == "broken on purpose 42"
    # The run stopped: the next notebook was not executed.
    assert not (out / "notebooks" / "01_summarize.ipynb").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"]["notebook"] == "02_broken" and manifest["error"]["cell_index"] == 3
    assert list(manifest["timings_seconds"]) == ["02_broken"]
    assert "broken on purpose 42" in (out / "index.html").read_text()


def _write_params(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("params_text", "overrides", "match"),
    [
        (
            "notebooks: [00_measure]\nparameters: {sede: 1}\n",
            {},
            r"unknown parameter 'sede' \('parameters' in .*valid names: n, seed$",
        ),
        (
            "notebooks: [00_measure, 01_summarize]\n",
            {"epochs": 3},
            r"unknown parameter 'epochs' \(-p epochs\); valid names: n, scale, seed$",
        ),
        (
            "notebooks: [00_measure, 01_summarize]\nper_notebook:\n  01_summarize: {seed: 1}\n",
            {},
            r"unknown parameter 'seed' .*not declared by that notebook.*valid names: scale$",
        ),
        (
            "notebooks: [00_measure, 01_summarize]\n",
            {"01_summarize.n": 2},
            r"not declared by notebook 01_summarize.*valid names: scale$",
        ),
        ("notebooks: [00_measure]\n", {"09_other.n": 2}, "notebook '09_other' is not in this run"),
        ("notebooks: [00_measure]\n", {"run_dir": "/tmp"}, "set by the runner: use --out"),
        ("notebooks: [00_measure, 03_no_run_dir]\n", {}, "03_no_run_dir does not declare run_dir"),
    ],
)
def test_bad_parameters_are_rejected_before_running(
    project, tmp_path, params_text, overrides, match
):
    params = _write_params(tmp_path, params_text)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=match):
        run(params, out, overrides, notebooks_dir=project / "notebooks", progress=False)
    assert not out.exists()


def test_missing_notebooks_are_named_before_running(project, tmp_path):
    params = _write_params(tmp_path, "notebooks: [00_measure, 05_missing, 06_missing]\n")
    with pytest.raises(FileNotFoundError, match="05_missing.ipynb.*06_missing.ipynb"):
        run(params, tmp_path / "out", notebooks_dir=project / "notebooks", progress=False)
    assert not (tmp_path / "out").exists()


def test_unwritable_output_folder_is_named(project, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "report"
    with pytest.raises(PermissionError, match=f"cannot create output folder {out}"):
        run(project / "params" / "tiny.yaml", out, progress=False)


def test_cli_reports_errors_with_exit_status(project, tmp_path, capsys):
    params = str(project / "params" / "tiny.yaml")
    assert main(["run", "--params", params, "--out", str(tmp_path / "o"), "-p", "nope=1"]) == 2
    assert "rppg run: error: unknown parameter 'nope'" in capsys.readouterr().err
    assert main(["run", "--params", params, "-p", "missing_equals"]) == 2
    assert "-p expects name=value" in capsys.readouterr().err
    assert main(["run", "--params", str(tmp_path / "none.yaml")]) == 2
    assert "params file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([])  # a subcommand is required
    assert info.value.code == 2


def test_cli_help_lists_run(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "run" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "--params" in text and "--force" in text and "NAME=VALUE" in text


# -- output folder handling (no kernels) ---------------------------------------------------------


def test_prepare_out_dir_refuses_old_report_unless_forced(tmp_path):
    out = tmp_path / "report"
    assert prepare_out_dir(out) is None
    assert (out / "notebooks").is_dir()
    assert prepare_out_dir(out) is None  # still empty apart from notebooks/: reusable
    (out / "manifest.json").write_text("{}")
    with pytest.raises(FileExistsError, match="already holds a report; pass --force"):
        prepare_out_dir(out)
    moved = prepare_out_dir(out, force=True)
    assert moved is not None and moved.parent == tmp_path
    assert moved.name.startswith("report.old-")
    assert (moved / "manifest.json").read_text() == "{}"  # nothing deleted
    assert sorted(p.name for p in out.iterdir()) == ["notebooks"]


def test_prepare_out_dir_never_moves_a_folder_that_is_not_a_report(tmp_path):
    (tmp_path / "precious.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="does not look like an rppg report"):
        prepare_out_dir(tmp_path, force=True)
    assert (tmp_path / "precious.txt").read_text() == "keep"
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is not a folder"):
        prepare_out_dir(tmp_path / "file")


# -- params files and overrides -----------------------------------------------------------------


def test_parse_override_reads_yaml_scalars():
    assert parse_override("epochs=3") == ("epochs", 3)
    assert parse_override("lr=1e-3") == ("lr", 0.001)
    assert parse_override("flag=true") == ("flag", True)
    assert parse_override("name=tscan") == ("name", "tscan")
    assert parse_override("x=null") == ("x", None)
    assert parse_override("path=a=b") == ("path", "a=b")
    assert parse_override("02_train.epochs=5") == ("02_train.epochs", 5)
    assert parse_override("tag=") == ("tag", "")
    assert parse_overrides(["a=1", "a=2", "b=x"]) == {"a": 2, "b": "x"}
    for bad in ("noequals", "=3", "x=[1, 2", "x=.nan", "d=2024-01-01"):
        with pytest.raises(ValueError):
            parse_override(bad)


def test_parameter_precedence():
    spec = ParamsFile(
        Path("p.yaml"),
        ["a", "b"],
        parameters={"seed": 1, "epochs": 10},
        per_notebook={"b": {"epochs": 20, "seed": 2}},
    )
    declared = {"a": ["run_dir", "seed"], "b": ["run_dir", "seed", "epochs"]}
    run_dir = Path("/r")
    assert resolve_parameters(spec, declared, {}, run_dir) == {
        "a": {"run_dir": "/r", "seed": 1},
        "b": {"run_dir": "/r", "seed": 2, "epochs": 20},
    }
    # -p beats the file (also its per_notebook entries); -p notebook.name beats -p name.
    got = resolve_parameters(spec, declared, {"seed": 5, "b.seed": 6, "epochs": 30}, run_dir)
    assert got == {
        "a": {"run_dir": "/r", "seed": 5},
        "b": {"run_dir": "/r", "seed": 6, "epochs": 30},
    }


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("- a\n- b\n", "must be a YAML mapping"),
        ("notebooks: []\n", "non-empty list"),
        ("notebooks: [a]\nextra: 1\n", r"unknown top-level key\(s\) \['extra'\]"),
        ("notebooks: [a.ipynb]\n", "must be a stem"),
        ("notebooks: [a, a]\n", "listed twice"),
        ("notebooks: [a]\nper_notebook: {b: {x: 1}}\n", "'b' is not in 'notebooks'"),
        ("notebooks: [a]\nparameters: {when: 2024-01-01}\n", "unsupported type date"),
        ("notebooks: [a]\nparameters: {x: .inf}\n", "must be finite"),
        ("notebooks: [a]\nparameters: {not-a-name: 1}\n", "not a Python identifier"),
        ("notebooks: [a\n", "not valid YAML"),
    ],
)
def test_load_params_rejects_malformed_files(tmp_path, text, match):
    path = _write_params(tmp_path, text)
    with pytest.raises(ValueError, match=match) as info:
        load_params(path)
    assert str(path) in str(info.value)


def test_load_params_reads_a_valid_file(tmp_path):
    spec = load_params(_write_params(tmp_path, PARAMS))
    assert spec.notebooks == ["00_measure", "01_summarize"]
    assert spec.parameters == {"seed": 3, "n": 5}
    assert spec.per_notebook == {"01_summarize": {"scale": 2.0}}
    # YAML 1.2 exponent floats are floats (PyYAML alone would return the string "1e-3").
    text = "notebooks: [a]\nparameters: {lr: 1e-3, tags: [x, 2], opts: {k: null}}\n"
    spec = load_params(_write_params(tmp_path, text))
    assert spec.parameters == {"lr": 0.001, "tags": ["x", 2], "opts": {"k": None}}


@pytest.mark.parametrize("name", ["smoke", "default"])
def test_shipped_params_files_are_valid(repo_root, name):
    spec = load_params(repo_root / "params" / f"{name}.yaml")
    assert spec.notebooks[0] == "00_synthetic_data"
    assert spec.notebooks == sorted(spec.notebooks)
    assert spec.parameters["seed"] == 0


# -- provenance -------------------------------------------------------------------------------


def test_git_info_commit_and_dirty_flag(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    assert git_info(tmp_path) == {"root": None, "commit": None, "dirty": None}
    _git(tmp_path, "init", "-q")
    assert git_info(tmp_path) == {"root": str(tmp_path), "commit": None, "dirty": False}
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    info = git_info(tmp_path)
    assert info["commit"] == _git(tmp_path, "rev-parse", "HEAD") and len(info["commit"]) == 40
    assert info["dirty"] is False
    (tmp_path / "a.txt").write_text("two")
    assert git_info(tmp_path)["dirty"] is True


def test_package_versions_and_host_info():
    versions = package_versions()
    assert list(versions) == [
        "python",
        "numpy",
        "scipy",
        "torch",
        "opencv",
        "pandas",
        "matplotlib",
        "papermill",
        "rppg_lib",
    ]
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert versions["numpy"] == np.__version__
    import rppg_lib

    assert versions["rppg_lib"] == rppg_lib.__version__
    host = host_info()
    assert host["cpu_count"] == os.cpu_count() and host["platform"]


def test_sha256_seeds_timestamp_stopwatch(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    assert sha256_file(path) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert collect_seeds({"a": {"seed": 1, "n": 2}, "b": {"n": 3}, "c": {"split_seed": 4}}) == {
        "a": {"seed": 1},
        "c": {"split_seed": 4},
    }
    stamp = utc_timestamp()
    assert len(stamp) == 20 and stamp.endswith("Z") and stamp[10] == "T"
    watch = Stopwatch()
    assert watch.seconds == 0.0
    with watch:
        inside = watch.seconds
        sum(range(10000))
    assert 0 <= inside <= watch.seconds
    assert watch.seconds == watch.seconds  # frozen after the block


FLAKY = [
    new_code_cell("run_dir = None  # report folder", metadata={"tags": ["parameters"]}),
    new_code_cell(
        "from pathlib import Path\n"
        "from rppg_lib.run.record import record\n"
        "# fails while the flag file lies beside the notebooks (the working directory)\n"
        "if Path('fail.flag').exists():\n"
        "    raise RuntimeError('flaky on purpose')\n"
        "record('ran', True, section='02_flaky', run_dir=run_dir)"
    ),
]


def test_resume_keeps_completed_notebooks_and_reruns_the_rest(project, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(project / "notebooks", root / "notebooks")
    (root / "params").mkdir()
    _write_notebook(root / "notebooks" / "02_flaky.ipynb", FLAKY)
    params = root / "params" / "resume.yaml"
    params.write_text("notebooks: [00_measure, 02_flaky, 01_summarize]\nparameters: {n: 4}\n")
    (root / "notebooks" / "fail.flag").write_text("")
    out = tmp_path / "run"
    with pytest.raises(RunError):
        run(params, out, progress=False)
    first = json.loads((out / "manifest.json").read_text())
    assert first["status"] == "failed" and first["completed"] == ["00_measure"]
    # A run killed outright (no chance to finish its manifest) leaves the one written after
    # its last completed notebook, with status "running": still enough to resume.
    killed = {**first, "status": "running"}
    (out / "manifest.json").write_text(json.dumps(killed))
    measured = (out / "notebooks" / "00_measure.ipynb").stat().st_mtime_ns

    (root / "notebooks" / "fail.flag").unlink()
    with pytest.raises(ValueError, match="either --force .* or --resume"):
        run(params, out, force=True, resume=True, progress=False)
    result = run(params, out, resume=True, progress=False)
    manifest = result.manifest
    assert manifest["status"] == "completed"
    assert manifest["resumed"]["kept"] == ["00_measure"]
    assert manifest["resumed"]["previous_status"] == "running"
    assert manifest["completed"] == ["00_measure", "02_flaky", "01_summarize"]
    assert set(manifest["timings_seconds"]) == set(manifest["completed"])
    assert (out / "notebooks" / "00_measure.ipynb").stat().st_mtime_ns == measured
    expected = np.random.default_rng(0).normal(size=4)
    assert result.metrics["00_measure"]["mean"] == pytest.approx(expected.mean())
    assert result.metrics["02_flaky"]["ran"] is True
    assert result.metrics["01_summarize"]["scaled_sum"] == pytest.approx(expected.sum())

    # A changed parameter of the last notebook keeps the two before it; its old record goes.
    again = run(params, out, {"01_summarize.scale": 2.0}, resume=True, progress=False)
    assert again.manifest["resumed"]["kept"] == ["00_measure", "02_flaky"]
    assert again.metrics["01_summarize"]["scaled_sum"] == pytest.approx(2 * expected.sum())
    # A changed notebook file runs again, with every notebook after it.
    flaky = root / "notebooks" / "02_flaky.ipynb"
    nb = nbformat.read(flaky, as_version=4)
    nb.cells.append(new_code_cell("# an added cell"))
    nbformat.write(nb, flaky)
    edited = run(params, out, {"01_summarize.scale": 2.0}, resume=True, progress=False)
    assert edited.manifest["resumed"]["kept"] == ["00_measure"]
    # A changed parameter of the first notebook runs everything again.
    fresh = run(params, out, {"seed": 1}, resume=True, progress=False)
    assert fresh.manifest["resumed"]["kept"] == []
    expected = np.random.default_rng(1).normal(size=4)
    assert fresh.metrics["00_measure"]["mean"] == pytest.approx(expected.mean())


def test_resume_of_an_empty_folder_starts_afresh(project, tmp_path):
    result = run(project / "params" / "tiny.yaml", tmp_path / "new", resume=True, progress=False)
    assert result.manifest["status"] == "completed" and "resumed" not in result.manifest
    assert result.manifest["completed"] == ["00_measure", "01_summarize"]

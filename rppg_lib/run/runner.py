"""Run the suite's notebooks in order with papermill and write a report folder.

``run("params/default.yaml", "reports/default")`` (or ``rppg run --params ... --out ...``):

1. reads the params file (see :mod:`rppg_lib.run.params`), checks that every listed notebook
   exists in the notebooks folder and declares ``run_dir``, and that every parameter given is
   declared by some notebook and has the type and range its notebook declares
   (:func:`rppg_lib.run.params.check_parameter_values`): all before anything runs or any folder
   is touched;
2. prepares the report folder (see :func:`prepare_out_dir` for what happens to an old report);
3. executes each notebook with papermill into ``<out>/notebooks/<stem>.ipynb``, injecting the
   parameters it declares, ``run_dir`` = the absolute report folder included. Notebooks write
   artifacts to ``run_dir/artifacts/<stem>/`` and read their predecessors' from there, so any
   notebook can also be run alone given ``run_dir``. Kernels get ``RPPG_RUN_DIR`` = the report
   folder (so :func:`rppg_lib.run.record.record` finds it), ``PYTHONHASHSEED=0`` unless already
   set (same set/str-hash order every run), the portable numerics where unset
   (:mod:`rppg_lib.run.numerics`; recorded in the manifest), ``RPPG_PROGRESS=final`` (one
   progress line per loop in the stored notebooks, :mod:`rppg_lib.progress`), and the notebooks
   folder as working directory, as in JupyterLab and nbval, so relative paths mean the same thing
   everywhere;
4. stops at the first failing notebook (:class:`RunError` names the notebook, the cell and the
   exception; the executed notebook is saved), and in all cases writes ``manifest.json``
   (parameters, seeds, versions, git commit, host, timings, params-file hash, the notebooks
   completed) and ``index.html``.

``resume=True`` continues an interrupted or failed run in the same folder: the leading notebooks
that completed before with exactly the same parameters and an unchanged notebook file (SHA-256)
are kept (their outputs, records and timings), and the run starts at the first notebook that did
not (data flow one way, so every later notebook runs again; their old records are removed from
``metrics.json`` first). Changes to the library itself are not detected: start afresh
(``force``) after changing code that a kept notebook ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from traitlets.config import Config

from rppg_lib.atomic import atomic_write_json, move_aside
from rppg_lib.progress import PROGRESS_ENV, progress_bar
from rppg_lib.progress import write as progress_write
from rppg_lib.run import numerics
from rppg_lib.run.params import (
    check_parameter_values,
    load_params,
    notebook_parameters,
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
from rppg_lib.run.record import METRICS_FILE, RUN_DIR_ENV, load_metrics
from rppg_lib.run.report.html import MANIFEST_FILE, build_index

__all__ = [
    "RunError",
    "RunInterrupted",
    "RunResult",
    "run",
    "prepare_out_dir",
    "default_notebooks_dir",
]

# Files whose presence marks a folder as an (old) report that --force may move aside.
_REPORT_MARKERS = (MANIFEST_FILE, "metrics.json", "index.html", "notebooks")


class RunError(RuntimeError):
    """A notebook failed; ``notebook``, ``cell_index``, ``executed_path`` say where."""

    def __init__(
        self,
        message: str,
        *,
        notebook: str,
        executed_path: Path,
        cell_index: int | None = None,
        ename: str | None = None,
        evalue: str | None = None,
    ) -> None:
        super().__init__(message)
        self.notebook = notebook
        self.executed_path = executed_path
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run, after the partial report was written with status "interrupted"
    (``run_dir``: the report folder; ``notebook``: the one that was running)."""

    def __init__(self, run_dir: Path, notebook: str | None) -> None:
        super().__init__(f"interrupted during notebook {notebook}")
        self.run_dir = run_dir
        self.notebook = notebook


@dataclass(frozen=True)
class RunResult:
    """A finished run: its folder, the manifest written, the records and the index page."""

    run_dir: Path
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    index: Path


def default_notebooks_dir(params_path: str | os.PathLike) -> Path:
    """``notebooks/`` next to the params file's folder (``params/x.yaml`` -> ``notebooks/``)."""
    return Path(params_path).resolve().parent.parent / "notebooks"


def prepare_out_dir(out_dir: str | os.PathLike, *, force: bool = False) -> Path | None:
    """Create ``out_dir`` for a new report; returns where an old report was moved, if any.

    A folder that already holds files (empty sub-folders do not count) is never overwritten or
    mixed with a new run (stale records would survive in ``metrics.json``): if it looks like a
    report (it has one of ``manifest.json``, ``metrics.json``, ``index.html``, ``notebooks/``),
    ``force=True`` renames it to ``<out_dir>.old-<UTC time>`` (nothing is deleted) and otherwise
    FileExistsError is raised; any other non-empty folder is refused even with ``force``.
    PermissionError names a folder that cannot be created or written.
    """
    out = Path(out_dir)
    moved: Path | None = None
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output folder {out} exists and is not a folder")
    # Empty sub-folders (e.g. notebooks/ of a run refused before it started) hold nothing to lose.
    if out.is_dir() and any(not p.is_dir() for p in out.rglob("*")):
        is_report = any((out / m).exists() for m in _REPORT_MARKERS)
        if not is_report:
            raise FileExistsError(
                f"output folder {out} is not empty and does not look like an rppg report; "
                "choose a new or empty folder with --out"
            )
        if not force:
            raise FileExistsError(
                f"output folder {out} already holds a report; pass --force to move it aside "
                f"(to {out.name}.old-<time>) or choose another --out"
            )
        moved = move_aside(out)
    try:
        (out / "notebooks").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create output folder {out}: {err}") from err
    if not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(f"output folder {out} is not writable")
    return moved


@contextlib.contextmanager
def _kernel_environment(run_dir: Path) -> Iterator[None]:
    """Environment variables inherited by the kernels papermill starts; restored afterwards."""
    keys = (RUN_DIR_ENV, PROGRESS_ENV, "PYTHONHASHSEED", *numerics.PORTABLE_ENV)
    saved = {k: os.environ.get(k) for k in keys}
    numerics.apply()  # the kernels' numpy and torch load after this (also without our kernel)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    os.environ[PROGRESS_ENV] = "final"  # nobody watches these kernels: one line per loop
    os.environ.setdefault("PYTHONHASHSEED", "0")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _source_cell_index(executed: Path, cell_index: int) -> int:
    """Index in the source notebook of the executed notebook's cell ``cell_index``.

    papermill adds an ``injected-parameters`` cell; it is not in the notebook the user edits.
    """
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
    except (OSError, ValueError):
        return cell_index
    cells = [c for c in cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    injected = sum("injected-parameters" in c.metadata.get("tags", []) for c in cells[:cell_index])
    return cell_index - injected


def _failing_line(traceback: list[str] | None) -> str:
    """``"line N: code"`` + newline for the cell line IPython's traceback marks ``---->``."""
    from papermill.exceptions import strip_color

    for line in strip_color("\n".join(traceback or [])).splitlines():
        match = re.match(r"^-+>\s*(\d+)\s?(.*)$", line)
        if match:
            return f"line {match.group(1)}: {match.group(2).strip()}\n"
    return ""


def _failure(stem: str, source: Path, executed: Path, err: Exception) -> RunError:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        index = _source_cell_index(executed, err.cell_index)
        lines = [line for line in (err.source or "").splitlines() if line.strip()]
        first = lines[0].strip() if lines else ""
        message = (
            f"notebook {stem} failed in cell {index} (0-based, of {source}; In "
            f"[{err.exec_count}] in the executed notebook), which starts with: {first}\n"
            f"{_failing_line(err.traceback)}{err.ename}: {err.evalue}\n"
            f"executed notebook saved to {executed}"
        )
        return RunError(
            message,
            notebook=stem,
            executed_path=executed,
            cell_index=index,
            ename=err.ename,
            evalue=err.evalue,
        )
    if executed.is_file():
        saved = f"partially executed notebook saved to {executed}"
    else:
        saved = "no executed notebook was saved"
    message = f"notebook {stem} failed: {type(err).__name__}: {err}\n{saved}"
    return RunError(message, notebook=stem, executed_path=executed, ename=type(err).__name__)


def run(
    params: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    notebooks_dir: str | os.PathLike | None = None,
    force: bool = False,
    resume: bool = False,
    kernel_name: str = "python3",
    progress: bool = True,
    start_timeout: float = 120,
) -> RunResult:
    """Execute the notebooks of the params file ``params`` in order into the report ``out_dir``.

    ``out_dir`` defaults to ``reports/<params file stem>`` (relative to the current folder);
    ``overrides`` are ``-p`` values (``{"seed": 1, "02_train_tscan.epochs": 3}``);
    ``notebooks_dir`` defaults to :func:`default_notebooks_dir`; ``force`` moves an old report
    aside (:func:`prepare_out_dir`); ``resume`` keeps the completed leading notebooks of an
    earlier run in ``out_dir`` (see the module docstring; a folder without a manifest simply
    starts afresh); ``start_timeout`` is the kernel start-up limit in seconds.
    Ctrl-C during a notebook writes the partial report with status "interrupted" and raises
    :class:`RunInterrupted` (a KeyboardInterrupt). Raises ValueError / FileNotFoundError
    before running anything for a bad params file, a missing notebook, an undeclared parameter
    or a value of the wrong type or range, and :class:`RunError` when a notebook fails
    (after writing the manifest and index of the partial run).
    """
    if force and resume:
        raise ValueError("give either --force (start afresh) or --resume (continue), not both")
    plan = _plan(params, out_dir, overrides, notebooks_dir)
    previous = _previous_manifest(plan.run_dir) if resume else None
    if previous is None:
        moved = prepare_out_dir(plan.run_dir, force=force)
        if moved is not None:
            progress_write(f"rppg run: moved the previous report in {plan.run_dir} to {moved}")
    manifest = _start_manifest(plan, overrides, kernel_name)
    kept = _reusable_notebooks(plan, previous) if previous is not None else []
    if previous is not None:
        _keep_completed(manifest, previous, kept, plan.run_dir)
        progress_write(f"rppg run: resuming in {plan.run_dir}: keeping {len(kept)} completed "
                       f"notebook(s){': ' + ', '.join(kept) if kept else ''}")
    # Written now and after every notebook, so that a run killed outright can still resume.
    atomic_write_json(plan.run_dir / MANIFEST_FILE, manifest, sort_keys=False)
    failure: RunError | None = None
    # Made before the kernels' environment is set: this bar is for whoever runs the command.
    todo = [stem for stem in plan.spec.notebooks if stem not in kept]
    bar = progress_bar(todo, desc="rppg run", unit="notebook", disable=not progress)
    with Stopwatch() as total, _kernel_environment(plan.run_dir):
        for stem in bar:
            bar.set_postfix_str(stem)
            failure = _run_notebook(plan, stem, manifest, total, kernel_name, start_timeout)
            if failure is not None:
                break
        bar.close()
    if failure is not None:
        manifest["status"] = "failed"
        manifest["error"] = {
            "notebook": failure.notebook,
            "cell_index": failure.cell_index,
            "ename": failure.ename,
            "evalue": failure.evalue,
            "message": str(failure),
        }
        _finish(manifest, plan.run_dir, total.seconds)
        raise failure
    manifest["status"] = "completed"
    index = _finish(manifest, plan.run_dir, total.seconds)
    return RunResult(plan.run_dir, manifest, load_metrics(plan.run_dir), index)


def _previous_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The manifest of the run in ``run_dir``, or None when there is none to resume."""
    path = run_dir / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot resume: {path} is unreadable ({err})") from err
    if not isinstance(manifest, dict):
        raise ValueError(f"cannot resume: {path} does not hold a run manifest")
    return manifest


def _reusable_notebooks(plan: _RunPlan, previous: Mapping[str, Any]) -> list[str]:
    """The leading notebooks of ``plan`` that ``previous`` completed with the same parameters
    and the same notebook file (and whose executed notebook is still there)."""
    done = set(previous.get("completed") or [])
    old_parameters = previous.get("parameters") or {}
    old_sources = previous.get("sources_sha256") or {}
    kept = []
    for stem in plan.spec.notebooks:
        executed = plan.run_dir / "notebooks" / f"{stem}.ipynb"
        if stem not in done or old_parameters.get(stem) != plan.injected[stem]:
            break
        if old_sources.get(stem) != sha256_file(plan.sources[stem]):
            break
        if not executed.is_file():
            break
        kept.append(stem)
    return kept


def _keep_completed(
    manifest: dict[str, Any], previous: Mapping[str, Any], kept: list[str], run_dir: Path
) -> None:
    """Carry the kept notebooks' timings into ``manifest`` and drop every other notebook's
    records from ``metrics.json`` (they are written again when it runs)."""
    old_timings = previous.get("timings_seconds") or {}
    manifest["completed"] = list(kept)
    manifest["timings_seconds"] = {s: old_timings[s] for s in kept if s in old_timings}
    manifest["resumed"] = {
        "kept": list(kept),
        "previous_started_at": previous.get("started_at"),
        "previous_status": previous.get("status"),
        "previous_git": previous.get("git"),
    }
    metrics = load_metrics(run_dir)
    stale = [section for section in metrics if section not in kept]
    if stale:
        for section in stale:
            del metrics[section]
        atomic_write_json(run_dir / METRICS_FILE, metrics)


@dataclass(frozen=True)
class _RunPlan:
    """What a run will do, checked before anything runs or any folder is touched."""

    params_path: Path
    spec: Any  # the loaded params file (run.params.load_params)
    notebooks_dir: Path
    sources: dict[str, Path]  # notebook stem -> its .ipynb
    run_dir: Path
    injected: dict[str, dict[str, Any]]  # notebook stem -> the parameters it receives


def _plan(
    params: str | os.PathLike,
    out_dir: str | os.PathLike | None,
    overrides: Mapping[str, Any] | None,
    notebooks_dir: str | os.PathLike | None,
) -> _RunPlan:
    params_path = Path(params)
    spec = load_params(params_path)
    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir(params)
    nb_dir = nb_dir.resolve()
    sources = {stem: nb_dir / f"{stem}.ipynb" for stem in spec.notebooks}
    missing = [str(p) for p in sources.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"notebook(s) listed in {params_path} not found: {', '.join(missing)}"
        )
    declarations = {stem: notebook_parameters(path) for stem, path in sources.items()}
    declared = {stem: list(names) for stem, names in declarations.items()}
    run_dir = Path(out_dir if out_dir is not None else Path("reports") / params_path.stem)
    run_dir = run_dir.resolve()
    injected = resolve_parameters(spec, declared, dict(overrides or {}), run_dir)
    check_parameter_values(injected, declarations)
    return _RunPlan(params_path, spec, nb_dir, sources, run_dir, injected)


def _start_manifest(
    plan: _RunPlan, overrides: Mapping[str, Any] | None, kernel_name: str
) -> dict[str, Any]:
    return {
        "status": "running",
        "started_at": utc_timestamp(),
        "finished_at": None,
        "params_file": {
            "path": str(plan.params_path.resolve()), "sha256": sha256_file(plan.params_path),
        },
        "notebooks_dir": str(plan.notebooks_dir),
        "notebooks": list(plan.spec.notebooks),
        "sources_sha256": {stem: sha256_file(path) for stem, path in plan.sources.items()},
        "overrides": dict(overrides or {}),
        "parameters": plan.injected,
        "seeds": collect_seeds(plan.injected),
        "kernel": kernel_name,
        "timings_seconds": {},
        "completed": [],
        "total_seconds": None,
        "versions": package_versions(),
        "git": git_info(plan.notebooks_dir),
        "host": host_info(),
        "numerics": numerics.apply(dict(os.environ)),
    }


def _run_notebook(
    plan: _RunPlan,
    stem: str,
    manifest: dict[str, Any],
    total: Stopwatch,
    kernel_name: str,
    start_timeout: float,
) -> RunError | None:
    """Execute one notebook into the report; its failure (None if it ran through). Ctrl-C
    writes the partial report marked "interrupted" and raises :class:`RunInterrupted`."""
    executed = plan.run_dir / "notebooks" / f"{stem}.ipynb"
    failure = None
    interrupted = False
    with Stopwatch() as clock:
        try:
            _execute(plan.sources[stem], executed, plan.injected[stem], plan.notebooks_dir,
                     kernel_name, start_timeout)
        except Exception as err:  # any failure of the notebook or its kernel
            # Ctrl-C reaches the kernel too (same process group): its cell then fails
            # with KeyboardInterrupt, which is an interruption, not a failing notebook
            if getattr(err, "ename", None) != "KeyboardInterrupt":
                failure = _failure(stem, plan.sources[stem], executed, err)
            else:
                interrupted = True
        except KeyboardInterrupt:
            interrupted = True
    manifest["timings_seconds"][stem] = round(clock.seconds, 3)
    if failure is None and not interrupted:
        manifest["completed"].append(stem)
        atomic_write_json(plan.run_dir / MANIFEST_FILE, manifest, sort_keys=False)
    if interrupted:
        manifest["status"] = "interrupted"
        manifest["interrupted_notebook"] = stem
        _finish(manifest, plan.run_dir, total.seconds)
        raise RunInterrupted(plan.run_dir, stem)
    return failure


def _execute(
    source: Path,
    executed: Path,
    parameters: dict[str, Any],
    cwd: Path,
    kernel_name: str,
    start_timeout: float,
) -> None:
    import papermill

    # The kernel's own stderr (its log lines) is held back and passed on once the notebook
    # ends; after Ctrl-C it is dropped: the kernel, shut down mid-cell, logs a traceback of its
    # closed sockets that would bury the one-line message of the interruption.
    with tempfile.TemporaryFile() as kernel_stderr:
        interrupted = False
        try:
            papermill.execute_notebook(
                str(source),
                str(executed),
                parameters=parameters,
                kernel_name=kernel_name,
                cwd=str(cwd),
                progress_bar=False,
                start_timeout=start_timeout,
                config=_kernel_config(kernel_stderr),
            )
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if not interrupted:
                kernel_stderr.seek(0)
                text = kernel_stderr.read().decode("utf-8", errors="replace")
                if text:
                    sys.stderr.write(text)


def _kernel_config(stderr: IO[bytes] | None = None) -> Config:
    """Kernel-manager settings: CurveZMQ encryption of the local kernel traffic where possible,
    and the kernel's stderr sent to the file ``stderr`` (None: inherited).

    jupyter_client >= 8.10 provisions keys with ``transport_encryption="auto"`` for kernels that
    declare support (ipykernel does); this also stops ipykernel's plain-TCP warning on every
    start. Older jupyter_client versions, or pyzmq without Curve, keep their defaults.
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager, KernelManager

    config = Config()
    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    if stderr is not None:

        class _KernelManager(AsyncKernelManager):
            async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
                kw.setdefault("stderr", stderr)
                await super()._async_launch_kernel(kernel_cmd, **kw)

        config.NotebookClient.kernel_manager_class = _KernelManager
    return config


def _finish(manifest: dict[str, Any], run_dir: Path, seconds: float) -> Path:
    manifest["finished_at"] = utc_timestamp()
    manifest["total_seconds"] = round(seconds, 3)
    atomic_write_json(run_dir / MANIFEST_FILE, manifest, sort_keys=False)
    return build_index(run_dir, screenshot=True)

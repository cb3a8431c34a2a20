"""``index.html``: one static page that leads with a run's answer.

The first screen (1400×900) holds the title line (parameters, status, commit), the verdicts of
the claims, the method comparison and the key figures with their captions (:mod:`.answer`,
:mod:`.sections`). Then one section per notebook with its numbered figures (caption, source
notebook, links to PDF/SVG) and tables; then, folded, the run's provenance (``manifest.json``)
and every record of ``metrics.json``. Images and links are relative to the run directory, so
the page opens from disk and the folder can be moved or zipped.
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from rppg_lib.atomic import atomic_write_text
from rppg_lib.run.record import METRICS_FILE, load_metrics, resolve_run_dir
from rppg_lib.run.report.answer import method_rows, verdict_rows
from rppg_lib.run.report.browser import save_screenshot
from rppg_lib.run.report.sections import (
    SavedFigure,
    SavedTable,
    collect_figures,
    collect_tables,
    figure_html,
    methods_html,
    table_html,
    verdicts_html,
)

__all__ = ["build_index", "INDEX_FILE", "MANIFEST_FILE"]

INDEX_FILE = "index.html"
MANIFEST_FILE = "manifest.json"

_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 0 auto; max-width: 1600px;
       color: #222; line-height: 1.3; padding: 0.6em 1.2em; font-size: 14px; }
h1 { font-size: 1.35em; margin: 0 0 0.15em; } h2 { font-size: 1.15em; margin: 0.5em 0 0.3em; }
h2.nb { border-bottom: 1px solid #ccc; margin-top: 1.6em; } h3 { font-size: 1em; }
.runline { margin: 0 0 0.6em; color: #444; }
.answer { display: grid; grid-template-columns: minmax(0, 1fr) 36%; gap: 1.2em; }
table { border-collapse: collapse; margin: 0.2em 0 0.6em; font-size: 0.82em; }
th, td { border: 1px solid #ccc; padding: 0.1em 0.4em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
.ci { color: #666; font-size: 0.9em; } .note, .src { color: #666; font-size: 0.85em; }
.note { margin: -0.4em 0 0.4em; }
.verdict { font-weight: bold; padding: 0 0.3em; border-radius: 3px; color: #fff; }
.verdict.holds { background: #009E73; } .verdict.fails { background: #D55E00; }
.verdict.undecided { background: #888; }
figure { display: inline-block; margin: 0.4em 1em 0.8em 0; vertical-align: top; max-width: 34em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figure.key { display: block; margin: 0 0 0.6em; max-width: none; }
figure.key img { max-height: 240px; width: auto; }
figcaption { font-size: 0.85em; color: #333; }
.scroll { max-height: 24em; overflow: auto; display: inline-block; }
.completed { color: #009E73; } .failed, .interrupted { color: #D55E00; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
details { margin: 1em 0; } summary { font-weight: bold; cursor: pointer; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "null" if value is None else str(value)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kv_table(rows: list[tuple[str, Any]], headers: tuple[str, str] = ("name", "value")) -> str:
    body = "".join(
        f"<tr><td>{escape(str(k))}</td>"
        f"<td{' class=num' if _is_num(v) else ''}>{escape(_fmt(v))}</td></tr>"
        for k, v in rows
    )
    head = f"<tr><th>{escape(headers[0])}</th><th>{escape(headers[1])}</th></tr>"
    return f"<table>{head}{body}</table>"


def _records_table(records: list[dict]) -> str:
    columns: list[str] = []
    for rec in records:
        columns += [c for c in rec if c not in columns]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if _is_num(rec.get(c)) else ''}>{escape(_fmt(rec.get(c, '')))}</td>"
            for c in columns
        )
        + "</tr>"
        for rec in records
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _metrics_section(metrics: dict) -> str:
    scalars: list[tuple[str, Any]] = []
    tables: list[tuple[str, list[dict]]] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and (node or not prefix):
            for key, child in node.items():
                walk(child, f"{prefix}.{key}" if prefix else key)
        elif isinstance(node, list) and node and all(isinstance(r, dict) for r in node):
            tables.append((prefix, node))
        else:
            scalars.append((prefix, node))

    walk(metrics, "")
    parts = [_kv_table(scalars, ("record", "value"))] if scalars else []
    for key, records in tables:
        parts.append(f"<h3>{escape(key)}</h3>{_records_table(records)}")
    return "".join(parts) or "<p>No records.</p>"


def _run_summary(manifest: dict) -> str:
    git = manifest.get("git", {})
    params_file = manifest.get("params_file", {})
    summary = [
        ("status", manifest.get("status")),
        ("started (UTC)", manifest.get("started_at")),
        ("finished (UTC)", manifest.get("finished_at")),
        ("total time (s)", manifest.get("total_seconds")),
        ("git commit", git.get("commit")),
        ("uncommitted changes", git.get("dirty")),
        ("params file", params_file.get("path")),
        ("params file sha256", params_file.get("sha256")),
        ("kernel", manifest.get("kernel")),
    ]
    return f"<h3>Run</h3>{_kv_table(summary, ('item', 'value'))}"


def _provenance_sections(manifest: dict) -> str:
    out = [_run_summary(manifest)]
    param_rows = [
        (f"{stem}: {key}", value)
        for stem, params in manifest.get("parameters", {}).items()
        for key, value in params.items()
    ]
    out.append(f"<h3>Parameters</h3>{_kv_table(param_rows, ('notebook: parameter', 'value'))}")
    versions = list(manifest.get("versions", {}).items())
    out.append(f"<h3>Versions</h3>{_kv_table(versions, ('package', 'version'))}")
    out.append(f"<h3>Host</h3>{_kv_table(list(manifest.get('host', {}).items()))}")
    return "".join(out)


def _title(folder: Path, manifest: dict) -> str:
    """The heading and the run line: parameter file, status, commit, start and duration."""
    git = manifest.get("git", {})
    status = manifest.get("status")
    parts = []
    if manifest.get("params_file", {}).get("path"):
        parts.append(f"<code>{escape(Path(manifest['params_file']['path']).name)}</code>")
    if status:
        parts.append(f"status <b class={escape(status)}>{escape(status)}</b>")
    if git.get("commit"):
        dirty = " + uncommitted changes" if git.get("dirty") else ""
        parts.append(f"commit <code>{escape(str(git['commit'])[:10])}</code>{escape(dirty)}")
    if manifest.get("started_at"):
        parts.append(f"started {escape(str(manifest['started_at']))}")
    if isinstance(manifest.get("total_seconds"), (int, float)):
        parts.append(f"{manifest['total_seconds']:.0f} s")
    parts += [f'<a href="{n}">{n}</a>' for n in (METRICS_FILE, MANIFEST_FILE)
              if (folder / n).is_file()]
    out = f"<h1>rppg-suite report: {escape(folder.resolve().name)}</h1>"
    out += f'<p class="runline">{" · ".join(parts)}</p>'
    error = manifest.get("error")
    if error:
        out += f"<h2 class=failed>Failure</h2><pre>{escape(error.get('message', ''))}</pre>"
    return out


def _answer(metrics: dict, figures: list[SavedFigure]) -> str:
    """The first screen: verdicts and method table on the left, key figures on the right."""
    rows = verdict_rows(metrics)
    methods = method_rows(metrics)
    key = [f for f in figures if f.key]
    shown = "".join(figure_html(f, css_class="key") for f in key) or (
        "<p class=note>No figure of this run is marked as a key figure.</p>")
    note = '<p class="note">Intervals: 95 %; best value per scenario in bold.</p>'
    return (
        '<div class="answer"><section id="answer-tables"><h2>Verdicts</h2>'
        f"{verdicts_html(rows)}<h2>Methods (heart rate)</h2>{methods_html(methods)}"
        f'{note if methods else ""}</section>'
        f'<section id="key-figures"><h2>Key figures</h2>{shown}</section></div>'
    )


def _notebooks(folder: Path, manifest: dict, metrics: dict, names: list[str]) -> list[str]:
    """The run's notebooks: the manifest's list, else the executed notebooks and the
    ``metrics.json`` sections found, plus the ``NN_`` prefix of any other figure or table."""
    if manifest.get("notebooks"):
        return list(manifest["notebooks"])
    found = {p.stem for p in (folder / "notebooks").glob("*.ipynb")}
    found |= {key for key in metrics if key[:2].isdigit()}
    prefixes = {n[:3] for n in names if n[:2].isdigit()} - {stem[:3] for stem in found}
    return sorted(found | prefixes)


def _notebook_section(stem: str, folder: Path, manifest: dict, figures: list[SavedFigure],
                      tables: list[SavedTable]) -> str:
    executed = folder / "notebooks" / f"{stem}.ipynb"
    link = (f'<a href="notebooks/{escape(stem)}.ipynb">executed notebook</a>'
            if executed.is_file() else "not executed here")
    seconds = manifest.get("timings_seconds", {}).get(stem)
    if manifest:
        link += " · " + ("not run" if seconds is None else f"{seconds:.1f} s")
    title = escape(stem or "other")
    items = [figure_html(f) for f in figures if f.notebook == stem]
    items += [table_html(t) for t in tables if t.notebook == stem]
    if not items:
        items = ["<p class=note>No figures or tables.</p>"]
    return (f'<section id="nb-{title}"><h2 class="nb">{title}</h2><p class="src">{link}</p>'
            + "".join(items) + "</section>")


def build_index(run_dir: str | os.PathLike | None = None, *, screenshot: bool = False) -> Path:
    """Write ``<run_dir>/index.html`` summarising the run directory; returns its path.

    Works on any run directory: without ``manifest.json`` (a notebook run on its own) the page
    leaves out the provenance. ``screenshot``: also keep ``index.png``, the first screen in
    headless Chromium (best effort: skipped without Chromium, never raises).
    """
    folder = resolve_run_dir(run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"run directory not found: {folder}")
    manifest = _load_manifest(folder / MANIFEST_FILE)
    metrics = load_metrics(folder)
    found = [p.stem for sub in ("figures", "tables") for p in (folder / sub).glob("*.*")]
    notebooks = _notebooks(folder, manifest, metrics, found)
    figures, tables = collect_figures(folder, notebooks), collect_tables(folder, notebooks)
    stems = notebooks + ([""] if any(not x.notebook for x in [*figures, *tables]) else [])
    body = [_title(folder, manifest), _answer(metrics, figures)]
    body += [_notebook_section(s, folder, manifest, figures, tables) for s in stems]
    if not figures:
        body.append("<p>No figures.</p>")
    if not tables:
        body.append("<p>No tables.</p>")
    if manifest:
        body.append(f"<details><summary>Provenance (manifest.json)</summary>"
                    f"{_provenance_sections(manifest)}</details>")
    body.append(f"<details><summary>All records (metrics.json)</summary>"
                f"{_metrics_section(metrics)}</details>")
    title = f"rppg-suite report: {folder.resolve().name}"
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body) + "\n</body></html>\n"
    )
    index = atomic_write_text(folder / INDEX_FILE, page)
    if screenshot:
        save_screenshot(index)
    return index


def _load_manifest(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err

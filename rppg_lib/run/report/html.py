"""``index.html``: one self-contained page summarising a run directory.

Figures are embedded as base64 PNG, tables (from ``tables/*.csv``) and records (from
``metrics.json``) as HTML tables, and the manifest written by ``rppg run`` (parameters, commit,
versions, host, timings) as tables too. Links point to the executed notebooks and to the PDF/SVG
copies of each figure, relative to the run directory, so the folder can be moved or zipped.
"""

from __future__ import annotations

import base64
import json
import os
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from rppg_lib.atomic import atomic_write_text
from rppg_lib.run.record import METRICS_FILE, load_metrics, resolve_run_dir

__all__ = ["build_index", "INDEX_FILE", "MANIFEST_FILE"]

INDEX_FILE = "index.html"
MANIFEST_FILE = "manifest.json"

_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 70em;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 32em; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
.completed { color: #009E73; } .failed { color: #D55E00; } code { font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
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


def _figures_section(run_dir: Path) -> str:
    folder = run_dir / "figures"
    pngs = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not pngs:
        return "<p>No figures.</p>"
    items = []
    for png in pngs:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        links = " ".join(
            f'<a href="figures/{escape(png.stem)}.{ext}">{ext.upper()}</a>'
            for ext in ("pdf", "svg")
            if (folder / f"{png.stem}.{ext}").is_file()
        )
        items.append(
            f'<figure id="fig-{escape(png.stem)}"><img alt="{escape(png.stem)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{escape(png.stem)} {links}'
            "</figcaption></figure>"
        )
    return "".join(items)


def _table_caption(md_path: Path) -> str | None:
    if not md_path.is_file():
        return None
    for line in reversed(md_path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            return line[len("Table: ") :] if line.startswith("Table: ") else None
    return None


def _tables_section(run_dir: Path) -> str:
    folder = run_dir / "tables"
    csvs = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not csvs:
        return "<p>No tables.</p>"
    parts = []
    for csv in csvs:
        frame = pd.read_csv(csv)
        caption = _table_caption(csv.with_suffix(".md"))
        html_table = frame.to_html(
            index=False, na_rep="", border=0, float_format=lambda x: f"{x:.4g}"
        )
        parts.append(
            f'<h3 id="table-{escape(csv.stem)}">{escape(csv.stem)}</h3>'
            + (f"<p>{escape(caption)}</p>" if caption else "")
            + html_table
        )
    return "".join(parts)


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
    out = [f"<h2>Run</h2>{_kv_table(summary, ('item', 'value'))}"]
    error = manifest.get("error")
    if error:
        out.append(f"<h3 class=failed>Failure</h3><pre>{escape(error.get('message', ''))}</pre>")
    return "".join(out)


def _provenance_sections(manifest: dict, run_dir: Path) -> str:
    out = []
    timings = manifest.get("timings_seconds", {})
    rows = []
    for stem in manifest.get("notebooks", []):
        executed = run_dir / "notebooks" / f"{stem}.ipynb"
        link = (
            f'<a href="notebooks/{escape(stem)}.ipynb">{escape(stem)}</a>'
            if executed.is_file()
            else escape(stem)
        )
        seconds = timings.get(stem)
        shown = "not run" if seconds is None else f"{seconds:.1f}"
        rows.append(f"<tr><td>{link}</td><td class=num>{shown}</td></tr>")
    out.append(
        "<h2>Notebooks</h2><table><tr><th>executed notebook</th><th>time (s)</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    param_rows = [
        (f"{stem}: {key}", value)
        for stem, params in manifest.get("parameters", {}).items()
        for key, value in params.items()
    ]
    out.append(f"<h2>Parameters</h2>{_kv_table(param_rows, ('notebook: parameter', 'value'))}")
    versions = list(manifest.get("versions", {}).items())
    out.append(f"<h2>Versions</h2>{_kv_table(versions, ('package', 'version'))}")
    out.append(f"<h2>Host</h2>{_kv_table(list(manifest.get('host', {}).items()))}")
    return "".join(out)


def _notebook_links(run_dir: Path) -> str:
    folder = run_dir / "notebooks"
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks:
        return ""
    items = "".join(
        f'<li><a href="notebooks/{escape(nb.name)}">{escape(nb.stem)}</a></li>' for nb in notebooks
    )
    return f"<h2>Notebooks</h2><ul>{items}</ul>"


def build_index(run_dir: str | os.PathLike | None = None) -> Path:
    """Write ``<run_dir>/index.html`` summarising the run directory; returns its path.

    Works on any run directory: without ``manifest.json`` (a notebook run on its own) the page
    lists the executed notebooks found and leaves out the provenance tables.
    """
    folder = resolve_run_dir(run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"run directory not found: {folder}")
    manifest_path = folder / MANIFEST_FILE
    manifest: dict = {}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{manifest_path} is not valid JSON: {err}") from err
    status = manifest.get("status")
    title = f"rppg-suite report: {folder.resolve().name}"
    header = f"<h1>{escape(title)}</h1>"
    if status:
        header += f"<p>Status: <b class={escape(status)}>{escape(status)}</b></p>"
    links = [
        f'<a href="{name}">{name}</a>'
        for name in (METRICS_FILE, MANIFEST_FILE)
        if (folder / name).is_file()
    ]
    if links:
        header += f"<p>Raw data: {' '.join(links)}</p>"
    # Results first, then how they were made.
    body = [header, _run_summary(manifest) if manifest else ""]
    body.append(f"<h2>Records (metrics.json)</h2>{_metrics_section(load_metrics(folder))}")
    body.append(f"<h2>Figures</h2>{_figures_section(folder)}")
    body.append(f"<h2>Tables</h2>{_tables_section(folder)}")
    body.append(_provenance_sections(manifest, folder) if manifest else _notebook_links(folder))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    return atomic_write_text(folder / INDEX_FILE, page)

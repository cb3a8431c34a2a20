"""HTML sections of ``index.html``: the verdicts, the method comparison, and the figures and
tables of a run, numbered, grouped by the notebook that made them (the ``NN_`` name prefix)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from rppg_lib.run.report.figures import figure_info

__all__ = ["SavedFigure", "SavedTable", "collect_figures", "collect_tables", "notebook_of",
           "verdicts_html", "methods_html", "figure_html", "table_html"]

_FIGURE_FORMATS = ("png", "pdf", "svg")
# Method-table metrics: (column, interval prefix, header, True if higher is better).
_METRICS = (
    ("mae_bpm", "mae", "HR MAE (bpm)", False),
    ("rmse_bpm", "rmse", "RMSE (bpm)", False),
    ("r", "r", "r", True),
    ("snr_db", "snr", "SNR (dB)", True),
)


@dataclass(frozen=True)
class SavedFigure:
    """One saved figure: its number in the page, name, notebook, caption and key flag."""

    number: int
    name: str
    notebook: str
    caption: str
    key: bool
    folder: Path


@dataclass(frozen=True)
class SavedTable:
    """One saved table: its number in the page, name, notebook, caption and CSV path."""

    number: int
    name: str
    notebook: str
    caption: str
    csv: Path


def notebook_of(name: str, notebooks: list[str]) -> str:
    """The notebook among ``notebooks`` whose two-digit prefix ``name`` shares, else ``""``."""
    return next((nb for nb in notebooks if name[:3] == nb[:3] and nb[:2].isdigit()), "")


def _order(names: list[str], notebooks: list[str]) -> list[tuple[str, str]]:
    placed = [(notebook_of(n, notebooks), n) for n in sorted(names)]
    rank = {nb: i for i, nb in enumerate(notebooks)}
    return sorted(placed, key=lambda p: (rank.get(p[0], len(rank)), p[1]))


def collect_figures(run_dir: Path, notebooks: list[str]) -> list[SavedFigure]:
    """The run's figures in notebook order, numbered from 1, with their sidecar captions."""
    folder = run_dir / "figures"
    names = {p.stem for f in _FIGURE_FORMATS for p in folder.glob(f"*.{f}")} if folder.is_dir() \
        else set()
    out = []
    for number, (notebook, name) in enumerate(_order(list(names), notebooks), start=1):
        info = figure_info(folder, name)
        caption = info["caption"] or name
        out.append(SavedFigure(number, name, notebook, caption, info["key"], folder))
    return out


def _table_caption(md_path: Path) -> str | None:
    if not md_path.is_file():
        return None
    for line in reversed(md_path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            return line[len("Table: "):] if line.startswith("Table: ") else None
    return None


def collect_tables(run_dir: Path, notebooks: list[str]) -> list[SavedTable]:
    """The run's tables (``tables/*.csv``) in notebook order, numbered from 1."""
    folder = run_dir / "tables"
    names = [p.stem for p in folder.glob("*.csv")] if folder.is_dir() else []
    return [
        SavedTable(number, name, notebook, _table_caption(folder / f"{name}.md") or name,
              folder / f"{name}.csv")
        for number, (notebook, name) in enumerate(_order(names, notebooks), start=1)
    ]


def _png_size(path: Path) -> tuple[int, int] | None:
    head = path.read_bytes()[:24]
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def figure_html(fig: SavedFigure, *, css_class: str = "fig") -> str:
    """A ``<figure>``: the PNG (linked, relative path), "Figure N.", the caption, the source
    notebook and links to the PDF/SVG copies."""
    stem = escape(fig.name)
    links = " ".join(
        f'<a href="figures/{stem}.{ext}">{ext.upper()}</a>'
        for ext in ("pdf", "svg") if (fig.folder / f"{fig.name}.{ext}").is_file()
    )
    png = fig.folder / f"{fig.name}.png"
    image = ""
    if png.is_file():
        size = _png_size(png)
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        image = (f'<a href="figures/{stem}.png"><img src="figures/{stem}.png" '
                 f'alt="{escape(fig.caption)}"{dims}></a>')
    source = f' <span class="src">({escape(fig.notebook or "no notebook")}; {links})</span>'
    return (f'<figure class="{css_class}" id="{css_class}-{stem}">{image}<figcaption>'
            f"<b>Figure {fig.number}.</b> {escape(fig.caption)}{source}</figcaption></figure>")


def table_html(table: SavedTable) -> str:
    """A numbered table from its CSV, with its caption, in a scrolling box."""
    frame = pd.read_csv(table.csv)
    body = frame.to_html(index=False, na_rep="", border=0, float_format=lambda x: f"{x:.4g}")
    return (f'<div class="table" id="table-{escape(table.name)}"><p class="caption">'
            f"<b>Table {table.number}.</b> {escape(table.caption)} "
            f'<span class="src">({escape(table.name)})</span></p>'
            f'<div class="scroll">{body}</div></div>')


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return "–"
    return f"{value:.3g}"


def _interval(est: Any, low: Any, high: Any) -> str:
    shown = _num(est)
    if _num(low) != "–" and _num(high) != "–":
        shown += f' <span class="ci">[{_num(low)}, {_num(high)}]</span>'
    return shown


def _claim_groups(rows: list[dict]) -> list[list[dict]]:
    """Consecutive rows of one claim at one level (same claim, statement, scenario, level)."""
    groups: list[list[dict]] = []
    names = ("claim", "statement", "scenario", "level")
    for row in rows:
        if groups and all(groups[-1][0].get(k) == row.get(k) for k in names):
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _where(row: dict) -> str:
    """The scenario of a claim's rows, with its level when it has one."""
    level = row.get("level")
    return f"{row.get('scenario') or '–'}" + (f" ({level})" if level else "")


def _claim_verdict(group: list[dict]) -> str:
    """The claim's verdict as its rows record it (rppg_lib.stats.combine over its metrics)."""
    return str(group[0].get("claim_verdict") or "undecided")


def _metric_line(row: dict, counts: list[str]) -> str:
    shown = ", ".join(f"{c.replace('n_', '')} {_num(row.get(c))}" for c in counts)
    return (f"{escape(str(row.get('metric', '')))}: "
            f"{_interval(row.get('estimate'), row.get('ci_low'), row.get('ci_high'))}"
            f' <span class="ci">(n: {shown}; {escape(str(row.get("verdict")))})</span>')


def verdicts_html(rows: list[dict]) -> str:
    """The verdict table (``id="verdicts"``), one row per claim and level: claim, statement,
    scenario (and level), each metric's estimate [95 % interval] with its n and verdict, and the
    claim's verdict."""
    if not rows:
        return '<table id="verdicts"><tr><td>No claim was evaluated in this run.</td></tr></table>'
    counts = [c for c in ("n_subjects", "n_clips", "n_windows") if any(r.get(c) for r in rows)]
    head = "".join(f"<th>{h}</th>" for h in (
        "claim", "statement", "scenario", "metrics: estimate [95% CI]", "verdict"))
    body = "".join(
        f"<tr><td>{escape(str(group[0].get('claim', '')))}</td>"
        f"<td>{escape(str(group[0].get('statement', '')))}</td>"
        f"<td>{escape(_where(group[0]))}</td>"
        f"<td>{'<br>'.join(_metric_line(r, counts) for r in group)}</td>"
        f"<td><span class=\"verdict {escape(_claim_verdict(group))}\">"
        f"{escape(_claim_verdict(group))}</span></td></tr>"
        for group in _claim_groups(rows)
    )
    return f'<table id="verdicts"><tr>{head}</tr>{body}</table>'


def _best(rows: list[dict], column: str, higher: bool) -> dict[str, float]:
    best: dict[str, float] = {}
    for row in rows:
        value = row.get(column)
        if isinstance(value, (int, float)) and value == value:
            key = str(row.get("scenario"))
            if key not in best or (value > best[key] if higher else value < best[key]):
                best[key] = value
    return best


def methods_html(rows: list[dict]) -> str:
    """The method comparison (``id="methods"``): per scenario and method, HR MAE, RMSE, r and
    SNR with their intervals when known; the best value per scenario in bold."""
    if not rows:
        return '<table id="methods"><tr><td>No method was evaluated in this run.</td></tr></table>'
    counts = [c for c in ("n_subjects", "n_windows") if any(r.get(c) for r in rows)]
    best = {col: _best(rows, col, higher) for col, _, _, higher in _METRICS}
    head = "".join(f"<th>{h}</th>" for h in (
        "scenario", "method", *(m[2] for m in _METRICS), *(c.replace("_", " ") for c in counts)))
    lines = []
    for r in rows:
        cells = []
        for col, prefix, _, _ in _METRICS:
            text = _interval(r.get(col), r.get(f"{prefix}_ci_low"), r.get(f"{prefix}_ci_high"))
            strong = r.get(col) is not None and best[col].get(str(r.get("scenario"))) == r.get(col)
            cells.append(f"<td class=num>{f'<b>{text}</b>' if strong else text}</td>")
        cells += [f"<td class=num>{_num(r.get(c))}</td>" for c in counts]
        lines.append(f"<tr><td>{escape(str(r.get('scenario', '')))}</td>"
                     f"<td>{escape(str(r.get('method', '')))}</td>{''.join(cells)}</tr>")
    return f'<table id="methods"><tr>{head}</tr>{"".join(lines)}</table>'

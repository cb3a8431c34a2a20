"""rppg_lib.run.report: figure style, reproducible figure files, tables, index.html."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from rppg_lib.run.record import RUN_DIR_ENV, record  # noqa: E402
from rppg_lib.run.report import (  # noqa: E402
    COLORS,
    build_index,
    markdown_table,
    save_figure,
    save_table,
    style_context,
    use_style,
)
from rppg_lib.run.report.tables import format_float  # noqa: E402


def _figure():
    t = np.linspace(0, 2, 200)
    fig, ax = plt.subplots()
    ax.plot(t, np.sin(2 * np.pi * 1.2 * t), label="estimate")
    ax.fill_between(t, -0.2, 0.2, alpha=0.3)  # a clip path in SVG
    ax.set(xlabel="time (s)", ylabel="pulse (a.u.)", title="BVP")
    ax.legend()
    return fig


def test_style_context_applies_and_restores(monkeypatch):
    before = dict(mpl.rcParams)
    with style_context():
        assert mpl.rcParams["font.sans-serif"][0] == "DejaVu Sans"
        assert mpl.rcParams["axes.spines.top"] is False
        assert mpl.rcParams["axes.spines.right"] is False
        assert mpl.rcParams["savefig.dpi"] == 300
        assert mpl.rcParams["pdf.fonttype"] == 42
        colors = [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]
        assert colors == list(COLORS)
        fig, ax = plt.subplots()
        (line,) = ax.plot([0, 1])
        assert line.get_color() == "#0072B2"
        plt.close(fig)
    assert mpl.rcParams["axes.spines.top"] == before["axes.spines.top"]
    with mpl.rc_context():  # use_style changes the global settings; undo after the check
        use_style()
        assert mpl.rcParams["axes.spines.right"] is False
        assert mpl.rcParams["figure.figsize"] == [3.5, 2.6]


def test_palette_is_okabe_ito():
    assert COLORS[:3] == ("#0072B2", "#D55E00", "#009E73")
    assert len(set(COLORS)) == 8


def test_save_figure_is_byte_reproducible(tmp_path):
    # A random SVG salt (matplotlib's default) would change the clip-path ids on every save.
    with mpl.rc_context({"svg.hashsalt": None}), style_context():
        fig = _figure()
        first = save_figure(fig, "bvp", tmp_path / "a")
        second = save_figure(fig, "bvp", tmp_path / "b")
        plt.close(fig)
    assert set(first) == {"pdf", "svg", "png"}
    for fmt in ("pdf", "svg", "png"):
        assert first[fmt] == tmp_path / "a" / "figures" / f"bvp.{fmt}"
        assert first[fmt].read_bytes() == second[fmt].read_bytes(), fmt
    pdf = first["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf and b"ModDate" not in pdf
    svg = first["svg"].read_text()
    assert "<dc:date>" not in svg and "<svg" in svg
    png = first["png"].read_bytes()
    assert png.startswith(b"\x89PNG") and b"Creation Time" not in png
    assert sorted(p.name for p in (tmp_path / "a" / "figures").iterdir()) == [
        "bvp.json",  # the sidecar: no caption, not a key figure
        "bvp.pdf",
        "bvp.png",
        "bvp.svg",
    ]
    assert json.loads((tmp_path / "a" / "figures" / "bvp.json").read_text()) == {
        "caption": None, "key": False}


def test_save_figure_png_resolution_and_run_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path))
    fig = _figure()
    low = plt.imread(save_figure(fig, "low", formats=("png",), dpi=100)["png"]).shape
    high = save_figure(fig, "high", formats=("png",), dpi=200)
    plt.close(fig)
    assert list(high) == ["png"] and high["png"] == tmp_path / "figures" / "high.png"
    shape = plt.imread(high["png"]).shape
    # Twice the dots per inch, twice the pixels per side (+-1 px of bounding-box rounding).
    assert abs(shape[0] - 2 * low[0]) <= 2 and abs(shape[1] - 2 * low[1]) <= 2
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == ["high.png", "low.png"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "figs/bvp"}, "figure name must be a file stem"),
        ({"name": "bvp.png"}, "figure name"),
        ({"name": ""}, "figure name"),
        ({"name": "ok", "formats": ("jpg",)}, "formats must be"),
        ({"name": "ok", "formats": ()}, "formats must be"),
        ({"name": "ok", "dpi": 0}, "dpi must be positive"),
        ({"name": "ok", "caption": 3}, "^caption must be a string or None, got 3$"),
        ({"name": "ok", "key": "yes"}, "^key must be True or False, got 'yes'$"),
    ],
)
def test_save_figure_rejects_bad_arguments(tmp_path, kwargs, match):
    fig = plt.figure()
    with pytest.raises(ValueError, match=match):
        save_figure(fig, run_dir=tmp_path, **kwargs)
    plt.close(fig)
    with pytest.raises(ValueError, match="fig must be a matplotlib Figure"):
        save_figure("not a figure", "x", tmp_path)
    assert not (tmp_path / "figures").exists()


RESULTS = pd.DataFrame(
    {
        "method": ["CAN", "LSTM | ours"],
        "MAE (bpm)": [2.254321, 1.5],
        "MAPE (%)": [3.0, np.nan],
        "n": [10, 12],
    }
)


def test_markdown_table_known_answer():
    assert markdown_table(RESULTS, float_format="%.2f") == (
        "| method       |   MAE (bpm) |   MAPE (%) |   n |\n"
        "|:-------------|------------:|-----------:|----:|\n"
        "| CAN          |        2.25 |       3.00 |  10 |\n"
        "| LSTM \\| ours |        1.50 |            |  12 |\n"
    )
    indexed = pd.DataFrame({"r": [0.5]}, index=pd.Index(["clip1"], name="clip"))
    assert markdown_table(indexed, float_format="{:.1f}") == (
        "| clip   |   r |\n|:-------|----:|\n| clip1  | 0.5 |\n"
    )


def test_save_table_writes_csv_tex_md(tmp_path):
    paths = save_table(RESULTS, "results", tmp_path, caption="Heart rate errors.")
    assert {k: p.name for k, p in paths.items()} == {
        "csv": "results.csv",
        "tex": "results.tex",
        "md": "results.md",
    }
    # CSV keeps full precision and reads back to the same frame (no index column).
    back = pd.read_csv(paths["csv"])
    pd.testing.assert_frame_equal(back, RESULTS)
    tex = paths["tex"].read_text()
    assert "\\caption{Heart rate errors.}" in tex and "\\label{tab:results}" in tex
    assert "MAPE (\\%)" in tex and "2.25" in tex and "2.254321" not in tex and "--" in tex
    assert "\\toprule" in tex
    md = paths["md"].read_text()
    assert md == markdown_table(RESULTS) + "\nTable: Heart rate errors.\n"
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == sorted(
        ["results.csv", "results.tex", "results.md"]
    )


def test_save_table_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="df must be a pandas DataFrame"):
        save_table([1, 2], "x", tmp_path)
    with pytest.raises(ValueError, match="no columns"):
        save_table(pd.DataFrame(), "x", tmp_path)
    with pytest.raises(ValueError, match="table name"):
        save_table(RESULTS, "../x", tmp_path)
    with pytest.raises(ValueError, match="float_format"):
        save_table(RESULTS, "x", tmp_path, float_format="2 decimals")


def test_format_float_variants():
    assert format_float("%.3f")(1.23456) == "1.235"
    assert format_float("{:.1e}")(12345.0) == "1.2e+04"
    assert format_float(lambda x: f"<{x}>")(1.0) == "<1.0>"
    assert format_float(None)(0.1) == "0.1"
    with pytest.raises(ValueError, match="float_format"):
        format_float("{:d}")


def _make_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    with style_context():
        for name in ("b_second", "a_first"):
            fig = _figure()
            save_figure(fig, name, run_dir)
            plt.close(fig)
    save_table(RESULTS, "results", run_dir, caption="Errors per method.")
    record("mae", 2.25, section="06_evaluation", run_dir=run_dir)
    record(
        "per_clip",
        pd.DataFrame({"clip": ["c1"], "mae": [1.125]}),
        section="06_evaluation",
        run_dir=run_dir,
    )
    (run_dir / "notebooks").mkdir()
    (run_dir / "notebooks" / "00_synthetic_data.ipynb").write_text("{}")
    return run_dir


def test_build_index_links_figures_tables_records_and_provenance(tmp_path):
    run_dir = _make_run_dir(tmp_path)
    manifest = {
        "status": "completed",
        "started_at": "2026-01-01T00:00:00Z",
        "notebooks": ["00_synthetic_data", "01_preprocessing"],
        "parameters": {"00_synthetic_data": {"seed": 7, "run_dir": str(run_dir)}},
        "timings_seconds": {"00_synthetic_data": 12.34},
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        "versions": {"numpy": "9.9.9"},
        "host": {"cpu_count": 3},
        "params_file": {"path": "params/x.yaml", "sha256": "f" * 64},
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    path = build_index(run_dir)
    assert path == run_dir / "index.html"
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    # Figures by relative link (the page opens from disk), numbered in name order.
    assert html.count('<img src="figures/') == 2 and "base64" not in html
    assert '<img src="figures/a_first.png" alt="a_first"' in html
    assert html.index("<b>Figure 1.</b> a_first") < html.index("<b>Figure 2.</b> b_second")
    assert '<a href="figures/a_first.pdf">PDF</a>' in html
    # The table, its caption, escaped cell text.
    assert "Errors per method." in html and "LSTM | ours" in html and "2.254" in html
    assert "<th>MAE (bpm)</th>" in html and "<b>Table 1.</b>" in html
    # Records, folded, after everything else.
    records = html.index("<summary>All records (metrics.json)</summary>")
    assert records > html.index("<b>Table 1.</b>")
    assert html.index("06_evaluation.mae") > records and "2.25" in html
    assert "<h3>06_evaluation.per_clip</h3>" in html and "1.125" in html
    # Manifest: the run line, then parameters, versions, timings, the executed notebook.
    runline = html[html.index('<p class="runline">'):html.index("</p>", html.index("runline"))]
    assert "x.yaml" in runline and "completed" in runline and "0123456789" in runline
    assert manifest["git"]["commit"] in html and "9.9.9" in html and "f" * 64 in html
    assert "00_synthetic_data: seed" in html and "12.3 s" in html
    assert '<a href="notebooks/00_synthetic_data.ipynb">executed notebook</a>' in html
    assert "not run" in html  # 01_preprocessing has no timing
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []


def test_build_index_without_manifest(tmp_path):
    run_dir = _make_run_dir(tmp_path)
    html = build_index(run_dir).read_text()
    assert '<a href="notebooks/00_synthetic_data.ipynb">executed notebook</a>' in html
    assert "status <b" not in html and html.count('<img src="figures/') == 2
    assert "Provenance" not in html


def test_build_index_empty_and_missing_run_dir(tmp_path):
    html = build_index(tmp_path).read_text()
    assert "No figures." in html and "No tables." in html and "No records." in html
    assert "No claim was evaluated" in html and "No method was evaluated" in html
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        build_index(tmp_path / "missing")


def test_nbval_sanitize_patterns(repo_root):
    """The regexes of .nbval_sanitize.cfg, read as nbval reads them, on typical outputs."""
    import re

    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((repo_root / ".nbval_sanitize.cfg").read_text())
    assert len(patterns) >= 8

    def sanitize(text):
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    cases = {
        "epoch: 45%|████▌     | 9/20 [00:01<00:02,  4.50it/s, loss=0.3]": "PROGRESS-BAR",
        "100%|██████████| 20/20 [00:04<00:00,  4.41it/s]": "PROGRESS-BAR",
        "120it [00:03, 39.8it/s]": "PROGRESS-BAR",
        "started 2026-05-22T10:15:00Z": "started TIMESTAMP",
        "moved to reports/default.old-20260522T101500Z": "moved to reports/default.old-TIMESTAMP",
        "Wall time: 2.13 s, sys: 12ms": "Wall time: DURATION, sys: DURATION",
        "elapsed 0:01:23.5": "elapsed CLOCK-TIME",
        "<Figure at 0x7f3a2c1d5e10>": "<Figure at 0xADDRESS>",
        "saved to /tmp/pytest-of-root/run/a.png": "saved to PATH",
        "read ~/data/ubfc and C:\\Users\\me\\gt.csv": "read PATH and PATH",
        # Ordinary results stay as they are.
        "HR 72.50 bpm, R/G/B, fs=30 Hz, MAE 1.29": "HR 72.50 bpm, R/G/B, fs=30 Hz, MAE 1.29",
    }
    for text, expected in cases.items():
        assert sanitize(text) == expected, text

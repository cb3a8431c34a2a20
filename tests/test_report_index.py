"""index.html leads with the answer: verdicts, method comparison, key figures; checked in a
headless browser where Chromium is installed."""

from __future__ import annotations

import json
import struct

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rppg_lib.run.record import record  # noqa: E402
from rppg_lib.run.report import build_index, save_figure, save_table  # noqa: E402
from rppg_lib.run.report.answer import method_rows, verdict_rows  # noqa: E402
from rppg_lib.run.report.browser import SCREEN, dump_dom, find_chromium  # noqa: E402
from rppg_lib.run.report.figures import figure_info  # noqa: E402

VERDICT = {
    "claim": "1", "statement": "The LSTM with corruption estimates beats TS-CAN",
    "scenario": "illumination", "metric": "HR MAE reduction (bpm)", "estimate": 1.25,
    "ci_low": 0.5, "ci_high": 2.0, "n_subjects": 4, "n_windows": 40, "verdict": "holds",
    "claim_verdict": "holds",
}
METHOD = {
    "scenario": "illumination", "method": "TS-CAN", "mae_bpm": 3.5, "mae_ci_low": 2.25,
    "mae_ci_high": 4.75, "rmse_bpm": 5.0, "rmse_ci_low": 3.0, "rmse_ci_high": 7.0, "r": 0.8,
    "r_ci_low": 0.6, "r_ci_high": 0.9, "snr_db": 2.5, "snr_ci_low": 1.0, "snr_ci_high": 4.0,
    "n_windows": 40, "n_subjects": 4,
}


def _figure() -> Figure:
    fig = Figure(figsize=(3.5, 2.6))
    fig.add_subplot().plot([0, 1, 2], [60, 72, 66])
    return fig


@pytest.fixture
def run_dir(tmp_path):
    """A run folder as notebooks leave it: records with verdicts and a method table, a key
    figure with a caption, a plain figure, a table; no notebook is executed."""
    folder = tmp_path / "run"
    # As many rows as the default run: 5 verdicts, 3 scenarios x 7 methods.
    verdicts = [VERDICT] + [{**VERDICT, "claim": str(c)} for c in (1, 2, 2, 3)]
    methods = [METHOD, {**METHOD, "method": "POS", "mae_bpm": 9.0}] + [
        {**METHOD, "scenario": s, "method": f"M{m}"} for s in ("clean", "all") for m in range(7)
    ] + [{**METHOD, "method": f"M{m}"} for m in range(5)]
    record("verdicts", verdicts, section="06_evaluation", run_dir=folder)
    record("method_table", methods, section="06_evaluation", run_dir=folder)
    record("other", 1.5, section="06_evaluation", run_dir=folder)
    record("skin_fraction", 0.75, section="03_attention_masks", run_dir=folder)
    save_figure(_figure(), "03_attention_masks_mean_mask", folder)
    save_figure(_figure(), "06_evaluation_hr_scatter", folder,
                caption="Estimated against reference HR.", key=True)
    save_table(pd.DataFrame({"method": ["TS-CAN"], "mae": [3.5]}), "06_evaluation_hr", folder,
               caption="HR per method.")
    return folder


def test_save_figure_keeps_caption_and_key_in_a_sidecar(run_dir):
    assert figure_info(run_dir / "figures", "06_evaluation_hr_scatter") == {
        "caption": "Estimated against reference HR.", "key": True}
    assert figure_info(run_dir / "figures", "03_attention_masks_mean_mask") == {
        "caption": None, "key": False}
    (run_dir / "figures" / "03_attention_masks_mean_mask.json").unlink()  # an older run
    assert figure_info(run_dir / "figures", "03_attention_masks_mean_mask")["key"] is False


def test_recorded_verdicts_are_collected_in_section_order_with_their_section():
    metrics = {"04_x": {"verdicts": [{**VERDICT, "claim": "3"}]},
               "06_y": {"verdicts": [VERDICT], "claim1": {"snr_gain_db": 1.0}}}
    rows = verdict_rows(metrics)
    assert [(r["section"], r["claim"]) for r in rows] == [("04_x", "3"), ("06_y", "1")]
    assert verdict_rows({"06_y": 3, "04_x": [1]}) == []


def test_no_verdict_is_derived_from_other_records():
    # point estimates with standard errors are not a verdict: a run without verdict rows has none
    claim = {"versus": "TS-CAN", "snr_gain_db": 1.5, "snr_gain_se": 0.1, "n_windows": 4}
    assert verdict_rows({"06_y": {"claim1": claim}}) == []


def test_method_rows_come_from_the_first_method_table_of_any_section(tmp_path):
    assert method_rows({"05_x": {"other": [1]}, "06_y": {"method_table": [METHOD]}}) == [METHOD]
    summary = [{"scenario": "clean", "method": "POS", "n": 8, "mae": 2.0, "mae_se": 0.5}]
    assert method_rows({"06_y": {"hr_summary": summary}}) == []  # no table: no rows


def test_index_leads_with_verdicts_methods_and_key_figures(run_dir):
    html = build_index(run_dir).read_text()
    order = ['id="verdicts"', 'id="methods"', 'id="key-figures"', 'id="nb-03_attention_masks"',
             'id="nb-06_evaluation"', "<summary>All records (metrics.json)</summary>"]
    positions = [html.index(marker) for marker in order]
    assert positions == sorted(positions)
    verdicts = html[positions[0]:positions[1]]
    assert "1.25 <span class=\"ci\">[0.5, 2]</span>" in verdicts and "holds</span>" in verdicts
    methods = html[positions[1]:positions[2]]
    assert "<b>3.5 <span class=\"ci\">[2.25, 4.75]</span></b>" in methods  # best MAE in bold
    assert "9 <span" in methods and "<b>9" not in methods
    key = html[positions[2]:positions[3]]
    assert "<b>Figure 2.</b> Estimated against reference HR." in key
    assert '<img src="figures/06_evaluation_hr_scatter.png"' in key
    assert '<a href="figures/06_evaluation_hr_scatter.svg">SVG</a>' in key
    # Figures numbered in notebook order; the uncaptioned one shows its name.
    assert "<b>Figure 1.</b> 03_attention_masks_mean_mask" in html
    assert "<b>Table 1.</b> HR per method." in html
    assert html.index("06_evaluation.other") > positions[-1]


def _boxes(run_dir) -> dict:
    """Bounding boxes of the verdict table and the first key figure's image in a 1400×900
    window, measured by Chromium (a probe copy of index.html with a script)."""
    script = (
        "<script>window.addEventListener('load', () => { const box = s => {"
        " const r = document.querySelector(s).getBoundingClientRect();"
        " return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };"
        " document.body.dataset.boxes = JSON.stringify({verdicts: box('#verdicts'),"
        " figure: box('#key-figures figure img'), height: window.innerHeight,"
        " width: window.innerWidth}); });</script>"
    )
    probe = run_dir / "probe.html"
    probe.write_text((run_dir / "index.html").read_text().replace("</body>", script + "</body>"))
    dom = dump_dom(probe)
    start = dom.index('data-boxes="') + len('data-boxes="')
    return json.loads(dom[start:dom.index('"', start)].replace("&quot;", '"'))


@pytest.mark.skipif(find_chromium() is None,
                    reason="chromium is not installed (apt-get install chromium)")
def test_first_screen_shows_the_verdicts_and_a_key_figure_in_chromium(run_dir):
    build_index(run_dir, screenshot=True)
    boxes = _boxes(run_dir)
    # Headless Chromium's viewport may be shorter than the window (it keeps room for a tool bar
    # it does not draw); the layout depends on the width only, and the screenshot is 1400×900.
    assert boxes["width"] == SCREEN[0]
    for name in ("verdicts", "figure"):
        box = boxes[name]
        assert box["top"] >= 0 and box["bottom"] <= SCREEN[1], (name, box)
        assert box["left"] >= 0 and box["right"] <= SCREEN[0], (name, box)
        assert box["bottom"] - box["top"] > 100, (name, box)  # laid out, not collapsed
    png = (run_dir / "index.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == SCREEN

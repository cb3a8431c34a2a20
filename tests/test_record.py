"""rppg_lib.run.record: the metrics.json sidecar, value conversion, notebook MIME outputs."""

from __future__ import annotations

import json
import math

import IPython
import IPython.display
import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from rppg_lib.run.record import (
    MAX_ARRAY_ELEMENTS,
    MIME_TYPE,
    RUN_DIR_ENV,
    load_metrics,
    read_notebook_records,
    record,
    resolve_run_dir,
    to_json_value,
)


def _read(path):
    return json.loads((path / "metrics.json").read_text())


def test_record_nests_sections_and_dotted_names_and_merges(tmp_path):
    record("mae", 1.25, section="06_evaluation", run_dir=tmp_path)
    record("06_evaluation.rmse", 2.5, run_dir=tmp_path)
    record("hr.mae", 3, section="07_reproduce", run_dir=tmp_path)
    record("n_clips", 4, run_dir=tmp_path)
    assert _read(tmp_path) == {
        "06_evaluation": {"mae": 1.25, "rmse": 2.5},
        "07_reproduce": {"hr": {"mae": 3}},
        "n_clips": 4,
    }
    # Recording a key again replaces its value and keeps the others.
    record("mae", 1.5, section="06_evaluation", run_dir=tmp_path)
    assert _read(tmp_path)["06_evaluation"] == {"mae": 1.5, "rmse": 2.5}
    assert load_metrics(tmp_path) == _read(tmp_path)
    # No temporary files are left behind by the atomic writes.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_record_converts_numpy_and_pandas_values(tmp_path):
    frame = pd.DataFrame({"method": ["CAN", "LSTM"], "mae": [np.float32(2.5), 1.75]})
    indexed = pd.DataFrame({"mae": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="clip"))
    record("f64", np.float64(0.1), run_dir=tmp_path)
    record("i64", np.int64(7), run_dir=tmp_path)
    record("flag", np.bool_(True), run_dir=tmp_path)
    record("arr", np.arange(6).reshape(2, 3), run_dir=tmp_path)
    record("table", frame, run_dir=tmp_path)
    record("indexed", indexed, run_dir=tmp_path)
    record("series", pd.Series([0.5, 1.5], index=[30, 60]), run_dir=tmp_path)
    record("nested", {"a": (1, 2.5), "b": [np.int16(3)], 10: "ten"}, run_dir=tmp_path)
    got = _read(tmp_path)
    assert got["f64"] == 0.1 and isinstance(got["f64"], float)
    assert got["i64"] == 7 and got["flag"] is True
    assert got["arr"] == [[0, 1, 2], [3, 4, 5]]
    assert got["table"] == [{"method": "CAN", "mae": 2.5}, {"method": "LSTM", "mae": 1.75}]
    # DataFrame column order survives (metrics.json is not key-sorted).
    assert list(got["table"][0]) == ["method", "mae"]
    assert got["indexed"] == [{"clip": "a", "mae": 1.0}, {"clip": "b", "mae": 2.0}]
    assert got["series"] == {"30": 0.5, "60": 1.5}
    assert got["nested"] == {"a": [1, 2.5], "b": [3], "10": "ten"}


def test_nonfinite_values_become_null_with_a_warning_naming_the_key(tmp_path):
    with pytest.warns(RuntimeWarning, match=r"eval\.r.*2 non-finite") as caught:
        record("r", [1.0, float("nan"), np.inf], section="eval", run_dir=tmp_path)
    assert "eval.r[1]" in str(caught[0].message) and "eval.r[2]" in str(caught[0].message)
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert _read(tmp_path) == {"eval": {"r": [1.0, None, None]}}
    with pytest.warns(RuntimeWarning, match="pearson"):
        record("pearson", np.float64("nan"), run_dir=tmp_path)
    assert _read(tmp_path)["pearson"] is None


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (object(), "cannot store a value of type object"),
        (1 + 2j, "cannot store a value of type complex"),
        (np.zeros(MAX_ARRAY_ELEMENTS + 1), "more than 10000"),
        (np.ones(2, dtype=complex), "complex arrays"),
        ({(1, 2): 3}, "dict keys must be strings or numbers"),
        ({1: "a", "1": "b"}, "two keys both become '1'"),
    ],
)
def test_unstorable_values_are_rejected_naming_the_key(tmp_path, value, match):
    with pytest.raises(ValueError, match=match) as info:
        record("bad_key", value, section="nb", run_dir=tmp_path)
    assert "nb.bad_key" in str(info.value)
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize("name", ["", "a..b", ".a", "a.", "   "])
def test_bad_names_are_rejected(tmp_path, name):
    with pytest.raises(ValueError, match="record"):
        record(name, 1, run_dir=tmp_path)


def test_value_cannot_be_nested_under_a_scalar(tmp_path):
    record("a", 1, run_dir=tmp_path)
    with pytest.raises(ValueError, match="'a' already holds a value"):
        record("a.b", 2, run_dir=tmp_path)
    assert _read(tmp_path) == {"a": 1}


def test_corrupt_metrics_file_is_reported_and_left_alone(tmp_path):
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="metrics.json is not valid JSON"):
        record("x", 1, run_dir=tmp_path)
    assert (tmp_path / "metrics.json").read_text() == "{not json"
    with pytest.raises(ValueError, match="not valid JSON"):
        load_metrics(tmp_path)


def test_run_dir_resolution_order(tmp_path, monkeypatch):
    env_dir, cwd_dir, arg_dir = tmp_path / "env", tmp_path / "cwd", tmp_path / "arg"
    cwd_dir.mkdir()
    monkeypatch.chdir(cwd_dir)
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    assert resolve_run_dir() == cwd_dir
    record("where", "cwd")
    monkeypatch.setenv(RUN_DIR_ENV, str(env_dir))
    assert resolve_run_dir() == env_dir
    record("where", "env")
    record("where", "arg", run_dir=arg_dir)
    assert [load_metrics(d)["where"] for d in (cwd_dir, env_dir, arg_dir)] == ["cwd", "env", "arg"]
    assert load_metrics(tmp_path / "nothing_here") == {}


def test_no_display_outside_ipython(tmp_path, capsys):
    record("quiet", 1, run_dir=tmp_path)
    assert capsys.readouterr().out == ""


def test_display_payload_round_trips_through_a_notebook(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw: shown.append((obj, raw)))
    record("mae", np.float64(1.5), section="06_evaluation", run_dir=tmp_path)
    record("table", pd.DataFrame({"x": [1, 2]}), section="06_evaluation", run_dir=tmp_path)
    record("mae", 1.25, section="06_evaluation", run_dir=tmp_path)  # a re-run cell
    assert [raw for _, raw in shown] == [True, True, True]
    first = shown[0][0]
    assert first[MIME_TYPE] == {
        "name": "06_evaluation.mae",
        "path": ["06_evaluation", "mae"],
        "value": 1.5,
    }
    assert first["text/plain"] == "06_evaluation.mae = 1.5"
    # Put the displayed outputs into a notebook, one per cell, as a kernel would.
    nb = new_notebook()
    nb.cells = [
        new_code_cell("record(...)", outputs=[new_output("display_data", data=obj)])
        for obj, _ in shown
    ]
    nb.cells.append(
        new_code_cell(
            "print('other output')", outputs=[new_output("stream", text="other output\n")]
        )
    )
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    records = read_notebook_records(path)
    assert records == {"06_evaluation": {"mae": 1.25, "table": [{"x": 1}, {"x": 2}]}}
    assert records == load_metrics(tmp_path)


def test_long_values_are_previewed_but_stored_whole(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw: shown.append(obj))
    values = list(range(500))
    record("many", values, run_dir=tmp_path)
    assert shown[0]["text/plain"].endswith(" ...") and len(shown[0]["text/plain"]) < 320
    assert shown[0][MIME_TYPE]["value"] == values == load_metrics(tmp_path)["many"]


def test_read_notebook_records_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ipynb"):
        read_notebook_records(tmp_path / "missing.ipynb")


def test_to_json_value_is_pure():
    assert to_json_value({"a": np.float32(0.5), "b": [np.int8(1)]}) == {"a": 0.5, "b": [1]}
    with pytest.warns(RuntimeWarning):
        assert to_json_value(pd.Series([1.0, math.nan])) == {"0": 1.0, "1": None}

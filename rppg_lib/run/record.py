"""Named results that notebooks record for the runner, the tests and the reports.

``record("mae", 1.23, section="06_evaluation")`` does two things:

1. merges ``{"06_evaluation": {"mae": 1.23}}`` into the JSON sidecar ``metrics.json`` of the run
   directory (written atomically, so a reader never sees half a file), and
2. inside a notebook, displays an output with the MIME type ``application/vnd.rppg.record+json``
   (plus a ``text/plain`` line ``name = value``), so that the record can also be read back from
   the executed notebook alone (:func:`read_notebook_records`). Outside IPython nothing is shown.

The run directory is, in order: the ``run_dir`` argument, else the ``RPPG_RUN_DIR`` environment
variable (set by ``rppg run`` for its kernels), else the current working directory.

Values must be JSON-representable once converted: numbers (numpy scalars become Python numbers),
strings, ``None``, lists/tuples, dicts (string or number keys; number keys become strings, as in
JSON), pandas DataFrames (a list of row records; a non-default index becomes a column), pandas
Series (a dict), small numpy arrays (nested lists, at most :data:`MAX_ARRAY_ELEMENTS` elements:
larger data belong in an artifact file) and paths (strings).

NaN and infinity have no JSON representation: they are stored as ``null`` and a
``RuntimeWarning`` names the key and where in the value they were. (Rejecting them would abort a
whole run because, say, a Pearson correlation of a constant signal is undefined; a ``null`` keeps
the run going and stays visible in the report.)
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rppg_lib.atomic import atomic_write_json

__all__ = [
    "MIME_TYPE",
    "RUN_DIR_ENV",
    "METRICS_FILE",
    "MAX_ARRAY_ELEMENTS",
    "resolve_run_dir",
    "to_json_value",
    "record",
    "load_metrics",
    "read_notebook_records",
]

MIME_TYPE = "application/vnd.rppg.record+json"
RUN_DIR_ENV = "RPPG_RUN_DIR"
METRICS_FILE = "metrics.json"
MAX_ARRAY_ELEMENTS = 10_000
_TEXT_PREVIEW_CHARS = 300


def resolve_run_dir(run_dir: str | os.PathLike | None = None) -> Path:
    """The run directory: ``run_dir`` if given, else ``$RPPG_RUN_DIR``, else the current folder."""
    if run_dir is not None:
        return Path(run_dir)
    env = os.environ.get(RUN_DIR_ENV)
    if env:
        return Path(env)
    return Path.cwd()


def _key_parts(name: str, section: str | None) -> list[str]:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"record name must be a non-empty string, got {name!r}")
    parts: list[str] = []
    if section is not None:
        if not isinstance(section, str) or not section.strip():
            raise ValueError(f"record section must be a non-empty string, got {section!r}")
        parts.extend(section.split("."))
    parts.extend(name.split("."))
    if any(not p.strip() for p in parts):
        full = ".".join(parts)
        raise ValueError(f"record name {full!r} has an empty component (check the dots)")
    return parts


def _convert(value: Any, where: str, nonfinite: list[str]) -> Any:
    """Convert ``value`` to plain JSON types; ``where`` locates it in error messages."""
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:  # missing entries of nullable/datetime columns
        nonfinite.append(f"{where} (missing)")
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        if not math.isfinite(number):
            nonfinite.append(f"{where} ({number})")
            return None
        return number
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, pd.DataFrame):
        return _convert_frame(value, where, nonfinite)
    if isinstance(value, pd.Series):
        return _convert_mapping(value.to_dict(), where, nonfinite)
    if isinstance(value, np.ndarray):
        if value.size > MAX_ARRAY_ELEMENTS:
            raise ValueError(
                f"record {where}: array of shape {value.shape} has {value.size} elements, more "
                f"than {MAX_ARRAY_ELEMENTS}; save large data as an artifact file instead"
            )
        if value.dtype.kind == "c":
            raise ValueError(f"record {where}: complex arrays are not JSON numbers")
        return _convert(value.tolist(), where, nonfinite)
    if isinstance(value, Mapping):
        return _convert_mapping(value, where, nonfinite)
    if isinstance(value, (list, tuple)):
        return [_convert(v, f"{where}[{i}]", nonfinite) for i, v in enumerate(value)]
    raise ValueError(
        f"record {where}: cannot store a value of type {type(value).__name__} ({value!r:.80}); "
        "use numbers, strings, lists, dicts, DataFrames or small arrays"
    )


def _convert_mapping(mapping: Mapping, where: str, nonfinite: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in mapping.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, Integral, Real)):
            raise ValueError(f"record {where}: dict keys must be strings or numbers, got {key!r}")
        text = key if isinstance(key, str) else str(_convert(key, where, []))
        if text in out:
            raise ValueError(f"record {where}: two keys both become {text!r} in JSON")
        out[text] = _convert(item, f"{where}[{text!r}]", nonfinite)
    return out


def _convert_frame(frame: pd.DataFrame, where: str, nonfinite: list[str]) -> list[dict[str, Any]]:
    if frame.size > MAX_ARRAY_ELEMENTS:
        raise ValueError(
            f"record {where}: DataFrame of shape {frame.shape} has more than {MAX_ARRAY_ELEMENTS} "
            "cells; save it with rppg_lib.run.report.save_table instead"
        )
    # A meaningful index (anything but 0..n-1) is data: keep it as a column.
    if not frame.index.equals(pd.RangeIndex(len(frame))):
        frame = frame.reset_index()
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.set_axis(["/".join(map(str, c)) for c in frame.columns], axis=1)
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise ValueError(f"record {where}: DataFrame has duplicate column names {columns}")
    return [
        {
            col: _convert(cell, f"{where}[{row}][{col!r}]", nonfinite)
            for col, cell in zip(columns, r, strict=True)
        }
        for row, r in enumerate(frame.itertuples(index=False, name=None))
    ]


def to_json_value(value: Any, name: str = "value") -> Any:
    """``value`` converted to plain JSON types, non-finite floats as ``None`` (with a warning).

    Raises ValueError naming ``name`` for types JSON cannot hold or arrays that are too large.
    """
    nonfinite: list[str] = []
    converted = _convert(value, name, nonfinite)
    if nonfinite:
        shown = ", ".join(nonfinite[:5]) + (" ..." if len(nonfinite) > 5 else "")
        warnings.warn(
            f"record {name}: {len(nonfinite)} non-finite value(s) stored as null "
            f"(JSON has no NaN/inf): {shown}",
            RuntimeWarning,
            stacklevel=3,
        )
    return converted


def _set_nested(tree: dict, parts: list[str], value: Any) -> None:
    node = tree
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            prefix = ".".join(parts[: depth + 1])
            raise ValueError(
                f"record {'.'.join(parts)!r}: {prefix!r} already holds a value "
                f"({child!r:.60}), not a section"
            )
        node = child
    node[parts[-1]] = value


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); refusing to overwrite it") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data


def load_metrics(run_dir: str | os.PathLike | None = None) -> dict:
    """The records of a run: the parsed ``metrics.json`` of ``run_dir`` ({} when it has none).

    ``run_dir`` is resolved like :func:`record` does. Raises ValueError if the file is corrupt.
    """
    path = resolve_run_dir(run_dir) / METRICS_FILE
    if not path.is_file():
        return {}
    return _read_json(path)


def record(
    name: str,
    value: Any,
    *,
    section: str | None = None,
    run_dir: str | os.PathLike | None = None,
) -> None:
    """Record ``value`` under ``name`` in ``<run_dir>/metrics.json`` and show it in the notebook.

    ``name`` may be dotted (``"eval.hr.mae"`` nests three levels); ``section`` (e.g. the notebook
    stem ``"06_evaluation"``) is prepended as the outermost level. Recording a key again replaces
    its value; other keys are kept. Returns nothing, so that a ``record(...)`` ending a cell shows
    only the record output. The read-merge-write is atomic per write but not locked: record from
    one process at a time (rank 0 in distributed training).
    """
    parts = _key_parts(name, section)
    full_name = ".".join(parts)
    converted = to_json_value(value, full_name)
    path = resolve_run_dir(run_dir) / METRICS_FILE
    metrics = _read_json(path) if path.is_file() else {}
    _set_nested(metrics, parts, converted)
    # Insertion order (not sorted keys): keeps DataFrame columns and the notebook's order.
    atomic_write_json(path, metrics, sort_keys=False, allow_nan=False)
    _display(full_name, parts, converted)


def _display(full_name: str, parts: list[str], value: Any) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # no IPython: nothing to display
        return
    if get_ipython() is None:  # plain Python: IPython's display() would print the dict
        return
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > _TEXT_PREVIEW_CHARS:  # the preview only; the MIME payload holds everything
        text = text[:_TEXT_PREVIEW_CHARS] + " ..."
    display(
        {
            MIME_TYPE: {"name": full_name, "path": parts, "value": value},
            "text/plain": f"{full_name} = {text}",
        },
        raw=True,
    )


def read_notebook_records(ipynb_path: str | os.PathLike) -> dict:
    """The records displayed by an executed notebook, nested like ``metrics.json``.

    Reads the ``application/vnd.rppg.record+json`` outputs cell by cell; a key recorded twice
    keeps its last value. Raises FileNotFoundError naming a missing notebook.
    """
    import nbformat

    path = Path(ipynb_path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    nb = nbformat.read(path, as_version=4)
    records: dict = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(MIME_TYPE)
            if payload is None:
                continue
            _set_nested(records, list(payload["path"]), payload["value"])
    return records

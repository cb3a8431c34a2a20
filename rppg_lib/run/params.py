"""Parameter sets for ``rppg run``: the YAML params file, ``-p`` overrides, and their checks.

A params file lists the notebooks to run (stems in the notebooks folder, in order), run-wide
parameters passed to every notebook that declares the name, and optional per-notebook
overrides::

    notebooks: [00_synthetic_data, 01_preprocessing]
    parameters:
      seed: 0                      # passed to every notebook declaring `seed`
    per_notebook:
      01_preprocessing: {size: 36}

Each notebook receives only the names its ``parameters``-tagged cell declares. Precedence, lowest
to highest: ``parameters`` < ``per_notebook`` < ``-p name=value`` < ``-p notebook.name=value``.
``run_dir`` is reserved: the runner sets it to the (absolute) report folder.

A study's params file (``rppg study``, :mod:`rppg_lib.run.study`) may add a ``study`` section: the
seeds it repeats the whole run over, and parameters whose value depends on the seed, written
with ``{seed}`` (e.g. a data folder per seed)::

    study:
      seeds: [0, 1, 2]
      per_seed:
        00_synthetic_data.data_root: ../data/synthetic/study/seed-{seed}

Every value is checked before anything runs (:func:`check_parameter_values`) against the one
declaration of each parameter, its line in the notebook's parameters cell
(:func:`notebook_parameters`): the type of its default (an int default takes integers, a float
default numbers, a string default strings, ...) and the range its comment ends with, written
``; range [1, inf)`` (brackets include the end, parentheses exclude it)::

    epochs = 60  # training epochs of each LSTM; range [1, inf)
"""

from __future__ import annotations

import ast
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "RESERVED_PARAMETERS",
    "ParamsFile",
    "load_params",
    "parse_override",
    "parse_overrides",
    "declared_parameters",
    "resolve_parameters",
    "Range",
    "Declared",
    "notebook_parameters",
    "check_parameter_values",
]

RESERVED_PARAMETERS = ("run_dir",)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a float as YAML 1.2 does (1.1 wants ``1.0e-3``).

    Without this, ``lr: 1e-3`` or ``-p lr=1e-3`` would silently reach a notebook as a string.
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects


_TOP_KEYS = ("notebooks", "parameters", "per_notebook", "study")


@dataclass(frozen=True)
class ParamsFile:
    """A parsed params file: notebook stems in run order, global and per-notebook parameters."""

    path: Path
    notebooks: list[str]
    parameters: dict[str, Any] = field(default_factory=dict)
    per_notebook: dict[str, dict[str, Any]] = field(default_factory=dict)
    study: dict[str, Any] = field(default_factory=dict)


def _check_value(value: Any, where: str) -> None:
    """Parameters must survive papermill injection and JSON (the manifest) unchanged."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"parameter {where} must be finite, got {value}")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"parameter {where} has a non-string key {key!r}")
            _check_value(item, f"{where}[{key!r}]")
        return
    raise ValueError(
        f"parameter {where} has unsupported type {type(value).__name__} ({value!r}); use "
        "numbers, strings, booleans, null, lists or mappings (quote dates and the like)"
    )


def _check_mapping(obj: Any, where: str) -> dict[str, Any]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be a mapping of name: value, got {type(obj).__name__}")
    for key, value in obj.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"{where}: parameter name {key!r} is not a Python identifier")
        _check_value(value, f"{key!r} in {where}")
    return dict(obj)


def load_params(path: str | os.PathLike) -> ParamsFile:
    """Read and check a params file; ValueError names the file and the offending entry."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file not found: {path}")
    try:
        data = _yaml_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"params file {path} is not UTF-8 text (byte {err.start} is "
                         f"{err.object[err.start:err.start + 1]!r}): is it a YAML file?") from None
    except yaml.YAMLError as err:
        raise ValueError(f"params file {path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"params file {path} must be a YAML mapping with a 'notebooks' list")
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise ValueError(
            f"params file {path}: unknown top-level key(s) {unknown}; allowed: {list(_TOP_KEYS)}"
        )
    notebooks = data.get("notebooks")
    if not isinstance(notebooks, list) or not notebooks:
        raise ValueError(f"params file {path}: 'notebooks' must be a non-empty list of stems")
    for stem in notebooks:
        if not isinstance(stem, str) or not stem or "/" in stem or stem.endswith(".ipynb"):
            raise ValueError(
                f"params file {path}: notebook entry {stem!r} must be a stem such as "
                "'01_my_step': a notebook's file name without folder and .ipynb"
            )
    duplicates = sorted({s for s in notebooks if notebooks.count(s) > 1})
    if duplicates:
        raise ValueError(f"params file {path}: notebook(s) listed twice: {duplicates}")
    parameters = _check_mapping(data.get("parameters"), f"'parameters' of {path}")
    per_raw = data.get("per_notebook") or {}
    if not isinstance(per_raw, dict):
        raise ValueError(f"params file {path}: 'per_notebook' must map notebook stems to mappings")
    per_notebook = {}
    for stem, mapping in per_raw.items():
        if stem not in notebooks:
            raise ValueError(
                f"params file {path}: per_notebook entry {stem!r} is not in 'notebooks' {notebooks}"
            )
        per_notebook[stem] = _check_mapping(mapping, f"per_notebook {stem!r} of {path}")
    study = _check_study(data.get("study"), path)
    return ParamsFile(path, list(notebooks), parameters, per_notebook, study)


def _check_study(obj: Any, path: Path) -> dict[str, Any]:
    """The ``study`` section: ``seeds`` (distinct integers >= 0) and ``per_seed`` (``-p`` style
    names mapped to strings holding ``{seed}``)."""
    if obj is None:
        return {}
    where = f"params file {path}: 'study'"
    if not isinstance(obj, dict) or set(obj) - {"seeds", "per_seed"}:
        raise ValueError(f"{where} must be a mapping with the keys seeds and per_seed")
    seeds = obj.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)):
        raise ValueError(f"{where}: seeds must be a list of distinct integers >= 0, got {seeds!r}")
    per_seed = obj.get("per_seed") or {}
    if not isinstance(per_seed, dict):
        raise ValueError(f"{where}: per_seed must map parameter names to strings with {{seed}}")
    for name, template in per_seed.items():
        if not isinstance(template, str) or "{seed}" not in template:
            raise ValueError(f"{where}: per_seed {name!r} must be a string holding {{seed}}, "
                             f"got {template!r}")
    return {"seeds": list(seeds), "per_seed": dict(per_seed)}


def parse_override(text: str) -> tuple[str, Any]:
    """``"name=value"`` (or ``"notebook.name=value"``) -> (key, value), the value parsed as YAML.

    ``-p epochs=3`` gives the int 3, ``-p lr=1e-3`` the float 0.001, ``-p flag=true`` True,
    ``-p tag=abc`` the string "abc", ``-p x=null`` None, ``-p tag=`` the empty string.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"-p expects name=value (or notebook.name=value), got {text!r}")
    try:
        value = _yaml_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ValueError(f"-p {text!r}: the value is not valid YAML: {err}") from err
    _check_value(value, f"{key!r} (from -p)")
    return key, value


def parse_overrides(texts: Iterable[str]) -> dict[str, Any]:
    """Several ``-p`` strings as one dict; a key given twice keeps its last value."""
    return dict(parse_override(t) for t in texts)


def declared_parameters(notebook: str | os.PathLike) -> list[str]:
    """Names assigned in the notebook's ``parameters``-tagged cell (papermill's inspection)."""
    import papermill

    try:
        return list(papermill.inspect_notebook(str(notebook)))
    except Exception as err:  # papermill raises several types for unreadable notebooks
        raise ValueError(f"cannot read the parameters of notebook {notebook}: {err}") from err


@dataclass(frozen=True)
class Range:
    """An interval of allowed numbers; None: unbounded on that side."""

    low: float | None
    high: float | None
    low_inclusive: bool
    high_inclusive: bool

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value < self.low if self.low_inclusive else value <= self.low):
            return False
        return self.high is None or (value <= self.high if self.high_inclusive
                                     else value < self.high)

    def __str__(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>=' if self.low_inclusive else '>'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<=' if self.high_inclusive else '<'} {self.high:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Declared:
    """One parameter as its notebook declares it: the literal default (None when not a literal:
    then any type is accepted) and the range its comment states (None: any number)."""

    default: Any
    range: Range | None = None


# "; range [1, inf)" at the end of a parameter's comment
_RANGE = re.compile(r";\s*range\s*([\[(])\s*([^,\s]+)\s*,\s*([^\])\s]+)\s*([\])])\s*$")


def _bound(text: str, where: str) -> float | None:
    if text in ("inf", "-inf"):
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: range bound {text!r} is not a number or inf") from None


def _declared_range(comment: str, where: str) -> Range | None:
    match = _RANGE.search(comment)
    if match is None:
        return None
    opening, low, high, closing = match.groups()
    return Range(_bound(low, where), _bound(high, where), opening == "[", closing == "]")


def notebook_parameters(notebook: str | os.PathLike) -> dict[str, Declared]:
    """Each name of the notebook's ``parameters`` cell with its default (a literal; a default
    that is not a Python literal maps to None, and its values are then not type-checked) and
    the range its comment declares (``; range [0, 1)``)."""
    import papermill

    try:
        inspected = papermill.inspect_notebook(str(notebook))
    except Exception as err:  # papermill raises several types for unreadable notebooks
        raise ValueError(f"cannot read the parameters of notebook {notebook}: {err}") from err
    declared: dict[str, Declared] = {}
    for name, info in inspected.items():
        try:
            default = ast.literal_eval(str(info.get("default")))
        except (ValueError, SyntaxError):
            default = None
        where = f"notebook {notebook}, parameter {name}"
        declared[name] = Declared(default, _declared_range(str(info.get("help") or ""), where))
    return declared


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _fits_type(value: Any, default: Any) -> bool:
    if default is None:
        return True  # no literal default: nothing to compare with
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, list)
    return isinstance(value, type(default))


def check_parameter_values(
    resolved: Mapping[str, Mapping[str, Any]], declared: Mapping[str, Mapping[str, Declared]]
) -> None:
    """ValueError naming the notebook, the parameter and the value for a value whose type differs
    from the notebook's default (``-p 02_train_tscan.epochs=abc``) or that lies outside the
    range its parameters cell declares (``epochs=-1``). ``resolved`` is
    :func:`resolve_parameters`'s result, ``declared`` maps each stem to
    :func:`notebook_parameters`."""
    for stem, values in resolved.items():
        for name, value in values.items():
            if name in RESERVED_PARAMETERS:
                continue
            declaration = declared.get(stem, {}).get(name, Declared(None))
            default = declaration.default
            if not _fits_type(value, default):
                raise ValueError(
                    f"parameter {name} of notebook {stem} must be {_type_name(default)} like its "
                    f"default {default!r}, got {value!r} ({_type_name(value)})"
                )
            allowed = declaration.range
            if allowed is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if value not in allowed:
                raise ValueError(f"parameter {name} of notebook {stem} must be {allowed}, "
                                 f"got {value!r}")


def _unknown(name: str, where: str, valid: Iterable[str]) -> ValueError:
    names = ", ".join(sorted(set(valid))) or "(none)"
    return ValueError(f"unknown parameter {name!r} ({where}); valid names: {names}")


def resolve_parameters(
    params: ParamsFile,
    declared: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Any],
    run_dir: Path,
) -> dict[str, dict[str, Any]]:
    """The parameters to inject into each notebook, ``{stem: {name: value}}``.

    ``declared`` maps each stem to the names its parameters cell declares. Raises ValueError,
    listing the valid names, for a name that no notebook (or not the named one) declares, and
    for an attempt to set the reserved ``run_dir``.
    """
    valid_all = {n for names in declared.values() for n in names} - set(RESERVED_PARAMETERS)
    for stem in params.notebooks:
        if "run_dir" not in declared[stem]:
            raise ValueError(
                f"notebook {stem} does not declare run_dir in its parameters cell; every notebook "
                "run by `rppg run` must (it is where artifacts, figures and records go)"
            )

    def check_reserved(name: str, where: str) -> None:
        if name in RESERVED_PARAMETERS:
            raise ValueError(f"parameter {name!r} ({where}) is set by the runner: use --out")

    for name in params.parameters:
        check_reserved(name, f"in {params.path}")
        if name not in valid_all:
            raise _unknown(name, f"'parameters' in {params.path}", valid_all)
    for stem, mapping in params.per_notebook.items():
        for name in mapping:
            check_reserved(name, f"per_notebook {stem} in {params.path}")
            if name not in declared[stem]:
                where = f"per_notebook {stem} in {params.path}; not declared by that notebook"
                raise _unknown(name, where, set(declared[stem]) - set(RESERVED_PARAMETERS))
    global_cli: dict[str, Any] = {}
    per_cli: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        stem, dot, name = key.rpartition(".")
        check_reserved(name, f"-p {key}")
        if dot:
            if stem not in declared:
                raise ValueError(
                    f"-p {key}: notebook {stem!r} is not in this run; notebooks: "
                    f"{', '.join(params.notebooks)}"
                )
            if name not in declared[stem]:
                where = f"-p {key}; not declared by notebook {stem}"
                raise _unknown(name, where, set(declared[stem]) - set(RESERVED_PARAMETERS))
            per_cli.setdefault(stem, {})[name] = value
        else:
            if name not in valid_all:
                raise _unknown(name, f"-p {key}", valid_all)
            global_cli[name] = value
    resolved: dict[str, dict[str, Any]] = {}
    for stem in params.notebooks:
        names = declared[stem]
        layers = (
            params.parameters,
            params.per_notebook.get(stem, {}),
            global_cli,
            per_cli.get(stem, {}),
        )
        chosen: dict[str, Any] = {"run_dir": str(run_dir)}
        for layer in layers:
            chosen.update({k: v for k, v in layer.items() if k in names})
        resolved[stem] = chosen
    return resolved

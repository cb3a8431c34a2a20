"""The library's three layers and the direction of its imports, read from the source (ast).

- the reusable core (``rppg_lib.*`` outside ``steps`` and ``run``) imports neither layer above;
- the run machinery (``rppg_lib.run``) imports the core, never the notebooks' steps;
- the notebooks' steps (``rppg_lib.steps``) import the core, the run layer's record and report
  API, and the steps of earlier notebooks only (data flows one way through the notebooks);
- no import cycle between modules; no module-level ``__getattr__`` re-exports; no function-local
  import of the library's own modules;
- ARCHITECTURE.md's module map names exactly the modules that exist;
- the run layer spells out no notebook stem and no notebook's record key (it reads records
  through the schema of ``rppg_lib.stats.RECORDS``).
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "rppg_lib"

# Notebook order of the steps; ``study`` and ``artifacts`` serve every notebook.
STEP_ORDER = [
    "dataset_split",
    "artifacts",
    "synthetic_data",
    "preprocessing",
    "train_tscan",
    "attention_masks",
    "inverse_attention_noise",
    "lstm_denoising",
    "evaluation",
    "reproduce_benefit_of_distraction",
    "notebook_plots",  # the steps' figures: after every step whose results it draws
]
# What the steps may use of the run layer: recording results and writing figures and tables.
RUN_API_FOR_STEPS = ("rppg_lib.run.record", "rppg_lib.run.report")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def library_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
              known: Mapping[str, Path]) -> Iterator[str]:
    """Library modules that one import statement of ``module`` loads (as full names)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    for alias in node.names:
        candidate = f"{target}.{alias.name}"
        yield candidate if candidate in known else target


def import_graph(modules: Mapping[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """(module -> library modules it imports, anywhere in the file), and the function-local
    imports of library modules as "module.function -> target" lines."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    local: list[str] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        functions = [
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        in_function = {id(sub) for f in functions for sub in ast.walk(f)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _imported(node, name, is_package, modules):
                if not target.startswith("rppg_lib"):
                    continue
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target != name:
                    graph[name].add(target)
                if id(node) in in_function:
                    local.append(f"{name} (line {node.lineno}) -> {target}")
    return graph, local


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("steps", "run"):
        return parts[1]
    return "core"


def step_rank(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 3 or parts[1] != "steps":
        return None
    return STEP_ORDER.index(parts[2])


def forbidden_imports(graph: Mapping[str, set[str]]) -> list[str]:
    """Every import that points up a layer, or from a step to a later notebook's step."""
    bad = []
    for source, targets in graph.items():
        for target in sorted(targets):
            src, dst = layer(source), layer(target)
            if src == "core" and dst != "core":
                bad.append(f"core {source} imports {dst} {target}")
            elif src == "run" and dst == "steps":
                bad.append(f"run {source} imports steps {target}")
            elif src == "steps" and dst == "run" and not target.startswith(RUN_API_FOR_STEPS):
                bad.append(f"steps {source} imports run {target} (only record and report)")
            elif src == "steps" and dst == "steps":
                rank_src, rank_dst = step_rank(source), step_rank(target)
                if None not in (rank_src, rank_dst) and rank_dst > max(rank_src, 1):
                    bad.append(f"step {source} imports the later step {target}")
    return bad


@pytest.fixture(scope="module")
def graph_and_local():
    return import_graph(library_modules())


def test_every_step_module_is_in_the_notebook_order():
    steps = {p.stem if p.name != "__init__.py" else p.parent.name
             for p in (PACKAGE / "steps").rglob("*.py")}
    steps -= {"steps"}
    top_level = {s for s in steps if (PACKAGE / "steps" / f"{s}.py").exists()
                 or (PACKAGE / "steps" / s).is_dir()}
    assert top_level <= set(STEP_ORDER), top_level - set(STEP_ORDER)


def test_cycle_finder_finds_a_known_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_layer_rule_flags_upward_imports():
    graph = {
        "rppg_lib.signals": {"rppg_lib.run.record"},
        "rppg_lib.run.runner": {"rppg_lib.steps.dataset_split"},
        "rppg_lib.steps.dataset_split": {"rppg_lib.run.runner"},
        "rppg_lib.steps.train_tscan": {"rppg_lib.steps.evaluation", "rppg_lib.steps.dataset_split"},
        "rppg_lib.steps.evaluation": {"rppg_lib.steps.train_tscan", "rppg_lib.run.report"},
    }
    bad = forbidden_imports(graph)
    assert len(bad) == 4, bad
    assert any("later step rppg_lib.steps.evaluation" in b for b in bad)


def test_no_import_cycle(graph_and_local):
    graph, _ = graph_and_local
    assert find_cycles(graph) == []


def test_imports_point_one_way(graph_and_local):
    graph, _ = graph_and_local
    assert forbidden_imports(graph) == []


def test_no_function_local_import_of_the_library(graph_and_local):
    _, local = graph_and_local
    assert local == []


def test_no_module_level_getattr_reexports():
    offenders = [
        name for name, path in library_modules().items()
        if any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
               for n in ast.parse(path.read_text()).body)
    ]
    assert offenders == []


def _architecture_modules() -> set[str]:
    text = (REPO_ROOT / "ARCHITECTURE.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    first_cells = [row.split("|")[1] for row in rows]
    names = (m for cell in first_cells for m in re.findall(r"`([a-z_][a-z_.]*)`", cell))
    return {f"rppg_lib.{m}" for m in names}


def test_architecture_map_matches_the_code():
    listed = _architecture_modules()
    modules = library_modules()
    # What the map lists: top-level modules and packages of the core, and each module of the
    # steps and run layers.
    expected = set()
    for name in modules:
        parts = name.split(".")
        if len(parts) == 1:
            continue
        if parts[1] in ("steps", "run") and len(parts) > 2:
            expected.add(".".join(parts[:3]))
        elif parts[1] not in ("steps", "run"):
            expected.add(".".join(parts[:2]))
    missing = sorted(expected - listed)
    stale = sorted(m for m in listed - expected if m not in modules)
    assert missing == [], f"modules missing from ARCHITECTURE.md: {missing}"
    assert stale == [], f"ARCHITECTURE.md lists modules that do not exist: {stale}"


def _string_constants(path: Path) -> Iterator[str]:
    """The string literals of a module, less its docstrings (prose may name an example)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docstrings):
            yield node.value


def _notebook_record_keys() -> set[str]:
    """Every key a notebook records: ``record("key", ...)`` in the notebooks' code cells."""
    keys = set()
    for notebook in (REPO_ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                keys |= set(re.findall(r'\brecord\(\s*"([A-Za-z0-9_]+)"', "".join(cell["source"])))
    return keys


# Record keys that are also the run layer's own words (manifest fields, CLI vocabulary).
RUN_WORDS = {"parameters", "settings", "config", "dataset", "available", "validation", "clips"}


def test_run_layer_names_no_notebook_and_no_record_key():
    """The runner, report and study read any notebook's records through the schema declared in
    rppg_lib.stats (RECORDS): a notebook stem or a notebook's record key spelled out in run/
    would tie the machinery to one notebook's insides."""
    stems = {p.stem for p in (REPO_ROOT / "notebooks").glob("*.ipynb")}
    keys = _notebook_record_keys() - RUN_WORDS
    assert stems and "verdicts" in keys and "method_table" in keys  # the check reads something
    offenders = []
    for path in sorted((PACKAGE / "run").rglob("*.py")):
        for text in _string_constants(path):
            named = [s for s in stems if s in text] + ([text] if text in keys else [])
            offenders += [f"{path.relative_to(REPO_ROOT)}: {name!r}" for name in named]
    assert offenders == []


def test_no_module_file_name_is_used_twice():
    """A file name says where a thing is: two modules of one name (steps/ and run/ each with a
    ``study.py``) make every traceback and import ambiguous."""
    names = Counter(p.name for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")
    assert [name for name, count in names.items() if count > 1] == []

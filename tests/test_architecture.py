"""The folders are the architecture: no import cycle, and a lower layer never imports a higher one.

Every ``semseg`` import counts, function-local ones included (a local import that closes a loop
only hides it). The layers, lowest first, are the ones docs/design.md draws.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from semseg.spec.graph import find_cycle

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "semseg"

# Lowest first. A part may import its own modules and any part of a lower layer; parts that
# share a layer may not import each other.
LAYERS: list[set[str]] = [
    {"version"},
    {"semseg", "errors"},  # "semseg": the package's own __init__
    {"progress", "files"},
    {"sample"},
    {"sql"},
    {"spec"},
    {"compile"},
    {"engine"},
    {"data"},
    {"cluster"},
    {"verify", "profile", "measure", "history"},
    {"dbt"},
    {"cli"},
]
LAYER_OF = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every semseg module ``path`` imports, at any depth of the file (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "semseg")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "semseg":
                continue
            for alias in node.names:  # `from semseg.x import y` may import module x.y
                candidate = f"{mod}.{alias.name}"
                found.add(candidate if _is_module(candidate) else mod)
    return {m for m in found if m != me}


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "semseg"


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for importer, imported in graph.items():
        a = part_of(importer)
        for target in imported:
            b = part_of(target)
            if a == b:
                continue
            if a not in LAYER_OF or b not in LAYER_OF:
                bad.append(f"{importer} -> {target}: part not in LAYERS (add it there)")
            elif LAYER_OF[b] >= LAYER_OF[a]:
                bad.append(f"{importer} -> {target}: {a} may not import {b}")
    return sorted(bad)


def _sorted(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in sorted(graph.items())}


def test_no_import_cycle_between_modules():
    assert find_cycle(_sorted(import_graph())) is None


def test_no_import_cycle_between_parts():
    graph = import_graph()
    parts: dict[str, set[str]] = {}
    for importer, imported in graph.items():
        parts.setdefault(part_of(importer), set()).update(
            part_of(t) for t in imported if part_of(t) != part_of(importer)
        )
    assert find_cycle(_sorted(parts)) is None


def test_lower_layers_never_import_higher_ones():
    assert layer_violations(import_graph()) == []


def test_every_part_has_a_layer():
    parts = {part_of(m) for m in import_graph()}
    assert parts <= set(LAYER_OF), parts - set(LAYER_OF)


def test_function_local_semseg_imports_are_counted(tmp_path):
    """The checker sees an import inside a function (the way loops used to be hidden)."""
    graph = {"semseg.compile.plan": {"semseg.verify.checks"}, "semseg.verify.checks": set()}
    assert layer_violations(graph) == [
        "semseg.compile.plan -> semseg.verify.checks: compile may not import verify"
    ]
    module = PACKAGE / "compile" / "plan.py"
    assert "semseg.spec.model" in imports_of(module)
    local = tmp_path / "semseg" / "x.py"
    local.parent.mkdir()
    local.write_text("def f():\n    from semseg.cli import app\n    return app\n")
    tree = ast.parse(local.read_text())
    names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert names == ["semseg.cli"]


@pytest.mark.parametrize(
    "graph",
    [
        {"a": ["b"], "b": ["a"]},
        {"a": ["b"], "b": ["c"], "c": ["a"]},
    ],
)
def test_cycle_finder_finds_cycles(graph):
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]


# SQL for a target leaves through one function (issue 21): ``compile.target_sql`` applies
# the target's rewrites, settings and refusals, then generates strictly. Anywhere else a tree
# is written only as canonical (DuckDB) text, ``.sql(CANONICAL)``, for the local session.
EXIT = ("semseg/compile/__init__.py", "target_sql")
# Text that is not SQL for a target, with why: a parameter's value written in the spec's
# snippet dialect, which the snippet is then parsed in; Spark's ``SparkSession.sql``, which
# runs SQL text (already written by ``target_sql``) rather than writing it.
NOT_TARGET_SQL = {("semseg/sql.py", "snippet_value_text"), ("semseg/engine/__init__.py", "arrow")}


def _sql_calls(path: Path) -> list[tuple[str, int, str]]:
    """(function, line, text) of each ``.sql(...)`` call in ``path`` whose dialect is not
    ``CANONICAL``, and of each use of ``sqlglot.transpile``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = function or child.name  # the outermost function
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                args = [*child.args, *(k.value for k in child.keywords if k.arg == "dialect")]
                canonical = (
                    len(args) == 1 and isinstance(args[0], ast.Name) and (args[0].id == "CANONICAL")
                )
                if child.func.attr == "sql" and not canonical:
                    found.append((name, child.lineno, ast.unparse(child)))
                if child.func.attr == "transpile":
                    found.append((name, child.lineno, ast.unparse(child)))
            visit(child, name)

    visit(tree, "")
    return found


def test_sql_for_a_target_leaves_through_one_function():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for function, line, text in _sql_calls(path):
            if (rel, function) == EXIT or (rel, function) in NOT_TARGET_SQL:
                continue
            offenders.append(f"{rel}:{line} in {function or 'module'}: {text}")
    assert not offenders, "SQL written for a target outside compile.target_sql:\n" + "\n".join(
        offenders
    )


def test_the_exit_check_sees_a_stray_dialect(tmp_path):
    stray = tmp_path / "x.py"
    stray.write_text(
        "def f(tree, target):\n    return tree.sql(dialect=target.sqlglot, pretty=True)\n"
        "def g(tree):\n    return tree.sql(CANONICAL)\n"
        "def h(tree):\n    return tree.sql()\n"
    )
    assert [(f, n) for f, n, _ in _sql_calls(stray)] == [("f", 2), ("h", 6)]

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
    {"data"},
    {"cluster"},
    {"verify", "profile"},
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

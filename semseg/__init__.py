"""semseg: customer segments declared once in YAML, compiled to any warehouse, verified locally."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "compile_spec", "load_spec", "SpecError", "CompileError"]


def __getattr__(name: str):  # lazy: `semseg --version` must not import sqlglot/duckdb
    if name in ("compile_spec", "load_spec"):
        from semseg import compiler

        return getattr(compiler, name)
    if name in ("SpecError", "CompileError"):
        from semseg import errors

        return getattr(errors, name)
    raise AttributeError(name)

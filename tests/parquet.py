"""Test data as files: the tables of a DuckDB connection written where verify reads them."""

from __future__ import annotations

from pathlib import Path

import duckdb


def write_tables(con: duckdb.DuckDBPyConnection, folder: Path, tables: list[str]) -> Path:
    """Each table as ``<folder>/<table>.parquet`` (``verify(data=folder)`` finds them)."""
    for table in tables:
        con.execute(f"COPY {table} TO '{Path(folder) / table}.parquet' (FORMAT parquet)")
    return Path(folder)

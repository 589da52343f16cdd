"""Bundled sample datasets (Parquet files shipped inside the package).

``retail`` mimics a dbt project's ``int_customers`` / ``int_order_lines`` (UAE, AED);
``marketplace`` mimics the Olist e-commerce tables (Brazil, BRL), plus two derived per-order
and per-item tables with ``customer_id`` (``market_orders``, ``market_order_items``; see
``generate.DERIVED``) that ``segment_specs/olist_personas.yml`` reads.
Regenerate with ``python -m semseg.sample.generate``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

__all__ = ["DATASETS", "FORMATS", "dataset_dir", "table_paths", "write_sample"]

DATASETS: tuple[str, ...] = ("retail", "marketplace")
FORMATS: tuple[str, ...] = ("parquet", "csv")

_ROOT = Path(__file__).resolve().parent


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown sample dataset {name!r}; expected one of {list(DATASETS)}")


def dataset_dir(name: str) -> Path:
    """Folder inside the installed package that holds the dataset's Parquet files."""
    _check_name(name)
    return _ROOT / name


def table_paths(name: str) -> dict[str, Path]:
    """Map table name -> Parquet path for one dataset, sorted by table name."""
    folder = dataset_dir(name)
    paths = sorted(folder.glob("*.parquet"))
    if not paths:
        raise FileNotFoundError(
            f"sample dataset {name!r} has no Parquet files in {folder}; "
            "run `python -m semseg.sample.generate`"
        )
    return {p.stem: p for p in paths}


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def write_sample(
    name: str, out_dir: Path | str, fmt: str = "parquet", overwrite: bool = False
) -> list[Path]:
    """Write the dataset's tables to ``out_dir/<table>.<fmt>`` and return the paths.

    Refuses (FileExistsError, before writing anything) if a target exists and
    ``overwrite`` is False. ``fmt`` is 'parquet' (file copy) or 'csv' (with header).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")
    sources = table_paths(name)
    out = Path(out_dir)
    targets = {table: out / f"{table}.{fmt}" for table in sources}
    if not overwrite:
        existing = [p for p in targets.values() if p.exists()]
        if existing:
            listed = ", ".join(str(p) for p in existing)
            raise FileExistsError(
                f"refusing to overwrite existing file(s): {listed} (pass overwrite=True)"
            )
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        for table, target in targets.items():
            shutil.copyfile(sources[table], target)
        return list(targets.values())
    con = duckdb.connect()
    try:
        for table, target in targets.items():
            con.execute(
                f"COPY (SELECT * FROM read_parquet({_sql_str(sources[table].as_posix())})) "
                f"TO {_sql_str(target.as_posix())} (FORMAT csv, HEADER true)"
            )
    finally:
        con.close()
    return list(targets.values())

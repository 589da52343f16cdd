"""Bundled sample datasets (Parquet files shipped inside the package).

``retail`` mimics a dbt project's ``int_customers`` / ``int_order_lines`` (UAE, AED);
``marketplace`` mimics the Olist e-commerce tables (Brazil, BRL), plus two derived per-order
and per-item tables with ``customer_id`` (``market_orders``, ``market_order_items``; see
``scripts/generate_sample.py``) that ``segment_specs/olist_personas.yml`` reads.
Regenerate with ``python -m scripts.generate_sample``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from semseg.files import Output, write_outputs

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
            "run `python -m scripts.generate_sample`"
        )
    return {p.stem: p for p in paths}


def write_sample(
    name: str, out_dir: Path | str, fmt: str = "parquet", overwrite: bool = False
) -> list[tuple[Path, bool]]:
    """Write the dataset's tables to ``out_dir/<table>.<fmt>``; ``(path, changed)`` for each.

    Written under the overwrite policy of ``semseg.files``: a different existing file is
    refused (``DataError``, before anything is written) unless ``overwrite``; an identical
    one is left as it is. ``fmt`` is 'parquet' (the bundled file) or 'csv' (with header).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")
    sources = table_paths(name)
    out = Path(out_dir)
    outputs = []
    if fmt == "parquet":
        outputs = [Output(out / f"{t}.parquet", p.read_bytes(), name) for t, p in sources.items()]
    else:
        con = duckdb.connect()
        try:
            for table, source in sources.items():
                rel = con.read_parquet(source.as_posix())
                with tempfile.TemporaryDirectory() as tmp:
                    csv = Path(tmp) / f"{table}.csv"
                    rel.write_csv(csv.as_posix(), header=True)
                    outputs.append(Output(out / f"{table}.csv", csv.read_bytes(), name))
        finally:
            con.close()
    return write_outputs(outputs, force=overwrite)

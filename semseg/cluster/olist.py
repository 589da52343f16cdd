"""Per-order and per-item tables for ``segment_specs/olist_personas.yml``, from the bundled
``marketplace`` sample (Olist-shaped tables).

The spec language aggregates one table per source by the entity key, and Olist's item, payment
and review tables carry no ``customer_id``; a dbt project would have these two intermediate
models. ``prepare_marketplace(folder)`` writes them (plus ``customers``) as Parquet so that
``--data folder`` works for fit, verify and profile.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

TABLES = ("customers", "market_orders", "market_order_items")

_SQL = {
    "customers": "SELECT * FROM customers",
    "market_orders": """
        SELECT o.customer_id, o.order_id, o.order_status,
               r.review_score, COALESCE(r.detailed_review, 0) AS detailed_review,
               p.installments, p.payment_value
        FROM orders o
        LEFT JOIN (
            SELECT order_id, AVG(CAST(review_score AS DOUBLE)) AS review_score,
                   MAX(CASE WHEN trim(review_comment_message) <> '' THEN 1 ELSE 0 END)
                       AS detailed_review
            FROM order_reviews GROUP BY order_id
        ) r ON r.order_id = o.order_id
        LEFT JOIN (
            SELECT order_id, MAX(payment_installments) AS installments,
                   SUM(payment_value) AS payment_value
            FROM order_payments GROUP BY order_id
        ) p ON p.order_id = o.order_id
        ORDER BY o.order_id
    """,
    "market_order_items": """
        SELECT o.customer_id, i.order_id, i.order_item_id, i.product_id,
               CAST(i.price AS DOUBLE) AS price, pr.product_weight_g, pr.product_photos_qty
        FROM order_items i
        JOIN orders o ON o.order_id = i.order_id
        LEFT JOIN products pr ON pr.product_id = i.product_id
        ORDER BY i.order_id, i.order_item_id
    """,
}


def prepare_marketplace(out_dir: str | Path) -> dict[str, Path]:
    """Write customers, market_orders and market_order_items Parquet files into ``out_dir``."""
    from semseg.sample import table_paths

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        for table, path in table_paths("marketplace").items():
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path.as_posix()}')")
        written = {}
        for table in TABLES:
            target = out / f"{table}.parquet"
            con.execute(f"COPY ({_SQL[table]}) TO '{target.as_posix()}' (FORMAT parquet)")
            written[table] = target
        return written
    finally:
        con.close()

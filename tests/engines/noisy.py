"""A "noisy" DuckDB: an engine that evaluates every CTE once per reference, and whose float
sums differ in the last bit from one evaluation to the next (issue 21).

ClickHouse evaluates a CTE again at each reference, and a float ``SUM`` over parallel blocks
comes out with other last bits each time (BigQuery documents the same; Trino, and Spark
without caching, inline CTEs too). DuckDB materialises a CTE read twice, so the proofs run
in it could not see SQL that compares values from two evaluations. This engine can:

* **every CTE reference is its own evaluation**: the query is rewritten without a WITH, each
  reference to a CTE replaced by its own copy of the CTE's query (recursively);
* **order-dependent float aggregates are perturbed per evaluation**: each ``SUM``, ``AVG``,
  ``STDDEV`` or ``VARIANCE`` whose result is a DOUBLE or FLOAT (DuckDB says which, by
  ``DESCRIBE`` of the aggregates; DECIMAL and integer sums are exact on every engine and are
  left alone) is multiplied by ``1 + 2^-52`` in about half of the groups, chosen by a hash of
  the group's key and of the copy: the last bit of the sum changes, differently in every
  copy, and the same in one copy (an engine computes one aggregate once per group). MIN,
  MAX and COUNT are exact everywhere and are not touched.

The perturbation is deterministic (a hash, not ``random()``): a failure reproduces. It is a
harsher engine than a real one only in degree (every other group, every evaluation).
"""

from __future__ import annotations

import itertools
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

ORDER_DEPENDENT = (exp.Sum, exp.Avg, exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance)
FLOATS = {"DOUBLE", "FLOAT", "REAL"}
SALT = "semseg_noise_salt"  # placeholder, replaced per copy of a CTE
ONE_ULP_UP = "1.0000000000000002"  # 1 + 2^-52


def _own_aggregates(select: exp.Select) -> list[exp.Expression]:
    """The order-dependent aggregates computed per group by ``select`` itself: not those of a
    subquery, nor a window function's own (``SUM(x) OVER ...`` is computed per row; the
    ``SUM`` inside ``MAX(SUM(x)) OVER ...`` is the group's)."""
    found = []
    for node in select.find_all(*ORDER_DEPENDENT):
        if isinstance(node.parent, exp.Window) and node.parent.this is node:
            continue
        parent = node.parent
        while parent is not None and parent is not select and not isinstance(parent, exp.Select):
            parent = parent.parent
        if parent is select:
            found.append(node)
    return found


def _float_types(
    con: duckdb.DuckDBPyConnection, prefix: list[exp.CTE], select: exp.Select, aggs: list
) -> list[bool]:
    """Whether each aggregate of ``select`` is a float, from DuckDB's DESCRIBE of a query
    that computes just those aggregates over the same rows and groups."""
    probe = select.copy()
    probe.set("expressions", [exp.alias_(a.copy(), f"a{i}") for i, a in enumerate(aggs)])
    for arg in ("having", "qualify", "order", "limit", "distinct"):
        probe.set(arg, None)
    if prefix:
        probe.set("with_", exp.With(expressions=[c.copy() for c in prefix]))
    try:
        rows = con.execute(f"DESCRIBE {probe.sql('duckdb')}").fetchall()
    except duckdb.Error:  # a correlated subquery: its outer columns are out of reach here
        return [False] * len(aggs)
    return [str(r[1]).upper() in FLOATS for r in rows]


def _jitter(select: exp.Select, agg: exp.Expression) -> exp.Expression:
    """``agg`` times 1 + 2^-52 in the groups whose hash with the copy's salt is even."""
    keys = [g.copy() for g in (select.args.get("group") or exp.Group()).expressions]
    # hash(a, b) combines the hashes so that a constant b flips no parity: hash one text
    text = [exp.Literal.string(SALT), *(exp.cast(k, "VARCHAR") for k in keys)]
    hashed = exp.Anonymous(
        this="hash",
        expressions=[exp.Anonymous(this="concat_ws", expressions=[exp.Literal.string("|"), *text])],
    )
    even = exp.EQ(
        this=exp.Mod(this=hashed, expression=exp.Literal.number(2)),
        expression=exp.Literal.number(0),
    )
    factor = exp.Case(
        ifs=[exp.If(this=even, true=exp.Literal.number(ONE_ULP_UP))],
        default=exp.Literal.number("1.0"),
    )
    return exp.Paren(this=exp.Mul(this=exp.Paren(this=agg.copy()), expression=factor))


def _perturb(con: duckdb.DuckDBPyConnection, prefix: list[exp.CTE], body: exp.Expression) -> int:
    """Perturb the float aggregates of every SELECT in ``body``; returns how many."""
    count = 0
    for select in list(body.find_all(exp.Select)):
        aggs = _own_aggregates(select)
        if not aggs:
            continue
        for agg, is_float in zip(aggs, _float_types(con, prefix, select, aggs), strict=True):
            if is_float:
                agg.replace(_jitter(select, agg))
                count += 1
    return count


class Noisy:
    """One query rewritten: ``sql`` (no WITH left) and how many aggregates were perturbed."""

    def __init__(self, con: duckdb.DuckDBPyConnection, query: exp.Expression) -> None:
        self.salts = itertools.count(1)
        with_ = query.args.get("with_")
        ctes: list[exp.CTE] = list(with_.expressions) if with_ else []
        self.perturbed = 0
        self.templates: dict[str, exp.Expression] = {}
        for i, cte in enumerate(ctes):
            body = cte.this.copy()
            self.perturbed += _perturb(con, ctes[:i], body)
            self.templates[cte.alias_or_name] = body
        main = query.copy()
        main.set("with_", None)
        self.perturbed += _perturb(con, ctes, main)
        self.query = self._expand(main, fresh=False)

    def _expand(self, body: exp.Expression, fresh: bool = True) -> exp.Expression:
        """A copy of ``body`` with its salt made unique and every CTE reference replaced by
        an expanded copy of that CTE."""
        body = body.copy()
        if fresh:
            salt = f"{SALT}_{next(self.salts)}"
            for lit in body.find_all(exp.Literal):
                if lit.is_string and lit.this == SALT:
                    lit.replace(exp.Literal.string(salt))
        for ref in list(body.find_all(exp.Table)):
            name = ref.name
            if ref.args.get("db") or name not in self.templates:
                continue
            alias = ref.alias or name
            copy = self._expand(self.templates[name])
            alias_node = exp.TableAlias(this=exp.to_identifier(alias))
            ref.replace(exp.Subquery(this=copy, alias=alias_node))
        return body


def noisy_sql(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[str, int]:
    """``sql`` (DuckDB; a query or a CREATE ... AS query) as the noisy engine runs it, and how
    many float aggregates it perturbs."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    query = tree.expression if isinstance(tree, exp.Create) else tree
    noisy = Noisy(con, query)
    if isinstance(tree, exp.Create):
        tree = tree.copy()
        tree.set("expression", noisy.query)
        return tree.sql("duckdb"), noisy.perturbed
    return noisy.query.sql("duckdb"), noisy.perturbed


class NoisyDuckDBEngine:
    """The engine harness interface (``tests.engines``) over a noisy DuckDB."""

    name = "duckdb"

    def __init__(self) -> None:
        self.conn = duckdb.connect()
        self.perturbed = 0  # float aggregates perturbed over every query run

    def load(self, src: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
        for table in tables:
            data = src.sql(f'SELECT * FROM "{table}"').to_arrow_table()  # noqa: F841 (read below)
            self.conn.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM data')

    def _rewrite(self, sql: str) -> str:
        rewritten, count = noisy_sql(self.conn, sql)
        self.perturbed += count
        return rewritten

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = self.conn.execute(self._rewrite(sql))
        return [d[0] for d in cur.description], cur.fetchall()

    def execute(self, sql: str) -> None:
        # past the header comment a compiled CREATE TABLE AS starts with: its query is
        # rewritten (perturbed) like a bare one
        code = "\n".join(ln for ln in sql.splitlines() if not ln.lstrip().startswith("--"))
        query = code.lstrip().upper().startswith(("WITH", "SELECT", "CREATE"))
        self.conn.execute(self._rewrite(sql) if query else sql)

    def close(self) -> None:
        self.conn.close()

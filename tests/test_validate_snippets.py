"""Every SQL snippet parses as one scalar expression, with aggregates only where they belong
(``semseg/spec/validate/snippets.py``; the parsing is ``semseg/sql.py``): the error points
inside the snippet, in plain, quoted and multi-line YAML values; one expression, no subquery,
DDL, window function or alias; an aggregate in ``sql`` and none in ``expr``, ``where`` or a
rule.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.validate_helpers import BASE, HEAD, expect, issues_of, the_issue, variant

# --- where the error points ------------------------------------------------------------------


def test_unparsable_snippet_points_inside_it(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "expr: amount", "expr: amount * (price + 1")))
    expect(
        issue,
        19,
        29,
        ("metrics.total_sales.expr", "cannot parse SQL", "Expecting )"),
        "fix the SQL expression",
    )
    line = BASE.splitlines()[18].replace("expr: amount", "expr: amount * (price + 1")
    assert line.index("amount") < issue.col - 1 < len(line.split("#")[0].rstrip())


@pytest.mark.parametrize("quote", ["'", '"'])
def test_unparsable_quoted_snippet_points_inside_it(tmp_path: Path, quote: str) -> None:
    text = variant((19, "expr: amount", f"expr: {quote}amount +* 2{quote}"))
    issue = the_issue(tmp_path, text)
    expect(issue, 19, 22, ("cannot parse SQL", "Unexpected token"), "fix the SQL")
    assert text.splitlines()[18][issue.col - 1] == "2"


@pytest.mark.parametrize(
    "value",
    [
        """'amount || ''x'' || ''y'' +* 2'""",  # each '' is one quote in the parsed text
        r'''"amount || 'x' || \"y\" +* 2"''',  # \" is one character
        r'''"amount || '\x41' || '\u00e9' +* 2"''',  # \x41 and \u00e9 are one each
    ],
    ids=["single-escapes", "double-escapes", "double-hex-escapes"],
)
def test_quoted_snippet_with_escapes_points_at_the_right_column(tmp_path: Path, value: str) -> None:
    text = variant((19, "expr: amount", f"expr: {value}"))
    issue = the_issue(tmp_path, text)
    assert "cannot parse SQL" in issue.message
    line = text.splitlines()[18]
    assert line[issue.col - 1] == "2", (line, issue.col)


def test_unparsable_snippet_in_a_rule(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((40, "AND value_tier_order = 1", "AND AND 1")))
    expect(issue, 40, 41, ("segmentations.status.segments.0.when", "cannot parse SQL"), "fix")


# (yaml of metric total_sales' expr, line, col of the token sqlglot stops at); HEAD is lines 1-5.
MULTILINE_SNIPPETS = [
    ("expr: |\n    amount * (price + 1\n", 10, 27),
    ("expr: |\n    amount\n      * (price + 1\n", 11, 22),
    ("expr: >-\n    amount\n    +* 2\n", 11, 12),
    ("expr: amount\n    +* 2\n", 10, 12),
]
MULTILINE_IDS = ["literal", "literal-2-lines", "folded-2-lines", "plain-2-lines"]


def multiline_spec(body: str) -> str:
    metric = "  total_sales:\n    source: orders\n    agg: sum\n"
    return HEAD + metric + textwrap.indent(body, "    ")


@pytest.mark.parametrize(("body", "line", "col"), MULTILINE_SNIPPETS, ids=MULTILINE_IDS)
def test_multiline_snippet_cases_are_invalid(
    tmp_path: Path, body: str, line: int, col: int
) -> None:
    # The expected position is the last token read: '1' of 'price + 1', or '2' of '+* 2'.
    assert multiline_spec(body).splitlines()[line - 1][col - 1] in "12"
    issue = the_issue(tmp_path, multiline_spec(body))
    assert "cannot parse SQL" in issue.message
    assert issue.hint == "fix the SQL expression"


@pytest.mark.parametrize(("body", "line", "col"), MULTILINE_SNIPPETS, ids=MULTILINE_IDS)
def test_unparsable_multiline_snippet_position(
    tmp_path: Path, body: str, line: int, col: int
) -> None:
    issue = the_issue(tmp_path, multiline_spec(body))
    expect(issue, line, col, "cannot parse SQL", "fix the SQL")


# --- one scalar expression -------------------------------------------------------------------


def test_unterminated_string_in_snippet(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "expr: amount", "expr: amount || 'x")))
    expect(issue, 19, 11, ("metrics.total_sales.expr", "cannot parse SQL"), "quotes")


def test_snippet_with_two_statements(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "expr: amount", "expr: amount; price")))
    expect(
        issue,
        19,
        11,
        ("metrics.total_sales.expr", "expected one SQL expression", "found 2 statements"),
        "without ';'",
    )


def test_blank_snippet(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "expr: amount", "expr: '  '")))
    expect(issue, 19, 12, "expected one SQL expression, found nothing", "single expression")


def test_snippet_that_is_a_subquery(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "expr: amount", "expr: (SELECT 1)")))
    expect(
        issue,
        19,
        11,
        ("expected a scalar expression", "SUBQUERY"),
        ("subqueries", "not allowed in snippets"),
    )


def test_ddl_in_a_snippet(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((10, "status = 'Sale'", "DROP TABLE x")))
    expect(
        issue,
        10,
        12,
        ("sources.orders.where", "expected a scalar expression", "DROP"),
        ("DDL", "not allowed"),
    )


def test_window_function_in_a_snippet(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "amount", "ROW_NUMBER() OVER (ORDER BY amount)")))
    expect(issue, 19, 11, "window functions are not allowed in snippets", "quantiles")


def test_alias_in_a_snippet(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "amount", "amount AS sales")))
    expect(issue, 19, 11, "without alias or '*'", "remove the alias")


# --- aggregates ------------------------------------------------------------------------------


def test_aggregate_inside_expr(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "amount", "SUM(amount)")))
    expect(
        issue,
        19,
        11,
        ("metrics.total_sales.expr contains an aggregate function", "aggregated by 'agg'"),
        ("remove the aggregate", "sql:"),
    )


def test_aggregate_inside_source_where(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((10, "status = 'Sale'", "COUNT(amount) > 1")))
    expect(
        issue,
        10,
        12,
        ("sources.orders.where contains an aggregate", "filters rows"),
        "remove the aggregate",
    )


def test_aggregate_inside_rule(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((40, "frequency_order = 1", "SUM(order_count) > 1")))
    expect(
        issue,
        40,
        15,
        ("segments.0.when contains an aggregate", "compares metrics"),
        "remove the aggregate",
    )


def test_sql_without_an_aggregate(tmp_path: Path) -> None:
    spec = variant((18, "agg: sum", "type: number"), (19, "expr: amount", "sql: amount * 2"))
    issue = the_issue(tmp_path, spec)
    expect(
        issue,
        19,
        10,
        "metrics.total_sales.sql has no aggregate function",
        ("must aggregate", "SUM(amount)", "agg + expr"),
    )


def test_sql_with_an_aggregate_is_valid(tmp_path: Path) -> None:
    spec = variant(
        (18, "agg: sum", "type: number"),
        (19, "expr: amount", "sql: SUM(amount) / NULLIF(COUNT(1), 0)"),
    )
    assert issues_of(tmp_path, spec) == []

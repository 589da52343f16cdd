"""Structural problems (``semseg/spec/validate/structure.py``: pydantic's errors, each located at
the YAML key or value it is about, with a hint): unknown keys with a did-you-mean or the allowed
keys, missing keys, values of the wrong type, too few items, names and table names that are not
valid, the version; several structural problems are all reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.validate_helpers import expect, find, issues_of, the_issue, the_only, variant

# --- unknown and missing keys ----------------------------------------------------------------


def test_unknown_top_level_key_with_did_you_mean(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, variant((11, "metrics:", "metircs:")))
    assert [(i.line, i.col) for i in issues] == [(1, 1), (11, 1)]
    expect(issues[1], 11, 1, ("unknown key 'metircs'", "the spec"), "did you mean 'metrics'?")
    expect(issues[0], 1, 1, "missing required key 'metrics'", "add 'metrics: ...'")


def test_unknown_key_without_close_match_lists_allowed_keys(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, variant((3, "description: A small valid spec", "owner: crm")))
    expect(
        the_only(issues),
        3,
        1,
        "unknown key 'owner'",
        ("allowed keys:", "version", "segmentations", "checks"),
    )


def test_unknown_key_inside_metric(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "expr: amount", "expresion: amount")))
    expect(issue, 19, 5, ("unknown key 'expresion'", "metrics.total_sales"), "did you mean 'expr'?")


def test_unknown_key_inside_segment(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((29, "min: 3", "mni: 3")))
    expect(
        issue,
        29,
        27,
        ("unknown key 'mni'", "segmentations.frequency.segments.0"),
        "did you mean 'min'?",
    )


def test_unknown_key_inside_check(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((47, "min_count: 1", "mincount: 1")))
    expect(issue, 47, 22, ("unknown key 'mincount'", "checks.1"), "did you mean 'min_count'?")


def test_a_comma_in_an_unquoted_flow_mapping_says_to_quote(tmp_path: Path) -> None:
    """Issue 23, item 33: YAML ends the value at the comma of ``NULLIF(order_count, 0)``, and
    the tail ``0)`` became a key: say that it is one, and to quote the value."""
    issue = the_issue(
        tmp_path,
        variant(
            (21, "avg_sale:", "avg_sale: {expr: total_sales / NULLIF(order_count, 0)}"),
            (22, "expr: total_sales / NULLIF(order_count, 0)", "# (above)"),
            (23, "description: Average sale value", "# (none)"),
        ),
    )
    expect(
        issue,
        21,
        54,
        ("unknown key '0)'", "metrics.avg_sale"),
        ("looks like the tail of an expression", "comma ends the value", "quote it"),
    )


def test_missing_entity_key(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((6, "key: customer_id", "description: the buyer")))
    # Located at the entity mapping (its first key, line 5): the key itself is not there.
    expect(issue, 5, 3, ("missing required key 'key'", "entity"), "add 'key: ...'")


def test_missing_section_value(tmp_path: Path) -> None:
    spec = variant(
        (5, "name: customer", "# name: customer"), (6, "key: customer_id", "# key: customer_id")
    )
    expect(
        the_issue(tmp_path, spec),
        4,
        8,
        ("entity must be a mapping", "got nothing"),
        "write a mapping here",
    )


# --- values of the wrong type or shape -------------------------------------------------------


def test_label_must_be_text(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((29, "label: Frequent", "label: 42")))
    expect(
        issue,
        29,
        17,
        ("segmentations.frequency.segments.0.label", "must be text", "got an integer"),
        "quote it",
    )


def test_yes_is_a_boolean_not_a_label(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((29, "label: Frequent", "label: yes")))
    expect(issue, 29, 17, ("must be text", "got true/false"), "quote it")


def test_quantiles_must_be_an_integer(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((34, "quantiles: 3", 'quantiles: "5"')))
    expect(
        issue,
        34,
        16,
        ("segmentations.value_tier.quantiles", "must be an integer", "got text"),
        "write an integer",
    )


def test_section_must_be_a_mapping(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((36, "labels: [High, Mid, Low]", "labels: High")))
    expect(
        issue,
        36,
        13,
        ("segmentations.value_tier.labels", "must be a list", "got text"),
        "write a list",
    )


def test_agg_must_be_a_known_aggregation(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((18, "agg: sum", "agg: median")))
    expect(
        issue,
        18,
        10,
        ("metrics.total_sales.agg", "'median' is not allowed"),
        ("count_distinct", "sum", "avg"),
    )


def test_metric_type_must_be_integer_number_or_text(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((20, "fill: 0", "type: float")))
    expect(
        issue,
        20,
        11,
        ("metrics.total_sales.type", "'integer', 'number' or 'text'", "'float'"),
        "use 'integer', 'number' or 'text'",
    )


def test_sources_must_not_be_empty(tmp_path: Path) -> None:
    spec = variant(
        (7, "sources:", "sources: {}"),
        (8, "orders:", "# orders:"),
        (9, "table: raw_orders", "# table"),
        (10, "where:", "# where:"),
    )
    issues = issues_of(tmp_path, spec)
    expect(find(issues, "sources must not be empty"), 7, 10, "sources", "add at least one entry")


def test_check_share_between_with_one_number(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((46, "[0.0, 0.6]", "[0.6]")))
    assert issue.line == 46
    assert "share_between" in issue.message
    assert "key '1'" not in issue.message
    assert "add '1: ...'" not in issue.hint


# --- names, table names and the version ------------------------------------------------------


def test_invalid_identifier_for_metric_name(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((16, "total_sales:", "Total Sales:")))
    # Located at the key (a name), not at its value.
    expect(
        issue,
        16,
        3,
        ("'Total Sales' is not a valid name", "metrics"),
        ("lowercase letters, digits and underscores", "starting with a letter"),
    )


def test_invalid_identifier_for_spec_name(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((2, "base_spec", "Base-Spec")))
    expect(issue, 2, 7, "'Base-Spec' is not a valid name", "lowercase letters")


def test_invalid_table_name(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((9, "raw_orders", "raw orders")))
    expect(
        issue,
        9,
        12,
        ("'raw orders' is not a valid value", "sources.orders.table"),
        ("table name", "schema.orders", "db.schema.orders"),
    )


def test_qualified_table_names_are_valid(tmp_path: Path) -> None:
    assert issues_of(tmp_path, variant((9, "raw_orders", "db.sales.raw_orders"))) == []
    issue = the_issue(tmp_path, variant((9, "raw_orders", "a.b.c.raw_orders")))
    expect(issue, 9, 12, "not a valid value", "db.schema.orders")


@pytest.mark.parametrize(("value", "shown"), [("2", "2"), ("'1'", "'1'")])
def test_version_must_be_1(tmp_path: Path, value: str, shown: str) -> None:
    issue = the_issue(tmp_path, variant((1, "version: 1", f"version: {value}")))
    expect(issue, 1, 10, ("version must be 1", f"got {shown}"), "use 1")


# --- several at once -------------------------------------------------------------------------


def test_structural_problems_are_all_reported(tmp_path: Path) -> None:
    spec = variant(
        (1, "version: 1", "version: 2"),
        (19, "expr:", "exp:"),
        (34, "quantiles: 3", "quantiles: three"),
    )
    issues = issues_of(tmp_path, spec)
    assert [(i.line, i.col) for i in issues] == [(1, 10), (19, 5), (34, 16)]

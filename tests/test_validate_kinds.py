"""Each metric and segmentation is one recognisable kind, with the keys that kind needs
(``semseg/spec/validate/kinds.py``): aggregate, raw-SQL and derived metrics; band, quantile and
rule segmentations (else segments, when conditions, direction and labels of quantiles); and the
shape of one band (its bounds, max or below, a min above its upper bound). How bands on one
metric fit together is ``tests/test_validate_bands.py``.
"""

from __future__ import annotations

from pathlib import Path

from tests.validate_helpers import BASE, expect, find, issues_of, the_issue, variant

# --- metric kinds ----------------------------------------------------------------------------


def test_metric_with_source_but_no_agg_or_sql(tmp_path: Path) -> None:
    # type: integer keeps the band proof on order_count unchanged.
    issue = the_issue(tmp_path, variant((14, "agg: count", "type: integer")))
    expect(
        issue,
        13,
        5,
        ("metric 'order_count'", "has a source but no 'agg' or 'sql'"),
        ("agg:", "count_distinct"),
    )


def test_metric_with_both_sql_and_agg(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "expr: amount", "sql: SUM(amount)")))
    expect(
        issue, 18, 10, "metric 'total_sales' has both 'sql' and 'agg'", ("either sql:", "agg+expr")
    )


def test_metric_with_both_sql_and_expr(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((18, "agg: sum", "sql: SUM(amount)")))
    expect(issue, 19, 11, "metric 'total_sales' has both 'sql' and 'expr'", "either sql:")


def test_agg_other_than_count_needs_expr(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((19, "expr: amount", "description: no expression")))
    expect(
        issue,
        17,
        5,
        "metric 'total_sales' uses agg 'sum' without 'expr'",
        "add 'expr: <column or expression>'",
    )


def test_count_without_expr_is_valid(tmp_path: Path) -> None:
    assert issues_of(tmp_path, BASE) == []  # order_count: agg: count, no expr (line 14)


def test_derived_metric_with_where(tmp_path: Path) -> None:
    issue = the_issue(
        tmp_path, variant((23, "description: Average sale value", "where: amount > 0"))
    )
    expect(
        issue,
        23,
        12,
        "metric 'avg_sale' has 'where' but no source",
        ("add 'source: <source name>'", "or remove it"),
    )


def test_derived_metric_with_agg(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((23, "description: Average sale value", "agg: sum")))
    expect(issue, 23, 10, "metric 'avg_sale' has 'agg' but no source", "add 'source:")


def test_metric_that_defines_no_value(tmp_path: Path) -> None:
    issue = the_issue(
        tmp_path, variant((22, "expr: total_sales / NULLIF(order_count, 0)", "type: number"))
    )
    expect(issue, 22, 5, "metric 'avg_sale' defines no value", ("source+agg+expr", "derived expr"))


# --- segmentation kinds ----------------------------------------------------------------------


def test_more_than_one_else(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, variant((30, "min: 1, max: 2", "else: true")))
    # The second else is reported at its 'else' value; the first else is then also not last.
    expect(
        find(issues, "more than one else"),
        31,
        30,
        "segmentation 'frequency'",
        ("keep one else", "'Occasional'"),
    )
    expect(find(issues, "is not last"), 30, 9, "else segment 'Occasional'", "move it to the end")
    assert len(issues) == 2


def test_else_not_last(tmp_path: Path) -> None:
    spec = variant(
        (30, "{label: Occasional, min: 1, max: 2}", "{label: Never, else: true}"),
        (31, "{label: Never, else: true}", "{label: Occasional, min: 1, max: 2}"),
    )
    issue = the_issue(tmp_path, spec)
    expect(
        issue,
        30,
        9,
        "else segment 'Never' is not last",
        ("move it to the end", "could never match"),
    )


def test_else_segment_with_bounds(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((31, "else: true", "else: true, min: 0")))
    expect(issue, 31, 41, "else segment 'Never' also has 'min'", "takes every remaining row")


def test_rules_segmentation_without_else(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((43, "else: true", "when: order_count = 0")))
    expect(
        issue,
        39,
        7,
        "rules segmentation 'status' has no else segment",
        ("else: true", "every row gets a label"),
    )


def test_rule_segment_without_when(tmp_path: Path) -> None:
    spec = variant(
        (43, "else: true", "description: no condition"),
        (41, "description: Frequent top spenders", "else: false"),
    )
    issues = issues_of(tmp_path, spec)
    expect(
        find(issues, "has no 'when' condition"),
        42,
        9,
        "segment 'Other'",
        ("when: <condition>", "else: true"),
    )


def test_segment_with_both_when_and_min(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((41, "description: Frequent top spenders", "min: 1")))
    expect(issue, 41, 14, "segment 'Loyal' mixes 'min' with rules", ("when:", "by:"))


def test_segmentation_without_segments(tmp_path: Path) -> None:
    spec = variant(
        (44, "segments: [{label: Big, min: 500}, {label: Rest, else: true}]", "segments: []")
    )
    issue = the_issue(tmp_path, spec)
    expect(issue, 44, 10, "segmentation 'spend' has no segments", ("segments:", "quantiles: N"))


def test_quantiles_without_direction(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((35, "direction: desc", "description: tiers")))
    expect(
        issue,
        34,
        16,
        "quantile segmentation 'value_tier' has no 'direction'",
        ("direction: desc", "direction: asc"),
    )


def test_quantiles_without_by(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((33, "by: total_sales", "description: tiers")))
    expect(issue, 33, 5, "quantile segmentation 'value_tier' has no 'by'", "add 'by: <metric>'")


def test_quantiles_with_segments(tmp_path: Path) -> None:
    issue = the_issue(
        tmp_path, variant((36, "labels: [High, Mid, Low]", "segments: [{label: A, min: 1}]"))
    )
    expect(issue, 36, 15, "has both quantiles and segments", "keep one")


def test_quantile_labels_count_mismatch(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((36, "[High, Mid, Low]", "[High, Low]")))
    expect(issue, 36, 13, "2 labels for 3 quantiles", "give exactly 3 labels")


def test_direction_on_a_non_quantile_segmentation(tmp_path: Path) -> None:
    issue = the_issue(
        tmp_path, variant((27, "description: How often the customer buys", "direction: desc"))
    )
    expect(
        issue,
        27,
        16,
        ("'direction' applies only to quantile segmentations", "'frequency' has no 'quantiles'"),
        ("remove it", "quantiles: N"),
    )


# --- one band's own bounds -------------------------------------------------------------------


def test_band_without_bounds(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((30, ", min: 1, max: 2", "")))
    expect(issue, 30, 9, "band 'Occasional' has no bounds", ("min", "max", "below"))


def test_band_with_both_max_and_below(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((30, "max: 2", "max: 2, below: 3")))
    expect(issue, 30, 52, "band 'Occasional' has both max and below", "keep one upper bound")


def test_band_with_min_above_max(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, variant((30, "min: 1, max: 2", "min: 2, max: 1")))
    expect(
        find(issues, "can never match"),
        30,
        34,
        ("band 'Occasional'", "min 2 is above its upper bound 1"),
        "swap or fix the bounds",
    )


def test_band_with_min_equal_to_below(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((44, "min: 500", "min: 500, below: 500")))
    expect(issue, 44, 57, ("band 'Big' can never match", "above its upper bound 500"), "swap")

"""Bands on one metric neither overlap nor leave gaps (``semseg/spec/validate/bands.py``, a proof
by interval arithmetic): overlaps, a band an earlier one covers, gaps between integer and
float bands, and values, NULL included, that no band takes when there is no else segment.
One band's own bounds are ``tests/test_validate_kinds.py``.
"""

from __future__ import annotations

from pathlib import Path

from tests.validate_helpers import BASE, expect, find, issues_of, the_issue, variant

# --- overlaps and gaps -----------------------------------------------------------------------


def test_overlapping_bands(tmp_path: Path) -> None:
    spec = variant((29, "min: 3", "min: 2"), (30, "max: 2", "max: 3"))
    issue = the_issue(tmp_path, spec)
    expect(
        issue,
        30,
        9,
        ("band 'Occasional' [1, 3] overlaps 'Frequent' [2, ∞)", "on [2, 3]"),
        ("first match wins", "below:"),
    )


def test_overlapping_float_bands_share_one_value(tmp_path: Path) -> None:
    # 'max' is inclusive: on a float metric max: 2 then min: 2 overlap on exactly 2.
    spec = variant((26, "order_count", "total_sales"), (29, "min: 3", "min: 2"))
    issue = the_issue(tmp_path, spec)
    expect(
        issue, 30, 9, ("band 'Occasional' [1, 2] overlaps 'Frequent' [2, ∞)", "on [2, 2]"), "below:"
    )


def test_band_shadowed_by_an_earlier_band(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((30, "min: 1, max: 2", "min: 4, max: 5")))
    expect(
        issue,
        30,
        9,
        ("band 'Occasional' [4, 5] can never match", "'Frequent' [3, ∞) comes first and covers it"),
        "first match wins",
    )


def test_gap_between_integer_bands(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((29, "min: 3", "min: 4")))
    expect(
        issue,
        29,
        9,
        ("values [3, 3] of 'order_count'", "fall between bands 'Occasional' and 'Frequent'"),
        "close the gap",
    )


def test_no_gap_between_adjacent_integer_bands(tmp_path: Path) -> None:
    assert issues_of(tmp_path, BASE) == []  # max: 2 then min: 3 on a count: no integer between


def test_gap_between_float_bands_below(tmp_path: Path) -> None:
    spec = variant((26, "order_count", "total_sales"), (30, "max: 2", "below: 2"))
    issue = the_issue(tmp_path, spec)
    expect(
        issue,
        29,
        9,
        ("values [2, 3) of 'total_sales'", "fall between bands 'Occasional' and 'Frequent'"),
        "close the gap",
    )


def test_gap_between_float_bands_max(tmp_path: Path) -> None:
    # max: 2 then min: 3 leaves no integer out, but total_sales is a float (sum of amounts).
    issue = the_issue(tmp_path, variant((26, "order_count", "total_sales")))
    expect(issue, 29, 9, "values (2, 3) of 'total_sales'", "close the gap")


def test_integer_declared_metric_has_no_gap(tmp_path: Path) -> None:
    spec = variant((26, "order_count", "total_sales"), (20, "fill: 0", "type: integer"))
    assert issues_of(tmp_path, spec) == []


# --- values no band takes, without an else ---------------------------------------------------


def test_bands_without_else_closed_at_the_top(tmp_path: Path) -> None:
    spec = variant((29, "min: 3", "min: 3, max: 10"), (31, "else: true", "max: 0"))
    issue = the_issue(tmp_path, spec)
    expect(
        issue,
        29,
        7,
        ("values of 'order_count' above 10", "match no band in 'frequency'"),
        ("else segment", "omit max"),
    )


def test_bands_without_else_open_at_the_bottom(tmp_path: Path) -> None:
    # Counts are >= 0, so only 0 is left out below the lowest band (min: 1).
    spec = variant((30, "min: 1, max: 2", "min: 2, max: 2"), (31, "else: true", "min: 1, max: 1"))
    issue = the_issue(tmp_path, spec)
    expect(
        issue,
        29,
        7,
        ("values of 'order_count' below 1", "match no band in 'frequency'"),
        ("else segment", "lower the first band"),
    )


def test_bands_covering_every_count_need_no_else(tmp_path: Path) -> None:
    assert issues_of(tmp_path, variant((31, "else: true", "min: 0, max: 0"))) == []


def test_bands_without_else_on_a_nullable_metric(tmp_path: Path) -> None:
    # With a population, customers without orders get order_count NULL (there is no fill).
    spec = variant(
        (3, "description: A small valid spec", "population: {table: customers}"),
        (31, "else: true", "max: 0"),
    )
    issue = the_issue(tmp_path, spec)
    expect(
        issue,
        29,
        7,
        ("rows whose 'order_count' is NULL", "match no band in 'frequency'"),
        ("fill: 0", "else segment"),
    )


def test_bands_without_else_on_a_filled_metric(tmp_path: Path) -> None:
    spec = variant(
        (3, "description: A small valid spec", "population: {table: customers}"),
        (15, "description: Order lines per customer", "fill: 0"),
        (31, "else: true", "max: 0"),
    )
    assert issues_of(tmp_path, spec) == []


MULTI_SOURCE = """\
    version: 1
    name: returns
    entity: {name: customer, key: customer_id}
    sources:
      orders: {table: raw_orders}
      returns: {table: raw_returns}
    metrics:
      order_count: {source: orders, agg: count}
      return_count: {source: returns, agg: count}
    segmentations:
      returner:
        by: return_count
        segments:
          - {label: Never returns, max: 0}
          - {label: Returner, min: 1}
    """


def test_bands_without_else_on_a_metric_of_a_second_source(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, MULTI_SOURCE)
    expect(issue, 14, 7, "rows whose 'return_count' is NULL", "fill: 0")


def test_no_false_gap_when_a_wide_band_covers_it(tmp_path: Path) -> None:
    spec = variant(
        (29, "min: 3", "min: 0, max: 10"),
        (30, "min: 1, max: 2", "min: 2, max: 3"),
        (31, "else: true", "min: 5"),
    )
    issues = issues_of(tmp_path, spec)
    find(issues, "can never match")  # Occasional [2, 3] inside Frequent [0, 10]
    find(issues, "overlaps")  # Never [5, ∞) and Frequent on [5, 10]
    assert not [i for i in issues if "fall between" in i.message], [i.format() for i in issues]

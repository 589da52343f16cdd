"""Names refer to things that exist, output columns are unique, and nothing depends on itself
(``semseg/spec/validate/references.py``): unknown sources, metrics, columns, labels and
segments with a did-you-mean, cycles of derived metrics and of segmentations, output columns
produced twice, duplicate labels, and checks (their segment, segmentation and bounds).
"""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import check_text as _check
from tests.golden_regen import SPECS
from tests.validate_helpers import expect, find, issues_of, the_issue, variant

# --- unknown names and cycles ----------------------------------------------------------------


def test_unknown_source_with_did_you_mean(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((17, "source: orders", "source: order")))
    expect(issue, 17, 13, "unknown source 'order'", "did you mean 'orders'?")


def test_derived_metric_refers_to_unknown_metric(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((22, "total_sales /", "total_sale /")))
    expect(
        issue,
        22,
        11,
        "derived metric 'avg_sale' refers to unknown metric 'total_sale'",
        "did you mean 'total_sales'?",
    )


def test_cyclic_derived_metrics(tmp_path: Path) -> None:
    spec = variant(
        (22, "NULLIF(order_count, 0)", "NULLIF(sale_ratio, 0)"),
        (23, "  description: Average sale value", "sale_ratio: {expr: avg_sale * 2}"),
    )
    issue = the_issue(tmp_path, spec)
    expect(
        issue,
        22,
        11,
        ("derived metrics depend on each other", "avg_sale -> sale_ratio -> avg_sale"),
        "break the cycle",
    )


def test_derived_metric_referring_to_itself(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((22, "NULLIF(order_count, 0)", "NULLIF(avg_sale, 0)")))
    expect(issue, 22, 11, "avg_sale -> avg_sale", "break the cycle")


def test_segmentation_by_unknown_metric(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((26, "by: order_count", "by: order_cnt")))
    expect(
        issue,
        26,
        9,
        "segmentation 'frequency' is by unknown metric 'order_cnt'",
        "did you mean 'order_count'?",
    )


def test_rule_refers_to_unknown_column(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((40, "value_tier_order", "value_tier_ordr")))
    expect(
        issue,
        40,
        15,
        "rule for 'Loyal' refers to unknown column 'value_tier_ordr'",
        "did you mean 'value_tier_order'?",
    )


def test_segmentations_depending_on_each_other(tmp_path: Path) -> None:
    spec = variant(
        (40, "frequency_order = 1 AND value_tier_order = 1", "vip_order = 1"),
        (
            44,
            "spend: {by: total_sales, segments: [{label: Big, min: 500}, {label: Rest, else: "
            "true}]}",
            "vip: {segments: [{label: VIP, when: status_order = 1}, {label: Regular, else: true}]}",
        ),
    )
    issue = the_issue(tmp_path, spec)
    # Located at the 'status' segmentation (its value starts with 'segments:' on line 38).
    expect(
        issue,
        38,
        5,
        ("segmentations depend on each other", "status -> vip -> status"),
        "break the cycle",
    )


def test_rule_using_its_own_segmentation(tmp_path: Path) -> None:
    issue = the_issue(
        tmp_path, variant((40, "frequency_order = 1 AND value_tier_order = 1", "status_order = 1"))
    )
    expect(
        issue,
        40,
        15,
        "rule for 'Loyal' uses its own segmentation's column 'status_order'",
        "metrics and other segmentations",
    )


def test_rule_using_its_own_segmentation_is_reported(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path, variant((40, "frequency_order = 1 AND value_tier_order = 1", "status_order = 1"))
    )
    expect(
        find(issues, "uses its own segmentation's column"),
        40,
        15,
        "'status_order'",
        "metrics and other segmentations",
    )


def test_a_rule_on_a_label_that_does_not_exist_is_refused(tmp_path):
    text = (SPECS / "customer_rfm.yml").read_text(encoding="utf-8")
    text = text.replace("when: monetary_tier_order = 1", "when: monetary_tier = 'top 20%'")
    result, path = _check(tmp_path, text)
    assert result.exit_code == 1, result.output
    assert "'top 20%' is not a label of 'monetary_tier'" in result.output
    assert "did you mean 'Top 20%'?" in result.output and f"{path}:" in result.output


# --- output columns and labels ---------------------------------------------------------------


def test_metric_named_like_an_order_column(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((21, "avg_sale:", "frequency_order:")))
    # The implicit order column has no line of its own: located at the 'frequency' mapping.
    expect(
        issue,
        26,
        5,
        ("output column 'frequency_order'", "also produced by metrics.frequency_order"),
        "rename one of them",
    )


def test_segmentation_named_like_a_metric(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((44, "spend:", "total_sales:")))
    expect(
        issue,
        44,
        3,
        ("output column 'total_sales'", "also produced by metrics.total_sales"),
        "rename one of them",
    )


def test_metric_named_like_the_entity_key(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((21, "avg_sale:", "customer_id:")))
    expect(
        issue,
        21,
        3,
        ("output column 'customer_id'", "also produced by entity.key"),
        "rename one of them",
    )


def test_duplicate_segment_labels(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((30, "label: Occasional", "label: Frequent")))
    expect(
        issue,
        30,
        17,
        "duplicate label 'Frequent' in 'frequency'",
        "give every segment its own label",
    )


def test_duplicate_quantile_labels(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((36, "[High, Mid, Low]", "[High, High, Low]")))
    expect(issue, 36, 13, "duplicate labels in 'value_tier'", "give every tier its own label")


# --- checks ----------------------------------------------------------------------------------


def test_check_on_unknown_segment(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((47, "segment: Loyal", "segment: Loyl")))
    expect(issue, 47, 15, "check refers to unknown segment 'Loyl'", "did you mean 'Loyal'?")


def test_check_on_unknown_segmentation(tmp_path: Path) -> None:
    issue = the_issue(
        tmp_path, variant((47, "segment: Loyal", "segment: Loyal, segmentation: statuss"))
    )
    expect(issue, 47, 36, "unknown segmentation 'statuss'", "did you mean 'status'?")


def test_check_on_ambiguous_segment(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((44, "label: Big", "label: Frequent")))
    expect(
        issue,
        46,
        15,
        ("segment 'Frequent' exists in", "frequency", "spend"),
        "add 'segmentation: <name>'",
    )


def test_check_on_quantile_null_tier_is_valid(tmp_path: Path) -> None:
    spec = variant((47, "segment: Loyal", "segment: Unranked, segmentation: value_tier"))
    assert issues_of(tmp_path, spec) == []


def test_check_share_between_low_above_high(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((46, "[0.0, 0.6]", "[0.8, 0.2]")))
    expect(
        issue,
        46,
        40,
        ("share_between must be [low, high]", "0 <= low <= high <= 1"),
        "share_between: [",
    )


def test_check_share_between_above_one(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((46, "[0.0, 0.6]", "[10, 60]")))
    expect(issue, 46, 40, "share_between must be [low, high]", "e.g.")


def test_check_with_no_expectation(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((47, "{segment: Loyal, min_count: 1}", "{segment: Loyal}")))
    expect(issue, 47, 5, "check states no expectation", ("share_between", "min_count", "max_count"))

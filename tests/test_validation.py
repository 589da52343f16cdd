"""One invalid spec per validation rule: every problem is reported at the right line and column,
with a message that says what is wrong and a hint that says how to fix it.

Most specs are ``BASE`` (a small valid spec; the ``# n`` comments are its line numbers) with one or
two lines edited in place, so the expected line numbers can be read straight off ``BASE``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.errors import Issue, SpecError
from semseg.spec import load_spec

SPECS_DIR = Path(__file__).resolve().parents[1] / "segment_specs"

BASE = textwrap.dedent("""\
    version: 1                                          # 1
    name: base_spec                                     # 2
    description: A small valid spec                     # 3
    entity:                                             # 4
      name: customer                                    # 5
      key: customer_id                                  # 6
    sources:                                            # 7
      orders:                                           # 8
        table: raw_orders                               # 9
        where: status = 'Sale'                          # 10
    metrics:                                            # 11
      order_count:                                      # 12
        source: orders                                  # 13
        agg: count                                      # 14
        description: Order lines per customer           # 15
      total_sales:                                      # 16
        source: orders                                  # 17
        agg: sum                                        # 18
        expr: amount                                    # 19
        fill: 0                                         # 20
      avg_sale:                                         # 21
        expr: total_sales / NULLIF(order_count, 0)      # 22
        description: Average sale value                 # 23
    segmentations:                                      # 24
      frequency:                                        # 25
        by: order_count                                 # 26
        description: How often the customer buys        # 27
        segments:                                       # 28
          - {label: Frequent, min: 3}                   # 29
          - {label: Occasional, min: 1, max: 2}         # 30
          - {label: Never, else: true}                  # 31
      value_tier:                                       # 32
        by: total_sales                                 # 33
        quantiles: 3                                    # 34
        direction: desc                                 # 35
        labels: [High, Mid, Low]                        # 36
      status:                                           # 37
        segments:                                       # 38
          - label: Loyal                                # 39
            when: frequency_order = 1 AND value_tier_order = 1  # 40
            description: Frequent top spenders          # 41
          - label: Other                                # 42
            else: true                                  # 43
      spend: {by: total_sales, segments: [{label: Big, min: 500}, {label: Rest, else: true}]}  # 44
    checks:                                             # 45
      - {segment: Frequent, share_between: [0.0, 0.6]}  # 46
      - {segment: Loyal, min_count: 1}                  # 47
    """)

# Header of the small stand-alone specs (lines 1-5); their metrics start on line 6.
HEAD = textwrap.dedent("""\
    version: 1
    name: small
    entity: {name: customer, key: customer_id}
    sources: {orders: {table: raw_orders}}
    metrics:
    """)


def variant(*edits: tuple[int, str, str]) -> str:
    """``BASE`` with ``old`` replaced by ``new`` on the given (1-based) line; line count kept."""
    lines = BASE.splitlines()
    for line, old, new in edits:
        text = lines[line - 1]
        assert text.count(old) == 1, f"{old!r} is not once on line {line}: {text}"
        assert "\n" not in new, "keep the line numbers of BASE: edit within one line"
        lines[line - 1] = lines[line - 1].replace(old, new)
    return "\n".join(lines) + "\n"


def issues_of(tmp_path: Path, text: str, name: str = "spec.yml") -> list[Issue]:
    """Write ``text`` (dedented) to a spec file and return the issues loading it reports."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    try:
        load_spec(path)
    except SpecError as err:
        assert all(issue.path == str(path) for issue in err.issues)
        return err.issues
    return []


def the_only(issues: list[Issue]) -> Issue:
    """The single issue of a list that should hold exactly one."""
    assert len(issues) == 1, "expected one issue, got:\n" + "\n".join(i.format() for i in issues)
    return issues[0]


def the_issue(tmp_path: Path, text: str) -> Issue:
    """The one issue of a spec that breaks exactly one rule."""
    return the_only(issues_of(tmp_path, text))


def find(issues: list[Issue], fragment: str) -> Issue:
    """The issue whose message contains ``fragment``."""
    found = [i for i in issues if fragment in i.message]
    assert len(found) == 1, f"{fragment!r} in:\n" + "\n".join(i.format() for i in issues)
    return found[0]


def expect(
    issue: Issue,
    line: int,
    col: int | None,
    message: tuple[str, ...] | str,
    hint: tuple[str, ...] | str = (),
) -> None:
    """Assert position and the key words of message and hint."""
    assert issue.line == line, issue.format()
    if col is not None:
        assert issue.col == col, issue.format()
    for words in (message,) if isinstance(message, str) else message:
        assert words in issue.message, issue.format()
    for words in (hint,) if isinstance(hint, str) else hint:
        assert words in issue.hint, issue.format()


# --- the fixtures themselves -----------------------------------------------------------------


def test_base_spec_is_valid(tmp_path: Path) -> None:
    assert issues_of(tmp_path, BASE) == []
    assert all(line.endswith(f"# {n}") for n, line in enumerate(BASE.splitlines(), 1))


def test_small_head_is_valid(tmp_path: Path) -> None:
    spec = HEAD + "  n: {source: orders, agg: count}\n"
    assert issues_of(tmp_path, spec) == []


@pytest.mark.parametrize("path", sorted(SPECS_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_every_example_spec_is_valid(path: Path) -> None:
    load_spec(path)  # raises SpecError listing the issues if any


def test_there_are_example_specs() -> None:
    assert len(list(SPECS_DIR.glob("*.yml"))) >= 3


# --- YAML ------------------------------------------------------------------------------------


def test_invalid_yaml_syntax(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((14, "agg: count", "agg: count: distinct")))
    expect(
        issue,
        14,
        15,
        ("invalid YAML", "mapping values are not allowed"),
        ("indentation", "colons", "quoting"),
    )


def test_invalid_yaml_unclosed_flow_sequence(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, variant((36, "labels: [High, Mid, Low]", "labels: [High, Mid")))
    assert len(issues) == 1
    assert issues[0].message.startswith("invalid YAML")
    assert issues[0].line >= 36


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"]
)
def test_empty_file(tmp_path: Path, text: str) -> None:
    expect(the_issue(tmp_path, text), 1, 1, "the spec file is empty", ("version: 1", "name:"))


def test_spec_not_a_mapping(tmp_path: Path) -> None:
    expect(
        the_issue(tmp_path, "- version: 1\n- name: x\n"),
        1,
        1,
        "the spec must be a YAML mapping",
        "version: 1",
    )


def test_spec_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(tmp_path / "missing.yml")
    [issue] = err.value.issues
    expect(issue, 1, 1, "spec file not found", "check the path")


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(BASE.replace("customer_id", "cliént_id").encode("latin-1"))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    [issue] = err.value.issues
    expect(issue, 1, 1, "not UTF-8", "UTF-8")


def test_duplicate_key(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((20, "fill: 0", "agg: avg")))
    expect(issue, 20, 5, ("duplicate key 'agg'", "first defined on line 18"), ("remove or rename",))


def test_duplicate_key_in_flow_mapping(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((29, "min: 3", "label: Often, min: 3")))
    expect(issue, 29, 27, ("duplicate key 'label'", "line 29"), "rename")


# --- structure (pydantic) --------------------------------------------------------------------


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


def test_unknown_dialect(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((3, "description: A small valid spec", "dialect: oracle9")))
    expect(issue, 3, 10, "unknown SQL dialect 'oracle9'", ("sqlglot dialect", "duckdb"))


def test_known_dialect_is_accepted(tmp_path: Path) -> None:
    spec = variant((3, "description: A small valid spec", "dialect: snowflake"))
    assert issues_of(tmp_path, spec) == []


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


# --- references ------------------------------------------------------------------------------


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


def test_check_share_between_with_one_number(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((46, "[0.0, 0.6]", "[0.6]")))
    assert issue.line == 46
    assert "share_between" in issue.message
    assert "key '1'" not in issue.message
    assert "add '1: ...'" not in issue.hint


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


# --- bands -----------------------------------------------------------------------------------


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


# --- SQL snippets ----------------------------------------------------------------------------


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


# --- several problems at once, and the command line ------------------------------------------


def test_independent_problems_are_all_reported_sorted_by_line(tmp_path: Path) -> None:
    spec = variant(
        (47, "segment: Loyal", "segment: Loyl"),  # references (line 47)
        (29, "min: 3", "min: 2"),  # bands: overlap with Occasional (line 30)
        (19, "expr: amount", "description: no expr"),  # kinds: sum without expr (line 17)
    )
    issues = issues_of(tmp_path, spec)
    assert [i.line for i in issues] == [17, 30, 47], [i.format() for i in issues]
    assert "without 'expr'" in issues[0].message
    assert "overlaps" in issues[1].message
    assert "unknown segment 'Loyl'" in issues[2].message


def test_structural_problems_are_all_reported(tmp_path: Path) -> None:
    spec = variant(
        (1, "version: 1", "version: 2"),
        (19, "expr:", "exp:"),
        (34, "quantiles: 3", "quantiles: three"),
    )
    issues = issues_of(tmp_path, spec)
    assert [(i.line, i.col) for i in issues] == [(1, 10), (19, 5), (34, 16)]


def test_issue_format(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((17, "source: orders", "source: order")))
    path = tmp_path / "spec.yml"
    assert issue.format() == (
        f"{path}:17:13: error: unknown source 'order' — did you mean 'orders'?"
    )


@pytest.mark.parametrize("command", ["check", "compile"])
def test_cli_reports_problems_without_traceback(tmp_path: Path, command: str) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(
        variant((17, "source: orders", "source: order"), (29, "min: 3", "min: 4")), encoding="utf-8"
    )
    result = CliRunner().invoke(app, [command, str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""  # problems go to stderr only
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        f"{path}:17:13: error: unknown source 'order' — did you mean 'orders'?",
        f"{path}:29:9: error: values [3, 3] of 'order_count' fall between bands 'Occasional' "
        "and 'Frequent' — extend one band to close the gap",
    ]
    assert lines[2] == "2 problems found; nothing was compiled."


def test_cli_reports_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(variant((14, "agg: count", "agg: count: distinct")), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"{path}:14:15: error: invalid YAML")


def test_cli_check_accepts_the_example_specs() -> None:
    result = CliRunner().invoke(app, ["check", str(SPECS_DIR)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok ") == len(list(SPECS_DIR.glob("*.yml")))


def test_structural_and_semantic_problems_are_reported_together(tmp_path):
    """A broken entry does not hide the other entries' problems, nor cascade into noise."""
    spec = tmp_path / "mixed.yml"
    spec.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: mixed
            entity: {name: customer, key: cid}
            sources:
              lines: {table: t}
            metrics:
              a: {source: lines, agg: sum, expr: x, fill: [0]}
              b: {source: linez, agg: sum, expr: y}
              c: {expr: a + b}
            segmentations:
              s:
                by: b
                segments:
                  - {label: X, min: 0, max: 5}
                  - {label: Y, min: 3}
                  - {label: Z, else: true}
            """
        )
    )
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    found = [(i.line, i.message) for i in err.value.issues]
    assert (
        found[0][0] == 7
        and "fill must be an integer, a number, text or true or false" in (found[0][1])
    )
    assert (8, "unknown source 'linez'") in found
    assert any(line == 15 and "overlaps 'X'" in msg for line, msg in found)
    # 'c' refers to the broken metric 'a': a consequence, not reported again.
    assert not any("'a'" in msg for _, msg in found)
    assert len(found) == 3

"""A proof must not share code with what it proves: a mutated compiler makes verify fail.

Each test breaks one piece of the compiler (``semseg.compile``) the way a real bug would, runs
``verify`` on the bundled sample, and expects the check that guards that piece to fail. verify
derives its expectations from the spec by its own path, so none of these mutations can hide
itself by being repeated in its proof.
"""

from __future__ import annotations

import pytest
from sqlglot import exp

from semseg.compile import cluster_sql, plan
from semseg.spec import load_spec
from semseg.verify import verify
from tests.cli_helpers import fitted_personas
from tests.golden_regen import SPECS


def _failed(spec: str) -> set[str]:
    report = verify(load_spec(SPECS / spec), dialects=["duckdb"], progress=lambda _m: None)
    return {c.name.split(":")[0] for c in report.checks if not c.passed}


def test_the_unmutated_compiler_passes():
    assert _failed("offer_seeker.yml") == set()
    assert _failed("customer_rfm.yml") == set()


def test_a_band_bound_off_by_one_fails_the_rule_check(monkeypatch):
    original = plan._band_condition

    def exclusive_min(spec, name, index):  # `>= min` written as `> min`
        tree = original(spec, name, index)
        return tree.transform(
            lambda n: exp.GT(this=n.this, expression=n.expression) if isinstance(n, exp.GTE) else n
        )

    monkeypatch.setattr(plan, "_band_condition", exclusive_min)
    assert "rules" in _failed("offer_seeker.yml")


def test_a_wrong_aggregate_fails_the_metric_check(monkeypatch):
    original = plan._aggregate

    def max_for_sum(spec, name):
        tree = original(spec, name)
        return exp.Max(this=tree.this) if isinstance(tree, exp.Sum) else tree

    monkeypatch.setattr(plan, "_aggregate", max_for_sum)
    assert "metrics" in _failed("offer_seeker.yml")


def test_a_metric_where_dropped_fails_the_metric_check(monkeypatch):
    original = plan._aggregate

    def no_where(spec, name):
        tree = original(spec, name)
        for case in list(tree.find_all(exp.Case)):
            if len(case.args.get("ifs") or []) == 1 and case.args.get("default") is None:
                case.replace(case.args["ifs"][0].args["true"])
        return tree

    monkeypatch.setattr(plan, "_aggregate", no_where)
    assert "metrics" in _failed("offer_seeker.yml")


def test_a_quantile_tier_off_by_one_fails_the_tier_check(monkeypatch):
    original = plan.quantile_tier_sql

    def shifted(name, s):  # rank instead of rank - 1: every boundary moves by one row
        tree = original(name, s)
        return tree.transform(
            lambda n: n.this if isinstance(n, exp.Paren) and isinstance(n.this, exp.Sub) else n
        )

    monkeypatch.setattr(plan, "quantile_tier_sql", shifted)
    assert "tiers" in _failed("customer_rfm.yml")


def test_a_wrong_fill_fails_the_metric_check(monkeypatch):
    def fill_one(value, fill):  # `fill: 0` filled with 1
        return value if fill is None else exp.Coalesce(this=value, expressions=[plan.number(1)])

    monkeypatch.setattr(plan, "_with_fill", fill_one)
    assert "metrics" in _failed("offer_seeker.yml")


def test_a_wrong_cluster_order_fails_the_cluster_label_check(monkeypatch):
    original = cluster_sql.order_sql
    monkeypatch.setattr(plan, "order_sql", lambda label, k: original(label, k + 1))
    report = verify(
        load_spec(SPECS / "olist_personas.yml"), dialects=["duckdb"], progress=lambda _m: None
    )
    failed = {c.name for c in report.checks if not c.passed}
    assert "labels:persona" in failed


def _persona_failures(spec=SPECS / "olist_personas.yml") -> set[str]:
    report = verify(load_spec(spec), dialects=["duckdb"], progress=lambda _m: None)
    return {c.name for c in report.checks if not c.passed}


@pytest.fixture(scope="module")
def prototyped(tmp_path_factory):
    """The personas with ``rule: prototypes``, fitted in a temp folder (the committed model
    has the boxes rule)."""
    return fitted_personas(tmp_path_factory.mktemp("prototypes"), "rule: prototypes")


def test_boxes_2_percent_wider_fail_the_rule_check(monkeypatch):
    """Every box's bounds written 2% further out: the rows just outside a box get its
    cluster. The rule check (the model file's boxes evaluated outside SQL) fails."""
    from dataclasses import replace

    original = cluster_sql._box_sql

    def wider(box):
        above = {f: v - 0.02 * abs(v) for f, v in box.above.items()}
        upto = {f: v + 0.02 * abs(v) for f, v in box.upto.items()}
        return original(replace(box, above=above, upto=upto))

    monkeypatch.setattr(cluster_sql, "_box_sql", wider)
    assert "rule:persona" in _persona_failures()


def test_boxes_of_two_clusters_exchanged_fail_the_rule_check(monkeypatch):
    """The boxes of clusters 0 and 1 written with each other's id: the agreement matches a
    refit to the model's ids by shared members, so exchanged ids are the rule check's."""
    from dataclasses import replace

    original = cluster_sql.box_label_sql

    def exchanged(model, where):
        swap = {0: 1, 1: 0}
        boxes = [replace(b, cluster=swap.get(b.cluster, b.cluster)) for b in model.boxes]
        return original(replace(model, boxes=boxes), where)

    monkeypatch.setattr(plan, "box_label_sql", exchanged)
    assert "rule:persona" in _persona_failures()


def test_an_assignment_that_ignores_the_radii_fails_the_rule_and_agreement_checks(
    monkeypatch, prototyped
):
    """Every clusterable customer given its nearest prototype (the radii dropped from the
    pairs that may take a row): the noise of the fit gets clusters."""
    original = cluster_sql.assignment_queries
    monkeypatch.setattr(
        plan, "assignment_queries", lambda *args, **_: original(*args[:6], anywhere=True)
    )
    assert {"rule:persona", "agreement:persona"} <= _persona_failures(prototyped)


def test_radii_written_2_percent_wide_fail_the_rule_check(monkeypatch, prototyped):
    """The prototypes relation with every radius 2% wider: the customers just outside a
    radius get its cluster. So few labels change that the agreement with a refit (>= 95%)
    still passes; the rule check, exact, does not."""
    from dataclasses import replace

    original = cluster_sql.prototypes_query

    def wider(model, name):
        protos = [replace(p, radius=p.radius * 1.02) for p in model.prototypes]
        return original(replace(model, prototypes=protos), name)

    monkeypatch.setattr(cluster_sql, "prototypes_query", wider)
    assert _persona_failures(prototyped) == {"rule:persona"}

"""SQL Server has no boolean values: a predicate may only be a condition (WHERE, WHEN, ON), never
a value such as an argument of COALESCE or a CASE result, and IS [NOT] DISTINCT FROM needs
SQL Server 2022. The T-SQL model of every example spec, and the dbt tests shipped with it, must
keep to that; no SQL Server runs here, so the rule is checked on the parsed SQL."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from semseg.compile import compile_spec
from semseg.dbt import dbt_model
from semseg.spec import load_spec
from tests.golden_regen import SPECS

PREDICATES = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)


def _boolean_values(sql: str) -> list[str]:
    found = []
    for tree in sqlglot.parse(sql.replace("{{", "").replace("}}", ""), read="tsql"):
        for node in tree.walk() if tree else ():
            if isinstance(node, exp.NullSafeEQ | exp.NullSafeNEQ):
                found.append(f"IS [NOT] DISTINCT FROM: {node.sql('tsql')[:80]}")
            values = []
            if isinstance(node, exp.Coalesce):
                values = [node.this, *node.expressions]
            elif isinstance(node, exp.If | exp.Case):
                values = [node.args.get("true"), node.args.get("default")]
                values += [i.args.get("true") for i in node.args.get("ifs") or []]
            if any(
                isinstance(v.unnest(), PREDICATES) for v in values if isinstance(v, exp.Expression)
            ):
                found.append(f"{type(node).__name__} of a predicate: {node.sql('tsql')[:80]}")
    return found


@pytest.mark.parametrize("spec", sorted(SPECS.glob("*.yml")), ids=lambda p: p.stem)
def test_tsql_model_and_dbt_tests_use_predicates_only_as_conditions(spec):
    spec_file = load_spec(spec)
    texts = {"model": compile_spec(spec_file, "tsql")}
    texts |= {
        path: text
        for path, text in dbt_model(spec_file, dialect="tsql").files.items()
        if path.startswith("tests/")
    }
    problems = {name: _boolean_values(sql) for name, sql in texts.items()}
    assert not any(problems.values()), problems


def test_the_detector_finds_a_coalesced_predicate():
    sql = "SELECT 1 AS x FROM t WHERE NOT COALESCE((a > 1), 1 = 0) OR b IS DISTINCT FROM c"
    assert len(_boolean_values(sql)) == 2

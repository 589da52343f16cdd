"""dbt output: a model file, its properties YAML (docs + generic tests) and singular tests.

The model is the compiled SQL with every spec table replaced by ``{{ ref('table') }}`` (or
``{{ source('NAME', 'table') }}``); the singular tests are verify's own rule, tier and
cluster proofs, pointed at the model, so ``dbt build`` enforces in the warehouse what verify
proved locally.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Any, cast

import jinja2
import sqlglot
import yaml
from sqlglot import exp

from semseg.compile import HISTORY_AS_OF, header, model_tree, refusals, target_sql
from semseg.compile.cluster_sql import fitted_model
from semseg.compile.dialects import Target, get_target
from semseg.errors import CompileError, UsageError, printable
from semseg.spec import SpecFile
from semseg.spec.graph import segment_labels
from semseg.spec.model import Spec, name_output
from semseg.spec.params import MARKER
from semseg.sql import CANONICAL, literal, name_sql
from semseg.verify.checks import key_checks, rule_check, tier_check
from semseg.verify.cluster_checks import cluster_checks
from semseg.verify.predict_checks import range_check
from semseg.verify.proof import RESULT


@dataclass(frozen=True)
class DbtOutput:
    """Files of a dbt model, by path relative to the dbt project root."""

    files: dict[str, str]


SOURCE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch: "$" passes a final \n


@lru_cache(maxsize=1)
def _macros() -> Any:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("semseg", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # SQL for dbt: values are escaped for dbt's Jinja before they come in
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
    )
    return env.get_template("dbt.sql.j2").module


def jinja_text(text: str) -> str:
    """Text that dbt's Jinja renders back to ``text``: every ``{`` becomes ``{{ "{" }}``.

    Jinja tags all open with ``{`` (``{{``, ``{%``, ``{#``), so user text (a label, a literal in a
    ``where``, a file name) can never start one; the result contains no single quote, so it
    is safe inside a SQL string literal too.
    """
    return text.replace("{", '{{ "{" }}')


def _jinja_safe(tree: exp.Expression) -> exp.Expression:
    """String literals and comments of ``tree`` escaped for dbt's Jinja (see ``jinja_text``)."""
    for node in tree.walk():
        if isinstance(node, exp.Literal) and node.is_string and "{" in node.this:
            node.set("this", jinja_text(node.this))
        if node.comments:
            node.comments = [jinja_text(c) for c in node.comments]
    return tree


def _relation(table: str, source: str | None) -> exp.Expression:
    """A spec table as dbt's ``ref``/``source`` call: a node printed verbatim by sqlglot."""
    text = _macros().relation(table.split(".")[-1], source)
    return exp.Table(this=exp.Var(this=str(text)))


def _with_relations(tree: exp.Expression, relations: dict[str, exp.Expression]) -> exp.Expression:
    """Replace every reference to a spec table (never a CTE of the same name) in ``tree``."""
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        full = ".".join(p.name for p in table.parts)
        if full in relations and full not in ctes:
            node = relations[full].copy()
            if table.alias:
                node.set("alias", table.args["alias"])
            table.replace(node)
    return tree


def _as_of_var(spec: Spec, target: Target) -> exp.Expression:
    """The as-of date as dbt's ``var('as_of')`` (``dbt build --vars '{as_of: 2025-11-30}'``),
    defaulting to the spec's date, or to the warehouse's current date (``today``, or no as-of,
    as compile does); for ``latest`` dbt requires the var."""

    def as_date(text: str) -> exp.Expression:
        return exp.Cast(this=exp.Var(this=text), to=exp.DataType.build("date"))

    if isinstance(spec.as_of, date):
        return as_date(f'\'{{{{ var("as_of", "{spec.as_of.isoformat()}") }}}}\'')
    given = as_date("'{{ var(\"as_of\") }}'")
    if spec.as_of == "latest":  # only the data knows it: the run must say
        return given
    today = target_sql(exp.Cast(this=exp.CurrentDate(), to=exp.DataType.build("date")), target)
    chosen = target_sql(given, target)
    return exp.Var(this=f'{{% if var("as_of", none) %}}{chosen}{{% else %}}{today}{{% endif %}}')


def _jinja_string(text: str) -> str:
    """``text`` as a Jinja string literal (a JSON string: Jinja reads its escapes). Characters
    outside the BMP stay themselves: JSON's escape of them is a surrogate pair, which Jinja
    decodes to two lone surrogates, and the rendered SQL is then not UTF-8 (issue 23, item 12)."""
    return json.dumps(text, ensure_ascii=False)


@cache
def _escapes(target: Target) -> str:
    """The Jinja filters that make run-time text the inside of ``target``'s string literal,
    as the target writes it (``_quoted_inside``): a backslash first where the
    target reads backslash escapes (Snowflake, BigQuery, MySQL, Spark, ClickHouse ...:
    doubling quotes alone left ``\\'`` to end the string), then the quote."""
    out = ""
    for char in ("\\", "'"):
        written = _quoted_inside(char, target)
        if written != char:
            out += f" | replace({_jinja_string(char)}, {_jinja_string(written)})"
    return out


def _param_var(spec: Spec, name: str, target: Target) -> exp.Expression:
    """A parameter as dbt's ``var()``, defaulting to the value the spec was compiled with;
    a text value is escaped for the target's string literals at run time; a number or a
    date is written as it is, once ``_guards`` has checked it is one."""
    param = spec.parameters[name]
    default = param.default
    if param.type in ("integer", "number"):
        return exp.Var(this=f"({{{{ var('{name}', {default!r}) }}}})")
    text = _jinja_string(default.isoformat() if isinstance(default, date) else str(default))
    quoted = f"'{{{{ var('{name}', {text}) | string{_escapes(target)} }}}}'"
    if param.type == "date":
        return exp.Cast(this=exp.Var(this=quoted), to=exp.DataType.build("date"))
    return exp.Var(this=quoted)


def _as_of_guard(spec: Spec) -> str:
    """The guard of ``var('as_of')`` as ``_as_of_var`` reads it (issue 23: it was written into
    ``CAST('...' AS DATE)`` unchecked, so ``2025-01-01' OR PWNED = 1 --`` became SQL)."""
    if isinstance(spec.as_of, date):
        return _date_guard(f'var("as_of", "{spec.as_of.isoformat()}")', "var as_of")
    if spec.as_of == "latest":
        return _date_guard('var("as_of")', "var as_of")
    return (
        '{% if var("as_of", none) is not none %}'
        + _date_guard('var("as_of")', "var as_of").rstrip("\n")
        + "{% endif %}\n"
    )


ISO_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"


def _date_guard(value: str, what: str) -> str:
    """dbt Jinja that stops the run unless ``value`` (a var() call) is a date YYYY-MM-DD."""
    message = _jinja_string(f"semseg: {what} must be a date, YYYY-MM-DD")
    return (
        f'{{% if not modules.re.fullmatch("{ISO_DATE}", {value} | string) %}}'
        f"{{{{ exceptions.raise_compiler_error({message}) }}}}{{% endif %}}\n"
    )


def _guards(spec: Spec, names: set[str]) -> str:
    """dbt Jinja that stops the run (a compiler error) when a numeric var is not a number of
    the parameter's type within its min/max: the checks ``--var`` makes, so that a var's
    value is written into the SQL only once it is known to be a number."""
    # A window end's least value: the far end of a window at least 1 (``last 0 days`` is
    # empty, as ``--var`` says), the near end at least 0.
    least: dict[str, int] = {}
    for path, name in spec.parameter_sites().items():
        if "window" in path:
            least[name] = max(least.get(name, 0), 1 if path[-1] == "after" else 0)
    out = []
    for name in sorted(names):
        param = spec.parameters[name]
        if param.type == "date":
            default = param.default
            given = f", {_jinja_string(default.isoformat())}" if isinstance(default, date) else ""
            out.append(_date_guard(f"var('{name}'{given})", f"var {name}"))
        if param.type not in ("integer", "number"):
            continue
        value = f"var('{name}', {param.default!r})"
        test = "integer" if param.type == "integer" else "number"
        # NaN is not equal to itself; an infinity is not below the largest double
        conditions = [
            f"{value} is {test}",
            f"{value} is not boolean",
            f"{value} == {value}",
            f"({value} | abs) < 1.7976931348623157e308",
        ]
        wanted = "an integer" if param.type == "integer" else "a finite number"
        low = param.min if isinstance(param.min, (int, float)) else None
        if name in least and (low is None or low < least[name]):
            low = least[name]
        if low is not None:
            conditions.append(f"{value} >= {low!r}")
        if param.max is not None:
            conditions.append(f"{value} <= {param.max!r}")
        if low is not None and param.max is not None:
            wanted += f" from {low!r} to {param.max!r}"
        elif low is not None:
            wanted += f" >= {low!r}"
        elif param.max is not None:
            wanted += f" <= {param.max!r}"
        message = _jinja_string(f"semseg: var {name} must be {wanted}")
        out.append(
            f"{{% if not ({' and '.join(conditions)}) %}}"
            f"{{{{ exceptions.raise_compiler_error({message}) }}}}{{% endif %}}\n"
        )
    return "".join(out)


def _with_params(tree: exp.Expression, spec: Spec, target: Target) -> tuple[exp.Expression, str]:
    """Parameter markers (``semseg.spec.params``) of ``tree`` replaced by dbt ``var()`` calls,
    and the guards those vars need (``_guards``)."""
    used = set()
    for col in list(tree.find_all(exp.Column)):
        if not col.table and col.name.startswith(MARKER):
            used.add(col.name[len(MARKER) :])
            col.replace(_param_var(spec, col.name[len(MARKER) :], target))
    return tree, _guards(spec, used)


def dbt_model(
    spec_file: SpecFile,
    dialect: str = "duckdb",
    materialized: str = "table",
    source: str | None = None,
) -> DbtOutput:
    """dbt files for one spec: model SQL, properties YAML, a singular test per segmentation."""
    if source is not None and not SOURCE_PATTERN.fullmatch(source):
        raise UsageError(
            f"--dbt-source {source!r}: not a dbt source name — use letters, digits and "
            "underscores, starting with a letter"
        )
    if materialized not in ("view", "table"):
        raise UsageError(f"unknown dbt materialization '{materialized}'; use view or table")
    spec = spec_file.spec
    target = get_target(dialect)
    tables = sorted({table for _, table in spec.tables()})
    refused = refusals(spec_file, target)
    if refused:  # the same refusals as compile: dbt output is no way around them
        raise CompileError("\n".join(refused))
    relations = {t: _relation(t, source) for t in tables}
    tree = model_tree(spec, target, spec_path=spec_file.path, as_of=_as_of_var(spec, target))
    tree, guards = _with_params(_with_relations(tree, relations), spec, target)
    body = target_sql(tree, target, finish=_jinja_safe)
    if 'var("as_of"' in body:  # the as-of date is written into the SQL: a date, or stop
        guards = _as_of_guard(spec) + guards
    model = _macros().model(jinja_text(header(spec_file, target)), materialized, guards + body)
    files = {
        f"models/{spec.name}.sql": str(model),
        f"models/{spec.name}.yml": _properties(spec_file, target),
    }
    model_ref: dict[str, exp.Expression] = {
        RESULT: exp.Table(this=exp.Var(this=f"{{{{ ref('{spec.name}') }}}}"))
    }
    for name, s in spec.segmentations.items():
        if s.kind == "cluster":  # cluster ids and order in range, cluster.where holds
            proofs = cluster_checks(spec_file, name)
        else:
            proofs = [tier_check(spec, name) if s.kind == "quantiles" else rule_check(spec, name)]
        sql = " UNION ALL ".join(
            f"SELECT * FROM ({p.sql}) AS proof{i}" if len(proofs) > 1 else p.sql
            for i, p in enumerate(proofs)
        )
        text = _test_sql(sql, model_ref, spec, target)
        files[f"tests/{spec.name}__{name}.sql"] = str(
            _macros().singular_test(spec.name, name, text)
        )
    for name, metric in spec.metrics.items():  # a propensity is a probability
        if metric.predict is not None:
            check = range_check(spec, name)
            text = _test_sql(check.sql, model_ref, spec, target)
            files[f"tests/{spec.name}__{name}__in_0_1.sql"] = str(
                _macros().value_test(spec.name, check.description, text)
            )
    for stem, check in key_checks(spec):  # attribute sources and dimensions: unique keys
        if source is not None and check.name.startswith("unique:"):
            continue  # a `unique` test on the source's column (sources_yaml)
        text = _test_sql(check.sql, relations, spec, target)
        files[f"tests/{spec.name}__{stem}.sql"] = str(
            _macros().key_test(spec.name, check.description, text)
        )
    return DbtOutput(files)


SOURCES_HEADER = "# Generated by semseg: the tables its models read"


def dbt_history_model(
    spec_file: SpecFile, dialect: str = "duckdb", source: str | None = None
) -> DbtOutput:
    """An incremental dbt model of the spec's history (``semseg history --dbt``): each run
    adds the rows as of ``var('as_of')`` (or the warehouse's current date), keyed by (key,
    as_of), so re-running a date replaces its rows with the same ones; with its tests: one
    row per key and date, and each rules segmentation's rule on every row."""
    if source is not None and not SOURCE_PATTERN.fullmatch(source):
        raise UsageError(
            f"--dbt-source {source!r}: not a dbt source name — use letters, digits and "
            "underscores, starting with a letter"
        )
    spec = spec_file.spec
    if HISTORY_AS_OF in spec.output_columns():
        raise UsageError(
            f"model '{spec.name}': a history adds the column '{HISTORY_AS_OF}', which the model "
            "already has; rename that metric or segmentation"
        )
    target = get_target(dialect)
    refused = refusals(spec_file, target)
    if refused:
        raise CompileError("\n".join(refused))
    relations = {t: _relation(t, source) for t in sorted({table for _, table in spec.tables()})}
    as_of = _as_of_var(spec, target)
    tree = model_tree(spec, target, spec_path=spec_file.path, as_of=as_of)
    selects = tree.expressions
    tree.set("expressions", [selects[0], exp.alias_(as_of.copy(), HISTORY_AS_OF), *selects[1:]])
    tree, guards = _with_params(_with_relations(tree, relations), spec, target)
    body = target_sql(tree, target, finish=_jinja_safe)
    if 'var("as_of"' in body:
        guards = _as_of_guard(spec) + guards
    name = f"{spec.name}_history"
    model = _macros().incremental(
        jinja_text(header(spec_file, target)), spec.entity.key, guards + body
    )
    files = {f"models/{name}.sql": str(model)}
    model_ref: dict[str, exp.Expression] = {
        RESULT: exp.Table(this=exp.Var(this=f"{{{{ ref('{name}') }}}}"))
    }
    key = name_sql(spec.entity.key)
    unique = (
        f"SELECT {key}, {name_sql(HISTORY_AS_OF)}, COUNT(*) AS semseg__rows FROM {RESULT} "
        f"GROUP BY {key}, {name_sql(HISTORY_AS_OF)} HAVING COUNT(*) > 1"
    )
    files[f"tests/{name}__one_row_per_key_and_date.sql"] = str(
        _macros().key_test(
            name, "one row per key and as-of date", _test_sql(unique, model_ref, spec, target)
        )
    )
    for seg, s in spec.segmentations.items():
        if s.kind in ("rules", "bands"):  # a tier ranks within its date: not this check
            text = _test_sql(rule_check(spec, seg).sql, model_ref, spec, target)
            files[f"tests/{name}__{seg}.sql"] = str(_macros().singular_test(name, seg, text))
    return DbtOutput(files)


def sources_path(source: str) -> str:
    """Where ``--dbt-source NAME`` declares the source's tables, relative to the project."""
    return f"models/semseg_sources__{source}.yml"


def sources_yaml(specs: list[SpecFile], source: str, existing: str | None = None) -> str:
    """dbt's declaration of source ``source``: every table the ``specs`` read, and a
    ``unique`` test on the key of each joined dimension (the proof verify runs as
    ``unique:<source>.<join>``). ``existing``: the file as semseg wrote it before, whose
    tables are kept, so that compiling one spec does not drop another spec's tables."""
    tables: dict[str, dict[str, Any]] = {}
    if existing is not None:
        try:
            old = yaml.safe_load(existing) or {}
            for src in old.get("sources", []):
                if src.get("name") == source:
                    tables.update({t["name"]: t for t in src.get("tables", [])})
        except (yaml.YAMLError, AttributeError, KeyError, TypeError):
            raise UsageError(
                f"{sources_path(source)}: not a file semseg can update (it was edited or is "
                "not YAML) — remove it, or pass --force to write it anew"
            ) from None
    for spec_file in specs:
        spec = spec_file.spec
        for _, table in spec.tables():
            tables.setdefault(table.split(".")[-1], {"name": table.split(".")[-1]})
        for src in spec.sources.values():
            for join in src.joins.values():
                entry = tables[join.table.split(".")[-1]]
                columns = {c["name"]: c for c in entry.get("columns", [])}
                column = columns.setdefault(join.key, {"name": join.key})
                tests = column.setdefault("data_tests", [])
                if "unique" not in tests:
                    tests.append("unique")
                entry["columns"] = [columns[c] for c in sorted(columns)]
    doc = {
        "version": 2,
        "sources": [{"name": source, "tables": [tables[t] for t in sorted(tables)]}],
    }
    return (
        f"{SOURCES_HEADER} (with --dbt-source {source}); recompile instead of editing.\n"
        + yaml.safe_dump(_jinja_data(doc), sort_keys=False, allow_unicode=True, width=100)
    )


def _test_sql(sql: str, relations: dict[str, exp.Expression], spec: Spec, target: Target) -> str:
    """A verify check (canonical SQL) as a dbt singular test's body for the target."""
    parsed = cast(exp.Expression, sqlglot.parse_one(sql, read=CANONICAL))
    tree, guards = _with_params(_with_relations(parsed, relations), spec, target)
    # strict=False: a proof's window orders only non-NULL values, so the NULL ordering
    # sqlglot cannot carry over to every target (T-SQL) does not matter there.
    return guards + target_sql(tree, target, strict=False, finish=_jinja_safe)


def _quoted_inside(label: str, target: Target) -> str:
    """A label as dbt's accepted_values test needs it: dbt writes ``'<value>'`` without
    escaping, so the value is the inside of the target's own string literal (``it''s``, or
    ``it\\'s`` on BigQuery)."""
    return target_sql(literal(label), target)[1:-1]


def _properties(spec_file: SpecFile, target: Target) -> str:
    spec = spec_file.spec
    columns: list[dict] = [
        {
            "name": spec.entity.key,
            "description": spec.entity.description or f"One row per {spec.entity.name}.",
            "data_tests": ["unique", "not_null"],
        }
    ]
    for name, m in spec.metrics.items():
        col: dict[str, Any] = {"name": name}
        if m.description:
            col["description"] = m.description
        columns.append(col)
    for name, s in spec.segmentations.items():
        labels = segment_labels(spec, name) if s.kind != "cluster" else None
        col = {"name": name, "description": s.description or f"{name} label."}
        order: dict[str, Any] = {
            "name": spec.order_column(name),
            "description": f"Sort order of {name} (1 = first segment).",
        }
        if labels is not None:
            values = [_quoted_inside(label, target) for label in labels]
            col["data_tests"] = ["not_null", {"accepted_values": {"arguments": {"values": values}}}]
            order["data_tests"] = [
                "not_null",
                {
                    "accepted_values": {
                        "arguments": {"values": list(range(1, len(labels) + 1)), "quote": False}
                    }
                },
            ]
        columns += [col, order]
        if s.cluster is not None and s.cluster.names:
            ids = sorted(m.id for m in fitted_model(spec, name, spec_file.path).clusters)
            named = [_quoted_inside(s.cluster.name_of(i), target) for i in [*ids, -1]]
            col["data_tests"] = [
                "not_null",
                {"accepted_values": {"arguments": {"values": [*ids, -1], "quote": False}}},
            ]
            tests = ["not_null", {"accepted_values": {"arguments": {"values": named}}}]
            columns.append(
                {
                    "name": name_output(name),
                    "description": f"The name of each row's {name} cluster (cluster.names).",
                    "data_tests": tests,
                }
            )
    doc = {
        "version": 2,
        "models": [
            {
                "name": spec.name,
                "description": (spec.description or spec.name) + " (generated by semseg)",
                "columns": columns,
            }
        ],
    }
    return (
        "# Generated by semseg from "
        + jinja_text(printable(spec_file.path.name))
        + "; recompile instead of editing.\n"
        + yaml.safe_dump(_jinja_data(doc), sort_keys=False, allow_unicode=True, width=100)
    )


def _jinja_data(value: Any) -> Any:
    """Every string in a YAML document escaped for dbt's Jinja, which renders YAML values."""
    if isinstance(value, str):
        return jinja_text(value)
    if isinstance(value, dict):
        return {k: _jinja_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jinja_data(v) for v in value]
    return value

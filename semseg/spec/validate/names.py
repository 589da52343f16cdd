"""Names that reach SQL are safe there: no reserved word, no built-in value, no clash with a
name the model generates (see ``semseg.spec.names``)."""

from __future__ import annotations

from semseg.errors import Issue
from semseg.spec.load import Marks, PathKey
from semseg.spec.model import Spec
from semseg.spec.names import HELPER_SEPARATOR, ModelNames, unsafe_name


def _sql_names(spec: Spec) -> list[tuple[PathKey, str, bool]]:
    """(YAML path, name, is a mapping key) of every user name written into SQL as a column."""
    out: list[tuple[PathKey, str, bool]] = [(("entity", "key"), spec.entity.key, False)]
    for at, pop in spec.populations:
        if pop.key:
            out.append(((*at, "key"), pop.key, False))
    for name, src in spec.sources.items():
        if src.key:
            out.append((("sources", name, "key"), src.key, False))
        if src.time:
            out.append((("sources", name, "time"), src.time, False))
        for j, join in src.joins.items():
            at = ("sources", name, "joins", j)
            out += [(at, j, True), ((*at, "key"), join.key, False)]
            if join.on:
                out.append(((*at, "on"), join.on, False))
            out += [((*at, "missing", c), c, True) for c in join.missing]
    out += [(("metrics", name), name, True) for name in spec.metrics]
    for name, s in spec.segmentations.items():
        out.append((("segmentations", name), name, True))
        if s.order_column:
            out.append((("segmentations", name, "order_column"), s.order_column, False))
    return out


def _tables(spec: Spec) -> list[tuple[PathKey, str]]:
    return spec.tables()


def name_issues(spec: Spec, marks: Marks) -> list[Issue]:
    """Reserved words, built-in values, ``__`` in column names, clashes with generated CTEs."""
    issues = []
    output_columns = {p for p, _, _ in _sql_names(spec) if p[0] in ("metrics", "segmentations")}
    for path, name, is_key in _sql_names(spec):
        problem = unsafe_name(name)
        if problem:
            issues.append(marks.issue(path, problem[0], problem[1], key=is_key))
        elif HELPER_SEPARATOR in name and (
            path in output_columns or path[-1] == "order_column" or path[-2:-1] == ("joins",)
        ):
            issues.append(
                marks.issue(
                    path,
                    f"'{name}' contains '{HELPER_SEPARATOR}', which semseg keeps for the helper "
                    "columns it generates",
                    f"use a single underscore, e.g. '{name.replace(HELPER_SEPARATOR, '_')}'",
                    key=is_key,
                )
            )
    for path, table in _tables(spec):
        for part in table.split("."):
            problem = unsafe_name(part)
            if problem:
                issues.append(marks.issue(path, f"table {problem[0]}", problem[1]))
                break
    problem = unsafe_name(spec.name)  # the view or table --materialize creates, dbt's model
    if problem:
        issues.append(
            marks.issue(
                ("name",),
                f"the model's name {problem[0]}: it names the view or table that "
                "--materialize creates and the dbt model",
                problem[1],
            )
        )
    issues += _cte_issues(spec, marks)
    return issues


def _cte_issues(spec: Spec, marks: Marks) -> list[Issue]:
    """Source CTEs that take a generated name, and unqualified tables read as a CTE."""
    names = ModelNames(spec.entity.name)
    ctes = names.fixed(spec)
    issues = []
    for source in spec.sources:
        count = sum(1 for m in spec.metrics.values() if m.source == source)
        for cte in names.source_ctes(source, count):
            owner = ctes.get(cte)
            if owner is not None:
                issues.append(
                    marks.issue(
                        ("sources", source),
                        f"source '{source}' would name a CTE '{cte}', which the model already "
                        f"uses for {owner}",
                        "rename the source",
                        key=True,
                    )
                )
                break
            problem = unsafe_name(cte)
            if problem:
                issues.append(
                    marks.issue(
                        ("sources", source),
                        f"source '{source}' would name a CTE '{cte}': {problem[0]}",
                        "rename the source",
                        key=True,
                    )
                )
                break
            ctes[cte] = f"source '{source}'"
    for path, table in _tables(spec):
        if "." not in table and table.lower() in ctes:
            issues.append(
                marks.issue(
                    path,
                    f"table '{table}' has the name of a CTE of this model ({ctes[table.lower()]}); "
                    "the query would read the CTE instead of the table",
                    f"qualify it with its schema (e.g. analytics.{table}) or rename the "
                    f"entity '{spec.entity.name}' or the source",
                )
            )
    return issues

"""What ``semseg verify`` checks for a cluster segmentation (called from ``semseg.verify``).

Set-based checks over the model result (``cluster_checks``): every row has a cluster id in
-1..k-1 and the matching order, and rows failing ``cluster.where`` are -1. Then the rule
(``rule_check``): every label is the fitted model's rule applied in numpy to the row's
features, exactly. Then the agreement (``agreement_check``): the model's labels equal a
deterministic local refit on the same data, its clusters matched to the model's ids by shared
members, for at least ``AGREEMENT_MIN`` of the cluster population. Both import numpy (and
the refit the clustering libraries) inside the function, so only specs with a cluster
segmentation pay for them.
"""

from __future__ import annotations

from typing import Any

from semseg.cluster.features import population_query, pull
from semseg.cluster.fit import (
    AGREEMENT_MIN,
    fit_local,
    mismatches,
    model_labels,
    relabel,
    require_cluster_extra,
)
from semseg.cluster.lineage import match
from semseg.compile.cluster_sql import fitted_model
from semseg.data import Session
from semseg.spec import SpecFile
from semseg.spec.model import distance_output, name_output
from semseg.sql import name_sql as q
from semseg.sql import snippet_sql, sql_literal
from semseg.verify.proof import RESULT, CheckSQL
from semseg.verify.report import CheckResult

EXAMPLES = 5


def cluster_checks(spec_file: SpecFile, name: str) -> list[CheckSQL]:
    """Set-based checks over the model result (table ``semseg_result``) for one cluster seg."""
    spec = spec_file.spec
    c = spec.segmentations[name].cluster
    assert c is not None
    ids = sorted(m.id for m in fitted_model(spec, name, spec_file.path).clusters)
    known = ", ".join(map(str, [-1, *ids]))
    last = (ids[-1] if ids else -1) + 2  # noise sorts after the largest id
    key, label, order = q(spec.entity.key), q(name), q(spec.order_column(name))
    checks = [
        CheckSQL(
            f"labels:{name}",
            f"every row has one of the model's cluster ids ({known}) and its "
            f"{spec.order_column(name)}",
            f"SELECT CAST({key} AS VARCHAR) AS offender, 'cluster ' || "
            f"COALESCE(CAST({label} AS VARCHAR), 'NULL') || ' with order ' || "
            f"COALESCE(CAST({order} AS VARCHAR), 'NULL') AS problem FROM {RESULT} "
            f"WHERE {label} IS NULL OR {label} NOT IN ({known}) "
            f"OR {order} IS NULL "
            f"OR {order} <> CASE WHEN {label} = -1 THEN {last} ELSE {label} + 1 END",
        )
    ]
    if c.names:  # the spec's names, and the documented defaults, written here again
        named = {i: c.names.get(i, f"Cluster {i}") for i in ids}
        named[-1] = c.names.get(-1, "Unassigned")
        expected = " ".join(
            f"WHEN {label} = {i} THEN {sql_literal(n)}" for i, n in sorted(named.items())
        )
        column = q(name_output(name))
        checks.append(
            CheckSQL(
                f"names:{name}",
                f"every row's {name_output(name)} is the name cluster.names gives its cluster",
                f"SELECT CAST({key} AS VARCHAR) AS offender, 'cluster ' || "
                f"COALESCE(CAST({label} AS VARCHAR), 'NULL') || ' named ' || "
                f"COALESCE({column}, 'NULL') AS problem FROM {RESULT} WHERE {column} IS NULL "
                f"OR CASE {expected} END IS NULL OR {column} <> CASE {expected} END",
            )
        )
    if c.assigns_noise:  # every clusterable row has a cluster and a distance
        clusterable = " AND ".join(f"{q(f)} IS NOT NULL" for f in c.features)
        if c.where:
            where = snippet_sql(c.where, spec.dialect)
            clusterable += f" AND CASE WHEN ({where}) THEN 1 ELSE 0 END = 1"
        distance = q(distance_output(name))
        checks.append(
            CheckSQL(
                f"nearest:{name}",
                f"every row with all features{' passing cluster.where' if c.where else ''} has "
                f"a cluster (assign_noise: nearest) and a {distance_output(name)} >= 0; the "
                "others -1 and none",
                f"SELECT CAST({key} AS VARCHAR) AS offender, 'cluster ' || "
                f"CAST({label} AS VARCHAR) || ', distance ' || COALESCE(CAST({distance} AS "
                f"VARCHAR), 'NULL') AS problem FROM {RESULT} WHERE ({clusterable} AND "
                f"({label} = -1 OR {distance} IS NULL OR {distance} < 0)) OR (NOT "
                f"({clusterable}) AND ({label} <> -1 OR {distance} IS NOT NULL))",
            )
        )
    if c.where:
        where = snippet_sql(c.where, spec.dialect)
        checks.append(
            CheckSQL(
                f"where:{name}",
                f"rows failing cluster.where ({c.where}) are -1",
                f"SELECT CAST({key} AS VARCHAR) AS offender, 'cluster ' || "
                f"CAST({label} AS VARCHAR) || ' but cluster.where does not hold' AS problem "
                f"FROM {RESULT} WHERE {label} <> -1 AND CASE WHEN ({where}) THEN 0 ELSE 1 END = 1",
            )
        )
    return checks


def rule_check(session: Session, name: str) -> CheckResult:
    """The model's labels (table ``semseg_result``) against the fitted model's rule applied in
    numpy to each row's features (``cluster.fit.model_labels``): the box holding the row
    (``cluster.boxes.box_rule``), or the nearest prototype whose
    radius holds it (any prototype with ``assign_noise: nearest``); -1 for none and for a
    missing feature; every row of the cluster population, exactly. The compiled SQL compares
    or computes the same doubles, so a compiler that gives a single row another cluster
    fails here, where the agreement with a refit allows 5%."""
    require_cluster_extra()
    import numpy as np

    spec_file = session.spec_file
    c = spec_file.spec.segmentations[name].cluster
    assert c is not None
    model = fitted_model(spec_file.spec, name, spec_file.path)
    rule = model_labels(model, pull(session, name, RESULT), c.assigns_noise)
    key = spec_file.spec.entity.key
    select = f"{q(key)} AS k, {q(name)} AS l"
    found = session.con.execute(population_query(session, name, RESULT, select)).fetchnumpy()
    labels: Any = np.ma.filled(np.ma.asarray(found["l"], dtype=float), np.nan)
    differ = np.flatnonzero(labels != rule)
    keys = np.ma.getdata(found["k"])
    if model.rule == "boxes":
        rule_text = "the cluster of the box holding it"
    else:
        nearest = "whose radius holds it" if not c.assigns_noise else "(assign_noise: nearest)"
        rule_text = f"the cluster of the nearest prototype {nearest}"
    return CheckResult(
        f"rule:{name}",
        f"every row's {name} is the fitted model's rule computed from its features outside "
        f"SQL: {rule_text}, -1 for none ({len(rule):,} "
        f"rows passing cluster.where, {len(differ):,} differ)",
        len(differ) == 0,
        len(differ),
        tuple(
            f"{keys[i]}: model {'NULL' if np.isnan(labels[i]) else int(labels[i])}, "
            f"rule {int(rule[i])}"
            for i in differ[:EXAMPLES]
        ),
    )


def agreement_check(session: Session, name: str) -> CheckResult:
    """The model's labels (table ``semseg_result`` of ``session``) against a local refit.

    The refit numbers its clusters in fit order; the model's ids come from its lineage. So
    the two are matched by shared members, as a refit matches the model it replaces
    (``cluster.lineage.match``): a refit cluster takes the model id it shares most members
    with when that cluster shares most with it, and any other refit cluster an id no model
    has, so its rows count as disagreeing. The matching is reported. A permutation of ids
    by the compiler is the rule check's to catch (``rule_check``), exactly.
    """
    import numpy as np

    fitted = fit_local(session, name)
    spec_file = session.spec_file
    model = fitted_model(spec_file.spec, name, spec_file.path)
    key = spec_file.spec.entity.key
    query = f"SELECT {q(key)}, {q(name)} FROM {RESULT}"
    found = dict(session.con.execute(query).fetchall())
    theirs = np.array(
        [-1 if found.get(k) is None else int(found[k]) for k in fitted.features.keys.tolist()],
        dtype=int,
    )
    k = int(fitted.labels.max(initial=-1)) + 1
    lineage = match(fitted.labels, theirs, k, model)
    fitted.labels = relabel(fitted.labels, lineage.ids)
    bad = mismatches(fitted, found)
    n = len(fitted.features.keys)
    share = (n - len(bad)) / n if n else 1.0  # label_agreement, from the one comparison
    ok = share >= AGREEMENT_MIN
    pairs = ", ".join(f"{j}→{i}" for j, i in enumerate(lineage.ids))
    matching = f"; refit clusters matched to model ids by shared members: {pairs}"
    unmatched = [i for i in lineage.ids if i not in {c.id for c in model.clusters}]
    if unmatched:
        matching += f" (→{', →'.join(map(str, unmatched))}: no model cluster, new ids)"
    stored = model.fit.get("data_digest")
    other = (
        ""
        if stored == fitted.model.fit["data_digest"]
        else "; the model was fitted on other data than this (its data digest differs), so the "
        "refit answers for this data: run `semseg cluster SPEC --data ... --force` to fit it here"
    )
    return CheckResult(
        f"agreement:{name}",
        f"the model's {name} equals the local fit on >= {AGREEMENT_MIN:.0%} of the {n:,} rows "
        f"passing cluster.where (actual {share:.2%}, {len(bad):,} differ){matching}{other}",
        ok,
        0 if ok else len(bad),
        () if ok else tuple(f"{k}: model {m}, local fit {f}" for k, m, f in bad[:EXAMPLES]),
    )

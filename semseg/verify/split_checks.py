"""Holdout splits proven outside SQL (docs/spec.md, "Holdout splits").

``arms:<segmentation>``: every row's arm is the one its key hashes to, computed here with
``hashlib`` and this module's own bounds (nothing of ``spec.keyhash`` or the compiler), NULL
outside the split's segments.

``balance:<segmentation>``: the arms are what a random split gives. A sample ratio mismatch
(the arms' sizes against their shares, a chi-square test) and, for each numeric metric, a
difference between an arm and the control beyond chance (a two-sample z-test of the means
on the standardised difference) fail it when p < ``ALPHA``: a correct split fails it once in
a thousand tests.
"""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal
from typing import Any

from semseg.spec import SpecFile
from semseg.spec.model import arm_output
from semseg.sql import name_sql as q
from semseg.verify.proof import RESULT
from semseg.verify.report import CheckResult

ALPHA = 0.001  # a split is out of balance when a test rejects at this level
MIN_ARM = 30  # the metrics' z-test needs this many members in each arm it compares


def _hash(salt: str, key: object) -> int | None:
    if isinstance(key, bool) or not isinstance(key, int | str):
        return None
    digest = hashlib.md5(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _arm(h: int, arms: list[tuple[str, float]]) -> str:
    """The first arm whose cumulative share, times 2^32 and rounded, is above ``h``."""
    total = 0.0
    for name, share in arms[:-1]:
        total += share
        if h < min(round(total * 4294967296), 4294967296):
            return name
    return arms[-1][0]


def chi_square_p(statistic: float, df: int) -> float:
    """P(X >= statistic) for a chi-square X with ``df`` (a positive integer) degrees of
    freedom, in closed form: the regularised upper incomplete gamma of a half-integer."""
    half = statistic / 2
    if df % 2 == 0:
        return math.exp(-half) * math.fsum(half**j / math.factorial(j) for j in range(df // 2))
    head = math.erfc(math.sqrt(half))
    return head + math.exp(-half) * math.fsum(
        half ** (j - 0.5) / math.gamma(j + 0.5) for j in range(1, (df - 1) // 2 + 1)
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def split_checks(con, spec_file: SpecFile, examples: int = 5) -> list[CheckResult]:
    spec = spec_file.spec
    out = []
    key = spec.entity.key
    for name, s in spec.segmentations.items():
        split = s.split
        if split is None:
            continue
        arm_col = arm_output(name)
        cur = con.execute(f"SELECT * FROM {RESULT} ORDER BY {q(key)}")
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        arms = list(split.arms.items())
        offenders = []
        for row in rows:
            inside = split.segments is None or row[name] in split.segments
            h = _hash(split.salt, row[key])
            want = None if not inside else (_arm(h, arms) if h is not None else "?")
            if row[arm_col] != want:
                offenders.append(f"{row[key]}: {arm_col} {row[arm_col]!r}, its hash gives {want!r}")
        where = "" if split.segments is None else f" in {', '.join(split.segments)}"
        out.append(
            CheckResult(
                f"arms:{name}",
                f"every row{where} has the arm its key hashes to with salt {split.salt!r} "
                f"(computed outside SQL), every other row none ({len(rows):,} rows)",
                not offenders,
                len(offenders),
                tuple(offenders[:examples]),
            )
        )
        out.append(_balance(spec, name, rows, examples))
    return out


def _balance(spec, name: str, rows: list[dict], examples: int) -> CheckResult:
    split = spec.segmentations[name].split
    arm_col = arm_output(name)
    members = [r for r in rows if r[arm_col] is not None]
    n = len(members)
    problems: list[str] = []
    sizes = {arm: sum(1 for r in members if r[arm_col] == arm) for arm in split.arms}
    if n:
        statistic = math.fsum(
            (sizes[a] - n * share) ** 2 / (n * share) for a, share in split.arms.items()
        )
        p = chi_square_p(statistic, len(split.arms) - 1)
        shown = ", ".join(
            f"{a} {sizes[a]:,} ({sizes[a] / n:.2%} for {share:.2%})"
            for a, share in split.arms.items()
        )
        if p < ALPHA:
            problems.append(
                f"sample ratio mismatch: {shown}; chi-square {statistic:.2f}, p {p:.2g}"
            )
    control = split.control_arm
    numeric = [
        m
        for m in spec.metrics
        if any(_number(r[m]) is not None for r in members)
        and all(r[m] is None or _number(r[m]) is not None for r in members)
    ]
    compared = 0
    for metric in numeric:
        groups = {
            arm: [v for r in members if r[arm_col] == arm and (v := _number(r[metric])) is not None]
            for arm in split.arms
        }
        base = groups[control]
        for arm, values in groups.items():
            if arm == control or len(values) < MIN_ARM or len(base) < MIN_ARM:
                continue
            compared += 1
            mean_a, mean_c = math.fsum(values) / len(values), math.fsum(base) / len(base)
            var_a = math.fsum((v - mean_a) ** 2 for v in values) / (len(values) - 1)
            var_c = math.fsum((v - mean_c) ** 2 for v in base) / (len(base) - 1)
            se = math.sqrt(var_a / len(values) + var_c / len(base))
            if se == 0:
                continue
            p = math.erfc(abs(mean_a - mean_c) / se / math.sqrt(2))
            if p < ALPHA:
                pooled = math.sqrt((var_a + var_c) / 2)
                problems.append(
                    f"{metric}: {arm} mean {mean_a:.6g} against {control} {mean_c:.6g}, "
                    f"standardised difference {(mean_a - mean_c) / pooled:+.3f}, p {p:.2g}"
                )
    return CheckResult(
        f"balance:{name}",
        f"the arms of {name}'s split look random: sizes against shares (chi-square) and "
        f"{compared} metric mean(s) against {control} (z-test), none at p < {ALPHA:g} "
        f"({n:,} rows in the split)",
        not problems,
        len(problems),
        tuple(problems[:examples]),
    )

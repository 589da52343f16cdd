"""semseg's meaning of the portable snippet language, written so that every target computes it.

Applied to the parsed canonical tree of the whole model, before any dialect is generated (the
DuckDB text is rewritten too, with the same meaning there). Each rewrite is where sqlglot's
own translation of a construct means something else on some engine:

- ``date ± INTERVAL n unit`` becomes ``DATE_ADD(date, ±n, unit)``: as plain arithmetic it was
  written ``DATE(...) - INTERVAL '90' DAY`` for SQLite and ``... - INTERVAL '90' DAY`` for
  T-SQL, which neither runs.
- ``DATE_DIFF('day', a, b)`` compares the dates of ``a`` and ``b``: DuckDB and PostgreSQL count
  day boundaries, and SQLite's ``JULIANDAY`` difference of two timestamps truncated elapsed days
  (23:59 to 00:01 gave 0, not 1).
- ``GREATEST``/``LEAST`` ignore NULLs (DuckDB, PostgreSQL): each argument is compared as
  ``COALESCE(it, the others...)``, so engines whose GREATEST returns NULL when any argument is
  NULL (BigQuery, MySQL, Spark, ClickHouse) give the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import cast

import sqlglot
from sqlglot import exp

from semseg.compile.dialects import Target
from semseg.sql import coalesce, literal

_DATE = exp.DataType.build("date")


def _interval_add(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, (exp.Add, exp.Sub)):
        return node
    left, right = node.this, node.expression
    if isinstance(right, exp.Interval):
        date, interval, sign = left, right, -1 if isinstance(node, exp.Sub) else 1
    elif isinstance(left, exp.Interval) and isinstance(node, exp.Add):
        date, interval, sign = right, left, 1
    else:
        return node
    unit = interval.text("unit").upper().rstrip("S")
    # WEEK: 7 days everywhere; SQLite has no week modifier (it gave NULL).
    # YEAR: 12 months; Redshift's DATEADD(YEAR, 1, Feb 29) is Mar 1, (MONTH, 12) Feb 28.
    factor, unit = {"WEEK": (7, "DAY"), "YEAR": (12, "MONTH")}.get(unit, (1, unit))
    count = interval.this
    if isinstance(count, exp.Literal):
        amount: exp.Expression = exp.Literal.number(int(count.name) * sign * factor)
    else:  # a parameter dbt sets at run time (its marker column): the same arithmetic in SQL
        amount = count.copy()
        if factor != 1:
            amount = exp.Mul(this=amount, expression=exp.Literal.number(factor))
        if sign < 0:
            amount = exp.Neg(this=exp.Paren(this=amount))
    return exp.DateAdd(this=date, expression=amount, unit=exp.Var(this=unit))


def _as_date(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Cast) and node.to.is_type("date"):
        return node
    return exp.Cast(this=node, to=_DATE.copy())


def _day_diff(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DateDiff) and node.text("unit").upper() == "DAY":
        node.set("this", _as_date(node.this))
        node.set("expression", _as_date(node.expression))
    return node


def _null_ignoring(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, (exp.Greatest, exp.Least)) or node.args.get("_portable"):
        return node
    args = [node.this, *node.expressions]
    if len(args) < 2:
        return node
    terms = [
        coalesce(arg.copy(), *(other.copy() for j, other in enumerate(args) if j != i))
        for i, arg in enumerate(args)
    ]
    out = type(node)(
        this=terms[0], expressions=terms[1:], ignore_nulls=node.args.get("ignore_nulls")
    )
    out.set("_portable", True)
    return out


def portable(tree: exp.Expression) -> exp.Expression:
    """The tree with semseg's meaning of each portable construct written out (in place)."""
    return (
        tree.transform(_interval_add, copy=False)
        .transform(_day_diff, copy=False)
        .transform(_null_ignoring, copy=False)
    )


def _months(node: exp.Expression) -> int | exp.Expression | None:
    """The number of months a DATE_ADD moves by, when its unit is MONTH or YEAR: an int, or an
    expression when a dbt parameter sets it."""
    if not isinstance(node, exp.DateAdd):
        return None
    unit = node.text("unit").upper()
    if unit not in ("MONTH", "YEAR"):
        return None
    factor = 12 if unit == "YEAR" else 1
    amount = node.expression  # a literal, or a negated one (Literal.number(-3) is Neg(3))
    literal = amount.this if isinstance(amount, exp.Neg) else amount
    if isinstance(literal, exp.Literal):
        return (-1 if isinstance(amount, exp.Neg) else 1) * int(literal.name) * factor
    if factor == 1:
        return amount
    return exp.Mul(this=exp.Paren(this=amount.copy()), expression=exp.Literal.number(factor))


def _sqlite_months(node: exp.Expression) -> exp.Expression:
    """SQLite's ``DATE(d, '+1 month')`` rolls Jan 31 over to Mar 3; every other engine ends on
    the last day of the target month. The earlier of the two dates is the clamped one."""
    months = _months(node)
    if months is None:
        return node
    date = node.this

    def modifier(count: int | exp.Expression, offset: int, unit: str) -> exp.Expression:
        if isinstance(count, int):
            return exp.Literal.string(f"{count + offset:+d} {unit}")
        total = exp.Add(this=exp.Paren(this=count.copy()), expression=exp.Literal.number(offset))
        return exp.DPipe(this=exp.Paren(this=total), expression=exp.Literal.string(f" {unit}"))

    def sqlite_date(*modifiers: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this="DATE", expressions=[date.copy(), *modifiers])

    rolled = sqlite_date(modifier(months, 0, "months"))
    month_end = sqlite_date(
        exp.Literal.string("start of month"),
        modifier(months, 1, "months"),
        exp.Literal.string("-1 day"),
    )
    return exp.Anonymous(this="MIN", expressions=[rolled, month_end])


BINARY_COLLATION = "semseg_binary"  # text ordered by code point: each target's name for it


def _binary_collation(name: str | None):
    """``x COLLATE semseg_binary`` as the target's binary collation, or plain ``x`` where text
    is ordered by code point already (DuckDB, Snowflake, BigQuery, Spark, ClickHouse, ...)."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Collate) and node.expression.name == BINARY_COLLATION):
            return node
        if name is None:
            return node.this.copy()
        collation = exp.Identifier(this=name, quoted=name == "C")
        return exp.Collate(this=node.this.copy(), expression=collation)

    return rewrite


ZONED_DATE = "SEMSEG_ZONED_DATE"
_TIMESTAMP = exp.DataType.build("timestamp")


def _placeholder_args(node: exp.Expression, name: str) -> list[exp.Expression] | None:
    """The arguments of ``node`` when it is the placeholder call ``name`` (SEMSEG_ZONED_DATE,
    SEMSEG_EXACT: each target writes it), else None."""
    if isinstance(node, exp.Anonymous) and node.name.upper() == name:
        return list(node.expressions)
    return None


def zoned_date(timestamp: exp.Expression, zone: str) -> exp.Expression:
    """The date in ``zone`` of a UTC TIMESTAMP: a placeholder call that every target that can
    compute it rewrites (``zoned_*``); the others refuse the spec (``Target.time_zones``)."""
    return exp.Anonymous(this=ZONED_DATE, expressions=[timestamp, exp.Literal.string(zone)])


def _zoned_args(
    node: exp.Expression, utc: bool = False
) -> tuple[exp.Expression, exp.Expression] | None:
    """(timestamp, zone) of a ZONED_DATE placeholder; one in UTC only when ``utc`` (it is
    the column's own date, ``zoned_utc``, on every target but Spark)."""
    if (found := _placeholder_args(node, ZONED_DATE)) is not None:
        timestamp, zone = found
        if zone.name == "UTC" and not utc:
            return None
        return timestamp.copy(), zone.copy()
    return None


def _zoned_utc(node: exp.Expression) -> exp.Expression:
    """Every target: the date of a UTC timestamp in UTC is ``CAST(ts AS DATE)``."""
    if (args := _zoned_args(node, utc=True)) is None:
        return node
    return _as_date(args[0])


def _zoned_spark(node: exp.Expression) -> exp.Expression:
    """Spark, Databricks: a TIMESTAMP_NTZ holds the UTC wall-clock time and takes
    CONVERT_TIMEZONE('UTC', zone, ts) (UTC: its own date); a TIMESTAMP (LTZ) holds an
    instant whose date CAST would take in the *session* zone, so its date in the zone is
    computed from epoch seconds (from_utc_timestamp moves the instant by the zone's
    offset). typeof() chooses at run time; both branches type-check for either type."""
    if (args := _zoned_args(node, utc=True)) is None:
        return node
    ts, zone = args

    def call(name: str, *args: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this=name, expressions=list(args))

    seconds = call("unix_seconds", call("from_utc_timestamp", ts.copy(), zone.copy()))
    days = exp.Floor(this=exp.Div(this=seconds, expression=exp.Literal.number(86400)))
    instant = call("date_from_unix_date", exp.Cast(this=days, to=exp.DataType.build("int")))
    if zone.name == "UTC":
        wall_clock = _as_date(ts.copy())
    else:
        wall_clock = _as_date(
            exp.ConvertTimezone(source_tz=exp.Literal.string("UTC"), target_tz=zone, timestamp=ts)
        )
    is_instant = exp.EQ(this=call("typeof", ts.copy()), expression=exp.Literal.string("timestamp"))
    return exp.Case(ifs=[exp.If(this=is_instant, true=instant)], default=wall_clock)


def _zoned_at_time_zone(node: exp.Expression) -> exp.Expression:
    """DuckDB, PostgreSQL: ``ts AT TIME ZONE 'UTC'`` is the instant of a UTC wall-clock time,
    and ``AT TIME ZONE zone`` its wall-clock time there."""
    if (args := _zoned_args(node)) is None:
        return node
    ts, zone = args
    utc = exp.AtTimeZone(
        this=exp.Cast(this=ts, to=_TIMESTAMP.copy()), zone=exp.Literal.string("UTC")
    )
    return _as_date(exp.AtTimeZone(this=utc, zone=zone))


def _zoned_convert_timezone(node: exp.Expression) -> exp.Expression:
    """Snowflake, Redshift: CONVERT_TIMEZONE('UTC', zone, ts) of a timestamp without time
    zone (TIMESTAMP_NTZ)."""
    if (args := _zoned_args(node)) is None:
        return node
    ts, zone = args
    return _as_date(
        exp.ConvertTimezone(source_tz=exp.Literal.string("UTC"), target_tz=zone, timestamp=ts)
    )


def _zoned_bigquery(node: exp.Expression) -> exp.Expression:
    """BigQuery: DATE(TIMESTAMP(ts), zone); TIMESTAMP() of a DATETIME reads it in UTC."""
    if (args := _zoned_args(node)) is None:
        return node
    ts, zone = args
    instant = exp.Anonymous(this="TIMESTAMP", expressions=[ts])
    return exp.Anonymous(this="DATE", expressions=[instant, zone])


def _zoned_trino(node: exp.Expression) -> exp.Expression:
    """Trino: with_timezone(ts, 'UTC') is the instant, AT TIME ZONE moves it to the zone."""
    if (args := _zoned_args(node)) is None:
        return node
    ts, zone = args
    utc = exp.Anonymous(
        this="with_timezone",
        expressions=[exp.Cast(this=ts, to=_TIMESTAMP.copy()), exp.Literal.string("UTC")],
    )
    return _as_date(exp.AtTimeZone(this=utc, zone=zone))


def _zoned_clickhouse(node: exp.Expression) -> exp.Expression:
    """ClickHouse: toDate(toDateTime64(ts, 6, 'UTC'), zone): the column read as UTC, its
    date in the zone."""
    if (args := _zoned_args(node)) is None:
        return node
    ts, zone = args
    utc = exp.Anonymous(
        this="toDateTime64", expressions=[ts, exp.Literal.number(6), exp.Literal.string("UTC")]
    )
    return exp.Anonymous(this="toDate", expressions=[utc, zone])


def _sqlite_calendar(node: exp.Expression) -> exp.Expression:
    """SQLite has no YEAR()/MONTH(): the number from STRFTIME of the date."""
    if not isinstance(node, (exp.Year, exp.Month)):
        return node
    pattern = "%Y" if isinstance(node, exp.Year) else "%m"
    text = exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string(pattern), node.this])
    return exp.Cast(this=text, to=exp.DataType.build("int"))


_TEXT_COMPARISONS = (exp.EQ, exp.NEQ, exp.In, exp.Nullif)
_SENTINEL = "|"


def _is_text(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def _marked(node: exp.Expression) -> exp.Expression:
    """``node || '|'``: a text whose trailing spaces are no longer trailing."""
    if _is_text(node):
        return exp.Literal.string(node.this + _SENTINEL)
    return exp.DPipe(this=node.copy(), expression=exp.Literal.string(_SENTINEL))


def _padded_text(node: exp.Expression) -> exp.Expression:
    """Text compared with its trailing spaces: SQL Server, Redshift and MySQL's PAD SPACE
    collations compare 'abc ' equal to 'abc'. Both sides of an equality with a text literal
    get a final '|' (NULL stays NULL); NULLIF becomes the CASE it stands for."""
    if isinstance(node, (exp.EQ, exp.NEQ)) and (_is_text(node.this) or _is_text(node.expression)):
        return type(node)(this=_marked(node.this), expression=_marked(node.expression))
    if isinstance(node, exp.In) and any(_is_text(e) for e in node.expressions):
        return exp.In(this=_marked(node.this), expressions=[_marked(e) for e in node.expressions])
    if isinstance(node, exp.Nullif) and (_is_text(node.this) or _is_text(node.expression)):
        same = exp.EQ(this=_marked(node.this), expression=_marked(node.expression))
        return exp.Case(ifs=[exp.If(this=same, true=exp.Null())], default=node.this.copy())
    return node


_DOUBLE = exp.DataType.build("double")


def _nan() -> exp.Expression:
    return exp.Cast(this=exp.Literal.string("NaN"), to=_DOUBLE.copy())


def not_nan(value: exp.Expression) -> exp.Expression:
    """``NULLIF(value, NaN)`` for a DOUBLE ``value``: NaN becomes NULL. Where NaN equals NaN
    (DuckDB, PostgreSQL, Redshift, Snowflake, Spark) that is the whole of it; ``ieee_nan`` and
    ``no_nan`` write it for the other targets."""
    return exp.Nullif(this=value, expression=_nan())


def _is_not_nan(node: exp.Expression) -> bool:
    """Whether ``node`` is a ``not_nan`` (found again in the re-parsed canonical tree)."""
    nan = node.expression if isinstance(node, exp.Nullif) else None
    return (
        isinstance(nan, exp.Cast)
        and nan.to.is_type("double")
        and isinstance(nan.this, exp.Literal)
        and nan.this.is_string
        and nan.this.this == "NaN"
    )


def _ieee_nan(node: exp.Expression) -> exp.Expression:
    """ClickHouse, BigQuery and Trino compare NaN unequal to itself, so NULLIF keeps it:
    ``CASE WHEN isNaN(v) THEN NULL ELSE v END``."""
    if not _is_not_nan(node):
        return node
    test = exp.IsNan(this=node.this.copy())
    return exp.Case(ifs=[exp.If(this=test, true=exp.Null())], default=node.this.copy())


def _no_nan(node: exp.Expression) -> exp.Expression:
    """SQLite, MySQL and SQL Server have no NaN (SQLite stores it as NULL, the others refuse
    it), and their CAST('NaN' AS ...) is 0 or an error: the value as it is."""
    return node.this.copy() if _is_not_nan(node) else node


def _tsql_greatest(node: exp.Expression) -> exp.Expression:
    """GREATEST/LEAST exist only from SQL Server 2022: a CASE per pair (the arguments are
    already NULL-safe, see ``_null_ignoring``; all NULL gives NULL)."""
    if not isinstance(node, (exp.Greatest, exp.Least)):
        return node
    compare = exp.GTE if isinstance(node, exp.Greatest) else exp.LTE
    out = node.this.copy()
    for arg in node.expressions:
        out = exp.Case(
            ifs=[exp.If(this=compare(this=out.copy(), expression=arg.copy()), true=out)],
            default=arg.copy(),
        )
    return out


def _tsql_length(node: exp.Expression) -> exp.Expression:
    """SQL Server's LEN ignores trailing spaces: LEN(s + 'x') - 1 counts them."""
    if not isinstance(node, exp.Length) or node.args.get("_counted"):
        return node
    wide = exp.cast(node.this.copy(), exp.DataType.build("NVARCHAR(MAX)", dialect="tsql"))
    length = exp.Length(this=exp.DPipe(this=wide, expression=exp.Literal.string("x")))
    length.set("_counted", True)
    return exp.Sub(this=length, expression=exp.Literal.number(1))


def _binary_text(collation: str):
    """Text compared exactly where the default collation ignores case (MySQL, SQL Server):
    every string literal an equality or IN compares with gets an explicit binary collation,
    which decides the comparison."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Literal)
            and node.is_string
            and isinstance(node.parent, _TEXT_COMPARISONS)
        ):
            return exp.Collate(this=node.copy(), expression=exp.Var(this=collation))
        return node

    return rewrite


EXACT = "SEMSEG_EXACT"  # a value grouped or counted exactly, byte for byte (``exact``)


def exact(value: exp.Expression) -> exp.Expression:
    """``value`` where it is grouped by: a placeholder call each target writes (``_exact``)."""
    return exp.Anonymous(this=EXACT, expressions=[value])


def _exact(to: str | None, dialect: str = ""):
    """Values counted distinct and grouped as DuckDB does, byte for byte. MySQL's and SQL
    Server's default collations ignore case and trailing spaces, so COUNT(DISTINCT x) counted
    'Beauty' and 'beauty' once and GROUP BY put them in one group: there every DISTINCT
    argument and every ``exact`` value is cast to binary (a type-agnostic cast: numbers and
    dates keep one byte string per value). Elsewhere ``exact(x)`` is ``x``."""
    binary = exp.DataType.build(to, dialect=dialect) if to else None

    def rewrite(node: exp.Expression) -> exp.Expression:
        if (found := _placeholder_args(node, EXACT)) is not None:
            value = found[0].copy()
            return value if binary is None else exp.Cast(this=value, to=binary.copy())
        if (
            binary is not None
            and isinstance(node, exp.Distinct)
            and isinstance(node.parent, exp.Count)
        ):
            cast = [exp.Cast(this=e.copy(), to=binary.copy()) for e in node.expressions]
            return exp.Distinct(expressions=cast)
        return node

    return rewrite


def _sqlite_exact_numbers(node: exp.Expression) -> exp.Expression:
    """SQLite reads some decimal literals one unit in the last place off: it divides in 80-bit
    long double and rounds again to a double (3.40 read ``2.266513`` as 2.2665129999999998, 1
    in ~20,000 short decimals), where every other engine here reads the nearest double. A
    literal whose decimal value is not exactly a double is written as the exact quotient of
    that double: ``CAST(m AS REAL) / 2^k`` (an integer below 2^53 and powers of two up to
    2^62, which SQLite reads, divides and multiplies exactly). Literals that are exactly a
    double (``4.5``, ``100.0``) stay as written."""
    if not isinstance(node, exp.Literal) or node.is_string:
        return node
    text = node.this
    if not any(c in text for c in ".eE"):
        return node  # an integer
    value = float(text)
    if not math.isfinite(value) or Decimal(text) == Decimal(value):
        return node  # beyond a double (1e400: SQLite's own reading), or exactly one
    mantissa, exponent = math.frexp(value)  # value = m * 2^e exactly, |m| < 2^53
    m, e = int(mantissa * 2**53), exponent - 53
    out: exp.Expression = exp.cast(exp.Literal.number(m), exp.DataType.build("double"))
    while e != 0:
        step = min(abs(e), 62)
        power = exp.Literal.number(1 << step)
        out = exp.Div(this=out, expression=power) if e < 0 else exp.Mul(this=out, expression=power)
        e += step if e < 0 else -step
    return exp.Paren(this=out)


def _sqlite_values(node: exp.Expression) -> exp.Expression:
    """SQLite names the columns of ``VALUES`` column1, column2...: it takes no column names in
    the alias, so ``(VALUES ...) AS t(a, b)`` becomes ``(SELECT column1 AS a, column2 AS b
    FROM (VALUES ...)) AS t`` (the cluster prototypes)."""
    alias = node.args.get("alias") if isinstance(node, exp.Values) else None
    if alias is None or not alias.columns:
        return node
    rows = exp.Values(expressions=[row.copy() for row in node.expressions])
    named = [
        exp.alias_(exp.column(f"column{i}"), name.copy())
        for i, name in enumerate(alias.columns, start=1)
    ]
    return exp.Subquery(
        this=exp.select(*named).from_(exp.Subquery(this=rows)),
        alias=exp.TableAlias(this=alias.this.copy()),
    )


NEAREST = "SEMSEG_NEAREST"  # the prototype of the pair nearest a row (``nearest``)
LEAST = "semseg__least"  # the window form's column: the row's smallest distance


def nearest(number: exp.Expression, distance: exp.Expression) -> exp.Expression:
    """The aggregate ``number`` of the group's row with the smallest (``distance``,
    ``number``): a placeholder each target writes (``_nearest``)."""
    return exp.Anonymous(this=NEAREST, expressions=[number, distance])


def _nearest(template: str | None, dialect: str):
    """``nearest(n, d)`` as the target's own aggregate (``Target.nearest_of``: a MIN over a
    struct, tuple or array compares d, then n), or, where it has none, in one evaluation as
    well: the SELECT that holds it reads its FROM through a window, ``MIN(d) OVER (PARTITION
    BY <its GROUP BY>)``, and takes ``MIN(CASE WHEN d = that THEN n END)``."""
    own = sqlglot.parse_one(template, read=dialect) if template else None

    def rewrite(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Select):
            return node
        calls = [
            c
            for e in node.expressions
            for c in e.find_all(exp.Anonymous)
            if c.name.upper() == NEAREST
        ]
        if not calls:
            return node
        if own is not None:
            for call in calls:
                n, d = call.expressions
                written = own.copy()
                for col in list(written.find_all(exp.Column)):
                    if not col.table and col.name in ("d", "n"):
                        col.replace((d if col.name == "d" else n).copy())
                call.replace(written)
            return node
        source = node.args["from_"].this
        assert isinstance(source, exp.Subquery), "nearest() reads a named subquery"
        group = [g.copy() for g in node.args["group"].expressions]
        distance = calls[0].expressions[1]
        least = exp.Window(this=exp.Min(this=distance.copy()), partition_by=group)
        inner = (
            exp.select(*(exp.column(c) for c in source.this.named_selects))
            .select(exp.alias_(least, LEAST))
            .from_(source.copy())
        )
        if node.args.get("where") is not None:
            inner = inner.where(node.args["where"].this.copy())
        for call in calls:
            n, d = call.expressions
            at = exp.EQ(this=d.copy(), expression=exp.column(LEAST))
            call.replace(exp.Min(this=exp.Case(ifs=[exp.If(this=at, true=n.copy())])))
        node.set("where", None)
        node.set("from_", exp.From(this=exp.Subquery(this=inner, alias=source.args["alias"])))
        return node

    return rewrite


HASH32 = "SEMSEG_HASH32"  # the portable hash of a text (``key_hash``)


def key_hash(salt: str, key: exp.Expression) -> exp.Expression:
    """The portable hash (``semseg.spec.keyhash``) of ``salt:key`` as SQL: a placeholder each
    target writes with its own MD5 (``Target.hash32``). ``key`` is an integer or text
    expression; an integer is written in decimal by the cast to text."""
    text = exp.DPipe(
        this=literal(f"{salt}:"),
        expression=exp.cast(key, exp.DataType.build("varchar")),
    )
    return exp.Anonymous(this=HASH32, expressions=[text])


def _hash32(template: str, dialect: str):
    """``key_hash``'s placeholder as the target's template, ``t`` its text."""
    own = sqlglot.parse_one(template, read=dialect)

    def rewrite(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Anonymous) and node.name.upper() == HASH32):
            return node
        written = cast(exp.Expression, own.copy())
        for col in list(written.find_all(exp.Column)):
            if not col.table and col.name == "t":
                col.replace(exp.paren(node.expressions[0].copy(), copy=False))
        return written

    return rewrite


Rewrite = Callable[[exp.Expression], exp.Expression]

ZONE_STYLES: dict[str, Rewrite] = {
    "at_time_zone": _zoned_at_time_zone,
    "convert_timezone": _zoned_convert_timezone,
    "spark": _zoned_spark,
    "bigquery": _zoned_bigquery,
    "trino": _zoned_trino,
    "clickhouse": _zoned_clickhouse,
}
NAN_STYLES: dict[str, Rewrite] = {"ieee": _ieee_nan, "none": _no_nan}


def target_rewrites(target: Target) -> list[Rewrite]:
    """What ``target``'s typed quirks (``compile.dialects.Target``) do to a canonical tree, in
    the one order every target follows: calendar repairs, trailing spaces, case-insensitive
    comparisons, SQL Server's functions, NaN, SQLite's literals, time zones, the binary
    collation, exact grouping, and last the UTC date (which needs no quirk anywhere)."""
    out: list[Rewrite] = []
    if target.sqlite_fixes:
        out += [_sqlite_months, _sqlite_calendar]
    if target.padded_text:
        out.append(_padded_text)
    if target.case_insensitive_text:
        assert target.binary_collation, f"{target.name}: a case-insensitive target needs one"
        out.append(_binary_text(target.binary_collation))
    if target.tsql_fixes:
        out += [_tsql_greatest, _tsql_length]
    if target.nan in NAN_STYLES:
        out.append(NAN_STYLES[target.nan])
    if target.sqlite_fixes:
        out += [_sqlite_values, _sqlite_exact_numbers]
    if target.zones in ZONE_STYLES:
        out.append(ZONE_STYLES[target.zones])
    out.append(_nearest(target.nearest_of, target.sqlglot))
    out.append(_hash32(target.hash32, target.sqlglot))
    out.append(_binary_collation(target.binary_collation))
    out.append(_exact(target.exact_cast, target.sqlglot))
    out.append(_zoned_utc)
    return out


def apply_rewrites(tree: exp.Expression, target: Target) -> exp.Expression:
    """``target_rewrites`` applied to the target's own copy of the tree, one after another."""
    for rewrite in target_rewrites(target):
        tree = tree.transform(rewrite, copy=False)
    return tree

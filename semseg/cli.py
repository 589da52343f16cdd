"""The ``semseg`` command line: typer only, a thin shell over the layers below.

Results go to stdout, problems to stderr (with ``--format json``, errors too are JSON on
stdout). Every error is a typed ``SemsegError`` whose type sets the exit code (see
``semseg.errors``): 0 success, 1 a problem with the spec, the data or the files, or a failed
check, 2 a usage error (typer's own included).
"""

from __future__ import annotations

import contextlib
import csv
import enum
import functools
import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from semseg.cluster.fit import AGREEMENT_MIN, cluster_segmentations, fit_spec
from semseg.cluster.predict import fit_propensity, propensities
from semseg.compile import HISTORY_AS_OF, compile_spec, size_note
from semseg.compile.dialects import TARGETS
from semseg.data import Session, open_session
from semseg.dbt import SOURCES_HEADER, dbt_history_model, dbt_model, sources_path, sources_yaml
from semseg.engine import Connection
from semseg.engine import connect as connect_engine
from semseg.errors import DataError, SemsegError, SpecError, UsageError, printable
from semseg.files import Output, csv_cell, preflight, write_outputs, write_text
from semseg.history import (
    check_dates,
    history_sql,
    history_tree,
    label_order,
    sizes_tree,
    transitions_sql,
)
from semseg.history import spine as history_spine
from semseg.history import transitions as run_transitions
from semseg.history.render import render_html as render_transitions_html
from semseg.history.render import render_json as render_transitions_json
from semseg.history.render import render_text as render_transitions_text
from semseg.measure import measure as run_measure
from semseg.measure import measure_sql, outcome_names
from semseg.measure.render import render_html as render_measure_html
from semseg.measure.render import render_json as render_measure_json
from semseg.measure.render import render_text as render_measure_text
from semseg.measure.render import title as measure_title
from semseg.profile.index import profile as run_profile
from semseg.profile.index import profile_sql
from semseg.profile.render import render_csv, render_html, render_json, render_terminal
from semseg.progress import terminal_progress
from semseg.sample import DATASETS, FORMATS, write_sample
from semseg.spec import SpecFile, find_specs, load_spec
from semseg.spec.schema import spec_json_schema
from semseg.spec.time import as_of_value, uses_time
from semseg.verify import verify as run_verify
from semseg.verify.history import verify_history
from semseg.version import __version__


def _wants_json(args: Sequence[str]) -> bool:
    pairs = zip(args, [*args[1:], ""], strict=False)
    return any(a == "--format=json" or (a == "--format" and nxt == "json") for a, nxt in pairs)


class _Group(TyperGroup):
    """typer's group, except that with ``--format json`` a usage error (an unknown option or a
    bad choice, found by click before any command runs) is JSON on stdout too."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not _wants_json(argv):
            return super().main(args, *rest, **kwargs)
        standalone = kwargs.pop("standalone_mode", True)
        try:
            code = super().main(argv, *rest, standalone_mode=False, **kwargs)  # type: ignore[misc]
        except TyperException as err:  # click's usage errors (typer vendors click)
            message = err.format_message() if hasattr(err, "format_message") else str(err)
            error = UsageError(message)
            typer.echo(json.dumps({"error": error.to_dict()}, indent=2))
            code = error.exit_code
        if not standalone:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    help="Customer segments declared once in YAML, compiled to any warehouse, verified locally.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

Dialect = enum.Enum("Dialect", {name: name for name in TARGETS}, type=str)  # type: ignore[misc]


class Materialize(enum.StrEnum):
    query = "query"
    view = "view"
    table = "table"


class Format(enum.StrEnum):
    text = "text"
    json = "json"


class TableFormat(enum.StrEnum):
    text = "text"
    json = "json"
    csv = "csv"


F = TypeVar("F", bound=Callable[..., Any])


def handled(command: F) -> F:
    """Run a command; a ``SemsegError`` becomes its message and its type's exit code.

    With ``--format json`` the error is a JSON object on stdout, ``{"error": {kind, exit_code,
    message[, issues]}}``; otherwise its lines go to stderr. Never a traceback.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SemsegError as err:
            if kwargs.get("format") in (Format.json, "json"):
                typer.echo(json.dumps({"error": err.to_dict()}, indent=2, default=str))
            else:
                for line in err.lines():
                    typer.echo(line, err=True)
            raise typer.Exit(err.exit_code) from None

    return run  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"semseg {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """semseg: a SQL-generating semantic layer for customer segmentation."""


VAR_HELP = "NAME=VALUE: set a parameter of the spec (repeatable)."


ENGINE_HELP = (
    "Run the model on your engine (a URL: postgresql://user@host/db, mysql://..., "
    "sqlite:///file.db, chdb:///path, spark://local[2], snowflake://... see docs/engines/). "
    "The password is never shown; prefer the driver's own ways (e.g. PGPASSWORD)."
)
SAMPLE_HELP = (
    "With --engine: only the rows of a deterministic sample of this fraction of the keys "
    "(0 < F <= 1, picked on the engine by the portable hash)."
)


@contextlib.contextmanager
def _engine_options(engine: str | None, sample: float | None) -> Iterator[Connection | None]:
    """The engine connection of --engine (None without it), after checking --sample; closed
    on the way out."""
    if sample is not None and not 0 < sample <= 1:
        raise UsageError(f"--sample {sample:g}: a fraction of the keys, above 0 and at most 1")
    if sample is not None and engine is None:
        raise UsageError("--sample picks keys on an engine: give --engine URL too")
    connection = connect_engine(engine) if engine is not None else None
    try:
        yield connection
    finally:
        if connection is not None:
            connection.close()


@contextlib.contextmanager
def _session(
    spec_file: SpecFile,
    data: Path | None,
    table: list[str] | None,
    when: date | str | None,
    engine: str | None,
    sample: float | None = None,
) -> Iterator[Session]:
    """The session of a command with --data/--table or --engine (and --sample): the model's
    rows stay on the engine unless a command needs them here."""
    tables = _table_option(table or [])  # a malformed --table before any connection
    with (
        _engine_options(engine, sample) as connection,
        open_session(
            spec_file,
            data,
            tables,
            when,
            connection,
            sample,
            rows=connection is None,
        ) as session,
    ):
        yield session


def variables(values: list[str] | None) -> dict[str, str]:
    """``--var NAME=VALUE`` options as a mapping; a malformed one is a usage error."""
    out: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--var {item!r}: write NAME=VALUE, e.g. --var recent_days=30")
        out[name.strip()] = value
    return out


def load_all(
    spec: Path, given: dict[str, str] | None = None, markers: bool = False
) -> list[SpecFile]:
    """Load one spec or every spec in a folder; report every problem of every file at once.

    ``given``: ``--var`` values; each must be a parameter of at least one of the specs.
    ``markers``: parameters in snippets stay marked, for dbt's ``var()``."""
    paths = find_specs(spec)
    if not paths:
        raise UsageError(f"{spec}: no .yml/.yaml spec files found")
    loaded, problems = [], []
    for path in paths:
        try:
            loaded.append(load_spec(path, given, markers))
        except SpecError as err:
            problems += err.issues
    if problems:
        n = len(problems)
        summary = f"{n} problem{'s' if n != 1 else ''} found; nothing was compiled."
        raise SpecError(problems, summary)
    declared = {p for f in loaded for p in f.spec.parameters}
    unknown = sorted(set(given or {}) - declared)
    if unknown:
        raise UsageError(
            f"--var {', '.join(unknown)}: not a parameter of {spec} "
            f"(parameters: {', '.join(sorted(declared)) or 'none'})"
        )
    return loaded


def load_one(spec: Path, command: str, given: dict[str, str] | None = None) -> SpecFile:
    """The one spec a command works on; a folder of several is a usage error."""
    if spec.is_dir() and len(find_specs(spec)) > 1:
        raise UsageError(f"{spec}: `semseg {command}` takes one spec file, not a folder of specs")
    return load_all(spec, given)[0]


def report_writes(written: list[tuple[Path, bool]]) -> None:
    for path, changed in written:
        typer.echo(f"{'wrote' if changed else 'unchanged'} {path}", err=True)


def read_text_file(path: Path, what: str) -> str:
    """A text file the user passed, or ``DataError`` saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file ({what})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text ({what})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror or err})") from None


AS_OF_HELP = (
    "The as-of date of sources with an event time: YYYY-MM-DD, today, or (verify, cluster, "
    "profile) latest, the latest event date in the data. Overrides the spec's as_of."
)


def _generated_text(path: Path, header: str) -> str | None:
    """The text of a file semseg wrote before (it starts with ``header``), else None: a file
    someone wrote or edited is not merged with, and is replaced only with --force."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if text.startswith(header) else None


# --data and --table as cluster, fit and measure take them (verify's say more: --sql, read-only)
DataOption = Annotated[
    Path | None,
    typer.Option(
        help="A folder of <table>.parquet/.csv files or a DuckDB file (default: the bundled "
        "sample)."
    ),
]
TableOption = Annotated[
    list[str] | None, typer.Option("--table", help="NAME=PATH for one table (repeatable).")
]


def _as_of(text: str | None) -> date | str | None:
    if text is None:
        return None
    try:
        return as_of_value(text)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _two_dates(start: str, end: str, command: str) -> tuple[date, date]:
    """--from and --to as dates (not 'today' or 'latest')."""
    first, second = _as_of(start), _as_of(end)
    if not isinstance(first, date) or not isinstance(second, date):
        raise UsageError(f"--from {start} --to {end}: {command} needs two dates")
    return first, second


def _timed(spec_file: SpecFile) -> None:
    """A command over dates needs a source with an event time."""
    if not uses_time(spec_file.spec):
        raise UsageError(
            f"{spec_file.path}: no source has an event time (time:), so the model is the same "
            "at every date; give a source its time column"
        )


def _segmentation(spec_file: SpecFile, given: str | None) -> str:
    """The segmentation a command reads: ``given``, or the spec's first."""
    names = spec_file.spec.segmentations
    name = given or next(iter(names), None)
    if name is None or name not in names:
        raise UsageError(
            f"{spec_file.path}: no segmentation '{name}'; choose one of: {', '.join(names)}"
        )
    return name


def _write_html(html: Path, page: str, force: bool, spec_file: SpecFile) -> None:
    """The HTML report of a command, after its run (``preflight`` checked the path before)."""
    write_text(html, page, force, owner=str(spec_file.path))
    typer.echo(f"wrote {html}", err=True)


@app.command()
@handled
def compile(
    spec: Annotated[Path, typer.Argument(help="A spec file, or a folder of spec files.")],
    dialect: Annotated[
        Dialect, typer.Option("--dialect", "-d", help="Target SQL dialect.")
    ] = Dialect.duckdb,  # type: ignore[attr-defined]
    out: Annotated[
        Path | None, typer.Option(help="Write <spec name>.sql files here instead of printing.")
    ] = None,
    materialize: Annotated[
        Materialize,
        typer.Option(help="query: a bare SELECT; view/table: CREATE VIEW/TABLE <spec name> AS ..."),
    ] = Materialize.query,
    force: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    dbt: Annotated[
        Path | None,
        typer.Option(
            help="Write a dbt model, properties YAML and singular tests into this dbt project."
        ),
    ] = None,
    dbt_source: Annotated[
        str | None,
        typer.Option(
            help="With --dbt: refer to tables as {{ source('NAME', table) }} instead of ref()."
        ),
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help=VAR_HELP)] = None,
) -> None:
    """Compile specs to SQL for a warehouse dialect, or into a dbt project."""
    specs = [f.with_as_of(_as_of(as_of)) for f in load_all(spec, variables(var), dbt is not None)]
    for f in specs:
        if uses_time(f.spec) and f.spec.as_of is None:
            typer.echo(
                f"note: {f.spec.name}: compiled as of the engine's current date (no --as-of "
                "and no as_of: in the spec); --as-of YYYY-MM-DD fixes the date",
                err=True,
            )
    if dbt is not None:
        materialized = "table" if materialize is Materialize.query else materialize.value
        files = []
        for spec_file in specs:
            output = dbt_model(spec_file, dialect.value, materialized, dbt_source)
            owner = str(spec_file.path)
            files += [Output.text(dbt / rel, text, owner) for rel, text in output.files.items()]
        report_writes(write_outputs(files + _dbt_sources(specs, dbt, dbt_source, force), force))
        return
    compiled = [(f, compile_spec(f, dialect.value, materialize.value)) for f in specs]
    for f, sql in compiled:
        if (note := size_note(sql, TARGETS[dialect.value])) is not None:
            typer.echo(f"note: {f.spec.name}: {note}", err=True)
    if out is None:
        for _, sql in compiled:
            typer.echo(sql, nl=False)
        return
    files = [Output.text(out / f"{f.spec.name}.sql", sql, str(f.path)) for f, sql in compiled]
    report_writes(write_outputs(files, force))


def _dbt_sources(specs: list[SpecFile], dbt: Path, source: str | None, force: bool) -> list[Output]:
    """With --dbt-source: the source's tables, with those of earlier runs kept."""
    if source is None:
        return []
    path = dbt / sources_path(source)
    before = _generated_text(path, SOURCES_HEADER) if not force else None
    text = sources_yaml(specs, source, before)
    owner = ", ".join(str(f.path) for f in specs)
    return [Output.text(path, text, owner, replaces=before)]


@app.command()
def dialects(
    format: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
) -> None:
    """List the target dialects."""
    rows = [
        {
            "name": t.name,
            "title": t.title,
            "sqlglot": t.sqlglot,
            "tested_on": t.engine or "golden files only",
        }
        for t in TARGETS.values()
    ]
    if format == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['name']:<11} {r['title']:<38} {r['tested_on']}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format (for editor autocompletion)."""
    typer.echo(json.dumps(spec_json_schema(), indent=2, sort_keys=True))


@app.command()
@handled
def check(
    spec: Annotated[Path, typer.Argument(help="A spec file, or a folder of spec files.")],
    format: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
    var: Annotated[list[str] | None, typer.Option("--var", help=VAR_HELP)] = None,
) -> None:
    """Validate specs without compiling them."""
    specs = load_all(spec, variables(var))
    if format is Format.json:
        typer.echo(json.dumps({"ok": [str(f.path) for f in specs]}, indent=2))
        return
    for spec_file in specs:
        typer.echo(f"ok {spec_file.path}")


def _table_option(values: list[str]) -> dict[str, Path]:
    tables = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise UsageError(
                f"--table {value!r}: expected NAME=PATH, e.g. --table int_order_lines=lines.csv"
            )
        tables[name] = Path(path)
    return tables


@app.command()
@handled
def verify(
    spec: Annotated[Path, typer.Argument(help="A spec file, or a folder of spec files.")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="A folder of <table>.parquet/.csv files, or a DuckDB database file (opened "
            "read-only). Default: the bundled sample dataset."
        ),
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table", help="NAME=PATH for one table (repeatable); overrides --data for NAME."
        ),
    ] = None,
    dialect: Annotated[
        list[Dialect] | None,
        typer.Option(
            "--dialect", "-d", help="Dialects whose SQL must compile and re-parse (default: all)."
        ),
    ] = None,
    sql: Annotated[
        Path | None,
        typer.Option(
            help="Prove this query (e.g. your hand-written or deployed model) instead of the "
            "compiled one: DuckDB SQL, or with --engine the engine's own SQL, run there."
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help=ENGINE_HELP + " The proofs run here over the same tables read from it.",
        ),
    ] = None,
    sample: Annotated[
        float | None,
        typer.Option(
            "--sample",
            help=SAMPLE_HELP + " The checks that recompute from the tables run on it, the "
            "others on every row of the model.",
        ),
    ] = None,
    format: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help=VAR_HELP)] = None,
) -> None:
    """Run the compiled SQL in DuckDB on sample data (or on --engine) and prove the
    segmentation right."""
    tables = _table_option(table or [])
    model_sql = read_text_file(sql, "--sql") if sql is not None else None
    names = [d.value for d in dialect] if dialect else None
    when = _as_of(as_of)
    specs = load_all(spec, variables(var))
    with _engine_options(engine, sample) as connection:
        reports = [
            run_verify(
                spec_file,
                data,
                tables,
                names,
                model_sql=model_sql,
                as_of=when,
                engine=connection,
                sample=sample,
            )
            for spec_file in specs
        ]
    if format is Format.json:
        payload = [json.loads(r.to_json()) for r in reports]
        typer.echo(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    else:
        color = sys.stdout.isatty()
        typer.echo("\n".join(r.to_text(color=color) for r in reports), nl=False)
        if len(reports) > 1:
            failed = [r.spec for r in reports if not r.passed]
            summary = f"{len(reports) - len(failed)} of {len(reports)} specs verified"
            typer.echo(summary + (f"; failed: {', '.join(failed)}" if failed else ""))
    if not all(r.passed for r in reports):
        raise typer.Exit(1)


@app.command("sample-data")
@handled
def sample_data(
    out: Annotated[Path, typer.Option(help="Folder to write the tables into.")],
    dataset: Annotated[str, typer.Option(help="retail or marketplace")] = "retail",
    format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    force: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
) -> None:
    """Write a bundled sample dataset out, to look at or to edit and verify against."""
    if dataset not in DATASETS:
        raise UsageError(f"unknown dataset '{dataset}'; choose one of: {', '.join(DATASETS)}")
    if format not in FORMATS:
        raise UsageError(f"unknown format '{format}'; choose one of: {', '.join(FORMATS)}")
    for path, changed in write_sample(dataset, out, format, overwrite=force):
        typer.echo(f"{'wrote' if changed else 'unchanged'} {path}")


@app.command()
@handled
def cluster(
    spec: Annotated[Path, typer.Argument(help="A spec file with a cluster segmentation.")],
    segmentation: Annotated[
        str | None, typer.Option(help="Which cluster segmentation (default: the only one).")
    ] = None,
    data: DataOption = None,
    table: TableOption = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Where to write the fitted model JSON (default: next to the spec)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace a different existing model file.")] = False,
    renumber: Annotated[
        bool,
        typer.Option(
            help="Number the clusters 0, 1, ... by size instead of keeping the ids of the "
            "model being replaced (names in cluster.names then need checking)."
        ),
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help=ENGINE_HELP + " The feature query runs there; only feature rows come back.",
        ),
    ] = None,
    sample: Annotated[float | None, typer.Option("--sample", help=SAMPLE_HELP)] = None,
    format: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help=VAR_HELP)] = None,
) -> None:
    """Fit the spec's cluster segmentations (or the one named) and write their model files.

    A refit keeps the id (and so the name) of each cluster that persists, matched to the model
    it replaces by shared members, and says which clusters appeared, vanished, merged or split.
    """
    when = _as_of(as_of)
    spec_file = load_one(spec, "cluster", variables(var))
    show = terminal_progress()
    names = [segmentation] if segmentation else cluster_segmentations(spec_file)
    if model is not None and len(names) > 1:
        raise UsageError(
            f"--model names one file, and {spec} has {len(names)} cluster segmentations "
            f"({', '.join(names)}): pass --segmentation too"
        )
    results = []
    with _session(spec_file, data, table, when, engine, sample) as session:
        if session.as_of_note and format is not Format.json:
            typer.echo(session.as_of_note)
        for name in names:
            results.append(fit_spec(session, name, model, force, show, renumber))
    show("")
    low = [
        (summary["segmentation"], summary["agreement"])
        for _, _, summary in results
        if summary["agreement"] is not None and summary["agreement"] < AGREEMENT_MIN
    ]
    if format is Format.json:
        payloads = [
            {"model": str(path), "unchanged": not changed, **summary}
            for path, changed, summary in results
        ]
        typer.echo(
            json.dumps(payloads[0] if len(payloads) == 1 else payloads, indent=2, default=str)
        )
    else:
        for path, changed, summary in results:
            typer.echo(f"model: {path}{'' if changed else ' (unchanged)'}")
            typer.echo(f"rows: {summary['rows']:,} (fitted on {summary['sampled']:,})")
            typer.echo(f"clusters: {summary['clusters']}  noise: {summary['noise_share']:.1%}")
            for cid, size in summary["sizes"].items():
                typer.echo(f"  cluster {cid}: {size:,}")
            for line in summary["changes"]:
                typer.echo(f"refit: {line}")
            parts = "box" if summary["rule"] == "boxes" else "prototype"
            plural = "es" if parts == "box" else "s"
            count = summary["rule_parts"]
            typer.echo(f"assignment rule: {count} {parts}{plural * (count != 1)}")
            if summary["agreement"] is not None:
                typer.echo(
                    f"assignment SQL agrees with the local labels on {summary['agreement']:.1%}"
                )
            typer.echo(f"fit took {summary['seconds']:.2f}s")
    for _, _, summary in results:
        if summary["clusters"] == 0:
            typer.echo(
                f"warning: {summary['segmentation']}: the fit found no cluster (every row is "
                "noise); lower min_cluster_size or check the features",
                err=True,
            )
    if low:
        for name, share in low:
            typer.echo(
                f"error: {name}: the assignment SQL agrees with the fit on {share:.1%} of the "
                f"rows, below the {AGREEMENT_MIN:.0%} that verify requires; the model was "
                "written, but verify will fail it — adjust min_cluster_size or the features "
                "and fit again",
                err=True,
            )
        raise typer.Exit(1)


@app.command()
@handled
def fit(
    spec: Annotated[Path, typer.Argument(help="A spec file with a propensity (predict:).")],
    metric: Annotated[
        str | None, typer.Option(help="Which propensity metric (default: every one).")
    ] = None,
    data: DataOption = None,
    table: TableOption = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Where to write the fitted model JSON (default: next to the spec)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace a different existing model file.")] = False,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help=ENGINE_HELP + " The feature and label queries run there; only metric rows "
            "come back.",
        ),
    ] = None,
    sample: Annotated[float | None, typer.Option("--sample", help=SAMPLE_HELP)] = None,
    format: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help=VAR_HELP)] = None,
) -> None:
    """Fit the spec's propensity metrics (predict:) and write their model files.

    Point in time: trained on the features as of A - 2H with the target as of A - H, and
    validated on the next split (features as of A - H, target as of A), where H is the span of
    the target's window and A the as-of date. Reports AUC, the top decile's lift and capture,
    and calibration by decile on the validation split.
    """
    when = _as_of(as_of)
    spec_file = load_one(spec, "fit", variables(var))
    names = propensities(spec_file)
    if metric is not None:
        if metric not in names:
            raise UsageError(
                f"{spec}: no propensity metric '{metric}'; "
                + (f"choose one of: {', '.join(names)}" if names else "it has no predict: metric")
            )
        names = [metric]
    if not names:
        raise UsageError(f"{spec}: no metric has predict:, so there is nothing to fit")
    if model is not None and len(names) > 1:
        raise UsageError(
            f"--model names one file, and {spec} has {len(names)} propensities "
            f"({', '.join(names)}): pass --metric too"
        )
    show = terminal_progress()
    results = []
    with _session(spec_file, data, table, when, engine, sample) as session:
        if session.as_of_note and format is not Format.json:
            typer.echo(session.as_of_note)
        for name in names:
            results.append(fit_propensity(session, name, model, force, show))
    show("")
    if format is Format.json:
        payloads = [
            {"model": str(path), "unchanged": not changed, **summary}
            for path, changed, summary in results
        ]
        typer.echo(json.dumps(payloads[0] if len(payloads) == 1 else payloads, indent=2))
        return
    for path, changed, summary in results:
        v, cut = summary["validation"], summary["cutoffs"]
        typer.echo(f"model: {path}{'' if changed else ' (unchanged)'}")
        typer.echo(
            f"trained on {summary['rows']:,} rows ({summary['positives']:,} positive): "
            f"features as of {cut['train_features']}, outcome as of {cut['train_label']}"
        )
        typer.echo(
            f"validated on {v['rows']:,} rows ({v['positives']:,} positive): features as of "
            f"{cut['valid_features']}, outcome as of {cut['valid_label']}"
        )
        if v.get("auc") is not None:
            typer.echo(
                f"  AUC {v['auc']:.3f}  top decile: lift {v['top_decile_lift']:.2f}, captures "
                f"{v['top_decile_capture']:.1%} of the positives"
            )
            typer.echo(
                "  calibration by decile (mean score / rate): "
                + "  ".join(f"{c['mean_score']:.3f}/{c['rate']:.3f}" for c in v["calibration"])
            )
        for base, b in summary["baselines"].items():
            typer.echo(
                f"  baseline {base} (its order, 1 first): AUC {b['auc']:.3f}; its first segment "
                f"({b['first_segment_share']:.1%} of the rows) lift {b['first_segment_lift']:.2f}"
            )
        typer.echo(f"fit took {summary['seconds']:.2f}s")


@app.command()
@handled
def measure(
    spec: Annotated[Path, typer.Argument(help="A spec file with a split (split:).")],
    as_of: Annotated[
        str, typer.Option("--as-of", help="The campaign's start (YYYY-MM-DD): the arms then.")
    ],
    segmentation: Annotated[
        str | None, typer.Option(help="The segmentation whose split (default: the only one).")
    ] = None,
    outcome: Annotated[
        list[str] | None,
        typer.Option("--outcome", help="An outcome metric (repeatable; default: split.outcomes)."),
    ] = None,
    data: DataOption = None,
    table: TableOption = None,
    format: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
    sql: Annotated[
        str | None,
        typer.Option(
            "--sql",
            help="Print the measurement query for this dialect (one per outcome: COUNT, SUM "
            "and SUM of squares per segment and arm) instead of running it.",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option("--engine", help=ENGINE_HELP + " The measurement query runs there."),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Also write an HTML page: each effect with its interval, drawn."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing HTML file.")] = False,
    var: Annotated[list[str] | None, typer.Option("--var", help=VAR_HELP)] = None,
) -> None:
    """The effect of an offer: each arm of a split against its control, per segment.

    The arms and segments are the spec as of the start (--as-of); an outcome with the window
    'last N days' is read as of the start plus N days (the events after the start). Per
    segment and arm: customers, mean outcome, the difference to the control with its 95%
    interval and p-value (pooled-variance t), the relative lift, and the incremental total
    (difference x the arm's customers) with its interval. --html draws each effect.
    """
    start = _as_of(as_of)
    if not isinstance(start, date):
        raise UsageError(f"--as-of {as_of}: measure needs the campaign's start date")
    spec_file = load_one(spec, "measure", variables(var))
    splits = [n for n, s in spec_file.spec.segmentations.items() if s.split is not None]
    if segmentation is None:
        if len(splits) != 1:
            raise UsageError(
                f"{spec}: "
                + (
                    f"{len(splits)} segmentations have a split ({', '.join(splits)}): pass "
                    "--segmentation"
                    if splits
                    else "no segmentation has a split: add split: to one"
                )
            )
        segmentation = splits[0]
    elif segmentation not in splits:
        raise UsageError(
            f"{spec}: '{segmentation}' has no split; "
            + (f"choose one of: {', '.join(splits)}" if splits else "no segmentation has one")
        )
    if sql is not None:
        for name in outcome_names(spec_file, segmentation, outcome)[1]:
            typer.echo(f"-- {segmentation}: {name}, from {start.isoformat()}")
            typer.echo(measure_sql(spec_file, segmentation, start, name, sql).rstrip() + ";")
        return
    if html is not None:
        preflight(html, force)  # before the run, not after it
    with _session(spec_file, data, table, start, engine) as session:
        effects = run_measure(session, segmentation, start, outcome)
    heading = measure_title(spec_file.spec.name, segmentation, start.isoformat())
    if format is Format.json:
        typer.echo(render_measure_json(effects), nl=False)
    else:
        typer.echo(render_measure_text(effects, heading), nl=False)
    if html is not None:
        _write_html(html, render_measure_html(effects, heading), force, spec_file)


class HistoryFormat(enum.StrEnum):
    text = "text"
    csv = "csv"


@app.command()
@handled
def history(
    spec: Annotated[Path, typer.Argument(help="A spec file with event time.")],
    start: Annotated[
        str | None, typer.Option("--from", help="The first as-of date (YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="The last as-of date (YYYY-MM-DD).")
    ] = None,
    every: Annotated[
        str, typer.Option("--every", help="day, week (every 7 days from --from) or month (ends).")
    ] = "month",
    data: DataOption = None,
    table: TableOption = None,
    format: Annotated[
        HistoryFormat,
        typer.Option(
            "--format",
            help="text (each segmentation's sizes per date) or csv (every row: key, as_of, "
            "metrics and labels).",
        ),
    ] = HistoryFormat.text,
    sql: Annotated[
        str | None,
        typer.Option("--sql", help="Print the history query for this dialect instead."),
    ] = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help=ENGINE_HELP + " The history runs there.")
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Prove the history's rows at its first, middle and last date with every "
            "check of semseg verify (here, in DuckDB).",
        ),
    ] = False,
    dbt: Annotated[
        Path | None,
        typer.Option(
            "--dbt",
            help="Write an incremental dbt model <spec>_history into this dbt project "
            "instead: each run adds the rows as of var('as_of'), keyed by key and as_of.",
        ),
    ] = None,
    dbt_source: Annotated[
        str | None, typer.Option("--dbt-source", help="With --dbt: read tables as source().")
    ] = None,
    dialect: Annotated[
        Dialect, typer.Option("--dialect", "-d", help="With --dbt: the warehouse's dialect.")
    ] = Dialect.duckdb,  # type: ignore[attr-defined]
    force: Annotated[bool, typer.Option(help="With --dbt: replace existing files.")] = False,
    var: Annotated[list[str] | None, typer.Option("--var", help=VAR_HELP)] = None,
) -> None:
    """The spec's metrics and labels at many as-of dates, from one query over the dates.

    A row per key and as-of date, as the model was at that date (its events up to it): the
    same rows as one `compile --as-of` run per date, in one query. With --dbt, an
    incremental model that adds one as-of date per run.
    """
    if dbt is not None:
        spec_file = load_one(spec, "history", variables(var))
        output = dbt_history_model(spec_file, dialect.value, dbt_source)
        files = [Output.text(dbt / rel, text, str(spec)) for rel, text in output.files.items()]
        files += _dbt_sources([spec_file], dbt, dbt_source, force)
        report_writes(write_outputs(files, force))
        return
    if start is None or end is None:
        raise UsageError("history needs --from DATE and --to DATE (or --dbt DIR)")
    first, last = _two_dates(start, end, "history")
    dates = history_spine(first, last, every)
    spec_file = load_one(spec, "history", variables(var))
    _timed(spec_file)
    if sql is not None:
        typer.echo(history_sql(spec_file, dates, sql).rstrip() + ";")
        return
    if check:
        if engine is not None:
            raise UsageError("--verify proves the history here (DuckDB): leave out --engine")
        proofs = verify_history(spec_file, dates, data, _table_option(table or []))
        for day, report in proofs:
            failed = [c for c in report.checks if not c.passed]
            state = "PASS" if not failed else "FAIL"
            typer.echo(
                f"{state}  {day.isoformat()}: the history's {report.rows:,} rows, "
                f"{len(report.checks) - len(failed)} of {len(report.checks)} checks"
            )
            for c in failed:
                typer.echo(f"  FAIL {printable(c.name)}: {printable(c.description)}")
        if any(not r.passed for _, r in proofs):
            raise typer.Exit(1)
        return
    with _session(spec_file, data, table, last, engine) as session:
        if format is HistoryFormat.csv:
            rows = session.rows(functools.partial(history_tree, spec_file, dates))
            names = [spec_file.spec.entity.key, HISTORY_AS_OF]
            names += spec_file.spec.output_columns()[1:]
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(names)
            writer.writerows([csv_cell(v) for v in row] for row in rows)
            typer.echo(out.getvalue(), nl=False)
            return
        sizes = {
            name: session.rows(functools.partial(sizes_tree, spec_file, dates, name))
            for name in spec_file.spec.segmentations
        }
    typer.echo(
        f"{spec_file.spec.name}: {len(dates)} as-of dates from {dates[0]} to {dates[-1]}, "
        f"every {every}"
    )
    for name, found in sizes.items():
        counts = {(d, label): n for d, label, n in found}
        order = label_order(spec_file, name)
        labels = sorted({label for _, label in counts}, key=lambda x: order(str(x)))
        heads = ["as_of", *(printable(str(label)) for label in labels)]
        lines = [
            [d.isoformat(), *(f"{counts.get((d, label), 0):,}" for label in labels)] for d in dates
        ]
        widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(heads)]
        typer.echo(f"{printable(name)}:")
        for cells in [heads, *lines]:
            typer.echo(
                "  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
            )


@app.command()
@handled
def transitions(
    spec: Annotated[Path, typer.Argument(help="A spec file with event time.")],
    start: Annotated[str, typer.Option("--from", help="The first date (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="The second date (YYYY-MM-DD).")],
    segmentation: Annotated[
        str | None, typer.Option(help="The segmentation (default: the first).")
    ] = None,
    data: DataOption = None,
    table: TableOption = None,
    format: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
    sql: Annotated[
        str | None,
        typer.Option(
            "--sql", help="Print the matrix query for this dialect instead of running it."
        ),
    ] = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help=ENGINE_HELP + " The matrix query runs there.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write an HTML page: the matrix as a heat map.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing HTML file.")] = False,
    var: Annotated[list[str] | None, typer.Option("--var", help=VAR_HELP)] = None,
) -> None:
    """Who moved: each segment at the first date against each segment at the second.

    The segments at a date are the spec as of that date (the events up to it), so a past
    date needs no snapshot. Rows: the segment at --from, and (new) the keys not in the model
    then; columns: the segment at --to, and (gone) the keys not in it then. Each cell: the
    keys and their share of the row; the diagonal is retention.
    """
    first, second = _two_dates(start, end, "transitions")
    spec_file = load_one(spec, "transitions", variables(var))
    name = _segmentation(spec_file, segmentation)
    _timed(spec_file)
    if sql is not None:
        typer.echo(transitions_sql(spec_file, name, first, second, sql).rstrip() + ";")
        return
    check_dates(first, second)
    if html is not None:
        preflight(html, force)  # before the run, not after it
    # the session's own as-of is the second date; each date's model sets its own
    with _session(spec_file, data, table, second, engine) as session:
        matrix = run_transitions(session, name, first, second)
    rendered = render_transitions_json if format is Format.json else render_transitions_text
    typer.echo(rendered(matrix), nl=False)
    if html is not None:
        _write_html(html, render_transitions_html(matrix), force, spec_file)


class Baseline(enum.StrEnum):
    population = "population"
    segment_mean = "segment_mean"


@app.command()
@handled
def profile(
    spec: Annotated[Path, typer.Argument(help="A spec file.")],
    segmentation: Annotated[
        str | None, typer.Option(help="Segmentation to profile (default: the first).")
    ] = None,
    overlay: Annotated[
        list[str] | None,
        typer.Option(
            "--overlay",
            help="Extra metrics to describe segments by (repeatable, or comma-separated).",
        ),
    ] = None,
    baseline: Annotated[
        Baseline,
        typer.Option(
            help="population: index against the population mean; segment_mean: against the "
            "unweighted mean of segment means (the seed's own scripts)."
        ),
    ] = Baseline.population,
    data: Annotated[Path | None, typer.Option(help="Data folder or DuckDB file.")] = None,
    table: Annotated[list[str] | None, typer.Option("--table", help="NAME=PATH.")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report.")
    ] = None,
    sql: Annotated[
        Dialect | None,
        typer.Option(
            "--sql", help="Print the profiling SQL for this dialect instead of running it."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing HTML file.")] = False,
    format: Annotated[
        TableFormat,
        typer.Option(
            "--format",
            help="text (a coloured table), json, or csv (the index table, one row per "
            "segment and column, for spreadsheets).",
        ),
    ] = TableFormat.text,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help=ENGINE_HELP + " The index table is computed here from the model's result.",
        ),
    ] = None,
    sample: Annotated[float | None, typer.Option("--sample", help=SAMPLE_HELP)] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help=VAR_HELP)] = None,
) -> None:
    """Describe every segment by over/under-index tables of its inputs and overlays."""
    when = _as_of(as_of)
    spec_file = load_one(spec, "profile", variables(var))
    name = _segmentation(spec_file, segmentation)
    overlays = [o.strip() for v in overlay or [] for o in v.split(",") if o.strip()]
    unknown = [o for o in overlays if o not in spec_file.spec.metrics]
    if unknown:
        raise UsageError(
            f"--overlay {', '.join(unknown)}: not a metric of {spec_file.spec.name}; "
            f"metrics are: {', '.join(spec_file.spec.metrics)}"
        )
    if sql is not None:
        typer.echo(
            profile_sql(spec_file.with_as_of(when), name, sql.value, overlays, baseline.value)
        )
        return
    if html is not None:
        preflight(html, force)  # before the run, not after it
    with _engine_options(engine, sample) as connection:
        result = run_profile(
            spec_file,
            name,
            data,
            _table_option(table or []),
            overlays,
            baseline.value,
            projection=html is not None,
            as_of=when,
            engine=connection,
            sample=sample,
        )
    rendered = {TableFormat.json: render_json, TableFormat.csv: render_csv}
    typer.echo(rendered.get(format, render_terminal)(result), nl=False)
    if html is not None:
        _write_html(html, render_html(result), force, spec_file)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)

"""The ``semseg`` command line: a thin shell over the Python API.

Results go to stdout, problems to stderr. Exit codes: 0 success, 1 a problem with the spec, the
data or a failed check, 2 a usage error (typer's own).
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from semseg import __version__
from semseg.dialects import TARGETS
from semseg.progress import terminal_progress

app = typer.Typer(
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


def fail(lines: list[str] | str, code: int = 1) -> NoReturn:
    """Print problems to stderr and exit without a traceback."""
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)


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


def load_all(spec: Path):
    """Load one spec or every spec in a folder; report every problem of every file at once."""
    from semseg.compiler import find_specs, load_spec
    from semseg.errors import SpecError

    paths = find_specs(spec)
    if not paths:
        fail(f"{spec}: no .yml/.yaml spec files found")
    loaded, problems = [], []
    for path in paths:
        try:
            loaded.append(load_spec(path))
        except SpecError as err:
            problems += [i.format() for i in err.issues]
    if problems:
        n = len(problems)
        fail([*problems, f"{n} problem{'s' if n != 1 else ''} found; nothing was compiled."])
    return loaded


def write_new(path: Path, text: str, force: bool) -> bool:
    """Write ``text`` unless a *different* file is already there (then ask for --force)."""
    if path.exists() and not force:
        if path.read_text(encoding="utf-8") == text:
            return False
        fail(
            f"{path}: already exists with different content; not overwritten "
            "(pass --force to replace it)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


@app.command()
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
) -> None:
    """Compile specs to SQL for a warehouse dialect, or into a dbt project."""
    from semseg.compiler import compile_spec
    from semseg.errors import CompileError

    if dbt is not None:
        from semseg.dbt import dbt_model

        materialized = "table" if materialize is Materialize.query else materialize.value
        for spec_file in load_all(spec):
            try:
                output = dbt_model(spec_file, dialect.value, materialized, dbt_source)
            except CompileError as err:
                fail(str(err))
            for rel, text in output.files.items():
                changed = write_new(dbt / rel, text, force)
                typer.echo(f"{'wrote' if changed else 'unchanged'} {dbt / rel}", err=True)
        return
    outputs = []
    for spec_file in load_all(spec):
        try:
            outputs.append((spec_file, compile_spec(spec_file, dialect.value, materialize.value)))
        except CompileError as err:
            fail(str(err))
    for spec_file, sql in outputs:
        if out is None:
            typer.echo(sql, nl=False)
        else:
            target = out / f"{spec_file.spec.name}.sql"
            changed = write_new(target, sql, force)
            typer.echo(f"{'wrote' if changed else 'unchanged'} {target}", err=True)


@app.command()
def dialects(
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
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
    from semseg.schema import spec_json_schema

    typer.echo(json.dumps(spec_json_schema(), indent=2, sort_keys=True))


@app.command()
def check(
    spec: Annotated[Path, typer.Argument(help="A spec file, or a folder of spec files.")],
) -> None:
    """Validate specs without compiling them."""
    for spec_file in load_all(spec):
        typer.echo(f"ok {spec_file.path}")


class Format(enum.StrEnum):
    text = "text"
    json = "json"


def _table_option(values: list[str]) -> dict[str, Path]:
    tables = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            fail(
                f"--table {value!r}: expected NAME=PATH, e.g. --table int_order_lines=lines.csv", 2
            )
        tables[name] = Path(path)
    return tables


@app.command()
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
            help="Prove this DuckDB query (e.g. your hand-written model) instead of the compiled "
            "one."
        ),
    ] = None,
    format: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
) -> None:
    """Run the compiled SQL in DuckDB on sample data and prove the segmentation right."""
    from semseg.errors import CompileError, DataError
    from semseg.verify import verify as run_verify

    tables = _table_option(table or [])
    model_sql = None
    if sql is not None:
        if not sql.is_file():
            fail(f"{sql}: no such file")
        model_sql = sql.read_text(encoding="utf-8")
    reports = []
    for spec_file in load_all(spec):
        try:
            reports.append(
                run_verify(
                    spec_file,
                    data,
                    tables,
                    [d.value for d in dialect] if dialect else None,
                    model_sql=model_sql,
                )
            )
        except (DataError, CompileError) as err:
            fail(str(err))
    if format is Format.json:
        payload = [json.loads(r.to_json()) for r in reports]
        typer.echo(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    else:
        color = sys.stdout.isatty()
        typer.echo("\n".join(r.to_text(color=color) for r in reports), nl=False)
    if not all(r.passed for r in reports):
        raise typer.Exit(1)


@app.command("sample-data")
def sample_data(
    out: Annotated[Path, typer.Option(help="Folder to write the tables into.")],
    dataset: Annotated[str, typer.Option(help="retail or marketplace")] = "retail",
    format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    force: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
) -> None:
    """Write a bundled sample dataset out, to look at or to edit and verify against."""
    from semseg.sample import DATASETS, FORMATS, write_sample

    if dataset not in DATASETS:
        fail(f"unknown dataset '{dataset}'; choose one of: {', '.join(DATASETS)}", 2)
    if format not in FORMATS:
        fail(f"unknown format '{format}'; choose one of: {', '.join(FORMATS)}", 2)
    try:
        paths = write_sample(dataset, out, format, overwrite=force)
    except FileExistsError as err:
        fail(f"{err}; pass --force to replace")
    for path in paths:
        typer.echo(f"wrote {path}")


@app.command()
def cluster(
    spec: Annotated[Path, typer.Argument(help="A spec file with a cluster segmentation.")],
    segmentation: Annotated[
        str | None, typer.Option(help="Which cluster segmentation (default: the only one).")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="A folder of <table>.parquet/.csv files or a DuckDB file (default: the bundled "
            "sample)."
        ),
    ] = None,
    table: Annotated[
        list[str] | None, typer.Option("--table", help="NAME=PATH for one table (repeatable).")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Where to write the fitted model JSON (default: next to the spec)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace a different existing model file.")] = False,
    format: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
) -> None:
    """Fit a clustering segmentation locally and write its model file (used by compile)."""
    import tempfile

    from semseg.cluster.fit import cluster_segmentation, fit_spec
    from semseg.cluster.model_file import default_model_path
    from semseg.errors import CompileError, DataError

    (spec_file,) = load_all(spec)
    tables = _table_option(table or [])
    show = terminal_progress()
    try:
        name = cluster_segmentation(spec_file, segmentation)
        settings = spec_file.spec.segmentations[name].cluster
        assert settings is not None
        target = model or default_model_path(spec_file.path, name, settings.model)
        unchanged = False
        if target.exists() and not force:
            # Fit aside first: an identical model is left as it is, a different one needs --force.
            with tempfile.TemporaryDirectory() as tmp:
                trial, summary = fit_spec(spec_file, name, data, tables, Path(tmp) / "m.json", show)
                if trial.read_bytes() != target.read_bytes():
                    fail(
                        f"{target}: a different fitted model already exists; not overwritten "
                        "(pass --force to replace it)"
                    )
            path, unchanged = target, True
        else:
            path, summary = fit_spec(spec_file, name, data, tables, target, show)
        show("")
    except (DataError, CompileError) as err:
        fail(str(err))
    if format is Format.json:
        payload = {"model": str(path), "unchanged": unchanged, **summary}
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    typer.echo(f"model: {path}{' (unchanged)' if unchanged else ''}")
    typer.echo(f"rows: {summary['rows']:,} (fitted on {summary['sampled']:,})")
    typer.echo(f"clusters: {summary['clusters']}  noise: {summary['noise_share']:.1%}")
    for cid, size in summary["sizes"].items():
        typer.echo(f"  cluster {cid}: {size:,}")
    if summary["agreement"] is not None:
        typer.echo(f"assignment SQL agrees with the local labels on {summary['agreement']:.1%}")
    typer.echo(f"fit took {summary['seconds']:.2f}s")


class Baseline(enum.StrEnum):
    population = "population"
    segment_mean = "segment_mean"


@app.command()
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
) -> None:
    """Describe every segment by over/under-index tables of its inputs and overlays."""
    from semseg.errors import CompileError, DataError
    from semseg.profile.index import profile as run_profile
    from semseg.profile.index import profile_sql
    from semseg.profile.render import render_html, render_terminal

    (spec_file,) = load_all(spec)
    name = segmentation or next(iter(spec_file.spec.segmentations), None)
    if name is None or name not in spec_file.spec.segmentations:
        fail(
            f"{spec}: no segmentation '{name}'; choose one of: "
            f"{', '.join(spec_file.spec.segmentations)}",
            2,
        )
    overlays = [o.strip() for v in overlay or [] for o in v.split(",") if o.strip()]
    unknown = [o for o in overlays if o not in spec_file.spec.metrics]
    if unknown:
        fail(
            f"--overlay {', '.join(unknown)}: not a metric of {spec_file.spec.name}; "
            f"metrics are: {', '.join(spec_file.spec.metrics)}",
            2,
        )
    try:
        if sql is not None:
            typer.echo(profile_sql(spec_file, name, sql.value, overlays, baseline.value))
            return
        result = run_profile(
            spec_file,
            name,
            data,
            _table_option(table or []),
            overlays,
            baseline.value,
            projection=html is not None,
        )
        typer.echo(render_terminal(result), nl=False)
        if html is not None:
            if html.exists() and not force:
                fail(f"{html}: already exists; not overwritten (pass --force to replace it)")
            render_html(result, html)
            typer.echo(f"wrote {html}", err=True)
    except (DataError, CompileError) as err:
        fail(str(err))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)

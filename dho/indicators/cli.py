"""``dho indicators``: list definitions, compute values, export them (CSV, JSON, ADX, dataValueSets)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from dho.cli_support import DatabaseOpt, fail, out, unit

indicators_app = typer.Typer(help="Indicators: definitions, values and exports", no_args_is_help=True)
CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,39}$")
GEO = re.compile(r"^(WORLD|[A-Za-z]{3,4}|[A-Za-z]{2}-[A-Za-z0-9]{1,3})$")  # ... or a subnational unit (ISO 3166-2)


def _progress():  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(TextColumn("computing {task.description}"), BarColumn(), MofNCompleteColumn(), console=out,
                    transient=True, disable=not out.is_terminal)


@indicators_app.command("list")
def list_cmd(database: DatabaseOpt = None) -> None:
    """List the current indicator definitions."""
    from dho.indicators import engine

    with unit(database) as (session, _principal):
        for d in engine.definitions(session, "en"):
            typer.echo(f"{d.code}\tv{d.version}\t{d.objective or '-'}\t{d.unit}\t{d.name}")


@indicators_app.command("compute")
def compute_cmd(code: Annotated[str | None, typer.Option("--code", help="Only this indicator")] = None,
                geo: Annotated[str, typer.Option(
                    "--geo", help="WORLD, a region, an income group, ISO3 or an ISO 3166-2 unit")] = "WORLD",
                database: DatabaseOpt = None) -> None:
    """Compute the indicators and print one line per indicator and period for a geography."""
    from dho.indicators import engine

    if code is not None and not CODE.match(code):
        fail(f"not an indicator code: {code!r}")
    if not GEO.match(geo):
        fail(f"not a geography: {geo!r} (use WORLD, a WHO region, an income group, an ISO3 code or an "
             "ISO 3166-2 unit such as PK-PB)")
    geo = geo.upper()
    with unit(database) as (session, _principal):
        defs = {d.code: d for d in engine.definitions(session, "en")}
        if code is not None and code.upper() not in defs:
            fail(f"no indicator {code.upper()}")
        with _progress() as bar:
            task = bar.add_task("", total=None)
            results = engine.compute(session, codes=[code.upper()] if code else None,
                                     on_progress=lambda c, n, t: bar.update(task, description=c, completed=n, total=t))
        for c in ([code.upper()] if code else sorted(defs)):
            for period, v in results.series(c, geo):
                typer.echo(f"{c}\t{geo}\t{period}\t{engine.format_value(defs[c], v, 'en')}\tn={v.reporting}")
        typer.echo(f"snapshot {results.snapshot}")


@indicators_app.command("export")
def export_cmd(format: Annotated[str, typer.Option("--format", help="csv, json, adx or dvs")],
               out_file: Annotated[Path, typer.Option("--out", help="File to write")],
               year: Annotated[int | None, typer.Option("--year", help="Only periods of this year")] = None,
               code: Annotated[str | None, typer.Option("--code", help="Only this indicator")] = None,
               database: DatabaseOpt = None) -> None:
    """Export computed values for HMIS tools (DHIS2 ADX or dataValueSets) or analysis (CSV, JSON)."""
    from dho.indicators import engine, exports
    from dho.indicators import periods as P

    if format not in exports.FORMATS:
        fail(f"unknown format {format!r}; use one of {', '.join(exports.FORMATS)}")
    if year is not None and not P.MIN_YEAR <= year <= P.MAX_YEAR:
        fail(f"the year must be between {P.MIN_YEAR} and {P.MAX_YEAR}")
    if code is not None and not CODE.match(code):
        fail(f"not an indicator code: {code!r}")
    if out_file.exists() and out_file.is_dir():
        fail(f"{out_file} is a directory")
    with unit(database) as (session, _principal):
        defs = engine.definitions(session, "en")
        codes = [code.upper()] if code else None
        if codes and codes[0] not in {d.code for d in defs}:
            fail(f"no indicator {codes[0]}")
        with _progress() as bar:
            task = bar.add_task("", total=None)
            results = engine.compute(session, codes=codes,
                                     on_progress=lambda c, n, t: bar.update(task, description=c, completed=n, total=t))
        body = exports.export(format, results, defs, codes=codes, years=[year] if year else None)
    tmp = out_file.with_name(out_file.name + ".part")
    try:
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(out_file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        fail(f"cannot write {out_file}: {exc.strerror or exc}")
    out.print(f"wrote {out_file} ({format}, snapshot {results.snapshot[:12]})", highlight=False)

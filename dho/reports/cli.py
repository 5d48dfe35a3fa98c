"""``dho report global|region CODE|country ISO3 --format html|pdf --out FILE [--year] [--lang]``: build a
progress report from the live data with a progress bar over its stages; errors are one line, exit 1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dho.cli_support import DatabaseOpt, err, fail, out, unit

report_app = typer.Typer(help="Progress reports (global, regional, country) as HTML or PDF", no_args_is_help=True)

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="html or pdf (json: the report's data)")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="File to write", dir_okay=False)]
YearOpt = Annotated[int | None, typer.Option("--year", help="Reporting year (default: the latest with data)")]
LangOpt = Annotated[str, typer.Option("--lang", help="Language: en or fr")]


def _run(kind: str, code: str | None, fmt: str, out_path: Path, year: int | None, lang: str,
         database: str | None) -> None:
    from dho.reports import builder, service

    fmt = fmt.strip().lower()
    if fmt not in service.FORMATS:
        fail(f"unknown format {fmt!r}: use html or pdf")
    parent = out_path.expanduser().resolve().parent
    if not parent.is_dir():
        fail(f"cannot write {out_path}: the folder {parent} does not exist")
    if out_path.exists() and out_path.is_dir():
        fail(f"cannot write {out_path}: it is a folder")
    steps = [*builder.stages("country" if kind == "country" else kind), *(("render",) if fmt != "json" else ())]
    with unit(database) as (session, _principal), Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(f"{kind} report", total=len(steps) + 1)

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"{kind} report: {name}")

        doc = service.produce(session, kind, code, year, lang, fmt, progress=step)
        try:
            out_path.write_bytes(doc.body)
        except OSError as exc:
            fail(f"cannot write {out_path}: {exc.strerror or exc}")
        bar.update(task, advance=1, description=f"{kind} report: written")
    out.print(f"{out_path} ({len(doc.body)} bytes, snapshot {doc.snapshot[:16]}…, content {doc.content_hash[:16]}…)",
              highlight=False)


@report_app.command("global")
def global_report(format: FormatOpt = "html", out_path: OutOpt = Path("report.html"), year: YearOpt = None,
                  lang: LangOpt = "en", database: DatabaseOpt = None) -> None:
    """The global progress report to the World Health Assembly."""
    _run("global", None, format, out_path, year, lang, database)


@report_app.command("region")
def region_report(code: Annotated[str, typer.Argument(help="WHO region code, e.g. AFR")],
                  format: FormatOpt = "html", out_path: OutOpt = Path("report.html"), year: YearOpt = None,
                  lang: LangOpt = "en", database: DatabaseOpt = None) -> None:
    """A WHO region's progress report."""
    _run("region", code, format, out_path, year, lang, database)


@report_app.command("country")
def country_report(iso3: Annotated[str, typer.Argument(help="ISO 3166 alpha-3 code, e.g. KEN")],
                   format: FormatOpt = "html", out_path: OutOpt = Path("report.html"), year: YearOpt = None,
                   lang: LangOpt = "en", database: DatabaseOpt = None) -> None:
    """A country's progress report."""
    _run("country", iso3, format, out_path, year, lang, database)

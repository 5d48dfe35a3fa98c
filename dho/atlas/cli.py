"""`dho atlas ...`: the atlas at the command line (rates, import, export, duplicates)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dho.cli_support import DatabaseOpt, fail, out, unit

atlas_app = typer.Typer(help="The atlas: implementations, investments, exchange rates", no_args_is_help=True)


@atlas_app.command("rates")
def rates_load(
    file: Annotated[Path, typer.Argument(help="CSV with the columns currency,year,units_per_usd,source")],
    database: DatabaseOpt = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Act as this user (default: the administrator)")] = None,
) -> None:
    """Load exchange rates (units per US dollar, annual average); any bad row loads nothing."""
    from dho.atlas import money

    if not file.is_file():
        fail(f"no such file: {file}")
    with unit(database, as_user) as (session, principal):
        result = money.load_rates(session, principal, file.read_bytes()[: 5_000_001])
    out.print(f"Exchange rates: {result['added']} added, {result['updated']} updated.")


EntityOpt = Annotated[str, typer.Option("--entity", help="implementation or organisation")]


@atlas_app.command("dedupe")
def dedupe_cmd(
    country: Annotated[str | None, typer.Option("--country", help="Only this country (ISO3)")] = None,
    entity: EntityOpt = "implementation",
    threshold: Annotated[float, typer.Option("--threshold", min=0.5, max=1.0, help="Lowest score shown")] = 0.85,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    database: DatabaseOpt = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Act as this user (default: the administrator)")] = None,
) -> None:
    """List likely duplicates with their score and the reasons, best first."""
    import json
    import re

    from dho.atlas import dedupe

    if country is not None and not re.fullmatch(r"[A-Za-z]{3}", country):
        fail(f"not a country code: {country[:20]}")
    if entity not in ("implementation", "organisation"):
        fail("--entity is implementation or organisation")
    with unit(database, as_user) as (session, principal):
        result = dedupe.duplicates(session, principal, entity=entity, country=country, threshold=threshold)
    if as_json:
        out.print_json(json.dumps(result, ensure_ascii=False))
        return
    if not result["pairs"]:
        out.print(f"No likely duplicates among {result['stats']['records']} records.")
        return
    for p in result["pairs"]:
        a, b = p["a"], p["b"]
        where = a["country_iso3"] or "-"
        out.print(f"{p['score']:.3f}  {a['id']} {a['name']!r}  <->  {b['id']} {b['name']!r}  [{where}]",
                  highlight=False, markup=False, soft_wrap=True)
        for r in p["reasons"]:
            out.print(f"        - {r['detail']}", highlight=False, markup=False, soft_wrap=True)
    out.print(f"{result['total']} likely duplicate pairs among {result['stats']['records']} records.")


@atlas_app.command("merge")
def merge_cmd(
    keep_id: Annotated[int, typer.Argument(help="The record kept", min=1)],
    merged_id: Annotated[int, typer.Argument(help="The duplicate folded into it", min=1)],
    entity: EntityOpt = "implementation",
    database: DatabaseOpt = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Act as this user (default: the administrator)")] = None,
) -> None:
    """Merge a duplicate into the record kept (links rewired, the duplicate archived or deleted)."""
    from dho.atlas import merge

    if entity not in ("implementation", "organisation"):
        fail("--entity is implementation or organisation")
    with unit(database, as_user) as (session, principal):
        rec = merge.merge(session, principal, entity, keep_id, merged_id)
        moved = {k: len(v) for k, v in merge.record_dict(rec)["rewired"].items() if isinstance(v, list)}
    out.print(f"Merged {entity} {merged_id} into {keep_id} (merge record {rec.id}): "
              + (", ".join(f"{k} {n}" for k, n in sorted(moved.items())) or "nothing else to move") + ".",
              highlight=False, markup=False)


# ---------------------------------------------------------------- import and export (dho atlas import|export)

TransferEntityOpt = Annotated[str, typer.Option("--entity", help="implementations or investments")]


@atlas_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="The file to import")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv, xlsx, json or dha (default: from the file's "
                                                             "extension; dha for the Digital Health Atlas layout)")]
    = None,
    entity: TransferEntityOpt = "implementations",
    valid_only: Annotated[bool, typer.Option("--valid-only", help="Import the valid rows; reject the others")] = False,
    rejected: Annotated[Path | None, typer.Option("--rejected", help="Write the rejected rows here (CSV)")] = None,
    mapping: Annotated[list[str] | None, typer.Option("--map", help="Source column=field (repeatable; "
                                                                    "field - ignores the column)")] = None,
    partners: Annotated[Path | None, typer.Option("--partners", help="DHA review: JSON object partner name -> "
                                                                     "organisation id or \"new\"")] = None,
    database: DatabaseOpt = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Act as this user (default: the administrator)")] = None,
) -> None:
    """Import implementations or investments; any error imports nothing unless --valid-only. A DHA file
    whose partner names need a choice lists them and exits with status 3, writing nothing."""
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from dho.atlas import transfer
    from dho.cli_support import errors_to_lines

    if not file.is_file():
        fail(f"no such file: {file}")
    fmt = fmt or {".xlsx": "xlsx", ".json": "json"}.get(file.suffix.lower(), "csv")
    if fmt not in transfer.FORMATS:
        fail(f"--format is one of {', '.join(transfer.FORMATS)}")
    choices = None
    if partners is not None:
        try:
            choices = json.loads(partners.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            fail(f"{partners}: not a JSON file ({exc})")
        if not isinstance(choices, dict):
            fail(f"{partners}: expected a JSON object of partner name -> organisation id or \"new\"")
    data = file.read_bytes()[: transfer.MAX_BYTES + 1]
    with errors_to_lines():
        columns = transfer.parse_mapping(mapping or [])
    with unit(database, as_user) as (session, principal), \
            Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), console=out,
                     transient=True, disable=not out.is_terminal) as bar:
        task = bar.add_task("import", total=None)
        result = transfer.import_file(session, principal, data, fmt, entity, mapping=columns, valid_only=valid_only,
                                      partners=choices, progress=lambda done, total: bar.update(
                                          task, completed=done, total=total))
    if result.status == "review":
        out.print("Nothing was imported: these partner names need a choice (write them to a JSON file for "
                  "--partners, as name -> organisation id or \"new\"):", highlight=False, markup=False)
        for r in result.review:
            out.print(f"- {r.name!r} ({r.reason}; rows {', '.join(map(str, r.rows))})", highlight=False, markup=False)
            for c in r.candidates:
                out.print(f"    {c['id']}: {c['name']}" + (f" ({c['acronym']})" if c["acronym"] else ""),
                          highlight=False, markup=False)
        for e in result.errors:
            out.print(f"  also to fix: {e.field}: {e.message}", highlight=False, markup=False)
        raise typer.Exit(3)
    out.print(f"Imported {len(result.created)} {entity}; {len(result.rejected)} rows rejected.",
              highlight=False, markup=False)
    if result.new_organisations:
        out.print(f"Added {len(result.new_organisations)} organisations to the master list.")
    if result.rejected:
        for r in result.rejected:
            for e in r.errors:
                out.print(f"  {e.field}: {e.message}", highlight=False, markup=False)
        if rejected is not None:
            rejected.write_bytes(result.rejected_csv or b"")
            out.print(f"Rejected rows written to {rejected}.", highlight=False, markup=False)


@atlas_app.command("export")
def export_cmd(
    file: Annotated[Path, typer.Argument(help="The file to write")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv, xlsx or json (default: from the extension)")]
    = None,
    entity: TransferEntityOpt = "implementations",
    database: DatabaseOpt = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Act as this user (default: the administrator)")] = None,
) -> None:
    """Export the implementations or investments you may see, in our layout (re-imports identically)."""
    from dho.atlas import transfer

    fmt = fmt or {".xlsx": "xlsx", ".json": "json"}.get(file.suffix.lower(), "csv")
    with unit(database, as_user) as (session, principal):
        data = transfer.export(session, principal, fmt, entity)
    file.write_bytes(data)
    out.print(f"Wrote {file} ({len(data)} bytes).", highlight=False, markup=False)

"""The ``dho`` command: thin shells over the services. Errors are one clear line and exit 1."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dho.atlas.cli import atlas_app
from dho.cli_support import AsOpt, DatabaseOpt, _db, err, errors_to_lines, fail, out, unit
from dho.config import get_settings
from dho.db import Database, migrate
from dho.errors import DomainError
from dho.indicators.cli import indicators_app
from dho.reports.cli import report_app
from dho.trust.cli import trust_app

app = typer.Typer(help="Digital Health Observatory", no_args_is_help=True, pretty_exceptions_enable=False)
user_app = typer.Typer(help="User accounts and roles", no_args_is_help=True)
token_app = typer.Typer(help="API tokens", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log", no_args_is_help=True)
reference_app = typer.Typer(help="Reference data", no_args_is_help=True)
maturity_app = typer.Typer(help="Maturity frameworks, assessments and scores", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(reference_app, name="reference")
app.add_typer(maturity_app, name="maturity")
app.add_typer(atlas_app, name="atlas")
app.add_typer(trust_app, name="trust")
app.add_typer(indicators_app, name="indicators")
app.add_typer(report_app, name="report")


def do_init(db: Database, load_reference: bool = True) -> dict | None:
    from dho.bootstrap import initialise

    return initialise(db, load_reference)


@app.command()
def init(database: DatabaseOpt = None,
         no_reference: Annotated[bool, typer.Option("--no-reference", help="Only create the schema")] = False) -> None:
    """Create or migrate the database and load the reference data."""
    db = _db(database)
    with errors_to_lines():
        summary = do_init(db, not no_reference)
    db.dispose()
    out.print(f"Database ready at {db.engine.url.render_as_string(hide_password=True)}")
    if summary:
        out.print("Reference data: " + ("already up to date" if summary["unchanged"] else "loaded"))
        if summary["frameworks"]:
            out.print("Maturity frameworks loaded: " + ", ".join(summary["frameworks"]))


@reference_app.command("load")
def reference_load(database: DatabaseOpt = None,
                   directory: Annotated[Path | None, typer.Option("--dir", help="A reference release folder")] = None,
                   as_user: AsOpt = None) -> None:
    """Load (or update to) a reference data release; loading the same release twice changes nothing."""
    from dho.reference import loader
    from dho.reference import service as reference

    try:
        with unit(database, as_user) as (session, principal):
            summary = reference.load(session, principal, directory)
    except loader.ReferenceDataError as exc:
        fail(str(exc))
    if summary.unchanged:
        out.print("Reference data already up to date.")
        return
    for table, c in summary.counts.items():
        out.print(f"{table}: +{c['added']} ~{c['updated']} -{c['removed']}")


def _serve(host: str, port: int, database: str | None) -> None:
    import uvicorn

    from dho.web.app import create_app

    trusted = get_settings().forwarded_allow_ips
    uvicorn.run(create_app(database), host=host, port=port, log_level="info",
                proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None)


@app.command()
def serve(database: DatabaseOpt = None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the web application."""
    _serve(host, port, database)


@app.command()
def demo(database: DatabaseOpt = None, host: str = "127.0.0.1", port: int = 8000,
         no_serve: Annotated[bool, typer.Option("--no-serve", help="Load the demo data only")] = False,
         seed: int = 2026) -> None:
    """Initialise the database, load the demo data set, and serve it."""
    from dho.config import data_dir
    from dho.trust import demo as trust_demo

    db = _db(database)
    settings = get_settings()
    folder = data_dir() / "demo-trust"
    configured = settings.trust_anchor_cert
    if not configured:  # the demo network's anchor, for this command only; `dho serve` never sets this
        settings.trust_anchor_cert = str(trust_demo.write_demo_anchor(folder / "demo-anchor-cert.pem"))
    try:
        _load_and_serve_demo(db, folder, host, port, database, no_serve, seed)
    finally:
        settings.trust_anchor_cert = configured


def _load_and_serve_demo(db, folder, host: str, port: int, database: str | None,  # type: ignore[no-untyped-def]
                         no_serve: bool, seed: int) -> None:
    from dho import demo as demo_data
    from dho.trust import demo as trust_demo

    with errors_to_lines():
        do_init(db)
        with db.session() as session:
            summary = demo_data.load(session, seed=seed)
        with db.session() as session:
            network = trust_demo.load(session)
    db.dispose()
    if network.samples:
        from dho.trust.qr import encode_png

        for name, text in network.samples.items():
            (folder / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
            (folder / f"{name}.png").write_bytes(encode_png(text, error="Q"))
        out.print(f"Sample health certificates to verify at /trust/verify: {folder}/(valid|revoked|tampered).png")
    table = Table(title="Demo sign-ins (password: " + summary.password + ")")
    for col in ("e-mail", "role", "scope"):
        table.add_column(col)
    for login in summary.logins:
        table.add_row(login.email, login.role, login.scope)
    out.print(table)
    out.print("Demo data " + ("loaded." if summary.created else "already present."))
    if not no_serve:
        out.print(f"\nOpen http://{host}:{port}/ in your browser (Ctrl+C to stop).\n")
        _serve(host, port, database)


# ---------------------------------------------------------------- users


@user_app.command("add")
def user_add(
    email: str,
    name: Annotated[str, typer.Option("--name", help="Display name")],
    password: Annotated[str | None, typer.Option("--password", envvar="DHO_NEW_PASSWORD",
                                                 help="Password (prompted if omitted)")] = None,
    role: Annotated[str | None, typer.Option(help="Grant this role")] = None,
    country: Annotated[str | None, typer.Option(help="ISO3 country for country_focal_point/viewer")] = None,
    region: Annotated[str | None, typer.Option(help="WHO region for regional/viewer")] = None,
    organisation: Annotated[int | None, typer.Option(
        help="Organisation id (partner; also the user's employer)")] = None,
    no_password: Annotated[bool, typer.Option("--no-password", help="Token-only account")] = False,
    database: DatabaseOpt = None,
    as_user: AsOpt = None,
) -> None:
    """Create a user, optionally with a role."""
    from dho.accounts import service as accounts

    if password is None and not no_password:
        if not sys.stdin.isatty():
            fail("give --password, DHO_NEW_PASSWORD, or --no-password")
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with unit(database, as_user) as (session, principal):
        user = accounts.create_user(session, principal, {
            "email": email, "display_name": name, "password": password, "organisation_id": organisation})
        if role:
            accounts.grant_role(session, principal, user.id, {
                "role": role, "country_iso3": country, "region_code": region,
                "organisation_id": organisation if role == "partner" else None})
    out.print(f"User {user.email} created (id {user.id}).")


@user_app.command("grant")
def user_grant(email: str, role: str, country: str | None = None, region: str | None = None,
               organisation: int | None = None, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Grant a role to a user."""
    from dho.accounts import service as accounts

    with unit(database, as_user) as (session, principal):
        user = accounts.find_user(session, email)
        if user is None:
            fail(f"no user {email}")
        accounts.grant_role(session, principal, user.id, {
            "role": role, "country_iso3": country, "region_code": region, "organisation_id": organisation})
    out.print(f"Granted {role} to {email}.")


@user_app.command("disable")
def user_disable(email: str, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Disable a user and end their sessions."""
    from dho.accounts import service as accounts

    with unit(database, as_user) as (session, principal):
        user = accounts.find_user(session, email)
        if user is None:
            fail(f"no user {email}")
        accounts.set_active(session, principal, user.id, False)
    out.print(f"User {email} disabled.")


@user_app.command("list")
def user_list(database: DatabaseOpt = None, q: str | None = None, as_user: AsOpt = None) -> None:
    """List users and their roles."""
    from dho.accounts import service as accounts

    with unit(database, as_user) as (session, principal):
        users, total = accounts.list_users(session, principal, q=q, limit=10_000)
        table = Table(title=f"{total} users")
        for col in ("id", "e-mail", "name", "active", "roles"):
            table.add_column(col)
        for u in users:
            roles = ", ".join(
                g.role + (f":{g.country_iso3 or g.region_code or g.organisation_id}"
                          if (g.country_iso3 or g.region_code or g.organisation_id) else "") for g in u.grants)
            table.add_row(str(u.id), u.email, u.display_name, "yes" if u.is_active else "no", roles)
    out.print(table)


# ---------------------------------------------------------------- tokens


@token_app.command("create")
def token_create(
    email: str,
    name: Annotated[str, typer.Option(help="What the token is for")] = "script",
    scope: Annotated[list[str] | None, typer.Option("--scope", help="read, write, admin (repeat)")] = None,
    days: Annotated[int, typer.Option(help="Days until it expires (1-366)")] = 90,
    database: DatabaseOpt = None,
    as_user: AsOpt = None,
) -> None:
    """Create an API token for a user; the secret is printed once."""
    from dho.accounts import service as accounts

    with unit(database, as_user) as (session, principal):
        user = accounts.find_user(session, email)
        if user is None:
            fail(f"no user {email}")
        token, secret = accounts.create_token(session, principal,
                                              {"name": name, "scopes": scope or ["read"], "days": days}, user.id)
    err.print(f"Token {token.id} (prefix {token.prefix}) for {email}, scopes {token.scopes}, "
              f"expires {token.expires_at:%Y-%m-%d}.")
    print(secret)


@token_app.command("list")
def token_list(email: str, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """List a user's tokens (never their secrets)."""
    from dho.accounts import service as accounts

    with unit(database, as_user) as (session, principal):
        user = accounts.find_user(session, email)
        if user is None:
            fail(f"no user {email}")
        table = Table(title=f"Tokens of {email}")
        for col in ("id", "prefix", "name", "scopes", "expires", "revoked"):
            table.add_column(col)
        for t in accounts.list_tokens(session, principal, user.id):
            table.add_row(str(t.id), t.prefix, t.name, t.scopes, f"{t.expires_at:%Y-%m-%d}",
                          f"{t.revoked_at:%Y-%m-%d}" if t.revoked_at else "")
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Revoke a token now."""
    from dho.accounts import service as accounts

    with unit(database, as_user) as (session, principal):
        accounts.revoke_token(session, principal, token_id)
    out.print(f"Token {token_id} revoked.")


# ---------------------------------------------------------------- audit


@audit_app.command("verify")
def audit_verify(database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Check the hash chain; name the first entry that was altered, removed or reordered."""
    from dho.audit import service as audit

    with unit(database, as_user) as (session, principal):
        result = audit.verify(session, principal)
    if not result.ok:
        fail(f"audit chain broken at entry {result.first_bad_seq}: {result.reason}")
    out.print(f"Audit chain intact: {result.checked} entries, head {result.head_seq}.")


@audit_app.command("head")
def audit_head(database: DatabaseOpt = None) -> None:
    """Print the newest entry's number and hash (keep it elsewhere to anchor the chain)."""
    from dho.audit import chain

    with unit(database) as (session, _principal):
        seq, digest = chain.head(session)
    print(f"{seq} {digest}")


@audit_app.command("export")
def audit_export(output: Annotated[Path, typer.Argument(help="File to write, '-' for stdout")],
                 fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
                 database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Export the audit log with its hashes."""
    from dho.audit import service as audit

    if fmt not in ("jsonl", "csv"):
        fail("format must be jsonl or csv")
    with unit(database, as_user) as (session, principal):
        chunks = audit.export(session, principal, fmt)
        if str(output) == "-":
            for chunk in chunks:
                sys.stdout.write(chunk)
        else:
            with output.open("w", encoding="utf-8", newline="") as fh:
                for chunk in chunks:
                    fh.write(chunk)


# ---------------------------------------------------------------- archive


@app.command("export")
def export_cmd(output: Path, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Export the whole database as a versioned JSON archive."""
    from dho import archive

    with unit(database, as_user) as (session, principal):
        doc = archive.export(session, principal)
    with errors_to_lines():
        archive.write(doc, output)
    rows = sum(len(t["rows"]) for t in doc["tables"].values())
    out.print(f"Exported {rows} rows in {len(doc['tables'])} tables to {output} (sha256 {doc['sha256'][:16]}...).")


@app.command("import")
def import_cmd(archive_file: Path, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Restore an archive into a new, empty database (schema is created if needed)."""
    from dho import archive

    db = _db(database)
    with errors_to_lines():
        migrate(db)
        with archive_file.open("rb") as fh:
            doc = archive.read(fh, get_settings().max_import_bytes)
    db.dispose()
    with unit(database, as_user) as (session, principal):
        counts = archive.restore(session, principal, doc)
    out.print(f"Imported {sum(counts.values())} rows in {len(counts)} tables.")


# ---------------------------------------------------------------- maturity


@maturity_app.command("lint")
def maturity_lint(
    files: Annotated[list[Path] | None, typer.Argument(help="Framework files (default: the shipped ones)")] = None,
    strict: Annotated[bool, typer.Option(help="Treat warnings as errors")] = False,
) -> None:
    """Check frameworks: one descriptor per phase, unique codes, numeric bands without gaps or overlaps."""
    from dho.maturity import service as maturity
    from dho.maturity.lint import lint

    docs: list[tuple[str, object]] = []
    if files:
        for f in files:
            try:
                docs.append((str(f), json.loads(f.read_text(encoding="utf-8"))))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                fail(f"{f}: cannot read a JSON framework ({exc})")
    else:
        frameworks, _cw = maturity.shipped_documents()
        docs = [(str(d["id"]), d) for d in frameworks]
    bad = 0
    for name, doc in docs:
        findings = lint(doc)
        for finding in findings:
            print(f"{name}: {finding}")
        bad += sum(1 for f in findings if f.level == "error" or strict)
        if not findings:
            print(f"{name}: no findings")
    if bad:
        raise typer.Exit(1)


def _transfer_format(fmt: str | None, path: Path) -> str:
    """The --format given, else the one the file's extension names (.xlsx, .json), else gdhm-csv."""
    from dho.maturity import transfer

    if fmt is None:
        fmt = {".xlsx": "xlsx", ".json": "json"}.get(path.suffix.lower(), "gdhm-csv")
    if fmt not in transfer.FORMATS:
        fail(f"format must be {', '.join(transfer.FORMATS)}")
    return fmt


@maturity_app.command("import")
def maturity_import(
    file: Path,
    fmt: Annotated[str | None, typer.Option("--format", help="gdhm-csv, xlsx or json (default: from the file "
                                                              "extension, .xlsx or .json, else gdhm-csv)")] = None,
    published: Annotated[bool, typer.Option(help="Data already published elsewhere: import it as published "
                                                 "(Secretariat; the CLI acts as the platform admin)")] = False,
    framework: Annotated[str, typer.Option(help="Framework of a GDHM CSV or XLSX file")] = "gdhm-current",
    database: DatabaseOpt = None, as_user: AsOpt = None,
) -> None:
    """Import assessments; every row is checked first and any error imports nothing."""
    from dho.maturity import transfer

    fmt = _transfer_format(fmt, file)
    with errors_to_lines():
        if file.stat().st_size > transfer.MAX_BYTES:
            raise DomainError(f"The file is larger than {transfer.MAX_BYTES // 1_000_000} MB.")
        data = file.read_bytes()
    with unit(database, as_user) as (session, principal):
        summary = transfer.import_file(session, principal, data, fmt, published, framework)
    out.print(f"Imported {summary['rows']} assessments ({summary['created']} new, {summary['updated']} updated)"
              + (", published." if published else "."))


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


@maturity_app.command("export")
def maturity_export(
    output: Annotated[Path, typer.Argument(help="File to write, '-' for stdout")],
    fmt: Annotated[str | None, typer.Option("--format", help="gdhm-csv, xlsx or json (default: from the file "
                                                              "extension, .xlsx or .json, else gdhm-csv)")] = None,
    country: str | None = None, year: int | None = None, framework: str = "gdhm-current",
    database: DatabaseOpt = None, as_user: AsOpt = None,
) -> None:
    """Export assessments in the GDHM layout (CSV or XLSX) or as JSON."""
    from dho.maturity import transfer

    fmt = _transfer_format(fmt, output)
    to_stdout = str(output) == "-"
    if fmt == "xlsx" and to_stdout and _stdout_is_terminal():
        fail("an XLSX workbook is binary: name a file to write (dho maturity export FILE.xlsx), "
             "or redirect the output to a file")
    with unit(database, as_user) as (session, principal):
        if fmt == "json":
            data = json.dumps(transfer.export_json(session, principal, framework, country, year),
                              ensure_ascii=False, indent=1).encode()
        elif fmt == "xlsx":
            data = transfer.export_xlsx(session, principal, framework, country, year)
        else:
            data = transfer.export_gdhm_csv(session, principal, framework, country, year).encode()
    if to_stdout:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with errors_to_lines():
            output.write_bytes(data)


@maturity_app.command("score")
def maturity_score(
    country: Annotated[str | None, typer.Option(help="ISO3 code")] = None,
    year: int | None = None,
    rule: Annotated[str, typer.Option(help="Phase rule: gdhm or nearest")] = "nearest",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON keyed ISO3:YEAR")] = False,
    framework: str = "gdhm-current",
    database: DatabaseOpt = None,
) -> None:
    """Scores and phases of published assessments."""
    from dho.maturity import service as maturity

    if rule not in ("gdhm", "nearest"):
        fail("rule must be gdhm or nearest")
    with unit(database) as (session, _principal):
        scores = maturity.published_scores(session, country=country, year=year, framework_id=framework, rule=rule)
    if as_json:
        print(json.dumps({key: s.as_dict() for key, s in scores.items()}, sort_keys=True))
        return
    table = Table(title=f"Published maturity scores (phase rule: {rule})")
    for col in ("country:year", "overall", "phase", "completeness"):
        table.add_column(col)
    for key, s in scores.items():
        d = s.overall.as_dict()
        table.add_row(key, str(d["score"]), str(d["phase"]), f"{s.overall.answered}/{s.overall.total}")
    out.print(table)


@maturity_app.command("check-links")
def maturity_check_links(
    limit: Annotated[int, typer.Option(help="At most this many links, the oldest checks first")] = 500,
    database: DatabaseOpt = None,
) -> None:
    """Check the web addresses of evidence items and record each result."""
    from dho.maturity import evidence

    with unit(database) as (session, principal):
        items = evidence.check_links(session, principal, limit=limit)
        rows = [(i.assessment_id, i.indicator_code, i.url or "", i.link_status or "", bool(i.link_ok)) for i in items]
    table = Table(title=f"Evidence links checked: {len(rows)}")
    for col in ("assessment", "indicator", "address", "result"):
        table.add_column(col)
    for aid, code, url, status, ok in rows:
        table.add_row(str(aid), code, url, f"[green]{status}[/]" if ok else f"[red]{status}[/]")
    out.print(table)


@app.command("version")
def version() -> None:
    """Print the version."""
    from dho import __version__

    print(json.dumps({"dho": __version__}))


if __name__ == "__main__":
    app()

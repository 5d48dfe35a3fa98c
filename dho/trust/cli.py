"""`dho trust ...`: the trust network at the command line.

The operator's side (``anchor``, ``participant add``, ``trustlist did``) is where the trust anchor's private
key is used: it is read from a file (normally passphrase-protected, the passphrase from an environment
variable) and never reaches the web process. The participant's side (``dsc sign``, ``revocation sign``,
``rules sign``) builds the CMS messages a participant uploads. ``trustlist export`` and ``revocation
export`` write what an offline verifier needs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from dho.cli_support import DatabaseOpt, fail, out, unit
from dho.trust import cli_verifier

trust_app = typer.Typer(help="The trust network: anchor, participants, document signers, revocation, rules, "
                             "trust lists", no_args_is_help=True)
anchor_app = typer.Typer(help="The trust anchor (the network operator's key)", no_args_is_help=True)
participant_app = typer.Typer(help="Participants and their registered certificates", no_args_is_help=True)
dsc_app = typer.Typer(help="Document signer certificates (DSC)", no_args_is_help=True)
revocation_app = typer.Typer(help="Revocation batches", no_args_is_help=True)
rules_app = typer.Typer(help="Business rules", no_args_is_help=True)
trustlist_app = typer.Typer(help="Trust lists for verifiers", no_args_is_help=True)
for _sub, _name in ((anchor_app, "anchor"), (participant_app, "participant"), (dsc_app, "dsc"),
                    (revocation_app, "revocation"), (rules_app, "rules"), (trustlist_app, "trustlist")):
    trust_app.add_typer(_sub, name=_name)
cli_verifier.register(trust_app)  # conformance, verify, verify-shc, issue: offline, no database

MAX_FILE = 4 * 1024 * 1024

AnchorCertOpt = Annotated[Path | None, typer.Option(
    "--anchor-cert", envvar="DHO_TRUST_ANCHOR_CERT",
    help="The trust anchor's certificate (PEM); default: the trust_anchor_cert setting")]
AnchorKeyOpt = Annotated[Path, typer.Option("--anchor-key", help="The trust anchor's private key (PEM)")]
PassEnvOpt = Annotated[str | None, typer.Option(
    "--passphrase-env", help="Name of the environment variable holding the key's passphrase")]
DomainOpt = Annotated[str, typer.Option("--domain", help="Trust domain (DCC, DDCC...)")]
AsOpt = Annotated[str | None, typer.Option("--as", help="Act as this user (default: the operator)")]
OutOpt = Annotated[Path, typer.Option("--out", help="The file to write")]


# ---------------------------------------------------------------- helpers


def _read(path: Path, what: str, limit: int = MAX_FILE) -> bytes:
    if not path.is_file():
        fail(f"no such {what} file: {path}")
    if path.stat().st_size > limit:
        fail(f"the {what} file {path} is larger than {limit} bytes")
    return path.read_bytes()


def _passphrase(var: str | None) -> str | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        fail(f"the environment variable {var} (--passphrase-env) is not set")
    return value


def _key(path: Path, passphrase_env: str | None) -> Any:
    from dho.trust.anchor import AnchorKeyError, load_private_key

    try:
        return load_private_key(path, _passphrase(passphrase_env))
    except AnchorKeyError as exc:
        fail(str(exc))
    return None  # pragma: no cover


def _certificate(path: Path, what: str) -> Any:
    from dho.trust.service import read_certificate

    try:
        return read_certificate(_read(path, what))
    except ValueError as exc:
        fail(f"{path} is not a certificate ({what}): {exc}")
    return None  # pragma: no cover


def _anchor_cert(path: Path | None) -> Any:
    return _certificate(path, "anchor certificate") if path is not None else None


def _write(path: Path, data: bytes, what: str) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    out.print(f"Wrote {what} to {path} ({len(data)} bytes).", highlight=False, markup=False, soft_wrap=True)


@contextmanager
def _work(database: str | None, as_user: str | None = None) -> Iterator[tuple[Any, Any]]:
    """A unit of work whose refusals print as one line: ``error: CODE: message (detail) [field: problem...]``."""
    from dho.trust.service import TrustRejected

    with unit(database, as_user) as (session, principal):
        try:
            yield session, principal
        except TrustRejected as exc:
            extra = "; ".join(f"{e.field}: {e.message}" for e in exc.errors[1:6])
            fail(exc.detail + (f" [{extra}]" if extra else ""))


def _sign_file(content: bytes, up_cert: Path, up_key: Path, passphrase_env: str | None, out_path: Path,
               what: str) -> None:
    import base64

    from dho.trust.cms import sign_cms

    cert = _certificate(up_cert, "upload certificate")
    key = _key(up_key, passphrase_env)
    try:
        signed = sign_cms(content, cert, key)
    except (TypeError, ValueError) as exc:
        fail(f"cannot sign with {up_key}: {exc}")
    _write(out_path, base64.b64encode(signed) + b"\n", what)


UpCertOpt = Annotated[Path, typer.Option("--up-cert", help="Your upload (UP) certificate (PEM or DER)")]
UpKeyOpt = Annotated[Path, typer.Option("--up-key", help="The UP certificate's private key (PEM)")]


# ---------------------------------------------------------------- anchor


@anchor_app.command("init")
def anchor_init(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for anchor-key.pem and anchor-cert.pem")],
    passphrase_env: PassEnvOpt = None,
    key_type: Annotated[str, typer.Option("--key-type", help="ec (P-256) or rsa (3072 bits)")] = "ec",
    name: Annotated[str, typer.Option("--name", help="The anchor certificate's common name")] = "DHO Trust Anchor",
) -> None:
    """Make the trust anchor: a private key (file mode 0600, encrypted when --passphrase-env is given) and
    its self-signed certificate, which the web server is given with DHO_TRUST_ANCHOR_CERT."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from dho.trust.anchor import AnchorKeyError, anchor_certificate, generate_key, write_private_key

    if key_type not in ("ec", "rsa"):
        fail("--key-type is ec or rsa")
    passphrase = _passphrase(passphrase_env)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create {out_dir}: {exc.strerror or exc}")
    key_path, cert_path = out_dir / "anchor-key.pem", out_dir / "anchor-cert.pem"
    if cert_path.exists():
        fail(f"{cert_path} exists; refusing to replace a trust anchor")
    key = generate_key(key_type)
    try:
        write_private_key(key, key_path, passphrase)
    except AnchorKeyError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {key_path}: {exc.strerror or exc}")
    _write(cert_path, anchor_certificate(key, name=name).public_bytes(Encoding.PEM), "the anchor certificate")
    out.print(f"Wrote the anchor key to {key_path} (mode 0600{', encrypted' if passphrase else ''}). Keep it off "
              f"the web server; give the server DHO_TRUST_ANCHOR_CERT={cert_path}.", highlight=False, markup=False,
              soft_wrap=True)


# ---------------------------------------------------------------- participants


@participant_app.command("add")
def participant_add(
    country: Annotated[str, typer.Argument(help="The participant's code (ISO 3166 alpha-2 for DCC)")],
    group: Annotated[str, typer.Option("--group", help="UP, SCA or TLS")],
    cert: Annotated[Path, typer.Option("--cert", help="The certificate to register (PEM or DER)")],
    anchor_key: AnchorKeyOpt,
    passphrase_env: PassEnvOpt = None,
    anchor_cert: AnchorCertOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="The participant's name")] = None,
    domain: DomainOpt = "DCC",
    database: DatabaseOpt = None,
    as_user: AsOpt = None,
) -> None:
    """Register a participant's certificate, signed by the trust anchor."""
    from dho.trust import service

    data = _read(cert, "certificate")
    key = _key(anchor_key, passphrase_env)
    trusted = _anchor_cert(anchor_cert)
    with _work(database, as_user) as (session, principal):
        row = service.onboard_participant(session, principal, country=country, group=group, certificate=data,
                                          anchor_key=key, anchor_cert=trusted, domain=domain, name=name)
        line = f"Registered {row.group} certificate {row.thumbprint} for {row.country} ({row.domain})."
    out.print(line, highlight=False, markup=False, soft_wrap=True)


@participant_app.command("list")
def participant_list(
    anchor_cert: AnchorCertOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Every registered certificate, with the result of the anchor check (exit 1 when one fails it)."""
    from dho.trust import service

    trusted = _anchor_cert(anchor_cert)
    with _work(database) as (session, _principal):
        rows = service.participants(session, anchor_cert=trusted)
    if as_json:
        out.print_json(json.dumps(rows))
    else:
        for r in rows:
            state = "ok" if r["problem"] is None else f"REFUSED: {r['problem']}"
            out.print(f"{r['domain']} {r['country']:<3} {r['group']:<3} {r['thumbprint'][:16]}... until "
                      f"{r['not_after'][:10]}  {r['name']}  {state}", highlight=False, markup=False, soft_wrap=True)
        if not rows:
            out.print("No participant certificates.")
    if any(r["problem"] for r in rows):
        raise typer.Exit(1)


# ---------------------------------------------------------------- document signers


@dsc_app.command("sign")
def dsc_sign(
    cert: Annotated[Path, typer.Option("--cert", help="The document signer certificate (PEM or DER)")],
    up_cert: UpCertOpt,
    up_key: UpKeyOpt,
    out_path: OutOpt,
    passphrase_env: PassEnvOpt = None,
) -> None:
    """(Participant) Sign a document signer certificate with your UP key, for upload or for deletion."""
    from cryptography.hazmat.primitives.serialization import Encoding

    der = _certificate(cert, "document signer").public_bytes(Encoding.DER)
    _sign_file(der, up_cert, up_key, passphrase_env, out_path, "the signed document signer (CMS, base64)")


@dsc_app.command("upload")
def dsc_upload(file: Annotated[Path, typer.Argument(help="CMS from `dho trust dsc sign`")],
               anchor_cert: AnchorCertOpt = None, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Add a document signer to the trust list (all checks of the gateway, in order)."""
    from dho.trust import service

    data = _read(file, "CMS")
    with _work(database, as_user) as (session, principal):
        row = service.upload_dsc(session, principal, data, anchor_cert=_anchor_cert(anchor_cert))
        line = f"Uploaded document signer {row.kid.hex()} ({row.country}), valid until {row.not_after.date()}."
    out.print(line, highlight=False, markup=False)


@dsc_app.command("delete")
def dsc_delete(file: Annotated[Path, typer.Argument(help="CMS of the DSC, signed by the same participant's UP")],
               anchor_cert: AnchorCertOpt = None, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Withdraw a document signer from the trust list."""
    from dho.trust import service

    data = _read(file, "CMS")
    with _work(database, as_user) as (session, principal):
        row = service.delete_dsc(session, principal, data, anchor_cert=_anchor_cert(anchor_cert))
        line = f"Deleted document signer {row.kid.hex()} ({row.country})."
    out.print(line, highlight=False, markup=False)


# ---------------------------------------------------------------- revocation


@revocation_app.command("sign")
def revocation_sign(
    batch: Annotated[Path, typer.Argument(help="The batch JSON (or {\"batchId\": ...} to delete one)")],
    up_cert: UpCertOpt,
    up_key: UpKeyOpt,
    out_path: OutOpt,
    passphrase_env: PassEnvOpt = None,
) -> None:
    """(Participant) Sign a revocation batch, or a batch deletion, with your UP key."""
    _sign_json_file(batch, "batch", up_cert, up_key, passphrase_env, out_path)


def _sign_json_file(path: Path, what: str, up_cert: Path, up_key: Path, passphrase_env: str | None,
                    out_path: Path) -> None:
    """Sign a JSON document (a batch, a rule) with the participant's UP key; refuse what is not JSON."""
    data = _read(path, what)
    try:
        json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{path} is not JSON: {exc}")
    _sign_file(data, up_cert, up_key, passphrase_env, out_path, f"the signed {what} (CMS, base64)")


@revocation_app.command("upload")
def revocation_upload(file: Annotated[Path, typer.Argument(help="CMS from `dho trust revocation sign`")],
                      anchor_cert: AnchorCertOpt = None, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Store a revocation batch (at most 1000 entries, an expiry in the future)."""
    from dho.trust import service

    data = _read(file, "CMS")
    with _work(database, as_user) as (session, principal):
        row = service.upload_batch(session, principal, data, anchor_cert=_anchor_cert(anchor_cert))
        line = f"Stored revocation batch {row.batch_id} ({row.country}, {row.hash_type}), expires {row.expires.date()}."
    out.print(line, highlight=False, markup=False)


@revocation_app.command("delete")
def revocation_delete(file: Annotated[Path, typer.Argument(help="CMS of {\"batchId\": ...}")],
                      anchor_cert: AnchorCertOpt = None, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Delete a revocation batch."""
    from dho.trust import service

    data = _read(file, "CMS")
    with _work(database, as_user) as (session, principal):
        row = service.delete_batch(session, principal, data, anchor_cert=_anchor_cert(anchor_cert))
        line = f"Deleted revocation batch {row.batch_id}."
    out.print(line, highlight=False, markup=False)


@revocation_app.command("export")
def revocation_export(
    out_path: OutOpt,
    since: Annotated[str | None, typer.Option("--since", help="Only batches changed after this ISO date-time")]
    = None,
    domain: DomainOpt = "DCC",
    database: DatabaseOpt = None,
) -> None:
    """Write the batches (signed CMS; deletions as such) for an offline verifier."""
    from dho.trust import service

    with _work(database) as (session, _principal):
        items = service.export_batches(session, since=service.parse_since(since), domain=domain)
    _write(out_path, json.dumps(items, indent=1).encode(), f"{len(items)} revocation batches")


# ---------------------------------------------------------------- rules


@rules_app.command("sign")
def rules_sign(rule: Annotated[Path, typer.Argument(help="The rule JSON (gateway format)")], up_cert: UpCertOpt,
               up_key: UpKeyOpt, out_path: OutOpt, passphrase_env: PassEnvOpt = None) -> None:
    """(Participant) Sign a business rule with your UP key."""
    _sign_json_file(rule, "rule", up_cert, up_key, passphrase_env, out_path)


@rules_app.command("upload")
def rules_upload(file: Annotated[Path, typer.Argument(help="CMS from `dho trust rules sign`")],
                 anchor_cert: AnchorCertOpt = None, database: DatabaseOpt = None, as_user: AsOpt = None) -> None:
    """Store a business rule (checked in full; a new version must be higher than the last)."""
    from dho.trust import service

    data = _read(file, "CMS")
    with _work(database, as_user) as (session, principal):
        row = service.upload_rule(session, principal, data, anchor_cert=_anchor_cert(anchor_cert))
        line = f"Stored rule {row.identifier} {row.version}."
    out.print(line, highlight=False, markup=False)


# ---------------------------------------------------------------- trust lists


@trustlist_app.command("export")
def trustlist_export(
    out_path: OutOpt,
    cert_type: Annotated[str | None, typer.Option("--type", help="DSC, UPLOAD, CSCA or AUTHENTICATION")] = None,
    country: Annotated[str | None, typer.Option("--country", help="One participant")] = None,
    domain: DomainOpt = "DCC",
    anchor_cert: AnchorCertOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Write the trust list in the gateway layout (what `dho trust verify --trust` reads)."""
    from dho.trust import service

    with _work(database) as (session, _principal):
        entries = service.trust_list(session, domain, cert_type=cert_type,
                                     country=country.upper() if country else None,
                                     anchor_cert=_anchor_cert(anchor_cert))
    _write(out_path, json.dumps(entries, indent=1).encode(), f"{len(entries)} trust list entries")


@trustlist_app.command("did")
def trustlist_did(
    anchor_key: AnchorKeyOpt,
    out_path: OutOpt,
    passphrase_env: PassEnvOpt = None,
    domain: DomainOpt = "DCC",
    country: Annotated[str | None, typer.Option("--country", help="One participant")] = None,
    usage: Annotated[str | None, typer.Option("--usage", help="DSC, SCA, UP or TLS")] = None,
    did_base: Annotated[str, typer.Option("--did-base", help="The DID the list's id starts with")]
    = "did:web:localhost:api:trust:did",
    store: Annotated[bool, typer.Option("--store/--no-store", help="Also keep it for the API to serve")] = True,
    anchor_cert: AnchorCertOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Sign the DID trust list with the anchor key, write it, and keep it for GET /api/trust/did/..."""
    from dho.trust import service

    if not did_base.startswith("did:") or any(c.isspace() for c in did_base) or len(did_base) > 200:
        fail("--did-base must be a DID such as did:web:example.org:trust")
    key = _key(anchor_key, passphrase_env)
    with _work(database) as (session, principal):
        path, doc = service.sign_did_document(session, principal, key, did_base=did_base, domain=domain,
                                              country=country, usage=usage, anchor_cert=_anchor_cert(anchor_cert),
                                              store=store)
    _write(out_path, json.dumps(doc, indent=1).encode(),
           f"the signed DID trust list {doc['id']} ({len(doc['verificationMethod'])} keys"
           + (f", served at /api/trust/{path}" if store else "") + ")")

"""`dho trust conformance | verify | verify-shc | issue`: the offline verifier and issuer at the command line.
None of these commands touches the database: a verifier needs only a downloaded trust list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from dho.cli_support import fail, out

MAX_FILE = 20 * 1024 * 1024


def _read(path: Path, what: str, limit: int = MAX_FILE) -> bytes:
    if not path.is_file():
        fail(f"no such {what} file: {path}")
    if path.stat().st_size > limit:
        fail(f"the {what} file is larger than {limit // (1024 * 1024)} MB")
    return path.read_bytes()


def _json_file(path: Path, what: str):
    try:
        return json.loads(_read(path, what))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"the {what} file is not JSON: {exc}")


def load_trust(path: Path):
    """A trust store from a gateway trust list (JSON array), a DID trust list, or one certificate (PEM/DER)."""
    from dho.trust.hcert import TrustStore
    from dho.trust.keys import SignerKey, load_certificate

    raw = _read(path, "trust list")
    text = raw.lstrip()[:1]
    if text in (b"[", b"{"):
        from dho.trust import trustlist

        doc = _json_file(path, "trust list")
        try:
            if isinstance(doc, list):
                return trustlist.load_gateway_trustlist(doc)
            return trustlist.load_did_trustlist(doc)
        except ValueError as exc:
            fail(f"the trust list cannot be read: {exc}")
    try:
        return TrustStore([SignerKey.from_certificate(load_certificate(raw), source=path.name)])
    except ValueError as exc:
        fail(f"the trust list is neither JSON nor a certificate: {exc}")
    return None  # pragma: no cover


def _when(at: str | None) -> datetime | None:
    if not at:
        return None
    try:
        when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--at is not an ISO date-time: {at}")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    @app.command("conformance")
    def conformance_cmd(
        directory: Annotated[Path, typer.Argument(help="Folder of EU DCC test vectors (any layout)")],
        known_issues: Annotated[Path | None, typer.Option("--known-issues", help="CSV of upstream known issues")]
        = None,
        as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line of totals")] = False,
    ) -> None:
        """Run EU DCC test vectors against the platform's verifier; exit 1 on any disagreement."""
        from dho.trust.conformance import run

        if not directory.is_dir():
            fail(f"no such folder: {directory}")
        if known_issues is not None and not known_issues.is_file():
            fail(f"no such known-issues file: {known_issues}")
        report = run(directory, known_issues=known_issues)
        for country, counts in report.by_country().items():
            print(f"{country:8} agree {counts['agree']:5}  disagree {counts['disagree']:4}  "
                  f"not judged {counts['not_judged']:4}")
        totals = report.totals()
        print(f"{'total':8} agree {totals['agree']:5}  disagree {totals['disagree']:4}  "
              f"not judged {totals['not_judged']:4}  ({totals['total']} expectations)")
        for o in report.disagreements:
            print(f"DISAGREE {o.file} {o.expectation}: expected {str(o.expected).lower()}, "
                  f"platform says {str(o.actual).lower()}" + (f" at stage {o.stage} ({o.reason})" if o.stage else ""))
        known = [o for o in report.outcomes if o.known_issue and o.actual is not None and o.actual != o.expected]
        for o in known:
            print(f"known issue {o.file} {o.expectation}: expected {str(o.expected).lower()} ({o.reason})")
        if as_json:
            print(json.dumps(totals))
        if totals["disagree"]:
            raise typer.Exit(1)

    @app.command("verify")
    def verify_cmd(
        certificate: Annotated[str | None, typer.Argument(help="The HC1: string (or use --file / --image)")] = None,
        trust_list: Annotated[Path, typer.Option("--trust-list", help="Gateway or DID trust list, or a DSC")]
        = Path("trustlist.json"),
        file: Annotated[Path | None, typer.Option("--file", help="Read the string from this file")] = None,
        image: Annotated[Path | None, typer.Option("--image", help="Read the QR code from a PNG or JPEG")] = None,
        revocation: Annotated[Path | None, typer.Option("--revocation", help="Revocation batches (JSON)")] = None,
        rules: Annotated[Path | None, typer.Option("--rules", help="Business rules (JSON array)")] = None,
        arrival: Annotated[str | None, typer.Option("--country-of-arrival", help="Apply this country's rules")]
        = None,
        at: Annotated[str | None, typer.Option("--at", help="Verify as of this ISO date-time")] = None,
        lang: Annotated[str, typer.Option("--lang", help="en or fr")] = "en",
        as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON")] = False,
    ) -> None:
        """Verify one health certificate offline; exit 0 when valid, 2 when not."""
        from dho.trust.hcert import Context, HcertVerifier

        texts = _inputs(certificate, file, image)
        store = load_trust(trust_list)
        verifier = HcertVerifier(store)
        if revocation is not None:
            from dho.trust import trustlist

            try:
                verifier.revocation = trustlist.load_revocation(_json_file(revocation, "revocation"))
            except ValueError as exc:
                fail(f"the revocation file cannot be read: {exc}")
        if rules is not None:
            verifier.rules = _rules(rules)
        ctx = Context(now=_when(at), country_of_arrival=arrival.upper() if arrival else None)
        verdicts = [verifier.verify(t, ctx) for t in texts]
        _print(verdicts, lang, as_json)
        if not all(v.valid for v in verdicts):
            raise typer.Exit(2)

    @app.command("verify-batch")
    def verify_batch_cmd(
        qr_file: Annotated[Path, typer.Argument(help="A text file with one HC1: string per line")],
        trust_list: Annotated[list[Path], typer.Option("--trust-list", help="Gateway or DID trust list, or a "
                                                                            "DSC certificate (repeatable)")],
        revocation: Annotated[list[Path] | None, typer.Option("--revocation", help="Revocation batches (JSON)")]
        = None,
        rules: Annotated[list[Path] | None, typer.Option("--rules", help="Business rules (JSON)")] = None,
        arrival: Annotated[str | None, typer.Option("--country-of-arrival", help="Apply this country's rules")]
        = None,
        jobs: Annotated[int | None, typer.Option("--jobs", min=1, max=256, help="Processes (default: all cores)")]
        = None,
        results: Annotated[Path | None, typer.Option("--out", help="Write one JSON line per input here")] = None,
        progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar")] = True,
    ) -> None:
        """Verify a file of certificates on every core; prints the counts by error code."""
        from dho.trust.batch import BatchSetupError, run_batch

        if not qr_file.is_file():
            fail(f"no such file: {qr_file}")
        certificates, lists = [], []
        for path in trust_list:
            head = _read(path, "trust list")[:64].lstrip()[:1]
            (lists if head in (b"[", b"{") else certificates).append(path)
        try:
            summary = run_batch(qr_file, certificates=certificates, trust_lists=lists, revocation=revocation or [],
                                rules=rules or [], country_of_arrival=arrival.upper() if arrival else None,
                                jobs=jobs, out=results, progress=progress)
        except BatchSetupError as exc:
            fail(str(exc))
        print(json.dumps(summary.as_dict()))

    @app.command("verify-shc")
    def verify_shc_cmd(
        card: Annotated[Path, typer.Argument(help="shc:/ text (one chunk per line), a JWS or a .smart-health-card")],
        key_set: Annotated[list[Path], typer.Option("--key-set", help="Issuer JWKS file (repeatable)")],
        issuer: Annotated[list[str], typer.Option("--issuer", help="The iss URL of each --key-set, in order")],
        crl: Annotated[list[Path] | None, typer.Option("--crl", help="Revocation list JSON (repeatable)")] = None,
        at: Annotated[str | None, typer.Option("--at", help="Verify as of this ISO date-time")] = None,
        lang: Annotated[str, typer.Option("--lang", help="en or fr")] = "en",
        as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON")] = False,
    ) -> None:
        """Verify a SMART Health Card offline against issuer key sets; exit 0 when valid, 2 when not."""
        from dho.trust import shc

        if len(issuer) != len(key_set):
            fail("give one --issuer per --key-set")
        sets = {iss: _json_file(p, "key set") for iss, p in zip(issuer, key_set, strict=True)}
        crls = {}
        for p in crl or []:
            doc = _json_file(p, "revocation list")
            if isinstance(doc, dict) and isinstance(doc.get("kid"), str):
                crls[doc["kid"]] = doc
        raw = _read(card, "card").decode("utf-8", "replace")
        if raw.lstrip().startswith("{"):
            verdicts = shc.verify_shc_file(raw, key_sets=sets, crls=crls, now=_when(at))
        else:
            verdicts = [shc.verify_shc(raw, key_sets=sets, crls=crls, now=_when(at))]
        _print(verdicts, lang, as_json)
        if not verdicts or not all(v.valid for v in verdicts):
            raise typer.Exit(2)

    @app.command("issue")
    def issue_cmd(
        payload: Annotated[Path, typer.Argument(help="The certificate payload (EU DCC or DDCC:VS JSON)")],
        dsc_cert: Annotated[Path, typer.Option("--dsc-cert", help="Document-signer certificate (PEM or DER)")],
        dsc_key: Annotated[Path, typer.Option("--dsc-key", help="Its private key (PEM)")],
        kind: Annotated[str, typer.Option("--kind", help="eu-dcc or ddcc")] = "eu-dcc",
        days: Annotated[int, typer.Option("--days", min=1, max=3650, help="Validity in days (capped at the "
                                                                              "DSC's end)")] = 365,
        passphrase_env: Annotated[str | None, typer.Option("--passphrase-env", help="Variable holding the key "
                                                                                    "passphrase")] = None,
        png: Annotated[Path | None, typer.Option("--png", help="Write the QR code as PNG here")] = None,
        svg: Annotated[Path | None, typer.Option("--svg", help="Write the QR code as SVG here")] = None,
    ) -> None:
        """Sign a payload into an HC1: string (printed), with optional QR images."""
        import os

        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        from dho.trust.issue import IssueError, build_hcert
        from dho.trust.keys import load_certificate
        from dho.trust.pki import subject_country

        document = _json_file(payload, "payload")
        try:
            cert = load_certificate(_read(dsc_cert, "certificate"))
        except ValueError as exc:
            fail(f"the DSC certificate cannot be read: {exc}")
        secret = os.environ.get(passphrase_env, "").encode() if passphrase_env else None
        try:
            key = load_pem_private_key(_read(dsc_key, "key"), password=secret or None)
        except (ValueError, TypeError) as exc:
            fail(f"the DSC key cannot be read (wrong passphrase?): {exc}")
        if not isinstance(document, dict):
            fail("the payload must be a JSON object")
        try:
            issued = build_hcert(document, dsc_cert=cert, dsc_key=key, kind=kind,
                                 issuer_country=subject_country(cert) or "", valid_for=timedelta(days=days))
        except IssueError as exc:
            fail(str(exc))
        if png:
            png.write_bytes(issued.png())
        if svg:
            svg.write_text(issued.svg(), encoding="utf-8")
        print(issued.text)


def _inputs(certificate: str | None, file: Path | None, image: Path | None) -> list[str]:
    given = [x for x in (certificate, file, image) if x is not None]
    if len(given) != 1:
        fail("give exactly one of: the string, --file, --image")
    if certificate is not None:
        return [certificate]
    if file is not None:
        return [_read(file, "certificate", 64 * 1024).decode("utf-8", "replace").strip()]
    from dho.trust.qr import QrImageError, decode_image

    try:
        texts = decode_image(_read(image, "image"))
    except QrImageError as exc:
        fail(f"{exc}")
    return texts


def _rules(path: Path) -> list:
    from dho.trust.rules import RuleError, parse_rule

    doc = _json_file(path, "rules")
    if not isinstance(doc, list):
        fail("the rules file must be a JSON array of rules")
    parsed = []
    for i, obj in enumerate(doc):
        try:
            parsed.append(parse_rule(obj))
        except RuleError as exc:
            fail(f"rule {i + 1}: {exc}")
    return parsed


def _print(verdicts, lang: str, as_json: bool) -> None:
    for v in verdicts:
        if as_json:
            print(json.dumps(v.as_dict(lang), default=str, ensure_ascii=False))
            continue
        if v.valid:
            out.print(f"[green]VALID[/green] {v.data.get('kind', '')} from {v.data.get('iss') or '?'}"
                      f" (kid {v.data.get('kid', '?')})", highlight=False)
        else:
            f = v.failure
            out.print(f"[red]NOT VALID[/red] at stage {f.stage}: {f.code}: {f.message(lang)}", highlight=False,
                      soft_wrap=True)
        for w in v.warnings:
            out.print(f"  warning: {w}", highlight=False)

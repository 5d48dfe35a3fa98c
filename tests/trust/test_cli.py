"""`dho trust ...`: the whole network journey at the command line, and errors as one clear line."""

from __future__ import annotations

import json
import os
import stat

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from dho.cli import app
from dho.trust import testpki
from dho.trust.did import verify_did_document
from dho.trust.hcert import HcertVerifier
from dho.trust.keys import load_certificate
from dho.trust.models import ParticipantCertificate
from dho.trust.trustlist import load_did_trustlist, load_gateway_trustlist, load_revocation, upload_thumbprints
from tests.trust.network import Country, batch, issue, rule

runner = CliRunner()
PASS = {"ANCHOR_PASS": "correct horse battery staple", "UP_PASS": "up secret"}


def run(*args: str, env: dict | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["trust", *args], env={**PASS, **(env or {})}, catch_exceptions=False)


def error_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.fixture
def site(db, tmp_path):
    """An anchor made by `anchor init`, and Kenya's certificates and keys as files."""
    r = run("anchor", "init", "--out", str(tmp_path / "anchor"), "--passphrase-env", "ANCHOR_PASS")
    assert r.exit_code == 0, r.output
    ke = Country.make("KE")
    for name, data in (("sca.pem", ke.sca.pem), ("up.pem", ke.up.pem), ("tls.pem", ke.tls.pem),
                       ("up.key", ke.up.key_pem("up secret"))):
        (tmp_path / name).write_bytes(data)
    common = ["--database", db.url, "--anchor-cert", str(tmp_path / "anchor" / "anchor-cert.pem")]
    return db, ke, tmp_path, common


def add(site, group: str, file: str):  # type: ignore[no-untyped-def]
    _db, _ke, tmp, common = site
    return run("participant", "add", "KE", "--group", group, "--cert", str(tmp / file), "--anchor-key",
               str(tmp / "anchor" / "anchor-key.pem"), "--passphrase-env", "ANCHOR_PASS", "--name", "Kenya", *common)


def sign(site, kind: str, source, out: str):  # type: ignore[no-untyped-def]
    _db, _ke, tmp, _common = site
    flag = ["--cert", str(source)] if kind == "dsc" else [str(source)]
    r = run(kind, "sign", *flag, "--up-cert", str(tmp / "up.pem"), "--up-key", str(tmp / "up.key"),
            "--passphrase-env", "UP_PASS", "--out", str(tmp / out))
    assert r.exit_code == 0, r.output
    return tmp / out


def test_anchor_init_writes_a_private_key_file(site):
    _db, _ke, tmp, _common = site
    key = tmp / "anchor" / "anchor-key.pem"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert b"ENCRYPTED" in key.read_bytes()
    load_certificate((tmp / "anchor" / "anchor-cert.pem").read_bytes())
    again = run("anchor", "init", "--out", str(tmp / "anchor"))
    assert "refusing" in error_line(again)


def test_journey_from_the_command_line(site):
    db, ke, tmp, common = site
    for group, file in (("SCA", "sca.pem"), ("UP", "up.pem"), ("TLS", "tls.pem")):
        r = add(site, group, file)
        assert r.exit_code == 0 and f"Registered {group} certificate" in r.output, r.output
    r = run("participant", "list", *common)
    assert r.exit_code == 0 and r.output.count(" ok") == 3, r.output

    dsc = ke.new_dsc()
    (tmp / "dsc.pem").write_bytes(dsc.pem)
    cms = sign(site, "dsc", tmp / "dsc.pem", "dsc.cms")
    r = run("dsc", "upload", str(cms), *common)
    assert r.exit_code == 0 and dsc.kid.hex() in r.output, r.output
    r = run("trustlist", "export", "--out", str(tmp / "tl.json"), *common)
    assert r.exit_code == 0, r.output
    listed = json.loads((tmp / "tl.json").read_text())
    cert = issue(dsc, "KE")
    assert HcertVerifier(load_gateway_trustlist(listed)).verify(cert.text).valid

    (tmp / "batch.json").write_text(json.dumps(batch("KE", [cert.hashes()["UCI"]], hash_type="UCI")))
    r = run("revocation", "upload", str(sign(site, "revocation", tmp / "batch.json", "batch.cms")), *common)
    assert r.exit_code == 0 and "Stored revocation batch" in r.output, r.output
    r = run("revocation", "export", "--out", str(tmp / "revoked.json"), "--database", db.url)
    assert r.exit_code == 0, r.output
    index = load_revocation((tmp / "revoked.json").read_bytes(), uploaders=upload_thumbprints(listed))
    assert HcertVerifier(load_gateway_trustlist(listed), revocation=index).verify(cert.text).failure.code == \
        "HC_REVOKED"

    r = run("trustlist", "did", "--anchor-key", str(tmp / "anchor" / "anchor-key.pem"), "--passphrase-env",
            "ANCHOR_PASS", "--out", str(tmp / "did.json"), "--did-base", "did:web:example.org", *common)
    assert r.exit_code == 0 and "/api/trust/did/DCC" in r.output, r.output
    doc = json.loads((tmp / "did.json").read_text())
    anchor_cert = load_certificate((tmp / "anchor" / "anchor-cert.pem").read_bytes())
    assert verify_did_document(doc, anchor_cert.public_key())
    assert HcertVerifier(load_did_trustlist(doc, anchor_cert)).verify(cert.text).valid

    (tmp / "rule.json").write_text(json.dumps(rule("KE")))
    r = run("rules", "upload", str(sign(site, "rules", tmp / "rule.json", "rule.cms")), *common)
    assert r.exit_code == 0 and "VR-KE-0001 1.0.0" in r.output, r.output

    r = run("dsc", "delete", str(cms), *common)
    assert r.exit_code == 0 and "Deleted" in r.output, r.output
    run("trustlist", "export", "--out", str(tmp / "tl2.json"), *common)
    after = load_gateway_trustlist((tmp / "tl2.json").read_bytes())
    assert HcertVerifier(after, revocation=index).verify(cert.text).failure.code == "HC_KID_UNKNOWN"


def test_errors_are_one_line(site):
    db, ke, tmp, common = site
    assert "wrong passphrase" in error_line(run(
        "participant", "add", "KE", "--group", "SCA", "--cert", str(tmp / "sca.pem"), "--anchor-key",
        str(tmp / "anchor" / "anchor-key.pem"), "--passphrase-env", "UP_PASS", *common))
    assert "PKI_SCA_NOT_CA" in error_line(add(site, "SCA", "up.pem"))
    assert "not set" in error_line(run("participant", "add", "KE", "--group", "UP", "--cert", str(tmp / "up.pem"),
                                       "--anchor-key", str(tmp / "anchor" / "anchor-key.pem"), "--passphrase-env",
                                       "NO_SUCH_VARIABLE", *common))
    assert add(site, "UP", "up.pem").exit_code == 0
    # a DSC of another country, signed by Kenya: refused with its code, nothing stored
    (tmp / "tz.pem").write_bytes(ke.new_dsc(country="TZ").pem)
    line = error_line(run("dsc", "upload", str(sign(site, "dsc", tmp / "tz.pem", "tz.cms")), *common))
    assert line.startswith("error: PKI_DSC_COUNTRY: ")
    (tmp / "junk.cms").write_bytes(b"not a CMS at all")
    assert "PKI_CMS_MALFORMED" in error_line(run("dsc", "upload", str(tmp / "junk.cms"), *common))
    assert "no such CMS file" in error_line(run("dsc", "upload", str(tmp / "missing.cms"), *common))
    (tmp / "big.json").write_text(json.dumps(batch("KE", [bytes([i % 256, i // 256]) * 8 for i in range(1001)])))
    line = error_line(run("revocation", "upload", str(sign(site, "revocation", tmp / "big.json", "big.cms")), *common))
    assert "REVOCATION_BATCH_TOO_LARGE" in line
    stranger = testpki.make_up("KE")
    (tmp / "stranger.pem").write_bytes(stranger.pem)
    (tmp / "stranger.key").write_bytes(stranger.key_pem())
    (tmp / "dsc.pem").write_bytes(ke.new_dsc().pem)
    r = run("dsc", "sign", "--cert", str(tmp / "dsc.pem"), "--up-cert", str(tmp / "stranger.pem"), "--up-key",
            str(tmp / "stranger.key"), "--out", str(tmp / "stranger.cms"))
    assert r.exit_code == 0
    assert "TRUST_UPLOADER_UNKNOWN" in error_line(run("dsc", "upload", str(tmp / "stranger.cms"), *common))
    assert "TRUST_ANCHOR_MISSING" in error_line(run("trustlist", "export", "--out", str(tmp / "x.json"),
                                                    "--database", db.url, env={"DHO_TRUST_ANCHOR_CERT": ""}))


def test_participant_list_flags_a_tampered_registration(site):
    db, _ke, _tmp, common = site
    assert add(site, "UP", "up.pem").exit_code == 0
    with db.session() as s:
        s.execute(update(ParticipantCertificate).values(country="TZ"))
    r = run("participant", "list", *common)
    assert r.exit_code == 1 and "REFUSED" in r.output, r.output

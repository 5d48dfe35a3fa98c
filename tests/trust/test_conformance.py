"""The EU DCC conformance runner (``dho trust conformance``) against the public test vectors, plus the
SMART Health Card examples: the acceptance check of the verifier, run in CI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dho.cli import app
from dho.trust.conformance import run

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"
VECTORS = TESTDATA / "dgc-testdata"
KNOWN = VECTORS / "tests" / "known_issues.csv"

needs_vectors = pytest.mark.skipif(not VECTORS.is_dir() and os.environ.get("CI") != "true",
                                   reason="../shared/testdata is not beside the project")


@needs_vectors
def test_runner_agrees_with_every_judged_expectation():
    result = CliRunner().invoke(app, ["trust", "conformance", str(VECTORS), "--known-issues", str(KNOWN), "--json"])
    assert result.exit_code == 0, result.output[-3000:]
    totals = json.loads(result.output.strip().splitlines()[-1])
    assert set(totals) == {"total", "agree", "disagree", "not_judged"}
    assert totals["disagree"] == 0
    assert totals["total"] == totals["agree"] + totals["not_judged"]
    assert totals["agree"] >= 3400  # nearly everything is judged; a regression in a stage shows here
    assert "NL " in result.output and "common " in result.output


@needs_vectors
def test_without_known_issues_the_upstream_errors_disagree_and_exit_1():
    result = CliRunner().invoke(app, ["trust", "conformance", str(VECTORS), "--json"])
    assert result.exit_code == 1
    assert "DISAGREE ES/2DCode/raw/401.json EXPECTEDVERIFY" in result.output
    assert json.loads(result.output.strip().splitlines()[-1])["disagree"] >= 4


@needs_vectors
def test_every_country_has_agreements_and_pictures_are_read():
    report = run(VECTORS, known_issues=KNOWN)
    by_country = report.by_country()
    assert {"AT", "BE", "CH", "CZ", "DE", "DK", "ES", "FR", "IT", "NL", "SE", "common"} <= set(by_country)
    assert all(c["agree"] > 0 and c["disagree"] == 0 for c in by_country.values())
    pictures = [o for o in report.outcomes if o.expectation == "EXPECTEDPICTUREDECODE" and o.actual is not None]
    assert len(pictures) > 300 and all(o.actual == o.expected for o in pictures)


def test_hostile_vector_folder_never_crashes(tmp_path):
    (tmp_path / "XX" / "2DCode" / "raw").mkdir(parents=True)
    raw = tmp_path / "XX" / "2DCode" / "raw"
    (raw / "broken.json").write_text("{not json", encoding="utf-8")
    (raw / "list.json").write_text("[1, 2]", encoding="utf-8")
    (raw / "binary.json").write_bytes(b"\xff\xfe\x00")
    (raw / "huge.json").write_bytes(b'{"EXPECTEDRESULTS": {}, "x": "' + b"a" * (3 * 1024 * 1024) + b'"}')
    (raw / "weird.json").write_text(json.dumps({
        "PREFIX": "HC1:!!!", "BASE45": 12, "COSE": "zz", "COMPRESSED": "78", "CBOR": "ff",
        "TESTCTX": {"CERTIFICATE": "bm90IGEgY2VydA==", "VALIDATIONCLOCK": "yesterday"},
        "EXPECTEDRESULTS": {"EXPECTEDUNPREFIX": True, "EXPECTEDB45DECODE": True, "EXPECTEDVERIFY": True,
                            "EXPECTEDCOMPRESSION": False, "EXPECTEDDECODE": True, "EXPECTEDEXPIRATIONCHECK": True,
                            "EXPECTEDSOMETHINGNEW": True, "EXPECTEDVALIDJSON": "yes"}}), encoding="utf-8")
    report = run(tmp_path)
    totals = report.totals()
    assert totals["total"] == 8
    assert {o.expectation: o.status for o in report.outcomes} == {
        "EXPECTEDUNPREFIX": "disagree", "EXPECTEDB45DECODE": "disagree", "EXPECTEDVERIFY": "not_judged",
        "EXPECTEDCOMPRESSION": "agree", "EXPECTEDDECODE": "not_judged", "EXPECTEDEXPIRATIONCHECK": "not_judged",
        "EXPECTEDSOMETHINGNEW": "not_judged", "EXPECTEDVALIDJSON": "not_judged"}
    assert {reason for _, reason in report.skipped_files} >= {"too large", "not a test vector"}
    result = CliRunner().invoke(app, ["trust", "conformance", str(tmp_path), "--json"])
    assert result.exit_code == 1 and "DISAGREE XX/2DCode/raw/weird.json EXPECTEDUNPREFIX" in result.output


def test_missing_folder_and_known_issues_file_are_clear_errors(tmp_path):
    result = CliRunner().invoke(app, ["trust", "conformance", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no such folder" in result.output
    result = CliRunner().invoke(app, ["trust", "conformance", str(tmp_path), "--known-issues", str(tmp_path / "x")])
    assert result.exit_code == 1 and "no such known-issues file" in result.output


@pytest.mark.skipif(not (TESTDATA / "shc-examples").is_dir() and os.environ.get("CI") != "true",
                    reason="../shared/testdata is not beside the project")
def test_smart_health_card_examples_verify_from_the_cli(tmp_path):
    shc = TESTDATA / "shc-examples"
    jwks = shc / "issuer" / ".well-known" / "jwks.json"
    iss = "https://spec.smarthealth.cards/examples/issuer"
    crl = next((shc / "issuer" / ".well-known" / "crl").glob("*.json"))
    base = ["--key-set", str(jwks), "--issuer", iss, "--crl", str(crl), "--at", "2023-07-01T00:00:00Z", "--json"]
    for n in ("00", "01", "02"):
        result = CliRunner().invoke(app, ["trust", "verify-shc", str(shc / f"example-{n}-e-file.smart-health-card"),
                                          *base])
        assert result.exit_code == 0, (n, result.output[-2000:])
        assert json.loads(result.output.strip().splitlines()[-1])["valid"] is True
        qr = sorted(shc.glob(f"example-{n}-f-qr-code-numeric-value-*.txt"))
        chunks = tmp_path / f"{n}.txt"
        chunks.write_text("\n".join(p.read_text(encoding="utf-8").strip() for p in reversed(qr)), encoding="utf-8")
        result = CliRunner().invoke(app, ["trust", "verify-shc", str(chunks), *base])
        assert result.exit_code == 0, (n, "qr", result.output[-2000:])
    # example 03 is the specification's revoked card: valid without the revocation list, revoked with it
    card = str(shc / "example-03-e-file.smart-health-card")
    result = CliRunner().invoke(app, ["trust", "verify-shc", card, *base])
    assert result.exit_code == 2
    assert json.loads(result.output.strip().splitlines()[-1])["error"]["code"] == "SHC_REVOKED"
    result = CliRunner().invoke(app, ["trust", "verify-shc", card, "--key-set", str(jwks), "--issuer", iss,
                                      "--at", "2023-07-01T00:00:00Z"])
    assert result.exit_code == 0 and "VALID" in result.output

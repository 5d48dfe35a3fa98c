"""Batch verification (dho.trust.batch): a file mixing valid, tampered, revoked, expired, unknown-signer,
garbage, binary, empty and oversized lines gives exact counts by code with two worker processes and in
process; the JSON lines output has one line per input, in order, with each line's own code; bounded
reading of hostile lines; clear errors for unusable verifier descriptions; and the benchmark script
runs in its smallest form and prints its JSON with the ratio."""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import subprocess
import sys
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest

from dho.trust import cose, testpki
from dho.trust.base45 import b45encode
from dho.trust.batch import BatchSetupError, VerifierSpec, read_lines, spec_from_files, verify_file
from dho.trust.hcert import Policy
from dho.trust.revocation import revocation_hashes

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)


def payload(i: int) -> dict:
    return {"ver": "1.3.3", "nam": {"fn": "Jansen", "fnt": "JANSEN", "gn": "Anna", "gnt": "ANNA"},
            "dob": "1970-03-0" + str(1 + i % 9),
            "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
                   "dn": 2, "sd": 2, "dt": "2021-06-11", "co": "NL", "is": "Ministry of Health",
                   "ci": f"URN:UVCI:01:NL:{i:026X}#A"}]}


def claims(i: int, iat: int) -> bytes:
    return cbor2.dumps({1: "NL", 4: iat + 365 * 86400, 6: iat, -260: {1: payload(i)}})


def hc1(cose_bytes: bytes) -> str:
    return "HC1:" + b45encode(zlib.compress(cose_bytes, 9))


def mint(i: int, party: testpki.Party, iat: int) -> str:
    return hc1(cose.encode_sign1(claims(i, iat), party.key, party.kid))


def tampered(i: int, party: testpki.Party, iat: int) -> str:
    """Signed correctly, then the claims changed (another UVCI) with the signature kept."""
    signed = cbor2.loads(cose.encode_sign1(claims(i, iat), party.key, party.kid))
    protected, unprotected, _payload, signature = signed.value
    return hc1(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, claims(i + 10_000, iat), signature])))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A signer, a file of 300 lines with the code every line must get, and the verifier's description."""
    sca = testpki.make_sca("NL")
    dsc = testpki.make_dsc(sca, "NL")
    stranger = testpki.make_dsc(testpki.make_sca("BE"), "BE")
    iat = int((NOW - timedelta(hours=2)).timestamp())
    lines: list[bytes] = []
    expected: list[str | None] = []

    def add(line: bytes | str, code: str | None) -> None:
        lines.append(line.encode("ascii") if isinstance(line, str) else line)
        expected.append(code)

    revoked = set(range(5, 200, 40))  # 5 certificates revoked by UVCI
    for i in range(200):
        add(mint(i, dsc, iat), "HC_REVOKED" if i in revoked else None)
    for i in range(200, 220):
        add(tampered(i, dsc, iat), "HC_SIGNATURE_INVALID")
    for i in range(220, 230):
        add(mint(i, stranger, iat), "HC_KID_UNKNOWN")
    old = int((NOW - timedelta(days=800)).timestamp())
    expired_dsc = testpki.make_dsc(sca, "NL", not_before=NOW - timedelta(days=900), days=2000)
    for i in range(230, 236):
        add(mint(i, expired_dsc, old), "HC_EXPIRED")
    for i in range(236, 246):
        add(mint(i, dsc, iat) + "\r", None)  # CRLF line endings are accepted
    for _ in range(12):
        add("", "HC_INPUT_EMPTY")
    for _ in range(9):
        add("this is not a health certificate", "HC_PREFIX_MISSING")
    for _ in range(4):
        add("hc1:" + mint(0, dsc, iat)[4:], "HC_PREFIX_UNSUPPORTED")
    for _ in range(7):
        add("HC1:NOT*BASE45!", "HC_BASE45_CHARACTER")
    for k in range(8):
        add(bytes(range(128 + k, 200)), "HC_INPUT_NOT_TEXT")
    add(b"HC1:\x00\x01\x02", "HC_BASE45_CHARACTER")
    add("HC1:" + "A" * 8188, "HC_BASE45_LENGTH")  # 8192 characters: at the limit, so it is decoded
    add("HC1:" + "A" * 8189, "HC_INPUT_TOO_LARGE")  # one more
    for _ in range(3):
        add("HC1:" + "6BF" * 100_000, "HC_INPUT_TOO_LARGE")
    add(b"\xff" * 3_000_000, "HC_INPUT_TOO_LARGE")  # the last line, no newline at the end
    path = tmp_path_factory.mktemp("batch") / "codes.txt"
    path.write_bytes(b"\n".join(lines))
    batch = {"country": "NL", "expires": (NOW + timedelta(days=10)).isoformat().replace("+00:00", "Z"),
             "kid": base64.b64encode(dsc.kid).decode(), "hashType": "UCI",
             "entries": [{"hash": base64.b64encode(revocation_hashes(
                 uci=payload(i)["v"][0]["ci"], country="NL", cose_signature=b"\0" * 64, alg=-7)["UCI"]).decode()}
                 for i in sorted(revoked)]}
    spec = VerifierSpec(certificates=(sca.der, dsc.der, expired_dsc.der), revocation_batches=(batch,), now=NOW)
    return {"path": path, "expected": expected, "spec": spec, "dsc": dsc, "sca": sca, "batch": batch}


def expected_counts(expected: list[str | None]) -> tuple[int, dict[str, int]]:
    return expected.count(None), dict(Counter(c for c in expected if c is not None))


def test_two_workers_give_exact_counts_and_one_json_line_per_input(world, tmp_path):
    out = tmp_path / "out.jsonl"
    summary = verify_file(world["path"], world["spec"], jobs=2, chunk=37, progress=False, out=out)
    valid, by_code = expected_counts(world["expected"])
    assert summary.total == len(world["expected"]) == 246 + 47  # certificates + other lines
    assert summary.valid == valid == 200 - 5 + 10
    assert summary.invalid == summary.total - valid
    assert summary.by_code == by_code
    assert summary.jobs == 2 and summary.seconds > 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in records] == list(range(1, len(world["expected"]) + 1))
    assert [r["code"] for r in records] == world["expected"]
    assert [r["valid"] for r in records] == [c is None for c in world["expected"]]


def test_in_process_run_agrees_and_shows_a_progress_bar(world, capsys):
    stream = io.StringIO()
    summary = verify_file(world["path"], world["spec"], jobs=1, chunk=1000, progress=True, out=stream)
    valid, by_code = expected_counts(world["expected"])
    assert (summary.valid, summary.by_code, summary.jobs) == (valid, by_code, 1)
    assert len(stream.getvalue().splitlines()) == len(world["expected"])
    err = capsys.readouterr().err
    assert "verifying" in err and f"{summary.total:,} lines" in err


def test_all_lines_are_judged_at_the_same_instant(world, tmp_path):
    """With ``now`` a year ahead, the one-year certificates of the file have all expired."""
    later = VerifierSpec(certificates=world["spec"].certificates, now=NOW + timedelta(days=400))
    summary = verify_file(world["path"], later, jobs=1, progress=False)
    assert summary.valid == 0
    assert summary.by_code["HC_EXPIRED"] == 200 + 10 + 6  # revocation is off in this description
    assert summary.by_code["HC_SIGNATURE_INVALID"] == 20


def test_oversized_lines_are_counted_not_kept():
    data = b"HC1:ABC\n" + b"x" * 5_000_000 + b"\r\n" + b"\n" + b"HC1:" + b"9" * 20 + b"\r\n" + b"y" * 100
    items = list(read_lines(io.BytesIO(data), 100))
    assert [item for item, _ in items] == [(1, b"HC1:ABC"), (2, 5_000_001), (3, b""), (4, b"HC1:" + b"9" * 20),
                                           (5, b"y" * 100)]
    assert sum(n for _, n in items) == len(data)
    at_limit = list(read_lines(io.BytesIO(b"z" * 100 + b"\r\n" + b"z" * 101), 100))
    assert [item for item, _ in at_limit] == [(1, b"z" * 100), (2, 101)]


def test_the_description_pickles_and_bad_descriptions_fail_clearly(world, tmp_path):
    spec = world["spec"]
    assert pickle.loads(pickle.dumps(spec)) == spec  # noqa: S301 (our own bytes, just made)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert verify_file(empty, spec, jobs=2, progress=False).total == 0
    with pytest.raises(BatchSetupError, match="no document-signer key"):
        verify_file(world["path"], VerifierSpec(), jobs=2, progress=False)
    with pytest.raises(BatchSetupError, match="cannot build the verifier"):
        VerifierSpec(certificates=(b"\x30\x03\x02\x01\x00",)).build()
    with pytest.raises(BatchSetupError, match="REVOCATION_BAD_COUNTRY"):
        VerifierSpec(certificates=spec.certificates, revocation_batches=({**world["batch"], "country": "nl"},)).build()
    with pytest.raises(BatchSetupError, match="invalid rule"):
        VerifierSpec(certificates=spec.certificates, rules=({"Identifier": "VR-FR-0001"},)).build()
    with pytest.raises(BatchSetupError, match="timezone-aware"):
        VerifierSpec(certificates=spec.certificates, now=datetime(2025, 1, 1)).build()


def test_spec_from_files_reads_certificates_batches_and_rules(world, tmp_path):
    cert = tmp_path / "dsc.pem"
    cert.write_bytes(world["dsc"].pem)
    batches = tmp_path / "revocation.json"
    batches.write_text(json.dumps({"batches": [world["batch"]]}), encoding="utf-8")
    spec = spec_from_files(certificates=[cert], revocation=[batches], policy=Policy(max_input_chars=1000))
    verifier, _ = spec.build()
    assert len(verifier.trust) == 1 and verifier.revocation is not None and spec.policy.max_input_chars == 1000
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(BatchSetupError, match="expected a JSON object"):
        spec_from_files(certificates=[cert], rules=[bad])
    with pytest.raises(BatchSetupError, match="cannot read"):
        spec_from_files(certificates=[tmp_path / "missing.pem"])


def test_benchmark_quick_run_prints_json_with_the_ratio(tmp_path):
    output = tmp_path / "trust_verify.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "trust_verify.py"), "--quick", "--batch-size", "2000",
                           "--cache-dir", str(tmp_path / "cache"), "--output", str(output)],
                          capture_output=True, text=True, timeout=150, cwd=ROOT, env=env, check=False)
    assert proc.returncode in (0, 3), proc.stderr[-3000:]  # 3: checks passed, ratio below the goal
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"] is True and result["failures"] == []
    assert 0 < result["ratio_full_to_ceiling"] < 1.5
    assert result["goal_met"] == (result["ratio_full_to_ceiling"] >= 0.7) == (proc.returncode == 0)
    assert result["batch"]["summary"]["valid"] == result["batch"]["lines"] == 2000
    assert result["settings"]["hc1_chars"]["min"] >= 500
    assert json.loads(output.read_text(encoding="utf-8")) == result

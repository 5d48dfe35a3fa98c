"""The EU DCC test-vector conformance runner: ``dho trust conformance DIR``.

Each vector file carries raw artefacts (JSON, CBOR, COSE, COMPRESSED, BASE45, PREFIX, 2DCODE), a test context
(CERTIFICATE, VALIDATIONCLOCK) and EXPECTEDRESULTS: booleans saying whether one step of the pipeline should
succeed. For every expectation the platform can judge, the runner computes its own verdict for that step
with the platform's own code and compares. Vectors listed in a known-issues file (upstream errors) are
reported but do not count as disagreements."""

from __future__ import annotations

import base64
import binascii
import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cbor2

from dho.trust import hcert
from dho.trust.keys import SignerKey, load_certificate
from dho.trust.outcome import Fail

MAX_VECTOR_BYTES = 2 * 1024 * 1024
_COUNTRY_DIR = re.compile(r"^[A-Z]{2,3}$")
# Upstream known-issue test names -> the expectations they cover.
KNOWN_ISSUE_TESTS = {
    "test_cose_schema": {"EXPECTEDSCHEMAVALIDATION"},
    "test_cose_json": {"EXPECTEDVALIDJSON"},
    "test_cbor_json": {"EXPECTEDDECODE", "EXPECTEDVALIDJSON"},
    "test_verification_check": {"EXPECTEDVERIFY"},
    "test_expiration_check": {"EXPECTEDEXPIRATIONCHECK", "EXPTECTEDEXPIRED"},
    "test_expected_key_usage": {"EXPECTEDKEYUSAGE"},
    "test_picture_decode": {"EXPECTEDPICTUREDECODE"},
    "test_b45_decode": {"EXPECTEDB45DECODE"},
    "test_unprefix": {"EXPECTEDUNPREFIX"},
    "test_compression": {"EXPECTEDCOMPRESSION"},
}


_PLAIN_DATES = {0: lambda value, immutable: value, 1: lambda value, immutable: value}


class NotJudged(Exception):
    """The vector lacks what this expectation needs."""


@dataclass
class Outcome:
    file: str
    country: str
    expectation: str
    expected: bool
    actual: bool | None  # None: not judged
    stage: str = ""
    reason: str = ""
    known_issue: bool = False

    @property
    def status(self) -> str:
        if self.actual is None:
            return "not_judged"
        if self.actual == self.expected:
            return "agree"
        return "not_judged" if self.known_issue else "disagree"


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        c = Counter(o.status for o in self.outcomes)
        return {"total": len(self.outcomes), "agree": c["agree"], "disagree": c["disagree"],
                "not_judged": c["not_judged"]}

    def by_country(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter] = defaultdict(Counter)
        for o in self.outcomes:
            out[o.country][o.status] += 1
        return {k: {"agree": v["agree"], "disagree": v["disagree"], "not_judged": v["not_judged"]}
                for k, v in sorted(out.items())}

    @property
    def disagreements(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "disagree"]


# ---- one vector ----------------------------------------------------------------------------------------

class Vector:
    def __init__(self, data: dict, policy: hcert.Policy):
        self.d = data
        self.policy = policy
        ctx = data.get("TESTCTX") if isinstance(data.get("TESTCTX"), dict) else {}
        self.ctx = ctx
        self._stage = ""

    def need(self, *keys: str) -> list[Any]:
        values = []
        for k in keys:
            v = self.d.get(k)
            if v is None or v == "":
                raise NotJudged(f"no {k}")
            values.append(v)
        return values

    def hex_field(self, key: str) -> bytes:
        (text,) = self.need(key)
        try:
            return bytes.fromhex(text) if isinstance(text, str) else b""
        except ValueError:
            raise NotJudged(f"{key} is not hex") from None

    def certificate(self) -> SignerKey:
        raw = self.ctx.get("CERTIFICATE")
        if not raw:
            raise NotJudged("no TESTCTX.CERTIFICATE")
        try:
            return SignerKey.from_certificate(load_certificate(raw), source="test context")
        except (ValueError, TypeError):
            raise NotJudged("TESTCTX.CERTIFICATE is not a certificate") from None

    def clock(self) -> datetime:
        raw = self.ctx.get("VALIDATIONCLOCK") or self.ctx.get("validationClockInstant")
        if not isinstance(raw, str):
            raise NotJudged("no VALIDATIONCLOCK")
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise NotJudged("VALIDATIONCLOCK is not a date-time") from None
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def cose_bytes(self) -> bytes:
        if self.d.get("COSE"):
            return self.hex_field("COSE")
        return hcert.inflate(self.compressed(), self.policy)

    def compressed(self) -> bytes:
        if self.d.get("COMPRESSED"):
            return self.hex_field("COMPRESSED")
        if self.d.get("BASE45"):
            return hcert.decode_base45(self.d["BASE45"])
        (prefixed,) = self.need("PREFIX")
        return hcert.decode_base45(hcert.unprefix(prefixed, self.policy))

    def claims(self) -> dict:
        return hcert.decode_claims(hcert.parse_cose(self.cose_bytes(), self.policy), self.policy)

    def payload(self) -> Any:
        return hcert.hcert_content(self.claims())[1]

    # --- judges: True when the step succeeds ---
    def picture(self) -> bool:
        png_b64, prefixed = self.need("2DCODE", "PREFIX")
        try:
            from dho.trust.qr import QrImageError, decode_image
        except ImportError:
            raise NotJudged("QR image decoding is not available") from None
        try:
            texts = decode_image(base64.b64decode(png_b64))
        except (QrImageError, binascii.Error, ValueError):
            return False
        return prefixed in texts

    def unprefixed(self) -> bool:
        (prefixed,) = self.need("PREFIX")
        body = hcert.unprefix(prefixed, self.policy)
        return "BASE45" not in self.d or body == self.d["BASE45"]

    def base45(self) -> bool:
        text = self.d.get("BASE45") or hcert.unprefix(self.need("PREFIX")[0], self.policy)
        data = hcert.decode_base45(text)
        return "COMPRESSED" not in self.d or data == self.hex_field("COMPRESSED")

    def compression(self) -> bool:
        data = hcert.inflate(self.hex_field("COMPRESSED"), self.policy)
        return "COSE" not in self.d or data == self.hex_field("COSE")

    def verify(self) -> bool:
        key = self.certificate()
        msg = hcert.parse_cose(self.cose_bytes(), self.policy)
        kid, _ = msg.kid()
        if kid is None:
            raise Fail("HC_KID_MISSING")
        if not isinstance(kid, bytes) or len(kid) != 8:
            raise Fail("HC_KID_LENGTH")
        if kid != key.kid:
            raise Fail("HC_KID_UNKNOWN", kid.hex())
        alg = msg.alg
        if not isinstance(alg, int) or isinstance(alg, bool) or alg not in hcert.cose.ALG_NAMES:
            raise Fail("HC_ALG_UNSUPPORTED" if alg is not None else "HC_ALG_MISSING")
        problem = hcert.cose.key_matches(alg, key.public_key)
        if problem:
            raise Fail("HC_KEY_TOO_SMALL" if problem == "small" else "HC_ALG_KEY_MISMATCH")
        shape = hcert.cose.signature_shape(alg, msg.signature)
        if shape:
            raise Fail("HC_SIGNATURE_FORMAT", shape)
        if not hcert.cose.verify_signature(alg, key.public_key, msg.to_be_signed(), msg.signature):
            raise Fail("HC_SIGNATURE_INVALID")
        return True

    def reference_cbor(self) -> Any:
        """The vector's CBOR field, decoded leniently: it is a reference produced by various encoders."""
        try:
            return cbor2.loads(self.hex_field("CBOR"), semantic_decoders=_PLAIN_DATES)
        except (cbor2.CBORDecodeError, ValueError, TypeError):
            raise NotJudged("the CBOR field does not decode") from None

    def decode(self) -> bool:
        claims = self.claims()
        payload = hcert.hcert_content(claims)[1]
        if not self.d.get("CBOR"):
            return True
        expected = self.reference_cbor()
        if isinstance(expected, dict) and hcert.CLAIM_HCERT in expected:  # some vectors hold the whole CWT
            return _same(claims, expected)
        return _same(payload, expected)

    def valid_json(self) -> bool:
        (expected,) = self.need("JSON")
        prefixed = self.d.get("PREFIX")
        if prefixed:
            raw = hcert.inflate(hcert.decode_base45(hcert.unprefix(prefixed, self.policy)), self.policy)
            claims = hcert.decode_claims(hcert.parse_cose(raw, self.policy), self.policy)
            payload = hcert.hcert_content(claims)[1]
        else:
            payload = self.payload()
        return _same(hcert.to_json_value(payload), expected)

    def schema_version(self) -> None:
        """The platform validates against EU DCC schema 1.3.3, which is stricter than 1.0-1.2 (date-of-birth
        range, country pattern); vectors written for an older schema cannot be judged with it."""
        version = str(self.ctx.get("SCHEMA") or "")
        m = re.match(r"^(\d+)\.(\d+)", version)
        if m and (int(m.group(1)), int(m.group(2))) < (1, 3):
            raise NotJudged(f"vector expects schema {version}; the platform validates against 1.3.3")

    def schema(self) -> bool:
        from dho.trust.schemas import check_payload

        self.schema_version()
        payload = hcert.to_json_value(self.payload())
        problem = check_payload("eu-dcc", payload)
        if problem:
            raise Fail("HC_SCHEMA_INVALID", problem)
        return True

    def valid_object(self) -> bool:
        from dho.trust.schemas import check_payload

        (document,) = self.need("JSON")
        self.schema_version()
        problem = check_payload("eu-dcc", document)
        if problem:
            raise Fail("HC_SCHEMA_INVALID", problem)
        return True

    def expiration(self) -> bool:
        claims = self.claims()
        exp = hcert.numeric_date(claims, hcert.CLAIM_EXP, "exp")
        iat = hcert.numeric_date(claims, hcert.CLAIM_IAT, "iat") if hcert.CLAIM_IAT in claims else None
        clock = self.clock().timestamp()
        return (iat is None or iat <= clock) and clock <= exp

    def key_usage(self) -> bool:
        key = self.certificate()
        ctype = hcert.certificate_type(self.payload())
        if ctype is None:
            raise NotJudged("no certificate type")
        if ctype not in key.usages:
            raise Fail("HC_KEY_USAGE", f"type {ctype}, key allows {''.join(sorted(key.usages))}")
        return True

    def encode(self) -> bool:
        document, _ = self.need("JSON", "CBOR")
        expected = self.reference_cbor()
        if isinstance(expected, dict) and isinstance(expected.get(hcert.CLAIM_HCERT), dict):
            expected = expected[hcert.CLAIM_HCERT].get(hcert.HCERT_EU_DCC)
        return _same(cbor2.loads(cbor2.dumps(document)), expected)


def _same(a: Any, b: Any) -> bool:
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


JUDGES: dict[str, Callable[[Vector], bool]] = {
    "EXPECTEDPICTUREDECODE": Vector.picture,
    "EXPECTEDUNPREFIX": Vector.unprefixed,
    "EXPECTEDB45DECODE": Vector.base45,
    "EXPECTEDCOMPRESSION": Vector.compression,
    "EXPECTEDVERIFY": Vector.verify,
    "EXPECTEDDECODE": Vector.decode,
    "EXPECTEDVALIDJSON": Vector.valid_json,
    "EXPECTEDSCHEMAVALIDATION": Vector.schema,
    "EXPECTEDVALIDOBJECT": Vector.valid_object,
    "EXPECTEDEXPIRATIONCHECK": Vector.expiration,
    "EXPECTEDKEYUSAGE": Vector.key_usage,
    "EXPECTEDENCODE": Vector.encode,
}


def judge(vector: Vector, expectation: str) -> tuple[bool | None, str, str]:
    fn = JUDGES.get(expectation)
    if fn is None:
        return None, "", "the platform has no step for this expectation"
    try:
        return bool(fn(vector)), "", ""
    except NotJudged as exc:
        return None, "", str(exc)
    except Fail as exc:
        return False, exc.failure.stage, f"{exc.failure.code}: {exc.failure.detail}"
    except Exception as exc:  # a vector may hold anything; a crash here is a disagreement to look at
        return False, "internal", f"{type(exc).__name__}: {exc}"[:200]


# ---- the run -------------------------------------------------------------------------------------------

def load_known_issues(path: Path) -> list[tuple[str, str, str]]:
    """Rows (test_name, country, test_set) of an upstream-style known-issues CSV."""
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.append(((row.get("test_name") or "").strip(), (row.get("country") or "").strip().upper(),
                         (row.get("test_set") or "").strip()))
    return rows


def _is_known(rows, country: str, stem: str, expectation: str) -> bool:
    for test_name, c, test_set in rows:
        if c and c != country.upper():
            continue
        if test_set and test_set != stem:
            continue
        covered = KNOWN_ISSUE_TESTS.get(test_name)
        if covered is None or expectation in covered:
            return True
    return False


def country_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).parts[:-1]
    for part in reversed(parts):
        if _COUNTRY_DIR.match(part) or part.lower() == "common":
            return part
    return parts[0] if parts else "-"


def run(root: Path, *, known_issues: Path | None = None, policy: hcert.Policy | None = None) -> Report:
    policy = policy or hcert.Policy(max_input_chars=16384)
    rows = load_known_issues(known_issues) if known_issues else []
    report = Report()
    for path in sorted(root.rglob("*.json")):
        rel = str(path.relative_to(root))
        try:
            if path.stat().st_size > MAX_VECTOR_BYTES:
                report.skipped_files.append((rel, "too large"))
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            report.skipped_files.append((rel, f"not JSON: {exc}"[:120]))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("EXPECTEDRESULTS"), dict):
            report.skipped_files.append((rel, "not a test vector"))
            continue
        vector = Vector(data, policy)
        country = country_of(path, root)
        for expectation, expected in data["EXPECTEDRESULTS"].items():
            if not isinstance(expected, bool):
                report.outcomes.append(Outcome(rel, country, expectation, bool(expected), None,
                                               reason="expectation is not a boolean"))
                continue
            actual, stage, reason = judge(vector, expectation)
            known = bool(rows) and _is_known(rows, country, path.stem, expectation)
            report.outcomes.append(Outcome(rel, country, expectation, expected, actual, stage, reason, known))
    return report

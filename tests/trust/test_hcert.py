"""The HCERT verifier and issuer: every bad input of the issue's list gets its stable code, valid
certificates verify, and mutated certificates are never accepted and never make the verifier raise."""

from __future__ import annotations

import math
import zlib
from datetime import UTC, datetime, timedelta

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dho.trust import cose, hcert, issue, testpki
from dho.trust.base45 import b45encode
from dho.trust.keys import SignerKey, kid_of
from dho.trust.outcome import CODES

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def pki():
    sca = testpki.make_sca("XA")
    dsc = testpki.make_dsc(sca, "XA")
    return sca, dsc


@pytest.fixture(scope="module")
def payload():
    return issue.dcc_vaccination(family="Dupont", given="Émilie", dob="1985-03-04", country="XA",
                                 issuer="Ministry of Health", ci=issue.uvci("XA", "MOH", "0001AB"), dose=2, total=2,
                                 date_="2026-01-10")


@pytest.fixture(scope="module")
def verifier(pki):
    return hcert.HcertVerifier(hcert.TrustStore([SignerKey.from_certificate(pki[1].cert)]))


def claims_for(payload, *, iat=None, exp=None, iss="XA"):
    iat = int(NOW.timestamp()) - 60 if iat is None else iat
    exp = int(NOW.timestamp()) + 86400 if exp is None else exp
    claims = {1: iss, 6: iat, 4: exp, -260: {1: payload}}
    return {k: v for k, v in claims.items() if v is not _MISSING}


_MISSING = object()


def wrap(cose_bytes: bytes) -> str:
    return "HC1:" + b45encode(zlib.compress(cose_bytes))


def mint(key, kid, claims_bytes, *, alg=None, protected=None, unprotected=None, signature=None, tag=True):
    alg = cose.alg_for_key(key) if alg is None else alg
    prot = cbor2.dumps(protected if protected is not None else {1: alg, 4: kid})
    sig = cose.sign(cose.alg_for_key(key), key, cose.sig_structure(prot, claims_bytes)) if signature is None \
        else signature
    body = [prot, unprotected or {}, claims_bytes, sig]
    return wrap(cbor2.dumps(cbor2.CBORTag(18, body) if tag else body))


def code(verdict):
    assert verdict.valid is False, verdict.as_dict()
    return verdict.failure.code


# ---- valid paths ----------------------------------------------------------------------------------------

def test_issued_certificate_verifies_with_every_stage(pki, payload, verifier):
    issued = issue.build_hcert(payload, dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW)
    v = verifier.verify(issued.text)
    assert v.valid, v.as_dict()
    assert v.stages == ["prefix", "base45", "decompress", "cbor", "cose", "kid", "algorithm", "signature",
                        "claims", "dsc", "revocation", "schema", "rules"]
    assert v.data["payload"]["nam"]["fnt"] == "DUPONT"
    assert v.data["payload"]["nam"]["gnt"] == "EMILIE"


def test_ddcc_payload_issues_and_verifies(pki, verifier):
    doc = issue.ddcc_vaccination(name="Ama Mensah", birth_date="1990-05-01", vaccine="XM68M6", date_="2026-02-01",
                                 dose=1, total=2, country3="GHA", issuer="Ghana Health Service", hcid="GH-1")
    issued = issue.build_hcert(doc, dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW, kind="ddcc")
    v = verifier.verify(issued.text)
    assert v.valid and v.data["kind"] == "ddcc"


def test_expiry_never_beyond_the_dsc(pki, payload):
    issued = issue.build_hcert(payload, dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW,
                               valid_for=timedelta(days=3000))
    assert issued.exp == int(pki[1].cert.not_valid_after_utc.timestamp())


def test_issuer_refuses_schema_violations_and_long_names(pki, payload):
    bad = {**payload, "dob": "1815-01-01"}
    with pytest.raises(issue.IssueError, match="schema"):
        issue.build_hcert(bad, dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW)
    with pytest.raises(issue.IssueError, match="longer than"):
        issue.dcc_vaccination(family="X" * 81, given=None, dob="1980", country="XA", issuer="M", ci="U", dose=1,
                              total=1, date_="2026-01-01")
    other = testpki.make_dsc(testpki.make_sca("XA"), "XA")
    with pytest.raises(issue.IssueError, match="does not belong"):
        issue.build_hcert(payload, dsc_cert=pki[1].cert, dsc_key=other.key, issuer_country="XA", now=NOW)


def test_rsa_pss_dsc_verifies(payload):
    sca = testpki.make_sca("XA")
    dsc = testpki.make_dsc(sca, "XA", key="rsa")
    text = issue.build_hcert(payload, dsc_cert=dsc.cert, dsc_key=dsc.key, issuer_country="XA", now=NOW).text
    v = hcert.HcertVerifier(hcert.TrustStore([SignerKey.from_certificate(dsc.cert)])).verify(text)
    assert v.valid and v.data["alg"] == "PS256"


# ---- the bad-input list -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("", "HC_INPUT_EMPTY"),
    ("NCFOXN%TS3DH", "HC_PREFIX_MISSING"),
    ("hc1:NCFOXN%TS3DH", "HC_PREFIX_UNSUPPORTED"),
    ("HC2:NCFOXN%TS3DH", "HC_PREFIX_UNSUPPORTED"),
    ("HC1:NCFOXN%TS3Da", "HC_BASE45_CHARACTER"),
    ("HC1:NCF#", "HC_BASE45_LENGTH"),
    ("HC1:NCFO", "HC_BASE45_LENGTH"),
    ("HC1:GGW", "HC_BASE45_OVERFLOW"),
    ("HC1:" + "A" * 9000, "HC_INPUT_TOO_LARGE"),
])
def test_text_level_bad_input(verifier, text, expected):
    assert code(verifier.verify(text)) == expected


def test_non_text_input(verifier):
    assert code(verifier.verify(None)) == "HC_INPUT_NOT_TEXT"
    assert code(verifier.verify(b"\xff\xfe")) == "HC_INPUT_NOT_TEXT"
    assert code(verifier.verify(12)) == "HC_INPUT_NOT_TEXT"


def test_compression_bad_input(verifier, pki, payload):
    good = issue.build_hcert(payload, dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW).text
    from dho.trust.base45 import b45decode

    compressed = b45decode(good[4:])
    raw = zlib.decompress(compressed)
    deflater = zlib.compressobj(wbits=-15)
    raw_deflate = deflater.compress(raw) + deflater.flush()
    assert code(verifier.verify("HC1:" + b45encode(raw_deflate))) == "HC_ZLIB_INVALID"
    assert code(verifier.verify("HC1:" + b45encode(raw))) == "HC_ZLIB_INVALID"  # not compressed at all
    assert code(verifier.verify("HC1:" + b45encode(compressed[:-6]))) == "HC_ZLIB_TRUNCATED"
    assert code(verifier.verify("HC1:" + b45encode(compressed + b"junk"))) == "HC_ZLIB_TRAILING_DATA"
    broken = bytearray(compressed)
    broken[10] ^= 0xFF
    assert code(verifier.verify("HC1:" + b45encode(bytes(broken)))).startswith(("HC_ZLIB", "HC_CBOR", "HC_COSE"))
    bomb = zlib.compress(b"\0" * 5_000_000, 9)
    assert code(verifier.verify("HC1:" + b45encode(bomb))) in {"HC_ZLIB_TOO_LARGE", "HC_INPUT_TOO_LARGE"}
    small_bomb = zlib.compress(b"\0" * 200_000, 9)  # fits in a QR, inflates to 3x the limit
    assert len(b45encode(small_bomb)) < 8192
    assert code(verifier.verify("HC1:" + b45encode(small_bomb))) == "HC_ZLIB_TOO_LARGE"


@pytest.mark.parametrize(("cose_bytes", "expected"), [
    (cbor2.dumps({"a": 1}), "HC_COSE_NOT_ARRAY"),
    (cbor2.dumps(cbor2.CBORTag(98, [b"", {}, b"", b""])), "HC_COSE_WRONG_TAG"),
    (cbor2.dumps(cbor2.CBORTag(18, cbor2.CBORTag(18, [b"", {}, b"", b""]))), "HC_COSE_WRONG_TAG"),
    (cbor2.dumps([b"", {}, b""]), "HC_COSE_STRUCTURE"),
    (cbor2.dumps(["x", {}, b"", b""]), "HC_COSE_STRUCTURE"),
    (cbor2.dumps([b"", [], b"", b""]), "HC_COSE_HEADER"),
    (cbor2.dumps([cbor2.dumps([1]), {}, b"", b""]), "HC_COSE_HEADER"),
    (b"\x9f\x40\xa0\x40\x40\xff", "HC_CBOR_INDEFINITE"),
    (b"\x81" * 100 + b"\x01", "HC_CBOR_TOO_DEEP"),
    (b"\x84\x40\xa2\x01\x01\x01\x02\x40\x40", "HC_CBOR_DUPLICATE_KEY"),
    (b"\x84\x40\xa0\x5b\xff\xff\xff\xff\xff\xff\xff\xff", "HC_CBOR_TRUNCATED"),
    (b"\x84\x40\xa0\x40\x40\x00", "HC_CBOR_TRAILING_DATA"),
    (b"\x84\x40\xa0\x40\xc2\x41\x01", "HC_CBOR_TAG"),
    (b"\xff", "HC_CBOR_MALFORMED"),
])
def test_cose_and_cbor_bad_input(verifier, cose_bytes, expected):
    assert code(verifier.verify(wrap(cose_bytes))) == expected


def test_kid_cases(verifier, pki, payload):
    key, kid = pki[1].key, pki[1].kid
    body = cbor2.dumps(claims_for(payload))
    only_unprotected = mint(key, kid, body, protected={1: -7}, unprotected={4: kid})
    v = verifier.verify(only_unprotected)
    assert v.valid and "kid only in the unprotected header" in v.warnings
    both = mint(key, kid, body, protected={1: -7, 4: kid}, unprotected={4: b"\x00" * 8})
    assert verifier.verify(both).valid  # the protected header wins
    assert code(verifier.verify(mint(key, kid, body, protected={1: -7}))) == "HC_KID_MISSING"
    assert code(verifier.verify(mint(key, b"\x01" * 8, body))) == "HC_KID_UNKNOWN"
    assert code(verifier.verify(mint(key, kid[:4], body))) == "HC_KID_LENGTH"
    assert code(verifier.verify(mint(key, kid + b"\x00", body))) == "HC_KID_LENGTH"
    assert code(verifier.verify(mint(key, "text-kid", body))) == "HC_KID_LENGTH"


def test_two_dscs_sharing_one_kid_are_both_tried(pki, payload):
    other = testpki.make_dsc(pki[0], "XA")
    clash = SignerKey.from_certificate(other.cert)
    clash.kid = pki[1].kid  # a colliding kid in a foreign trust list
    store = hcert.TrustStore([clash, SignerKey.from_certificate(pki[1].cert)])
    text = issue.build_hcert(payload, dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW).text
    assert hcert.HcertVerifier(store).verify(text).valid
    store = hcert.TrustStore([clash])
    assert code(hcert.HcertVerifier(store).verify(text)) == "HC_SIGNATURE_INVALID"


def test_algorithm_cases(pki, payload):
    body = cbor2.dumps(claims_for(payload))
    ec384 = testpki.make_dsc(pki[0], "XA", key="ec384")
    rsa = testpki.make_dsc(pki[0], "XA", key="rsa")
    small = testpki.make_dsc(pki[0], "XA", key="rsa1024")
    store = hcert.TrustStore([SignerKey.from_certificate(p.cert) for p in (pki[1], ec384, rsa, small)])
    v = hcert.HcertVerifier(store)
    assert code(v.verify(mint(pki[1].key, pki[1].kid, body, protected={1: -8, 4: pki[1].kid}))) \
        == "HC_ALG_UNSUPPORTED"
    assert code(v.verify(mint(pki[1].key, pki[1].kid, body, protected={1: "ES256", 4: pki[1].kid}))) \
        == "HC_ALG_UNSUPPORTED"
    assert code(v.verify(mint(pki[1].key, pki[1].kid, body, protected={4: pki[1].kid}))) == "HC_ALG_MISSING"
    # ES256 announced, but the kid is a P-384 key
    assert code(v.verify(mint(ec384.key, ec384.kid, body, alg=-7))) == "HC_ALG_KEY_MISMATCH"
    # PS256 announced with an EC key
    assert code(v.verify(mint(pki[1].key, pki[1].kid, body, alg=-37, signature=b"\0" * 256))) \
        == "HC_ALG_KEY_MISMATCH"
    assert code(v.verify(mint(small.key, small.kid, body, alg=-37, signature=b"\0" * 128))) == "HC_KEY_TOO_SMALL"
    assert v.verify(mint(rsa.key, rsa.kid, body)).valid


def test_signature_cases(pki, payload):
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    body = cbor2.dumps(claims_for(payload))
    key, kid = pki[1].key, pki[1].kid
    store = hcert.TrustStore([SignerKey.from_certificate(pki[1].cert)])
    prot = cbor2.dumps({1: -7, 4: kid})
    raw = cose.sign(-7, key, cose.sig_structure(prot, body))
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    der = encode_dss_signature(r, s)
    lax, strict = hcert.HcertVerifier(store), hcert.HcertVerifier(store, policy=hcert.Policy(require_low_s=True))
    assert code(lax.verify(mint(key, kid, body, signature=der))) == "HC_SIGNATURE_FORMAT"
    n = cose.CURVE_ORDER["secp256r1"]
    low, high = min(s, n - s), max(s, n - s)
    low_sig = r.to_bytes(32, "big") + low.to_bytes(32, "big")
    high_sig = r.to_bytes(32, "big") + high.to_bytes(32, "big")
    assert lax.verify(mint(key, kid, body, signature=low_sig)).valid
    assert lax.verify(mint(key, kid, body, signature=high_sig)).valid  # real signers emit high-s; see docs
    assert strict.verify(mint(key, kid, body, signature=low_sig)).valid
    assert code(strict.verify(mint(key, kid, body, signature=high_sig))) == "HC_SIGNATURE_HIGH_S"
    out_of_range = r.to_bytes(32, "big") + (s + n).to_bytes(33, "big")[-32:] if s + n < 2**256 else b"\xff" * 64
    assert code(lax.verify(mint(key, kid, body, signature=out_of_range))) == "HC_SIGNATURE_INVALID"
    assert code(lax.verify(mint(key, kid, body, signature=b"\0" * 64))) == "HC_SIGNATURE_INVALID"
    tampered = bytearray(body)
    tampered[-3] ^= 1
    assert code(lax.verify(mint(key, kid, bytes(tampered), signature=raw))) == "HC_SIGNATURE_INVALID"


@pytest.mark.parametrize(("change", "expected"), [
    ({6: int(NOW.timestamp()) + 3600}, "HC_NOT_YET_VALID"),
    ({4: int(NOW.timestamp()) - 3600}, "HC_EXPIRED"),
    ({4: math.nan}, "HC_CLAIM_TYPE"),
    ({4: math.inf}, "HC_CLAIM_TYPE"),
    ({4: -math.inf}, "HC_CLAIM_TYPE"),
    ({4: "2030-01-01"}, "HC_CLAIM_TYPE"),
    ({4: True}, "HC_CLAIM_TYPE"),
    ({4: 2**63}, "HC_CLAIM_TYPE"),
    ({4: 2**64}, "HC_CBOR_TAG"),  # a bignum is a tagged value
    ({4: _MISSING}, "HC_CLAIM_MISSING"),
    ({6: _MISSING}, "HC_CLAIM_MISSING"),
    ({-260: _MISSING}, "HC_CLAIM_MISSING"),
    ({-260: {2: {}}}, "HC_UNKNOWN_CERTIFICATE"),
    ({1: "XB"}, "HC_ISS_MISMATCH"),
    ({1: 7}, "HC_CLAIM_TYPE"),
])
def test_claims_cases(pki, payload, verifier, change, expected):
    claims = claims_for(payload)
    claims.update(change)
    claims = {k: v for k, v in claims.items() if v is not _MISSING}
    text = mint(pki[1].key, pki[1].kid, cbor2.dumps(claims))
    assert code(verifier.verify(text)) == expected


def test_fractional_dates_follow_the_policy(pki, payload, verifier):
    claims = claims_for(payload)
    claims[4] = float(claims[4]) + 0.25
    text = mint(pki[1].key, pki[1].kid, cbor2.dumps(claims))
    assert verifier.verify(text).valid  # RFC 8392 allows fractions; national issuers use them
    strict = hcert.HcertVerifier(verifier.trust, policy=hcert.Policy(whole_second_dates=True))
    assert code(strict.verify(text)) == "HC_CLAIM_TYPE"


def test_claims_not_a_map_and_payload_not_json(pki, payload, verifier):
    assert code(verifier.verify(mint(pki[1].key, pki[1].kid, cbor2.dumps([1, 2])))) == "HC_CLAIMS_NOT_MAP"
    claims = claims_for({**payload, "extra": b"\x00\x01"})
    assert code(verifier.verify(mint(pki[1].key, pki[1].kid, cbor2.dumps(claims)))) == "HC_PAYLOAD_NOT_JSON"


@pytest.mark.parametrize(("change", "needle"), [
    ({"dob": "1815-01-01"}, "dob"),
    ({"nam": {"fn": "X" * 81, "fnt": "X"}}, "nam"),
    ({"v": []}, "v"),
    ({"ver": 1}, "ver"),
])
def test_schema_violations(pki, payload, verifier, change, needle):
    text = mint(pki[1].key, pki[1].kid, cbor2.dumps(claims_for({**payload, **change})))
    v = verifier.verify(text)
    assert code(v) == "HC_SCHEMA_INVALID" and needle in v.failure.detail


def test_dsc_validity_and_key_usage(pki, payload):
    test_only = testpki.make_dsc(pki[0], "XA", usages="t")
    store = hcert.TrustStore([SignerKey.from_certificate(test_only.cert)])
    text = issue.build_hcert(payload, dsc_cert=test_only.cert, dsc_key=test_only.key, issuer_country="XA", now=NOW).text
    assert code(hcert.HcertVerifier(store).verify(text)) == "HC_KEY_USAGE"
    old = testpki.make_dsc(pki[0], "XA", days=30, not_before=NOW - timedelta(days=40))
    store = hcert.TrustStore([SignerKey.from_certificate(old.cert)])
    claims = claims_for(payload, iat=int((NOW - timedelta(days=35)).timestamp()))
    text = mint(old.key, old.kid, cbor2.dumps(claims))
    assert code(hcert.HcertVerifier(store).verify(text)) == "HC_DSC_NOT_VALID"


def test_every_code_has_both_languages_and_is_documented():
    from pathlib import Path

    from dho.trust.errordoc import all_codes, table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "trust-errors.md").read_text(encoding="utf-8")
    missing = [c.code for c in all_codes() if f"`{c.code}`" not in doc]
    assert not missing, f"codes missing from docs/trust-errors.md (run python -m dho.trust.errordoc): {missing}"
    assert table() in doc, "docs/trust-errors.md is out of date: run python -m dho.trust.errordoc"
    for c in CODES.values():
        assert c.en and c.fr and c.en != c.fr, c.code


# ---- property-based: mutations are never accepted and never raise --------------------------------------

@pytest.fixture(scope="module")
def issued_text(pki, payload):
    return issue.build_hcert(payload, dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW).text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_strings_are_never_accepted(verifier, issued_text, data):
    text = issued_text
    pos = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    op = data.draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
    ch = data.draw(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:a\x00é"))
    if op == "replace":
        if text[pos] == ch:
            return
        mutated = text[:pos] + ch + text[pos + 1:]
    elif op == "delete":
        mutated = text[:pos] + text[pos + 1:]
    elif op == "insert":
        mutated = text[:pos] + ch + text[pos:]
    else:
        mutated = text[:pos]
    v = verifier.verify(mutated)
    assert v.valid is False
    assert v.failure.code in CODES and v.failure.code != "HC_INTERNAL"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_cose_bytes_are_never_accepted(verifier, issued_text, data):
    from dho.trust.base45 import b45decode

    raw = bytearray(zlib.decompress(b45decode(issued_text[4:])))
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    raw[pos] ^= 1 << bit
    v = verifier.verify(wrap(bytes(raw)))
    if v.valid:  # only a flip inside the unprotected header (not signed) may leave it valid
        msg = hcert.parse_cose(bytes(raw))
        assert msg.payload == hcert.parse_cose(zlib.decompress(b45decode(issued_text[4:]))).payload
    else:
        assert v.failure.code in CODES and v.failure.code != "HC_INTERNAL"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_random_cose_bytes_never_raise(blob):
    v = hcert.HcertVerifier(hcert.TrustStore()).verify(wrap(blob))
    assert v.valid is False and v.failure.code != "HC_INTERNAL"


def test_kid_is_first_8_bytes_of_the_certificate_hash(pki):
    import hashlib

    assert pki[1].kid == hashlib.sha256(pki[1].der).digest()[:8] == kid_of(pki[1].der)


def _rule(identifier, logic, cert_type="Vaccination"):
    from dho.trust.rules import parse_rule

    return parse_rule({
        "Identifier": identifier, "Type": "Acceptance", "Country": "FR", "Version": "1.0.0",
        "SchemaVersion": "1.3.0", "Engine": "CERTLOGIC", "EngineVersion": "1.0.0", "CertificateType": cert_type,
        "Description": [{"lang": "en", "desc": "Vaccination series complete"}],
        "ValidFrom": "2026-01-01T00:00:00Z", "ValidTo": "2030-01-01T00:00:00Z", "AffectedFields": ["v.0.dn", "v.0.sd"],
        "Logic": logic})


def test_business_rules_of_the_country_of_arrival(pki, payload, verifier):
    complete = _rule("VR-FR-0001", {"if": [{"var": "payload.v.0"},
                                           {">=": [{"var": "payload.v.0.dn"}, {"var": "payload.v.0.sd"}]}, True]})
    v = hcert.HcertVerifier(verifier.trust, rules=[complete])
    done = issue.build_hcert(payload, dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW).text
    half = {**payload, "v": [{**payload["v"][0], "dn": 1}]}
    partial = issue.build_hcert(half, dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW).text
    at = hcert.Context(now=NOW, country_of_arrival="FR")
    assert v.verify(done, at).valid
    failed = v.verify(partial, at)
    assert code(failed) == "HC_RULE_FAILED" and "VR-FR-0001" in failed.failure.detail
    assert v.verify(partial, hcert.Context(now=NOW, country_of_arrival="DE")).valid  # no German rules loaded
    assert v.verify(partial).valid  # no country of arrival: rules are not applied
    broken = _rule("VR-FR-0002", {"+": [{"var": "payload.v.0.dt"}, 1]})
    errs = hcert.HcertVerifier(verifier.trust, rules=[broken]).verify(done, at)
    assert code(errs) == "HC_RULE_ERROR"


@pytest.mark.parametrize("hash_type", ["UCI", "COUNTRYCODEUCI", "SIGNATURE"])
def test_revoked_certificates_are_refused_by_each_hash_type(pki, payload, verifier, hash_type):
    import base64

    from dho.trust.base45 import b45decode
    from dho.trust.revocation import RevocationIndex, revocation_hashes, validate_batch

    text = issue.build_hcert(payload, dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW).text
    other = issue.build_hcert({**payload, "v": [{**payload["v"][0], "ci": "URN:UVCI:01:XA:MOH/OTHER"}]},
                              dsc_cert=pki[1].cert, dsc_key=pki[1].key, issuer_country="XA", now=NOW).text
    msg = hcert.parse_cose(zlib.decompress(b45decode(text[4:])))
    hashes = revocation_hashes(uci=payload["v"][0]["ci"], country="XA", cose_signature=msg.signature, alg=-7)
    batch = validate_batch({"country": "XA", "expires": (NOW + timedelta(days=30)).isoformat().replace("+00:00", "Z"),
                            "kid": base64.b64encode(pki[1].kid).decode(), "hashType": hash_type,
                            "entries": [{"hash": base64.b64encode(hashes[hash_type]).decode()}]})
    index = RevocationIndex()
    index.add_batch(batch)
    checked = hcert.HcertVerifier(verifier.trust, revocation=index)
    assert code(checked.verify(text)) == "HC_REVOKED"
    assert checked.verify(other).valid  # another certificate of the same signer is untouched
    later = hcert.Context(now=NOW + timedelta(days=31))  # the batch has expired by then
    assert checked.verify(text, later).valid


def test_malformed_country_is_a_schema_problem_even_with_revocation(pki, payload, verifier):
    from dho.trust.revocation import RevocationIndex

    bad = {**payload, "v": [{**payload["v"][0], "co": "x"}]}
    text = mint(pki[1].key, pki[1].kid, cbor2.dumps(claims_for(bad)))
    v = hcert.HcertVerifier(verifier.trust, revocation=RevocationIndex()).verify(text)
    assert code(v) == "HC_SCHEMA_INVALID"

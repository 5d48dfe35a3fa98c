"""SMART Health Cards verifier: the published examples verify, and every kind of damage or forgery
gives its own stable code without raising."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dho.trust.outcome import CODES, Fail
from dho.trust.shc import (
    HEALTH_CARD_TYPE,
    b64url_encode,
    compact_jws,
    deflate_raw,
    inspect_key_set,
    jwk_from_public_key,
    jwk_thumbprint,
    jws_to_numeric,
    jws_to_qr_texts,
    load_key_set,
    mint_shc,
    numeric_to_jws,
    verify_shc,
    verify_shc_file,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "shc-examples"
EXAMPLE_ISS = "https://spec.smarthealth.cards/examples/issuer"
EXAMPLE_KID = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"
NOW = datetime(2023, 7, 1, tzinfo=UTC)  # after the examples were issued, before example 03 expires
ISS = "https://issuer.example.org/shc"


def _need_data() -> None:
    if not DATA.is_dir():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"SMART Health Cards test data missing at {DATA}")
        pytest.skip(f"SMART Health Cards test data not found at {DATA} (../shared/testdata)")


@pytest.fixture(scope="module")
def example_keys() -> dict[str, dict]:
    _need_data()
    return {EXAMPLE_ISS: json.loads((DATA / "issuer" / ".well-known" / "jwks.json").read_text())}


@pytest.fixture(scope="module")
def example_crls() -> dict[str, dict]:
    _need_data()
    return {p.stem: json.loads(p.read_text()) for p in (DATA / "issuer" / ".well-known" / "crl").glob("*.json")}


def qr_chunks(n: int) -> list[str]:
    return [p.read_text().strip() for p in sorted(DATA.glob(f"example-0{n}-f-qr-code-numeric-value-*.txt"))]


def example_jws(n: int) -> str:
    return (DATA / f"example-0{n}-d-jws.txt").read_text().strip()


# --- our own issuer for forged and damaged cards -----------------------------------------------------

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
KID = jwk_from_public_key(KEY.public_key())["kid"]
OWN_KEYS = {ISS: {"keys": [jwk_from_public_key(KEY.public_key())]}}


def payload(**changes) -> dict:
    body = {
        "iss": ISS,
        "nbf": NOW.timestamp() - 3600,
        "vc": {
            "type": [HEALTH_CARD_TYPE, "https://smarthealth.cards#immunization"],
            "rid": "abcDEF012_-",
            "credentialSubject": {
                "fhirVersion": "4.0.1",
                "fhirBundle": {"resourceType": "Bundle", "type": "collection", "entry": [
                    {"fullUrl": "resource:0", "resource": {"resourceType": "Patient", "name": [
                        {"family": "Dupont", "given": ["Marie"]}], "birthDate": "1980-02-29"}},
                    {"fullUrl": "resource:1", "resource": {
                        "resourceType": "Immunization", "status": "completed",
                        "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "208"}]},
                        "occurrenceDateTime": "2021-05-01", "lotNumber": "LOT-7",
                        "performer": [{"actor": {"display": "Centre de vaccination"}}]}},
                ]},
            },
        },
    }
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for step in parents:
            target = target[step]
        if value is _DROP:
            target.pop(last, None)
        else:
            target[last] = value
    return body


_DROP = object()


def verify(card, **kwargs):
    kwargs.setdefault("key_sets", OWN_KEYS)
    kwargs.setdefault("now", NOW)
    return verify_shc(card, **kwargs)


def code_of(card, **kwargs) -> str | None:
    verdict = verify(card, **kwargs)
    assert verdict.valid is (verdict.failure is None)
    return verdict.failure.code if verdict.failure else None


def raw_card(header: dict, body: bytes, key=KEY) -> str:
    return compact_jws(header, body, key)


DUPLICATE_ALG = b'{"alg":"ES256","alg":"none"}'
HEADER = {"zip": "DEF", "alg": "ES256", "kid": KID}


def packed(obj) -> bytes:
    return deflate_raw(json.dumps(obj).encode())


# --- the published examples --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2])
def test_example_qr_verifies(n, example_keys, example_crls):
    verdict = verify_shc(qr_chunks(n), key_sets=example_keys, crls=example_crls, now=NOW)
    assert verdict.valid, verdict.failure
    assert verdict.failure is None
    assert verdict.stages == ["input", "prefix", "numeric", "chunks", "jws", "header", "inflate", "key",
                              "signature", "payload", "revocation"]
    assert verdict.data["iss"] == EXAMPLE_ISS
    assert HEALTH_CARD_TYPE in verdict.data["types"]
    assert verdict.data["nbf"] == pytest.approx(1687450764.66, abs=0.01)
    assert verdict.data["issued"].startswith("2023-06-22T16:19:24")
    assert verdict.data["format"] == ("qr-chunks" if n == 2 else "qr")


def test_example_summary_is_for_display(example_keys, example_crls):
    verdict = verify_shc(qr_chunks(0)[0], key_sets=example_keys, crls=example_crls, now=NOW)
    summary = verdict.data["summary"]
    assert summary["patient"] == "John B. Anyperson"
    assert summary["birth_date"] == "1951-01-20"
    assert [i["date"] for i in summary["immunizations"]] == ["2021-01-01", "2021-01-29", "2022-09-05"]
    first = summary["immunizations"][0]
    assert first["vaccine_codes"] == [{"system": "http://hl7.org/fhir/sid/cvx", "code": "207"}]
    assert first["lot"] == "0000001"
    assert first["performer"] == "ABC General Hospital"
    assert verdict.data["kid"] == EXAMPLE_KID
    assert verdict.data["rid"] == "MKyCxh7p6uQ"
    assert json.dumps(verdict.as_dict("fr"))  # display form is plain JSON


def test_example_lab_results_summary(example_keys):
    verdict = verify_shc(qr_chunks(2), key_sets=example_keys, now=NOW)
    assert verdict.valid
    assert verdict.data["summary"]["resources"] == {"DiagnosticReport": 1, "Specimen": 3, "Observation": 51}
    assert verdict.data["chunks"] == 3


def test_example_key_with_certificate_chain(example_keys, example_crls):
    """Example 01 is signed by the key that carries an x5c chain; its leaf must hold the same key."""
    verdict = verify_shc(qr_chunks(1), key_sets=example_keys, crls=example_crls, now=NOW)
    assert verdict.valid
    assert verdict.data["kid"] == "EBKOr72QQDcTBUuVzAzkfBTGew0ZA16GuWty64nS-sw"
    assert "rid" not in verdict.data


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_chunks_in_any_order(order, example_keys):
    chunks = qr_chunks(2)
    as_list = verify_shc([chunks[i] for i in order], key_sets=example_keys, now=NOW)
    as_lines = verify_shc("\n".join(chunks[i] for i in order).encode(), key_sets=example_keys, now=NOW)
    assert as_list.valid and as_lines.valid
    assert as_list.data["payload"] == as_lines.data["payload"]


@pytest.mark.parametrize("n", [0, 1, 2])
def test_example_jws_and_file_verify(n, example_keys, example_crls):
    jws = verify_shc(example_jws(n), key_sets=example_keys, crls=example_crls, now=NOW)
    assert jws.valid and jws.data["format"] == "jws"
    text = (DATA / f"example-0{n}-e-file.smart-health-card").read_text()
    whole = verify_shc(text, key_sets=example_keys, crls=example_crls, now=NOW)
    assert whole.valid and whole.data["format"] == "file"
    per_card = verify_shc_file(text.encode(), key_sets=example_keys, crls=example_crls, now=NOW)
    assert [v.valid for v in per_card] == [True]
    assert per_card[0].data["payload"] == jws.data["payload"]
    expected = json.loads((DATA / f"example-0{n}-b-jws-payload-expanded.json").read_text())
    assert jws.data["payload"] == expected


def test_example_03_is_revoked_by_the_issuer_list(example_keys, example_crls):
    verdict = verify_shc(qr_chunks(3), key_sets=example_keys, crls=example_crls, now=NOW)
    assert not verdict.valid
    assert verdict.failure.code == "SHC_REVOKED"
    assert verdict.failure.stage == "revocation"
    assert "vwAjHdarZuc" in verdict.failure.detail
    assert "signature" in verdict.stages  # a genuine card, revoked
    assert verdict.failure.message("fr").startswith("L’émetteur a révoqué")


def test_without_revocation_list_a_warning_is_given(example_keys):
    verdict = verify_shc(qr_chunks(3), key_sets=example_keys, now=NOW)
    assert verdict.valid
    assert any("revocation not checked" in w for w in verdict.warnings)


def test_example_03_expires(example_keys):
    assert verify_shc(qr_chunks(3), key_sets=example_keys, now=datetime(2025, 1, 1, tzinfo=UTC)).failure.code \
        == "SHC_EXPIRED"


def test_file_with_several_cards(example_keys, example_crls):
    doc = {"verifiableCredential": [example_jws(0), example_jws(3), example_jws(1)]}
    verdicts = verify_shc_file(doc, key_sets=example_keys, crls=example_crls, now=NOW)
    assert [v.failure.code if v.failure else None for v in verdicts] == [None, "SHC_REVOKED", None]
    combined = verify_shc(json.dumps(doc), key_sets=example_keys, crls=example_crls, now=NOW)
    assert not combined.valid
    assert combined.failure.code == "SHC_REVOKED"
    assert combined.failure.detail.startswith("card 2 of 3")
    assert len(combined.data["credentials"]) == 3
    del doc["verifiableCredential"][1]
    assert verify_shc(json.dumps(doc), key_sets=example_keys, crls=example_crls, now=NOW).valid


@pytest.mark.parametrize(("text", "code"), [
    ("not json {", "SHC_FILE_INVALID"),
    ('{"verifiableCredential": []}', "SHC_FILE_INVALID"),
    ('{"verifiableCredential": [42]}', "SHC_FILE_INVALID"),
    ('{"verifiableCredential": "abc"}', "SHC_FILE_INVALID"),
    ('{"verifiableCredential": ["a.b.c"], "verifiableCredential": []}', "SHC_FILE_INVALID"),
    ('{"verifiableCredential": ["not a jws"]}', "SHC_JWS_MALFORMED"),
])
def test_bad_files(text, code):
    verdicts = verify_shc_file(text, key_sets=OWN_KEYS, now=NOW)
    assert len(verdicts) == 1
    assert verdicts[0].failure.code == code
    assert code_of(text) == (code if text.startswith("{") else "SHC_BAD_PREFIX")


# --- keys --------------------------------------------------------------------------------------------


def test_load_key_set_examples(example_keys):
    keys = load_key_set(example_keys[EXAMPLE_ISS])
    assert sorted(keys) == [EXAMPLE_KID, "EBKOr72QQDcTBUuVzAzkfBTGew0ZA16GuWty64nS-sw"]
    assert inspect_key_set(example_keys[EXAMPLE_ISS]).crl_versions == {EXAMPLE_KID: 1}


def _jwk(**changes) -> dict:
    jwk = jwk_from_public_key(KEY.public_key())
    for name, value in changes.items():
        if value is _DROP:
            jwk.pop(name)
        else:
            jwk[name] = value
    return jwk


@pytest.mark.parametrize(("jwk", "code"), [
    (_jwk(kid="not-the-thumbprint"), "SHC_KEY_KID_MISMATCH"),
    (_jwk(d=b64url_encode(KEY.private_numbers().private_value.to_bytes(32, "big"))), "SHC_KEY_PRIVATE"),
    (_jwk(crv="P-384"), "SHC_KEY_INVALID"),
    (_jwk(kty="RSA"), "SHC_KEY_INVALID"),
    (_jwk(alg="ES384"), "SHC_KEY_INVALID"),
    (_jwk(use="enc"), "SHC_KEY_INVALID"),
    (_jwk(use=_DROP), "SHC_KEY_INVALID"),
    (_jwk(x="AAAA"), "SHC_KEY_INVALID"),
    (_jwk(y=12), "SHC_KEY_INVALID"),
    (_jwk(y=b64url_encode(b"\x01" * 32)), "SHC_KEY_INVALID"),  # not on the curve
    (_jwk(x5c=["bm90IGEgY2VydGlmaWNhdGU="]), "SHC_KEY_INVALID"),
    (_jwk(x5c="oops"), "SHC_KEY_INVALID"),
])
def test_refused_keys(jwk, code):
    """A refused key is left out of the set, and a card signed with it says why."""
    key_set = {"keys": [jwk]}
    assert load_key_set(key_set) == {}
    kid = jwk["kid"]
    assert inspect_key_set(key_set).rejected[kid].code == code
    card = raw_card({**HEADER, "kid": kid}, packed(payload()))
    assert code_of(card, key_sets={ISS: key_set}) == code


def test_x5c_with_a_different_key_is_refused(example_keys):
    chain = example_keys[EXAMPLE_ISS]["keys"][1]["x5c"]
    key_set = {"keys": [_jwk(x5c=chain)]}
    assert inspect_key_set(key_set).rejected[KID].detail == "the x5c certificate holds a different key"


@pytest.mark.parametrize("jwks", [None, [], {"keys": {}}, {"nokeys": []}, "text"])
def test_malformed_key_set(jwks):
    with pytest.raises(Fail) as caught:
        load_key_set(jwks)
    assert caught.value.failure.code == "SHC_KEY_SET_INVALID"
    assert code_of(mint_shc(payload(), KEY), key_sets={ISS: jwks}) == "SHC_KEY_SET_INVALID"


def test_thumbprint_is_rfc7638():
    """RFC 7638: SHA-256 of the required members (crv, kty, x, y) in lexical order, no whitespace."""
    jwk = _jwk()
    canonical = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (jwk["x"], jwk["y"])  # noqa: UP031
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical.encode())
    assert jwk_thumbprint(jwk) == b64url_encode(digest.finalize()) == KID


# --- our own cards -----------------------------------------------------------------------------------


def test_minted_card_round_trip():
    jws = mint_shc(payload(), KEY)
    texts = jws_to_qr_texts(jws)
    assert len(texts) == 1 and texts[0].startswith("shc:/")
    assert numeric_to_jws(texts[0][5:]) == jws
    verdict = verify(texts[0])
    assert verdict.valid, verdict.failure
    assert verdict.data["summary"]["patient"] == "Marie Dupont"
    assert verdict.data["summary"]["immunizations"][0]["lot"] == "LOT-7"


def test_big_card_is_chunked_and_reassembled():
    notes = [{"resource": {"resourceType": "Observation", "id": f"o{i}", "note": os.urandom(24).hex()}}
             for i in range(40)]
    body = payload()
    body["vc"]["credentialSubject"]["fhirBundle"]["entry"] += notes
    jws = mint_shc(body, KEY)
    texts = jws_to_qr_texts(jws)
    assert len(texts) >= 2
    assert all(re.fullmatch(rf"shc:/\d/{len(texts)}/\d+", t) for t in texts)
    assert all(len(t) <= 9 + 2 * 1191 for t in texts)
    assert verify(list(reversed(texts))).valid
    assert verify(texts[:-1]).failure.code == "SHC_CHUNK_MISSING"


def test_payload_is_raw_deflate():
    jws = mint_shc(payload(), KEY)
    header, body, _ = jws.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == HEADER
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert json.loads(zlib.decompress(raw, -15))["iss"] == ISS


# --- damage and forgery: each has its code, nothing raises --------------------------------------------


def _flip_signature_digit(qr: str) -> str:
    """Change one digit inside the signature so it encodes the next base64url character."""
    jws = numeric_to_jws(qr[5:])
    start = jws.rindex(".") + 1
    for i in range(start + 10, len(jws) - 2):
        if jws[i] in "ABCDEFGHIJKLMNOPQRSTUVWXYabcdefghijklmnopqrstuvwxy012345678" and (ord(jws[i]) - 45) % 10 < 9:
            pos = 5 + 2 * i + 1
            return qr[:pos] + str(int(qr[pos]) + 1) + qr[pos + 1:]
    raise AssertionError("no digit to flip")


def test_flipped_digit(example_keys):
    qr = qr_chunks(0)[0]
    flipped = _flip_signature_digit(qr)
    assert sum(a != b for a, b in zip(qr, flipped, strict=True)) == 1
    assert verify(flipped, key_sets=example_keys).failure.code == "SHC_SIGNATURE_INVALID"


def test_swapped_chunk_bodies(example_keys):
    c = qr_chunks(2)
    body = [x.split("/", 3)[3] for x in c]
    swapped = [f"shc:/1/3/{body[1]}", f"shc:/2/3/{body[0]}", c[2]]
    assert verify(swapped, key_sets=example_keys).failure.code == "SHC_JWS_MALFORMED"


def test_changed_payload_keeps_old_signature():
    jws = mint_shc(payload(), KEY)
    header, _, signature = jws.split(".")
    forged = f"{header}.{b64url_encode(packed(payload(vc__rid='zzz')))}.{signature}"
    assert code_of(forged) == "SHC_SIGNATURE_INVALID"
    assert code_of(jws) is None


def test_wrong_key():
    assert code_of(raw_card(HEADER, packed(payload()), key=OTHER)) == "SHC_SIGNATURE_INVALID"
    other_kid = jwk_from_public_key(OTHER.public_key())["kid"]
    assert code_of(mint_shc(payload(), OTHER)) == "SHC_KEY_UNKNOWN"
    assert code_of(mint_shc(payload(iss="https://elsewhere.example"), KEY)) == "SHC_ISSUER_UNKNOWN"
    assert code_of(mint_shc(payload(), OTHER, kid=other_kid), key_sets={}) == "SHC_ISSUER_UNKNOWN"


def test_der_signature_is_refused():
    jws = mint_shc(payload(), KEY)
    head, body, _ = jws.split(".")
    der = KEY.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    verdict = verify(f"{head}.{body}.{b64url_encode(der)}")
    assert verdict.failure.code == "SHC_SIGNATURE_FORMAT"
    assert "DER" in verdict.failure.detail
    assert code_of(f"{head}.{body}.{b64url_encode(b'x' * 63)}") == "SHC_SIGNATURE_FORMAT"
    assert code_of(f"{head}.{body}.") == "SHC_SIGNATURE_FORMAT"


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256", "ES384", None])
def test_other_algorithms(alg):
    header = {**HEADER, "alg": alg} if alg else {k: v for k, v in HEADER.items() if k != "alg"}
    head = b64url_encode(json.dumps(header).encode())
    body = b64url_encode(packed(payload()))
    assert code_of(f"{head}.{body}.") == "SHC_ALG_UNSUPPORTED"
    assert code_of(raw_card(header, packed(payload()))) == "SHC_ALG_UNSUPPORTED"


def test_compression_problems():
    raw = json.dumps(payload()).encode()
    no_zip = {k: v for k, v in HEADER.items() if k != "zip"}
    assert code_of(raw_card(no_zip, raw)) == "SHC_ZIP_MISSING"
    assert code_of(raw_card({**HEADER, "zip": "GZIP"}, raw)) == "SHC_ZIP_MISSING"
    assert code_of(raw_card(HEADER, zlib.compress(raw))) == "SHC_INFLATE_ZLIB_WRAPPED"
    assert code_of(raw_card(HEADER, raw)) == "SHC_INFLATE_INVALID"  # zip DEF but not compressed
    assert code_of(raw_card(HEADER, deflate_raw(raw) + b"\x00junk")) == "SHC_INFLATE_INVALID"
    assert code_of(raw_card(HEADER, deflate_raw(raw)[:-8])) == "SHC_INFLATE_INVALID"


def test_inflate_bomb():
    bomb = deflate_raw(b'{"iss":"' + b"a" * (20 * 1024 * 1024) + b'"}')
    assert len(bomb) < 30_000
    verdict = verify(raw_card(HEADER, bomb))
    assert verdict.failure.code == "SHC_INFLATE_TOO_LARGE"
    assert code_of(mint_shc(payload(), KEY), max_inflated=100) == "SHC_INFLATE_TOO_LARGE"


@pytest.mark.parametrize(("text", "code"), [
    ("shc:/56762909a", "SHC_NUMERIC_INVALID"),
    ("shc:/5676 2909", "SHC_BAD_PREFIX"),  # the second code lacks its prefix
    ("shc:/5676 shc:/2909", "SHC_CHUNK_MIXED"),
    ("shc:/", "SHC_NUMERIC_INVALID"),
    ("shc:/567", "SHC_NUMERIC_ODD"),
    ("shc:/5678", "SHC_NUMERIC_RANGE"),
    ("shc:/99", "SHC_NUMERIC_RANGE"),
    ("shc:/５６", "SHC_NUMERIC_INVALID"),  # full-width digits are not digits here
    ("shc:/0/3/5676", "SHC_CHUNK_HEADER"),
    ("shc:/4/3/5676", "SHC_CHUNK_HEADER"),
    ("shc:/1/x/5676", "SHC_CHUNK_HEADER"),
    ("shc:/1/100/5676", "SHC_CHUNK_HEADER"),
    ("shc:/1/99999999999999999999/5676", "SHC_CHUNK_HEADER"),
    ("HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDE", "SHC_BAD_PREFIX"),
    ("https://example.org/#shc:/5676", "SHC_BAD_PREFIX"),
    ("", "SHC_INPUT_INVALID"),
    ("   \n ", "SHC_INPUT_INVALID"),
    (b"\xff\xfe\x00", "SHC_INPUT_INVALID"),
    (None, "SHC_INPUT_INVALID"),
    (12345, "SHC_INPUT_INVALID"),
    ([], "SHC_INPUT_INVALID"),
    ([None], "SHC_INPUT_INVALID"),
    ("a.b", "SHC_BAD_PREFIX"),
    ("a.b.c", "SHC_JWS_MALFORMED"),
    ("..", "SHC_JWS_MALFORMED"),
    ("eyJhbGciOiJFUzI1NiJ9.e+/=.AA", "SHC_JWS_MALFORMED"),
    ("eyJhbGciOiJFUzI1NiJ9.eB.AA", "SHC_JWS_MALFORMED"),  # stray bits: non-canonical base64url
    (f"{b64url_encode(b'not json')}.AAAA.AAAA", "SHC_HEADER_INVALID"),
    (f"{b64url_encode(b'[1]')}.AAAA.AAAA", "SHC_HEADER_INVALID"),
    (f"{b64url_encode(DUPLICATE_ALG)}.AAAA.AAAA", "SHC_HEADER_INVALID"),
])
def test_malformed_input(text, code):
    verdict = verify(text)
    assert not verdict.valid
    assert verdict.failure.code == code
    assert verdict.failure.stage == CODES[code].stage


def test_header_details():
    body = packed(payload())
    assert code_of(raw_card({**HEADER, "crit": ["b64"]}, body)) == "SHC_HEADER_INVALID"
    assert code_of(raw_card({k: v for k, v in HEADER.items() if k != "kid"}, body)) == "SHC_KID_MISSING"
    assert code_of(raw_card({**HEADER, "kid": 7}, body)) == "SHC_KID_MISSING"


def test_oversized_input():
    jws = mint_shc(payload(), KEY)
    assert code_of("shc:/" + "56" * 600_000) == "SHC_TOO_LARGE"
    assert code_of(jws, max_bytes=len(jws) - 1) == "SHC_TOO_LARGE"
    assert code_of(jws, max_bytes=len(jws)) is None
    assert code_of(["shc:/1/2/" + "56" * 400_000, "shc:/2/2/" + "56" * 400_000]) == "SHC_TOO_LARGE"


def test_chunk_set_problems(example_keys):
    c = qr_chunks(2)
    assert verify([c[0], c[2]], key_sets=example_keys).failure.code == "SHC_CHUNK_MISSING"
    assert "chunk(s) 2 of 3" in verify([c[0], c[2]], key_sets=example_keys).failure.detail
    assert verify([c[0], c[1], c[1], c[2]], key_sets=example_keys).failure.code == "SHC_CHUNK_DUPLICATE"
    assert verify([c[0], c[1].replace("/2/3/", "/2/4/"), c[2]],
                  key_sets=example_keys).failure.code == "SHC_CHUNK_COUNT_MISMATCH"
    assert verify([c[0], qr_chunks(0)[0]], key_sets=example_keys).failure.code == "SHC_CHUNK_MIXED"
    assert verify([qr_chunks(0)[0], qr_chunks(1)[0]], key_sets=example_keys).failure.code == "SHC_CHUNK_MIXED"
    assert verify([c[0], "HC1:XYZ"], key_sets=example_keys).failure.code == "SHC_BAD_PREFIX"
    assert verify(c[0], key_sets=example_keys).failure.code == "SHC_CHUNK_MISSING"
    assert verify([c[0], c[1], c[2][:-1]], key_sets=example_keys).failure.code == "SHC_NUMERIC_ODD"


@pytest.mark.parametrize(("body", "code"), [
    (b"not json", "SHC_PAYLOAD_NOT_JSON"),
    (b"[1, 2]", "SHC_PAYLOAD_NOT_JSON"),
    (b'{"iss": 1}', "SHC_PAYLOAD_INVALID"),
    (b'{"nbf": 1}', "SHC_PAYLOAD_INVALID"),
    (b'{"iss": "x", "iss": "' + ISS.encode() + b'"}', "SHC_PAYLOAD_NOT_JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "SHC_PAYLOAD_NOT_JSON"),
    (b"\xff\xfe{}", "SHC_PAYLOAD_NOT_JSON"),
])
def test_payload_not_usable(body, code):
    assert code_of(raw_card(HEADER, deflate_raw(body))) == code


@pytest.mark.parametrize(("changes", "code"), [
    ({"nbf": _DROP}, "SHC_PAYLOAD_INVALID"),
    ({"nbf": "1687450764"}, "SHC_PAYLOAD_INVALID"),
    ({"nbf": True}, "SHC_PAYLOAD_INVALID"),
    ({"nbf": 1e300}, "SHC_PAYLOAD_INVALID"),
    ({"nbf": -5}, "SHC_PAYLOAD_INVALID"),
    ({"nbf": NOW.timestamp() + 3600}, "SHC_NOT_YET_VALID"),
    ({"nbf": NOW.timestamp() + 60}, None),  # within the five minutes of clock skew
    ({"exp": NOW.timestamp() - 3600}, "SHC_EXPIRED"),
    ({"exp": "tomorrow"}, "SHC_PAYLOAD_INVALID"),
    ({"exp": NOW.timestamp() + 3600}, None),
    ({"vc": _DROP}, "SHC_PAYLOAD_INVALID"),
    ({"vc": []}, "SHC_PAYLOAD_INVALID"),
    ({"vc__type": "https://smarthealth.cards#health-card"}, "SHC_PAYLOAD_INVALID"),
    ({"vc__type": ["VerifiableCredential"]}, "SHC_TYPE_MISSING"),
    ({"vc__type": []}, "SHC_TYPE_MISSING"),
    ({"vc__rid": "has spaces"}, "SHC_PAYLOAD_INVALID"),
    ({"vc__rid": "A" * 25}, "SHC_PAYLOAD_INVALID"),
    ({"vc__rid": _DROP}, None),
    ({"vc__credentialSubject": _DROP}, "SHC_BUNDLE_INVALID"),
    ({"vc__credentialSubject__fhirBundle": {"resourceType": "Patient"}}, "SHC_BUNDLE_INVALID"),
    ({"vc__credentialSubject__fhirBundle": []}, "SHC_BUNDLE_INVALID"),
    ({"vc__credentialSubject__fhirBundle": {"resourceType": "Bundle", "entry": "junk"}}, None),
])
def test_payload_rules(changes, code):
    assert code_of(mint_shc(payload(**changes), KEY)) == code


def test_odd_bundle_still_summarised():
    """A signed but strange bundle must not break the display summary."""
    bundle = {"resourceType": "Bundle", "entry": [
        None, {"resource": "x"}, {"resource": {"resourceType": "Patient", "name": "nope", "birthDate": 5}},
        {"resource": {"resourceType": "Immunization", "vaccineCode": {"coding": "x"}, "performer": [{}]}},
        {"resource": {"resourceType": "Patient", "name": [{"text": "Second"}]}},
    ]}
    verdict = verify(mint_shc(payload(vc__credentialSubject__fhirBundle=bundle), KEY))
    assert verdict.valid
    summary = verdict.data["summary"]
    assert summary["patient"] is None and summary["birth_date"] is None
    assert summary["immunizations"] == [{"vaccine_codes": [], "date": None, "status": None, "performer": None,
                                         "lot": None}]
    assert summary["resources"] == {"Patient": 2, "Immunization": 1}


# --- revocation --------------------------------------------------------------------------------------


def crl(*rids, **changes):
    return {KID: {"kid": KID, "method": "rid", "ctr": 1, "rids": list(rids), **changes}}


@pytest.mark.parametrize(("crls", "code"), [
    (crl("abcDEF012_-"), "SHC_REVOKED"),
    (crl("other", "abcDEF012_-"), "SHC_REVOKED"),
    (crl("other"), None),
    (crl(f"abcDEF012_-.{int(NOW.timestamp())}"), "SHC_REVOKED"),  # revoked for cards issued before now
    (crl(f"abcDEF012_-.{int(NOW.timestamp()) - 7200}"), None),  # the card was reissued after that
    ({"some-other-kid": crl("abcDEF012_-")[KID]}, None),
    (crl("abcDEF012_-", kid="another"), "SHC_CRL_INVALID"),
    (crl("abcDEF012_-", method="hash"), "SHC_CRL_INVALID"),
    (crl("abcDEF012_-", ctr="1"), "SHC_CRL_INVALID"),
    (crl("abcDEF012_-", ctr=0), "SHC_CRL_INVALID"),
    (crl("abc.def"), "SHC_CRL_INVALID"),
    (crl("abc", 5), "SHC_CRL_INVALID"),
    (crl("bad rid"), "SHC_CRL_INVALID"),
    ({KID: {"kid": KID, "method": "rid", "ctr": 1}}, "SHC_CRL_INVALID"),
    ({KID: "rids"}, "SHC_CRL_INVALID"),
])
def test_revocation(crls, code):
    assert code_of(mint_shc(payload(), KEY), crls=crls) == code


def test_card_without_rid_cannot_be_revoked():
    assert code_of(mint_shc(payload(vc__rid=_DROP), KEY), crls=crl("abcDEF012_-")) is None


def test_stale_revocation_list_warns():
    keys = {ISS: {"keys": [{**_jwk(), "crlVersion": 3}]}}
    verdict = verify(mint_shc(payload(), KEY), key_sets=keys, crls=crl("zzz", ctr=2))
    assert verdict.valid
    assert any("older than" in w for w in verdict.warnings)


# --- robustness --------------------------------------------------------------------------------------


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300), st.lists(st.text(max_size=40), max_size=4),
                 st.from_regex(r"shc:/(\d{1,2}/\d{1,2}/)?\d{0,60}", fullmatch=True),
                 st.from_regex(r"[A-Za-z0-9_-]{0,30}\.[A-Za-z0-9_-]{0,30}\.[A-Za-z0-9_-]{0,30}", fullmatch=True)))
def test_never_raises_on_garbage(garbage):
    verdict = verify(garbage)
    assert not verdict.valid
    assert verdict.failure.code in CODES
    assert verdict.failure.code != "SHC_INTERNAL"
    assert verdict.failure.message("fr")


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_single_digit_change_is_caught(data):
    qr = "shc:/" + jws_to_numeric(mint_shc(payload(), KEY))
    pos = data.draw(st.integers(min_value=5, max_value=len(qr) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != qr[pos]]))
    verdict = verify(qr[:pos] + digit + qr[pos + 1:])
    assert not verdict.valid
    assert verdict.failure.code != "SHC_INTERNAL"


def test_codes_are_bilingual_and_typographically_french():
    ours = {c: v for c, v in CODES.items() if c.startswith("SHC_")}
    assert len(ours) >= 30
    for code in ours.values():
        assert code.stage in {"input", "prefix", "numeric", "chunks", "jws", "header", "inflate", "key", "signature",
                              "payload", "revocation", "file", "internal"}
        assert code.en and code.fr and code.en != code.fr
        assert not re.search(r"[^\u00a0][:;?!](?!/)", code.fr), code.fr


def test_docs_list_every_code():
    text = (Path(__file__).resolve().parents[2] / "docs" / "trust-shc.md").read_text()
    import dho.trust.qr  # noqa: F401  (registers the QR_ codes)

    for code in CODES:
        if code.startswith(("SHC_", "QR_")):
            assert f"`{code}`" in text, code

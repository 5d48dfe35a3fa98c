"""DID trust lists: build, sign, verify, read ours and the WHO GDHCN development lists (dho.trust.did)."""

from __future__ import annotations

import base64
import copy
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import jsonschema_rs
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dho.trust import testpki
from dho.trust.did import (
    DidKey,
    b64url,
    b64url_decode,
    build_did_document,
    canonical_json,
    public_jwk,
    read_did_trustlist,
    sign_did_document,
    verify_did_document,
)
from dho.trust.pki import PkiError

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "gdhcn-did-trustlist-dev"
DID = "did:web:dho.example.org:trustlist:DCC:XA"
SIGNER_VM = "did:web:dho.example.org:anchor#key-1"


def gdhcn_dir() -> Path:
    if not TESTDATA.is_dir():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"test data missing: {TESTDATA}")
        pytest.skip(f"test data not present at {TESTDATA} (shared/testdata next to the project)")
    return TESTDATA


@pytest.fixture(scope="module")
def pki():
    sca = testpki.make_sca("XA")
    ec_dsc = testpki.make_dsc(sca, usages="v")
    rsa_dsc = testpki.make_dsc(sca, key="rsa")
    return sca, ec_dsc, rsa_dsc


@pytest.fixture(scope="module")
def anchor() -> testpki.Party:
    return testpki.make_anchor()


@pytest.fixture()
def keys(pki) -> list[DidKey]:
    sca, ec_dsc, rsa_dsc = pki
    tags = {"domain": "DCC", "participant": "XXA"}
    return [DidKey.from_certificate(sca.cert, usage="SCA", **tags),
            DidKey.from_certificate(ec_dsc.cert, chain=[sca.cert], usage="DSC", **tags),
            DidKey.from_certificate(rsa_dsc.cert, chain=[sca.cert], usage="DSC", **tags)]


@pytest.fixture()
def signed(keys, anchor) -> dict:
    return sign_did_document(build_did_document(DID, keys), anchor.key, SIGNER_VM)


# --- building -----------------------------------------------------------------------------------------------------

def test_document_shape(keys, pki):
    sca, ec_dsc, rsa_dsc = pki
    doc = build_did_document(DID, keys, controller="did:web:dho.example.org:trustlist")
    assert doc["id"] == DID and doc["controller"] == "did:web:dho.example.org:trustlist"
    vm = doc["verificationMethod"]
    assert [m["id"] for m in vm] == [f"{DID}#{b64url(p.kid)}" for p in (sca, ec_dsc, rsa_dsc)]
    assert all(m["type"] == "JsonWebKey2020" and m["controller"] == doc["controller"] for m in vm)
    ec_jwk, rsa_jwk = vm[1]["publicKeyJwk"], vm[2]["publicKeyJwk"]
    assert set(ec_jwk) == {"kty", "crv", "x", "y", "kid", "x5c"} and ec_jwk["crv"] == "P-256"
    assert set(rsa_jwk) == {"kty", "n", "e", "kid", "x5c"} and rsa_jwk["e"] == "AQAB"
    assert base64.b64decode(ec_jwk["kid"]) == ec_dsc.kid
    assert [base64.b64decode(c) for c in ec_jwk["x5c"]] == [ec_dsc.der, sca.der]
    assert (vm[1]["domain"], vm[1]["participant"], vm[1]["keyusage"]) == ("DCC", "XXA", "DSC")


def test_jwk_coordinates_are_fixed_length():
    # About one P-256 key in 128 has a coordinate below 2^248; they must still be 32 bytes.
    short_seen = False
    for _ in range(600):
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        jwk = public_jwk(key)
        x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
        assert len(x) == len(y) == 32
        short_seen |= x[0] == 0 or y[0] == 0
    assert short_seen
    with pytest.raises(ValueError):
        public_jwk(object())


def test_canonical_json():
    expected = '{"a":true,"b":[1,{"c":null,"d":"é"}]}'.encode()
    assert canonical_json({"b": [1, {"d": "é", "c": None}], "a": True}) == expected
    with pytest.raises(ValueError):
        canonical_json({"a": 1.5})


@pytest.mark.parametrize("schema", ["did-trustlist-syntax-schema.json", "did-trustlist-value-schema.json"])
def test_signed_document_follows_the_gdhcn_schemas(signed, schema):
    validator = jsonschema_rs.validator_for(json.loads((gdhcn_dir() / "schema" / schema).read_text()))
    errors = [e.message for e in validator.iter_errors(signed)]
    assert errors == []
    broken = copy.deepcopy(signed)
    broken["verificationMethod"][0]["publicKeyJwk"]["kty"] = 7
    assert not validator.is_valid(broken)


# --- signing and verifying ----------------------------------------------------------------------------------------

def test_sign_verify_round_trip(signed, anchor):
    proof = signed["proof"]
    assert proof["type"] == "JsonWebSignature2020" and proof["proofPurpose"] == "assertionMethod"
    assert proof["verificationMethod"] == SIGNER_VM and proof["nonce"]
    header_b64, payload, sig = proof["jws"].split(".")
    assert payload == ""
    assert json.loads(b64url_decode(header_b64)) == {"alg": "ES256", "b64": False, "crit": ["b64"]}
    assert len(b64url_decode(sig)) == 64  # raw r||s
    assert verify_did_document(signed, anchor.cert.public_key()) is True


def test_signing_is_repeatable_with_fixed_time_and_nonce(keys, anchor):
    doc = build_did_document(DID, keys)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    one = sign_did_document(doc, anchor.key, SIGNER_VM, created=when, nonce="n1")
    assert one["proof"]["created"] == "2026-01-02T03:04:05Z"
    resigned = sign_did_document(one, anchor.key, SIGNER_VM, created=when, nonce="n1")  # replaces the proof
    assert verify_did_document(resigned, anchor.cert.public_key())
    assert "proof" not in doc  # the input is not modified


@pytest.mark.parametrize("kind", ["ec384", "rsa"])
def test_other_key_types_sign_and_verify(keys, kind):
    key = testpki.new_key(kind, "did-test")
    signed = sign_did_document(build_did_document(DID, keys), key, SIGNER_VM)
    assert verify_did_document(signed, key.public_key()) is True
    assert verify_did_document(signed, testpki.new_key("ec").public_key()) is False


def tamper_cases():
    def vm(d): return d["verificationMethod"]
    return {
        "kid": lambda d: vm(d)[1]["publicKeyJwk"].__setitem__("kid", "AAAAAAAAAAA="),
        "x": lambda d: vm(d)[1]["publicKeyJwk"].__setitem__("x", vm(d)[0]["publicKeyJwk"]["x"]),
        "usage": lambda d: vm(d)[0].__setitem__("keyusage", "DSC"),
        "drop_key": lambda d: vm(d).pop(),
        "add_key": lambda d: vm(d).append(copy.deepcopy(vm(d)[0])),
        "id": lambda d: d.__setitem__("id", "did:web:evil.example"),
        "created": lambda d: d["proof"].__setitem__("created", "2099-01-01T00:00:00Z"),
        "nonce": lambda d: d["proof"].__setitem__("nonce", "replayed"),
        "proof_vm": lambda d: d["proof"].__setitem__("verificationMethod", "did:web:other#k"),
        "extra_member": lambda d: d.__setitem__("service", []),
        "no_proof": lambda d: d.pop("proof"),
        "no_jws": lambda d: d["proof"].pop("jws"),
        "attached_payload": lambda d: d["proof"].__setitem__("jws", d["proof"]["jws"].replace("..", ".e30.")),
        "alg_none": lambda d: d["proof"].__setitem__(
            "jws", b64url(b'{"alg":"none"}') + ".." + d["proof"]["jws"].split("..")[1]),
        "bad_sig": lambda d: d["proof"].__setitem__("jws", d["proof"]["jws"][:-4] + "AAAA"),
        "garbage_jws": lambda d: d["proof"].__setitem__("jws", "%%%..%%%"),
        "crit": lambda d: d["proof"].__setitem__(
            "jws", b64url(b'{"alg":"ES256","crit":["exp"]}') + ".." + d["proof"]["jws"].split("..")[1]),
    }


@pytest.mark.parametrize("case", list(tamper_cases()))
def test_tampering_breaks_the_proof(signed, anchor, case):
    doc = copy.deepcopy(signed)
    tamper_cases()[case](doc)
    assert verify_did_document(doc, anchor.cert.public_key()) is False


def test_wrong_key_and_unusable_inputs(signed):
    assert verify_did_document(signed, testpki.make_anchor().cert.public_key()) is False
    assert verify_did_document(signed, None) is False
    assert verify_did_document("not a document", testpki.new_key("ec").public_key()) is False


def test_der_signature_accepted_only_when_allowed(signed, anchor):
    header_b64, _, sig = signed["proof"]["jws"].split(".")
    raw = b64url_decode(sig)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    doc = copy.deepcopy(signed)
    doc["proof"]["jws"] = f"{header_b64}..{b64url(der)}"
    assert verify_did_document(doc, anchor.cert.public_key()) is False
    assert verify_did_document(doc, anchor.cert.public_key(), allow_der=True) is True
    read = read_did_trustlist(doc, proof_key=anchor.cert.public_key())
    assert read.proof_valid is True
    assert any("DER-encoded" in w for w in read.warnings)


# --- reading our own lists ------------------------------------------------------------------------------------------

def test_read_round_trip(signed, anchor, pki):
    sca, ec_dsc, rsa_dsc = pki
    out = read_did_trustlist(json.dumps(signed), proof_key=anchor.cert.public_key())
    assert out.proof_valid is True and out.warnings == [] and out.references == []
    assert out.did == DID
    assert [k.kid for k in out.keys] == [sca.kid, ec_dsc.kid, rsa_dsc.kid]
    assert [k.certificate for k in out.keys] == [sca.cert, ec_dsc.cert, rsa_dsc.cert]
    assert out.keys[1].public_key == ec_dsc.cert.public_key()
    assert out.keys[1].country == "XA" and out.keys[1].usages == frozenset("v")
    assert out.keys[1].extra["chain"] == [sca.cert]
    assert [k.kid for k in out.select()] == [ec_dsc.kid, rsa_dsc.kid]
    assert [k.kid for k in out.select(usages=("SCA",), domain="DCC")] == [sca.kid]
    assert out.select(domain="IPS") == []


def test_keys_without_certificate(anchor):
    key = testpki.new_key("ec")
    doc = build_did_document(DID, [DidKey(kid=b"12345678", public_key=key.public_key(), participant="XA")])
    out = read_did_trustlist(sign_did_document(doc, anchor.key, SIGNER_VM))
    assert len(out.keys) == 1 and out.keys[0].certificate is None
    assert out.keys[0].public_key == key.public_key() and out.keys[0].country == "XA"


def test_read_with_a_wrong_proof_key(signed):
    out = read_did_trustlist(signed, proof_key=testpki.new_key("ec").public_key())
    assert out.proof_valid is False
    assert read_did_trustlist(signed).proof_valid is None


# --- hostile and malformed lists ------------------------------------------------------------------------------------

def test_whole_document_refusals(signed):
    for doc, code in [
        ([], "PKI_DID_MALFORMED"), ("[1, 2]", "PKI_DID_MALFORMED"), ("{", "PKI_DID_MALFORMED"),
        (b"\xff\xfe", "PKI_DID_MALFORMED"), ({"id": DID}, "PKI_DID_MALFORMED"),
        ({"verificationMethod": {"a": 1}}, "PKI_DID_MALFORMED"), ("[" * 100_000, "PKI_DID_MALFORMED"),
        ({"verificationMethod": [], "x": float("nan")}, "PKI_DID_MALFORMED"),
    ]:
        with pytest.raises(PkiError) as info:
            read_did_trustlist(doc)
        assert info.value.code == code, doc if len(str(doc)) < 80 else type(doc)
    with pytest.raises(PkiError) as info:
        read_did_trustlist(json.dumps(signed), max_bytes=1000)
    assert info.value.code == "PKI_DID_TOO_LARGE"
    with pytest.raises(PkiError) as info:
        read_did_trustlist(signed, max_bytes=1000)
    assert info.value.code == "PKI_DID_TOO_LARGE"
    with pytest.raises(PkiError) as info:
        read_did_trustlist(signed, max_keys=2)
    assert info.value.code == "PKI_DID_TOO_MANY_KEYS"


def test_bad_entries_are_skipped_with_a_warning(signed):
    good = signed["verificationMethod"][1]

    def variant(change):
        entry = copy.deepcopy(good)
        change(entry)
        return entry

    jwk = "publicKeyJwk"
    bad = [
        42, None, ["x"], "not a did", "did:web:has space",
        variant(lambda e: e.__setitem__("type", "Ed25519VerificationKey2020")),
        variant(lambda e: e.pop(jwk)),
        variant(lambda e: e[jwk].__setitem__("kty", "OKP")),
        variant(lambda e: e[jwk].__setitem__("x", "!!!")),
        variant(lambda e: e[jwk].__setitem__("x", 5)),
        variant(lambda e: e[jwk].__setitem__("x", b64url(b"\x01" * 32))),  # not on the curve
        variant(lambda e: e[jwk].__setitem__("x", b64url(b"\x01" * 40))),
        variant(lambda e: e[jwk].__setitem__("crv", "P-999")),
        variant(lambda e: (e[jwk].pop("kid"), e.__setitem__("id", "no-fragment"))),
        variant(lambda e: e[jwk].__setitem__("kid", "%%%")),
        variant(lambda e: (e[jwk].__setitem__("crv", "UNKNOWN CURVE"), e[jwk].__setitem__("y", b64url(b"\x02" * 31)))),
        variant(lambda e: e[jwk].__setitem__("x5c", [signed["verificationMethod"][0][jwk]["x5c"][0]])),  # other key
    ]
    doc = copy.deepcopy(signed)
    doc["verificationMethod"] = [*bad, good, "did:web:example.com:list"]
    out = read_did_trustlist(doc)
    assert len(out.keys) == 1 and out.keys[0].extra["id"] == good["id"]
    assert out.references == ["did:web:example.com:list"]
    refused = [w for w in out.warnings if w.startswith("entry ")]
    assert len(refused) == len(bad), out.warnings
    assert any("different keys" in w for w in refused)
    assert any("unsupported curve 'P-999'" in w for w in refused)


def test_kid_may_come_from_the_method_id(signed):
    doc = copy.deepcopy(signed)
    del doc["verificationMethod"][1]["publicKeyJwk"]["kid"]
    out = read_did_trustlist(doc)
    assert out.keys[1].kid == read_did_trustlist(signed).keys[1].kid
    assert not any(w.startswith("entry ") for w in out.warnings)


def test_unreadable_x5c_keeps_the_key_with_a_warning(signed):
    doc = copy.deepcopy(signed)
    doc["verificationMethod"][1]["publicKeyJwk"]["x5c"] = ["bm90IGEgY2VydA=="]
    out = read_did_trustlist(doc)
    assert len(out.keys) == 3 and out.keys[1].certificate is None
    assert any("unreadable x5c" in w for w in out.warnings)


_LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.binary(max_size=70).map(b64url)
_VALUE = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["kty", "crv", "x", "y", "n", "e", "kid", "x5c", "id", "type", "publicKeyJwk",
                              "domain", "keyusage"]), value=_VALUE)
def test_random_field_values_never_crash(signed, field, value):
    entry = copy.deepcopy(signed["verificationMethod"][2 if field in ("n", "e") else 1])
    target = entry if field in ("id", "type", "publicKeyJwk", "domain", "keyusage") else entry["publicKeyJwk"]
    target[field] = value
    out = read_did_trustlist({"id": DID, "verificationMethod": [entry], "proof": {"jws": value}})
    refused = [w for w in out.warnings if w.startswith("entry 0")]
    assert len(out.keys) + len(refused) == 1


# --- the WHO GDHCN development lists --------------------------------------------------------------------------------

EXPECTED = {
    # file: (keys, references, warnings that must be there)
    "v2/trustlist/did.json": (255, 0, ["leading zero byte", "'UNKNOWN CURVE' inferred as P-384",
                                       "kid TZ1bzCuX4+8= appears 2 times", "DER-encoded",
                                       "kid differs from the certificate's kid"]),
    "v2/trustlist/-/XXA/did.json": (14, 0, ["leading zero byte", "DER-encoded"]),
    "v2/trustlist/DCC/XXA/DSC/did.json": (1, 0, ["leading zero byte", "DER-encoded"]),
    "v2/trustlist-ref/did.json": (0, 9, ["DER-encoded"]),
    "v2/trustlist-ref/DCC/XXA/DSC/did.json": (0, 1, ["DER-encoded"]),
}


def test_every_gdhcn_file_is_covered():
    found = {p.relative_to(gdhcn_dir()).as_posix() for p in gdhcn_dir().rglob("did.json")}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_gdhcn_lists(name):
    keys, refs, warnings = EXPECTED[name]
    raw = (gdhcn_dir() / name).read_bytes()
    out = read_did_trustlist(raw, proof_key=testpki.new_key("ec").public_key())
    assert (len(out.keys), len(out.references)) == (keys, refs)
    for text in warnings:
        assert any(text in w for w in out.warnings), (text, out.warnings)
    assert not any(w.startswith("entry ") for w in out.warnings)  # no key refused
    assert out.proof_valid is False  # a key that is not WHO's: checked, refused, no exception
    assert out.did == json.loads(raw)["id"]
    for key in out.keys:
        assert key.certificate is not None and key.extra["domain"] and key.extra["usage"]
        assert key.certificate.public_key() == key.public_key


def test_gdhcn_p384_and_dsc_details():
    out = read_did_trustlist((gdhcn_dir() / "v2/trustlist/did.json").read_bytes())
    p384 = [k for k in out.keys if getattr(k.public_key, "curve", None) and k.public_key.curve.name == "secp384r1"]
    assert sorted(k.extra["kid_text"] for k in p384) == ["ABCDEFGH", "SDvLf57tJPg="]
    dup = [k for k in out.keys if k.extra["kid_text"] == "TZ1bzCuX4+8="]
    assert sorted(k.extra["usage"] for k in dup) == ["CSCA", "DSC"]
    xa = read_did_trustlist((gdhcn_dir() / "v2/trustlist/DCC/XXA/DSC/did.json").read_bytes())
    (dsc,) = xa.select(domain="DCC")
    assert dsc.country == "XA" and dsc.extra["participant"] == "XXA" and len(dsc.extra["chain"]) == 1
    assert base64.b64encode(dsc.kid).decode() == "XPjhL9Znd1M="

"""The compiled fast path of HCERT decoding must never change an answer: on every input it either returns
exactly what the pure-Python reference returns, or hands the input back (MISS). Checked on generated CBOR,
on mutated real certificates, on random bytes and text, and end to end on the public conformance vectors."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import zlib
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dho.trust import base45, cose, hcert
from dho.trust.fastpath import fast

if fast is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("the compiled fast path (dho/trust/_hc1fast.pyx) must be built in CI")
    pytest.skip("the compiled fast path is not built here (pip install -e . builds it)", allow_module_level=True)

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "dgc-testdata"
KNOWN = VECTORS / "tests" / "known_issues.csv"


def no_vectors() -> None:
    """The public test vectors sit beside the project (../shared/testdata); CI always has them."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"no test vectors under {VECTORS}")
    pytest.skip(f"no test vectors under {VECTORS}")


def same(a, b) -> bool:
    """Equal values of equal types, NaN equal to NaN (CBOR floats may be NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def reference_cbor(data: bytes, depth: int = cose.MAX_DEPTH):
    try:
        return "value", cose.loads_strict_pure(data, max_depth=depth)
    except cose.CborError as exc:
        return "error", exc.kind


def assert_cbor_agrees(data: bytes, depth: int = cose.MAX_DEPTH) -> bool:
    """True when the fast path answered (and agreed), False when it handed the input back."""
    got = fast.cbor_loads(data, depth)
    kind, want = reference_cbor(data, depth)
    if got is fast.MISS:
        return False
    assert kind == "value", f"fast path accepted {data.hex()} which the reference refuses ({want})"
    assert same(got, want), f"{data.hex()}: fast {got!r} != reference {want!r}"
    return True


scalars = (st.integers(min_value=-(2**64), max_value=2**64 - 1) | st.binary(max_size=40) | st.text(max_size=40)
           | st.floats(allow_nan=True, allow_infinity=True) | st.booleans() | st.none())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(
    st.integers(min_value=-300, max_value=300) | st.text(max_size=8), inner, max_size=6), max_leaves=40)


@settings(max_examples=600, deadline=None)
@given(values)
def test_generated_cbor_decodes_exactly_as_the_reference(value):
    data = cbor2.dumps(value)
    assert assert_cbor_agrees(data), f"the fast path should handle plain data: {value!r}"


@settings(max_examples=300, deadline=None)
@given(values, st.sampled_from(["half", "canonical"]))
def test_other_encodings_of_the_same_data_agree(value, how):
    data = cbor2.dumps(value, canonical=True) if how == "canonical" else cbor2.dumps(value, canonical=False)
    assert_cbor_agrees(data)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_get_an_answer_the_reference_would_not_give(data):
    assert_cbor_agrees(data)


@pytest.mark.parametrize("data", [
    b"\x9f\x01\xff",  # indefinite array
    b"\xa2\x01\x02\x01\x03",  # duplicate key
    b"\xc1\x1a\x00\x00\x00\x01",  # tag 1 (the reference keeps the number)
    b"\xd8\x20\x63abc",  # tag 32
    b"\x01\x02",  # trailing byte
    b"\x62\xc3\x28",  # invalid UTF-8
    b"\xf7",  # undefined
    b"\xf8\x20",  # simple value 32
    b"\x1c",  # reserved additional information
    b"\x5a\xff\xff\xff\xff\x00",  # length far beyond the data
    b"\x81" * 20 + b"\x01",  # deeper than the limit
    b"\xa1\x81\x01\x02",  # a map key that is an array
    b"\xa1\xf5\x01",  # a map key that is a boolean
])
def test_every_input_outside_the_subset_goes_back_to_the_reference(data):
    assert fast.cbor_loads(data, cose.MAX_DEPTH) is fast.MISS
    assert cose.loads_strict(data) == cose.loads_strict_pure(data) if reference_cbor(data)[0] == "value" else True
    with pytest.raises(cose.CborError) if reference_cbor(data)[0] == "error" else _no_error():
        cose.loads_strict(data)


class _no_error:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_nesting_near_the_limit_agrees_on_both_sides_of_it():
    for depth in range(1, 20):
        data = b"\x81" * depth + b"\x01"
        for limit in (4, 8, 16):
            assert_cbor_agrees(data, limit)


def _certificates() -> list[bytes]:
    """Inflated COSE messages of real public test certificates (a few hundred)."""
    out = []
    for text in _texts():
        with contextlib.suppress(ValueError, hcert.Fail):  # vectors that do not decode are not the point
            out.append(hcert.inflate(base45.b45decode_pure(text[4:])))
    return out


def test_real_certificates_and_their_mutations_agree():
    certs = _certificates()
    if not certs:
        no_vectors()
    rnd = random.Random(5)
    answered = 0
    for data in certs:
        answered += assert_cbor_agrees(data)
        try:
            payload = hcert.parse_cose(data).payload
        except hcert.Fail:
            payload = b""
        answered += assert_cbor_agrees(payload) if payload else 0
        for _ in range(20):
            mutated = bytearray(data)
            for _ in range(rnd.randint(1, 3)):
                mutated[rnd.randrange(len(mutated))] = rnd.randrange(256)
            assert_cbor_agrees(bytes(mutated))
            assert_cbor_agrees(bytes(data[:rnd.randrange(len(data))]))
    assert answered > len(certs) // 2  # the claims of most real certificates take the fast path


ALPHABET = base45.ALPHABET


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=ALPHABET + "abc~é\n\x00", max_size=40))
def test_base45_agrees_with_the_reference(text):
    got = fast.b45decode(text)
    try:
        want = base45.b45decode_pure(text)
    except base45.Base45Error:
        assert got is fast.MISS
        return
    assert got is not fast.MISS and got == want


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_base45_round_trips_through_the_fast_path(data):
    assert fast.b45decode(base45.b45encode(data)) == data


@settings(max_examples=600, deadline=None)
@given(values)
def test_json_plain_only_vouches_for_values_json_carries_unchanged(value):
    if fast.json_plain(value):
        assert hcert.to_json_value(value) == value


def test_json_plain_refuses_what_json_cannot_carry():
    for bad in (b"x", {1: "a"}, {"a": float("nan")}, [float("inf")], {"a": [b"x"]}, (1, 2), cbor2.undefined):
        assert not fast.json_plain(bad)
    assert fast.json_plain({"a": [1, "b", None, True, 1.5, {"c": -3}]})


def test_conformance_verdicts_are_the_same_without_the_fast_path(monkeypatch):
    from dho.trust.conformance import run

    if not VECTORS.is_dir():
        no_vectors()
    with_fast = run(VECTORS, known_issues=KNOWN)
    for module in (cose, base45, hcert):
        monkeypatch.setattr(module, "_fast", None)
    pure = run(VECTORS, known_issues=KNOWN)
    assert len(with_fast.outcomes) == len(pure.outcomes) > 1000
    differ = [(a.file, a.expectation, a.actual, a.stage, b.actual, b.stage) for a, b in
              zip(with_fast.outcomes, pure.outcomes, strict=True)
              if (a.actual, a.stage, a.reason) != (b.actual, b.stage, b.reason)]
    assert not differ, differ[:5]


# ---- the one-call decoder: HC1 text -> COSE parts and claims ----------------------------------------------

LIMITS = (hcert.Policy().max_input_chars, hcert.Policy().max_inflated_bytes, hcert.Policy().max_cbor_depth)


def reference_decode(text, monkeypatch, limits=LIMITS):
    """What the general path makes of ``text``: ("ok", parts) or ("fail", code)."""
    chars, inflated, depth = limits
    policy = hcert.Policy(max_input_chars=chars, max_inflated_bytes=inflated, max_cbor_depth=depth)
    with monkeypatch.context() as m:
        for module in (cose, base45, hcert):
            m.setattr(module, "_fast", None)
        try:
            msg = hcert.parse_cose(hcert.inflate(hcert.decode_base45(hcert.unprefix(text, policy)), policy), policy)
        except hcert.Fail as exc:
            return "fail", exc.failure.code
        try:
            claims = ("value", cose.loads_strict_pure(msg.payload, max_depth=depth))
        except cose.CborError as exc:
            claims = ("error", exc.kind)
    return "ok", (msg, claims)


def assert_decode_agrees(text, monkeypatch, limits=LIMITS) -> bool:
    """True when the one-call decoder answered (and agreed with the general path), False on MISS."""
    got = fast.decode_hc1(text, *limits)
    kind, want = reference_decode(text, monkeypatch, limits)
    if got is fast.MISS:
        return False
    assert kind == "ok", f"decode_hc1 accepted {text!r:.80} which the general path refuses with {want}"
    msg, claims = want
    protected_bytes, protected, unprotected, payload, signature, tags, tbs, got_claims = got
    assert (protected_bytes, payload, signature, tags) == (msg.protected_bytes, msg.payload, msg.signature, msg.tags)
    assert same(protected, msg.protected) and same(unprotected, msg.unprotected)
    assert tbs == msg.to_be_signed()
    if got_claims is not fast.MISS:
        assert claims[0] == "value" and same(got_claims, claims[1])
    return True


def _texts() -> list[str]:
    """The HC1 texts of real public test certificates (a few hundred)."""
    out = []
    for path in sorted(VECTORS.rglob("*.json"))[:400]:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        text = doc.get("PREFIX") if isinstance(doc, dict) else None
        if isinstance(text, str):
            out.append(text)
    return out


def test_decode_hc1_agrees_on_real_certificates_and_mutated_texts(monkeypatch):
    texts = _texts()
    if not texts:
        no_vectors()
    rnd = random.Random(9)
    answered = 0
    for text in texts:
        answered += assert_decode_agrees(text, monkeypatch)
        for _ in range(6):
            pos = rnd.randrange(len(text))
            ch = rnd.choice(ALPHABET + "a\n\r ~")
            for mutated in (text[:pos] + ch + text[pos + 1:], text[:pos], text[:pos] + ch + text[pos:],
                            text + "\n", "\r\n" + text, text.lower(), " " + text):
                assert_decode_agrees(mutated, monkeypatch)
    assert answered > len(texts) // 2  # most real certificates take the one-call path


def test_decode_hc1_agrees_on_mutated_cose_and_zlib(monkeypatch):
    texts = _texts()
    if not texts:
        no_vectors()
    rnd = random.Random(13)
    for text in texts[:120]:
        try:
            compressed = base45.b45decode_pure(text[4:])
            raw = zlib.decompress(compressed)
        except (base45.Base45Error, zlib.error):
            continue
        variants = [compressed[:-1], compressed + b"\x00", compressed[:2] + b"\xff" + compressed[3:],
                    zlib.compress(raw, 0), zlib.compress(raw + b"\x00"), zlib.compress(raw[:-1]),
                    zlib.compress(b"\xd8\x3d" + raw), zlib.compress(raw[1:]) if raw[:1] == b"\xd2" else b""]
        for _ in range(10):
            mutated = bytearray(raw)
            mutated[rnd.randrange(len(mutated))] ^= 1 << rnd.randrange(8)
            variants.append(zlib.compress(bytes(mutated)))
        for data in variants:
            if data:
                assert_decode_agrees("HC1:" + base45.b45encode(data), monkeypatch)


def test_decode_hc1_respects_every_limit_on_both_sides_of_it(monkeypatch):
    texts = [t for t in _texts() if fast.decode_hc1(t, *LIMITS) is not fast.MISS][:20]
    if not texts:
        no_vectors()
    for text in texts:
        size = len(zlib.decompress(base45.b45decode_pure(text[4:])))
        for limits in ((len(text), size, 16), (len(text) - 1, size, 16), (len(text), size - 1, 16),
                       (len(text), size + 1, 16), (len(text), 10**7, 16), (len(text), size, 4),
                       (len(text), size, 3), (len(text), size, 2), (len(text), 0, 16)):
            assert_decode_agrees(text, monkeypatch, limits)
        assert fast.decode_hc1(text, len(text) - 1, size + 1, 16) is fast.MISS
        assert fast.decode_hc1(text, len(text), size - 1, 16) is fast.MISS


@pytest.mark.parametrize("text", [None, b"HC1:6BF", 42, "", "HC1:", "HC1:\n", "hc1:6BF", "HC1:6BF\r\n",
                                  "HC1:" + "0" * 9000, "HC1:é", "HC1:6B", "HC1:6BF", "HC1:~~~"])
def test_decode_hc1_hands_back_what_it_does_not_handle(text, monkeypatch):
    assert fast.decode_hc1(text, *LIMITS) is fast.MISS
    if isinstance(text, str):
        assert reference_decode(text, monkeypatch)[0] == "fail" or text.endswith("\n")


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=1, max_size=66).filter(lambda b: len(b) % 2 == 0))
def test_der_signature_is_what_encode_dss_signature_writes(raw):
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    half = len(raw) // 2
    want = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    assert fast.der_signature(raw) == want


def test_der_signature_edges():
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    for raw in (bytes(64), b"\xff" * 64, b"\x00" * 31 + b"\x80" + b"\x00" * 32, b"\x7f" * 96, b"\xff" * 132,
                b"\x00" * 66 + b"\x01" * 66):
        half = len(raw) // 2
        want = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        assert fast.der_signature(raw) == want
    for raw in (b"", b"\x01", b"\x01" * 63, b"\x01" * 134):
        assert fast.der_signature(raw) is None


# ---- the verifier with and without the compiled path: the same verdicts -------------------------------------

def _verdict(verifier, text, ctx):
    v = verifier.verify(text, ctx)
    return v.valid, v.failure, v.stages, v.data, v.warnings


@pytest.fixture(scope="module")
def world():
    from datetime import UTC, datetime

    from dho.trust import issue, testpki
    from dho.trust.keys import SignerKey

    sca = testpki.make_sca("XA")
    dsc = testpki.make_dsc(sca, "XA")
    now = datetime.now(UTC)
    payload = issue.dcc_vaccination(family="Dupont", given="Émilie", dob="1985-03-04", country="XA",
                                    issuer="Ministry of Health", ci=issue.uvci("XA", "MOH", "0001AB"), dose=2,
                                    total=2, date_="2026-01-10")
    text = issue.build_hcert(payload, dsc_cert=dsc.cert, dsc_key=dsc.key, issuer_country="XA", now=now).text
    return hcert.HcertVerifier(hcert.TrustStore([SignerKey.from_certificate(dsc.cert)])), text, hcert.Context(now=now)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_verifier_gives_the_same_verdict_with_and_without_the_compiled_path(world, data):
    verifier, text, ctx = world
    raw = bytearray(zlib.decompress(base45.b45decode_pure(text[4:])))
    how = data.draw(st.sampled_from(["text", "cose", "none"]))
    if how == "text":
        pos = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
        mutated = text[:pos] + data.draw(st.sampled_from(ALPHABET + "a\n")) + text[pos + 1:]
    elif how == "cose":
        pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
        mutated = "HC1:" + base45.b45encode(zlib.compress(bytes(raw)))
    else:
        mutated = text
    assert (fast.decode_hc1(mutated, *LIMITS) is not fast.MISS) or how != "none"
    with_fast = _verdict(verifier, mutated, ctx)
    with pytest.MonkeyPatch.context() as m:
        for module in (cose, base45, hcert):
            m.setattr(module, "_fast", None)
        pure = _verdict(verifier, mutated, ctx)
    assert with_fast == pure
    if how == "none":
        assert with_fast[0] is True


# ---- the compiled readers of claims, entries and the EU DCC schema --------------------------------------------

def _dcc(**changes):
    """A valid EU DCC vaccination payload with ``changes`` applied (a value of _DROP removes the key;
    keys with a dot reach into nam or the entry)."""
    doc = {"ver": "1.3.3", "nam": {"fn": "Müller", "fnt": "MUELLER", "gn": "Éloïse", "gnt": "ELOISE"},
           "dob": "1975-02-28",
           "v": [{"tg": "840539006", "vp": "J07BX03", "mp": "EU/1/20/1528", "ma": "ORG-100030215", "dn": 2, "sd": 2,
                  "dt": "2024-02-29", "co": "NL", "is": "Ministry of Health", "ci": "URN:UVCI:01:NL:ABC#1"}]}
    for key, value in changes.items():
        where, name = (doc, key)
        if key.startswith("nam."):
            where, name = doc.get("nam"), key[4:]
        elif key.startswith("v."):
            group = doc.get("v")
            where, name = (group[0] if isinstance(group, list) and group else None), key[2:]
        if not isinstance(where, dict):  # an earlier change replaced the container
            continue
        if value is _DROP:
            where.pop(name, None)
        else:
            where[name] = value
    return doc


_DROP = object()
ODD_VALUES = ["", "x", "1.3", "1.3.3.3", "1..3", "١.٢.٣", "1.3.3\n", "01.3.3", "1x3x3", "2021-02-29", "2024-02-29",
              "1899-12-31", "2100-01-01", "2021-13-01", "2021-00-10", "2021-04-31", "2021-4-01", "21-04-01",
              "2021-04-01T00:00:00Z", "1975", "1975-02", "1975-02-30", "20", "19755", "١٩٧٥-٠٢-٢٨", "A" * 80,
              "A" * 81, "é" * 80, "é" * 81, "ABC<DEF", "abc", "ÄBC", "nl", "NLD", "N", "1", "n1L", 0, 1, 2, 1000, 1001,
              -1, 2**64, 1.0, 2.5, float("nan"), True, False, None, [], {}, ["NL"], {"a": 1}, b"NL"]
FIELDS = ["ver", "dob", "nam", "v", "t", "r", "nam.fn", "nam.fnt", "nam.gn", "nam.gnt", "nam.x", "v.tg", "v.vp",
          "v.mp", "v.ma", "v.dn", "v.sd", "v.dt", "v.co", "v.is", "v.ci", "v.extra", "extra"]


def test_dcc_schema_fast_check_vouches_only_for_valid_payloads():
    from dho.trust.schemas import validator

    schema = validator("eu-dcc")
    assert fast.dcc_vaccination_valid(_dcc()) and schema.is_valid(_dcc())
    vouched = 0
    for field in FIELDS:
        for value in [*ODD_VALUES, _DROP]:
            doc = _dcc(**{field: value})
            if fast.dcc_vaccination_valid(doc):
                vouched += 1
                assert schema.is_valid(doc), (field, value)
    for doc in (_dcc(**{"nam.fnt": _DROP, "nam.gnt": _DROP}), _dcc(v=[]), _dcc(v=[_dcc()["v"][0]] * 2),
                _dcc(t=[{}]), {**_dcc(), 1: "x"}, [_dcc()], "x", None):
        assert not fast.dcc_vaccination_valid(doc)
    assert vouched > 50  # the check answers for ordinary variations, not only the one example


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FIELDS), st.one_of(st.sampled_from([*ODD_VALUES, _DROP]),
                                                             st.text(max_size=90), st.integers(-5, 2000))), max_size=4))
def test_dcc_schema_fast_check_never_vouches_for_what_the_schema_refuses(changes):
    from dho.trust.schemas import validator

    doc = _dcc(**dict(changes))
    if fast.dcc_vaccination_valid(doc):
        assert validator("eu-dcc").is_valid(doc), doc


def _reference_claims(claims):
    try:
        return (hcert.numeric_date(claims, hcert.CLAIM_IAT, "iat"), hcert.numeric_date(claims, hcert.CLAIM_EXP, "exp"),
                claims.get(hcert.CLAIM_ISS), *hcert.hcert_content(claims))
    except hcert.Fail as exc:
        return exc.failure.code


CLAIM_VALUES = [0, 1, 1_700_000_000, 2**40 - 1, 2**40, -1, 1.5, float("nan"), True, "1", None, b"x", [], {}]


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.sampled_from([1, 4, 6, -260, 7, "1"]),
                       st.one_of(st.sampled_from(CLAIM_VALUES), st.text(max_size=3),
                                 st.dictionaries(st.sampled_from([1, -6, 2]),
                                                 st.one_of(st.just({"ver": "1"}), st.just({}), st.sampled_from(
                                                     CLAIM_VALUES)), max_size=3)), max_size=6))
def test_claim_fields_reads_claims_as_the_general_path_does(claims):
    got = fast.claim_fields(claims)
    if got is fast.MISS:
        return
    want = _reference_claims(claims)
    assert not isinstance(want, str), (claims, want)
    assert got[3:] == want[3:] and got[4] is want[4] and got[:3] == want[:3]
    assert want[2] is None or isinstance(want[2], str)


def test_claim_fields_answers_the_common_shape_and_hands_back_the_rest():
    payload = _dcc()
    assert fast.claim_fields({1: "NL", 4: 2, 6: 1, -260: {1: payload}}) == (1, 2, "NL", "eu-dcc", payload)
    assert fast.claim_fields({4: 2, 6: 1, -260: {-6: payload}}) == (1, 2, None, "ddcc", payload)
    for claims in ({4: 2.0, 6: 1, -260: {1: payload}}, {4: 2, -260: {1: payload}}, {4: 2, 6: True, -260: {1: payload}},
                   {4: 2, 6: 1, 1: 5, -260: {1: payload}}, {4: 2, 6: 1, -260: {}}, {4: 2, 6: 1, -260: {2: payload}},
                   {4: 2, 6: 1}, [1], None, {4: 2**40, 6: 1, -260: {1: payload}}):
        assert fast.claim_fields(claims) is fast.MISS


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.sampled_from(["v", "t", "r", "vaccination", "x"]),
                       st.one_of(st.sampled_from(CLAIM_VALUES),
                                 st.lists(st.one_of(st.dictionaries(st.sampled_from(["ci", "co", "x"]), st.one_of(
                                     st.sampled_from(["NL", "nl", "N", "NLD", "é1", "ß", "", "URN:UVCI:01"]),
                                     st.sampled_from(CLAIM_VALUES)), max_size=3), st.sampled_from(CLAIM_VALUES)),
                                          max_size=2)), max_size=3))
def test_dcc_entry_reads_entries_as_the_general_path_does(payload):
    got = fast.dcc_entry(payload)
    if got is fast.MISS:
        return
    assert got == (hcert.certificate_type(payload), *hcert.uvci(payload))


def test_dcc_entry_answers_the_common_shape():
    assert fast.dcc_entry(_dcc()) == ("v", "URN:UVCI:01:NL:ABC#1", "NL")
    assert fast.dcc_entry(_dcc(**{"v.co": "nl", "v.ci": 5})) == ("v", None, "NL")
    for payload in (_dcc(t=[{}]), _dcc(v=[]), _dcc(v="x"), {"vaccination": {}}, {}, None):
        assert fast.dcc_entry(payload) is fast.MISS

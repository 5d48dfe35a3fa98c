"""The compiled fast path of HCERT decoding must never change an answer: on every input it either returns
exactly what the pure-Python reference returns, or hands the input back (MISS). Checked on generated CBOR,
on mutated real certificates, on random bytes and text, and end to end on the public conformance vectors."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dho.trust import base45, cose, hcert
from dho.trust.fastpath import fast

if fast is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("the compiled fast path (dho/trust/_hc1fast.pyx) must be built in CI")
    pytest.skip("the compiled fast path is not built here (pip install -e . builds it)", allow_module_level=True)

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "dgc-testdata"
KNOWN = VECTORS / "tests" / "known_issues.csv"


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
    for path in sorted(VECTORS.rglob("*.json"))[:400]:
        try:
            text = json.loads(path.read_text(encoding="utf-8")).get("PREFIX", "")
            out.append(hcert.inflate(base45.b45decode_pure(text[4:])))
        except (ValueError, AttributeError, TypeError, hcert.Fail):  # vectors that do not decode are not the point
            pass
    return out


def test_real_certificates_and_their_mutations_agree():
    certs = _certificates()
    if not certs:
        pytest.skip(f"no test vectors under {VECTORS}")
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
        pytest.skip(f"no test vectors under {VECTORS}")
    with_fast = run(VECTORS, known_issues=KNOWN)
    for module in (cose, base45, hcert):
        monkeypatch.setattr(module, "_fast", None)
    pure = run(VECTORS, known_issues=KNOWN)
    assert len(with_fast.outcomes) == len(pure.outcomes) > 1000
    differ = [(a.file, a.expectation, a.actual, a.stage, b.actual, b.stage) for a, b in
              zip(with_fast.outcomes, pure.outcomes, strict=True)
              if (a.actual, a.stage, a.reason) != (b.actual, b.stage, b.reason)]
    assert not differ, differ[:5]

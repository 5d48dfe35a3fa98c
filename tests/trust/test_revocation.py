"""Revocation: the hashes of a certificate (expected values computed here with hashlib), hash parsing,
batch validation field by field, the exact index (kids, kid-less batches, expiry, deletion, deltas) and
the compact filter exported for offline verifiers (no false negatives, measured false-positive rate)."""

from __future__ import annotations

import base64
import hashlib
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from dho.trust.outcome import CODES
from dho.trust.revocation import (
    HASH_TYPES,
    Batch,
    RevocationFilter,
    RevocationIndex,
    RevocationInputError,
    parse_datetime,
    parse_hash,
    revocation_hashes,
    validate_batch,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
UCI = "URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B"


def sha16(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:16]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def code_of(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.code


# ---------------------------------------------------------------------- hashes of a certificate


@pytest.mark.parametrize(("alg", "curve", "digest", "size"), [
    (-7, ec.SECP256R1(), hashes.SHA256(), 32),
    (-35, ec.SECP384R1(), hashes.SHA384(), 48),
    (-36, ec.SECP521R1(), hashes.SHA512(), 66),
])
def test_ecdsa_signature_hash_covers_r_only(alg, curve, digest, size):
    key = ec.generate_private_key(curve)
    r, s = decode_dss_signature(key.sign(b"payload", ec.ECDSA(digest)))
    raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")  # the COSE form r || s
    got = revocation_hashes(uci=None, country=None, cose_signature=raw, alg=alg)
    assert got == {"SIGNATURE": sha16(r.to_bytes(size, "big"))}
    assert got["SIGNATURE"] != sha16(raw)
    # the same r with another s (e.g. the malleable n - s) is still the same revocation hash
    other = r.to_bytes(size, "big") + (s ^ 1).to_bytes(size, "big")
    assert revocation_hashes(uci=None, country=None, cose_signature=other, alg=alg) == got


def test_rsa_signature_hash_covers_the_whole_signature():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sig = key.sign(b"payload", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    got = revocation_hashes(uci=None, country=None, cose_signature=sig, alg=-37)  # PS256
    assert got["SIGNATURE"] == sha16(sig)
    assert got["SIGNATURE"] != sha16(sig[:128])


def test_uci_and_country_code_uci_hashes():
    sig = bytes(range(64))
    got = revocation_hashes(uci=UCI, country="at", cose_signature=sig, alg=-7)
    assert set(got) == set(HASH_TYPES)
    assert got["UCI"] == sha16(UCI.encode())
    assert got["COUNTRYCODEUCI"] == sha16(b"AT" + UCI.encode())  # upper-cased country, then the UVCI
    assert got["SIGNATURE"] == sha16(sig[:32])
    assert all(len(v) == 16 for v in got.values())
    accented = "URN:UVCI:01:FR:ÉÈ123#4"  # the UVCI is hashed as UTF-8, unchanged (no case folding)
    got = revocation_hashes(uci=accented, country="FR", cose_signature=sig, alg=-7)
    assert got["UCI"] == sha16(accented.encode("utf-8"))
    assert got["UCI"] != sha16(accented.lower().encode("utf-8"))
    assert set(revocation_hashes(uci=UCI, country=None, cose_signature=sig, alg=-7)) == {"SIGNATURE", "UCI"}
    assert set(revocation_hashes(uci="", country="AT", cose_signature=sig, alg=-7)) == {"SIGNATURE"}


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"cose_signature": b"", "alg": -7}, "REVOCATION_BAD_SIGNATURE"),
    ({"cose_signature": "abc", "alg": -7}, "REVOCATION_BAD_SIGNATURE"),
    ({"cose_signature": bytes(63), "alg": -7}, "REVOCATION_BAD_SIGNATURE"),
    ({"cose_signature": bytes(72), "alg": -7}, "REVOCATION_BAD_SIGNATURE"),  # DER, not r || s
    ({"cose_signature": bytes(64), "alg": "ES256"}, "REVOCATION_BAD_SIGNATURE"),
    ({"cose_signature": bytes(64), "alg": True}, "REVOCATION_BAD_SIGNATURE"),
    ({"cose_signature": bytes(64), "alg": -7, "uci": 12}, "REVOCATION_BAD_UCI"),
    ({"cose_signature": bytes(64), "alg": -7, "uci": "URN:\ud800"}, "REVOCATION_BAD_UCI"),
    ({"cose_signature": bytes(64), "alg": -7, "uci": UCI, "country": "AUT"}, "REVOCATION_BAD_COUNTRY"),
    ({"cose_signature": bytes(64), "alg": -7, "uci": UCI, "country": "ß"}, "REVOCATION_BAD_COUNTRY"),
    ({"cose_signature": bytes(64), "alg": -7, "uci": UCI, "country": "A1"}, "REVOCATION_BAD_COUNTRY"),
])
def test_hash_inputs_refused_with_codes(kwargs, code):
    args = {"uci": None, "country": None, **kwargs}
    with pytest.raises(RevocationInputError) as exc:
        revocation_hashes(**args)
    assert code_of(exc) == code
    assert exc.value.failure.stage == "revocation"
    assert exc.value.failure.message("fr")


# ---------------------------------------------------------------------- parse_hash


def test_parse_hash_accepts_base64_and_hex():
    raw = bytes.fromhex("00ff10203040506070808090a0b0c0fe")
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    assert "/" in std and "_" in url  # the two alphabets really differ for this value
    for text in (std, std.rstrip("="), url, url.rstrip("="), raw.hex(), raw.hex().upper(), f"  {std}\n"):
        assert parse_hash(text) == raw, text


def test_parse_hash_full_digest_only_when_asked():
    digest = hashlib.sha256(b"x").digest()
    for text in (digest.hex(), b64(digest)):
        with pytest.raises(RevocationInputError) as exc:
            parse_hash(text)
        assert code_of(exc) == "REVOCATION_BAD_HASH" and "32 bytes" in exc.value.detail
        assert parse_hash(text, allow_full_digest=True) == digest[:16]


@pytest.mark.parametrize("text", [
    b64(bytes(15)), b64(bytes(17)), bytes(15).hex(), "", "!!!!", "not base64 at all",
    "AAAAAAAAAAAAAAAAAAAAAB==",  # non-canonical: stray bits after the 16th byte
    "+/+/+/+/+/+/+/+/+/+/-_==",  # mixed alphabets
    "A" * 1_000_000,  # oversized: refused without decoding
    "AAAAA",  # impossible length
])
def test_parse_hash_refuses(text):
    with pytest.raises(RevocationInputError) as exc:
        parse_hash(text)
    assert code_of(exc) == "REVOCATION_BAD_HASH"


def test_parse_hash_refuses_non_strings():
    for value in (None, 5, bytes(16)):
        with pytest.raises(RevocationInputError):
            parse_hash(value)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- batches


def batch_json(n: int = 3, **over) -> dict:
    obj = {"country": "DE", "expires": "2024-06-30T00:00:00Z", "kid": b64(b"\x01" * 8), "hashType": "UCI",
           "entries": [{"hash": b64(sha16(f"e{i}".encode()))} for i in range(n)]}
    obj.update(over)
    return obj


def test_valid_batch():
    b = validate_batch(batch_json(), now=NOW)
    assert (b.country, b.kid, b.hash_type) == ("DE", b"\x01" * 8, "UCI")
    assert b.expires == datetime(2024, 6, 30, tzinfo=UTC)
    assert b.hashes == tuple(sha16(f"e{i}".encode()) for i in range(3))
    assert validate_batch(b.to_json(), now=NOW) == b  # the gateway layout round-trips
    kidless = validate_batch(batch_json(kid=None), now=NOW)
    assert kidless.kid is None
    no_kid_field = batch_json()
    del no_kid_field["kid"]
    assert validate_batch(no_kid_field, now=NOW).kid is None
    offset = validate_batch(batch_json(expires="2024-06-30T02:00:00.5+02:00"), now=NOW)
    assert offset.expires == datetime(2024, 6, 30, 0, 0, 0, 500000, tzinfo=UTC)
    assert len(validate_batch(batch_json(1000), now=NOW).hashes) == 1000


@pytest.mark.parametrize(("obj", "code"), [
    ([], "REVOCATION_BATCH_NOT_OBJECT"),
    ("{}", "REVOCATION_BATCH_NOT_OBJECT"),
    (batch_json(extra=1), "REVOCATION_BATCH_UNKNOWN_FIELD"),
    ({k: v for k, v in batch_json().items() if k != "country"}, "REVOCATION_BATCH_MISSING_FIELD"),
    ({k: v for k, v in batch_json().items() if k != "expires"}, "REVOCATION_BATCH_MISSING_FIELD"),
    ({k: v for k, v in batch_json().items() if k != "hashType"}, "REVOCATION_BATCH_MISSING_FIELD"),
    ({k: v for k, v in batch_json().items() if k != "entries"}, "REVOCATION_BATCH_MISSING_FIELD"),
    (batch_json(country="de"), "REVOCATION_BAD_COUNTRY"),
    (batch_json(country="DEU"), "REVOCATION_BAD_COUNTRY"),
    (batch_json(country=49), "REVOCATION_BAD_COUNTRY"),
    (batch_json(expires="2024-06-30"), "REVOCATION_BAD_EXPIRY"),
    (batch_json(expires="2024-06-30T00:00:00"), "REVOCATION_BAD_EXPIRY"),  # no time zone
    (batch_json(expires="2024-13-30T00:00:00Z"), "REVOCATION_BAD_EXPIRY"),
    (batch_json(expires="tomorrow"), "REVOCATION_BAD_EXPIRY"),
    (batch_json(expires="9999-12-31T23:59:59-23:59"), "REVOCATION_BAD_EXPIRY"),  # past year 9999 in UTC
    (batch_json(expires="2024-06-30T24:00:00Z"), "REVOCATION_BAD_EXPIRY"),
    (batch_json(expires=1719705600), "REVOCATION_BAD_EXPIRY"),
    (batch_json(expires="2024-05-01T12:00:00Z"), "REVOCATION_BATCH_EXPIRED"),  # not after now
    (batch_json(expires="2023-01-01T00:00:00Z"), "REVOCATION_BATCH_EXPIRED"),
    (batch_json(kid=b64(bytes(7))), "REVOCATION_BAD_KID"),
    (batch_json(kid=b64(bytes(9))), "REVOCATION_BAD_KID"),
    (batch_json(kid="%%%"), "REVOCATION_BAD_KID"),
    (batch_json(kid=8), "REVOCATION_BAD_KID"),
    (batch_json(hashType="uci"), "REVOCATION_BAD_HASH_TYPE"),
    (batch_json(hashType=None), "REVOCATION_BAD_HASH_TYPE"),
    (batch_json(entries={}), "REVOCATION_BAD_ENTRY"),
    (batch_json(0), "REVOCATION_BATCH_EMPTY"),
    (batch_json(1001), "REVOCATION_BATCH_TOO_LARGE"),
    (batch_json(entries=["abc"]), "REVOCATION_BAD_ENTRY"),
    (batch_json(entries=[{"hash": b64(bytes(16)), "x": 1}]), "REVOCATION_BAD_ENTRY"),
    (batch_json(entries=[{}]), "REVOCATION_BAD_ENTRY"),
    (batch_json(entries=[{"hash": b64(bytes(15))}]), "REVOCATION_BAD_HASH"),
    (batch_json(entries=[{"hash": b64(bytes(32))}]), "REVOCATION_BAD_HASH"),
    (batch_json(entries=[{"hash": bytes(16).hex()}]), "REVOCATION_BAD_HASH"),  # hex is not the gateway layout
    (batch_json(entries=[{"hash": 7}]), "REVOCATION_BAD_HASH"),
    (batch_json(entries=[{"hash": b64(bytes(16))}, {"hash": b64(bytes(16)).rstrip("=")}]),
     "REVOCATION_DUPLICATE_HASH"),
])
def test_bad_batches_refused_with_codes(obj, code):
    with pytest.raises(RevocationInputError) as exc:
        validate_batch(obj, now=NOW)
    assert code_of(exc) == code


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                     lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(st.text(max_size=10), children, max_size=4), max_leaves=12)


_hash16 = st.binary(min_size=16, max_size=16).map(b64)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "country": _json | st.sampled_from(["DE", "de", "XX"]),
    "expires": _json | st.sampled_from(["2024-06-30T00:00:00Z", "9999-12-31T23:59:59-23:59"]),
    "kid": _json | st.sampled_from([None, b64(bytes(8))]),
    "hashType": _json | st.sampled_from(HASH_TYPES),
    "entries": _json | st.lists(st.fixed_dictionaries({"hash": _json | _hash16}), max_size=3),
}) | _json)
def test_hostile_batches_give_codes_never_crashes(obj):
    try:
        batch = validate_batch(obj, now=NOW)
    except RevocationInputError as exc:
        assert exc.code in CODES and exc.code.startswith("REVOCATION_")
    else:
        assert 1 <= len(batch.hashes) <= 1000 and batch.hash_type in HASH_TYPES


def test_expired_batch_accepted_when_not_an_upload():
    old = batch_json(expires="2023-01-01T00:00:00Z")
    assert validate_batch(old, now=NOW, upload=False).expires.year == 2023
    with pytest.raises(ValueError):
        validate_batch(batch_json(), now=datetime(2024, 5, 1))  # naive clock: a programming error
    assert parse_datetime("2024-06-30T00:00:00+00:00") == datetime(2024, 6, 30, tzinfo=UTC)


def test_codes_registered_with_proper_french():
    ours = {c for c in CODES if c.startswith("REVOCATION_")}
    assert len(ours) >= 17
    for code in ours:
        c = CODES[code]
        assert c.stage == "revocation" and c.en and c.fr and c.en != c.fr
        assert not re.search(r"[^\u00a0][:;?!]", c.fr), c.fr  # non-breaking space before : ; ? !
        assert not re.search(r"«[^\u00a0]|[^\u00a0]»", c.fr), c.fr


# ---------------------------------------------------------------------- the index

KID_A, KID_B = b"\xaa" * 8, b"\xbb" * 8


def make_batch(hash_type: str, hashes: list[bytes], *, country: str = "DE", kid: bytes | None = KID_A,
               expires: datetime = NOW + timedelta(days=30)) -> Batch:
    return Batch(country=country, expires=expires, kid=kid, hash_type=hash_type, hashes=tuple(hashes))


def cert(uci: str = UCI, co: str = "DE", sig: bytes = bytes(range(64))) -> dict[str, bytes]:
    return revocation_hashes(uci=uci, country=co, cose_signature=sig, alg=-7)


def test_index_kid_batch_and_kidless_batch():
    h = cert()
    index = RevocationIndex()
    index.add_batch(make_batch("UCI", [h["UCI"]], kid=KID_A))
    assert index.is_revoked(KID_A, "DE", h, NOW) == "UCI"
    assert index.is_revoked(KID_A, None, h, NOW) == "UCI"  # a kid batch matches on the kid
    assert index.is_revoked(KID_B, "DE", h, NOW) is None  # another key of the same country
    assert index.is_revoked(KID_A, "DE", cert(uci="URN:UVCI:other"), NOW) is None

    index.add_batch(make_batch("COUNTRYCODEUCI", [h["COUNTRYCODEUCI"]], kid=None))
    assert index.is_revoked(KID_B, "DE", h, NOW) == "COUNTRYCODEUCI"  # kid-less: every key of DE
    assert index.is_revoked(KID_B, "de", h, NOW) == "COUNTRYCODEUCI"
    assert index.is_revoked(KID_B, "FR", h, NOW) is None  # ... but only of DE
    assert index.is_revoked(KID_B, None, h, NOW) is None  # signer country unknown: kid-less cannot apply
    assert index.is_revoked(KID_B, "DEU", h, NOW) == "COUNTRYCODEUCI"  # DID trust lists use alpha-3
    assert index.is_revoked(KID_B, "FRA", h, NOW) is None
    for odd in ("XXA", "Germany", "D1", 49):  # an odd trust-list country never stops a verification
        assert index.is_revoked(KID_B, odd, h, NOW) is None
        assert index.is_revoked(KID_A, odd, h, NOW) == "UCI"  # the kid batch still matches
    # SIGNATURE is tried first, then UCI, then COUNTRYCODEUCI
    index.add_batch(make_batch("SIGNATURE", [h["SIGNATURE"]], kid=KID_A))
    assert index.is_revoked(KID_A, "DE", h, NOW) == "SIGNATURE"
    # a hash only counts under its own type
    assert index.is_revoked(KID_B, "DE", {"UCI": h["COUNTRYCODEUCI"]}, NOW) is None


def test_index_expiry_deletion_and_delta():
    h = cert()
    index = RevocationIndex()
    soon = index.add_batch(make_batch("UCI", [h["UCI"]], expires=NOW + timedelta(hours=1)))
    assert index.is_revoked(KID_A, "DE", h, NOW) == "UCI"
    later = NOW + timedelta(hours=1)
    assert index.is_revoked(KID_A, "DE", h, later) is None  # expired at its expiry instant
    # the same hash in a second, longer batch keeps it revoked; removing that batch lifts it
    long_id = index.add_batch(make_batch("UCI", [h["UCI"]], expires=NOW + timedelta(days=9)))
    assert index.is_revoked(KID_A, "DE", h, later) == "UCI"
    assert index.purge_expired(later) == 1 and len(index) == 1
    assert index.is_revoked(KID_A, "DE", h, NOW) == "UCI"
    assert index.remove_batch(long_id) and not index.remove_batch(long_id) and not index.remove_batch(soon)
    assert index.is_revoked(KID_A, "DE", h, NOW) is None and len(index) == 0
    # a delta download: one batch added, replaced under the same id, then deleted
    index.apply_delta([("b1", make_batch("UCI", [h["UCI"]])), ("b2", make_batch("SIGNATURE", [bytes(16)]))])
    assert index.is_revoked(KID_A, "DE", h, NOW) == "UCI" and len(index) == 2
    index.apply_delta([("b1", make_batch("UCI", [bytes(16)]))])  # replaced: the UVCI is no longer listed
    assert index.is_revoked(KID_A, "DE", h, NOW) is None
    index.apply_delta([("b1", None), ("b2", None), ("unknown", None)])
    assert len(index) == 0


def test_index_refuses_bad_lookups():
    index = RevocationIndex()
    with pytest.raises(RevocationInputError) as exc:
        index.is_revoked(KID_A, "DE", {"SHA1": bytes(16)}, NOW)
    assert code_of(exc) == "REVOCATION_BAD_HASH_TYPE"
    with pytest.raises(RevocationInputError) as exc:
        index.is_revoked(KID_A, "DE", {"UCI": bytes(32)}, NOW)
    assert code_of(exc) == "REVOCATION_BAD_HASH"
    with pytest.raises(ValueError):
        index.is_revoked(KID_A, "DE", {"UCI": bytes(16)}, datetime(2024, 1, 1))
    with pytest.raises(TypeError):
        index.add_batch(batch_json())  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the compact filter


def test_filter_export_and_lookup():
    h, other = cert(), cert(uci="URN:UVCI:01:DE:OTHER", sig=bytes(64))
    index = RevocationIndex()
    index.add_batch(make_batch("UCI", [h["UCI"]], kid=KID_A, expires=NOW + timedelta(days=3)))
    index.add_batch(make_batch("COUNTRYCODEUCI", [other["COUNTRYCODEUCI"]], kid=None))
    index.add_batch(make_batch("SIGNATURE", [other["SIGNATURE"]], expires=NOW - timedelta(days=1)))  # expired
    blob = index.export_filter(NOW, p=1e-6)
    f = RevocationFilter.from_bytes(blob)
    assert f.might_be_revoked(KID_A, "DE", h) == "UCI"
    assert f.might_be_revoked(KID_B, "DE", h) is None
    assert f.might_be_revoked(KID_B, "DE", other) == "COUNTRYCODEUCI"
    assert f.might_be_revoked(KID_B, "FR", other) is None
    assert f.might_be_revoked(KID_B, "deu", other) == "COUNTRYCODEUCI"
    assert f.might_be_revoked(KID_B, "XXA", other) is None
    assert f.might_be_revoked(KID_A, None, {"SIGNATURE": other["SIGNATURE"]}) is None  # expired: left out
    assert f.refresh_before == NOW + timedelta(days=3)
    assert f.created == NOW
    assert not f.is_stale(NOW) and f.is_stale(NOW + timedelta(days=3))
    assert f.bloom.count == 2
    assert RevocationFilter.from_bytes(f.to_bytes()).bloom == f.bloom
    empty = RevocationFilter.from_bytes(RevocationIndex().export_filter(NOW))
    assert empty.refresh_before is None and empty.might_be_revoked(KID_A, "DE", h) is None


def test_filter_refuses_damaged_input():
    blob = RevocationIndex().export_filter(NOW)
    damaged = bytearray(blob)
    damaged[-6] ^= 0xFF
    for data in (b"", b"DHOR", b"XXXX" + blob[4:], blob[:4] + b"\x09" + blob[5:], blob[:-1], bytes(damaged),
                 blob[:21] + b"NOTBLOOM" + blob[29:], "text"):
        with pytest.raises(RevocationInputError) as exc:
            RevocationFilter.from_bytes(data)  # type: ignore[arg-type]
        assert code_of(exc) == "REVOCATION_BAD_FILTER"
    with pytest.raises(RevocationInputError):
        RevocationFilter.from_bytes(blob, max_bytes=0)


def test_100k_entries_no_false_negatives_and_fp_rate_within_target():
    """100 batches of 1000 random hashes: every entry found by the index and by the filter; the
    filter's measured false-positive rate on random lookups within 1.5 x its target."""
    rnd = random.Random(20240501)
    index = RevocationIndex()
    revoked: list[tuple[bytes | None, str, str, bytes]] = []
    for b in range(100):
        country = rnd.choice(["DE", "FR", "AT", "NL", "SN"])
        kid = rnd.randbytes(8) if b % 3 else None
        ht = HASH_TYPES[b % 3]
        hashes = [rnd.randbytes(16) for _ in range(1000)]
        index.add_batch(make_batch(ht, hashes, country=country, kid=kid))
        revoked.extend((kid, country, ht, h) for h in hashes)
    assert len(revoked) == 100_000 and len(index) == 100
    p = 1e-3
    f = RevocationFilter.from_bytes(index.export_filter(NOW, p=p))
    assert f.bloom.count == 100_000
    misses_exact = misses_filter = 0
    for kid, country, ht, h in revoked:
        look_kid = kid if kid is not None else rnd.randbytes(8)
        misses_exact += index.is_revoked(look_kid, country, {ht: h}, NOW) != ht
        misses_filter += f.might_be_revoked(look_kid, country, {ht: h}) != ht
    assert misses_exact == 0 and misses_filter == 0
    probes, fp_exact, fp_filter = 100_000, 0, 0
    for _ in range(probes):  # one filter lookup each: a kid-less lookup with an unknown kid is not made
        q = {rnd.choice(HASH_TYPES): rnd.randbytes(16)}
        fp_exact += index.is_revoked(None, "DE", q, NOW) is not None
        fp_filter += f.might_be_revoked(None, "DE", q) is not None
    assert fp_exact == 0
    assert fp_filter / probes <= 1.5 * p, fp_filter
    assert f.bloom.estimated_fp_rate() <= 1.5 * p


# ---- the verifier's lookup (check) gives exactly the answers of revocation_hashes + is_revoked ---------------

KIDS = (b"\x01" * 8, b"\x02" * 8)
SIGS = (bytes(range(64)), bytes(range(64, 128)), bytes(96))


def _check_index(rnd: random.Random) -> RevocationIndex:
    """Batches of every hash type and scope; some entries are the hashes of the certificates queried below."""
    index = RevocationIndex()
    known = [revocation_hashes(uci=u, country=c, cose_signature=s, alg=-7)
             for u in (UCI, "URN:UVCI:B") for c in ("AT", "DE") for s in SIGS[:2]]
    for n in range(rnd.randint(1, 6)):
        hash_type = rnd.choice(HASH_TYPES)
        hashes = [rnd.randbytes(16) for _ in range(rnd.randint(1, 5))]
        hashes += [h[hash_type] for h in rnd.sample(known, rnd.randint(0, 2))]
        expires = NOW + timedelta(days=rnd.choice((-1, 30)))
        kid = rnd.choice((*KIDS, None))
        country = rnd.choice(("AT", "DE"))
        index.add_batch(Batch(country=country, kid=kid, hash_type=hash_type, expires=expires,
                              hashes=tuple(dict.fromkeys(hashes))), f"b{n}")
    return index


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from((*KIDS, None)), st.sampled_from(("AT", "DE", "DEU", None)),
       st.sampled_from((UCI, "URN:UVCI:B", "", None, "\ud800", 5)), st.sampled_from(("AT", "de", "DE", "D", None, 7)),
       st.sampled_from(SIGS), st.sampled_from((-7, -35, -37, True)))
def test_check_answers_as_revocation_hashes_and_is_revoked(seed, kid, country, uci, co, sig, alg):
    index = _check_index(random.Random(seed))

    def reference():
        try:
            hashes = revocation_hashes(uci=uci, country=co, cose_signature=sig, alg=alg)
        except RevocationInputError as exc:
            return "error", exc.code
        return "answer", index.is_revoked(kid, country, hashes, NOW)

    def checked():
        try:
            return "answer", index.check(kid, country, uci=uci, co=co, signature=sig, alg=alg, now=NOW)
        except RevocationInputError as exc:
            return "error", exc.code

    got = checked()
    if index._plan(kid, country):
        assert got == reference()
    else:  # no table can match: the lookup answers without computing (or checking) any hash
        assert got == ("answer", None)
    with pytest.MonkeyPatch.context() as m:
        m.setattr("dho.trust.revocation._fast", None)
        assert checked() == got

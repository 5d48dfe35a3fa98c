"""Trust-anchor signatures of participant registrations, and the anchor key file (dho.trust.anchor)."""

from __future__ import annotations

import base64
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from dho.trust import testpki
from dho.trust.anchor import (
    AnchorKeyError,
    anchor_certificate,
    generate_key,
    load_private_key,
    registration_message,
    sign_registration,
    verify_registration,
    write_private_key,
)
from dho.trust.keys import thumbprint


@pytest.fixture(scope="module")
def sca() -> testpki.Party:
    return testpki.make_sca("XA")


@pytest.fixture(scope="module", params=["ec", "rsa"])
def anchor(request) -> testpki.Party:
    key = testpki.new_key("ec" if request.param == "ec" else "rsa3072", "anchor")
    return testpki.Party(key, anchor_certificate(key))


def message_for(sca, **changes) -> bytes:
    fields = {"country": "XA", "domain": "DCC", "group": "SCA", "cert_der": sca.der, **changes}
    return registration_message(**fields)


def test_message_is_the_documented_text(sca):
    assert message_for(sca) == (
        "DHO-TRUST-REGISTRATION/1\ncountry=XA\ndomain=DCC\ngroup=SCA\n"
        f"thumbprint={thumbprint(sca.der)}\n").encode()


@pytest.mark.parametrize("field, value", [("country", "XAB"), ("domain", "DDCC"), ("group", "UP"),
                                          ("cert_der", b"other")])
def test_every_field_changes_the_message(sca, field, value):
    assert message_for(sca, **{field: value}) != message_for(sca)


@pytest.mark.parametrize("field, value", [
    ("country", "xa"), ("country", "X"), ("country", "XA\ngroup=UP"), ("country", ""), ("domain", "DCC X"),
    ("domain", "dcc"), ("domain", "DCC=1"), ("group", "SCA\n"), ("group", ""), ("country", None), ("cert_der", b""),
    ("cert_der", "not bytes"),
])
def test_values_outside_their_pattern_are_refused(sca, field, value):
    with pytest.raises(ValueError):
        message_for(sca, **{field: value})


def test_sign_and_verify(anchor, sca):
    message = message_for(sca)
    signature = sign_registration(message, anchor.key)
    assert verify_registration(message, signature, anchor.cert) is True
    assert verify_registration(message, signature, anchor.cert.public_key()) is True


@pytest.mark.parametrize("field, value", [("country", "XB"), ("domain", "DDCC"), ("group", "UP"),
                                          ("cert_der", None)])
def test_tampering_with_any_field_breaks_the_signature(anchor, sca, field, value):
    signature = sign_registration(message_for(sca), anchor.key)
    if field == "cert_der":
        value = testpki.make_sca("XA").der  # another certificate, same country
    assert verify_registration(message_for(sca, **{field: value}), signature, anchor.cert) is False


def test_tampered_signature_and_other_anchor(anchor, sca):
    message = message_for(sca)
    raw = bytearray(base64.b64decode(sign_registration(message, anchor.key)))
    raw[len(raw) // 2] ^= 0x01
    assert verify_registration(message, base64.b64encode(bytes(raw)).decode(), anchor.cert) is False
    other = testpki.make_anchor("Another anchor")
    assert verify_registration(message, sign_registration(message, other.key), anchor.cert) is False


@pytest.mark.parametrize("signature", ["", "!!!", "abc", "A" * 5000, None, 42, b"\x00\xff", "YWJj\n===="])
def test_bad_signatures_give_false_and_never_raise(anchor, sca, signature):
    assert verify_registration(message_for(sca), signature, anchor.cert) is False


def test_verify_with_unusable_key_or_message_gives_false(anchor, sca):
    message = message_for(sca)
    signature = sign_registration(message, anchor.key)
    assert verify_registration(message, signature, None) is False
    assert verify_registration(message, signature, ed25519.Ed25519PrivateKey.generate().public_key()) is False
    assert verify_registration(message.decode(), signature, anchor.cert) is False


def test_signing_with_an_unsupported_key_is_refused(sca):
    with pytest.raises(TypeError):
        sign_registration(message_for(sca), ed25519.Ed25519PrivateKey.generate())


# --- key file ---------------------------------------------------------------------------------------------------

def test_key_file_round_trip_with_passphrase(tmp_path, sca):
    key = generate_key("ec")
    path = write_private_key(key, tmp_path / "anchor.pem", "correct horse battery")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED" in path.read_bytes()
    loaded = load_private_key(path, "correct horse battery")
    message = message_for(sca)
    assert verify_registration(message, sign_registration(message, loaded), key.public_key()) is True


def test_wrong_or_missing_passphrase(tmp_path):
    path = write_private_key(generate_key("ec"), tmp_path / "anchor.pem", "secret one")
    with pytest.raises(AnchorKeyError, match="wrong passphrase"):
        load_private_key(path, "secret two")
    with pytest.raises(AnchorKeyError, match="passphrase is needed"):
        load_private_key(path, None)


def test_unencrypted_key_file(tmp_path):
    path = write_private_key(generate_key("ec"), tmp_path / "plain.pem", None)
    assert b"ENCRYPTED" not in path.read_bytes()
    assert load_private_key(path, None) is not None
    with pytest.raises(AnchorKeyError, match="not encrypted"):
        load_private_key(path, "a passphrase")


def test_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "anchor.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    with pytest.raises(AnchorKeyError, match="exists"):
        write_private_key(generate_key("ec"), path, "pw")
    assert path.read_bytes() == b"old"
    write_private_key(generate_key("ec"), path, "pw", overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_private_key(path, "pw") is not None


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),
    (b"hello", "not a PEM"),
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "readable private key"),
])
def test_unusable_key_files(tmp_path, content, message):
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AnchorKeyError, match=message):
        load_private_key(path, None)


def test_unsupported_key_type_in_file(tmp_path):
    path = write_private_key(ed25519.Ed25519PrivateKey.generate(), tmp_path / "ed.pem", "pw")
    with pytest.raises(AnchorKeyError, match="EC or RSA"):
        load_private_key(path, "pw")


def test_anchor_certificate_matches_its_key():
    key = generate_key("ec")
    cert = anchor_certificate(key, name="Test anchor", days=30)
    assert cert.public_key() == key.public_key()
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30
    with pytest.raises(ValueError):
        generate_key("dsa")

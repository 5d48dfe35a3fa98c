"""CMS SignedData: round trips, tampering, wrong or missing signers, and hostile input (dho.trust.cms)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms as asn1cms
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dho.trust import testpki
from dho.trust.cms import MAX_CMS_BYTES, sign_cms, verify_cms
from dho.trust.pki import PkiError


@pytest.fixture(scope="module")
def dsc() -> testpki.Party:
    return testpki.make_dsc(testpki.make_sca("DE"))


@pytest.fixture(scope="module")
def up() -> testpki.Party:
    return testpki.make_up("DE")


@pytest.fixture(scope="module")
def message(dsc, up) -> bytes:
    return sign_cms(dsc.der, up.cert, up.key)


def code_of(data, **kwargs) -> str:
    with pytest.raises(PkiError) as info:
        verify_cms(data, **kwargs)
    return info.value.code


# --- round trips ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, pss", [("ec", False), ("rsa", False), ("rsa", True)])
def test_round_trip(dsc, key, pss):
    signer = testpki.make_up("DE", key=key)
    data = sign_cms(dsc.der, signer.cert, signer.key, rsa_pss=pss)
    out = verify_cms(data)
    assert out.content == dsc.der
    assert out.signer == signer.cert
    assert out.signing_time is not None and abs(out.signing_time - datetime.now(UTC)) < timedelta(minutes=5)
    algorithm = asn1cms.ContentInfo.load(data)["content"]["signer_infos"][0]["signature_algorithm"]
    assert algorithm.signature_algo == ("rsassa_pss" if pss else "ecdsa" if key == "ec" else "rsassa_pkcs1v15")


def test_base64_and_pem_input(message, dsc, up):
    assert verify_cms(base64.b64encode(message).decode()).content == dsc.der
    assert verify_cms(base64.b64encode(message)).content == dsc.der  # base64 as bytes, as an HTTP body
    wrapped = "\n".join(base64.encodebytes(message).decode().split())
    pem = f"-----BEGIN CMS-----\n{wrapped}\n-----END CMS-----\n"
    assert verify_cms(pem).signer == up.cert


def test_detached(dsc, up):
    data = sign_cms(dsc.der, up.cert, up.key, detached=True)
    assert verify_cms(data, detached_content=dsc.der).content == dsc.der
    assert code_of(data) == "PKI_CMS_NO_CONTENT"
    assert code_of(data, detached_content=dsc.der + b"x") == "PKI_CMS_DIGEST"


def test_embedded_and_different_detached_content(message, dsc):
    assert verify_cms(message, detached_content=dsc.der).content == dsc.der
    assert code_of(message, detached_content=b"something else") == "PKI_CMS_CONTENT_MISMATCH"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_reads_a_message_made_by_openssl(tmp_path, dsc, up):
    # An independent producer: the OpenSSL command line, signing with the same UP key.
    (tmp_path / "up.pem").write_bytes(up.pem)
    (tmp_path / "up.key").write_bytes(up.key_pem())
    (tmp_path / "dsc.der").write_bytes(dsc.der)
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-md", "sha256",
                    "-signer", str(tmp_path / "up.pem"), "-inkey", str(tmp_path / "up.key"),
                    "-in", str(tmp_path / "dsc.der"), "-out", str(tmp_path / "out.der")], check=True,
                   capture_output=True)
    out = verify_cms((tmp_path / "out.der").read_bytes())
    assert out.content == dsc.der and out.signer == up.cert


# --- tampering and wrong signers ------------------------------------------------------------------------------

def flip(data: bytes, needle: bytes, offset: int = 0) -> bytes:
    at = data.index(needle) + offset
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def test_tampered_content(message, dsc):
    assert code_of(flip(message, dsc.der, len(dsc.der) // 2)) == "PKI_CMS_DIGEST"


def test_tampered_signature_and_signed_attributes(message):
    info = asn1cms.ContentInfo.load(message)
    signer = info["content"]["signer_infos"][0]
    assert code_of(flip(message, signer["signature"].native, 10)) == "PKI_CMS_SIGNATURE"
    when = next(a for a in signer["signed_attrs"] if a["type"].native == "signing_time")["values"][0]
    assert code_of(flip(message, when.contents, 2)) == "PKI_CMS_SIGNATURE"


def with_certificates(data: bytes, *certs: bytes) -> bytes:
    """The same message with its certificate set replaced (lengths re-encoded)."""
    info = asn1cms.ContentInfo.load(data)
    info["content"]["certificates"] = [asn1cms.CertificateChoices.load(c) for c in certs]
    return info.dump(force=True)


def test_signer_certificate_swapped_for_one_with_the_same_name_and_serial(dsc, up):
    # A certificate that claims the signer's issuer and serial number but holds another key.
    other = testpki.new_key("ec")
    fake = (x509.CertificateBuilder().subject_name(up.cert.subject).issuer_name(up.cert.issuer)
            .public_key(other.public_key()).serial_number(up.cert.serial_number)
            .not_valid_before(up.cert.not_valid_before_utc).not_valid_after(up.cert.not_valid_after_utc)
            .sign(other, hashes.SHA256()))
    data = sign_cms(dsc.der, up.cert, up.key)
    assert verify_cms(with_certificates(data, up.der)).signer == up.cert  # the rebuild itself is sound
    assert code_of(with_certificates(data, fake.public_bytes(serialization.Encoding.DER))) == "PKI_CMS_SIGNATURE"


def test_wrong_signer_is_reported_not_hidden(dsc):
    # Signed by France's UP certificate: valid CMS, and the caller sees who signed it.
    up_fr = testpki.make_up("FR")
    out = verify_cms(sign_cms(dsc.der, up_fr.cert, up_fr.key))
    assert out.signer == up_fr.cert
    assert out.signer.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)[0].value == "FR"


def test_signer_certificate_missing(dsc, up):
    data = (pkcs7.PKCS7SignatureBuilder().set_data(dsc.der).add_signer(up.cert, up.key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCerts]))
    assert code_of(data) == "PKI_CMS_NO_SIGNER_CERT"


def test_other_certificate_embedded(dsc, up):
    data = sign_cms(dsc.der, up.cert, up.key)
    other = testpki.make_up("DE")  # same subject name, other serial number
    assert code_of(with_certificates(data, other.der)) == "PKI_CMS_NO_SIGNER_CERT"
    assert verify_cms(with_certificates(data, other.der, up.der)).signer == up.cert  # found among several


def test_no_signed_attributes(dsc, up):
    data = (pkcs7.PKCS7SignatureBuilder().set_data(dsc.der).add_signer(up.cert, up.key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoAttributes]))
    assert code_of(data) == "PKI_CMS_NO_SIGNED_ATTRS"


def test_two_signers(dsc, up):
    second = testpki.make_up("FR")
    data = (pkcs7.PKCS7SignatureBuilder().set_data(dsc.der).add_signer(up.cert, up.key, hashes.SHA256())
            .add_signer(second.cert, second.key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))
    assert code_of(data) == "PKI_CMS_SIGNERS"


def test_not_signed_data():
    data = asn1cms.ContentInfo({"content_type": "data", "content": core.OctetString(b"hello")}).dump()
    assert code_of(data) == "PKI_CMS_NOT_SIGNED_DATA"


# --- hostile input ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", "   ", b"hello", "not base64 !", b"\x30", b"\x30\x03\x02\x01\x01",
                                  b"\x30\x80\x00\x00", b"\x30\x84\xff\xff\xff\xff", "MIIB", b"\x00" * 64,
                                  "-----BEGIN CMS-----\n-----END CMS-----"])
def test_garbage(data):
    assert code_of(data) in ("PKI_CMS_MALFORMED", "PKI_CMS_NOT_SIGNED_DATA")


def test_wrong_types():
    for data in (None, 42, ["x"], {"a": 1}):
        assert code_of(data) == "PKI_CMS_MALFORMED"


def test_every_truncation_is_refused(message):
    for cut in range(len(message)):
        with pytest.raises(PkiError):
            verify_cms(message[:cut])


def test_trailing_garbage_is_refused(message):
    assert code_of(message + b"\x00\x00") == "PKI_CMS_MALFORMED"


def test_oversized(message):
    assert code_of(message, max_bytes=len(message) - 1) == "PKI_CMS_TOO_LARGE"
    assert code_of(base64.b64encode(message), max_bytes=len(message) - 1) == "PKI_CMS_TOO_LARGE"
    assert code_of(b"\x30" + b"\x00" * (MAX_CMS_BYTES * 2)) == "PKI_CMS_TOO_LARGE"
    assert code_of("A" * (MAX_CMS_BYTES * 2)) == "PKI_CMS_TOO_LARGE"


def test_every_single_bit_flip_fails_cleanly_or_keeps_the_content(message, dsc):
    # Flips in unsigned parts (the embedded certificate's own signature, say) may still verify; then the
    # content must be unchanged. Anything else must be a PkiError, never another exception.
    survived = 0
    for at in range(len(message)):
        data = message[:at] + bytes([message[at] ^ 0x80]) + message[at + 1:]
        try:
            out = verify_cms(data)
        except PkiError:
            continue
        survived += 1
        assert out.content == dsc.der
    assert survived < len(message) // 4


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(data):
    with pytest.raises(PkiError):
        verify_cms(b"\x30" + data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0), st.binary(min_size=1, max_size=8))
def test_random_splices_never_crash(message, at, junk):
    at %= len(message)
    data = message[:at] + junk + message[at + len(junk):]
    try:
        out = verify_cms(data)
    except PkiError:
        return
    assert out.content == verify_cms(message).content

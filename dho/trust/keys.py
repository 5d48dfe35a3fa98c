"""Document-signer keys as the verifier sees them: the kid, the key type the COSE algorithm needs, and
the certificate types (test, vaccination, recovery) an extended key usage allows."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# Extended key usage OIDs that restrict a DSC to certificate types (EU DCC; both spellings are in use).
USAGE_OIDS = {
    "1.3.6.1.4.1.1847.2021.1.1": "t",
    "1.3.6.1.4.1.1847.2021.1.2": "v",
    "1.3.6.1.4.1.1847.2021.1.3": "r",
    "1.3.6.1.4.1.0.1847.2021.1.1": "t",
    "1.3.6.1.4.1.0.1847.2021.1.2": "v",
    "1.3.6.1.4.1.0.1847.2021.1.3": "r",
}
ALL_USAGES = frozenset("tvr")


def kid_of(cert_der: bytes) -> bytes:
    """The key identifier: the first 8 bytes of the SHA-256 of the DER certificate."""
    return hashlib.sha256(cert_der).digest()[:8]


def thumbprint(cert_der: bytes) -> str:
    return hashlib.sha256(cert_der).hexdigest()


def load_certificate(data: bytes | str) -> x509.Certificate:
    """A certificate from DER, PEM or base64 DER. Raises ValueError with a plain message."""
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    if data[:1] == b"\x30":  # DER as it is: its last bytes may be whitespace codes
        return x509.load_der_x509_certificate(data)
    data = data.strip()
    if data.startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    if data[:1] != b"\x30":
        try:
            data = base64.b64decode(b"".join(data.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("not a DER, PEM or base64 certificate") from exc
    return x509.load_der_x509_certificate(data)


def dcc_usages(cert: x509.Certificate) -> frozenset[str]:
    """Certificate types this DSC may sign: all when it has no DCC usage OID, else only the listed ones."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return ALL_USAGES
    found = {USAGE_OIDS[o.dotted_string] for o in eku if o.dotted_string in USAGE_OIDS}
    return frozenset(found) if found else ALL_USAGES


def key_kind(public_key) -> str:
    """'EC-P256', 'EC-P384', 'EC-P521', 'RSA-<bits>' or 'OTHER'."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "EC-P256", "secp384r1": "EC-P384", "secp521r1": "EC-P521"}.get(
            public_key.curve.name, "EC-OTHER")
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    return "OTHER"


@dataclass
class SignerKey:
    """One document-signer key known to a verifier (from a trust list or a test context)."""

    kid: bytes
    country: str | None
    public_key: object
    certificate: x509.Certificate | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    usages: frozenset[str] = ALL_USAGES
    source: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_certificate(cls, cert: x509.Certificate, *, source: str = "") -> SignerKey:
        from cryptography.hazmat.primitives.serialization import Encoding

        der = cert.public_bytes(Encoding.DER)
        country = None
        for attr in cert.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME):
            country = str(attr.value).upper()
        return cls(kid=kid_of(der), country=country, public_key=cert.public_key(), certificate=cert,
                   not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                   usages=dcc_usages(cert), source=source)

    def valid_at(self, when: datetime) -> bool:
        if self.not_before and when < self.not_before:
            return False
        return not (self.not_after and when > self.not_after)


def utcnow() -> datetime:
    return datetime.now(UTC)

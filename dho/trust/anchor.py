"""The trust anchor: the network operator's key that signs every participant registration.

The anchor's private key never enters the web process. The command-line tool loads it from a file
(normally passphrase-protected), signs the registration message of a certificate, and stores the
signature next to the registration; the web process holds only the anchor certificate and checks
the signature (and the thumbprint inside the message) each time it reads a registration.

The registration message is a short UTF-8 text, one ``name=value`` field per line in a fixed order::

    DHO-TRUST-REGISTRATION/1
    country=XA
    domain=DCC
    group=SCA
    thumbprint=<64 lower-case hex digits: SHA-256 of the DER certificate>

Each value is checked against a strict pattern (no ``=``, no line break, no spaces), so two
different registrations can never produce the same bytes, and the certificate is bound through its
thumbprint."""

from __future__ import annotations

import base64
import binascii
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from dho.trust.keys import thumbprint

MESSAGE_HEADER = "DHO-TRUST-REGISTRATION/1"
_FIELDS = {
    "country": re.compile(r"^[A-Z]{2,3}$"),
    "domain": re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$"),
    "group": re.compile(r"^[A-Z][A-Z0-9]{1,15}$"),
}
MAX_SIGNATURE_CHARS = 2048  # an RSA-4096 signature is 684 base64 characters


class AnchorKeyError(ValueError):
    """The anchor key file cannot be used; the message says why in plain words."""


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)


def registration_message(*, country: str, domain: str, group: str, cert_der: bytes) -> bytes:
    """The canonical bytes the anchor signs for one participant certificate (see the module text).
    Raises ValueError for a value outside its pattern or an empty certificate."""
    values = {"country": country, "domain": domain, "group": group}
    for name, value in values.items():
        if not isinstance(value, str) or not _FIELDS[name].fullmatch(value):
            raise ValueError(f"registration {name} {value!r} does not match {_FIELDS[name].pattern}")
    if not isinstance(cert_der, bytes) or not cert_der:
        raise ValueError("registration needs the DER certificate")
    lines = [MESSAGE_HEADER, *(f"{k}={v}" for k, v in values.items()), f"thumbprint={thumbprint(cert_der)}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def sign_registration(message: bytes, key) -> str:
    """Base64 signature of ``message``: ECDSA with SHA-256 (DER signature) or RSA-PSS with SHA-256."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.sign(message, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(message, _pss(), hashes.SHA256())
    else:
        raise TypeError(f"the trust anchor key must be EC or RSA, not {type(key).__name__}")
    return base64.b64encode(raw).decode("ascii")


def verify_registration(message: bytes, signature: str, anchor_cert: x509.Certificate | object) -> bool:
    """True when ``signature`` is the anchor's signature of ``message``. ``anchor_cert`` may be the
    certificate or its public key. Never raises: bad base64, a wrong type or a foreign key give False."""
    try:
        if not isinstance(signature, str | bytes) or len(signature) > MAX_SIGNATURE_CHARS:
            return False
        raw = base64.b64decode(signature, validate=True)
        public = anchor_cert.public_key() if isinstance(anchor_cert, x509.Certificate) else anchor_cert
        if not isinstance(message, bytes) or not raw:
            return False
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(raw, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(raw, message, _pss(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, binascii.Error, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def load_private_key(path: str | Path, passphrase: str | None):
    """The anchor's private key from a PEM file (PKCS #8 or traditional, encrypted or not).
    Raises AnchorKeyError with a plain message: missing file, not a key, passphrase needed, wrong
    passphrase, passphrase given for an unencrypted file, or an unsupported key type."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnchorKeyError(f"cannot read the key file {path}: {exc.strerror or exc}") from exc
    if b"-----BEGIN" not in data:
        raise AnchorKeyError(f"{path} is not a PEM private key file")
    password = passphrase.encode("utf-8") if passphrase else None
    encrypted = b"ENCRYPTED" in data
    if encrypted and password is None:
        raise AnchorKeyError(f"{path} is encrypted: a passphrase is needed")
    if not encrypted and password is not None:
        raise AnchorKeyError(f"{path} is not encrypted, but a passphrase was given; check the file")
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        if encrypted:
            raise AnchorKeyError(f"wrong passphrase for {path} (or the file is damaged)") from exc
        raise AnchorKeyError(f"{path} does not hold a readable private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise AnchorKeyError(f"the trust anchor key must be EC or RSA, not {type(key).__name__}")
    return key


def write_private_key(key, path: str | Path, passphrase: str | None, *, overwrite: bool = False) -> Path:
    """Write ``key`` as PKCS #8 PEM, encrypted with ``passphrase`` when given, readable by the owner
    only (0600). Refuses to replace an existing file unless ``overwrite``."""
    path = Path(path)
    enc = (serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase
           else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise AnchorKeyError(f"{path} exists; refusing to overwrite a key") from exc
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)  # also when an existing file had wider permissions
        fh.write(pem)
    return path


def generate_key(kind: str = "ec"):
    """A new anchor key: 'ec' (P-256, the default) or 'rsa' (3072 bits)."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unknown key kind {kind!r} (ec or rsa)")


def anchor_certificate(key, *, name: str = "DHO Trust Anchor", days: int = 3650,
                       now: datetime | None = None) -> x509.Certificate:
    """A self-signed certificate for the anchor key: what the web process is given to check
    registrations (and what participants may pin)."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    public = key.public_key()
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
    return builder.sign(key, hashes.SHA256())

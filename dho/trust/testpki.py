"""A small throw-away PKI for tests and demos: a trust anchor, per-country signing certificate
authorities (SCA), upload (UP) and TLS client certificates, and document signers (DSC).

Nothing here is meant for production keys: every key lives in memory, RSA keys are reused between
calls (generating RSA keys is slow and tests only need distinct certificates, not distinct keys per
certificate), and certificate fields are just what the checks in :mod:`dho.trust.pki` look at.
Each call returns a fresh certificate (random serial number), so thumbprints and kids differ."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dho.trust.keys import USAGE_OIDS, kid_of, thumbprint

# The first spelling of each DCC usage OID (the EU DCC gateway one).
_USAGE_OID_FOR = {}
for _oid, _letter in USAGE_OIDS.items():
    _USAGE_OID_FOR.setdefault(_letter, x509.ObjectIdentifier(_oid))

_RSA_CACHE: dict[tuple[int, str], rsa.RSAPrivateKey] = {}


@dataclass
class Party:
    """A key pair with its certificate."""

    key: object
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def kid(self) -> bytes:
        return kid_of(self.der)

    @property
    def thumbprint(self) -> str:
        return thumbprint(self.der)

    @property
    def country(self) -> str | None:
        attrs = self.cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
        return str(attrs[0].value) if attrs else None

    @property
    def ski(self) -> bytes:
        return self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest

    def key_pem(self, passphrase: str | None = None) -> bytes:
        enc = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
               else serialization.NoEncryption())
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def new_key(kind: str = "ec", role: str = "") -> object:
    """A private key: 'ec' (P-256), 'ec384', 'rsa' (2048), 'rsa3072', 'rsa1024', 'rsa4096', 'ed25519'.

    RSA keys are cached per (size, role) so a test run generates each size only a few times; the role
    keeps an issuer and its subject from sharing one key."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    sizes = {"rsa": 2048, "rsa2048": 2048, "rsa3072": 3072, "rsa1024": 1024, "rsa4096": 4096}
    if kind not in sizes:
        raise ValueError(f"unknown key kind {kind!r}")
    bits = sizes[kind]
    cached = _RSA_CACHE.get((bits, role))
    if cached is None:
        cached = _RSA_CACHE[(bits, role)] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return cached


def _name(common_name: str, country: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, country)] if country else []
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _default_start() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def _sign(builder: x509.CertificateBuilder, key) -> x509.Certificate:
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm)


def _self_signed(name: x509.Name, key, *, not_before: datetime, not_after: datetime, ca: bool,
                 key_usage: dict, eku: list | None = None) -> x509.Certificate:
    public = key.public_key()
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(_key_usage(**key_usage), critical=True))
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return _sign(builder, key)


def _key_usage(digital_signature=False, key_cert_sign=False, crl_sign=False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign,
                         crl_sign=crl_sign, encipher_only=False, decipher_only=False)


def make_anchor(name: str = "DHO Trust Anchor", *, key: str = "ec") -> Party:
    """The network operator's self-signed trust anchor (valid 10 years)."""
    k = new_key(key, "anchor")
    start = _default_start()
    cert = _self_signed(_name(name), k, not_before=start, not_after=start + timedelta(days=3650), ca=False,
                        key_usage={"digital_signature": True})
    return Party(k, cert)


def make_sca(country: str, *, key: str = "ec", years: int = 4, not_before: datetime | None = None,
             days: int | None = None) -> Party:
    """A country's self-signed signing certificate authority (CSCA), valid ``years`` x 365 days
    (or exactly ``days`` days when given)."""
    k = new_key(key, "sca")
    start = not_before or _default_start() - timedelta(days=1)
    cert = _self_signed(_name(f"DHO Test SCA {country}", country), k, not_before=start,
                        not_after=start + timedelta(days=365 * years if days is None else days), ca=True,
                        key_usage={"key_cert_sign": True, "crl_sign": True})
    return Party(k, cert)


def make_up(country: str, *, key: str = "ec", days: int = 365) -> Party:
    """A country's self-signed upload certificate (it signs the CMS that carries a new DSC)."""
    k = new_key(key, "up")
    start = _default_start()
    cert = _self_signed(_name(f"DHO Test UP {country}", country), k, not_before=start,
                        not_after=start + timedelta(days=days), ca=False, key_usage={"digital_signature": True})
    return Party(k, cert)


def make_tls(country: str, *, key: str = "ec", days: int = 365) -> Party:
    """A country's self-signed TLS client certificate (extended key usage clientAuth)."""
    k = new_key(key, "tls")
    start = _default_start()
    cert = _self_signed(_name(f"DHO Test TLS {country}", country), k, not_before=start,
                        not_after=start + timedelta(days=days), ca=False, key_usage={"digital_signature": True},
                        eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return Party(k, cert)


def make_dsc(sca: Party, country: str | None = None, *, key: str = "ec", days: int = 365,
             not_before: datetime | None = None, usages: str | None = None, include_aki: bool = True,
             aki: bytes | None = None, extra_eku: list[x509.ObjectIdentifier] | None = None,
             digital_signature: bool = True, issuer: x509.Name | None = None) -> Party:
    """A document signer issued by ``sca``. Subject C = ``country`` (default: the SCA's country).

    ``usages`` None means no extended key usage (all certificate types); otherwise a subset of "tvr"
    adding the DCC usage OIDs. ``aki``, ``extra_eku``, ``digital_signature`` and ``issuer`` exist to
    build the faulty certificates the checks must refuse."""
    country = country or sca.country or "XX"
    k = new_key(key, "dsc")
    start = not_before or max(_default_start(), sca.cert.not_valid_before_utc)
    public = k.public_key()
    builder = (x509.CertificateBuilder().subject_name(_name(f"DHO Test DSC {country}", country))
               .issuer_name(issuer or sca.cert.subject).public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + timedelta(days=days))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(_key_usage(digital_signature=digital_signature), critical=True))
    if include_aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(aki if aki is not None else sca.ski, None, None), critical=False)
    eku = [_USAGE_OID_FOR[u] for u in usages] if usages else []
    eku += list(extra_eku or [])
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return Party(k, _sign(builder, sca.key))

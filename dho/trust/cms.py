"""CMS (PKCS #7) SignedData as the trust network uses it: a participant uploads a document signer
certificate as the content of a CMS message signed with its upload (UP) certificate.

:func:`sign_cms` builds such a message with ``cryptography``. :func:`verify_cms` reads one with
``asn1crypto`` and checks it by hand, because the signer certificate must be the one embedded in the
message (it is then matched against the registered UP certificates by the caller) rather than a
certificate store. Whatever the input, :func:`verify_cms` either returns the content and its signer or
raises :class:`~dho.trust.pki.PkiError` with a ``PKI_CMS_*`` code."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms as asn1cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from dho.trust.outcome import define
from dho.trust.pki import PkiError

MAX_CMS_BYTES = 256 * 1024  # a DSC upload is a few kilobytes

_U = "upload"
define("PKI_CMS_MALFORMED", _U, "The signed message (CMS) is malformed", "Le message signé (CMS) est mal formé")
define("PKI_CMS_TOO_LARGE", _U, "The signed message (CMS) is too large", "Le message signé (CMS) est trop volumineux")
define("PKI_CMS_NOT_SIGNED_DATA", _U, "The message is not CMS signed data",
       "Le message n’est pas une donnée signée CMS")
define("PKI_CMS_SIGNERS", _U, "The signed message must have exactly one signer",
       "Le message signé doit avoir exactement un signataire")
define("PKI_CMS_NO_CONTENT", _U, "The signed message carries no content",
       "Le message signé ne contient aucun contenu")
define("PKI_CMS_CONTENT_MISMATCH", _U, "The detached content differs from the content in the message",
       "Le contenu détaché diffère du contenu du message")
define("PKI_CMS_NO_SIGNER_CERT", _U, "The signer's certificate is not in the signed message",
       "Le certificat du signataire ne figure pas dans le message signé")
define("PKI_CMS_NO_SIGNED_ATTRS", _U, "The signed message has no signed attributes",
       "Le message signé n’a pas d’attributs signés")
define("PKI_CMS_DIGEST", _U, "The content does not match the signed digest",
       "Le contenu ne correspond pas à l’empreinte signée")
define("PKI_CMS_ALGORITHM", _U, "Unsupported algorithm in the signed message",
       "Algorithme non pris en charge dans le message signé")
define("PKI_CMS_SIGNATURE", _U, "The signature of the signed message is not valid",
       "La signature du message signé n’est pas valide")

_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


@dataclass
class SignedContent:
    """What a valid CMS message says: the content and the certificate that signed it."""

    content: bytes
    signer: x509.Certificate
    signing_time: datetime | None = None


def sign_cms(content: bytes, cert: x509.Certificate, key, *, detached: bool = False, rsa_pss: bool = False) -> bytes:
    """DER CMS SignedData over ``content``: SHA-256, signed attributes, the signer certificate embedded.
    ECDSA keys sign ECDSA; RSA keys sign PKCS #1 v1.5, or RSA-PSS when ``rsa_pss``."""
    options = [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCapabilities]
    if detached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    pad = None
    if rsa_pss and isinstance(key, rsa.RSAPrivateKey):
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
    builder = pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(cert, key, hashes.SHA256(), rsa_padding=pad)
    return builder.sign(serialization.Encoding.DER, options)


def to_der(data: bytes | str, max_bytes: int = MAX_CMS_BYTES) -> bytes:
    """DER bytes from DER, base64 or PEM input, refusing oversized input before decoding it
    (PkiError PKI_CMS_MALFORMED / PKI_CMS_TOO_LARGE). Does not parse the CMS."""
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PkiError("PKI_CMS_MALFORMED", f"expected bytes or text, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes * 4 // 3 + 256:  # base64 is 4/3 of the DER size, plus PEM lines
        raise PkiError("PKI_CMS_TOO_LARGE", f"{len(data)} bytes")
    if data[:1] == b"\x30":  # a DER SEQUENCE; base64 of one starts with "M", never "0"
        der = data
    else:
        text = data.strip()
        if text.startswith(b"-----BEGIN"):
            text = b"".join(ln for ln in text.splitlines() if not ln.startswith(b"-----"))
        if not text:
            raise PkiError("PKI_CMS_MALFORMED", "empty input")
        try:
            der = base64.b64decode(b"".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PkiError("PKI_CMS_MALFORMED", "neither DER nor base64") from exc
    if len(der) > max_bytes:
        raise PkiError("PKI_CMS_TOO_LARGE", f"{len(der)} bytes")
    return der


_to_der = to_der  # the earlier private name, still used by callers


def _der_set(contents: bytes) -> bytes:
    """Re-tag the [0] IMPLICIT signed attributes as the DER SET OF the signature covers."""
    n = len(contents)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return b"\x31" + length + contents


def verify_cms(data: bytes | str, *, detached_content: bytes | None = None,
               max_bytes: int = MAX_CMS_BYTES) -> SignedContent:
    """Check a CMS SignedData message (DER, base64 or PEM) and return its content and signer.

    Checks: SignedData with one signer; the signer certificate embedded (matched by issuer and serial
    number or by subject key identifier); signed attributes present, with a messageDigest equal to the
    digest of the content (embedded or ``detached_content``) and a content type equal to the
    encapsulated one; the signature over the DER SET OF the signed attributes (ECDSA, RSA PKCS #1 v1.5
    or RSA-PSS). Raises PkiError ``PKI_CMS_*``; no other exception escapes."""
    der = to_der(data, max_bytes)
    try:
        return _verify(der, detached_content)
    except PkiError:
        raise
    except Exception as exc:  # asn1crypto parses lazily: any odd byte can surface as any error here
        raise PkiError("PKI_CMS_MALFORMED", f"{type(exc).__name__}: {exc}"[:200]) from exc


def _verify(der: bytes, detached_content: bytes | None) -> SignedContent:
    info = asn1cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise PkiError("PKI_CMS_NOT_SIGNED_DATA", str(info["content_type"].native))
    signed = info["content"]
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise PkiError("PKI_CMS_SIGNERS", f"{len(signers)} signers")
    signer = signers[0]

    encap = signed["encap_content_info"]
    embedded = encap["content"].native if encap["content"].native is not None else None
    if embedded is not None and not isinstance(embedded, bytes):
        raise PkiError("PKI_CMS_MALFORMED", "encapsulated content is not an OCTET STRING")
    if embedded is not None and detached_content is not None and embedded != detached_content:
        raise PkiError("PKI_CMS_CONTENT_MISMATCH")
    content = embedded if embedded is not None else detached_content
    if content is None:
        raise PkiError("PKI_CMS_NO_CONTENT")

    cert = _signer_certificate(signed, signer)

    attrs = signer["signed_attrs"]
    if not attrs.native:
        raise PkiError("PKI_CMS_NO_SIGNED_ATTRS")
    by_type: dict[str, list] = {}
    for attr in attrs:
        by_type.setdefault(attr["type"].native, []).append(attr["values"])
    digests = by_type.get("message_digest", [])
    if len(digests) != 1 or len(digests[0]) != 1:
        raise PkiError("PKI_CMS_NO_SIGNED_ATTRS", "needs exactly one messageDigest")
    types = by_type.get("content_type", [])
    if len(types) != 1 or len(types[0]) != 1 or types[0][0].native != encap["content_type"].native:
        raise PkiError("PKI_CMS_NO_SIGNED_ATTRS", "content type attribute missing or different")

    hash_name = signer["digest_algorithm"]["algorithm"].native
    if hash_name not in _HASHES:
        raise PkiError("PKI_CMS_ALGORITHM", f"digest {hash_name}")
    digest = hashlib.new(hash_name, content).digest()
    if digests[0][0].native != digest:
        raise PkiError("PKI_CMS_DIGEST")

    _check_signature(cert, signer, _der_set(attrs.contents), _HASHES[hash_name]())

    signing_time = None
    times = by_type.get("signing_time", [])
    if len(times) == 1 and len(times[0]) == 1:
        signing_time = times[0][0].native
    return SignedContent(content=content, signer=cert, signing_time=signing_time)


def _signer_certificate(signed, signer) -> x509.Certificate:
    sid = signer["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        candidate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            if (candidate.issuer == sid.chosen["issuer"]
                    and candidate.serial_number == sid.chosen["serial_number"].native):
                return x509.load_der_x509_certificate(candidate.dump())
        elif sid.name == "subject_key_identifier" and candidate.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(candidate.dump())
    raise PkiError("PKI_CMS_NO_SIGNER_CERT")


def _check_signature(cert: x509.Certificate, signer, signed_bytes: bytes, digest_hash) -> None:
    algo = signer["signature_algorithm"]
    kind = algo.signature_algo  # 'ecdsa', 'rsassa_pkcs1v15', 'rsassa_pss', ...
    signature = signer["signature"].native
    public = cert.public_key()
    try:
        if kind == "ecdsa" and isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, signed_bytes, ec.ECDSA(_sig_hash(algo, digest_hash)))
        elif kind == "rsassa_pkcs1v15" and isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, signed_bytes, padding.PKCS1v15(), _sig_hash(algo, digest_hash))
        elif kind == "rsassa_pss" and isinstance(public, rsa.RSAPublicKey):
            params = algo["parameters"]
            pss_hash = _HASHES.get(params["hash_algorithm"]["algorithm"].native)
            mgf = params["mask_gen_algorithm"]
            mgf_hash = _HASHES.get(mgf["parameters"]["algorithm"].native)
            if pss_hash is None or mgf_hash is None or mgf["algorithm"].native != "mgf1":
                raise PkiError("PKI_CMS_ALGORITHM", "RSA-PSS parameters")
            pad = padding.PSS(mgf=padding.MGF1(mgf_hash()), salt_length=params["salt_length"].native)
            public.verify(signature, signed_bytes, pad, pss_hash())
        else:
            raise PkiError("PKI_CMS_ALGORITHM", f"{algo['algorithm'].native} with {type(public).__name__}")
    except InvalidSignature as exc:
        raise PkiError("PKI_CMS_SIGNATURE") from exc


def _sig_hash(algo, default):
    """The hash named by a combined OID (sha256_ecdsa...) or, for a bare 'ecdsa'/'rsa' OID, the digest
    algorithm of the signer info."""
    try:
        name = algo.hash_algo
    except ValueError:
        return default
    cls = _HASHES.get(name)
    if cls is None:
        raise PkiError("PKI_CMS_ALGORITHM", f"signature hash {name}")
    return cls()

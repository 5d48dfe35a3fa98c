"""COSE_Sign1 (RFC 9052) as HCERT uses it: strict CBOR decoding, the signature structure, and signing and
verifying with ES256 / ES384 (raw r||s signatures) and PS256 / PS384 (RSA-PSS, salt = hash length)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ES256, ES384, ES512, PS256, PS384, PS512 = -7, -35, -36, -37, -38, -39
ALG_NAMES = {ES256: "ES256", ES384: "ES384", ES512: "ES512", PS256: "PS256", PS384: "PS384", PS512: "PS512"}
# algorithm -> (key family, curve name or minimum RSA bits, hash, signature length for EC)
_EC = {ES256: ("secp256r1", hashes.SHA256, 32), ES384: ("secp384r1", hashes.SHA384, 48),
       ES512: ("secp521r1", hashes.SHA512, 66)}
_PS = {PS256: hashes.SHA256, PS384: hashes.SHA384, PS512: hashes.SHA512}
MIN_RSA_BITS = 2048
CURVE_ORDER = {"secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551}

from dho.trust.fastpath import fast as _fast  # noqa: E402 (None when the compiled module is absent)

HEADER_ALG, HEADER_KID = 1, 4
TAG_SIGN1, TAG_CWT = 18, 61
MAX_DEPTH = 16


class CborError(ValueError):
    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind  # malformed, indefinite, depth, duplicate, trailing, tag, truncated


def _no_tags(decoder, tag):
    raise CborError("tag", f"CBOR tag {tag.tag} is not allowed here")


def _refuse_semantic(value, immutable):  # built-in semantic tags (bignums, regexes, shared references ...)
    raise CborError("tag", "a CBOR semantic tag is not allowed here")


def _plain_item(value, immutable):
    """Tags 0 (date-time text) and 1 (epoch seconds) appear in real payloads; keep the plain value."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise CborError("tag", "tag 0 or 1 on a value that is not text or a number")
    return value


_SEMANTIC = dict.fromkeys((2, 3, 4, 5, 21, 22, 23, 24, 25, 28, 29, 30, 35, 36, 37, 100, 256, 258, 260, 261,
                           1004, 55799), _refuse_semantic) | {0: _plain_item, 1: _plain_item}


def loads_strict(data: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one CBOR item: definite lengths only, no duplicate map keys, no tags, bounded nesting,
    nothing after the item. The compiled fast path answers the common case; anything it is not sure of
    comes here, to cbor2's decoder, which decides."""
    if _fast is not None and type(data) is bytes:
        value = _fast.cbor_loads(data, max_depth)
        if value is not _fast.MISS:
            return value
    return loads_strict_pure(data, max_depth=max_depth)


def loads_strict_pure(data: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The reference decoder (cbor2): it decides every input and names the error."""
    buf = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(buf, tag_hook=_no_tags, semantic_decoders=_SEMANTIC, max_depth=max_depth,
                                  allow_indefinite=False, allow_duplicate_keys=False).decode()
    except CborError:
        raise
    except cbor2.CBORDecodeEOF as exc:
        raise CborError("truncated", f"CBOR ends early: {exc}") from None
    except (cbor2.CBORDecodeError, ValueError, OverflowError, MemoryError, RecursionError, TypeError) as exc:
        text = str(exc)
        lower = text.lower()
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, CborError):
            raise CborError(cause.kind, str(cause)) from None
        if "indefinite" in lower:
            kind = "indefinite"
        elif "depth" in lower:
            kind = "depth"
        elif "duplicate" in lower:
            kind = "duplicate"
        elif "premature end" in lower or "expected to read" in lower:
            kind = "truncated"
        else:
            kind = "malformed"
        raise CborError(kind, text[:200]) from None
    if buf.tell() != len(data):
        raise CborError("trailing", f"{len(data) - buf.tell()} bytes after the CBOR item")
    return value


@dataclass
class Sign1:
    protected_bytes: bytes
    protected: dict
    unprotected: dict
    payload: bytes
    signature: bytes
    tags: tuple[int, ...] = ()

    @property
    def alg(self) -> Any:
        return self.protected.get(HEADER_ALG, self.unprotected.get(HEADER_ALG))

    def kid(self) -> tuple[Any, str]:
        """The kid and where it came from; the protected header wins."""
        if HEADER_KID in self.protected:
            return self.protected[HEADER_KID], "protected"
        if HEADER_KID in self.unprotected:
            return self.unprotected[HEADER_KID], "unprotected"
        return None, ""

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected_bytes, self.payload)


def _bstr_head(n: int) -> bytes:
    if n < 24:
        return bytes((0x40 + n,))
    if n < 256:
        return bytes((0x58, n))
    if n < 65536:
        return b"\x59" + n.to_bytes(2, "big")
    return b"\x5a" + n.to_bytes(4, "big")


def sig_structure(protected_bytes: bytes, payload: bytes) -> bytes:
    """CBOR of ["Signature1", protected, external_aad = h'', payload], written directly."""
    return (b"\x84\x6aSignature1" + _bstr_head(len(protected_bytes)) + protected_bytes + b"\x40"
            + _bstr_head(len(payload)) + payload)


def key_matches(alg: int, public_key) -> str | None:
    """None when the key can verify this algorithm, else why not ("mismatch" or "small")."""
    if alg in _EC:
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != _EC[alg][0]:
            return "mismatch"
        return None
    if alg in _PS:
        if not isinstance(public_key, rsa.RSAPublicKey):
            return "mismatch"
        return "small" if public_key.key_size < MIN_RSA_BITS else None
    return "mismatch"


_EC_KIND = {ES256: "EC-P256", ES384: "EC-P384", ES512: "EC-P521"}


def kind_matches(alg: int, kind: str) -> str | None:
    """:func:`key_matches` for a key already described by ``keys.key_kind`` (cheaper per verification)."""
    if alg in _EC_KIND:
        return None if kind == _EC_KIND[alg] else "mismatch"
    if alg in _PS:
        if not kind.startswith("RSA-"):
            return "mismatch"
        return "small" if int(kind[4:]) < MIN_RSA_BITS else None
    return "mismatch"


def signature_shape(alg: int, signature: bytes) -> str | None:
    """None when the signature has the length the algorithm needs; ECDSA must be raw r||s, not DER."""
    if alg in _EC:
        size = _EC[alg][2]
        if len(signature) != 2 * size:
            der = signature[:1] == b"\x30"
            return f"{'DER-encoded' if der else 'wrong-length'} ECDSA signature of {len(signature)} bytes; " \
                   f"COSE needs r||s of {2 * size}"
    return None


def is_high_s(alg: int, signature: bytes) -> bool:
    if alg != ES256 or len(signature) != 64:
        return False
    return int.from_bytes(signature[32:], "big") > CURVE_ORDER["secp256r1"] // 2


_ECDSA = {alg: ec.ECDSA(spec[1]()) for alg, spec in _EC.items()}  # made once: they are immutable


def verify_signature(alg: int, public_key, to_be_signed: bytes, signature: bytes) -> bool:
    try:
        if alg in _EC:
            size = _EC[alg][2]
            if _fast is not None and type(signature) is bytes and len(signature) == 2 * size:
                der = _fast.der_signature(signature)
            else:
                der = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                           int.from_bytes(signature[size:], "big"))
            public_key.verify(der, to_be_signed, _ECDSA[alg])
            return True
        if alg in _PS:
            h = _PS[alg]
            public_key.verify(signature, to_be_signed,
                              padding.PSS(mgf=padding.MGF1(h()), salt_length=h.digest_size), h())
            return True
    except (InvalidSignature, ValueError, TypeError):
        return False
    return False


def sign(alg: int, private_key, to_be_signed: bytes) -> bytes:
    if alg in _EC:
        size = _EC[alg][2]
        r, s = decode_dss_signature(private_key.sign(to_be_signed, ec.ECDSA(_EC[alg][1]())))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg in _PS:
        h = _PS[alg]
        return private_key.sign(to_be_signed, padding.PSS(mgf=padding.MGF1(h()), salt_length=h.digest_size), h())
    raise ValueError(f"unsupported algorithm {alg}")


def alg_for_key(private_or_public_key) -> int:
    if isinstance(private_or_public_key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return {"secp256r1": ES256, "secp384r1": ES384, "secp521r1": ES512}[private_or_public_key.curve.name]
    if isinstance(private_or_public_key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return PS256
    raise ValueError("only EC and RSA keys can sign HCERT")


def encode_sign1(payload: bytes, private_key, kid: bytes, *, alg: int | None = None, tag: bool = True) -> bytes:
    alg = alg if alg is not None else alg_for_key(private_key)
    protected = cbor2.dumps({HEADER_ALG: alg, HEADER_KID: kid})
    signature = sign(alg, private_key, sig_structure(protected, payload))
    body = [protected, {}, payload, signature]
    return cbor2.dumps(cbor2.CBORTag(TAG_SIGN1, body) if tag else body)

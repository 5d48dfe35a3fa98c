"""Trust lists as DID documents: build and sign ours, read other networks' lists.

A trust list is a DID document whose ``verificationMethod`` entries are JsonWebKey2020 keys (one per
certificate, with the certificate chain in ``x5c``), tagged with the trust domain, the participant and
the key usage. Lists by reference (``trustlist-ref``) carry DID URLs instead of keys.

Our proof is a JsonWebSignature2020 with a detached JWS using the unencoded payload option (RFC 7797,
``b64: false``, the form the WHO GDHCN lists use). The payload is the canonical JSON of the document
with its ``proof`` reduced to the proof options (everything but ``jws``): keys sorted, no whitespace,
UTF-8, no floats. Signing the proof options too means ``created``, ``nonce`` and ``verificationMethod``
cannot be changed without breaking the signature. The signature is ES256 (raw r||s, base64url); ES384
and PS256 are accepted for other key types. A later version may switch to JCS or RDF canonicalisation.

Reading tolerates the quirks of lists in the wild (see ``docs/trust-model.md``) and reports each as a
warning; it never fetches anything."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from dho.trust.keys import SignerKey, kid_of
from dho.trust.outcome import define
from dho.trust.pki import PkiError

CONTEXT = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"]
MAX_KEYS = 10_000
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
MAX_CERT_CHARS = 16 * 1024
MAX_CHAIN = 10
MAX_RSA_BITS = 8192
_EXAMPLES = 5  # kids quoted per warning

_T = "trustlist"
define("PKI_DID_MALFORMED", _T, "The DID trust list is malformed", "La liste de confiance DID est mal formée")
define("PKI_DID_TOO_LARGE", _T, "The DID trust list is too large", "La liste de confiance DID est trop volumineuse")
define("PKI_DID_TOO_MANY_KEYS", _T, "The DID trust list has too many keys",
       "La liste de confiance DID contient trop de clés")

_CURVES: dict[str, tuple[ec.EllipticCurve, int, str]] = {
    "P-256": (ec.SECP256R1(), 32, "ES256"),
    "P-384": (ec.SECP384R1(), 48, "ES384"),
    "P-521": (ec.SECP521R1(), 66, "ES512"),
}
_CURVE_BY_SIZE = {size: name for name, (_c, size, _a) in _CURVES.items()}
_CURVE_BY_OBJ = {c.name: name for name, (c, _s, _a) in _CURVES.items()}
_ALG_HASH = {"ES256": hashes.SHA256, "ES384": hashes.SHA384, "ES512": hashes.SHA512, "PS256": hashes.SHA256}
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


# --- encodings -----------------------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (padding tolerated). Raises ValueError."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    text = text.rstrip("=")
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_kid(text: str) -> bytes:
    """A kid written in standard base64 (the EU DCC habit) or base64url."""
    if not isinstance(text, str) or not text or len(text) > 256:
        raise ValueError("kid must be a short non-empty string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b64url_decode(text)


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN/Infinity. Floats are refused (trust lists have none)."""
    def check(value: Any) -> None:
        if isinstance(value, float):
            raise ValueError("floats are not allowed in a signed DID document")
        if isinstance(value, dict):
            for v in value.values():
                check(v)
        elif isinstance(value, list):
            for v in value:
                check(v)
    check(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def public_jwk(public_key) -> dict[str, str]:
    """The public JWK members of an EC (P-256/384/521) or RSA key."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        crv = _CURVE_BY_OBJ.get(public_key.curve.name)
        if crv is None:
            raise ValueError(f"unsupported curve {public_key.curve.name}")
        size = _CURVES[crv][1]
        nums = public_key.public_numbers()
        return {"kty": "EC", "crv": crv, "x": b64url(nums.x.to_bytes(size, "big")),
                "y": b64url(nums.y.to_bytes(size, "big"))}
    if isinstance(public_key, rsa.RSAPublicKey):
        nums = public_key.public_numbers()
        return {"kty": "RSA", "n": b64url(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
                "e": b64url(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big"))}
    raise ValueError(f"unsupported key type {type(public_key).__name__}")


# --- building and signing ------------------------------------------------------------------------------

@dataclass
class DidKey:
    """One key to publish: its kid, public key, certificate chain (leaf first) and tags."""

    kid: bytes
    public_key: object
    certificate: x509.Certificate | None = None
    chain: list[x509.Certificate] = field(default_factory=list)  # issuers after the leaf
    domain: str | None = None  # DCC, DDCC, IPS ...
    participant: str | None = None  # XA, XXA ...
    usage: str | None = None  # SCA, DSC ...

    @classmethod
    def from_certificate(cls, cert: x509.Certificate, *, chain: list[x509.Certificate] | None = None,
                         domain: str | None = None, participant: str | None = None,
                         usage: str | None = None) -> DidKey:
        der = cert.public_bytes(serialization.Encoding.DER)
        return cls(kid=kid_of(der), public_key=cert.public_key(), certificate=cert, chain=list(chain or []),
                   domain=domain, participant=participant, usage=usage)


def verification_method_id(did_id: str, kid: bytes) -> str:
    return f"{did_id}#{b64url(kid)}"


def build_did_document(did_id: str, keys: list[DidKey], *, controller: str | None = None) -> dict:
    """An unsigned DID trust list with one JsonWebKey2020 entry per key."""
    controller = controller or did_id
    methods = []
    for k in keys:
        jwk = {**public_jwk(k.public_key), "kid": base64.b64encode(k.kid).decode("ascii")}
        if k.certificate is not None:
            jwk["x5c"] = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
                          for c in [k.certificate, *k.chain]]
        entry: dict[str, Any] = {"id": verification_method_id(did_id, k.kid), "type": "JsonWebKey2020",
                                 "controller": controller, "publicKeyJwk": jwk}
        for name, value in (("domain", k.domain), ("participant", k.participant), ("keyusage", k.usage)):
            if value:
                entry[name] = value
        methods.append(entry)
    return {"@context": list(CONTEXT), "id": did_id, "controller": controller, "verificationMethod": methods}


def _signing_input(header_b64: str, header: dict, doc: dict, proof: dict) -> bytes:
    options = {k: v for k, v in proof.items() if k != "jws"}
    body = {k: v for k, v in doc.items() if k != "proof"}
    body["proof"] = options
    payload = canonical_json(body)
    if header.get("b64", True) is False:
        return header_b64.encode("ascii") + b"." + payload
    return header_b64.encode("ascii") + b"." + b64url(payload).encode("ascii")


def _alg_for(key) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        crv = _CURVE_BY_OBJ.get(key.curve.name)
        if crv is None:
            raise ValueError(f"unsupported curve {key.curve.name}")
        return _CURVES[crv][2]
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "PS256"
    raise ValueError(f"unsupported key type {type(key).__name__}")


def sign_did_document(doc: dict, key, verification_method: str, *, created: datetime | None = None,
                      nonce: str | None = None) -> dict:
    """A copy of ``doc`` with a JsonWebSignature2020 ``proof`` (replacing any earlier one)."""
    alg = _alg_for(key)
    header = {"alg": alg, "b64": False, "crit": ["b64"]}
    header_b64 = b64url(canonical_json(header))
    created = (created or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    proof = {"type": "JsonWebSignature2020", "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "nonce": nonce or secrets.token_urlsafe(24), "proofPurpose": "assertionMethod",
             "verificationMethod": verification_method}
    data = _signing_input(header_b64, header, doc, proof)
    if alg == "PS256":
        sig = key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    else:
        der = key.sign(data, ec.ECDSA(_ALG_HASH[alg]()))
        r, s = decode_dss_signature(der)
        size = _CURVES[_CURVE_BY_OBJ[key.curve.name]][1]
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    out = {k: v for k, v in doc.items() if k != "proof"}
    out["proof"] = {**proof, "jws": f"{header_b64}..{b64url(sig)}"}
    return out


def _parse_jws(doc: dict) -> tuple[str, dict, bytes, dict]:
    """(header_b64, header, signature, proof) of the document's detached JWS. Raises ValueError."""
    proof = doc.get("proof")
    if not isinstance(proof, dict) or not isinstance(proof.get("jws"), str):
        raise ValueError("no proof with a jws")
    parts = proof["jws"].split(".")
    if len(parts) != 3 or parts[1] != "":
        raise ValueError("the jws is not a detached compact JWS (header..signature)")
    header = json.loads(b64url_decode(parts[0]))
    if not isinstance(header, dict):
        raise ValueError("the JWS header is not an object")
    crit = header.get("crit", [])
    if not isinstance(crit, list) or any(c != "b64" for c in crit):
        raise ValueError(f"unsupported critical JWS header {crit!r}")
    return parts[0], header, b64url_decode(parts[2]), proof


def _signature_is_der(sig: bytes) -> bool:
    try:
        decode_dss_signature(sig)
    except ValueError:
        return False
    return True


def verify_did_document(doc: dict, public_key, *, allow_der: bool = False) -> bool:
    """True when the proof is a valid signature of ``doc`` by ``public_key``. ``allow_der`` accepts an
    ECDSA signature in DER instead of raw r||s (as some external lists have). Never raises."""
    try:
        header_b64, header, sig, proof = _parse_jws(doc)
        alg = header.get("alg")
        if alg != _alg_for(public_key):
            return False
        data = _signing_input(header_b64, header, doc, proof)
        if alg == "PS256":
            public_key.verify(sig, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                              hashes.SHA256())
            return True
        size = _CURVES[_CURVE_BY_OBJ[public_key.curve.name]][1]
        candidates = []
        if len(sig) == 2 * size:
            r, s = int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
            candidates.append(encode_dss_signature(r, s))
        if allow_der and _signature_is_der(sig):
            candidates.append(sig)
        for der in candidates:
            try:
                public_key.verify(der, data, ec.ECDSA(_ALG_HASH[alg]()))
            except InvalidSignature:
                continue
            return True
    except (InvalidSignature, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return False
    return False


# --- reading -------------------------------------------------------------------------------------------

@dataclass
class DidTrustList:
    """What a DID trust list holds. ``keys`` carry ``extra`` = {id, domain, participant, usage,
    kid_text, chain}; ``references`` are DID URLs of further lists (not fetched)."""

    keys: list[SignerKey] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    did: str | None = None
    controller: str | None = None
    proof_valid: bool | None = None  # None: not checked (no key given)

    def select(self, *, domain: str | None = None, usages: tuple[str, ...] = ("DSC", "DESC")) -> list[SignerKey]:
        """Keys of one usage group (document signers by default), optionally of one trust domain."""
        return [k for k in self.keys if k.extra.get("usage") in usages
                and (domain is None or k.extra.get("domain") == domain)]


class _Quirks:
    """Collects repeated oddities and reports each once, with a count and a few kids."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, None]] = defaultdict(dict)  # quirk -> kids, in order, once each

    def add(self, what: str, kid: str) -> None:
        self.seen[what][kid] = None

    def messages(self) -> list[str]:
        out = []
        for what, labels in self.seen.items():
            kids = list(labels)
            sample = ", ".join(kids[:_EXAMPLES]) + (", ..." if len(kids) > _EXAMPLES else "")
            out.append(f"{what}: {len(kids)} key(s) ({sample})")
        return out


def _tag(value: Any) -> str | None:
    """A domain/participant/usage tag: a plain string, or {"code": "#DCC"} as the GDHCN lists write it."""
    if isinstance(value, dict):
        value = value.get("code")
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    return value.strip().lstrip("#").upper()


def _coordinate(jwk: dict, name: str, size: int | None, label: str, quirks: _Quirks) -> bytes:
    raw = b64url_decode(jwk.get(name))
    if len(raw) in (33, 49, 67) and raw[0] == 0 and (size is None or len(raw) == size + 1):
        quirks.add("EC coordinate with a leading zero byte (stripped)", label)
        raw = raw[1:]
    return raw


def _ec_key(jwk: dict, label: str, quirks: _Quirks):
    crv = jwk.get("crv")
    size = _CURVES[crv][1] if crv in _CURVES else None
    x = _coordinate(jwk, "x", size, label, quirks)
    y = _coordinate(jwk, "y", size, label, quirks)
    if crv not in _CURVES:
        if crv is not None and "UNKNOWN" not in str(crv).upper():
            raise ValueError(f"unsupported curve {crv!r}")
        inferred = _CURVE_BY_SIZE.get(len(x)) if len(x) == len(y) else None
        if inferred is None:
            raise ValueError(f"unknown curve {crv!r} and coordinates of {len(x)}/{len(y)} bytes")
        quirks.add(f"curve {crv!r} inferred as {inferred} from the coordinate length", label)
        crv = inferred
    curve, size, _alg = _CURVES[crv]
    if len(x) != size or len(y) != size:
        raise ValueError(f"{crv} coordinates must be {size} bytes, got {len(x)}/{len(y)}")
    return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve).public_key()


def _rsa_key(jwk: dict, label: str, quirks: _Quirks):
    n = b64url_decode(jwk.get("n"))
    e = b64url_decode(jwk.get("e"))
    if n[:1] == b"\x00":
        quirks.add("RSA modulus with a leading zero byte (stripped)", label)
        n = n.lstrip(b"\x00")
    if not n or len(n) * 8 > MAX_RSA_BITS or not e or len(e) > 8:
        raise ValueError("RSA modulus or exponent out of range")
    return rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()


def _same_key(a, b) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        return a.public_bytes(*fmt) == b.public_bytes(*fmt)
    except (ValueError, TypeError, AttributeError):
        return False


def _certificates(x5c: Any) -> list[x509.Certificate]:
    if x5c is None:
        return []
    if not isinstance(x5c, list) or not 0 < len(x5c) <= MAX_CHAIN:
        raise ValueError(f"x5c must be a list of 1 to {MAX_CHAIN} certificates")
    certs = []
    for item in x5c:
        if not isinstance(item, str) or len(item) > MAX_CERT_CHARS:
            raise ValueError("x5c entry is not a base64 string of reasonable size")
        certs.append(x509.load_der_x509_certificate(base64.b64decode("".join(item.split()), validate=True)))
    return certs


def _read_entry(entry: dict, quirks: _Quirks, source: str) -> SignerKey:
    jwk = entry.get("publicKeyJwk")
    if entry.get("type") != "JsonWebKey2020":
        raise ValueError(f"type {entry.get('type')!r} is not JsonWebKey2020")
    if not isinstance(jwk, dict):
        raise ValueError("no publicKeyJwk object")
    vm_id = entry.get("id") if isinstance(entry.get("id"), str) else ""
    kid_text = jwk.get("kid") or (vm_id.split("#", 1)[1] if "#" in vm_id else None)
    kid = decode_kid(kid_text)
    label = str(kid_text)
    kty = jwk.get("kty")
    if kty == "EC":
        public = _ec_key(jwk, label, quirks)
    elif kty == "RSA":
        public = _rsa_key(jwk, label, quirks)
    else:
        raise ValueError(f"unsupported kty {kty!r}")
    try:
        certs = _certificates(jwk.get("x5c"))
    except ValueError as exc:
        quirks.add(f"unreadable x5c ignored ({str(exc)[:80]})", label)
        certs = []
    extra = {"id": vm_id, "domain": _tag(entry.get("domain")), "participant": _tag(entry.get("participant")),
             "usage": _tag(entry.get("keyusage")), "kid_text": kid_text, "chain": certs[1:]}
    if certs:
        cert = certs[0]
        if not _same_key(cert.public_key(), public):
            raise ValueError("the JWK and its x5c certificate hold different keys")
        key = SignerKey.from_certificate(cert, source=source)
        if key.kid != kid:
            quirks.add("kid differs from the certificate's kid (kept as declared)", label)
            extra["certificate_kid"] = key.kid
        key.kid = kid
        if key.country is None:
            key.country = extra["participant"]
    else:
        key = SignerKey(kid=kid, country=extra["participant"], public_key=public, source=source)
    key.extra.update(extra)
    return key


def _load(doc: dict | bytes | str, max_bytes: int) -> dict:
    if isinstance(doc, str | bytes):
        if len(doc) > max_bytes:
            raise PkiError("PKI_DID_TOO_LARGE", f"{len(doc)} bytes")
        try:
            doc = json.loads(doc)
        except (ValueError, RecursionError) as exc:
            raise PkiError("PKI_DID_MALFORMED", f"not JSON: {str(exc)[:100]}") from exc
    if not isinstance(doc, dict):
        raise PkiError("PKI_DID_MALFORMED", "not a JSON object")
    try:
        size = len(json.dumps(doc, ensure_ascii=False, allow_nan=False))
    except (ValueError, TypeError, RecursionError) as exc:
        raise PkiError("PKI_DID_MALFORMED", f"not serialisable: {str(exc)[:100]}") from exc
    if size > max_bytes:
        raise PkiError("PKI_DID_TOO_LARGE", f"{size} bytes")
    return doc


def read_did_trustlist(doc: dict | bytes | str, *, proof_key=None, max_keys: int = MAX_KEYS,
                       max_bytes: int = MAX_DOCUMENT_BYTES) -> DidTrustList:
    """Read a DID trust list (ours or another network's). Keys that cannot be used are skipped with a
    warning; quirks that can be repaired are repaired and reported. ``proof_key``, when given, checks
    the proof (DER signatures accepted) and sets ``proof_valid``. Raises PkiError ``PKI_DID_*`` only when
    the document as a whole is unusable (not an object, too large, too many keys, no verificationMethod)."""
    doc = _load(doc, max_bytes)
    methods = doc.get("verificationMethod")
    if not isinstance(methods, list):
        raise PkiError("PKI_DID_MALFORMED", "verificationMethod is not a list")
    if len(methods) > max_keys:
        raise PkiError("PKI_DID_TOO_MANY_KEYS", f"{len(methods)} entries, at most {max_keys}")
    did = doc.get("id") if isinstance(doc.get("id"), str) else None
    out = DidTrustList(did=did, controller=doc.get("controller") if isinstance(doc.get("controller"), str) else None)
    quirks = _Quirks()
    for index, entry in enumerate(methods):
        if isinstance(entry, str):
            if entry.startswith("did:") and len(entry) <= 2048 and not any(c.isspace() for c in entry):
                out.references.append(entry)
            else:
                out.warnings.append(f"entry {index}: not a DID URL, skipped")
            continue
        if not isinstance(entry, dict):
            out.warnings.append(f"entry {index}: neither a key nor a DID URL, skipped")
            continue
        try:
            out.keys.append(_read_entry(entry, quirks, did or ""))
        except (ValueError, TypeError, KeyError, UnicodeError) as exc:
            out.warnings.append(f"entry {index}: key refused: {str(exc)[:160]}")
    by_kid: dict[bytes, int] = defaultdict(int)
    for key in out.keys:
        by_kid[key.kid] += 1
    for kid, count in by_kid.items():
        if count > 1:
            out.warnings.append(f"kid {base64.b64encode(kid).decode()} appears {count} times (all kept)")
    out.warnings[:0] = quirks.messages()
    _check_proof(doc, out, proof_key)
    return out


def _check_proof(doc: dict, out: DidTrustList, proof_key) -> None:
    try:
        _h, header, sig, _p = _parse_jws(doc)
    except (ValueError, TypeError, RecursionError) as exc:
        out.warnings.append(f"proof: {str(exc)[:160]}")
        if proof_key is not None:
            out.proof_valid = False
        return
    if str(header.get("alg", "")).startswith("ES") and _signature_is_der(sig) and len(sig) not in (64, 96, 132):
        out.warnings.append("proof signature is DER-encoded instead of raw r||s (accepted)")
    if proof_key is not None:
        out.proof_valid = verify_did_document(doc, proof_key, allow_der=True)

"""SMART Health Cards: an offline verifier (numeric QR, chunked QR, compact JWS, ``.smart-health-card``
files) and a small issuer used by tests and demos.

A card is a compact JWS (ES256, P-256) whose payload is raw-DEFLATE-compressed JSON. In a QR code the
JWS is written as ``shc:/`` followed by two digits per character (``ord(c) - 45``); long cards are split
into ``shc:/N/M/`` chunks. The verifier runs the stages below in order and stops at the first failure:

input -> prefix -> numeric -> chunks -> jws -> header -> inflate -> key -> signature -> payload -> revocation

``key`` needs the issuer (``iss``) from the payload, so the payload is inflated and parsed (bounded)
before the signature is checked; nothing from it is trusted or shown as verified until the signature
passes. Every public ``verify_*`` function returns a :class:`~dho.trust.outcome.Verdict` and never
raises on input, however malformed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from dho.trust.outcome import Fail, Failure, Verdict, define

HEALTH_CARD_TYPE = "https://smarthealth.cards#health-card"
DEFAULT_MAX_BYTES = 1024 * 1024  # whole input (all chunks, or the whole file)
DEFAULT_MAX_INFLATED = 1024 * 1024  # decompressed payload
DEFAULT_SKEW = timedelta(minutes=5)  # tolerated clock difference for nbf / exp
MAX_CHUNKS = 99  # the specification has no limit; real cards use a handful
QR_CHUNK_CHARS = 1191  # JWS characters per chunk (fits a version 22 QR code at error level L)
QR_SINGLE_CHARS = 1195  # JWS characters that still fit a single version 22 QR code

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_RID = re.compile(r"[A-Za-z0-9_-]{1,24}")
_CRL_TS = re.compile(r"\d{1,12}")
_CHUNKED = re.compile(r"(\d{1,3})/(\d{1,3})/(.*)", re.DOTALL)
_PAIRS = {f"{n:02d}": chr(n + 45) for n in range(78)}  # the 78 digit pairs a card may use
_MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z; beyond that datetime cannot show it

# --- error codes -------------------------------------------------------------------------------------

define("SHC_INPUT_INVALID", "input", "The input is not text a health card can be read from",
       "L’entrée n’est pas un texte dont on peut lire une carte santé")
define("SHC_TOO_LARGE", "input", "The input is too large", "L’entrée est trop volumineuse")
define("SHC_BAD_PREFIX", "prefix", "Not a SMART Health Card (expected shc:/, a JWS or a .smart-health-card file)",
       "Ce n’est pas une SMART Health Card (attendu\u00a0: shc:/, un JWS ou un fichier .smart-health-card)")
define("SHC_NUMERIC_INVALID", "numeric", "The QR content after shc:/ must be digits only",
       "Le contenu du QR après shc:/ ne doit comporter que des chiffres")
define("SHC_NUMERIC_ODD", "numeric", "The QR digits come in pairs; their count is odd",
       "Les chiffres du QR vont par paires\u00a0; leur nombre est impair")
define("SHC_NUMERIC_RANGE", "numeric", "A digit pair in the QR is above 77",
       "Une paire de chiffres du QR dépasse 77")
define("SHC_CHUNK_HEADER", "chunks", "Malformed chunk header (expected shc:/N/M/ with 1 ≤ N ≤ M)",
       "En-tête de fragment mal formé (attendu\u00a0: shc:/N/M/ avec 1 ≤ N ≤ M)")
define("SHC_CHUNK_MISSING", "chunks", "A QR chunk of the card is missing", "Il manque un fragment QR de la carte")
define("SHC_CHUNK_DUPLICATE", "chunks", "The same QR chunk was given twice",
       "Le même fragment QR a été fourni deux fois")
define("SHC_CHUNK_COUNT_MISMATCH", "chunks", "The QR chunks disagree on the total number of chunks",
       "Les fragments QR ne s’accordent pas sur leur nombre total")
define("SHC_CHUNK_MIXED", "chunks", "Several QR codes were given but they are not chunks of one card",
       "Plusieurs QR ont été fournis, mais ce ne sont pas les fragments d’une même carte")
define("SHC_JWS_MALFORMED", "jws", "Not a compact JWS (three base64url parts separated by dots)",
       "Ce n’est pas un JWS compact (trois parties base64url séparées par des points)")
define("SHC_HEADER_INVALID", "header", "The JWS header is not a valid JSON object",
       "L’en-tête JWS n’est pas un objet JSON valide")
define("SHC_ALG_UNSUPPORTED", "header", "Signature algorithm not allowed (only ES256)",
       "Algorithme de signature non autorisé (seul ES256 l’est)")
define("SHC_ZIP_MISSING", "header", "The JWS header must say zip: DEF (compressed payload)",
       "L’en-tête JWS doit indiquer zip\u00a0: DEF (contenu compressé)")
define("SHC_KID_MISSING", "header", "The JWS header has no key identifier (kid)",
       "L’en-tête JWS n’a pas d’identifiant de clé (kid)")
define("SHC_INFLATE_INVALID", "inflate", "The payload is not valid raw DEFLATE data",
       "Le contenu n’est pas un flux DEFLATE brut valide")
define("SHC_INFLATE_ZLIB_WRAPPED", "inflate", "The payload has a zlib header; SMART Health Cards use raw DEFLATE",
       "Le contenu a un en-tête zlib\u00a0; les SMART Health Cards utilisent DEFLATE brut")
define("SHC_INFLATE_TOO_LARGE", "inflate", "The decompressed payload is too large",
       "Le contenu décompressé est trop volumineux")
define("SHC_PAYLOAD_NOT_JSON", "payload", "The payload is not a JSON object",
       "Le contenu n’est pas un objet JSON")
define("SHC_PAYLOAD_INVALID", "payload", "The payload misses a required field or has a wrong type",
       "Il manque un champ obligatoire au contenu, ou un champ a un type erroné")
define("SHC_NOT_YET_VALID", "payload", "The card is dated in the future (nbf)",
       "La carte est datée dans le futur (nbf)")
define("SHC_EXPIRED", "payload", "The card has expired (exp)", "La carte a expiré (exp)")
define("SHC_TYPE_MISSING", "payload", "The credential is not typed as a health card",
       "L’attestation n’a pas le type carte santé")
define("SHC_BUNDLE_INVALID", "payload", "The credential does not hold a FHIR Bundle",
       "L’attestation ne contient pas de Bundle FHIR")
define("SHC_ISSUER_UNKNOWN", "key", "The issuer is not in the trusted key sets",
       "L’émetteur ne figure pas parmi les jeux de clés de confiance")
define("SHC_KEY_UNKNOWN", "key", "The issuer has no key with this kid", "L’émetteur n’a pas de clé avec ce kid")
define("SHC_KEY_SET_INVALID", "key", "The issuer key set is not a valid JWKS",
       "Le jeu de clés de l’émetteur n’est pas un JWKS valide")
define("SHC_KEY_INVALID", "key", "The issuer key is not a usable ES256 P-256 signing key",
       "La clé de l’émetteur n’est pas une clé de signature ES256 P-256 utilisable")
define("SHC_KEY_KID_MISMATCH", "key", "The key's kid is not its JWK thumbprint",
       "Le kid de la clé n’est pas son empreinte JWK")
define("SHC_KEY_PRIVATE", "key", "The published key includes its private part; it cannot be trusted",
       "La clé publiée contient sa partie privée\u00a0; on ne peut pas s’y fier")
define("SHC_SIGNATURE_FORMAT", "signature", "The signature is not a 64-byte ES256 signature (r||s)",
       "La signature n’est pas une signature ES256 de 64 octets (r||s)")
define("SHC_SIGNATURE_INVALID", "signature", "The signature does not match the card",
       "La signature ne correspond pas à la carte")
define("SHC_REVOKED", "revocation", "The issuer has revoked this card", "L’émetteur a révoqué cette carte")
define("SHC_CRL_INVALID", "revocation", "The revocation list for this key is malformed",
       "La liste de révocation de cette clé est mal formée")
define("SHC_FILE_INVALID", "file", "Not a valid .smart-health-card file",
       "Ce n’est pas un fichier .smart-health-card valide")
define("SHC_INTERNAL", "internal", "Unexpected error while verifying the card",
       "Erreur inattendue pendant la vérification de la carte")


# --- small helpers -----------------------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: only the URL-safe alphabet, canonical trailing bits.
    Raises ValueError otherwise (so one card has exactly one textual form)."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
    if b64url_encode(raw) != text:
        raise ValueError("non-canonical base64url (stray bits at the end)")
    return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def strict_json(text: str | bytes) -> Any:
    """Parse JSON refusing duplicate keys and NaN/Infinity. Raises ValueError (incl. deep nesting)."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")  # the specification says UTF-8; no UTF-16/32 guessing
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise ValueError("not UTF-8") from exc


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# --- keys --------------------------------------------------------------------------------------------


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an EC JWK, base64url: the kid SMART Health Cards require."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def jwk_from_public_key(public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The public JWK an issuer publishes for a P-256 key (kid = thumbprint, use sig, alg ES256)."""
    numbers = public_key.public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64url_encode(numbers.x.to_bytes(32, "big")),
           "y": b64url_encode(numbers.y.to_bytes(32, "big"))}
    return {**jwk, "kid": jwk_thumbprint(jwk), "use": "sig", "alg": "ES256"}


@dataclass
class KeySet:
    """An issuer's key set after checking: usable keys, refused keys with the reason, CRL versions."""

    keys: dict[str, ec.EllipticCurvePublicKey] = field(default_factory=dict)
    rejected: dict[str, Failure] = field(default_factory=dict)
    crl_versions: dict[str, int] = field(default_factory=dict)


def _refuse(code: str, detail: str) -> Failure:
    return Fail(code, detail).failure


def _check_jwk(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey | Failure:
    """The public key of one JWK, or why it is refused."""
    if "d" in jwk:
        # A published private key means anyone can sign cards with it: refuse rather than warn.
        return _refuse("SHC_KEY_PRIVATE", "JWK has 'd'")
    for name, want in (("kty", "EC"), ("crv", "P-256"), ("use", "sig"), ("alg", "ES256")):
        if jwk.get(name) != want:
            return _refuse("SHC_KEY_INVALID", f"{name} must be {want}, got {jwk.get(name)!r}")
    try:
        x = b64url_decode(jwk.get("x") if isinstance(jwk.get("x"), str) else "?")
        y = b64url_decode(jwk.get("y") if isinstance(jwk.get("y"), str) else "?")
    except ValueError:
        return _refuse("SHC_KEY_INVALID", "x and y must be base64url")
    if len(x) != 32 or len(y) != 32:
        return _refuse("SHC_KEY_INVALID", "x and y must be 32 bytes each")
    try:
        key = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                            ec.SECP256R1()).public_key()
    except ValueError:
        return _refuse("SHC_KEY_INVALID", "the point is not on the P-256 curve")
    if jwk.get("kid") != jwk_thumbprint(jwk):
        return _refuse("SHC_KEY_KID_MISMATCH", f"kid {jwk.get('kid')!r}, thumbprint {jwk_thumbprint(jwk)}")
    chain = jwk.get("x5c")
    if chain is not None:
        try:
            leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
            same = leaf.public_key() == key
        except (TypeError, IndexError, KeyError, ValueError, binascii.Error):
            return _refuse("SHC_KEY_INVALID", "x5c is not a list of base64 DER certificates")
        if not same:
            return _refuse("SHC_KEY_INVALID", "the x5c certificate holds a different key")
    return key


def inspect_key_set(jwks: Any) -> KeySet:
    """Check every key of an issuer JWKS (``{"keys": [...]}``). Bad keys are listed in ``rejected`` so
    a card signed with one gets the precise reason. Raises :class:`Fail` (SHC_KEY_SET_INVALID) only
    when the set itself is not a JWKS."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise Fail("SHC_KEY_SET_INVALID", "expected an object with a 'keys' list")
    out = KeySet()
    for jwk in jwks["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            continue  # nothing could ever reference it
        checked = _check_jwk(jwk)
        if isinstance(checked, Failure):
            out.rejected.setdefault(kid, checked)
            continue
        out.keys[kid] = checked
        version = jwk.get("crlVersion")
        if isinstance(version, int) and not isinstance(version, bool) and version > 0:
            out.crl_versions[kid] = version
    return out


def load_key_set(jwks: dict) -> dict[str, ec.EllipticCurvePublicKey]:
    """The usable keys of an issuer JWKS by kid (kty EC, crv P-256, use sig, alg ES256, kid = JWK
    thumbprint, no private ``d``, x5c leaf holding the same key). Refused keys are left out; see
    :func:`inspect_key_set` for the reasons."""
    return inspect_key_set(jwks).keys


# --- numeric QR and chunks ---------------------------------------------------------------------------


def jws_to_numeric(jws: str) -> str:
    """The digits of a JWS in SMART Health Card numeric form (two digits per character)."""
    return "".join(f"{ord(c) - 45:02d}" for c in jws)


def numeric_to_jws(digits: str) -> str:
    """Inverse of :func:`jws_to_numeric`; raises :class:`Fail` with a numeric-stage code."""
    if not digits:
        raise Fail("SHC_NUMERIC_INVALID", "no digits")
    if not (digits.isascii() and digits.isdigit()):
        bad = next(c for c in digits if not ("0" <= c <= "9"))
        raise Fail("SHC_NUMERIC_INVALID", f"character {bad!r}")
    if len(digits) % 2:
        raise Fail("SHC_NUMERIC_ODD", f"{len(digits)} digits")
    try:
        return "".join(map(_PAIRS.__getitem__, map(str.__add__, digits[0::2], digits[1::2])))
    except KeyError as exc:
        at = 2 * [digits[i : i + 2] for i in range(0, len(digits), 2)].index(exc.args[0])
        raise Fail("SHC_NUMERIC_RANGE", f"pair {exc.args[0]} at digit {at + 1}") from None


def jws_to_qr_texts(jws: str, *, single_max: int = QR_SINGLE_CHARS, chunk_max: int = QR_CHUNK_CHARS) -> list[str]:
    """QR contents for a JWS: one ``shc:/...`` when it fits, else balanced ``shc:/N/M/...`` chunks."""
    if len(jws) <= single_max:
        return ["shc:/" + jws_to_numeric(jws)]
    count = -(-len(jws) // chunk_max)
    size = -(-len(jws) // count)
    parts = [jws[i : i + size] for i in range(0, len(jws), size)]
    return [f"shc:/{n}/{len(parts)}/{jws_to_numeric(p)}" for n, p in enumerate(parts, 1)]


def _split_prefix(text: str) -> str:
    if text[:5].lower() != "shc:/":
        raise Fail("SHC_BAD_PREFIX", "expected shc:/")
    return text[5:]


def qr_texts_to_jws(texts: Sequence[str], verdict: Verdict | None = None) -> str:
    """Join one or more ``shc:/`` QR contents (chunks in any order) into the JWS.
    Raises :class:`Fail` with a prefix, numeric or chunks code."""
    bodies = [_split_prefix(t) for t in texts]
    if verdict is not None:
        verdict.stages.append("prefix")
    chunked = [_CHUNKED.fullmatch(b) for b in bodies]
    if not any(chunked):
        if any("/" in b for b in bodies):
            raise Fail("SHC_CHUNK_HEADER", "expected shc:/N/M/ followed by digits")
        if len(bodies) > 1:
            raise Fail("SHC_CHUNK_MIXED", f"{len(bodies)} single QR codes")
        jws = numeric_to_jws(bodies[0])
        if verdict is not None:
            verdict.stages += ["numeric", "chunks"]
        return jws
    if not all(chunked):
        if any("/" in b and m is None for b, m in zip(bodies, chunked, strict=True)):
            raise Fail("SHC_CHUNK_HEADER", "expected shc:/N/M/ followed by digits")
        raise Fail("SHC_CHUNK_MIXED", "a single-code card mixed with chunks")
    parts: dict[int, str] = {}
    total = None
    for match in chunked:
        assert match is not None
        n, m = int(match.group(1)), int(match.group(2))
        if not 1 <= n <= m or m > MAX_CHUNKS:
            raise Fail("SHC_CHUNK_HEADER", f"chunk {n} of {m}")
        if total is not None and m != total:
            raise Fail("SHC_CHUNK_COUNT_MISMATCH", f"{total} and {m}")
        total = m
        if n in parts:
            raise Fail("SHC_CHUNK_DUPLICATE", f"chunk {n}")
        parts[n] = match.group(3)
    assert total is not None
    missing = [n for n in range(1, total + 1) if n not in parts]
    decoded = {n: numeric_to_jws(body) for n, body in parts.items()}
    if verdict is not None:
        verdict.stages.append("numeric")
    if missing:
        raise Fail("SHC_CHUNK_MISSING", f"chunk(s) {', '.join(map(str, missing))} of {total}")
    if verdict is not None:
        verdict.stages.append("chunks")
        verdict.data["chunks"] = total
    return "".join(decoded[n] for n in range(1, total + 1))


# --- issuing (tests, demos) --------------------------------------------------------------------------


def sign_es256(private_key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    """ES256 signature in JWS form: r and s as 32-byte big-endian numbers, concatenated."""
    r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def compact_jws(header: dict[str, Any], payload: bytes, private_key: ec.EllipticCurvePrivateKey) -> str:
    """Sign already-encoded payload bytes under ``header`` (no checks: tests use it for odd cards)."""
    head = b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    body = b64url_encode(payload)
    signature = sign_es256(private_key, f"{head}.{body}".encode("ascii"))
    return f"{head}.{body}.{b64url_encode(signature)}"


def mint_shc(payload: dict[str, Any], private_key: ec.EllipticCurvePrivateKey, kid: str | None = None) -> str:
    """Issue a SMART Health Card JWS: minified JSON, raw DEFLATE, ES256; kid defaults to the JWK
    thumbprint of the key. Use :func:`jws_to_qr_texts` for the QR contents."""
    if kid is None:
        kid = jwk_from_public_key(private_key.public_key())["kid"]
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return compact_jws({"zip": "DEF", "alg": "ES256", "kid": kid}, deflate_raw(raw), private_key)


# --- verification ------------------------------------------------------------------------------------


@dataclass
class _Jws:
    header_b64: str
    payload_b64: str
    header: dict[str, Any]
    payload_raw: bytes
    signature: bytes


def _parse_jws(jws: str, verdict: Verdict) -> _Jws:
    parts = jws.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise Fail("SHC_JWS_MALFORMED", f"{len(parts)} part(s)")
    try:
        header_raw, payload_raw, signature = (b64url_decode(p) for p in parts)
    except ValueError as exc:
        raise Fail("SHC_JWS_MALFORMED", str(exc)) from None
    verdict.stages.append("jws")
    try:
        header = strict_json(header_raw)
    except ValueError as exc:
        raise Fail("SHC_HEADER_INVALID", str(exc)) from None
    if not isinstance(header, dict):
        raise Fail("SHC_HEADER_INVALID", "not an object")
    if header.get("alg") != "ES256":
        raise Fail("SHC_ALG_UNSUPPORTED", f"alg {header.get('alg')!r}")
    if "crit" in header:
        raise Fail("SHC_HEADER_INVALID", "critical header extensions are not supported")
    if header.get("zip") != "DEF":
        raise Fail("SHC_ZIP_MISSING", f"zip {header.get('zip')!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Fail("SHC_KID_MISSING")
    verdict.data["kid"] = kid
    verdict.stages.append("header")
    return _Jws(parts[0], parts[1], header, payload_raw, signature)


def _looks_zlib(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def inflate_raw(data: bytes, limit: int = DEFAULT_MAX_INFLATED) -> bytes:
    """Raw DEFLATE (no zlib or gzip wrapper), at most ``limit`` bytes out, nothing after the stream.
    Raises :class:`Fail` with an inflate-stage code."""
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        if _looks_zlib(data):
            raise Fail("SHC_INFLATE_ZLIB_WRAPPED") from None
        raise Fail("SHC_INFLATE_INVALID", str(exc)) from None
    if len(out) > limit:
        raise Fail("SHC_INFLATE_TOO_LARGE", f"more than {limit} bytes")
    if not inflater.eof:
        raise Fail("SHC_INFLATE_INVALID", "the stream is truncated")
    if inflater.unused_data:
        raise Fail("SHC_INFLATE_INVALID", f"{len(inflater.unused_data)} byte(s) after the stream")
    return out


def _lookup_key(payload: Any, kid: str, key_sets: dict[str, dict], verdict: Verdict) -> tuple[Any, KeySet]:
    if not isinstance(payload, dict):
        raise Fail("SHC_PAYLOAD_NOT_JSON", "not an object")
    iss = payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise Fail("SHC_PAYLOAD_INVALID", "iss must be a non-empty string")
    verdict.data["iss"] = iss
    if iss not in key_sets:
        raise Fail("SHC_ISSUER_UNKNOWN", iss)
    key_set = inspect_key_set(key_sets[iss])
    if kid in key_set.rejected:
        raise Fail(key_set.rejected[kid].code, key_set.rejected[kid].detail)
    if kid not in key_set.keys:
        raise Fail("SHC_KEY_UNKNOWN", kid)
    verdict.stages.append("key")
    return key_set.keys[kid], key_set


def _check_signature(parsed: _Jws, key: ec.EllipticCurvePublicKey, verdict: Verdict) -> None:
    sig = parsed.signature
    if len(sig) != 64:
        detail = f"{len(sig)} bytes"
        if sig[:1] == b"\x30":
            try:
                decode_dss_signature(sig)
                detail = "DER-encoded; JWS needs r||s"
            except ValueError:
                pass
        raise Fail("SHC_SIGNATURE_FORMAT", detail)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, f"{parsed.header_b64}.{parsed.payload_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Fail("SHC_SIGNATURE_INVALID") from None
    verdict.stages.append("signature")


def _check_payload(payload: dict[str, Any], now: datetime, skew: timedelta, verdict: Verdict) -> None:
    nbf = payload.get("nbf")
    if not _is_number(nbf) or not 0 <= nbf <= _MAX_TIMESTAMP:
        raise Fail("SHC_PAYLOAD_INVALID", "nbf must be a finite number of seconds since 1970")
    verdict.data["nbf"] = nbf
    verdict.data["issued"] = _iso(nbf)
    if nbf > (now + skew).timestamp():
        raise Fail("SHC_NOT_YET_VALID", f"nbf {_iso(nbf)}")
    exp = payload.get("exp")
    if exp is not None:
        if not _is_number(exp) or not 0 <= exp <= _MAX_TIMESTAMP:
            raise Fail("SHC_PAYLOAD_INVALID", "exp must be a finite number of seconds since 1970")
        verdict.data["expires"] = _iso(exp)
        if exp < (now - skew).timestamp():
            raise Fail("SHC_EXPIRED", f"exp {_iso(exp)}")
    vc = payload.get("vc")
    if not isinstance(vc, dict):
        raise Fail("SHC_PAYLOAD_INVALID", "vc must be an object")
    types = vc.get("type")
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise Fail("SHC_PAYLOAD_INVALID", "vc.type must be a list of strings")
    verdict.data["types"] = list(types)
    if HEALTH_CARD_TYPE not in types:
        raise Fail("SHC_TYPE_MISSING", f"vc.type lacks {HEALTH_CARD_TYPE}")
    rid = vc.get("rid")
    if rid is not None and (not isinstance(rid, str) or not _RID.fullmatch(rid)):
        raise Fail("SHC_PAYLOAD_INVALID", "vc.rid must be base64url, at most 24 characters")
    subject = vc.get("credentialSubject")
    bundle = subject.get("fhirBundle") if isinstance(subject, dict) else None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise Fail("SHC_BUNDLE_INVALID", "vc.credentialSubject.fhirBundle must be a FHIR Bundle")
    if rid is not None:
        verdict.data["rid"] = rid
    verdict.data["fhir_version"] = subject.get("fhirVersion") if isinstance(subject, dict) else None
    verdict.data["summary"] = summarize_bundle(bundle)
    verdict.data["payload"] = payload
    verdict.stages.append("payload")


def _parse_crl_entry(entry: Any) -> tuple[str, float | None]:
    if not isinstance(entry, str):
        raise Fail("SHC_CRL_INVALID", "rids must be strings")
    rid, dot, stamp = entry.partition(".")
    if not _RID.fullmatch(rid) or (dot and not _CRL_TS.fullmatch(stamp)):
        raise Fail("SHC_CRL_INVALID", f"entry {entry[:40]!r}")
    return rid, float(stamp) if dot else None


def _check_revocation(payload: dict[str, Any], kid: str, key_set: KeySet, crls: dict[str, dict] | None,
                      verdict: Verdict) -> None:
    rid = payload["vc"].get("rid")
    crl = (crls or {}).get(kid)
    version = key_set.crl_versions.get(kid)
    if crl is None:
        if version is not None and rid is not None:
            verdict.warnings.append(f"the issuer publishes revocation list version {version} for this key but "
                                    "none was supplied: revocation not checked")
        verdict.stages.append("revocation")
        return
    if not isinstance(crl, dict) or not isinstance(crl.get("rids"), list):
        raise Fail("SHC_CRL_INVALID", "expected an object with a 'rids' list")
    if crl.get("kid") != kid:
        raise Fail("SHC_CRL_INVALID", f"the list is for kid {crl.get('kid')!r}")
    if crl.get("method") != "rid":
        raise Fail("SHC_CRL_INVALID", f"method {crl.get('method')!r}")
    ctr = crl.get("ctr")
    if not isinstance(ctr, int) or isinstance(ctr, bool) or ctr < 1:
        raise Fail("SHC_CRL_INVALID", "ctr must be a positive integer")
    entries = [_parse_crl_entry(e) for e in crl["rids"]]
    if version is not None and ctr < version:
        verdict.warnings.append(f"revocation list version {ctr} is older than the key's crlVersion {version}")
    if rid is not None:
        nbf = payload["nbf"]
        for revoked, before in entries:
            if revoked == rid and (before is None or nbf < before):
                when = f" (cards issued before {_iso(before)})" if before is not None else ""
                raise Fail("SHC_REVOKED", f"rid {rid}{when}")
    verdict.stages.append("revocation")


def _verify_jws(jws: str, verdict: Verdict, key_sets: dict[str, dict], crls: dict[str, dict] | None,
                now: datetime, skew: timedelta, max_inflated: int) -> None:
    parsed = _parse_jws(jws, verdict)
    raw = inflate_raw(parsed.payload_raw, max_inflated)
    verdict.stages.append("inflate")
    try:
        payload = strict_json(raw)
    except ValueError as exc:
        raise Fail("SHC_PAYLOAD_NOT_JSON", str(exc)) from None
    key, key_set = _lookup_key(payload, parsed.header["kid"], key_sets, verdict)
    _check_signature(parsed, key, verdict)
    _check_payload(payload, now, skew, verdict)
    _check_revocation(payload, parsed.header["kid"], key_set, crls, verdict)


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise Fail("SHC_INPUT_INVALID", "not UTF-8 text") from None
    if not isinstance(value, str):
        raise Fail("SHC_INPUT_INVALID", f"expected text, got {type(value).__name__}")
    return value.removeprefix("\ufeff").strip()


def _input_size(value: Any) -> int:
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(_input_size(v) for v in value)
    return 0


def _guard(run, verdict: Verdict) -> Verdict:
    """Run a pipeline, turning any exception into a failed verdict (the public never-raise promise)."""
    try:
        run()
    except Fail as exc:
        verdict.valid, verdict.failure = False, exc.failure
        return verdict
    except Exception as exc:  # a bug or a case we did not foresee: still an answer, not a crash
        verdict.valid, verdict.failure = False, Failure("SHC_INTERNAL", "internal", type(exc).__name__)
        return verdict
    verdict.valid = True
    return verdict


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def verify_shc(text: str | bytes | Sequence[str | bytes], *, key_sets: dict[str, dict],
               crls: dict[str, dict] | None = None, now: datetime | None = None,
               max_bytes: int = DEFAULT_MAX_BYTES, max_inflated: int = DEFAULT_MAX_INFLATED,
               skew: timedelta = DEFAULT_SKEW) -> Verdict:
    """Verify a SMART Health Card given as one ``shc:/`` QR content, several chunks (a list, or one
    string with one chunk per line, any order), a bare compact JWS, or a ``.smart-health-card`` file.

    ``key_sets`` maps issuer URL (``iss``) to its JWKS; ``crls`` maps kid to that key's revocation list.
    ``max_bytes`` bounds the input (characters for text), ``max_inflated`` the decompressed payload,
    ``skew`` the tolerated clock difference. A file with several cards is valid only if all are; use
    :func:`verify_shc_file` for one verdict per card. Never raises on input."""
    verdict = Verdict(valid=False)
    when = _now(now)

    def run() -> None:
        if _input_size(text) > max_bytes:
            raise Fail("SHC_TOO_LARGE", f"more than {max_bytes}")
        if isinstance(text, list | tuple):
            items = [_as_text(t) for t in text]
        else:
            content = _as_text(text)
            if content.startswith("{"):
                verdict.data["format"] = "file"
                _fold_file(verify_shc_file(content, key_sets=key_sets, crls=crls, now=when, max_bytes=max_bytes,
                                           max_inflated=max_inflated, skew=skew), verdict)
                return
            items = content.split()
        if not items or not all(items):
            raise Fail("SHC_INPUT_INVALID", "empty")
        verdict.stages.append("input")
        if len(items) == 1 and items[0][:5].lower() != "shc:/":
            if items[0].count(".") == 2:
                verdict.data["format"] = "jws"
                _verify_jws(items[0], verdict, key_sets, crls, when, skew, max_inflated)
                return
            raise Fail("SHC_BAD_PREFIX", "expected shc:/, a JWS or a .smart-health-card file")
        verdict.data["format"] = "qr" if len(items) == 1 else "qr-chunks"
        jws = qr_texts_to_jws(items, verdict)
        _verify_jws(jws, verdict, key_sets, crls, when, skew, max_inflated)

    return _guard(run, verdict)


def _fold_file(verdicts: list[Verdict], verdict: Verdict) -> None:
    """Merge the per-card verdicts of a file into ``verdict`` (raises the first failure)."""
    if len(verdicts) == 1:
        one = verdicts[0]
        verdict.stages, verdict.warnings = one.stages, one.warnings
        verdict.data.update(one.data)
        if one.failure:
            raise Fail(one.failure.code, one.failure.detail)
        return
    verdict.stages.append("file")
    verdict.data["count"] = len(verdicts)
    verdict.data["credentials"] = [v.as_dict() for v in verdicts]
    for i, one in enumerate(verdicts, 1):
        verdict.warnings += [f"card {i}: {w}" for w in one.warnings]
        if one.failure:
            failure = replace(one.failure, detail=f"card {i} of {len(verdicts)}: {one.failure.detail}".rstrip(": "))
            raise _FailWith(failure)


class _FailWith(Fail):
    """A Fail carrying an existing Failure (keeps the stage and adds context to the detail)."""

    def __init__(self, failure: Failure):
        super().__init__(failure.code, failure.detail)
        self.failure = failure


def verify_shc_file(data: str | bytes | dict, *, key_sets: dict[str, dict], crls: dict[str, dict] | None = None,
                    now: datetime | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                    max_inflated: int = DEFAULT_MAX_INFLATED, skew: timedelta = DEFAULT_SKEW) -> list[Verdict]:
    """One verdict per card of a ``.smart-health-card`` file (``{"verifiableCredential": [jws, ...]}``).
    A file that cannot be read gives a single failed verdict (SHC_FILE_INVALID). Never raises."""
    holder: list[Verdict] = []
    file_verdict = Verdict(valid=False, data={"format": "file"})

    def run() -> None:
        doc = data
        if not isinstance(doc, dict):
            if _input_size(doc) > max_bytes:
                raise Fail("SHC_TOO_LARGE", f"more than {max_bytes}")
            try:
                doc = strict_json(_as_text(doc))
            except ValueError as exc:
                raise Fail("SHC_FILE_INVALID", f"not JSON: {exc}") from None
        creds = doc.get("verifiableCredential") if isinstance(doc, dict) else None
        if not isinstance(creds, list) or not creds:
            raise Fail("SHC_FILE_INVALID", "expected a non-empty 'verifiableCredential' list")
        if not all(isinstance(c, str) for c in creds):
            raise Fail("SHC_FILE_INVALID", "each credential must be a compact JWS string")
        for jws in creds:
            one = Verdict(valid=False, stages=["file"], data={"format": "file"})
            holder.append(_guard(lambda one=one, jws=jws: _verify_jws(jws.strip(), one, key_sets, crls, _now(now),
                                                                      skew, max_inflated), one))

    _guard(run, file_verdict)
    if file_verdict.failure is not None:
        return [file_verdict]
    return holder


# --- display -----------------------------------------------------------------------------------------


def _dig(obj: Any, *path: str | int) -> Any:
    """``obj[path[0]][path[1]]...`` or None when any step is missing or of the wrong type."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or not -len(obj) <= step < len(obj):
                return None
        elif not isinstance(obj, dict):
            return None
        obj = obj[step] if isinstance(step, int) else obj.get(step)
    return obj


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _person_name(patient: dict[str, Any]) -> str | None:
    name = _dig(patient, "name", 0)
    if not isinstance(name, dict):
        return None
    if isinstance(name.get("text"), str):
        return name["text"]
    given = [g for g in name.get("given") or [] if isinstance(g, str)] if isinstance(name.get("given"), list) else []
    family = _text(name.get("family"))
    return " ".join([*given, *([family] if family else [])]) or None


def _resources(bundle: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for entry in bundle.get("entry") or [] if isinstance(bundle.get("entry"), list) else []:
        resource = _dig(entry, "resource")
        if isinstance(resource, dict):
            yield resource


def summarize_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """A short, display-ready digest of a FHIR Bundle: patient name and birth date, immunizations
    (vaccine codes, date, performer, lot) and how many resources of each other type it holds."""
    summary: dict[str, Any] = {"patient": None, "birth_date": None, "immunizations": [], "resources": {}}
    for resource in _resources(bundle):
        kind = _text(resource.get("resourceType")) or "?"
        summary["resources"][kind] = summary["resources"].get(kind, 0) + 1
        if kind == "Patient" and summary["resources"]["Patient"] == 1:  # the first patient is the holder
            summary["patient"] = _person_name(resource)
            summary["birth_date"] = _text(resource.get("birthDate"))
        elif kind == "Immunization":
            codings = _dig(resource, "vaccineCode", "coding")
            summary["immunizations"].append({
                "vaccine_codes": [{"system": _text(c.get("system")), "code": _text(c.get("code"))}
                                  for c in codings or [] if isinstance(c, dict)] if isinstance(codings, list) else [],
                "date": _text(resource.get("occurrenceDateTime")) or _text(resource.get("occurrenceString")),
                "status": _text(resource.get("status")),
                "performer": _text(_dig(resource, "performer", 0, "actor", "display")),
                "lot": _text(resource.get("lotNumber")),
            })
    return summary

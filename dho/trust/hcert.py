"""HCERT decoding and verification: ``HC1:`` string -> Base45 -> zlib -> COSE_Sign1 -> CWT -> payload.

Every step is a small function that raises :class:`~dho.trust.outcome.Fail` with a stable code; the
:class:`HcertVerifier` runs them in the order of the specification and turns the first failure into a
:class:`~dho.trust.outcome.Verdict`. Nothing a QR code contains can make ``verify`` raise."""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from dho.trust import cose
from dho.trust.base45 import Base45Error, b45decode
from dho.trust.fastpath import fast as _fast
from dho.trust.keys import SignerKey, key_kind
from dho.trust.outcome import Fail, Failure, Verdict, define
from dho.trust.schemas import check_payload

define("HC_INPUT_EMPTY", "input", "The input is empty.", "L’entrée est vide.")
define("HC_INPUT_NOT_TEXT", "input", "The input is not text.", "L’entrée n’est pas du texte.")
define("HC_INPUT_TOO_LARGE", "input", "The input is larger than any health certificate QR code can hold.",
       "L’entrée dépasse ce que peut contenir un code QR de certificat sanitaire.")
define("HC_PREFIX_MISSING", "prefix", "The text does not start with the HC1: prefix.",
       "Le texte ne commence pas par le préfixe HC1:.")
define("HC_PREFIX_UNSUPPORTED", "prefix", "The prefix is not HC1: (upper case).",
       "Le préfixe n’est pas HC1: (en majuscules).")
define("HC_BASE45_CHARACTER", "base45", "The text contains a character that is not Base45.",
       "Le texte contient un caractère qui n’appartient pas à l’alphabet Base45.")
define("HC_BASE45_LENGTH", "base45", "The Base45 text has an impossible length.",
       "Le texte Base45 a une longueur impossible.")
define("HC_BASE45_OVERFLOW", "base45", "A Base45 group decodes to a value beyond its range.",
       "Un groupe Base45 donne une valeur hors limites.")
define("HC_ZLIB_INVALID", "decompress", "The data is not zlib-compressed.",
       "Les données ne sont pas compressées avec zlib.")
define("HC_ZLIB_CORRUPT", "decompress", "The compressed data is damaged: it fails its own integrity checks.",
       "Les données compressées sont endommagées : elles échouent à leurs propres contrôles d’intégrité.")
define("HC_ZLIB_TRUNCATED", "decompress", "The compressed data is cut short.",
       "Les données compressées sont tronquées.")
define("HC_ZLIB_TRAILING_DATA", "decompress", "There is data after the end of the compressed stream.",
       "Des données suivent la fin du flux compressé.")
define("HC_ZLIB_TOO_LARGE", "decompress", "The data decompresses to more than a certificate may hold.",
       "Les données décompressées dépassent la taille permise pour un certificat.")
define("HC_CBOR_MALFORMED", "cbor", "The content is not well-formed CBOR.",
       "Le contenu n’est pas du CBOR bien formé.")
define("HC_CBOR_TRUNCATED", "cbor", "The CBOR data ends early or announces more data than there is.",
       "Les données CBOR s’arrêtent trop tôt ou annoncent plus de données qu’il n’y en a.")
define("HC_CBOR_INDEFINITE", "cbor", "Indefinite-length CBOR items are not allowed.",
       "Les éléments CBOR de longueur indéfinie ne sont pas acceptés.")
define("HC_CBOR_TOO_DEEP", "cbor", "The CBOR data is nested too deeply.",
       "Les données CBOR sont imbriquées trop profondément.")
define("HC_CBOR_DUPLICATE_KEY", "cbor", "A CBOR map has the same key twice.",
       "Une table CBOR contient deux fois la même clé.")
define("HC_CBOR_TRAILING_DATA", "cbor", "There is data after the CBOR item.",
       "Des données suivent l’élément CBOR.")
define("HC_CBOR_TAG", "cbor", "The CBOR data uses a tag that is not allowed here.",
       "Les données CBOR utilisent une étiquette non autorisée ici.")
define("HC_COSE_WRONG_TAG", "cose", "The COSE message has a tag other than COSE_Sign1 (18) or CWT (61).",
       "Le message COSE porte une étiquette autre que COSE_Sign1 (18) ou CWT (61).")
define("HC_COSE_NOT_ARRAY", "cose", "The COSE message is not an array.", "Le message COSE n’est pas un tableau.")
define("HC_COSE_STRUCTURE", "cose",
       "The COSE_Sign1 message must have four parts: protected header, unprotected header, payload, signature.",
       "Le message COSE_Sign1 doit avoir quatre parties : en-tête protégé, en-tête non protégé, "
       "contenu, signature.")
define("HC_COSE_HEADER", "cose", "A COSE header is not a valid map.", "Un en-tête COSE n’est pas une table valide.")
define("HC_KID_MISSING", "kid", "The certificate does not name its signing key (kid).",
       "Le certificat n’indique pas sa clé de signature (kid).")
define("HC_KID_LENGTH", "kid", "The key identifier (kid) is not 8 bytes.",
       "L’identifiant de clé (kid) ne fait pas 8 octets.")
define("HC_KID_UNKNOWN", "kid", "No trusted document-signer key has this key identifier.",
       "Aucune clé de signature de confiance ne porte cet identifiant.")
define("HC_ALG_MISSING", "algorithm", "The certificate does not name its signature algorithm.",
       "Le certificat n’indique pas son algorithme de signature.")
define("HC_ALG_UNSUPPORTED", "algorithm", "The signature algorithm is not supported.",
       "L’algorithme de signature n’est pas pris en charge.")
define("HC_ALG_KEY_MISMATCH", "algorithm", "The signature algorithm does not match the signer’s key.",
       "L’algorithme de signature ne correspond pas à la clé du signataire.")
define("HC_KEY_TOO_SMALL", "algorithm", "The signer’s RSA key is shorter than 2048 bits.",
       "La clé RSA du signataire fait moins de 2048 bits.")
define("HC_SIGNATURE_FORMAT", "signature", "The signature is not in the COSE format (raw r||s of the right length).",
       "La signature n’est pas au format COSE (r||s brut de la bonne longueur).")
define("HC_SIGNATURE_HIGH_S", "signature", "The ECDSA signature is not in low-s form, which this policy requires.",
       "La signature ECDSA n’est pas sous forme « s bas », exigée par cette politique.")
define("HC_SIGNATURE_INVALID", "signature", "The signature does not match the content: the certificate was "
       "altered or not signed by this key.",
       "La signature ne correspond pas au contenu : le certificat a été modifié ou n’a pas été signé par "
       "cette clé.")
define("HC_CLAIMS_NOT_MAP", "claims", "The signed content is not a CWT claims map.",
       "Le contenu signé n’est pas une table de revendications CWT.")
define("HC_CLAIM_MISSING", "claims", "A required claim (issuer, issued at, expiry or health certificate) is missing.",
       "Une revendication obligatoire (émetteur, date d’émission, expiration ou certificat) est absente.")
define("HC_CLAIM_TYPE", "claims", "A claim has the wrong type (dates must be whole numbers of seconds).",
       "Une revendication a un type incorrect (les dates doivent être des nombres entiers de secondes).")
define("HC_NOT_YET_VALID", "claims", "The certificate is issued in the future.",
       "Le certificat est émis dans le futur.")
define("HC_EXPIRED", "claims", "The certificate has expired.", "Le certificat a expiré.")
define("HC_ISS_MISMATCH", "claims", "The issuing country does not match the country of the signing key.",
       "Le pays émetteur ne correspond pas au pays de la clé de signature.")
define("HC_DSC_NOT_VALID", "dsc", "The signing key was not valid when the certificate was issued, or is no longer "
       "valid.", "La clé de signature n’était pas valide à l’émission du certificat, ou ne l’est plus.")
define("HC_KEY_USAGE", "dsc", "The signing key may not sign this type of certificate.",
       "La clé de signature n’est pas autorisée pour ce type de certificat.")
define("HC_REVOKED", "revocation", "The certificate has been revoked by its issuer.",
       "Le certificat a été révoqué par son émetteur.")
define("HC_PAYLOAD_NOT_JSON", "schema", "The health certificate contains values that JSON cannot represent.",
       "Le certificat contient des valeurs que JSON ne peut pas représenter.")
define("HC_SCHEMA_INVALID", "schema", "The health certificate does not follow its schema.",
       "Le certificat ne respecte pas son schéma.")
define("HC_UNKNOWN_CERTIFICATE", "schema", "The health certificate is neither an EU DCC nor a WHO DDCC:VS.",
       "Le certificat n’est ni un certificat COVID numérique de l’UE ni un DDCC:VS de l’OMS.")
define("HC_RULE_FAILED", "rules", "A business rule of the country of arrival is not met.",
       "Une règle métier du pays d’arrivée n’est pas respectée.")
define("HC_INTERNAL", "internal", "The verifier met a situation it does not handle; the certificate is not "
       "accepted.", "Le vérificateur a rencontré un cas qu’il ne traite pas ; le certificat n’est pas accepté.")
define("HC_RULE_ERROR", "rules", "A business rule could not be evaluated; the certificate is not accepted.",
       "Une règle métier n’a pas pu être évaluée ; le certificat n’est pas accepté.")

PREFIX = "HC1:"
_MISS = _fast.MISS if _fast is not None else object()
_DECODE_STAGES = ("prefix", "base45", "decompress", "cbor", "cose")
CLAIM_ISS, CLAIM_EXP, CLAIM_IAT, CLAIM_HCERT = 1, 4, 6, -260
HCERT_EU_DCC = 1
HCERT_DDCC = -6  # our key for the WHO DDCC:VS core data set inside the hcert claim (see docs/trust-hcert.md)
_CBOR_CODES = {"malformed": "HC_CBOR_MALFORMED", "truncated": "HC_CBOR_TRUNCATED", "indefinite": "HC_CBOR_INDEFINITE",
               "depth": "HC_CBOR_TOO_DEEP", "duplicate": "HC_CBOR_DUPLICATE_KEY", "trailing": "HC_CBOR_TRAILING_DATA",
               "tag": "HC_CBOR_TAG"}


@dataclass(frozen=True)
class Policy:
    """Limits and choices of a verifier. The defaults follow the HCERT specification and real-world data."""

    clock_skew_seconds: int = 300
    max_input_chars: int = 8192  # a version-40 QR code holds 4296 alphanumeric characters
    max_inflated_bytes: int = 65536
    max_cbor_depth: int = 16
    require_low_s: bool = False  # many production signers emit high-s ECDSA signatures; see docs
    whole_second_dates: bool = False  # refuse fractional iat/exp (RFC 8392 allows them)
    check_issuer_country: bool = True
    check_dsc_validity: bool = True


# ---- the steps -----------------------------------------------------------------------------------------

def unprefix(text: Any, policy: Policy = Policy()) -> str:
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise Fail("HC_INPUT_NOT_TEXT", "bytes that are not ASCII") from None
    if not isinstance(text, str):
        raise Fail("HC_INPUT_NOT_TEXT", type(text).__name__)
    if len(text) > policy.max_input_chars:
        raise Fail("HC_INPUT_TOO_LARGE", f"{len(text)} characters, at most {policy.max_input_chars}")
    text = text.strip("\r\n")
    if not text:
        raise Fail("HC_INPUT_EMPTY")
    if text.startswith(PREFIX):
        return text[len(PREFIX):]
    head = text[:4]
    if len(head) == 4 and head[3] == ":" and head[:2].upper() == "HC":
        raise Fail("HC_PREFIX_UNSUPPORTED", repr(head))
    raise Fail("HC_PREFIX_MISSING", repr(text[:4]))


def decode_base45(text: str) -> bytes:
    try:
        return b45decode(text)
    except Base45Error as exc:
        code = {"char": "HC_BASE45_CHARACTER", "length": "HC_BASE45_LENGTH"}.get(exc.kind, "HC_BASE45_OVERFLOW")
        raise Fail(code, str(exc)) from None


def inflate(data: bytes, policy: Policy = Policy()) -> bytes:
    """zlib (RFC 1950) only: a header, one stream, nothing after it, bounded output."""
    if len(data) < 2 or (data[0] & 0x0F) != 8 or (data[0] >> 4) > 7 or ((data[0] << 8) | data[1]) % 31:
        raise Fail("HC_ZLIB_INVALID", "no zlib header")
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, policy.max_inflated_bytes)
    except zlib.error as exc:
        raise Fail("HC_ZLIB_CORRUPT", str(exc)) from None
    if d.unconsumed_tail:
        raise Fail("HC_ZLIB_TOO_LARGE", f"more than {policy.max_inflated_bytes} bytes")
    if not d.eof:
        raise Fail("HC_ZLIB_TRUNCATED")
    if d.unused_data:
        raise Fail("HC_ZLIB_TRAILING_DATA", f"{len(d.unused_data)} bytes")
    return out


def _loads(data: bytes, policy: Policy) -> Any:
    try:
        return cose.loads_strict(data, max_depth=policy.max_cbor_depth)
    except cose.CborError as exc:
        raise Fail(_CBOR_CODES[exc.kind], str(exc)) from None


@lru_cache(maxsize=1024)
def _protected_header(data: bytes, max_depth: int) -> dict:
    """Protected headers repeat (one per signer), so their decoding is cached. Callers copy the map."""
    try:
        header = cose.loads_strict(data, max_depth=max_depth)
    except cose.CborError as exc:
        raise Fail(_CBOR_CODES[exc.kind], str(exc)) from None
    if not isinstance(header, dict):
        raise Fail("HC_COSE_HEADER", "protected header is not a map")
    return header


def parse_cose(data: bytes, policy: Policy = Policy()) -> cose.Sign1:
    """Outer tags by hand (61 then 18 are allowed), then the untagged array with the strict decoder."""
    tags: list[int] = []
    pos = 0
    while pos < len(data) and data[pos] >> 5 == 6:  # major type 6: a tag
        if data[pos] == 0xD2:
            tag, pos = 18, pos + 1
        elif data[pos:pos + 2] == b"\xd8\x3d":
            tag, pos = 61, pos + 2
        else:
            raise Fail("HC_COSE_WRONG_TAG", f"byte 0x{data[pos]:02x} at offset {pos}")
        if tag in tags or (tag == 61 and tags) or len(tags) >= 2:
            raise Fail("HC_COSE_WRONG_TAG", "tags out of order or repeated")
        tags.append(tag)
    body = _loads(data[pos:], policy)
    if not isinstance(body, list | tuple):
        raise Fail("HC_COSE_NOT_ARRAY", type(body).__name__)
    if len(body) != 4:
        raise Fail("HC_COSE_STRUCTURE", f"{len(body)} parts")
    protected_bytes, unprotected, payload, signature = body
    if not isinstance(protected_bytes, bytes) or not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise Fail("HC_COSE_STRUCTURE", "protected header, payload and signature must be byte strings")
    if not isinstance(unprotected, dict):
        raise Fail("HC_COSE_HEADER", "unprotected header is not a map")
    protected = _protected_header(protected_bytes, policy.max_cbor_depth) if protected_bytes else {}
    return cose.Sign1(protected_bytes, dict(protected), dict(unprotected), payload, signature, tuple(tags))


def decode_claims(msg: cose.Sign1, policy: Policy = Policy()) -> dict:
    claims = _loads(msg.payload, policy)
    if not isinstance(claims, dict):
        raise Fail("HC_CLAIMS_NOT_MAP", type(claims).__name__)
    return claims


def hcert_content(claims: dict) -> tuple[str, dict]:
    """('eu-dcc' | 'ddcc', payload) from the hcert claim."""
    hcert = claims.get(CLAIM_HCERT)
    if not isinstance(hcert, dict) or not hcert:
        raise Fail("HC_CLAIM_MISSING", "hcert (-260)")
    if HCERT_EU_DCC in hcert and isinstance(hcert[HCERT_EU_DCC], dict):
        return "eu-dcc", hcert[HCERT_EU_DCC]
    if HCERT_DDCC in hcert and isinstance(hcert[HCERT_DDCC], dict):
        return "ddcc", hcert[HCERT_DDCC]
    raise Fail("HC_UNKNOWN_CERTIFICATE", f"hcert keys {sorted(map(str, hcert))}")


def numeric_date(claims: dict, key: int, name: str, *, strict: bool = False) -> int:
    if key not in claims:
        raise Fail("HC_CLAIM_MISSING", name)
    value = claims[key]
    if isinstance(value, float):
        # RFC 8392 lets a NumericDate carry a fraction and some national issuers use one; NaN and infinity
        # are refused always, fractions only under the strict policy.
        if not math.isfinite(value):
            raise Fail("HC_CLAIM_TYPE", f"{name} is {value}")
        if strict and value != int(value):
            raise Fail("HC_CLAIM_TYPE", f"{name} is {value}, not a whole number of seconds")
        value = math.floor(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Fail("HC_CLAIM_TYPE", f"{name} is a {type(value).__name__}, not a number of seconds")
    if not 0 <= value < 2**40:
        raise Fail("HC_CLAIM_TYPE", f"{name} {value} is out of range")
    return value


def certificate_type(payload: dict) -> str | None:
    """'v', 't' or 'r' for an EU DCC (exactly one group), 'v' for a DDCC:VS."""
    found = [k for k in ("v", "t", "r") if k in payload]
    if len(found) == 1:
        return found[0]
    return "v" if "vaccination" in payload else None


def uvci(payload: dict) -> tuple[str | None, str | None]:
    """(certificate identifier, country of the entry) of the first entry."""
    for group in ("v", "t", "r"):
        entries = payload.get(group)
        if isinstance(entries, list) and entries and isinstance(entries[0], dict):
            ci, co = entries[0].get("ci"), entries[0].get("co")
            # a malformed country is the schema stage's to report; revocation then skips COUNTRYCODEUCI
            country = co.upper() if isinstance(co, str) and len(co) == 2 and co.isascii() and co.isalpha() else None
            return (ci if isinstance(ci, str) else None), country
    vac = payload.get("vaccination")
    cert = payload.get("certificate")
    hcid = cert.get("hcid") if isinstance(cert, dict) else None
    country = vac.get("country") if isinstance(vac, dict) else None
    return (hcid if isinstance(hcid, str) else None), (country if isinstance(country, str) else None)


_JSON = json.JSONEncoder(allow_nan=False, check_circular=False, ensure_ascii=False)


def to_json_document(payload: Any) -> Any:
    """The payload when it is plain JSON data, else HC_PAYLOAD_NOT_JSON. The C encoder does the walk and
    refuses bytes, tags, NaN and infinity; non-text map keys (which it would silently turn into text)
    are refused by the schema validator, which reads the same object."""
    if _fast is not None and _fast.json_plain(payload):
        return payload
    try:
        _JSON.encode(payload)
    except (TypeError, ValueError, RecursionError):
        return to_json_value(payload)  # raises, naming the offending value
    return payload


def to_json_value(value: Any, depth: int = 0) -> Any:
    """CBOR values -> JSON values; bytes, tags, non-finite floats and non-text keys have no JSON form."""
    if depth > 32:
        raise Fail("HC_PAYLOAD_NOT_JSON", "too deep")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Fail("HC_PAYLOAD_NOT_JSON", f"number {value}")
        return value
    if isinstance(value, list | tuple):
        return [to_json_value(v, depth + 1) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise Fail("HC_PAYLOAD_NOT_JSON", f"map key {k!r} is not text")
            out[k] = to_json_value(v, depth + 1)
        return out
    raise Fail("HC_PAYLOAD_NOT_JSON", type(value).__name__)


# ---- trust store ---------------------------------------------------------------------------------------

class TrustStore:
    """Document-signer keys by kid. Several keys may share a kid; the verifier tries each."""

    def __init__(self, keys: Iterable[SignerKey] = ()):
        self._by_kid: dict[bytes, list[SignerKey]] = {}
        for key in keys:
            self.add(key)

    def add(self, key: SignerKey) -> None:
        key.extra.setdefault("kind", key_kind(key.public_key))
        key.extra["validity"] = (key.not_before.timestamp() if key.not_before else -math.inf,
                                 key.not_after.timestamp() if key.not_after else math.inf)
        self._by_kid.setdefault(bytes(key.kid), []).append(key)

    def candidates(self, kid: bytes) -> list[SignerKey]:
        return self._by_kid.get(kid, [])

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_kid.values())

    def all_keys(self) -> list[SignerKey]:
        return [k for v in self._by_kid.values() for k in v]


# ---- the verifier --------------------------------------------------------------------------------------

@dataclass
class Context:
    """What a verification needs besides the certificate: when, and where the holder arrives."""

    now: datetime | None = None
    country_of_arrival: str | None = None
    value_sets: dict | None = None


@dataclass
class HcertVerifier:
    trust: TrustStore
    policy: Policy = field(default_factory=Policy)
    revocation: Any = None  # a RevocationIndex (dho.trust.revocation) or None
    rules: list = field(default_factory=list)  # parsed business rules (dho.trust.rules.Rule)
    schema_check: Callable[[str, dict], str | None] | None = None  # (kind, payload) -> problem or None

    def __post_init__(self):
        if self.schema_check is None:
            self.schema_check = check_payload

    def verify(self, text: Any, context: Context | None = None) -> Verdict:
        verdict = Verdict(False, None, [], {}, [])  # positional: a quarter of a microsecond less per call
        try:
            self._run(text, context or Context(), verdict)
        except Fail as failure:
            verdict.failure = failure.failure
            return verdict
        except Exception as exc:  # the verifier answers whatever the input; a test makes sure this stays unused
            verdict.failure = Failure("HC_INTERNAL", "internal", f"{type(exc).__name__} after {verdict.stages[-1:]}")
            return verdict
        verdict.valid = True
        return verdict

    def _run(self, text: Any, ctx: Context, verdict: Verdict) -> None:
        policy = self.policy
        stages = verdict.stages
        now = ctx.now or datetime.now(UTC)
        decoded = _MISS if _fast is None else _fast.decode_hc1(text, policy.max_input_chars,
                                                                 policy.max_inflated_bytes, policy.max_cbor_depth)
        if decoded is _MISS:  # the general path: every step on its own, naming the first failure
            body = unprefix(text, policy)
            stages.append("prefix")
            compressed = decode_base45(body)
            stages.append("base45")
            raw = inflate(compressed, policy)
            stages.append("decompress")
            msg = parse_cose(raw, policy)
            stages.append("cbor")
            stages.append("cose")
            protected, unprotected, payload_bytes, signature = msg.protected, msg.unprotected, msg.payload, \
                msg.signature
            tbs, claims = msg.to_be_signed(), _MISS
        else:  # the compiled path decoded a common-shape certificate with the same checks
            _protected_bytes, protected, unprotected, payload_bytes, signature, _tags, tbs, claims = decoded
            stages.extend(_DECODE_STAGES)
        if cose.HEADER_KID in protected:
            kid, where = protected[cose.HEADER_KID], "protected"
        else:
            kid, where = unprotected.get(cose.HEADER_KID), "unprotected"
        if kid is None:
            raise Fail("HC_KID_MISSING")
        if not isinstance(kid, bytes) or len(kid) != 8:
            raise Fail("HC_KID_LENGTH", f"{len(kid) if isinstance(kid, bytes) else type(kid).__name__}")
        if where == "unprotected":
            verdict.warnings.append("kid only in the unprotected header")
        candidates = self.trust.candidates(kid)
        verdict.data["kid"] = kid.hex()
        if not candidates:
            raise Fail("HC_KID_UNKNOWN", kid.hex())
        stages.append("kid")
        alg = protected.get(cose.HEADER_ALG, unprotected.get(cose.HEADER_ALG))
        if alg is None:
            raise Fail("HC_ALG_MISSING")
        if isinstance(alg, bool) or not isinstance(alg, int) or alg not in cose.ALG_NAMES:
            raise Fail("HC_ALG_UNSUPPORTED", repr(alg)[:40])
        verdict.data["alg"] = cose.ALG_NAMES[alg]
        usable, why = [], ""
        for key in candidates:
            problem = cose.kind_matches(alg, key.extra["kind"])
            if problem is None:
                usable.append(key)
            elif why != "small":
                why = problem
        if not usable:
            if why == "small":
                raise Fail("HC_KEY_TOO_SMALL")
            raise Fail("HC_ALG_KEY_MISMATCH", f"{cose.ALG_NAMES[alg]} with {candidates[0].extra['kind']}")
        stages.append("algorithm")
        shape = cose.signature_shape(alg, signature)
        if shape:
            raise Fail("HC_SIGNATURE_FORMAT", shape)
        if policy.require_low_s and cose.is_high_s(alg, signature):
            raise Fail("HC_SIGNATURE_HIGH_S")
        for signer in usable:
            if cose.verify_signature(alg, signer.public_key, tbs, signature):
                break
        else:
            raise Fail("HC_SIGNATURE_INVALID")
        stages.append("signature")
        verdict.data["signer"] = {"country": signer.country, "source": signer.source}
        if claims is _MISS:
            claims = _loads(payload_bytes, policy)
        if not isinstance(claims, dict):
            raise Fail("HC_CLAIMS_NOT_MAP", type(claims).__name__)
        fields = _MISS if _fast is None else _fast.claim_fields(claims)
        if fields is _MISS:
            iat = numeric_date(claims, CLAIM_IAT, "iat", strict=policy.whole_second_dates)
            exp = numeric_date(claims, CLAIM_EXP, "exp", strict=policy.whole_second_dates)
            iss = claims.get(CLAIM_ISS)
            if iss is not None and not isinstance(iss, str):
                raise Fail("HC_CLAIM_TYPE", "iss is not text")
            kind, payload = hcert_content(claims)
        else:  # whole-second dates in range, iss text or absent, a known hcert content: the same reading
            iat, exp, iss, kind, payload = fields
        verdict.data.update(iss=iss, iat=iat, exp=exp, kind=kind)
        ts = now.timestamp() if ctx.now else time.time()
        if iat > ts + policy.clock_skew_seconds:
            raise Fail("HC_NOT_YET_VALID", datetime.fromtimestamp(iat, UTC).isoformat())
        if exp < ts - policy.clock_skew_seconds:
            raise Fail("HC_EXPIRED", datetime.fromtimestamp(exp, UTC).isoformat())
        if policy.check_issuer_country and iss and signer.country and iss.upper() != signer.country.upper():
            raise Fail("HC_ISS_MISMATCH", f"iss {iss}, key of {signer.country}")
        stages.append("claims")
        if policy.check_dsc_validity:
            start, end = signer.extra["validity"]
            if iat < start or iat > end or ts > end:
                raise Fail("HC_DSC_NOT_VALID", f"key valid {signer.not_before} to {signer.not_after}")
        entry = _MISS if _fast is None else _fast.dcc_entry(payload)
        if entry is _MISS:
            ctype = certificate_type(payload) if isinstance(payload, dict) else None
            ci, co = uvci(payload)
        else:  # one group of v, t and r, its first entry a map: the same reading
            ctype, ci, co = entry
        if ctype and ctype not in signer.usages:
            raise Fail("HC_KEY_USAGE", f"certificate type {ctype}, key allows {''.join(sorted(signer.usages))}")
        stages.append("dsc")
        verdict.data["uvci"] = ci
        if self.revocation is not None:
            hit = self.revocation.check(kid, signer.country, uci=ci, co=co, signature=signature, alg=alg,
                                        now=now)
            if hit:
                raise Fail("HC_REVOKED", f"listed by {hit}")
        stages.append("revocation")
        if kind == "eu-dcc" and self.schema_check is check_payload and _fast is not None \
                and _fast.dcc_vaccination_valid(payload):
            document, problem = payload, None  # plain JSON data that surely follows the schema (see schemas)
        else:
            document = to_json_document(payload)
            problem = self.schema_check(kind, document)
        verdict.data["payload"] = document
        if problem:
            raise Fail("HC_SCHEMA_INVALID", problem)
        stages.append("schema")
        if self.rules and ctx.country_of_arrival:
            self._rules(document, ctx, now, iss or signer.country or "", ctype or "", iat, exp, verdict)
        stages.append("rules")

    def _rules(self, document, ctx, now, issuer, ctype, iat, exp, verdict) -> None:
        from dho.trust.rules import evaluate_rules

        outcomes = evaluate_rules(self.rules, document, now=now, country_of_arrival=ctx.country_of_arrival,
                                  issuer_country=issuer, cert_type=ctype or "General", value_sets=ctx.value_sets,
                                  iat=datetime.fromtimestamp(iat, UTC), exp=datetime.fromtimestamp(exp, UTC))
        verdict.data["rules"] = [o.__dict__ for o in outcomes]
        for o in outcomes:
            if o.passed is None:
                raise Fail("HC_RULE_ERROR", f"{o.identifier}: {o.error}")
        failed = [o.identifier for o in outcomes if o.passed is False]
        if failed:
            raise Fail("HC_RULE_FAILED", ", ".join(failed))

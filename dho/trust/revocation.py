"""Revocation of issued health certificates (EU DCC / WHO DDCC HCERT): the hashes that name a certificate,
the gateway's batch layout and its checks, and the lookup a verifier runs, either on exact sets
(``RevocationIndex``) or on a compact Bloom filter exported for offline verifiers (``RevocationFilter``).

Pure code: no database, no network. Storing, signing and serving batches is done elsewhere; this module
says what a valid batch is and answers "is this certificate revoked?". ``docs/trust-revocation.md``
explains the choices.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

try:  # CPython's own SHA-256: for 16-100 byte inputs quicker than the OpenSSL one behind hashlib.sha256
    from _sha256 import sha256 as _sha256  # Python 3.11
except ImportError:  # pragma: no cover (newer Pythons, other implementations)
    try:
        from _sha2 import sha256 as _sha256  # Python 3.12 and later
    except ImportError:
        from hashlib import sha256 as _sha256

from dho.trust.bloom import DEFAULT_MAX_BYTES, BloomFilter, BloomFormatError
from dho.trust.fastpath import fast as _fast
from dho.trust.outcome import Fail, define

HASH_TYPES = ("SIGNATURE", "UCI", "COUNTRYCODEUCI")  # also the order in which lookups try them
HASH_BYTES = 16  # the first 128 bits of a SHA-256
MAX_ENTRIES = 1000  # per batch
KID_BYTES = 8
ECDSA_SIGNATURE_BYTES = {-7: 64, -35: 96, -36: 132}  # COSE alg -> raw r||s length (ES256, ES384, ES512)
BATCH_FIELDS = frozenset({"country", "expires", "kid", "hashType", "entries"})

_S = "revocation"
define("REVOCATION_REVOKED", _S, "The certificate has been revoked by its issuer",
       "Le certificat a été révoqué par son émetteur")
define("REVOCATION_BAD_HASH", _S, "A revocation hash must be 16 bytes in base64 or hexadecimal",
       "Une empreinte de révocation doit faire 16 octets, en base64 ou en hexadécimal")
define("REVOCATION_BAD_SIGNATURE", _S, "The signature cannot be hashed for revocation",
       "La signature ne peut pas être hachée pour la révocation")
define("REVOCATION_BAD_UCI", _S, "The certificate identifier cannot be hashed for revocation",
       "L’identifiant du certificat ne peut pas être haché pour la révocation")
define("REVOCATION_BAD_COUNTRY", _S, "The country must be an ISO 3166 two-letter code",
       "Le pays doit être un code ISO 3166 à deux lettres")
define("REVOCATION_BATCH_NOT_OBJECT", _S, "A revocation batch must be a JSON object",
       "Un lot de révocation doit être un objet JSON")
define("REVOCATION_BATCH_MISSING_FIELD", _S, "A required field of the revocation batch is missing",
       "Un champ obligatoire du lot de révocation est absent")
define("REVOCATION_BATCH_UNKNOWN_FIELD", _S, "The revocation batch has a field that is not allowed",
       "Le lot de révocation contient un champ non autorisé")
define("REVOCATION_BAD_EXPIRY", _S, "The expiry must be an ISO 8601 date and time with a time zone",
       "L’expiration doit être une date et une heure ISO 8601 avec un fuseau horaire")
define("REVOCATION_BATCH_EXPIRED", _S, "The expiry of the revocation batch is not in the future",
       "L’expiration du lot de révocation n’est pas dans le futur")
define("REVOCATION_BAD_KID", _S, "The key identifier must be 8 bytes in base64, or null",
       "L’identifiant de clé doit faire 8 octets en base64, ou être nul")
define("REVOCATION_BAD_HASH_TYPE", _S, "The hash type must be SIGNATURE, UCI or COUNTRYCODEUCI",
       "Le type d’empreinte doit être SIGNATURE, UCI ou COUNTRYCODEUCI")
define("REVOCATION_BATCH_EMPTY", _S, "A revocation batch needs at least one entry",
       "Un lot de révocation doit contenir au moins une entrée")
define("REVOCATION_BATCH_TOO_LARGE", _S, "A revocation batch may hold at most 1000 entries",
       "Un lot de révocation peut contenir au plus 1000 entrées")
define("REVOCATION_BAD_ENTRY", _S, "A revocation entry must be an object with a single field \"hash\"",
       "Une entrée de révocation doit être un objet avec un seul champ «\u00a0hash\u00a0»")
define("REVOCATION_DUPLICATE_HASH", _S, "The same hash appears twice in the revocation batch",
       "La même empreinte figure deux fois dans le lot de révocation")
define("REVOCATION_BAD_FILTER", _S, "The revocation filter cannot be read",
       "Le filtre de révocation est illisible")


class RevocationInputError(Fail):
    """Bad input to a revocation function; ``code`` is a registered ``REVOCATION_*`` code. Being a
    ``Fail``, a verification pipeline turns it into a ``Failure`` like any other."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


_COUNTRIES_FILE = Path(__file__).resolve().parent.parent / "reference" / "data" / "who_countries_and_areas.csv"


@cache
def _alpha3_to_alpha2() -> dict[str, str]:
    """ISO 3166 alpha-3 to alpha-2 from the platform's reference data (trust lists may name a signer's
    country either way: the GDHCN DID lists use alpha-3, batches always alpha-2)."""
    with _COUNTRIES_FILE.open(encoding="utf-8", newline="") as handle:
        return {row["iso3"]: row["iso2"] for row in csv.DictReader(handle) if row["iso3"] and row["iso2"]}


def signer_country(value: object) -> str | None:
    """The alpha-2 code to match kid-less batches against, from a signer's country as a trust list gives
    it (alpha-2 or alpha-3, any case). None when it cannot be told (missing, or a code such as a test
    participant's that is in no reference list): then only batches with a kid can match. Never raises,
    so an odd trust-list entry cannot stop a verification."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2,3}", value):
        return None
    code = value.upper()
    return code if len(code) == 2 else _alpha3_to_alpha2().get(code)


def _prefix(data: bytes) -> bytes:
    return _sha256(data).digest()[:HASH_BYTES]


def _country(value: object) -> str:
    """An ISO 3166 alpha-2 code, upper-cased (ASCII letters only: ``"ß".upper()`` must not pass)."""
    if not isinstance(value, str) or len(value) != 2 or not value.isascii() or not value.isalpha():
        raise RevocationInputError("REVOCATION_BAD_COUNTRY", repr(value)[:40])
    return value.upper()


# ---------------------------------------------------------------------- the hashes of a certificate


def revocation_hashes(*, uci: str | None, country: str | None, cose_signature: bytes, alg: int
                      ) -> dict[str, bytes]:
    """The 16-byte revocation hashes of one certificate, by hash type.

    * ``SIGNATURE``: SHA-256 of the COSE signature bytes; for ECDSA (alg -7, -35, -36), whose COSE
      signature is ``r || s``, of ``r`` only (``s`` can be changed without the key: hashing it would let
      a revoked certificate escape with a re-encoded signature).
    * ``UCI``: SHA-256 of the UVCI exactly as in the payload, UTF-8.
    * ``COUNTRYCODEUCI``: SHA-256 of the issuing country (the certificate entry's ``co``, upper-cased)
      followed by the UVCI.

    ``uci`` None or empty gives only ``SIGNATURE``; ``country`` None leaves out ``COUNTRYCODEUCI``.
    """
    if isinstance(alg, bool) or not isinstance(alg, int):
        raise RevocationInputError("REVOCATION_BAD_SIGNATURE", "the COSE algorithm must be an integer")
    if not isinstance(cose_signature, bytes | bytearray) or not cose_signature:
        raise RevocationInputError("REVOCATION_BAD_SIGNATURE", "the signature must be non-empty bytes")
    signed = bytes(cose_signature)
    if alg in ECDSA_SIGNATURE_BYTES:
        want = ECDSA_SIGNATURE_BYTES[alg]
        if len(signed) != want:
            raise RevocationInputError("REVOCATION_BAD_SIGNATURE",
                                       f"alg {alg} signatures are {want} bytes (r||s), got {len(signed)}")
        signed = signed[:want // 2]
    out = {"SIGNATURE": _prefix(signed)}
    if uci is None or uci == "":
        return out
    if not isinstance(uci, str):
        raise RevocationInputError("REVOCATION_BAD_UCI", "the UVCI must be a string")
    try:
        uci_bytes = uci.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RevocationInputError("REVOCATION_BAD_UCI", "the UVCI is not valid Unicode") from exc
    out["UCI"] = _prefix(uci_bytes)
    if country is not None:
        out["COUNTRYCODEUCI"] = _prefix(_country(country).encode("ascii") + uci_bytes)
    return out


# ---------------------------------------------------------------------- parsing values

_B64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){16}|(?:[0-9a-fA-F]{2}){32}")
_MAX_TEXT = 200  # longest text we bother decoding (a 32-byte value in hex is 64 characters)


def _b64(value: str) -> bytes:
    """Strict base64, standard or URL-safe alphabet (not mixed), padding optional, canonical."""
    if len(value) > _MAX_TEXT or not _B64.fullmatch(value):
        raise ValueError("not base64")
    if any(c in value for c in "-_") and any(c in value for c in "+/"):
        raise ValueError("base64 mixing the standard and URL-safe alphabets")
    body = value.rstrip("=").replace("-", "+").replace("_", "/")
    if len(body) % 4 == 1:
        raise ValueError("impossible base64 length")
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc
    if base64.b64encode(raw).decode("ascii").rstrip("=") != body:
        raise ValueError("non-canonical base64 (stray bits at the end)")
    return raw


def parse_hash(value: str, *, allow_full_digest: bool = False) -> bytes:
    """A revocation hash from base64 (standard or URL-safe, padding optional) or hex: exactly 16 bytes.

    The gateway and its batches carry 16-byte prefixes only, so that is the default. With
    ``allow_full_digest`` a full 32-byte SHA-256 is accepted too and cut to its first 16 bytes (the prefix
    is by definition those bytes, so nothing is guessed) — for operator tools where someone pastes the
    output of ``sha256sum``. Anything else raises ``RevocationInputError(REVOCATION_BAD_HASH)``.
    """
    if not isinstance(value, str):
        raise RevocationInputError("REVOCATION_BAD_HASH", "not a string")
    text = value.strip()
    if _HEX.fullmatch(text):
        raw = bytes.fromhex(text)
    else:
        try:
            raw = _b64(text)
        except ValueError as exc:
            raise RevocationInputError("REVOCATION_BAD_HASH", str(exc)) from exc
    if len(raw) == HASH_BYTES:
        return raw
    if len(raw) == 32 and allow_full_digest:
        return raw[:HASH_BYTES]
    raise RevocationInputError("REVOCATION_BAD_HASH", f"{len(raw)} bytes")


_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")


def parse_datetime(value: object) -> datetime:
    """An ISO 8601 / RFC 3339 date-time with seconds and a zone (``Z`` or ``±hh:mm``), as UTC."""
    if not isinstance(value, str) or not _DATETIME.fullmatch(value):
        raise RevocationInputError("REVOCATION_BAD_EXPIRY", repr(value)[:60])
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # e.g. month 13, or year 9999 moved past 9999 by its zone
        raise RevocationInputError("REVOCATION_BAD_EXPIRY", str(exc)) from exc


def _aware(now: datetime) -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


# ---------------------------------------------------------------------- batches


@dataclass(frozen=True)
class Batch:
    """One revocation batch: up to 1000 hashes of one type, from one country, until ``expires``.
    ``kid`` None means the hashes apply to every key of ``country``."""

    country: str
    expires: datetime
    kid: bytes | None
    hash_type: str
    hashes: tuple[bytes, ...]

    def active(self, now: datetime) -> bool:
        return _aware(now) < self.expires

    def content_id(self) -> str:
        """A stable id from the content (for batches that arrive without the gateway's batch id)."""
        h = hashlib.sha256()
        h.update(f"{self.country}|{self.expires.isoformat()}|{self.hash_type}|".encode())
        h.update(self.kid.hex().encode() if self.kid is not None else b"*")
        for x in sorted(self.hashes):
            h.update(x)
        return h.hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """The gateway layout (the inverse of ``validate_batch``)."""
        return {"country": self.country, "expires": self.expires.isoformat().replace("+00:00", "Z"),
                "kid": base64.b64encode(self.kid).decode("ascii") if self.kid is not None else None,
                "hashType": self.hash_type,
                "entries": [{"hash": base64.b64encode(x).decode("ascii")} for x in self.hashes]}


def validate_batch(obj: object, *, now: datetime | None = None, upload: bool = True) -> Batch:
    """Check a batch in the gateway JSON layout and return it as a ``Batch``.

    ``upload`` (the default) also requires ``expires`` to be after ``now`` (default: the current time);
    a verifier reading batches it downloaded passes ``upload=False`` and lets expired ones be ignored.
    Raises ``RevocationInputError`` with one code per problem; the first problem found wins.
    """
    if not isinstance(obj, dict):
        raise RevocationInputError("REVOCATION_BATCH_NOT_OBJECT", type(obj).__name__)
    extra = sorted(str(k) for k in obj if k not in BATCH_FIELDS)
    if extra:
        raise RevocationInputError("REVOCATION_BATCH_UNKNOWN_FIELD", ", ".join(extra)[:100])
    missing = [k for k in ("country", "expires", "hashType", "entries") if k not in obj]
    if missing:
        raise RevocationInputError("REVOCATION_BATCH_MISSING_FIELD", ", ".join(missing))
    country = obj["country"]
    if not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country):
        raise RevocationInputError("REVOCATION_BAD_COUNTRY", repr(country)[:40])
    expires = parse_datetime(obj["expires"])
    if upload:
        reference = _aware(now) if now is not None else datetime.now(UTC)
        if expires <= reference:
            raise RevocationInputError("REVOCATION_BATCH_EXPIRED", obj["expires"])
    kid = obj.get("kid")
    if kid is not None:
        try:
            if not isinstance(kid, str):
                raise ValueError("not a string")
            kid = _b64(kid)
        except ValueError as exc:
            raise RevocationInputError("REVOCATION_BAD_KID", str(exc)) from exc
        if len(kid) != KID_BYTES:
            raise RevocationInputError("REVOCATION_BAD_KID", f"{len(kid)} bytes")
    hash_type = obj["hashType"]
    if hash_type not in HASH_TYPES:
        raise RevocationInputError("REVOCATION_BAD_HASH_TYPE", repr(hash_type)[:40])
    entries = obj["entries"]
    if not isinstance(entries, list):
        raise RevocationInputError("REVOCATION_BAD_ENTRY", "entries must be a list")
    if not entries:
        raise RevocationInputError("REVOCATION_BATCH_EMPTY")
    if len(entries) > MAX_ENTRIES:
        raise RevocationInputError("REVOCATION_BATCH_TOO_LARGE", f"{len(entries)} entries")
    hashes: list[bytes] = []
    seen: set[bytes] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"hash"}:
            raise RevocationInputError("REVOCATION_BAD_ENTRY", f"entry {i}")
        try:  # the gateway layout is base64 only (no hex here, unlike parse_hash)
            if not isinstance(entry["hash"], str):
                raise ValueError("not a string")
            h = _b64(entry["hash"])
        except ValueError as exc:
            raise RevocationInputError("REVOCATION_BAD_HASH", f"entry {i}: {exc}") from exc
        if len(h) != HASH_BYTES:
            raise RevocationInputError("REVOCATION_BAD_HASH", f"entry {i}: {len(h)} bytes")
        if h in seen:
            raise RevocationInputError("REVOCATION_DUPLICATE_HASH", f"entry {i}")
        seen.add(h)
        hashes.append(h)
    return Batch(country=country, expires=expires, kid=kid, hash_type=hash_type, hashes=tuple(hashes))


def _check_hashes(hashes: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """The (type, hash) pairs to look up, in ``HASH_TYPES`` order; refuses unknown types and bad lengths."""
    for ht in hashes:
        if ht not in HASH_TYPES:
            raise RevocationInputError("REVOCATION_BAD_HASH_TYPE", repr(ht)[:40])
    out = []
    for ht in HASH_TYPES:
        h = hashes.get(ht)
        if h is None:
            continue
        if not isinstance(h, bytes) or len(h) != HASH_BYTES:
            raise RevocationInputError("REVOCATION_BAD_HASH", f"{ht}: not {HASH_BYTES} bytes")
        out.append((ht, h))
    return out


def _element(hash_type: str, kid: bytes | None, country: str | None, h: bytes) -> bytes:
    """What goes into the compact filter for one entry: the hash type, the scope (a kid, or a whole
    country when the batch has no kid) and the hash, length-prefixed so no two scopes can collide."""
    scope = b"K" + bytes([len(kid)]) + kid if kid is not None else b"C" + (country or "").encode("ascii")
    return bytes([HASH_TYPES.index(hash_type) + 1]) + scope + h


# ---------------------------------------------------------------------- the exact index


class RevocationIndex:
    """The revoked hashes a verifier knows, loaded from batches, with exact answers.

    A batch with a kid revokes certificates signed by that key (the gateway only accepts a country's
    batches for its own keys, so the lookup matches on the kid alone); a batch without a kid revokes
    certificates of every key of its country. Expired batches are ignored by lookups and dropped by
    ``purge_expired``. Batches are replaced or deleted by id, which is how a delta download is applied.
    """

    def __init__(self) -> None:
        self._batches: dict[str, Batch] = {}
        # (hash type, scope) -> hash -> ids of the batches holding it; scope ("K", kid) or ("C", country)
        self._sets: dict[tuple[str, tuple[str, Any]], dict[bytes, tuple[str, ...]]] = {}
        # (kid, signer country) -> ((hash type, tables to probe), ...): what ``check`` looks up for a signer
        self._plans: dict[tuple[Any, Any], tuple[tuple[str, tuple[dict[bytes, tuple[str, ...]], ...]], ...]] = {}

    def __len__(self) -> int:
        return len(self._batches)

    @staticmethod
    def _scope(batch: Batch) -> tuple[str, Any]:
        return ("K", batch.kid) if batch.kid is not None else ("C", batch.country)

    def add_batch(self, batch: Batch, batch_id: str | None = None) -> str:
        """Add (or replace, when the id is known) a batch; returns its id (``content_id`` by default)."""
        if not isinstance(batch, Batch):
            raise TypeError("add_batch takes a Batch (see validate_batch)")
        batch_id = batch_id or batch.content_id()
        self.remove_batch(batch_id)
        self._batches[batch_id] = batch
        self._plans = {}
        table = self._sets.setdefault((batch.hash_type, self._scope(batch)), {})
        for h in batch.hashes:
            table[h] = (*table.get(h, ()), batch_id)
        return batch_id

    def remove_batch(self, batch_id: str) -> bool:
        """Forget a batch (deleted at the gateway, or expired). False when the id is unknown."""
        batch = self._batches.pop(batch_id, None)
        if batch is None:
            return False
        key = (batch.hash_type, self._scope(batch))
        self._plans = {}
        table = self._sets[key]
        for h in batch.hashes:
            rest = tuple(i for i in table.get(h, ()) if i != batch_id)
            if rest:
                table[h] = rest
            else:
                table.pop(h, None)
        if not table:
            del self._sets[key]
        return True

    def apply_delta(self, changes: Iterable[tuple[str, Batch | None]]) -> None:
        """Apply a delta download: ``(batch_id, batch)`` adds or replaces, ``(batch_id, None)`` deletes."""
        for batch_id, batch in changes:
            if batch is None:
                self.remove_batch(batch_id)
            else:
                self.add_batch(batch, batch_id)

    def purge_expired(self, now: datetime) -> int:
        """Drop the batches expired at ``now``; returns how many."""
        gone = [i for i, b in self._batches.items() if not b.active(now)]
        for i in gone:
            self.remove_batch(i)
        return len(gone)

    def is_revoked(self, kid: bytes | None, country: str | None, hashes: Mapping[str, bytes], now: datetime
                   ) -> str | None:
        """The first hash type (in ``HASH_TYPES`` order) under which the certificate is revoked, else None.

        ``kid``: the certificate's key identifier; ``country``: its signer's country from the trust list
        (alpha-2 or alpha-3, see ``signer_country``), needed for kid-less batches; ``hashes``: from
        ``revocation_hashes``.
        """
        _aware(now)
        country = signer_country(country)
        for ht, h in _check_hashes(hashes):
            scopes = []
            if kid is not None:
                scopes.append(("K", bytes(kid)))
            if country is not None:
                scopes.append(("C", country))
            for scope in scopes:
                for batch_id in self._sets.get((ht, scope), {}).get(h, ()):
                    if self._batches[batch_id].active(now):
                        return ht
        return None

    def check(self, kid: bytes | None, country: str | None, *, uci: str | None, co: str | None,
              signature: bytes, alg: int, now: datetime) -> str | None:
        """What a verifier asks for each certificate: ``revocation_hashes`` then ``is_revoked``, with the
        same answers and errors, but the tables a signer's certificates meet are worked out once per
        (kid, signer country) and kept until a batch changes, and no hash is computed for a signer no
        batch concerns (most signers). ``co`` is the certificate's own country, ``country`` its signer's."""
        plan = self._plans.get((kid, country))
        if plan is None:
            plan = self._plan(kid, country)
            if len(self._plans) >= 4096:
                self._plans.clear()
            self._plans[(kid, country)] = plan
        if not plan:
            return None
        size = ECDSA_SIGNATURE_BYTES.get(alg) if type(alg) is int else None
        if (type(signature) is not bytes or size != len(signature) or (uci is not None and type(uci) is not str)
                or (co is not None and not (type(co) is str and len(co) == 2 and co.isascii() and co.isalpha()))):
            hashes = revocation_hashes(uci=uci, country=co, cose_signature=signature, alg=alg)
            return self._look_up(plan, hashes.get, now)
        # the common case: an ECDSA signature of the right length, a text UVCI and a two-letter country; only
        # the hashes the plan looks up are computed, exactly as revocation_hashes computes them
        uci_bytes = None
        if uci:
            try:
                uci_bytes = uci.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise RevocationInputError("REVOCATION_BAD_UCI", "the UVCI is not valid Unicode") from exc
        country_uci = None if uci_bytes is None or co is None else co.upper().encode("ascii") + uci_bytes
        if _fast is not None and _fast.revocation_miss(plan, _sha256, signature, size >> 1, uci_bytes, country_uci):
            return None  # no table holds any of the hashes (the usual answer), found in compiled code
        sha256 = _sha256
        for ht, tables in plan:
            if ht == "SIGNATURE":
                h = sha256(signature[:size >> 1]).digest()[:HASH_BYTES]
            elif uci_bytes is None:
                continue
            elif ht == "UCI":
                h = sha256(uci_bytes).digest()[:HASH_BYTES]
            elif co is None:
                continue
            else:
                h = sha256(co.upper().encode("ascii") + uci_bytes).digest()[:HASH_BYTES]
            for table in tables:
                ids = table.get(h)
                if ids and any(self._batches[i].active(now) for i in ids):
                    return ht
        return None

    def _look_up(self, plan, hash_of, now: datetime) -> str | None:
        for ht, tables in plan:
            h = hash_of(ht)
            if h is None:
                continue
            for table in tables:
                for batch_id in table.get(h, ()):
                    if self._batches[batch_id].active(now):
                        return ht
        return None

    def _plan(self, kid: bytes | None, country: str | None
              ) -> tuple[tuple[str, tuple[dict[bytes, tuple[str, ...]], ...]], ...]:
        code = signer_country(country)
        scopes = ([("K", bytes(kid))] if kid is not None else []) + ([("C", code)] if code is not None else [])
        plan = []
        for ht in HASH_TYPES:
            tables = tuple(t for scope in scopes if (t := self._sets.get((ht, scope))))
            if tables:
                plan.append((ht, tables))
        return tuple(plan)

    def active_elements(self, now: datetime) -> tuple[set[bytes], datetime | None]:
        """The filter elements of the batches active at ``now``, and the earliest expiry among them."""
        elements: set[bytes] = set()
        earliest: datetime | None = None
        for batch in self._batches.values():
            if not batch.active(now):
                continue
            earliest = batch.expires if earliest is None else min(earliest, batch.expires)
            for h in batch.hashes:
                elements.add(_element(batch.hash_type, batch.kid, batch.country, h))
        return elements, earliest

    def export_filter(self, now: datetime, p: float = 1e-6) -> bytes:
        """A compact filter of the batches active at ``now`` for offline verifiers (``RevocationFilter``).

        ``p`` is the false-positive probability of one filter lookup; a certificate check makes up to
        two lookups per hash type it has (its kid's scope and its country's), so up to ``6 * p`` per
        certificate with all three hash types.
        """
        _aware(now)
        elements, earliest = self.active_elements(now)
        bloom = BloomFilter.for_capacity(max(1, len(elements)), p)
        for e in sorted(elements):
            bloom.add(e)
        return RevocationFilter(bloom, created=now.astimezone(UTC).replace(microsecond=0),
                                refresh_before=earliest).to_bytes()


# ---------------------------------------------------------------------- the compact filter

_FILTER_MAGIC = b"DHOR"
_FILTER_VERSION = 1
_FILTER_HEADER = struct.Struct(">4sBqq")  # magic, version, created, refresh-before (Unix seconds; 0: none)


@dataclass
class RevocationFilter:
    """What an offline verifier holds: a Bloom filter of revocation entries. ``might_be_revoked`` never
    misses a revoked certificate; it says "revoked" wrongly with the filter's false-positive rate.
    ``refresh_before``: the earliest expiry of the batches inside (after it the filter is conservative:
    it may still flag certificates whose revocation has lapsed)."""

    bloom: BloomFilter
    created: datetime
    refresh_before: datetime | None = None

    def to_bytes(self) -> bytes:
        before = int(self.refresh_before.timestamp()) if self.refresh_before is not None else 0
        return _FILTER_HEADER.pack(_FILTER_MAGIC, _FILTER_VERSION, int(self.created.timestamp()), before) + \
            self.bloom.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> RevocationFilter:
        """Load an exported filter; ``RevocationInputError(REVOCATION_BAD_FILTER)`` for anything wrong."""
        if not isinstance(data, bytes | bytearray) or len(data) < _FILTER_HEADER.size:
            raise RevocationInputError("REVOCATION_BAD_FILTER", "too short")
        magic, version, created, before = _FILTER_HEADER.unpack_from(data)
        if magic != _FILTER_MAGIC:
            raise RevocationInputError("REVOCATION_BAD_FILTER", "wrong magic bytes")
        if version != _FILTER_VERSION:
            raise RevocationInputError("REVOCATION_BAD_FILTER", f"unsupported version {version}")
        try:
            created_at = datetime.fromtimestamp(created, UTC)
            before_at = datetime.fromtimestamp(before, UTC) if before else None
        except (OverflowError, OSError, ValueError) as exc:
            raise RevocationInputError("REVOCATION_BAD_FILTER", "impossible dates") from exc
        try:
            bloom = BloomFilter.from_bytes(bytes(data[_FILTER_HEADER.size:]), max_bytes=max_bytes)
        except BloomFormatError as exc:
            raise RevocationInputError("REVOCATION_BAD_FILTER", str(exc)) from exc
        return cls(bloom, created_at, before_at)

    def is_stale(self, now: datetime) -> bool:
        return self.refresh_before is not None and _aware(now) >= self.refresh_before

    def might_be_revoked(self, kid: bytes | None, country: str | None, hashes: Mapping[str, bytes]
                         ) -> str | None:
        """Like ``RevocationIndex.is_revoked`` (same arguments but no clock): the first hash type that
        may be revoked, else None. A hit should be confirmed online when the verifier can."""
        country = signer_country(country)
        for ht, h in _check_hashes(hashes):
            if kid is not None and len(kid) <= 255 and self.bloom.might_contain(_element(ht, bytes(kid), None, h)):
                return ht
            if country is not None and self.bloom.might_contain(_element(ht, None, country, h)):
                return ht
        return None

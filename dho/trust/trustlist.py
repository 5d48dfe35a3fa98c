"""What an offline verifier does with what it downloaded from the trust network: turn a trust list (the
gateway's JSON layout, or a DID document) into a :class:`~dho.trust.hcert.TrustStore`, and revocation
batches into a :class:`~dho.trust.revocation.RevocationIndex`. With :class:`~dho.trust.hcert.HcertVerifier`
that is the whole offline verifier: no database, no network.

Entries that cannot be used are skipped, each with a line in ``store.warnings`` (or ``index.warnings``);
only input that is unusable as a whole raises :class:`TrustListError`."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dho.trust import cms, did, revocation
from dho.trust.hcert import TrustStore
from dho.trust.keys import SignerKey, kid_of, thumbprint
from dho.trust.outcome import Fail, define

MAX_ENTRIES = 100_000
MAX_BYTES = 64 * 1024 * 1024
MAX_CERT_CHARS = 16 * 1024
MAX_WARNINGS = 100

_T = "trustlist"
define("TRUST_LIST_MALFORMED", _T, "The trust list is malformed", "La liste de confiance est mal formée")
define("TRUST_LIST_TOO_LARGE", _T, "The trust list is too large", "La liste de confiance est trop volumineuse")
define("TRUST_LIST_PROOF", _T, "The trust list's signature is not valid",
       "La signature de la liste de confiance n’est pas valide")
define("TRUST_REVOCATION_MALFORMED", "revocation", "The downloaded revocation batches are malformed",
       "Les lots de révocation téléchargés sont mal formés")


class TrustListError(Fail, ValueError):
    """An unusable trust list or revocation download (a ValueError too, for callers that catch those)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def _parse(data: Any, code: str) -> Any:
    if isinstance(data, bytes | bytearray | str):
        if len(data) > MAX_BYTES:
            raise TrustListError("TRUST_LIST_TOO_LARGE", f"{len(data)} bytes")
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise TrustListError(code, f"not JSON: {str(exc)[:100]}") from exc
    return data


def _warn(warnings: list[str], text: str) -> None:
    if len(warnings) < MAX_WARNINGS:
        warnings.append(text)
    elif len(warnings) == MAX_WARNINGS:
        warnings.append("further warnings left out")


def _gateway_key(entry: Any) -> SignerKey:
    """One DSC entry as a SignerKey; ValueError says why it is unusable."""
    raw = entry.get("rawData")
    if not isinstance(raw, str) or len(raw) > MAX_CERT_CHARS:
        raise ValueError("rawData is not a base64 certificate of reasonable size")
    try:
        der = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("rawData is not base64") from exc
    cert = x509.load_der_x509_certificate(der)
    der = cert.public_bytes(serialization.Encoding.DER)
    kid_text = entry.get("kid")
    try:
        kid = did.decode_kid(kid_text)
    except ValueError as exc:
        raise ValueError(f"kid {str(kid_text)[:20]!r} is not base64") from exc
    if kid != kid_of(der):
        raise ValueError(f"kid {kid_text} is not the certificate's kid {base64.b64encode(kid_of(der)).decode()}")
    stated = entry.get("thumbprint")
    if stated is not None and (not isinstance(stated, str) or stated.lower() != thumbprint(der)):
        raise ValueError("thumbprint is not the certificate's")
    key = SignerKey.from_certificate(cert, source="gateway")
    country = entry.get("country")
    if isinstance(country, str) and key.country is not None and country.upper() != key.country:
        raise ValueError(f"country {country} differs from the certificate's {key.country}")
    if key.country is None and isinstance(country, str):
        key.country = country.upper()
    key.extra.update(thumbprint=thumbprint(der), timestamp=entry.get("timestamp"))
    return key


def load_gateway_trustlist(data: Any, *, max_entries: int = MAX_ENTRIES) -> TrustStore:
    """A TrustStore of the document signers (``certificateType`` DSC) of a trust list in the gateway
    layout: a JSON list (text, bytes or already parsed). Each certificate is parsed and its kid and
    thumbprint checked against the DER; other entry types are ignored."""
    entries = _parse(data, "TRUST_LIST_MALFORMED")
    if isinstance(entries, dict) and isinstance(entries.get("entries"), list):
        entries = entries["entries"]  # the delta form
    if not isinstance(entries, list):
        raise TrustListError("TRUST_LIST_MALFORMED", "not a JSON list")
    if len(entries) > max_entries:
        raise TrustListError("TRUST_LIST_TOO_LARGE", f"{len(entries)} entries")
    store = TrustStore()
    warnings: list[str] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            _warn(warnings, f"entry {index}: not an object, skipped")
            continue
        if entry.get("certificateType") != "DSC":
            continue
        try:
            store.add(_gateway_key(entry))
        except (ValueError, TypeError) as exc:
            _warn(warnings, f"entry {index}: {str(exc)[:160]}, skipped")
    store.warnings = warnings  # type: ignore[attr-defined]
    return store


def load_did_trustlist(doc: Any, proof_key: Any = None, *, domain: str | None = None) -> TrustStore:
    """A TrustStore of the document signers of a DID trust list. With ``proof_key`` (the anchor's public
    key or certificate) the proof must be valid, else TrustListError TRUST_LIST_PROOF."""
    if isinstance(proof_key, x509.Certificate):
        proof_key = proof_key.public_key()
    try:
        parsed = did.read_did_trustlist(doc, proof_key=proof_key)
    except Fail as exc:
        raise TrustListError("TRUST_LIST_MALFORMED", exc.failure.detail or exc.failure.code) from exc
    if proof_key is not None and not parsed.proof_valid:
        raise TrustListError("TRUST_LIST_PROOF", parsed.did or "")
    store = TrustStore(parsed.select(domain=domain))
    store.warnings = list(parsed.warnings)  # type: ignore[attr-defined]
    return store


def _batch_of(item: dict[str, Any], uploaders: Collection[str] | None) -> revocation.Batch:
    """The batch of one downloaded item: ``cms`` (signed, checked) or ``batch`` (plain JSON)."""
    if "cms" in item:
        signed = cms.verify_cms(item["cms"])
        if uploaders is not None:
            signer = thumbprint(signed.signer.public_bytes(serialization.Encoding.DER))
            if signer not in uploaders:
                raise ValueError(f"signed by {signer[:16]}..., not a known upload certificate")
        obj = json.loads(signed.content.decode("utf-8"))
    elif "batch" in item:
        obj = item["batch"]
    else:
        obj = item
    return revocation.validate_batch(obj, upload=False)


def upload_thumbprints(gateway_list: Any) -> set[str]:
    """The thumbprints of the UPLOAD certificates of a gateway trust list (to check signed batches)."""
    entries = _parse(gateway_list, "TRUST_LIST_MALFORMED")
    if not isinstance(entries, list):
        raise TrustListError("TRUST_LIST_MALFORMED", "not a JSON list")
    return {e["thumbprint"].lower() for e in entries if isinstance(e, dict) and e.get("certificateType") == "UPLOAD"
            and isinstance(e.get("thumbprint"), str)}


def load_revocation(batches: Any, *, uploaders: Collection[str] | None = None,
                    now: datetime | None = None, index: revocation.RevocationIndex | None = None
                    ) -> revocation.RevocationIndex:
    """A RevocationIndex from downloaded batches: a list of ``{"batchId", "deleted", "cms"}`` (as the
    ``revocation export`` command and the API give them), ``{"batchId", "batch": {...}}``, or plain
    batch objects. Deleted items remove their batch (apply a delta to an existing ``index``); expired
    batches are dropped. ``uploaders``: thumbprints whose signatures are believed (see
    :func:`upload_thumbprints`); without it signed batches are checked for integrity only."""
    items = _parse(batches, "TRUST_REVOCATION_MALFORMED")
    if isinstance(items, dict) and isinstance(items.get("batches"), list):
        items = items["batches"]
    if not isinstance(items, list):
        raise TrustListError("TRUST_REVOCATION_MALFORMED", "not a JSON list")
    if len(items) > MAX_ENTRIES:
        raise TrustListError("TRUST_LIST_TOO_LARGE", f"{len(items)} batches")
    out = index if index is not None else revocation.RevocationIndex()
    warnings: list[str] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            _warn(warnings, f"batch {n}: not an object, skipped")
            continue
        batch_id = item.get("batchId") if isinstance(item.get("batchId"), str) else None
        if item.get("deleted") is True:
            if batch_id:
                out.remove_batch(batch_id)
            continue
        try:
            out.add_batch(_batch_of(item, uploaders), batch_id)
        except (Fail, ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
            detail = exc.failure.code if isinstance(exc, Fail) else str(exc)[:160]
            _warn(warnings, f"batch {batch_id or n}: {detail}, skipped")
    out.purge_expired(now or datetime.now(UTC))
    out.warnings = warnings  # type: ignore[attr-defined]
    return out

"""The trust network service: onboarding, document signers, trust lists, revocation batches, business
rules and the signed DID documents, over the database.

Who signs what:

* the trust anchor (the network operator) signs each participant registration. Its private key never
  enters the web process: :func:`onboard_participant` and :func:`sign_did_document` are called from the
  command line with the key loaded from a file. The web process holds the anchor *certificate* only
  (setting ``trust_anchor_cert``) and checks the signature and the thumbprint of a registration every
  time it reads one; a row that fails is left out (and logged), never trusted;
* a participant signs what it uploads (document signers, revocation batches, rules) as CMS with one of
  its registered upload (UP) certificates. The CMS is stored as uploaded and re-checked when a trust
  list is built, so a document signer altered in the database drops out of the list.

Every refusal is a :class:`TrustRejected` carrying a stable code (``PKI_*``, ``REVOCATION_*`` or
``TRUST_*``, registered with :func:`dho.trust.outcome.define`) and its message in the request's
language."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.permissions import Principal, Target, authorize, can, require_somewhere
from dho.config import get_settings
from dho.errors import DomainError, FieldError
from dho.reference.models import Country
from dho.trust import anchor, cms, did, pki, revocation
from dho.trust import rules as rules_mod
from dho.trust.keys import dcc_usages, kid_of, load_certificate, thumbprint
from dho.trust.models import (
    CERTIFICATE_TYPES,
    DEFAULT_DOMAIN,
    BusinessRule,
    Participant,
    ParticipantCertificate,
    RevocationBatch,
    RevocationEntry,
    SignedDocument,
    SignerCertificate,
)
from dho.trust.outcome import CODES, Fail, Failure, define

log = logging.getLogger("dho.trust")

PAGE_SIZE_MAX = 1000
BATCH_LIST_MAX = 1000
DID_USAGES = ("DSC", "SCA", "UP", "TLS")
_COUNTRY = re.compile(r"^[A-Z]{2,3}$")
_DOMAIN = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

_O, _U, _R, _B, _T = "onboarding", "upload", "revocation", "rules", "trustlist"
define("TRUST_ANCHOR_MISSING", _O, "No trust anchor certificate is configured (setting trust_anchor_cert)",
       "Aucun certificat d’ancre de confiance n’est configuré (paramètre trust_anchor_cert)")
define("TRUST_ANCHOR_MISMATCH", _O, "The anchor key does not belong to the configured anchor certificate",
       "La clé d’ancre ne correspond pas au certificat d’ancre configuré")
define("TRUST_BAD_COUNTRY", _O, "Not a participant code (two or three upper-case letters)",
       "Code de participant non valable (deux ou trois lettres majuscules)")
define("TRUST_BAD_DOMAIN", _O, "Not a trust domain code (upper-case letters, digits and hyphens)",
       "Code de domaine de confiance non valable (majuscules, chiffres et tirets)")
define("TRUST_CERT_UNREADABLE", _O, "The certificate cannot be read", "Le certificat est illisible")
define("TRUST_ALREADY_REGISTERED", _O, "This certificate is already registered in this group",
       "Ce certificat est déjà enregistré dans ce groupe")
define("TRUST_UPLOADER_UNKNOWN", _U, "The message is not signed by a registered upload certificate",
       "Le message n’est pas signé par un certificat de téléversement enregistré")
define("TRUST_UPLOADER_EXPIRED", _U, "The upload certificate that signed the message is not valid now",
       "Le certificat de téléversement qui a signé le message n’est pas valide actuellement")
define("TRUST_DSC_UNREADABLE", _U, "The signed content is not a DER certificate",
       "Le contenu signé n’est pas un certificat DER")
define("TRUST_DSC_UNKNOWN", _U, "No such document signer is registered",
       "Ce signataire de documents n’est pas enregistré")
define("TRUST_DSC_NOT_YOURS", _U, "The document signer belongs to another participant",
       "Le signataire de documents appartient à un autre participant")
define("TRUST_CONTENT_NOT_JSON", _U, "The signed content is not a JSON object",
       "Le contenu signé n’est pas un objet JSON")
define("TRUST_BATCH_COUNTRY", _R, "The batch's country is not the uploader's country",
       "Le pays du lot n’est pas celui du participant qui téléverse")
define("TRUST_BATCH_KID_UNKNOWN", _R, "The batch's key identifier is not a document signer of this country",
       "L’identifiant de clé du lot n’est pas un signataire de documents de ce pays")
define("TRUST_BATCH_UNKNOWN", _R, "No such revocation batch", "Ce lot de révocation n’existe pas")
define("TRUST_BATCH_DELETED", _R, "The revocation batch has been deleted", "Le lot de révocation a été supprimé")
define("TRUST_RULE_INVALID", _B, "The business rule is not valid", "La règle métier n’est pas valable")
define("TRUST_RULE_COUNTRY", _B, "The rule's country is not the uploader's country",
       "Le pays de la règle n’est pas celui du participant qui téléverse")
define("TRUST_RULE_VERSION", _B, "A rule with this identifier and the same or a later version exists",
       "Une règle de même identifiant existe déjà dans cette version ou une version ultérieure")
define("TRUST_BAD_TYPE", _T, "Unknown certificate type (DSC, UPLOAD, CSCA or AUTHENTICATION)",
       "Type de certificat inconnu (DSC, UPLOAD, CSCA ou AUTHENTICATION)")
define("TRUST_BAD_PAGE", _T, "Page and size must be whole numbers (size from 1 to 1000)",
       "La page et la taille doivent être des nombres entiers (taille de 1 à 1000)")
define("TRUST_BAD_USAGE", _T, "Unknown key usage (DSC, SCA, UP or TLS)", "Usage de clé inconnu (DSC, SCA, UP ou TLS)")
define("TRUST_BAD_DATE", _T, "Not a date and time (ISO 8601 with a time zone, or an HTTP date)",
       "Date et heure non valables (ISO 8601 avec fuseau horaire, ou date HTTP)")
define("TRUST_NO_DOCUMENT", _T, "No signed document has been published here yet",
       "Aucun document signé n’a encore été publié ici")

# HTTP status by code, where it is not 400.
_STATUS = {"PKI_DUPLICATE": 409, "PKI_KID_COLLISION": 409, "TRUST_ALREADY_REGISTERED": 409, "TRUST_RULE_VERSION": 409,
           "PKI_CMS_TOO_LARGE": 413, "PKI_UPLOADER_COUNTRY": 403, "TRUST_UPLOADER_UNKNOWN": 403,
           "TRUST_UPLOADER_EXPIRED": 403, "TRUST_DSC_NOT_YOURS": 403, "TRUST_BATCH_COUNTRY": 403,
           "TRUST_RULE_COUNTRY": 403, "TRUST_DSC_UNKNOWN": 404, "TRUST_BATCH_UNKNOWN": 404,
           "TRUST_NO_DOCUMENT": 404, "TRUST_BATCH_DELETED": 410, "TRUST_ANCHOR_MISSING": 503}
_SLUGS = {400: "trust-rejected", 403: "forbidden", 404: "not-found", 409: "conflict", 410: "gone",
          413: "payload-too-large", 503: "trust-not-configured"}


class TrustRejected(DomainError):
    """A refusal with a stable code. ``errors`` starts with ``{"field": "code", "message": CODE}`` so API
    clients can branch on the code; the detail is ``CODE: message (what was seen)``."""

    title = "Refused by the trust network"

    def __init__(self, code: str, detail: str = "", *, problems: list[FieldError] | None = None):
        self.code = code
        self.failure = Failure(code, CODES[code].stage, detail)
        self.status = _STATUS.get(code, 400)
        self.type_slug = _SLUGS.get(self.status, "trust-rejected")
        super().__init__(f"{code}: {self.failure.message(i18n.get_locale())}",
                         errors=[FieldError("code", code), *(problems or [])])


def rejected(exc: Fail) -> TrustRejected:
    """A pipeline failure (PkiError, RevocationInputError...) as a TrustRejected."""
    return TrustRejected(exc.failure.code, exc.failure.detail)


def _now(now: dt.datetime | None) -> dt.datetime:
    """The current time (or ``now``) in UTC, cut to the millisecond: stored times are then exactly the
    timestamps the trust list shows, so a client can pass one back as ``since``."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: dt.datetime) -> str:
    """The gateway's timestamp spelling: UTC, milliseconds, ``Z``."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_code(value: str, pattern: re.Pattern[str], code: str) -> str:
    text = (value or "").strip().upper() if isinstance(value, str) else ""
    if not pattern.fullmatch(text):
        raise TrustRejected(code, repr(value)[:40])
    return text


def country_code(value: str) -> str:
    return _check_code(value, _COUNTRY, "TRUST_BAD_COUNTRY")


def domain_code(value: str) -> str:
    return _check_code(value, _DOMAIN, "TRUST_BAD_DOMAIN")


# ---------------------------------------------------------------- the trust anchor


@lru_cache(maxsize=8)
def _anchor_file(path: str, _mtime_ns: int) -> x509.Certificate:
    return read_certificate(Path(path).read_bytes())


def configured_anchor() -> x509.Certificate | None:
    """The anchor certificate named by the ``trust_anchor_cert`` setting (re-read when the file changes)."""
    path = get_settings().trust_anchor_cert
    if not path:
        return None
    try:
        return _anchor_file(path, Path(path).stat().st_mtime_ns)
    except (OSError, ValueError) as exc:
        raise TrustRejected("TRUST_ANCHOR_MISSING", f"{path}: {exc}"[:200]) from exc


def _anchor(anchor_cert: x509.Certificate | None) -> x509.Certificate:
    found = anchor_cert if anchor_cert is not None else configured_anchor()
    if found is None:
        raise TrustRejected("TRUST_ANCHOR_MISSING")
    return found


def _spki(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_anchor_key(key: Any, anchor_cert: x509.Certificate) -> None:
    if _spki(key.public_key()) != _spki(anchor_cert.public_key()):
        raise TrustRejected("TRUST_ANCHOR_MISMATCH")


@lru_cache(maxsize=4096)
def _registration_ok(message: bytes, signature: str, anchor_der: bytes) -> bool:
    return anchor.verify_registration(message, signature, x509.load_der_x509_certificate(anchor_der))


def registration_problem(row: ParticipantCertificate, participant: Participant,
                         anchor_cert: x509.Certificate) -> str | None:
    """None when the row is what the anchor signed, else what is wrong with it."""
    if thumbprint(row.raw_der) != row.thumbprint:
        return "the stored thumbprint is not that of the stored certificate"
    if kid_of(row.raw_der) != row.kid:
        return "the stored kid is not that of the stored certificate"
    if (participant.country, participant.domain) != (row.country, row.domain):
        return "the registration is attached to another participant"
    try:
        message = anchor.registration_message(country=row.country, domain=row.domain, group=row.group,
                                              cert_der=row.raw_der)
    except ValueError as exc:
        return f"the registration fields are not valid ({exc})"
    if not _registration_ok(message, row.anchor_signature, anchor_cert.public_bytes(serialization.Encoding.DER)):
        return "the trust anchor's signature does not match"
    return None


@dataclass
class Registration:
    row: ParticipantCertificate
    participant: Participant
    problem: str | None

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.row.raw_der)


def registrations(session: Session, *, domain: str | None = None, country: str | None = None,
                  group: str | None = None, thumbprint_hex: str | None = None,
                  anchor_cert: x509.Certificate | None = None, include_invalid: bool = False) -> list[Registration]:
    """Participant certificates, each checked against the anchor. Rows that fail are left out (and logged)
    unless ``include_invalid``, where they come with their ``problem``."""
    trusted = _anchor(anchor_cert)
    query = select(ParticipantCertificate, Participant).join(
        Participant, Participant.id == ParticipantCertificate.participant_id)
    if domain is not None:
        query = query.where(ParticipantCertificate.domain == domain)
    if country is not None:
        query = query.where(ParticipantCertificate.country == country)
    if group is not None:
        query = query.where(ParticipantCertificate.group == group)
    if thumbprint_hex is not None:
        query = query.where(ParticipantCertificate.thumbprint == thumbprint_hex)
    out = []
    for row, participant in session.execute(query.order_by(ParticipantCertificate.id)).all():
        problem = registration_problem(row, participant, trusted)
        if problem is not None:
            log.warning("trust: participant certificate %s (%s %s %s) refused on read: %s", row.id, row.domain,
                        row.country, row.group, problem)
            if not include_invalid:
                continue
        out.append(Registration(row, participant, problem))
    return out


def trusted_scas(session: Session, domain: str, country: str, *, anchor_cert: x509.Certificate | None = None
                 ) -> list[x509.Certificate]:
    """The signing certificate authorities a participant registered, that pass the anchor check."""
    return [r.certificate for r in registrations(session, domain=domain, country=country, group="SCA",
                                                 anchor_cert=anchor_cert)]


def up_certificate(session: Session, thumbprint_hex: str, *, anchor_cert: x509.Certificate | None = None
                   ) -> Registration | None:
    """The registered upload certificate with this thumbprint, when it passes the anchor check."""
    found = registrations(session, group="UP", thumbprint_hex=thumbprint_hex, anchor_cert=anchor_cert)
    return found[0] if found else None


def target_for(session: Session, country: str) -> Target:
    """The permission target of a participant: its reference country (alpha-2 or alpha-3 code)."""
    column = Country.iso2 if len(country) == 2 else Country.iso3
    iso3 = session.execute(select(Country.iso3).where(column == country)).scalar()
    return Target(country_iso3=iso3)


def _principal_countries(session: Session, principal: Principal) -> set[str]:
    """Alpha-2 and alpha-3 codes of the countries the principal's grants are scoped to."""
    iso3s = {g.country_iso3 for g in principal.grants if g.country_iso3}
    if not iso3s:
        return set()
    rows = session.execute(select(Country.iso3, Country.iso2).where(Country.iso3.in_(iso3s))).all()
    return {c for row in rows for c in row if c}


# ---------------------------------------------------------------- onboarding


def read_certificate(data: bytes | str) -> x509.Certificate:
    """A certificate from DER, PEM or base64 (DER is read as it is, see ``keys.load_certificate``)."""
    return load_certificate(bytes(data) if isinstance(data, bytearray) else data)


def get_or_create_participant(session: Session, domain: str, country: str, name: str | None = None) -> Participant:
    participant = session.execute(select(Participant).where(Participant.domain == domain,
                                                            Participant.country == country)).scalar()
    if participant is None:
        participant = Participant(domain=domain, country=country, name=name or country)
        session.add(participant)
        session.flush()
    elif name and participant.name != name:
        participant.name = name
    return participant


def onboard_participant(session: Session, principal: Principal, *, country: str, group: str, certificate: bytes | str,
                        anchor_key: Any, anchor_cert: x509.Certificate | None = None, domain: str = DEFAULT_DOMAIN,
                        name: str | None = None, now: dt.datetime | None = None) -> ParticipantCertificate:
    """Register a participant's TLS, UP or SCA certificate (DER, PEM or base64), signed by the anchor key.
    The key must match the configured anchor certificate, so that what is written can be read back."""
    authorize(session, principal, "trust.manage")
    trusted = _anchor(anchor_cert)
    check_anchor_key(anchor_key, trusted)
    country, domain = country_code(country), domain_code(domain)
    group = (group or "").strip().upper()
    try:
        cert = read_certificate(certificate)
        der = cert.public_bytes(serialization.Encoding.DER)
    except ValueError as exc:
        raise TrustRejected("TRUST_CERT_UNREADABLE", str(exc)[:200]) from exc
    try:
        tp = pki.check_participant_certificate(cert, group=group, country=country, now=_now(now))
    except Fail as exc:
        raise rejected(exc) from exc
    taken = session.execute(select(ParticipantCertificate.id).where(
        ParticipantCertificate.domain == domain, ParticipantCertificate.group == group,
        ParticipantCertificate.thumbprint == tp)).scalar()
    if taken is not None:
        raise TrustRejected("TRUST_ALREADY_REGISTERED", tp)
    participant = get_or_create_participant(session, domain, country, name)
    message = anchor.registration_message(country=country, domain=domain, group=group, cert_der=der)
    row = ParticipantCertificate(participant_id=participant.id, domain=domain, country=country, group=group,
                                 raw_der=der, thumbprint=tp, kid=kid_of(der), not_before=cert.not_valid_before_utc,
                                 not_after=cert.not_valid_after_utc,
                                 anchor_signature=anchor.sign_registration(message, anchor_key),
                                 created_at=_now(now))
    session.add(row)
    session.flush()
    return row


# ---------------------------------------------------------------- signed uploads


@dataclass
class Signed:
    """A verified upload: the content, the CMS as DER, and the registered UP certificate that signed it."""

    content: bytes
    cms_der: bytes
    uploader: Registration


def _cms_der(data: bytes | str) -> bytes:
    return cms._to_der(data, cms.MAX_CMS_BYTES)  # verify_cms has accepted the same input


def verify_upload(session: Session, principal: Principal, action: str, data: bytes | str, *,
                  now: dt.datetime | None = None, anchor_cert: x509.Certificate | None = None,
                  authorize_now: bool = True) -> Signed:
    """Check a signed upload: the principal may upload somewhere, the CMS is valid, its signer is a
    registered (anchor-checked), current upload certificate, and (unless ``authorize_now`` is False, when
    the caller checks later so that its own codes come first) the principal may act for its participant."""
    require_somewhere(principal, action)
    try:
        signed = cms.verify_cms(data)
    except Fail as exc:
        raise rejected(exc) from exc
    signer_tp = thumbprint(signed.signer.public_bytes(serialization.Encoding.DER))
    found = up_certificate(session, signer_tp, anchor_cert=anchor_cert)
    if found is None:
        raise TrustRejected("TRUST_UPLOADER_UNKNOWN", signer_tp)
    moment = _now(now)
    if not found.row.not_before <= moment <= found.row.not_after:
        raise TrustRejected("TRUST_UPLOADER_EXPIRED",
                            f"valid {iso(found.row.not_before)} to {iso(found.row.not_after)}")
    if authorize_now:
        _authorize_for(session, principal, action, found.participant)
    return Signed(signed.content, _cms_der(data), found)


def _authorize_for(session: Session, principal: Principal, action: str, participant: Participant) -> None:
    authorize(session, principal, action, target_for(session, participant.country))


def _session_country(session: Session, principal: Principal, participant: Participant) -> set[str] | None:
    """None when the principal may act for the participant, else the countries it may act for."""
    if can(principal, "trust.upload", target_for(session, participant.country)):
        return None
    return _principal_countries(session, principal)


def _json_object(content: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise TrustRejected("TRUST_CONTENT_NOT_JSON", str(exc)[:120]) from exc
    if not isinstance(obj, dict):
        raise TrustRejected("TRUST_CONTENT_NOT_JSON", type(obj).__name__)
    return obj


def _flush(session: Session, code: str, detail: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent upload of the same thing
        raise TrustRejected(code, detail) from exc


# ---------------------------------------------------------------- document signers


def upload_dsc(session: Session, principal: Principal, data: bytes | str, *, now: dt.datetime | None = None,
               anchor_cert: x509.Certificate | None = None) -> SignerCertificate:
    """Add a document signer: CMS whose content is the DER certificate, signed by the participant's UP
    certificate; then the checks of :func:`dho.trust.pki.check_dsc`, in their order."""
    moment = _now(now)
    signed = verify_upload(session, principal, "trust.upload", data, now=moment, anchor_cert=anchor_cert,
                           authorize_now=False)
    participant = signed.uploader.participant
    try:
        cert = x509.load_der_x509_certificate(signed.content)
        der = cert.public_bytes(serialization.Encoding.DER)
    except ValueError as exc:
        raise TrustRejected("TRUST_DSC_UNREADABLE", str(exc)[:120]) from exc
    scas = trusted_scas(session, participant.domain, participant.country, anchor_cert=anchor_cert)
    kids = set(session.execute(select(SignerCertificate.kid).where(
        SignerCertificate.domain == participant.domain)).scalars())
    thumbprints = set(session.execute(select(SignerCertificate.thumbprint)).scalars())
    try:
        kid = pki.check_dsc(cert, uploader_country=participant.country, scas=scas, existing_kids=kids,
                            existing_thumbprints=thumbprints, now=moment,
                            session_country=_session_country(session, principal, participant))
    except Fail as exc:
        raise rejected(exc) from exc
    _authorize_for(session, principal, "trust.upload", participant)
    row = SignerCertificate(participant_id=participant.id, domain=participant.domain, country=participant.country,
                            raw_der=der, kid=kid, thumbprint=thumbprint(der),
                            uploader_thumbprint=signed.uploader.row.thumbprint, signature=_b64(signed.cms_der),
                            not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                            usages="".join(sorted(dcc_usages(cert))), created_at=moment, changed_at=moment)
    session.add(row)
    _flush(session, "PKI_DUPLICATE", row.thumbprint)
    return row


def delete_dsc(session: Session, principal: Principal, data: bytes | str, *, now: dt.datetime | None = None,
               anchor_cert: x509.Certificate | None = None) -> SignerCertificate:
    """Withdraw a document signer: CMS of its DER, signed by a UP certificate of the same participant.
    The row stays (``deleted_at``) so that delta downloads can report it."""
    moment = _now(now)
    signed = verify_upload(session, principal, "trust.upload", data, now=moment, anchor_cert=anchor_cert)
    participant = signed.uploader.participant
    row = session.execute(select(SignerCertificate).where(
        SignerCertificate.thumbprint == thumbprint(signed.content),
        SignerCertificate.domain == participant.domain)).scalar()
    if row is None or row.deleted_at is not None:
        raise TrustRejected("TRUST_DSC_UNKNOWN", "already deleted" if row is not None else thumbprint(signed.content))
    if row.participant_id != participant.id:
        raise TrustRejected("TRUST_DSC_NOT_YOURS", f"signer of {row.country}, uploader {participant.country}")
    row.deleted_at = moment
    row.changed_at = moment
    row.delete_signature = _b64(signed.cms_der)
    session.flush()
    return row


@lru_cache(maxsize=8192)
def _upload_binds(signature_b64: str, raw_der: bytes, uploader_tp: str) -> bool:
    """Whether the stored CMS still signs exactly the stored certificate, by the stored UP certificate."""
    try:
        content = cms.verify_cms(signature_b64)
    except Fail:
        return False
    signer_tp = thumbprint(content.signer.public_bytes(serialization.Encoding.DER))
    return content.content == raw_der and signer_tp == uploader_tp


def dsc_problem(row: SignerCertificate, valid_uploaders: dict[str, int]) -> str | None:
    """None when a stored document signer is intact, else what is wrong with it. ``valid_uploaders``
    maps the thumbprints of anchor-checked UP certificates to their participant."""
    if thumbprint(row.raw_der) != row.thumbprint or kid_of(row.raw_der) != row.kid:
        return "the stored thumbprint or kid is not that of the stored certificate"
    if valid_uploaders.get(row.uploader_thumbprint) != row.participant_id:
        return "the uploader is not a valid upload certificate of this participant"
    if not _upload_binds(row.signature, row.raw_der, row.uploader_thumbprint):
        return "the upload signature does not cover the stored certificate"
    return None


# ---------------------------------------------------------------- trust lists


def _entry(kind: str, der: bytes, kid: bytes, timestamp: dt.datetime, country: str, signature: str) -> dict[str, str]:
    return {"kid": _b64(kid), "timestamp": iso(timestamp), "country": country, "certificateType": kind,
            "thumbprint": thumbprint(der), "signature": signature, "rawData": _b64(der)}


def _certificate_type(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().upper()
    if text not in CERTIFICATE_TYPES.values():
        raise TrustRejected("TRUST_BAD_TYPE", repr(value)[:40])
    return text


def _valid_uploaders(session: Session, domain: str, anchor_cert: x509.Certificate | None) -> dict[str, int]:
    return {r.row.thumbprint: r.row.participant_id
            for r in registrations(session, domain=domain, group="UP", anchor_cert=anchor_cert)}


def active_dscs(session: Session, domain: str = DEFAULT_DOMAIN, *, country: str | None = None,
                now: dt.datetime | None = None, anchor_cert: x509.Certificate | None = None
                ) -> list[SignerCertificate]:
    """Document signers in the trust list now: not deleted, not expired, intact (see :func:`dsc_problem`)."""
    moment = _now(now)
    query = select(SignerCertificate).where(SignerCertificate.domain == domain, SignerCertificate.deleted_at.is_(None),
                                            SignerCertificate.not_after > moment)
    if country is not None:
        query = query.where(SignerCertificate.country == country)
    uploaders = _valid_uploaders(session, domain, anchor_cert)
    out = []
    for row in session.execute(query.order_by(SignerCertificate.id)).scalars():
        problem = dsc_problem(row, uploaders)
        if problem is not None:
            log.warning("trust: document signer %s (%s) left out of the trust list: %s", row.id, row.country, problem)
            continue
        out.append(row)
    return out


def trust_list(session: Session, domain: str = DEFAULT_DOMAIN, *, cert_type: str | None = None,
               country: str | None = None, since: dt.datetime | None = None, page: int | None = None,
               size: int | None = None, now: dt.datetime | None = None,
               anchor_cert: x509.Certificate | None = None) -> list[dict[str, str]]:
    """The trust list in the gateway layout (``kid``, ``timestamp``, ``country``, ``certificateType``,
    ``thumbprint``, ``signature``, ``rawData``), oldest first. ``since`` keeps entries added after it;
    ``page`` (from 0) and ``size`` (1 to 1000) cut one page."""
    domain = domain_code(domain)
    kind = _certificate_type(cert_type)
    country = country_code(country) if country is not None else None
    if page is not None or size is not None:
        if size is None:
            size = 100
        if page is None:
            page = 0
        if isinstance(page, bool) or isinstance(size, bool) or page < 0 or not 1 <= size <= PAGE_SIZE_MAX:
            raise TrustRejected("TRUST_BAD_PAGE", f"page {page}, size {size}")
    entries: list[tuple[dt.datetime, int, dict[str, str]]] = []
    if kind in (None, "DSC"):
        for row in active_dscs(session, domain, country=country, now=now, anchor_cert=anchor_cert):
            entries.append((row.created_at, 0, _entry("DSC", row.raw_der, row.kid, row.created_at, row.country,
                                                      row.signature)))
    groups = [g for g, t in CERTIFICATE_TYPES.items() if g != "DSC" and kind in (None, t)]
    for group in groups:
        for reg in registrations(session, domain=domain, country=country, group=group, anchor_cert=anchor_cert):
            r = reg.row
            entries.append((r.created_at, 1, _entry(CERTIFICATE_TYPES[group], r.raw_der, r.kid, r.created_at,
                                                    r.country, r.anchor_signature)))
    if since is not None:
        entries = [e for e in entries if e[0] > since]
    entries.sort(key=lambda e: (e[0], e[1], e[2]["thumbprint"]))
    items = [e[2] for e in entries]
    if size is not None and page is not None:
        items = items[page * size:(page + 1) * size]
    return items


def last_modified(session: Session, domain: str = DEFAULT_DOMAIN, *, now: dt.datetime | None = None
                  ) -> dt.datetime | None:
    """When the trust list last changed: the latest registration, upload or deletion, or the latest
    expiry of a document signer that has already happened (an expiry changes the list too)."""
    moment = _now(now)
    candidates = [
        session.execute(select(func.max(ParticipantCertificate.created_at)).where(
            ParticipantCertificate.domain == domain)).scalar(),
        session.execute(select(func.max(SignerCertificate.changed_at)).where(
            SignerCertificate.domain == domain)).scalar(),
        session.execute(select(func.max(SignerCertificate.not_after)).where(
            SignerCertificate.domain == domain, SignerCertificate.not_after <= moment)).scalar(),
    ]
    found = [c for c in candidates if c is not None]
    return max(found) if found else None


def trust_list_changes(session: Session, domain: str = DEFAULT_DOMAIN, *, since: dt.datetime,
                       now: dt.datetime | None = None, anchor_cert: x509.Certificate | None = None) -> dict[str, Any]:
    """The delta form: entries added after ``since``, and the document signers deleted or expired since."""
    moment = _now(now)
    domain = domain_code(domain)
    gone = []
    rows = session.execute(select(SignerCertificate).where(SignerCertificate.domain == domain).order_by(
        SignerCertificate.id)).scalars()
    for row in rows:
        when = row.deleted_at if row.deleted_at is not None else (row.not_after if row.not_after <= moment else None)
        if when is not None and when > since and row.created_at <= since:
            gone.append({"kid": _b64(row.kid), "thumbprint": row.thumbprint, "country": row.country,
                         "certificateType": "DSC", "timestamp": iso(when),
                         "reason": "deleted" if row.deleted_at is not None else "expired"})
    return {"since": iso(since), "entries": trust_list(session, domain, since=since, now=moment,
                                                       anchor_cert=anchor_cert), "deleted": gone}


# ---------------------------------------------------------------- revocation


def upload_batch(session: Session, principal: Principal, data: bytes | str, *, now: dt.datetime | None = None,
                 anchor_cert: x509.Certificate | None = None) -> RevocationBatch:
    """Store a revocation batch: CMS whose content is the batch JSON (gateway layout), signed by a UP
    certificate of the batch's country; at most 1000 entries, an expiry in the future, a kid (when
    given) of one of the country's document signers."""
    moment = _now(now)
    signed = verify_upload(session, principal, "trust.upload", data, now=moment, anchor_cert=anchor_cert)
    participant = signed.uploader.participant
    try:
        batch = revocation.validate_batch(_json_object(signed.content), now=moment)
    except Fail as exc:
        raise rejected(exc) from exc
    if batch.country != participant.country:
        raise TrustRejected("TRUST_BATCH_COUNTRY", f"batch of {batch.country}, uploader {participant.country}")
    if batch.kid is not None:
        known = session.execute(select(SignerCertificate.id).where(
            SignerCertificate.domain == participant.domain, SignerCertificate.kid == batch.kid,
            SignerCertificate.participant_id == participant.id)).scalar()
        if known is None:
            raise TrustRejected("TRUST_BATCH_KID_UNKNOWN", _b64(batch.kid))
    row = RevocationBatch(batch_id=str(uuid.uuid4()), participant_id=participant.id, domain=participant.domain,
                          country=batch.country, kid=batch.kid, hash_type=batch.hash_type, expires=batch.expires,
                          deleted=False, changed=moment, signed_cms=_b64(signed.cms_der),
                          uploader_thumbprint=signed.uploader.row.thumbprint, created_at=moment)
    session.add(row)
    session.flush()
    session.add_all(RevocationEntry(batch_id=row.batch_id, hash=h) for h in batch.hashes)
    session.flush()
    return row


def delete_batch(session: Session, principal: Principal, data: bytes | str, *, now: dt.datetime | None = None,
                 anchor_cert: x509.Certificate | None = None) -> RevocationBatch:
    """Delete a batch: CMS of ``{"batchId": "..."}`` signed by a UP certificate of the batch's country.
    The batch row stays, marked deleted, so that delta downloads report it; its entries go."""
    moment = _now(now)
    signed = verify_upload(session, principal, "trust.upload", data, now=moment, anchor_cert=anchor_cert)
    participant = signed.uploader.participant
    obj = _json_object(signed.content)
    batch_id = obj.get("batchId")
    row = session.get(RevocationBatch, batch_id) if isinstance(batch_id, str) and _UUID.fullmatch(batch_id) else None
    if row is None:
        raise TrustRejected("TRUST_BATCH_UNKNOWN", repr(batch_id)[:60])
    if row.deleted:
        raise TrustRejected("TRUST_BATCH_DELETED", row.batch_id)
    if row.participant_id != participant.id:
        raise TrustRejected("TRUST_BATCH_COUNTRY", f"batch of {row.country}, uploader {participant.country}")
    row.deleted = True
    row.changed = moment
    row.delete_cms = _b64(signed.cms_der)
    session.execute(delete(RevocationEntry).where(RevocationEntry.batch_id == row.batch_id))
    session.flush()
    return row


def list_batches(session: Session, *, since: dt.datetime | None = None, domain: str = DEFAULT_DOMAIN,
                 limit: int = BATCH_LIST_MAX) -> dict[str, Any]:
    """Batches changed after ``since`` (all when None), oldest change first, at most ``limit``: the
    gateway's ``{"more": bool, "batches": [{"batchId", "country", "date", "deleted"}]}``."""
    query = select(RevocationBatch).where(RevocationBatch.domain == domain)
    if since is not None:
        query = query.where(RevocationBatch.changed > since)
    rows = list(session.execute(query.order_by(RevocationBatch.changed, RevocationBatch.batch_id)
                                .limit(limit + 1)).scalars())
    return {"more": len(rows) > limit,
            "batches": [{"batchId": r.batch_id, "country": r.country, "date": iso(r.changed), "deleted": r.deleted}
                        for r in rows[:limit]]}


def get_batch(session: Session, batch_id: str) -> RevocationBatch:
    row = session.get(RevocationBatch, batch_id) if isinstance(batch_id, str) and _UUID.fullmatch(batch_id) else None
    if row is None:
        raise TrustRejected("TRUST_BATCH_UNKNOWN", repr(batch_id)[:60])
    if row.deleted:
        raise TrustRejected("TRUST_BATCH_DELETED", row.batch_id)
    return row


def batch_json(session: Session, row: RevocationBatch) -> dict[str, Any]:
    """The batch in the gateway JSON layout, from the stored entries."""
    hashes = session.execute(select(RevocationEntry.hash).where(RevocationEntry.batch_id == row.batch_id)
                             .order_by(RevocationEntry.hash)).scalars()
    return {"country": row.country, "expires": iso(row.expires),
            "kid": _b64(row.kid) if row.kid is not None else None, "hashType": row.hash_type,
            "entries": [{"hash": _b64(h)} for h in hashes]}


def export_batches(session: Session, *, since: dt.datetime | None = None, domain: str = DEFAULT_DOMAIN
                   ) -> list[dict[str, Any]]:
    """Every batch changed after ``since`` as a verifier downloads it: ``{"batchId", "date", "deleted",
    "cms"}`` where ``cms`` is the signed batch (absent when deleted). See trustlist.load_revocation."""
    query = select(RevocationBatch).where(RevocationBatch.domain == domain)
    if since is not None:
        query = query.where(RevocationBatch.changed > since)
    out = []
    for row in session.execute(query.order_by(RevocationBatch.changed, RevocationBatch.batch_id)).scalars():
        item: dict[str, Any] = {"batchId": row.batch_id, "country": row.country, "date": iso(row.changed),
                                "deleted": row.deleted}
        if not row.deleted:
            item["cms"] = row.signed_cms
        out.append(item)
    return out


# ---------------------------------------------------------------- business rules


def upload_rule(session: Session, principal: Principal, data: bytes | str, *, now: dt.datetime | None = None,
                anchor_cert: x509.Certificate | None = None) -> BusinessRule:
    """Store a business rule: CMS of the rule JSON (gateway format, checked by parse_rule), signed by a UP
    certificate of the rule's country; each new version of an identifier must be higher than the last."""
    moment = _now(now)
    signed = verify_upload(session, principal, "trust.upload", data, now=moment, anchor_cert=anchor_cert)
    participant = signed.uploader.participant
    obj = _json_object(signed.content)
    try:
        rule = rules_mod.parse_rule(obj)
    except rules_mod.RuleError as exc:
        raise TrustRejected("TRUST_RULE_INVALID", str(exc)[:300],
                            problems=[FieldError(f, m) for f, m in exc.problems[:50]]) from exc
    if rule.country != participant.country:
        raise TrustRejected("TRUST_RULE_COUNTRY", f"rule of {rule.country}, uploader {participant.country}")
    versions = session.execute(select(BusinessRule.version).where(BusinessRule.identifier == rule.identifier)).scalars()
    newest = max((rules_mod._semver(v) for v in versions), default=None)
    if newest is not None and newest >= rule.version_key:
        latest = ".".join(map(str, newest))
        raise TrustRejected("TRUST_RULE_VERSION", f"{rule.identifier} {rule.version}, latest {latest}")
    row = BusinessRule(participant_id=participant.id, identifier=rule.identifier, version=rule.version,
                       country=rule.country, rule_type=rule.type, certificate_type=rule.certificate_type,
                       valid_from=rule.valid_from.astimezone(dt.UTC), valid_to=rule.valid_to.astimezone(dt.UTC),
                       raw_json=json.dumps(obj, ensure_ascii=False, sort_keys=True), signed_cms=_b64(signed.cms_der),
                       uploader_thumbprint=signed.uploader.row.thumbprint, created_at=moment)
    session.add(row)
    _flush(session, "TRUST_RULE_VERSION", f"{rule.identifier} {rule.version}")
    return row


def list_rules(session: Session, country: str) -> list[BusinessRule]:
    country = country_code(country)
    return list(session.execute(select(BusinessRule).where(BusinessRule.country == country)
                                .order_by(BusinessRule.identifier, BusinessRule.id)).scalars())


def rule_json(row: BusinessRule) -> dict[str, Any]:
    return {"identifier": row.identifier, "version": row.version, "country": row.country, "type": row.rule_type,
            "certificateType": row.certificate_type, "validFrom": iso(row.valid_from), "validTo": iso(row.valid_to),
            "rule": json.loads(row.raw_json), "cms": row.signed_cms}


# ---------------------------------------------------------------- DID documents


def did_path(domain: str, country: str | None = None, usage: str | None = None) -> str:
    parts = ["did", domain_code(domain)]
    if country is not None:
        parts.append(country_code(country))
    if usage is not None:
        text = usage.strip().upper() if isinstance(usage, str) else ""
        if text not in DID_USAGES:
            raise TrustRejected("TRUST_BAD_USAGE", repr(usage)[:40])
        parts.append(text)
    return "/".join(parts)


def build_did(session: Session, *, did_id: str, domain: str = DEFAULT_DOMAIN, country: str | None = None,
              usage: str | None = None, now: dt.datetime | None = None,
              anchor_cert: x509.Certificate | None = None) -> dict[str, Any]:
    """The unsigned DID trust list of a domain (optionally one participant, one usage): document
    signers with their issuing SCA in ``x5c``, and the participants' registered certificates."""
    path = did_path(domain, country, usage)  # validates the three values
    parts = path.split("/")
    domain, country = parts[1], (parts[2] if len(parts) > 2 else None)
    usage = parts[3] if len(parts) > 3 else None
    keys: list[did.DidKey] = []
    if usage in (None, "DSC"):
        scas: dict[str, list[x509.Certificate]] = {}
        for row in active_dscs(session, domain, country=country, now=now, anchor_cert=anchor_cert):
            cert = x509.load_der_x509_certificate(row.raw_der)
            if row.country not in scas:
                scas[row.country] = trusted_scas(session, domain, row.country, anchor_cert=anchor_cert)
            issuer = pki.find_issuer(cert, scas[row.country], row.country)
            keys.append(did.DidKey.from_certificate(cert, chain=[issuer] if issuer is not None else [], domain=domain,
                                                    participant=row.country, usage="DSC"))
    for group in ("SCA", "UP", "TLS"):
        if usage not in (None, group):
            continue
        for reg in registrations(session, domain=domain, country=country, group=group, anchor_cert=anchor_cert):
            keys.append(did.DidKey.from_certificate(reg.certificate, domain=domain, participant=reg.row.country,
                                                    usage=group))
    return did.build_did_document(did_id, keys)


def sign_did_document(session: Session, principal: Principal, anchor_key: Any, *, did_base: str,
                      domain: str = DEFAULT_DOMAIN, country: str | None = None, usage: str | None = None,
                      now: dt.datetime | None = None, anchor_cert: x509.Certificate | None = None,
                      store: bool = True) -> tuple[str, dict[str, Any]]:
    """Build, sign with the anchor key, and (when ``store``) keep the DID trust list for the API to serve.
    Returns (path, signed document). Called from the command line only."""
    authorize(session, principal, "trust.manage")
    trusted = _anchor(anchor_cert)
    check_anchor_key(anchor_key, trusted)
    path = did_path(domain, country, usage)
    did_id = did_base.rstrip(":") + ":" + ":".join(p.lower() for p in path.split("/")[1:])
    doc = build_did(session, did_id=did_id, domain=domain, country=country, usage=usage, now=now,
                    anchor_cert=trusted)
    method = did.verification_method_id(did_id, kid_of(trusted.public_bytes(serialization.Encoding.DER)))
    signed = did.sign_did_document(doc, anchor_key, method, created=now)
    if store:
        session.add(SignedDocument(path=path, json=json.dumps(signed, ensure_ascii=False), created_at=_now(now)))
        session.flush()
    return path, signed


def stored_document(session: Session, path: str) -> tuple[str, dt.datetime]:
    """The latest signed document stored under ``path`` and when it was stored."""
    row = session.execute(select(SignedDocument).where(SignedDocument.path == path)
                          .order_by(SignedDocument.created_at.desc(), SignedDocument.id.desc()).limit(1)).scalar()
    if row is None:
        raise TrustRejected("TRUST_NO_DOCUMENT", path)
    return row.json, row.created_at


# ---------------------------------------------------------------- listing for operators


def participants(session: Session, *, anchor_cert: x509.Certificate | None = None) -> list[dict[str, Any]]:
    """Every registered certificate with its participant and whether it passes the anchor check."""
    return [{"domain": r.row.domain, "country": r.row.country, "name": r.participant.name, "group": r.row.group,
             "thumbprint": r.row.thumbprint, "not_after": iso(r.row.not_after), "problem": r.problem}
            for r in registrations(session, anchor_cert=anchor_cert, include_invalid=True)]


def parse_since(value: str | None) -> dt.datetime | None:
    """An ISO 8601 date-time with a zone (``?since=``) or an HTTP date (``If-Modified-Since``), as UTC."""
    if value is None or value == "":
        return None
    from email.utils import parsedate_to_datetime

    text = value.strip()
    if len(text) > 64:
        raise TrustRejected("TRUST_BAD_DATE", text[:40])
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text[:1].isdigit() \
            else parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise TrustRejected("TRUST_BAD_DATE", text[:40]) from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        if text[:1].isdigit():
            raise TrustRejected("TRUST_BAD_DATE", f"{text[:40]} has no time zone")
        moment = moment.replace(tzinfo=dt.UTC)  # HTTP dates are GMT
    return moment.astimezone(dt.UTC)

"""Certificate checks of the trust network: the certificates a participant registers at onboarding
(TLS client, upload, signing certificate authority) and the document signers (DSC) it uploads later.

Pure functions over ``cryptography`` certificates: no database, no network. The caller supplies what
the network already knows (the participant's onboarded SCAs, the kids and thumbprints already stored)
and the current time. Every refusal is a :class:`PkiError` with a stable ``PKI_*`` code; the DSC checks
run in a fixed order so that one input always gives the same code."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dho.trust.keys import USAGE_OIDS, key_kind, kid_of, thumbprint
from dho.trust.outcome import Fail, define

GROUPS = ("TLS", "UP", "SCA")
SCA_MAX_YEARS = 4
DSC_MAX_YEARS = 2
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 3072
_COUNTRY = re.compile(r"^[A-Z]{2,3}$")

_O = "onboarding"
_U = "upload"
# Onboarding: a participant registers a TLS, UP or SCA certificate.
define("PKI_GROUP", _O, "Unknown certificate group", "Groupe de certificats inconnu")
define("PKI_PARTICIPANT_COUNTRY", _O, "The certificate's country is not the participant's country",
       "Le pays du certificat n’est pas celui du participant")
define("PKI_PARTICIPANT_EXPIRED", _O, "The certificate has expired", "Le certificat a expiré")
define("PKI_PARTICIPANT_NOT_YET_VALID", _O, "The certificate is not valid yet", "Le certificat n’est pas encore valide")
define("PKI_PARTICIPANT_ALGORITHM", _O,
       "Key algorithm not allowed (ECDSA P-256 or RSA 2048 to 3072 bits)",
       "Algorithme de clé non autorisé (ECDSA P-256 ou RSA de 2048 à 3072 bits)")
define("PKI_SCA_NOT_CA", _O,
       "A signing certificate authority must be a CA certificate allowed to sign certificates",
       "Une autorité de certification signataire doit être un certificat d’AC autorisé à signer des certificats")
define("PKI_SCA_SPAN", _O, "A signing certificate authority may be valid for at most 4 years",
       "Une autorité de certification signataire peut être valide 4 ans au plus")
define("PKI_TLS_CLIENT_AUTH", _O, "A TLS certificate must allow client authentication",
       "Un certificat TLS doit permettre l’authentification du client")
define("PKI_BAD_EXTENSION", _O, "The certificate has a malformed extension",
       "Le certificat contient une extension mal formée")
# Upload: a participant uploads a document signer certificate.
define("PKI_UPLOADER_COUNTRY", _U, "The upload certificate does not belong to the uploading participant",
       "Le certificat de téléversement n’appartient pas au participant qui téléverse")
define("PKI_DSC_COUNTRY", _U, "The document signer's country is not the uploader's country",
       "Le pays du signataire de documents n’est pas celui du participant qui téléverse")
define("PKI_NO_CHAIN", _U, "The document signer was not issued by an onboarded signing certificate authority",
       "Le signataire de documents n’a pas été émis par une autorité de certification signataire enregistrée")
define("PKI_VALIDITY_NESTING", _U,
       "The document signer's validity goes beyond that of its certificate authority",
       "La validité du signataire de documents dépasse celle de son autorité de certification")
define("PKI_ALGORITHM", _U, "Key algorithm not allowed (ECDSA P-256 or RSA 2048 to 3072 bits)",
       "Algorithme de clé non autorisé (ECDSA P-256 ou RSA de 2048 à 3072 bits)")
define("PKI_VALIDITY_SPAN", _U, "A document signer may be valid for at most 2 years",
       "Un signataire de documents peut être valide 2 ans au plus")
define("PKI_EXPIRED", _U, "The document signer has expired", "Le signataire de documents a expiré")
define("PKI_NOT_YET_VALID", _U, "The document signer is not valid yet",
       "Le signataire de documents n’est pas encore valide")
define("PKI_KEY_USAGE", _U, "The document signer's key usage does not allow signing health certificates",
       "L’usage de clé du signataire de documents ne permet pas de signer des certificats de santé")
define("PKI_DUPLICATE", _U, "This document signer is already registered",
       "Ce signataire de documents est déjà enregistré")
define("PKI_KID_COLLISION", _U,
       "Another certificate already has this key identifier (kid); issue a new certificate",
       "Un autre certificat a déjà cet identifiant de clé (kid)\u00a0; émettez un nouveau certificat")


class PkiError(Fail):
    """A refused certificate or CMS message. ``code`` is stable; ``detail`` says what was seen."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


# --- small helpers -------------------------------------------------------------------------------------

def add_years(when: datetime, years: int) -> datetime:
    """The same calendar instant ``years`` later (29 February becomes 28 February)."""
    try:
        return when.replace(year=when.year + years)
    except ValueError:
        return when.replace(year=when.year + years, day=28)


def subject_country(cert: x509.Certificate) -> str | None:
    """The subject's country (C), upper case, or None when the subject has none."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
    return str(attrs[0].value).strip().upper() if attrs else None


def _codes(country: str | Collection[str]) -> frozenset[str]:
    """Accept one code or several spellings of one participant (e.g. {"XA", "XXA"})."""
    items = [country] if isinstance(country, str) else list(country)
    return frozenset(str(c).strip().upper() for c in items if str(c).strip())


def _ext(cert: x509.Certificate, cls):
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise PkiError("PKI_BAD_EXTENSION", f"{cls.__name__}: {exc}") from exc


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def check_algorithm(cert: x509.Certificate, *, code: str = "PKI_ALGORITHM") -> str:
    """Refuse keys outside the policy: ECDSA on P-256, or RSA of 2048 to 3072 bits (document signers
    then sign with RSA-PSS). Returns the key kind ('EC-P256', 'RSA-2048'...)."""
    try:
        public = cert.public_key()
    except (ValueError, TypeError) as exc:  # unsupported or broken key encoding
        raise PkiError(code, f"unreadable public key: {exc}") from exc
    kind = key_kind(public)
    if isinstance(public, ec.EllipticCurvePublicKey) and kind == "EC-P256":
        return kind
    if isinstance(public, rsa.RSAPublicKey) and RSA_MIN_BITS <= public.key_size <= RSA_MAX_BITS:
        return kind
    name = kind if kind != "OTHER" else type(public).__name__
    raise PkiError(code, name)


def _check_current(cert: x509.Certificate, now: datetime, expired: str, not_yet: str) -> None:
    if now < cert.not_valid_before_utc:
        raise PkiError(not_yet, f"valid from {cert.not_valid_before_utc.isoformat()}")
    if now > cert.not_valid_after_utc:
        raise PkiError(expired, f"expired {cert.not_valid_after_utc.isoformat()}")


# --- onboarding ----------------------------------------------------------------------------------------

def check_participant_certificate(cert: x509.Certificate, *, group: str, country: str | Collection[str],
                                  now: datetime) -> str:
    """Check a certificate a participant registers in ``group`` (TLS, UP or SCA). ``country`` is the
    participant's code, or the set of its spellings. Returns the certificate's SHA-256 thumbprint."""
    if group not in GROUPS:
        raise PkiError("PKI_GROUP", repr(group))
    found = subject_country(cert)
    if found is None or found not in _codes(country):
        raise PkiError("PKI_PARTICIPANT_COUNTRY", f"subject C={found or 'none'}, participant {sorted(_codes(country))}")
    _check_current(cert, now, "PKI_PARTICIPANT_EXPIRED", "PKI_PARTICIPANT_NOT_YET_VALID")
    check_algorithm(cert, code="PKI_PARTICIPANT_ALGORITHM")
    if group == "SCA":
        constraints = _ext(cert, x509.BasicConstraints)
        usage = _ext(cert, x509.KeyUsage)
        if constraints is None or not constraints.ca:
            raise PkiError("PKI_SCA_NOT_CA", "basicConstraints CA is not set")
        if usage is None or not usage.key_cert_sign:
            raise PkiError("PKI_SCA_NOT_CA", "keyUsage keyCertSign is not set")
        if cert.not_valid_after_utc > add_years(cert.not_valid_before_utc, SCA_MAX_YEARS):
            raise PkiError("PKI_SCA_SPAN", _span(cert))
    elif group == "TLS":
        eku = _ext(cert, x509.ExtendedKeyUsage)
        if eku is None or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise PkiError("PKI_TLS_CLIENT_AUTH", "no clientAuth extended key usage")
    return thumbprint(_der(cert))


def _span(cert: x509.Certificate) -> str:
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    return f"{cert.not_valid_before_utc.date()} to {cert.not_valid_after_utc.date()} ({days} days)"


# --- document signers ----------------------------------------------------------------------------------

def find_issuer(dsc: x509.Certificate, scas: Iterable[x509.Certificate],
                country: str | Collection[str] | None = None) -> x509.Certificate | None:
    """The SCA that issued ``dsc``: subject country in ``country`` (when given; one code or a set of
    spellings), subject == DSC issuer, SKI == DSC AKI (when the DSC has an AKI; without one the name and
    signature decide), and a valid signature."""
    aki = _ext(dsc, x509.AuthorityKeyIdentifier)
    wanted = aki.key_identifier if aki is not None else None
    countries = _codes(country) if country is not None else None
    for sca in scas:
        if countries is not None and subject_country(sca) not in countries:
            continue
        if sca.subject != dsc.issuer:
            continue
        if wanted is not None:
            ski = _ext(sca, x509.SubjectKeyIdentifier)
            if ski is None or ski.digest != wanted:
                continue
        try:
            dsc.verify_directly_issued_by(sca)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return sca
    return None


def check_dsc(dsc: x509.Certificate, *, uploader_country: str | Collection[str],
              scas: list[x509.Certificate], existing_kids: set[bytes], existing_thumbprints: set[str],
              now: datetime, session_country: str | Collection[str] | None = None) -> bytes:
    """Check a document signer before it joins the trust list, in this order (first failure wins):

    1. uploader's country: ``uploader_country`` (the country of the participant whose UP certificate
       signed the CMS) is a country code and, when ``session_country`` (the participant authenticated
       for this request) is given, the same participant: PKI_UPLOADER_COUNTRY;
    2. DSC country: subject C is the uploader's country: PKI_DSC_COUNTRY;
    3. chain: one of ``scas`` (the uploader's onboarded SCAs) issued it: PKI_NO_CHAIN;
    4. validity nesting: the DSC's validity lies inside the SCA's: PKI_VALIDITY_NESTING;
    5. algorithm policy: PKI_ALGORITHM;
    6. validity: at most 2 years, current: PKI_VALIDITY_SPAN, PKI_EXPIRED, PKI_NOT_YET_VALID;
    7. key usage: a DCC usage OID when there is an EKU, digitalSignature when there is a keyUsage:
       PKI_KEY_USAGE;
    8. duplicates: thumbprint already stored: PKI_DUPLICATE;
    9. kid collision: another certificate already has this kid: PKI_KID_COLLISION.

    Returns the kid (first 8 bytes of the SHA-256 of the DER certificate)."""
    uploader = _codes(uploader_country)
    if not uploader or not all(_COUNTRY.fullmatch(c) for c in uploader):
        raise PkiError("PKI_UPLOADER_COUNTRY", f"not a country code: {sorted(uploader)}")
    if session_country is not None and not (uploader & _codes(session_country)):
        raise PkiError("PKI_UPLOADER_COUNTRY",
                       f"signed by {sorted(uploader)}, session of {sorted(_codes(session_country))}")

    country = subject_country(dsc)
    if country is None or country not in uploader:
        raise PkiError("PKI_DSC_COUNTRY", f"subject C={country or 'none'}, uploader {sorted(uploader)}")

    sca = find_issuer(dsc, scas, country)
    if sca is None:
        aki = _ext(dsc, x509.AuthorityKeyIdentifier)
        aki_hex = aki.key_identifier.hex() if aki is not None and aki.key_identifier else "none"
        raise PkiError("PKI_NO_CHAIN", f"issuer {dsc.issuer.rfc4514_string()}, AKI {aki_hex}, "
                                       f"{len(scas)} SCA(s) on file")

    if dsc.not_valid_before_utc < sca.not_valid_before_utc or dsc.not_valid_after_utc > sca.not_valid_after_utc:
        raise PkiError("PKI_VALIDITY_NESTING", f"DSC {_span(dsc)}, SCA {_span(sca)}")

    check_algorithm(dsc)

    if dsc.not_valid_after_utc > add_years(dsc.not_valid_before_utc, DSC_MAX_YEARS):
        raise PkiError("PKI_VALIDITY_SPAN", _span(dsc))
    _check_current(dsc, now, "PKI_EXPIRED", "PKI_NOT_YET_VALID")

    eku = _ext(dsc, x509.ExtendedKeyUsage)
    if eku is not None and not any(o.dotted_string in USAGE_OIDS for o in eku):
        raise PkiError("PKI_KEY_USAGE", "extended key usage without a DCC usage OID")
    usage = _ext(dsc, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise PkiError("PKI_KEY_USAGE", "keyUsage without digitalSignature")

    der = _der(dsc)
    if thumbprint(der) in existing_thumbprints:
        raise PkiError("PKI_DUPLICATE", thumbprint(der))
    kid = kid_of(der)
    if kid in existing_kids:
        raise PkiError("PKI_KID_COLLISION", kid.hex())
    return kid

"""Issuing health certificates: an EU DCC (vaccination, test or recovery) or a WHO DDCC:VS payload, checked
against its schema, signed into an HCERT ``HC1:`` string, with QR images and a printable summary.

The certificate never outlives its document-signer certificate: ``exp`` is capped at the DSC's notAfter."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from dho.i18n import _
from dho.trust import cose, hcert
from dho.trust.base45 import b45encode
from dho.trust.keys import kid_of
from dho.trust.schemas import check_payload

DCC_VERSION = "1.3.0"
DDCC_VERSION = "1.0.0"
MAX_NAME = 80  # the EU schema's limit for names and their transliterations


class IssueError(ValueError):
    """The payload or the request is not acceptable; the message says why."""


def transliterate(name: str) -> str:
    """ICAO 9303 machine-readable form of a name: upper-case A-Z, '<' for spaces and hyphens."""
    table = {"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "Å": "AA", "Æ": "AE", "Ø": "OE", "É": "E", "È": "E",
             "Ê": "E", "Ë": "E", "À": "A", "Â": "A", "Á": "A", "Ã": "A", "Ç": "C", "Î": "I", "Ï": "I", "Í": "I",
             "Ô": "O", "Ó": "O", "Õ": "O", "Ù": "U", "Û": "U", "Ú": "U", "Ñ": "N", "Ý": "Y", "Ÿ": "Y"}
    out = []
    for ch in name.upper():
        if "A" <= ch <= "Z":
            out.append(ch)
        elif ch in " -'":
            out.append("<")
        elif ch in table:
            out.append(table[ch])
    return "".join(out).strip("<")[:MAX_NAME]


def uvci(country: str, issuer_code: str, serial: str) -> str:
    return f"URN:UVCI:01:{country.upper()}:{issuer_code.upper()}/{serial.upper()}"


def _names(family: str, given: str | None) -> dict[str, str]:
    family, given = (family or "").strip(), (given or "").strip()
    if not family and not given:
        raise IssueError("a family name or a given name is needed")
    nam: dict[str, str] = {}
    if family:
        nam.update(fn=family, fnt=transliterate(family))
    if given:
        nam.update(gn=given, gnt=transliterate(given))
    for k, v in nam.items():
        if len(v) > MAX_NAME:
            raise IssueError(f"the name ({k}) is longer than {MAX_NAME} characters")
    return nam


def dcc_vaccination(*, family: str, given: str | None, dob: str, country: str, issuer: str, ci: str,
                    dose: int, total: int, date_: str, product: str = "EU/1/20/1528",
                    manufacturer: str = "ORG-100030215", vaccine: str = "J07BX03",
                    disease: str = "840539006") -> dict:
    return {"ver": DCC_VERSION, "nam": _names(family, given), "dob": dob,
            "v": [{"tg": disease, "vp": vaccine, "mp": product, "ma": manufacturer, "dn": dose, "sd": total,
                   "dt": date_, "co": country.upper(), "is": issuer, "ci": ci}]}


def dcc_test(*, family: str, given: str | None, dob: str, country: str, issuer: str, ci: str,
             sample_time: str, result: str = "260415000", test_type: str = "LP6464-4", centre: str = "",
             device: str | None = None, disease: str = "840539006") -> dict:
    entry = {"tg": disease, "tt": test_type, "sc": sample_time, "tr": result, "co": country.upper(),
             "is": issuer, "ci": ci}
    if centre:
        entry["tc"] = centre
    if device:
        entry["ma"] = device
    return {"ver": DCC_VERSION, "nam": _names(family, given), "dob": dob, "t": [entry]}


def dcc_recovery(*, family: str, given: str | None, dob: str, country: str, issuer: str, ci: str,
                 first_positive: str, valid_from: str, valid_until: str, disease: str = "840539006") -> dict:
    return {"ver": DCC_VERSION, "nam": _names(family, given), "dob": dob,
            "r": [{"tg": disease, "fr": first_positive, "co": country.upper(), "is": issuer, "df": valid_from,
                   "du": valid_until, "ci": ci}]}


def ddcc_vaccination(*, name: str, birth_date: str, vaccine: str, date_: str, dose: int, country3: str,
                     issuer: str, hcid: str, total: int | None = None, brand: str | None = None,
                     lot: str | None = None, centre: str | None = None, disease: str | None = None,
                     identifier: str | None = None, sex: str | None = None) -> dict:
    vac: dict[str, Any] = {"vaccine": vaccine, "date": date_, "dose": dose, "country": country3.upper()}
    for k, v in (("totalDoses", total), ("brand", brand), ("lot", lot), ("centre", centre), ("disease", disease)):
        if v is not None and v != "":
            vac[k] = v
    doc: dict[str, Any] = {"name": name, "birthDate": birth_date, "vaccination": vac,
                           "certificate": {"issuer": issuer, "hcid": hcid, "version": DDCC_VERSION}}
    if identifier:
        doc["identifier"] = identifier
    if sex:
        doc["sex"] = sex
    return doc


@dataclass
class Issued:
    text: str
    kid: bytes
    iat: int
    exp: int
    kind: str

    def png(self, scale: int = 4) -> bytes:
        from dho.trust.qr import encode_png

        return encode_png(self.text, scale=scale, error="Q")

    def svg(self, scale: int = 4) -> str:
        from dho.trust.qr import encode_svg

        return encode_svg(self.text, scale=scale, error="Q")


def build_hcert(payload: dict, *, dsc_cert: x509.Certificate, dsc_key, issuer_country: str,
                kind: str = "eu-dcc", valid_for: timedelta = timedelta(days=365), now: datetime | None = None,
                check_schema: bool = True) -> Issued:
    """Sign a payload into an ``HC1:`` string. Refuses a payload that fails its schema, a DSC that is not
    valid now, and a key that does not belong to the certificate."""
    if kind not in ("eu-dcc", "ddcc"):
        raise IssueError(f"unknown certificate kind {kind!r}")
    if check_schema:
        problem = check_payload(kind, payload)
        if problem:
            raise IssueError(f"the payload does not follow its schema: {problem}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if not (dsc_cert.not_valid_before_utc <= now <= dsc_cert.not_valid_after_utc):
        raise IssueError("the document-signer certificate is not valid now")
    if dsc_key.public_key().public_numbers() != dsc_cert.public_key().public_numbers():
        raise IssueError("the signing key does not belong to the document-signer certificate")
    iat = int(now.timestamp())
    exp = int(min(now + valid_for, dsc_cert.not_valid_after_utc).timestamp())
    if exp <= iat:
        raise IssueError("the validity period is empty")
    key = hcert.HCERT_EU_DCC if kind == "eu-dcc" else hcert.HCERT_DDCC
    claims = {hcert.CLAIM_ISS: issuer_country.upper(), hcert.CLAIM_IAT: iat, hcert.CLAIM_EXP: exp,
              hcert.CLAIM_HCERT: {key: payload}}
    kid = kid_of(dsc_cert.public_bytes(Encoding.DER))
    signed = cose.encode_sign1(cbor2.dumps(claims), dsc_key, kid)
    text = hcert.PREFIX + b45encode(zlib.compress(signed, 9))
    return Issued(text=text, kid=kid, iat=iat, exp=exp, kind=kind)


def summary(payload: dict) -> list[tuple[str, str]]:
    """Label/value lines for a printable page or a verifier screen, in the current language."""
    lines: list[tuple[str, str]] = []
    if "nam" in payload:
        nam = payload.get("nam") or {}
        lines.append((_("Name"), " ".join(x for x in (nam.get("gn"), nam.get("fn")) if x)))
        lines.append((_("Date of birth"), str(payload.get("dob", ""))))
        for group, label in (("v", _("Vaccination")), ("t", _("Test")), ("r", _("Recovery"))):
            for entry in payload.get(group) or []:
                lines.append((_("Certificate type"), label))
                if group == "v":
                    lines.append((_("Dose"), f"{entry.get('dn')}/{entry.get('sd')}"))
                    lines.append((_("Date of vaccination"), str(entry.get("dt", ""))))
                    lines.append((_("Vaccine product"), str(entry.get("mp", ""))))
                elif group == "t":
                    lines.append((_("Sample taken"), str(entry.get("sc", ""))))
                    lines.append((_("Result"), _("not detected") if entry.get("tr") == "260415000" else _("detected")))
                else:
                    lines.append((_("Valid"), f"{entry.get('df')} – {entry.get('du')}"))
                lines.append((_("Country"), str(entry.get("co", ""))))
                lines.append((_("Issuer"), str(entry.get("is", ""))))
                lines.append((_("Certificate identifier"), str(entry.get("ci", ""))))
    elif "vaccination" in payload:
        vac = payload["vaccination"]
        lines += [(_("Name"), str(payload.get("name", ""))), (_("Date of birth"), str(payload.get("birthDate", ""))),
                  (_("Certificate type"), "Vaccination (WHO DDCC:VS)"), (_("Vaccine"), str(vac.get("vaccine", ""))),
                  (_("Dose"), f"{vac.get('dose')}/{vac.get('totalDoses', '?')}"),
                  (_("Date of vaccination"), str(vac.get("date", ""))), (_("Country"), str(vac.get("country", ""))),
                  (_("Certificate identifier"), str((payload.get("certificate") or {}).get("hcid", "")))]
    return lines


def today() -> str:
    return date.today().isoformat()

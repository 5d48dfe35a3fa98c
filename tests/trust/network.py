"""Helpers shared by the trust network tests: a small network (anchor, participant PKI), signed uploads,
and an HCERT issued with a document signer's key."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dho.trust import hcert, testpki
from dho.trust.cms import sign_cms
from dho.trust.issue import build_hcert, dcc_vaccination
from dho.trust.revocation import revocation_hashes


@dataclass
class Country:
    """One participant's certificates: SCA, UP, TLS and the document signers made so far."""

    code: str
    sca: testpki.Party
    up: testpki.Party
    tls: testpki.Party
    dscs: list[testpki.Party] = field(default_factory=list)

    @classmethod
    def make(cls, code: str) -> Country:
        return cls(code, testpki.make_sca(code), testpki.make_up(code), testpki.make_tls(code))

    def new_dsc(self, **kwargs) -> testpki.Party:  # type: ignore[no-untyped-def]
        dsc = testpki.make_dsc(self.sca, **kwargs)
        self.dscs.append(dsc)
        return dsc

    def sign(self, content: bytes) -> bytes:
        return sign_cms(content, self.up.cert, self.up.key)

    def sign_json(self, obj: dict) -> bytes:
        return self.sign(json.dumps(obj).encode())


@dataclass
class Issued:
    text: str
    signature: bytes
    alg: int
    uvci: str
    country: str

    def hashes(self) -> dict[str, bytes]:
        return revocation_hashes(uci=self.uvci, country=self.country, cose_signature=self.signature, alg=self.alg)


def issue(dsc: testpki.Party, country: str, uvci: str = "URN:UVCI:01:XX:ABCDEF123456#X") -> Issued:
    """An HC1: vaccination certificate signed with the DSC key (dho.trust.issue), with what revocation needs."""
    payload = dcc_vaccination(family="Musterfrau", given="Erika", dob="1964-08-12", country=country,
                              issuer="Ministry of Health", ci=uvci, dose=2, total=2, date_="2021-05-29")
    issued = build_hcert(payload, dsc_cert=dsc.cert, dsc_key=dsc.key, issuer_country=country,
                         valid_for=timedelta(days=30))
    message = hcert.parse_cose(hcert.inflate(hcert.decode_base45(hcert.unprefix(issued.text))))
    return Issued(issued.text, message.signature, message.alg, uvci, country)


def batch(country: str, hashes: list[bytes], *, kid: bytes | None = None, hash_type: str = "SIGNATURE",
          days: int = 30) -> dict:
    expires = (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)
    return {"country": country, "expires": expires.isoformat().replace("+00:00", "Z"),
            "kid": base64.b64encode(kid).decode() if kid is not None else None, "hashType": hash_type,
            "entries": [{"hash": base64.b64encode(h).decode()} for h in hashes]}


def rule(country: str, number: int = 1, version: str = "1.0.0") -> dict:
    """A small acceptance rule: at least two doses."""
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    return {"Identifier": f"VR-{country}-{number:04d}", "Type": "Acceptance", "Country": country, "Version": version,
            "SchemaVersion": "1.3.0", "Engine": "CERTLOGIC", "EngineVersion": "1.0.0",
            "CertificateType": "Vaccination",
            "Description": [{"lang": "en", "desc": "At least two doses"}],
            "ValidFrom": start.isoformat().replace("+00:00", "Z"),
            "ValidTo": (start + timedelta(days=365)).isoformat().replace("+00:00", "Z"),
            "AffectedFields": ["v.0.dn"], "Logic": {">=": [{"var": "payload.v.0.dn"}, 2]}}

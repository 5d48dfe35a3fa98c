"""A small demo trust network: a demo trust anchor, three participants (SCA and UP certificates), their
document signers, one revocation batch and one business rule, plus sample certificates to verify.

The demo anchor key is derived from a public label, so anyone can recompute it: it exists to make the
demo reproducible and must never sign anything real. ``dho demo`` writes the demo anchor certificate to
the data folder and points the web process at it; ``dho serve`` never does."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dho.accounts.permissions import CLI_OPERATOR
from dho.trust import issue, service, testpki
from dho.trust.cms import sign_cms
from dho.trust.models import Participant

DEMO_LABEL = b"Digital Health Observatory demo trust anchor - public, never for real use"
COUNTRIES = (("GH", "Ghana"), ("KE", "Kenya"), ("PE", "Peru"))
# When each demo country joined the network (its participants are dated so: the network indicators and the
# reports of earlier years then count them as a real history would).
ONBOARDED = {"GH": datetime(2024, 3, 18, 9, 0, tzinfo=UTC), "KE": datetime(2024, 9, 2, 9, 0, tzinfo=UTC),
             "PE": datetime(2025, 5, 20, 9, 0, tzinfo=UTC)}
ANCHOR_START = datetime(2026, 1, 1, tzinfo=UTC)


def demo_anchor() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The demo anchor key (derived from a public label) and its self-signed certificate."""
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    key = ec.derive_private_key(int.from_bytes(hashlib.sha256(DEMO_LABEL).digest(), "big") % (order - 1) + 1,
                                ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DHO DEMO Trust Anchor (not for real use)")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(ANCHOR_START).not_valid_after(ANCHOR_START + timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return key, cert


def write_demo_anchor(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(demo_anchor()[1].public_bytes(serialization.Encoding.PEM))
    return path


@dataclass
class DemoNetwork:
    participants: int = 0
    signers: int = 0
    samples: dict[str, str] = field(default_factory=dict)


def load(session: Session, *, now: datetime | None = None) -> DemoNetwork:
    """Onboard the demo participants and upload their signers, once. Returns sample certificates:
    ``valid``, ``revoked``, ``tampered``."""
    result = DemoNetwork()
    if session.execute(select(Participant.id).limit(1)).first() is not None:
        return result
    anchor_key, anchor_cert = demo_anchor()
    now = now or datetime.now(UTC)
    for code, name in COUNTRIES:
        sca, up = testpki.make_sca(code), testpki.make_up(code)
        for group, party in (("SCA", sca), ("UP", up)):
            service.onboard_participant(session, CLI_OPERATOR, country=code, group=group, certificate=party.der,
                                        anchor_key=anchor_key, anchor_cert=anchor_cert, name=name)
        result.participants += 1
        session.execute(update(Participant).where(Participant.country == code).values(created_at=ONBOARDED[code]))
        dsc = testpki.make_dsc(sca, code, usages="tvr" if code != "PE" else "v")
        service.upload_dsc(session, CLI_OPERATOR, sign_cms(dsc.der, up.cert, up.key), anchor_cert=anchor_cert)
        result.signers += 1
        if code == "GH":
            payload = issue.dcc_vaccination(family="Mensah", given="Ama", dob="1990-05-01", country="GH",
                                            issuer="Ghana Health Service", ci=issue.uvci("GH", "GHS", "DEMO0001"),
                                            dose=2, total=2, date_="2026-03-02")
            valid = issue.build_hcert(payload, dsc_cert=dsc.cert, dsc_key=dsc.key, issuer_country="GH", now=now)
            revoked_payload = {**payload, "v": [{**payload["v"][0], "ci": issue.uvci("GH", "GHS", "DEMO0002")}]}
            revoked = issue.build_hcert(revoked_payload, dsc_cert=dsc.cert, dsc_key=dsc.key, issuer_country="GH",
                                        now=now)
            uci_hash = hashlib.sha256(revoked_payload["v"][0]["ci"].encode()).digest()[:16]
            batch = {"country": "GH", "expires": (now + timedelta(days=365)).replace(microsecond=0).isoformat()
                     .replace("+00:00", "Z"), "kid": base64.b64encode(dsc.kid).decode(), "hashType": "UCI",
                     "entries": [{"hash": base64.b64encode(uci_hash).decode()}]}
            service.upload_batch(session, CLI_OPERATOR, sign_cms(json.dumps(batch).encode(), up.cert, up.key),
                                 anchor_cert=anchor_cert, now=now)
            cut = len(valid.text) // 2
            tampered = valid.text[:cut] + ("A" if valid.text[cut] != "A" else "B") + valid.text[cut + 1:]
            result.samples = {"valid": valid.text, "revoked": revoked.text, "tampered": tampered}
    return result

"""Trust-network pages.

- ``/trust``: the network's participants and their keys (registrations, document signers), public;
- ``/trust/verify``: verify a health certificate by pasting its text or uploading a photo or scan of its
  QR code, against the network's current trust list and revocation list. Nothing is stored.

Both work without JavaScript."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.permissions import Principal
from dho.trust import hcert
from dho.trust.keys import dcc_usages, key_kind
from dho.trust.outcome import Failure, Verdict
from dho.web.deps import current_principal, db_session, upload_form
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
MAX_TEXT = 10_000
STAGE_LABELS = {
    "prefix": i18n._("Prefix"), "base45": i18n._("Base45 text"), "decompress": i18n._("Decompression"),
    "cbor": i18n._("CBOR structure"), "cose": i18n._("COSE message"), "kid": i18n._("Key identifier"),
    "algorithm": i18n._("Algorithm"), "signature": i18n._("Signature"), "claims": i18n._("Dates and issuer"),
    "dsc": i18n._("Signing key"), "revocation": i18n._("Revocation"), "schema": i18n._("Schema"),
    "rules": i18n._("Business rules"), "input": i18n._("Input"), "image": i18n._("QR image"),
    "internal": i18n._("Verifier"),
}


def verifier_for(session: Session) -> hcert.HcertVerifier:
    """A verifier that knows exactly what a downloaded trust list and revocation list would give."""
    from dho.trust import service, trustlist

    gateway = service.trust_list(session)
    store = trustlist.load_gateway_trustlist([e for e in gateway if e["certificateType"] == "DSC"])
    revocation = trustlist.load_revocation(service.export_batches(session),
                                           uploaders=trustlist.upload_thumbprints(gateway))
    return hcert.HcertVerifier(store, revocation=revocation)


def verify_input(session: Session, text: str | None, image: bytes | None) -> tuple[str | None, Verdict]:
    """Verify pasted text or the first HC1 code found in an image."""
    if image:
        from dho.trust.qr import QrImageError, decode_image

        try:
            found = decode_image(image)
        except QrImageError as exc:
            return None, Verdict(False, Failure(exc.code, "image", str(exc)))
        text = next((t for t in found if t.startswith("HC1:")), found[0] if found else "")
    return text, verifier_for(session).verify((text or "").strip())


@router.get("/trust/verify", response_class=HTMLResponse)
def verify_page(request: Request, principal: Principal = current_principal) -> Response:
    return render(request, "trust_verify.html", {"verdict": None, "text": "", "stage_labels": STAGE_LABELS})


@router.post("/trust/verify", response_class=HTMLResponse)
def verify_submit(request: Request, upload: tuple = upload_form, session: Session = db_session,
                  principal: Principal = current_principal) -> Response:
    form, file = upload
    text = (form.get("text") or "")[:MAX_TEXT]
    image = file.data if file is not None and file.data else None
    if image is None and not text.strip():
        verdict = Verdict(False, Failure("HC_INPUT_EMPTY", "input"))
        decoded = ""
    else:
        from dho.trust.service import TrustRejected

        try:
            decoded, verdict = verify_input(session, text, image)
        except TrustRejected as exc:
            return render(request, "trust_verify.html", {"verdict": None, "text": text, "stage_labels": STAGE_LABELS,
                                                         "unavailable": exc.detail}, status_code=503)
    from dho.trust.issue import summary

    payload = verdict.data.get("payload") if verdict.valid else None
    return render(request, "trust_verify.html", {
        "verdict": verdict, "text": decoded or text, "stage_labels": STAGE_LABELS,
        "message": verdict.failure.message(i18n.get_locale()) if verdict.failure else "",
        "summary": summary(payload) if isinstance(payload, dict) else [],
    }, status_code=200)


@router.get("/trust", response_class=HTMLResponse)
def network_page(request: Request, session: Session = db_session, principal: Principal = current_principal) -> Response:
    from dho.trust.service import TrustRejected

    try:
        context = network_overview(session)
    except TrustRejected as exc:  # no trust anchor configured: nothing can be shown as trusted
        return render(request, "trust_network.html", {"participants": [], "signers": [], "problems": 0,
                                                      "unavailable": exc.detail}, status_code=503)
    return render(request, "trust_network.html", context)


def network_overview(session: Session) -> dict:
    """Participants with their registered certificates, and the document signers in the trust list now."""
    from dho.trust import service
    from dho.trust.keys import load_certificate

    by_country: dict[tuple[str, str], dict] = {}
    for reg in service.participants(session):
        entry = by_country.setdefault((reg["domain"], reg["country"]), {
            "domain": reg["domain"], "country": reg["country"], "name": reg["name"], "certificates": [],
            "signers": []})
        entry["certificates"].append(reg)
    signers = []
    for row in service.active_dscs(session):
        cert = load_certificate(row.raw_der)
        item = {"kid": base64.b64encode(row.kid).decode(), "country": row.country, "thumbprint": row.thumbprint,
                "not_before": cert.not_valid_before_utc.date(), "not_after": cert.not_valid_after_utc.date(),
                "usages": "".join(sorted(dcc_usages(cert))), "algorithm": key_kind(cert.public_key())}
        signers.append(item)
        key = (row.domain, row.country)
        if key in by_country:
            by_country[key]["signers"].append(item)
    problems = sum(1 for p in by_country.values() for c in p["certificates"] if c["problem"])
    return {"participants": sorted(by_country.values(), key=lambda p: (p["domain"], p["country"])),
            "signers": signers, "problems": problems}

"""The trust network's gateway API (``/api/trust``): trust lists, document signer uploads, revocation
batches, business rules and the signed DID documents. Layouts follow the EU DCC gateway; see
``docs/trust-gateway-api.md``. Reads are public; uploads need an API token of a user allowed to upload
for the participant's country (``trust.upload``) and a CMS signed by the participant's upload certificate.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from dho.accounts.permissions import Principal
from dho.errors import DomainError, PayloadTooLarge
from dho.trust import cms, service
from dho.trust.models import DEFAULT_DOMAIN
from dho.web.deps import current_principal, db_session

router = APIRouter(prefix="/trust", tags=["trust"])

CMS_TYPES = ("application/cms", "application/cms-text", "application/pkcs7-mime", "text/plain",
             "application/octet-stream")
MAX_BODY = cms.MAX_CMS_BYTES * 4 // 3 + 4096  # base64 of the largest CMS, with line breaks
CertType = Annotated[str, Path(pattern=r"^(?i:DSC|UPLOAD|CSCA|AUTHENTICATION)$")]
CountryPath = Annotated[str, Path(pattern=r"^[A-Za-z]{2,3}$")]
DomainQuery = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")]
Page = Annotated[int | None, Query(ge=0, le=1_000_000)]
Size = Annotated[int | None, Query(ge=1, le=service.PAGE_SIZE_MAX)]
Since = Annotated[str | None, Query(max_length=64, description="ISO 8601 date-time with a time zone")]
IfModifiedSince = Annotated[str | None, Header(max_length=64)]


class UnsupportedMediaType(DomainError):
    type_slug = "unsupported-media-type"
    status = 415
    title = "Unsupported media type"


def _http_date(moment: dt.datetime) -> str:
    return format_datetime(moment.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)


def _not_modified(last: dt.datetime | None, if_modified_since: str | None) -> bool:
    """True when the client's copy is current. An unreadable header is ignored (RFC 9110)."""
    if last is None or not if_modified_since:
        return False
    try:
        since = service.parse_since(if_modified_since)
    except service.TrustRejected:
        return False
    return since is not None and last.replace(microsecond=0) <= since


async def _cms_body(request: Request) -> bytes:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in CMS_TYPES:
        raise UnsupportedMediaType(f"Send the signed message as one of {', '.join(CMS_TYPES)} "
                                   f"(base64 text or DER), not {media[:60] or 'no content type'}.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"The signed message is larger than {MAX_BODY} bytes.")
    return body


async def _signed_call(request: Request, fn: Callable[..., Any], session: Session, principal: Principal) -> Any:
    body = await _cms_body(request)
    return await run_in_threadpool(fn, session, principal, body)


# ---------------------------------------------------------------- trust lists


def _trust_list(session: Session, if_modified_since: str | None, **kwargs: Any) -> Response:
    domain = kwargs.pop("domain")
    last = service.last_modified(session, domain)
    headers = {"Last-Modified": _http_date(last)} if last is not None else {}
    if _not_modified(last, if_modified_since):
        return Response(status_code=304, headers=headers)
    kwargs["since"] = service.parse_since(kwargs.get("since"))
    entries = service.trust_list(session, domain, **kwargs)
    return JSONResponse(entries, headers=headers)


@router.get("/trustlist", summary="The trust list: document signers and registered participant certificates")
def trustlist(domain: DomainQuery = DEFAULT_DOMAIN, page: Page = None, size: Size = None, since: Since = None,
              if_modified_since: IfModifiedSince = None, session: Session = db_session) -> Response:
    return _trust_list(session, if_modified_since, domain=domain, page=page, size=size, since=since)


@router.get("/trustlist/{cert_type}", summary="The trust list, one certificate type")
def trustlist_type(cert_type: CertType, domain: DomainQuery = DEFAULT_DOMAIN, page: Page = None, size: Size = None,
                   since: Since = None, if_modified_since: IfModifiedSince = None,
                   session: Session = db_session) -> Response:
    return _trust_list(session, if_modified_since, domain=domain, cert_type=cert_type, page=page, size=size,
                       since=since)


@router.get("/trustlist/{cert_type}/{country}", summary="The trust list, one certificate type of one country")
def trustlist_type_country(cert_type: CertType, country: CountryPath, domain: DomainQuery = DEFAULT_DOMAIN,
                           page: Page = None, size: Size = None, since: Since = None,
                           if_modified_since: IfModifiedSince = None, session: Session = db_session) -> Response:
    return _trust_list(session, if_modified_since, domain=domain, cert_type=cert_type, country=country.upper(),
                       page=page, size=size, since=since)


@router.get("/trustlist-changes", summary="What changed since a date: new entries, deleted or expired signers")
def trustlist_changes(since: Annotated[str, Query(max_length=64)], domain: DomainQuery = DEFAULT_DOMAIN,
                      session: Session = db_session) -> dict[str, Any]:
    moment = service.parse_since(since)
    if moment is None:
        raise service.TrustRejected("TRUST_BAD_DATE", "since is empty")
    return service.trust_list_changes(session, domain, since=moment)


# ---------------------------------------------------------------- document signers


def _dsc_out(row: Any) -> dict[str, Any]:
    return {"kid": base64.b64encode(row.kid).decode("ascii"), "thumbprint": row.thumbprint, "country": row.country,
            "timestamp": service.iso(row.created_at)}


@router.post("/signerCertificate", status_code=201, summary="Upload a document signer (CMS signed by your UP "
             "certificate, content: the DER certificate)")
async def dsc_upload(request: Request, session: Session = db_session,
                     principal: Principal = current_principal) -> dict[str, Any]:
    return _dsc_out(await _signed_call(request, service.upload_dsc, session, principal))


@router.delete("/signerCertificate", status_code=204, summary="Withdraw a document signer (CMS of its DER "
               "certificate, signed by your UP certificate)")
async def dsc_delete(request: Request, session: Session = db_session,
                     principal: Principal = current_principal) -> Response:
    await _signed_call(request, service.delete_dsc, session, principal)
    return Response(status_code=204)


@router.post("/signerCertificate/delete", status_code=204, summary="Withdraw a document signer (as DELETE, for "
             "clients that cannot send a body with DELETE)")
async def dsc_delete_post(request: Request, session: Session = db_session,
                          principal: Principal = current_principal) -> Response:
    return await dsc_delete(request, session, principal)


# ---------------------------------------------------------------- revocation


@router.get("/revocation-list", summary="Revocation batches changed since a date (?since= or If-Modified-Since)")
def revocation_list(since: Since = None, domain: DomainQuery = DEFAULT_DOMAIN,
                    if_modified_since: IfModifiedSince = None, session: Session = db_session) -> dict[str, Any]:
    moment = service.parse_since(since) if since else service.parse_since(if_modified_since)
    return service.list_batches(session, since=moment, domain=domain)


@router.post("/revocation-list", status_code=201, summary="Upload a revocation batch (CMS of the batch JSON, "
             "signed by your UP certificate)")
async def revocation_upload(request: Request, session: Session = db_session,
                            principal: Principal = current_principal) -> dict[str, Any]:
    row = await _signed_call(request, service.upload_batch, session, principal)
    return {"batchId": row.batch_id, "country": row.country, "date": service.iso(row.changed)}


@router.get("/revocation-list/{batch_id}", summary="One revocation batch: the signed CMS and its JSON")
def revocation_batch(batch_id: Annotated[str, Path(max_length=36)], session: Session = db_session) -> dict[str, Any]:
    row = service.get_batch(session, batch_id)
    return {"batchId": row.batch_id, "country": row.country, "date": service.iso(row.changed), "deleted": False,
            "cms": row.signed_cms, "batch": service.batch_json(session, row)}


@router.post("/revocation-list/delete", status_code=204, summary="Delete a revocation batch (CMS of "
             "{\"batchId\": ...}, signed by your UP certificate)")
async def revocation_delete(request: Request, session: Session = db_session,
                            principal: Principal = current_principal) -> Response:
    await _signed_call(request, service.delete_batch, session, principal)
    return Response(status_code=204)


@router.delete("/revocation-list", status_code=204, summary="Delete a revocation batch (as POST .../delete)")
async def revocation_delete_verb(request: Request, session: Session = db_session,
                                 principal: Principal = current_principal) -> Response:
    return await revocation_delete(request, session, principal)


# ---------------------------------------------------------------- business rules


@router.get("/rules/{country}", summary="A country's business rules, every version, with their signed CMS")
def rules_list(country: CountryPath, session: Session = db_session) -> list[dict[str, Any]]:
    return [service.rule_json(r) for r in service.list_rules(session, country.upper())]


@router.post("/rules", status_code=201, summary="Upload a business rule (CMS of the rule JSON, signed by your "
             "UP certificate)")
async def rules_upload(request: Request, session: Session = db_session,
                       principal: Principal = current_principal) -> dict[str, Any]:
    row = await _signed_call(request, service.upload_rule, session, principal)
    return {"identifier": row.identifier, "version": row.version, "country": row.country}


# ---------------------------------------------------------------- DID documents


def _document(session: Session, path: str, if_modified_since: str | None) -> Response:
    text, created = service.stored_document(session, path)
    headers = {"Last-Modified": _http_date(created)}
    if _not_modified(created, if_modified_since):
        return Response(status_code=304, headers=headers)
    return Response(text.encode("utf-8"), media_type="application/did+json", headers=headers)


@router.get("/did/{domain}", summary="The signed DID trust list of a trust domain")
def did_domain(domain: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")],
               if_modified_since: IfModifiedSince = None, session: Session = db_session) -> Response:
    return _document(session, service.did_path(domain), if_modified_since)


@router.get("/did/{domain}/{country}", summary="The signed DID trust list of one participant")
def did_country(domain: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")], country: CountryPath,
                if_modified_since: IfModifiedSince = None, session: Session = db_session) -> Response:
    return _document(session, service.did_path(domain, country), if_modified_since)


@router.get("/did/{domain}/{country}/{usage}", summary="The signed DID trust list of one participant and key usage")
def did_usage(domain: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")], country: CountryPath,
              usage: Annotated[str, Path(pattern=r"^(?i:DSC|SCA|UP|TLS)$")],
              if_modified_since: IfModifiedSince = None, session: Session = db_session) -> Response:
    return _document(session, service.did_path(domain, country, usage), if_modified_since)

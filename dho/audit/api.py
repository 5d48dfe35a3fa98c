"""API for the audit log: search, an object's history, verification, export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal
from dho.audit import service
from dho.audit.views import export_response
from dho.web.deps import current_principal, db_session
from dho.web.params import Offset

router = APIRouter(tags=["audit"])
Short = Annotated[str | None, Query(max_length=128)]


class EntryOut(BaseModel):
    seq: int
    ts: str
    actor_id: int | None
    actor: str
    action: str
    object_type: str
    object_id: str
    before: Any
    after: Any
    prev_hash: str
    hash: str


class EntryPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[EntryOut]


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    first_bad_seq: int | None
    reason: str | None


@router.get("/audit", response_model=EntryPage, summary="Search the audit log")
def search(object_type: Short = None, object_id: Short = None, actor: Short = None, action: Short = None,
           limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Offset = 0,
           session: Session = db_session, principal: Principal = current_principal) -> EntryPage:
    rows, total = service.search(session, principal, object_type=object_type, object_id=object_id, actor=actor,
                                 action=action, limit=limit, offset=offset)
    return EntryPage(total=total, limit=limit, offset=offset, items=[EntryOut(**service.entry_dict(e)) for e in rows])


@router.get("/audit/verify", response_model=VerifyOut, summary="Verify the hash chain")
def verify(session: Session = db_session, principal: Principal = current_principal) -> VerifyOut:
    return VerifyOut(**service.verify(session, principal).as_dict())


@router.get("/audit/export", summary="The whole chain as JSON lines or CSV")
def export(request: Request, format: Annotated[str, Query(pattern="^(csv|jsonl)$")] = "jsonl",
           principal: Principal = current_principal) -> Response:
    return export_response(request, principal, format)

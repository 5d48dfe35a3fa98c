"""The audit log page for administrators and the Secretariat."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal, require
from dho.audit import service
from dho.web.deps import current_principal, db_session
from dho.web.params import Offset
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE = 50
Short = Annotated[str | None, Query(max_length=128)]


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request, object_type: Short = None, object_id: Short = None, actor: Short = None, action: Short = None,
    offset: Offset = 0, verify: Annotated[str | None, Query(max_length=3)] = None,
    session: Session = db_session, principal: Principal = current_principal,
) -> Response:
    rows, total = service.search(session, principal, object_type=object_type or None, object_id=object_id or None,
                                 actor=actor or None, action=action or None, limit=PAGE, offset=offset)
    result = service.verify(session, principal) if verify else None
    return render(request, "audit.html", {
        "rows": [service.HistoryRow(e) for e in rows], "entries": rows, "total": total, "offset": offset,
        "limit": PAGE, "filters": {"object_type": object_type or "", "object_id": object_id or "",
                                   "actor": actor or "", "action": action or ""}, "result": result,
    })


def export_response(request: Request, principal: Principal, fmt: str) -> Response:
    """Streams the chain from its own database session (the request's closes before streaming)."""
    require(principal, "audit.read")
    db = request.app.state.db

    def chunks():  # type: ignore[no-untyped-def]
        with db.sessions() as session:
            yield from service.export(session, principal, fmt)

    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    name = "audit-log.csv" if fmt == "csv" else "audit-log.jsonl"
    return StreamingResponse(chunks(), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/audit/export")
def audit_export(request: Request, format: Annotated[str, Query(pattern="^(csv|jsonl)$")] = "jsonl",
                 principal: Principal = current_principal) -> Response:
    return export_response(request, principal, format)

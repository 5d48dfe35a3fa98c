"""Atlas import and export over HTTP: POST /api/atlas/import (the body is the file) and
GET /api/atlas/export."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal, require_somewhere
from dho.atlas import transfer
from dho.errors import FieldError, PayloadTooLarge, ValidationFailed
from dho.i18n import _
from dho.web.deps import current_principal, db_session

router = APIRouter(prefix="/atlas", tags=["atlas"])
Entity = Annotated[str, Query(pattern="^(implementations|investments)$")]


@router.post("/import", summary="Import implementations or investments (CSV, XLSX, JSON or the Digital Health "
             "Atlas layout); any error imports nothing unless valid_only")
async def import_(request: Request,
                  format: Annotated[str, Query(pattern="^(csv|xlsx|json|dha)$")] = "csv",
                  entity: Entity = "implementations", valid_only: bool = False,
                  map: Annotated[list[str] | None, Query(max_length=60,
                                                         description="source column=field")] = None,
                  partners: Annotated[str | None, Query(max_length=20_000, description="DHA review: JSON object "
                                                        "partner name -> organisation id or \"new\"")] = None,
                  principal: Principal = current_principal) -> dict[str, Any]:
    # Who may import at all is known before the body is read: a stranger's file is never parsed.
    require_somewhere(principal, "partner_data.edit")
    choices = None
    if partners:
        try:
            choices = json.loads(partners)
        except json.JSONDecodeError:
            choices = None
        if not isinstance(choices, dict):
            raise ValidationFailed(_("The review's choices are not valid."), errors=[FieldError(
                "partners", _("a JSON object of partner name -> organisation id or \"new\""))])
    mapping = transfer.parse_mapping(map or [])
    data = await request.body()
    if len(data) > transfer.MAX_BYTES:
        raise PayloadTooLarge(_("The file is larger than %(n)s MB.", n=transfer.MAX_BYTES // 1_000_000))
    db = request.app.state.db

    def work() -> dict[str, Any]:
        with db.session() as session:
            return transfer.import_file(session, principal, data, format, entity, mapping=mapping,
                                        valid_only=valid_only, partners=choices).as_dict()

    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(work)


@router.get("/export", summary="Export the implementations or investments you may see (CSV, XLSX or JSON, in the "
            "layout the import reads)")
def export(format: Annotated[str, Query(pattern="^(csv|xlsx|json)$")] = "csv", entity: Entity = "implementations",
           session: Session = db_session, principal: Principal = current_principal) -> Response:
    data = transfer.export(session, principal, format, entity)
    name = f"atlas-{entity}.{format}"
    return Response(data, media_type=transfer.MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})

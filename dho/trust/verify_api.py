"""``POST /api/trust/verify``: verify a health certificate against the network's current trust list.

Send JSON ``{"text": "HC1:..."}`` or a multipart form with a QR image in ``file``. The answer is the verdict
(``valid``, the stages passed, and for a failure its stable ``code``, ``stage`` and messages in English and
French). Public, like the trust list itself; nothing is stored. Offline verifiers should download the trust
list instead (``/api/trust/trustlist``)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from dho import i18n
from dho.errors import ValidationFailed
from dho.web.deps import db_session

router = APIRouter(tags=["trust"])
MAX_TEXT = 10_000


@router.post("/trust/verify", summary="Verify a health certificate (HC1 text or QR image)")
async def verify(request: Request, session: Session = db_session) -> JSONResponse:
    from dho.trust.views import verify_input

    ctype = request.headers.get("content-type", "")
    text, image = None, None
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ValidationFailed("send the QR image in the form field 'file'")
        from dho.config import get_settings

        image = await upload.read(get_settings().max_upload_bytes + 1)
    else:
        try:
            body = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValidationFailed("the body must be JSON: {\"text\": \"HC1:...\"}") from None
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ValidationFailed("the body must be JSON: {\"text\": \"HC1:...\"}")
        text = body["text"]
        if len(text) > MAX_TEXT:
            raise ValidationFailed(f"the text is longer than {MAX_TEXT} characters")
    _, verdict = verify_input(session, text, image)
    return JSONResponse(verdict.as_dict(i18n.get_locale()))

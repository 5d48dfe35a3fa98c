"""Produce a report document (HTML, PDF or the JSON of its data) for the web, the API and the CLI.

Documents are cached in the process by everything they depend on (database, scope, year, language,
format, data epoch and cut-off): a second request for an unchanged report costs two small queries."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from dho import i18n
from dho.errors import FieldError, ValidationFailed
from dho.reports import builder, document, pdf
from dho.reports import narratives as narrative_store

FORMATS = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "json": "application/json"}
CACHE_SIZE = 24

_cache: OrderedDict[tuple, Document] = OrderedDict()  # type: ignore[type-arg]
_lock = threading.Lock()


@dataclass(frozen=True)
class Document:
    body: bytes
    media_type: str
    filename: str
    snapshot: str
    content_hash: str


def check_format(raw: str | None, allowed: tuple[str, ...] = ("html", "pdf", "json")) -> str:
    fmt = (raw or "html").strip().lower()
    if fmt not in allowed:
        raise ValidationFailed(i18n._("Unknown format %(format)s.", format=fmt[:10]), errors=[
            FieldError("format", i18n._("use one of %(list)s", list=", ".join(allowed)))])
    return fmt


def _key(session: Session, kind: str, code: str, year: int | None, lang: str, fmt: str) -> tuple:  # type: ignore[type-arg]
    from dho.indicators import epoch

    scope = narrative_store.check_scope(session, kind, code)
    data = builder.data_cutoff(session)
    edited = builder.cutoff(session, scope, year or 0, data) if year else None
    ep = epoch.current(session)
    return (str(session.get_bind().url), scope.kind, scope.code, year, lang, fmt, data, edited, ep,
            tuple(sorted((k, v.version) for k, v in narrative_store.texts(session, scope, year or 0, lang).items())))


def produce(session: Session, kind: str, code: str | None, year: int | None, lang: str, fmt: str,
            progress: Callable[[str], None] | None = None) -> Document:
    """Build and render one report (checked scope, year, language and format; 404/422 otherwise)."""
    fmt = check_format(fmt)
    lang = narrative_store.check_lang(lang)
    if year is not None:
        year = narrative_store.check_year(year)
    key = _key(session, kind, code or "", year, lang, fmt)
    if progress is None:
        with _lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    report = builder.build(session, kind, code, year, lang, progress=progress, raster=fmt == "pdf")
    if fmt == "json":
        body = json.dumps(builder.as_json(report), ensure_ascii=False, sort_keys=True, indent=1).encode()
    else:
        html = document.render_html(report)
        body = html.encode() if fmt == "html" else pdf.render_pdf(html)
        if progress:
            progress("render")
    doc = Document(body, FORMATS[fmt], document.filename(report, fmt), report["snapshot"], report["content_hash"])
    with _lock:
        _cache[key] = doc
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return doc


def clear_cache() -> None:
    with _lock:
        _cache.clear()

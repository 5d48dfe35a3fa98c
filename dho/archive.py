"""Whole-database archive: a versioned JSON document with every table's rows and a checksum.

Export, import into an empty database and export again gives identical ``tables`` content.
Import is a restore: it refuses a truncated, tampered, wrong-version or wrong-schema archive, or a
database that already holds user data, and it writes everything or nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Boolean, Date, Integer, LargeBinary, Numeric, Table, func, insert, select, text
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal, require
from dho.db import Base, UTCDateTime, current_revision_of_connection, import_all_models
from dho.errors import DomainError
from dho.i18n import _
from dho.jsonutil import canonical_json, to_jsonable

FORMAT = "dho-archive"
VERSION = 1


class ArchiveError(DomainError):
    type_slug = "archive-refused"
    status = 422
    title = _("Archive refused")


def _tables() -> list[Table]:
    import_all_models()
    archived = {m.class_.__table__.name for m in Base.registry.mappers if getattr(m.class_, "__archived__", True)}
    return [t for t in Base.metadata.sorted_tables if t.name in archived]


def _reference_tables() -> set[str]:
    return {m.class_.__table__.name for m in Base.registry.mappers if not getattr(m.class_, "__audited__", True)
            and m.class_.__table__.name.startswith("ref_")}


def tables_content(session: Session) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in _tables():
        cols = [c.name for c in table.columns]
        pk = list(table.primary_key.columns) or list(table.columns)
        rows = session.execute(select(*table.columns).order_by(*pk)).all()
        out[table.name] = {"columns": cols, "rows": [[to_jsonable(v) for v in row] for row in rows]}
    return out


def export(session: Session, principal: Principal) -> dict[str, Any]:
    require(principal, "archive.manage")
    tables = tables_content(session)
    return {
        "format": FORMAT,
        "version": VERSION,
        "schema_revision": current_revision_of_connection(session.connection()),
        "created_at": to_jsonable(dt.datetime.now(dt.UTC)),
        "tables": tables,
        "sha256": hashlib.sha256(canonical_json(tables).encode("utf-8")).hexdigest(),
    }


def write(archive: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(archive, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def read(fh: BinaryIO, max_bytes: int) -> dict[str, Any]:
    data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ArchiveError(_("The archive is larger than the limit of %(max)s bytes.", max=max_bytes))
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ArchiveError(_("The archive is not UTF-8 text.")) from None
    except json.JSONDecodeError as exc:
        raise ArchiveError(_("The archive is not valid JSON (truncated or damaged?): %(error)s "
                             "at line %(line)s, column %(column)s.",
                             error=exc.msg, line=exc.lineno, column=exc.colno)) from None
    if not isinstance(doc, dict):
        raise ArchiveError(_("The archive is not a JSON object."))
    return doc


def _convert(column: Any, value: Any) -> Any:
    if value is None:
        return None
    ctype = column.type
    if isinstance(ctype, UTCDateTime):
        parsed = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
        return parsed.replace(tzinfo=dt.UTC)
    if isinstance(ctype, Date):
        return dt.date.fromisoformat(value)
    if isinstance(ctype, Numeric) and not isinstance(ctype, Integer):
        return Decimal(value)
    if isinstance(ctype, Boolean):
        if not isinstance(value, bool):
            raise TypeError(_("expected true or false"))
        return value
    if isinstance(ctype, Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(_("expected an integer"))
        return value
    if isinstance(ctype, LargeBinary):
        return base64.b64decode(value, validate=True)
    if not isinstance(value, str):
        raise TypeError(_("expected text"))
    return value


def _has_user_data(session: Session) -> bool:
    reference = _reference_tables()
    for table in _tables():
        if table.name in reference or table.name == "audit_head":
            continue
        if session.execute(select(func.count()).select_from(table)).scalar_one():
            return True
    return False


def restore(session: Session, principal: Principal, doc: dict[str, Any]) -> dict[str, int]:
    require(principal, "archive.manage")
    if doc.get("format") != FORMAT:
        raise ArchiveError(_("This file is not a Digital Health Observatory archive."))
    if doc.get("version") != VERSION:
        raise ArchiveError(_("Archive format version %(found)r is not supported (this release "
                             "reads version %(supported)s).", found=doc.get("version"), supported=VERSION))
    here = current_revision_of_connection(session.connection())
    if doc.get("schema_revision") != here:
        raise ArchiveError(_("The archive was made at schema revision %(archive)r; this database is at "
                             "%(database)r. Restore it with the release that made it, then upgrade.",
                             archive=doc.get("schema_revision"), database=here))
    tables = doc.get("tables")
    if not isinstance(tables, dict):
        raise ArchiveError(_("The archive has no tables."))
    digest = hashlib.sha256(canonical_json(tables).encode("utf-8")).hexdigest()
    if digest != doc.get("sha256"):
        raise ArchiveError(_("The archive's checksum does not match its content: it was altered or damaged."))
    known = {t.name: t for t in _tables()}
    unknown = sorted(set(tables) - set(known))
    if unknown:
        raise ArchiveError(_("The archive has tables this release does not know: %(tables)s.",
                             tables=", ".join(unknown)))
    missing = sorted(set(known) - set(tables))
    if missing:
        raise ArchiveError(_("The archive lacks tables this release has: %(tables)s.",
                             tables=", ".join(missing)))
    if _has_user_data(session):
        raise ArchiveError(_("The database already holds data; restore only into a new, empty database "
                             "(run `dho init --no-reference` on a new database first)."))
    counts: dict[str, int] = {}
    # clear reference rows and the audit head, which a new database already has
    for table in reversed(list(known.values())):
        session.execute(table.delete())
    for name, table in known.items():
        block = tables[name]
        if not isinstance(block, dict):
            raise ArchiveError(_("Table %(table)s: columns and rows are required.", table=name))
        cols = block.get("columns")
        rows = block.get("rows")
        if not isinstance(cols, list) or not isinstance(rows, list):
            raise ArchiveError(_("Table %(table)s: columns and rows are required.", table=name))
        if set(cols) != {c.name for c in table.columns}:
            raise ArchiveError(_("Table %(table)s: the columns do not match this release's schema.",
                                 table=name))
        batch = []
        for i, row in enumerate(rows, start=1):
            if not isinstance(row, list) or len(row) != len(cols):
                raise ArchiveError(_("Table %(table)s, row %(row)s: wrong number of values.",
                                     table=name, row=i))
            try:
                batch.append({c: _convert(table.columns[c], v) for c, v in zip(cols, row, strict=True)})
            except (TypeError, ValueError, InvalidOperation) as exc:
                raise ArchiveError(_("Table %(table)s, row %(row)s: %(error)s.",
                                     table=name, row=i, error=exc)) from None
        if batch:
            session.execute(insert(table), batch)
        counts[name] = len(batch)
    _reset_sequences(session)
    return counts


def _reset_sequences(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in _tables():
        for col in table.primary_key.columns:
            if isinstance(col.type, Integer) and col.autoincrement is not False and len(table.primary_key.columns) == 1:
                session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "  # noqa: S608
                    f"COALESCE((SELECT MAX({col.name}) FROM {table.name}), 0) + 1, false)"))

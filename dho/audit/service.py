"""Reading the audit log: an object's history, filtered lists, exports and verification."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal, require
from dho.audit import chain
from dho.audit.models import AuditEntry

EXPORT_COLUMNS = ("seq", "ts", "actor_id", "actor", "action", "object_type", "object_id", "before", "after",
                  "prev_hash", "hash")


def history(session: Session, object_type: str, object_id: str, limit: int = 200) -> list[AuditEntry]:
    """The changes to one object, newest first. Visible to whoever may see the object itself."""
    return list(session.execute(
        select(AuditEntry).where(AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id))
        .order_by(AuditEntry.seq.desc()).limit(limit)
    ).scalars())


def search(
    session: Session, principal: Principal, *, object_type: str | None = None, object_id: str | None = None,
    actor: str | None = None, action: str | None = None, limit: int = 100, offset: int = 0,
) -> tuple[list[AuditEntry], int]:
    require(principal, "audit.read")
    stmt = select(AuditEntry)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)).scalars()
    return list(rows), total


def verify(session: Session, principal: Principal) -> chain.VerifyResult:
    require(principal, "audit.read")
    return chain.verify(session)


def _row(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq, "ts": chain.format_ts(e.ts), "actor_id": e.actor_id, "actor": e.actor, "action": e.action,
        "object_type": e.object_type, "object_id": e.object_id, "before": e.before, "after": e.after,
        "prev_hash": e.prev_hash, "hash": e.hash,
    }


def entry_dict(e: AuditEntry) -> dict[str, Any]:
    row = _row(e)
    row["before"] = chain.parse_json(e.before)
    row["after"] = chain.parse_json(e.after)
    return row


def _all(session: Session, chunk: int = 2000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        batch = session.execute(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(chunk)).scalars().all()
        if not batch:
            return
        yield from batch
        last = batch[-1].seq
        session.expunge_all()


def export(session: Session, principal: Principal, fmt: str = "jsonl") -> Iterator[str]:
    """The whole chain, oldest first, with the hashes so a third party can re-verify it."""
    require(principal, "audit.read")
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        yield buf.getvalue()
        for e in _all(session):
            buf.seek(0)
            buf.truncate()
            writer.writerow(_row(e))
            yield buf.getvalue()
    else:
        for e in _all(session):
            yield json.dumps(_row(e), ensure_ascii=False) + "\n"


def changed_fields(e: AuditEntry) -> list[tuple[str, Any, Any]]:
    before = chain.parse_json(e.before) or {}
    after = chain.parse_json(e.after) or {}
    keys = sorted(set(before) | set(after))
    return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


class HistoryRow:
    """An audit entry with the list of fields it changed, for the history tabs."""

    def __init__(self, entry: AuditEntry):
        self.seq = entry.seq
        self.ts = entry.ts
        self.actor = entry.actor
        self.action = entry.action
        # updated_at repeats the entry's own time; it stays in the chain but not on the page
        self.changed = [c for c in changed_fields(entry) if c[0] != "updated_at" or entry.action == "create"]


def history_rows(session: Session, object_type: str, object_id: str) -> list[HistoryRow]:
    return [HistoryRow(e) for e in history(session, object_type, object_id)]

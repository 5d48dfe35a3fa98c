"""Appending to and verifying the hash chain. Nothing else writes ``audit_entry``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dho.audit.models import AuditEntry, AuditHead
from dho.db import utcnow
from dho.jsonutil import canonical_json

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who is writing: a user (id and e-mail) or a named system process such as the CLI."""

    user_id: int | None
    label: str

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(None, label)


@dataclass(frozen=True)
class Change:
    action: str  # create, update, delete, or a domain verb such as "publish"
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def format_ts(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *, seq: int, ts: dt.datetime, actor_id: int | None, actor: str, action: str,
    object_type: str, object_id: str, before: str | None, after: str | None, prev_hash: str,
) -> str:
    material = canonical_json([
        seq, format_ts(ts), actor_id, actor, action, object_type, object_id, before, after, prev_hash,
    ])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def append(conn: Connection, actor: Actor, changes: list[Change]) -> None:
    """Append ``changes`` in order. The head row is updated first, which takes a row lock on
    PostgreSQL and the write lock on SQLite, so concurrent appenders queue instead of forking."""
    if not changes:
        return
    conn.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq))
    head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one_or_none()
    if head is None:
        conn.execute(insert(AuditHead).values(id=1, seq=0, hash=GENESIS))
        seq, prev = 0, GENESIS
    else:
        seq, prev = head.seq, head.hash
    ts = utcnow()
    rows = []
    for change in changes:
        seq += 1
        before = None if change.before is None else canonical_json(change.before)
        after = None if change.after is None else canonical_json(change.after)
        actor_label = actor.label[:254]
        digest = entry_hash(
            seq=seq, ts=ts, actor_id=actor.user_id, actor=actor_label, action=change.action,
            object_type=change.object_type, object_id=change.object_id, before=before, after=after,
            prev_hash=prev,
        )
        rows.append({
            "seq": seq, "ts": ts, "actor_id": actor.user_id, "actor": actor_label,
            "action": change.action, "object_type": change.object_type,
            "object_id": change.object_id, "before": before, "after": after,
            "prev_hash": prev, "hash": digest,
        })
        prev = digest
    conn.execute(insert(AuditEntry), rows)
    conn.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))


def record(session: Session, change: Change, actor: Actor | None = None) -> None:
    """Record a change that is not a row write (a load summary, an export, a sign-in policy event)."""
    actor = actor or session.info.get("actor")
    if actor is None:
        raise RuntimeError("audit: no actor on this session")
    append(session.connection(), actor, [change])


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head_seq: int
    first_bad_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "checked": self.checked, "head_seq": self.head_seq,
            "first_bad_seq": self.first_bad_seq, "reason": self.reason,
        }


def verify(session: Session, chunk: int = 5000) -> VerifyResult:
    """Walk the chain in order; name the first entry that was edited, removed or reordered."""
    expected_seq, prev, checked = 1, GENESIS, 0
    last_seq = 0
    while True:
        batch = session.execute(
            select(AuditEntry).where(AuditEntry.seq >= expected_seq).order_by(AuditEntry.seq).limit(chunk)
        ).scalars().all()
        if not batch:
            break
        for e in batch:
            if e.seq != expected_seq:
                return VerifyResult(False, checked, last_seq, expected_seq,
                                    f"entry {expected_seq} is missing (next present is {e.seq})")
            if e.prev_hash != prev:
                return VerifyResult(False, checked, last_seq, e.seq,
                                    f"entry {e.seq} does not follow entry {e.seq - 1} (previous hash differs)")
            digest = entry_hash(
                seq=e.seq, ts=e.ts, actor_id=e.actor_id, actor=e.actor, action=e.action,
                object_type=e.object_type, object_id=e.object_id, before=e.before, after=e.after,
                prev_hash=e.prev_hash,
            )
            if digest != e.hash:
                return VerifyResult(False, checked, last_seq, e.seq,
                                    f"entry {e.seq} was altered (its content does not match its hash)")
            prev, last_seq, checked = e.hash, e.seq, checked + 1
            expected_seq += 1
        session.expunge_all()
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one_or_none()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != last_seq or head_hash != prev:
        return VerifyResult(False, checked, head_seq, last_seq + 1,
                            f"the chain ends at entry {last_seq} but the head records entry {head_seq}: "
                            "newest entries were removed or the head was altered")
    return VerifyResult(True, checked, head_seq)


def head(session: Session) -> tuple[int, str]:
    row = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one_or_none()
    return (row.seq, row.hash) if row else (0, GENESIS)


def parse_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)

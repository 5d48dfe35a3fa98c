"""Every flush that inserts, updates or deletes an audited row appends audit entries to the chain,
in the same transaction. A write without an actor on the session is refused."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from dho.audit.chain import Actor, Change, append
from dho.jsonutil import to_jsonable

REDACTED = "[redacted]"


class AuditActorMissing(RuntimeError):
    pass


def _audited(obj: Any) -> bool:
    return bool(getattr(type(obj), "__audited__", False))


def _object_id(obj: Any) -> str:
    ident = inspect(obj).identity
    if ident is None:
        ident = tuple(getattr(obj, c.key) for c in inspect(type(obj)).primary_key)
    return "/".join(str(v) for v in ident)


def _columns(obj: Any) -> list[str]:
    return [attr.key for attr in inspect(type(obj)).column_attrs]


def _value(cls: type, key: str, value: Any) -> Any:
    """Secrets are never written to the log; a short digest shows that (not what) they changed."""
    if key in getattr(cls, "__audit_redact__", ()):
        if value is None:
            return None
        return f"{REDACTED[:-1]} {hashlib.sha256(str(value).encode()).hexdigest()[:8]}]"
    return to_jsonable(value)


def snapshot(obj: Any) -> dict[str, Any]:
    cls = type(obj)
    return {k: _value(cls, k, getattr(obj, k)) for k in _columns(obj)}


def _diff(obj: Any, before: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Compare the snapshot taken before the flush with the flushed state (which includes values
    set during the flush, such as the version counter and ``updated_at``)."""
    cls = type(obj)
    after_full = snapshot(obj)
    ignored = getattr(cls, "__audit_ignore__", ())
    changed = [k for k in after_full if after_full[k] != before.get(k)]
    if not any(k not in ignored and k not in ("version", "updated_at") for k in changed):
        return None
    return {k: before.get(k) for k in changed}, {k: after_full[k] for k in changed}


def _changes(session: Session) -> list[Change]:
    changes: list[Change] = []
    for obj in sorted((o for o in session.new if _audited(o)), key=_sort_key):
        changes.append(Change("create", type(obj).__tablename__, _object_id(obj), None, snapshot(obj)))
    before_snapshots: dict[int, dict[str, Any]] = session.info.get("_audit_before", {})
    for obj in sorted((o for o in session.dirty if _audited(o)), key=_sort_key):
        before = before_snapshots.get(id(obj))
        if before is None:
            continue
        diff = _diff(obj, before)
        if diff is not None:
            changes.append(Change("update", type(obj).__tablename__, _object_id(obj), *diff))
    for obj in sorted((o for o in session.deleted if _audited(o)), key=_sort_key):
        changes.append(Change("delete", type(obj).__tablename__, _object_id(obj), _committed(obj), None))
    return changes


def _committed(obj: Any) -> dict[str, Any]:
    cls = type(obj)
    state = inspect(obj)
    out = {}
    for key in _columns(obj):
        hist = state.attrs[key].history
        value = hist.deleted[0] if hist.deleted else getattr(obj, key)
        out[key] = _value(cls, key, value)
    return out


def _sort_key(obj: Any) -> tuple[str, str]:
    return (type(obj).__tablename__, _object_id(obj).rjust(20, "0"))


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    session.info["_audit_before"] = {
        id(o): _committed(o) for o in session.dirty
        if _audited(o) and session.is_modified(o, include_collections=False)
    }


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _ctx: Any) -> None:
    changes = _changes(session)
    if not changes:
        return
    actor: Actor | None = session.info.get("actor")
    if actor is None:
        raise AuditActorMissing(
            "a write to an audited table was flushed without an actor; use a service function"
        )
    append(session.connection(), actor, changes)

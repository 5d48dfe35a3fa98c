"""The data epoch: a counter in the database that moves whenever data the indicators read changes.

A session hook watches every flush (and bulk INSERT/UPDATE/DELETE statements) for rows of the
tables the sources read (plus indicator definitions and targets) and bumps the counter in the same
transaction: the bump commits or rolls back with the change itself, so every process sees it.
Cached results are keyed by (epoch, changed_at); a rolled-back bump can never be confused with a
later real one because ``changed_at`` differs. Results computed inside a transaction that has
uncommitted changes are not cached at all."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from dho.db import utcnow
from dho.indicators.models import DataEpoch
from dho.indicators.sources import WATCHED_TABLES

WATCHED = WATCHED_TABLES | {"indicator_definition", "indicator_target"}
DIRTY = "_dho_indicator_data_changed"
_table = DataEpoch.__table__


def bump(session: Session) -> None:
    """Increment the epoch in the session's transaction (creating the row the first time)."""
    conn = session.connection()
    now = utcnow()
    result = conn.execute(update(_table).where(_table.c.id == 1).values(epoch=_table.c.epoch + 1, changed_at=now))
    if result.rowcount == 0:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        conn.execute(insert(_table).values(id=1, epoch=1, changed_at=now).on_conflict_do_nothing())
    session.info[DIRTY] = True


def current(session: Session) -> tuple[int, dt.datetime | None]:
    row = session.execute(select(DataEpoch.epoch, DataEpoch.changed_at).where(DataEpoch.id == 1)).first()
    return (0, None) if row is None else (int(row[0]), row[1])


def has_uncommitted_changes(session: Session) -> bool:
    return bool(session.info.get(DIRTY))


def _table_of(obj: Any) -> str | None:
    table = getattr(type(obj), "__table__", None)
    return getattr(table, "name", None)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _ctx: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if _table_of(obj) in WATCHED:
            bump(session)
            return


@event.listens_for(Session, "do_orm_execute")
def _bulk(state: Any) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name in WATCHED:
        bump(state.session)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(DIRTY, None)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(DIRTY, None)

"""Red/amber/green status of an action-plan activity, computed from its facts (never typed).

One function decides, used by the plan pages, the API, the review snapshot and the indicators, so a
status means the same thing everywhere. The rules, in order (the first group that fires wins):

* ``done`` / ``cancelled``: the activity's status says so (no colour).
* ``not_started``: not started and its start date is still in the future (nothing can be late yet).
* ``red`` when any of:
    - ``late``: the due date has passed (due < today) and it is not done;
    - ``over_budget``: spent > budget (both known; budget > 0 or spent > 0).
* ``amber`` when any of:
    - ``no_update``: in progress (or should have started) and the latest update is more than
      NO_UPDATE_DAYS days old (if there was never an update, counted from the start date);
    - ``milestone_late``: a milestone is past due and not done;
    - ``over_budget`` (burn): spent > BURN_SHARE of the budget while progress < BURN_PROGRESS;
    - ``behind_schedule``: progress is more than BEHIND_POINTS points behind the elapsed share of time.
* ``green`` otherwise.

``rag_reasons`` returns the codes of every rule that fired at the chosen level, in the order above.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

NO_UPDATE_DAYS = 90
BURN_SHARE = Decimal("0.90")
BURN_PROGRESS = 75
BEHIND_POINTS = 25

RAG_STATES = ("done", "cancelled", "red", "amber", "green", "not_started")
REASONS = ("late", "over_budget", "no_update", "milestone_late", "behind_schedule")


class _MilestoneLike(Protocol):
    due_on: dt.date
    done_on: dt.date | None


class _ActivityLike(Protocol):
    status: str
    starts_on: dt.date
    due_on: dt.date
    progress: int
    budget: Decimal | None
    spent: Decimal | None
    last_update_on: dt.date | None


def _red(activity: _ActivityLike, today: dt.date) -> list[str]:
    out = []
    if activity.due_on < today:
        out.append("late")
    spent = Decimal(activity.spent or 0)
    if activity.budget is not None and spent > Decimal(activity.budget):
        out.append("over_budget")
    return out


def elapsed_percent(starts_on: dt.date, due_on: dt.date, today: dt.date) -> int:
    """Share of the activity's time already elapsed, 0..100 (a one-day activity is 100 once started)."""
    if today <= starts_on:
        return 0
    total = (due_on - starts_on).days
    if total <= 0 or today >= due_on:
        return 100
    return int((today - starts_on).days * 100 / total)


def _amber(activity: _ActivityLike, today: dt.date, latest_update: dt.date | None,
           milestones: list[_MilestoneLike]) -> list[str]:
    out = []
    last = latest_update or activity.last_update_on or activity.starts_on
    if activity.starts_on <= today and (today - last).days > NO_UPDATE_DAYS:
        out.append("no_update")
    if any(m.done_on is None and m.due_on < today for m in milestones):
        out.append("milestone_late")
    budget = Decimal(activity.budget) if activity.budget is not None else None
    spent = Decimal(activity.spent or 0)
    if budget is not None and budget > 0 and spent > budget * BURN_SHARE and activity.progress < BURN_PROGRESS:
        out.append("over_budget")
    if elapsed_percent(activity.starts_on, activity.due_on, today) - activity.progress > BEHIND_POINTS:
        out.append("behind_schedule")
    return out


def evaluate(activity: _ActivityLike, *, today: dt.date, latest_update: dt.date | None = None,
             milestones: Iterable[_MilestoneLike] | None = None) -> tuple[str, list[str]]:
    """Return (state, reasons). ``milestones`` defaults to none; pass the activity's milestones
    for the ``milestone_late`` rule (the service does)."""
    if activity.status in ("done", "cancelled"):
        return activity.status, []
    if activity.starts_on > today and activity.status == "not_started":
        red = [r for r in _red(activity, today) if r == "over_budget"]
        return ("red", red) if red else ("not_started", [])
    red = _red(activity, today)
    if red:
        return "red", red
    amber = _amber(activity, today, latest_update, list(milestones or []))
    if amber:
        return "amber", amber
    return "green", []


def rag_status(activity: _ActivityLike, *, today: dt.date, latest_update: dt.date | None = None,
               milestones: Iterable[_MilestoneLike] | None = None) -> str:
    """The computed state: done, cancelled, red, amber, green or not_started."""
    return evaluate(activity, today=today, latest_update=latest_update, milestones=milestones)[0]


def rag_reasons(activity: _ActivityLike, *, today: dt.date, latest_update: dt.date | None = None,
                milestones: Iterable[_MilestoneLike] | None = None) -> list[str]:
    """The codes of the rules that fired at the returned level (empty for green, done, cancelled)."""
    return evaluate(activity, today=today, latest_update=latest_update, milestones=milestones)[1]

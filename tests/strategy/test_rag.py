"""The red/amber/green rules, as pure functions of an activity's facts and a date (no database)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest

from dho.strategy import rag
from dho.strategy.models import Activity, Milestone

D = dt.date
TODAY = D(2026, 6, 30)
JAN_1, DEC_31, JUNE_1 = D(2026, 1, 1), D(2026, 12, 31), D(2026, 6, 1)


@dataclass
class Act:
    status: str = "in_progress"
    starts_on: dt.date = JAN_1
    due_on: dt.date = DEC_31
    progress: int = 50
    budget: Decimal | None = Decimal("1000")
    spent: Decimal | None = Decimal("400")
    last_update_on: dt.date | None = JUNE_1


@dataclass
class Ms:
    due_on: dt.date
    done_on: dt.date | None = None


def state(a: Act, **kw: object) -> tuple[str, list[str]]:
    return rag.evaluate(a, today=TODAY, **kw)  # type: ignore[arg-type]


def test_on_track_is_green() -> None:
    assert state(Act()) == ("green", [])


def test_done_and_cancelled_have_no_colour_even_when_late_or_over_budget() -> None:
    assert state(Act(status="done", due_on=D(2026, 2, 1), spent=Decimal("5000"))) == ("done", [])
    assert state(Act(status="cancelled", due_on=D(2026, 2, 1))) == ("cancelled", [])


def test_past_due_and_not_done_is_red_late() -> None:
    assert state(Act(due_on=D(2026, 6, 29))) == ("red", ["late"])
    # due today is not late yet
    assert state(Act(due_on=TODAY, progress=99))[0] != "red"


def test_spent_over_budget_is_red() -> None:
    assert state(Act(spent=Decimal("1000.01"))) == ("red", ["over_budget"])
    assert state(Act(spent=Decimal("1000.00"), progress=80))[0] == "green"  # exactly the budget is fine
    assert state(Act(due_on=D(2026, 3, 1), spent=Decimal("2000"))) == ("red", ["late", "over_budget"])


def test_no_budget_never_over_budget() -> None:
    assert state(Act(budget=None, spent=Decimal("99999"))) == ("green", [])


def test_no_update_for_more_than_90_days_is_amber() -> None:
    assert state(Act(last_update_on=TODAY - dt.timedelta(days=91))) == ("amber", ["no_update"])
    assert state(Act(last_update_on=TODAY - dt.timedelta(days=90)))[0] == "green"
    # the latest update given by the caller wins over the stored date
    assert state(Act(last_update_on=D(2025, 1, 1)), latest_update=TODAY)[0] == "green"


def test_never_updated_counts_from_the_start() -> None:
    assert state(Act(last_update_on=None, starts_on=TODAY - dt.timedelta(days=60), progress=40)) == ("green", [])
    assert state(Act(last_update_on=None, starts_on=TODAY - dt.timedelta(days=120), progress=40))[1] == ["no_update"]


def test_milestone_past_due_and_not_done_is_amber() -> None:
    assert state(Act(), milestones=[Ms(D(2026, 6, 1))]) == ("amber", ["milestone_late"])
    assert state(Act(), milestones=[Ms(D(2026, 6, 1), D(2026, 6, 2))])[0] == "green"
    assert state(Act(), milestones=[Ms(D(2026, 7, 1))])[0] == "green"


def test_burning_the_budget_faster_than_the_work_is_amber() -> None:
    assert state(Act(spent=Decimal("901"), progress=74)) == ("amber", ["over_budget"])
    assert state(Act(spent=Decimal("901"), progress=75))[0] == "green"
    assert state(Act(spent=Decimal("900"), progress=10, starts_on=D(2026, 6, 1)))[0] == "green"


def test_progress_behind_elapsed_time_is_amber() -> None:
    # Jan 1 -> Dec 31: on June 30 about 49 % of the time has passed
    assert rag.elapsed_percent(D(2026, 1, 1), D(2026, 12, 31), TODAY) == 49
    assert state(Act(progress=23)) == ("amber", ["behind_schedule"])
    assert state(Act(progress=24))[0] == "green"


def test_several_amber_reasons_are_all_given() -> None:
    a = Act(progress=5, spent=Decimal("950"), last_update_on=D(2026, 1, 2))
    assert state(a, milestones=[Ms(D(2026, 5, 1))]) == (
        "amber", ["no_update", "milestone_late", "over_budget", "behind_schedule"])


def test_red_hides_amber_reasons() -> None:
    assert state(Act(due_on=D(2026, 5, 1), last_update_on=D(2025, 1, 1)), milestones=[Ms(D(2026, 2, 1))]) == (
        "red", ["late"])


def test_future_start_is_not_started_unless_already_over_budget() -> None:
    future = Act(status="not_started", starts_on=D(2026, 8, 1), progress=0, spent=Decimal(0), last_update_on=None)
    assert state(future) == ("not_started", [])
    assert state(Act(status="not_started", starts_on=D(2026, 8, 1), spent=Decimal("1200"))) == ("red", ["over_budget"])
    # not started although its start has passed: judged like any other activity
    late_start = Act(status="not_started", starts_on=D(2026, 3, 1), progress=0, last_update_on=None)
    assert state(late_start) == ("amber", ["no_update", "behind_schedule"])


def test_works_on_the_orm_model_and_the_wrappers_agree() -> None:
    a = Activity(status="in_progress", starts_on=D(2026, 1, 1), due_on=D(2026, 3, 1), progress=10,
                 budget=Decimal("10"), spent=Decimal("0"), last_update_on=None)
    ms = [Milestone(title="m", due_on=D(2026, 2, 1))]
    assert rag.rag_status(a, today=TODAY, milestones=ms) == "red"
    assert rag.rag_reasons(a, today=TODAY, milestones=ms) == ["late"]
    assert rag.rag_status(a, today=D(2026, 1, 15)) == "green"


@pytest.mark.parametrize("state_name", rag.RAG_STATES)
def test_every_state_is_documented(state_name: str) -> None:
    assert state_name in (rag.__doc__ or "")

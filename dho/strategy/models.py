"""Strategy: national digital-health strategies, action plans with their activities, and capacity building.

A national strategy is a country's current framework with its history kept as dated status events.
An action plan belongs to a country, to the WHO Secretariat or to a partner organisation; its
activities carry exact money (as in the atlas), dates, milestones and links to what they close
(maturity gaps and priorities), serve (global objectives, annex actions), are funded by (investments),
deliver (implementations) and are measured by (indicators). Red/amber/green is computed from these
facts, never typed. The annual review freezes a plan as a hashed snapshot and opens the next cycle.
Trainings record their participants one row each (country, role, gender), so "officials trained"
is a count of records, not a typed number."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dho.db import Base, UTCDateTime, utcnow

STRATEGY_STATUSES = ("none", "drafting", "approved", "costed_plan_approved", "implementing", "evaluated")
PLAN_OWNERS = ("country", "secretariat", "partner")
PLAN_STATUSES = ("active", "reviewed")
ACTIVITY_STATUSES = ("not_started", "in_progress", "done", "cancelled")
# What an activity can point at; ``ref`` holds the target's key in that domain.
LINK_KINDS = (
    "gap",            # a maturity indicator code the activity raises (e.g. "3")
    "priority",       # a national priority code (atlas investment targets use the same codes)
    "objective",      # a global strategic objective (SO1..SO4)
    "annex_action",   # an annex action id of the strategy catalogue
    "investment",     # an atlas investment id
    "implementation", # an atlas implementation id
    "indicator",      # an indicator definition code
)
GENDERS = ("female", "male", "other", "undisclosed")
PARTICIPANT_ROLES = ("government_official", "health_worker", "academic", "partner_staff", "other")


class _Stamped:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)


class NationalStrategy(_Stamped, Base):
    """A country's digital-health strategy or equivalent framework (one current row per country;
    earlier strategies stay with ``superseded_by_id`` set)."""

    __tablename__ = "strategy_national"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country_iso3: Mapped[str] = mapped_column(ForeignKey("ref_country.iso3"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(24), default="none", index=True)
    period_start: Mapped[int | None] = mapped_column(Integer)  # years
    period_end: Mapped[int | None] = mapped_column(Integer)
    approved_on: Mapped[dt.date | None] = mapped_column(Date)
    costed_plan_on: Mapped[dt.date | None] = mapped_column(Date)
    governance_body: Mapped[str] = mapped_column(String(300), default="")
    next_cycle_year: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str] = mapped_column(Text, default="")
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("strategy_national.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class StrategyComponent(Base):
    """Whether a strategy covers one of the 9 national-strategy components."""

    __tablename__ = "strategy_national_component"
    __audited__ = False  # part of the strategy: recorded with it

    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategy_national.id", ondelete="CASCADE"),
                                             primary_key=True)
    component: Mapped[str] = mapped_column(String(40), primary_key=True)
    coverage: Mapped[str] = mapped_column(String(8), default="full")  # full or partial


class StrategyObjective(Base):
    """A global strategic objective (SO1..SO4) a national strategy is aligned with."""

    __tablename__ = "strategy_national_objective"
    __audited__ = False

    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategy_national.id", ondelete="CASCADE"),
                                             primary_key=True)
    objective: Mapped[str] = mapped_column(String(8), primary_key=True)


class StrategyDocument(Base):
    """A document of a strategy: a web address, or a stored file by its SHA-256 (maturity evidence store)."""

    __tablename__ = "strategy_national_document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategy_national.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(500))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    published_on: Mapped[dt.date | None] = mapped_column(Date)


class StrategyEvent(Base):
    """The dated history of a strategy's status (one row per change)."""

    __tablename__ = "strategy_national_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategy_national.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(24))
    on_date: Mapped[dt.date] = mapped_column(Date)
    by: Mapped[str] = mapped_column(String(254), default="")
    note: Mapped[str] = mapped_column(Text, default="")


class ActionPlan(_Stamped, Base):
    """A plan of one owner (a country, the Secretariat or a partner) for one cycle."""

    __tablename__ = "strategy_plan"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    owner_kind: Mapped[str] = mapped_column(String(16))
    country_iso3: Mapped[str | None] = mapped_column(ForeignKey("ref_country.iso3"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    strategy_id: Mapped[int | None] = mapped_column(ForeignKey("strategy_national.id"))
    cycle: Mapped[int] = mapped_column(Integer)  # the year the cycle starts
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="USD")  # the plan's reporting currency
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("strategy_plan.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Activity(_Stamped, Base):
    """A piece of work of a plan, with its budget, dates, progress and links."""

    __tablename__ = "strategy_activity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("strategy_plan.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    budget: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    spent: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    starts_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    done_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="not_started", index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent, 0..100
    last_update_on: Mapped[dt.date | None] = mapped_column(Date)
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("strategy_activity.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Milestone(Base):
    __tablename__ = "strategy_milestone"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("strategy_activity.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    due_on: Mapped[dt.date] = mapped_column(Date)
    done_on: Mapped[dt.date | None] = mapped_column(Date)


class ActivityLink(Base):
    """What an activity closes, serves, is funded by, delivers or is measured by."""

    __tablename__ = "strategy_activity_link"

    activity_id: Mapped[int] = mapped_column(ForeignKey("strategy_activity.id", ondelete="CASCADE"),
                                             primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class ActivityUpdate(Base):
    """A progress report on an activity (the "no update" rule reads the latest)."""

    __tablename__ = "strategy_activity_update"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("strategy_activity.id", ondelete="CASCADE"), index=True)
    on_date: Mapped[dt.date] = mapped_column(Date)
    by: Mapped[str] = mapped_column(String(254), default="")
    progress: Mapped[int] = mapped_column(Integer)
    spent: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    note: Mapped[str] = mapped_column(Text, default="")


class PlanReview(Base):
    """The annual review of a plan: a frozen snapshot (canonical JSON and its SHA-256) and the next cycle."""

    __tablename__ = "strategy_plan_review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("strategy_plan.id", ondelete="CASCADE"), index=True)
    reviewed_on: Mapped[dt.date] = mapped_column(Date)
    by: Mapped[str] = mapped_column(String(254), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[str] = mapped_column(Text)
    snapshot_sha256: Mapped[str] = mapped_column(String(64))
    next_plan_id: Mapped[int | None] = mapped_column(ForeignKey("strategy_plan.id"))


class Training(_Stamped, Base):
    """A capacity-building event (course, workshop, fellowship)."""

    __tablename__ = "strategy_training"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    topic: Mapped[str] = mapped_column(String(40), default="digital_health")  # digital_health, ai, ...
    organiser_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    host_country_iso3: Mapped[str | None] = mapped_column(ForeignKey("ref_country.iso3"))
    mode: Mapped[str] = mapped_column(String(16), default="in_person")  # in_person, online, blended
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("strategy_activity.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TrainingParticipant(Base):
    """One person trained: no name is kept, only what the figures need."""

    __tablename__ = "strategy_training_participant"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    training_id: Mapped[int] = mapped_column(ForeignKey("strategy_training.id", ondelete="CASCADE"), index=True)
    country_iso3: Mapped[str] = mapped_column(ForeignKey("ref_country.iso3"), index=True)
    role: Mapped[str] = mapped_column(String(24))
    gender: Mapped[str] = mapped_column(String(12))
    completed: Mapped[bool] = mapped_column(default=True)


class Partnership(Base):
    """A country's membership of a collaboration (e.g. the Global Digital Health Partnership), dated."""

    __tablename__ = "strategy_partnership"
    __table_args__ = (UniqueConstraint("network", "country_iso3", "joined_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(16), index=True)  # gdhp, ...
    country_iso3: Mapped[str] = mapped_column(ForeignKey("ref_country.iso3"), index=True)
    joined_on: Mapped[dt.date] = mapped_column(Date)
    left_on: Mapped[dt.date | None] = mapped_column(Date)

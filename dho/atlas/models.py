"""Atlas: digital-health implementations, the solutions they deploy, and the money behind them.

Partners, funders and implementers are organisations of the master list (never free text);
classifications use the 2023 WHO classification (codes of the 2018 edition are converted through
the crosswalk and kept beside the new ones); amounts are exact decimals with an ISO 4217 currency,
converted to US dollars with a rate table for the year that names its source."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dho.db import Base, UTCDateTime, utcnow

STAGES = ("opportunity", "preparation", "analysis_design", "implementation_planning", "development",
          "piloting", "packaging_advocacy", "deploying", "scaling_up", "handed_over")
STATUSES = ("draft", "published", "archived")
APPROVALS = ("pending", "approved", "rejected")
OPENNESS = ("open_source", "proprietary", "mixed", "unknown")
OWNERSHIP = ("none", "partial", "full")  # the government's ownership of the system
INVESTMENT_KINDS = ("grant", "loan", "domestic_budget", "private", "in_kind")
TARGET_KINDS = ("implementation", "intervention", "component", "priority")
ORG_ROLES = ("implementer", "funder")
TERM_LISTS = ("standards", "interop", "health_focus")


class _Versioned:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)


class Term(Base):
    """An entry of a managed list: a standard (FHIR, HL7 v2, ICD-11, ...), a kind of system an
    implementation exchanges data with (client registry, HMIS, ...), or a health focus area."""

    __tablename__ = "atlas_term"

    list: Mapped[str] = mapped_column(String(16), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label_en: Mapped[str] = mapped_column(String(200))
    label_fr: Mapped[str] = mapped_column(String(200))
    open_standard: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired: Mapped[bool] = mapped_column(default=False)


class Solution(_Versioned, Base):
    """A named software product or digital good that implementations deploy."""

    __tablename__ = "atlas_solution"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str | None] = mapped_column(String(16))  # a services-and-applications code (2023)
    licence: Mapped[str | None] = mapped_column(String(100))  # an SPDX identifier or LicenseRef-...
    website: Mapped[str | None] = mapped_column(String(500))
    repository: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Implementation(_Versioned, Base):
    """A deployment of a digital-health system in a country."""

    __tablename__ = "atlas_implementation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    country_iso3: Mapped[str] = mapped_column(ForeignKey("ref_country.iso3"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    stage: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    openness: Mapped[str] = mapped_column(String(16), default="unknown")
    licence: Mapped[str | None] = mapped_column(String(100))
    government_ownership: Mapped[str] = mapped_column(String(8), default="none")
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    approval: Mapped[str] = mapped_column(String(16), default="pending")
    approved_by: Mapped[str | None] = mapped_column(String(254))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("atlas_implementation.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class StageEvent(Base):
    """When an implementation entered a lifecycle stage (the dated history)."""

    __tablename__ = "atlas_stage_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    implementation_id: Mapped[int] = mapped_column(ForeignKey("atlas_implementation.id", ondelete="CASCADE"),
                                                   index=True)
    stage: Mapped[str] = mapped_column(String(32))
    on_date: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")


class Coverage(Base):
    """Who an implementation reaches in an area, as of a date (versioned: a new row per count)."""

    __tablename__ = "atlas_coverage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    implementation_id: Mapped[int] = mapped_column(ForeignKey("atlas_implementation.id", ondelete="CASCADE"),
                                                   index=True)
    area_code: Mapped[str] = mapped_column(String(16))  # ISO 3166-2, or "" for the whole country
    area_name: Mapped[str] = mapped_column(String(200), default="")
    as_of: Mapped[dt.date] = mapped_column(Date)
    persons: Mapped[int | None] = mapped_column(Integer)
    health_workers: Mapped[int | None] = mapped_column(Integer)
    facilities: Mapped[int | None] = mapped_column(Integer)


class Classification(Base):
    """A code of the 2023 classification given to an implementation; where it was converted from
    a 2018 code, that original code is kept."""

    __tablename__ = "atlas_classification"
    __table_args__ = (UniqueConstraint("implementation_id", "scheme", "code", "original_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    implementation_id: Mapped[int] = mapped_column(ForeignKey("atlas_implementation.id", ondelete="CASCADE"),
                                                   index=True)
    scheme: Mapped[str] = mapped_column(String(40), index=True)
    code: Mapped[str] = mapped_column(String(16), index=True)
    original_scheme: Mapped[str | None] = mapped_column(String(40))
    original_code: Mapped[str | None] = mapped_column(String(16))


class ImplementationTerm(Base):
    __tablename__ = "atlas_implementation_term"
    __audited__ = False  # part of the implementation: its changes are recorded with it

    implementation_id: Mapped[int] = mapped_column(ForeignKey("atlas_implementation.id", ondelete="CASCADE"),
                                                   primary_key=True)
    list: Mapped[str] = mapped_column(String(16), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)


class ImplementationSolution(Base):
    __tablename__ = "atlas_implementation_solution"

    implementation_id: Mapped[int] = mapped_column(ForeignKey("atlas_implementation.id", ondelete="CASCADE"),
                                                   primary_key=True)
    solution_id: Mapped[int] = mapped_column(ForeignKey("atlas_solution.id"), primary_key=True, index=True)


class ImplementationOrg(Base):
    """An organisation implementing or funding an implementation (from the master list)."""

    __tablename__ = "atlas_implementation_org"

    implementation_id: Mapped[int] = mapped_column(ForeignKey("atlas_implementation.id", ondelete="CASCADE"),
                                                   primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class Contact(Base):
    """A person to ask about an implementation; never shown to the public."""

    __tablename__ = "atlas_contact"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    implementation_id: Mapped[int] = mapped_column(ForeignKey("atlas_implementation.id", ondelete="CASCADE"),
                                                   index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(200), default="")


class FxRate(Base):
    """How many units of a currency one US dollar bought in a year (annual average), and where the
    figure comes from."""

    __tablename__ = "atlas_fx_rate"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    units_per_usd: Mapped[Decimal] = mapped_column(Numeric(24, 10))
    source: Mapped[str] = mapped_column(String(300))
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Investment(_Versioned, Base):
    """Money committed by a funder to a recipient for digital health in a country."""

    __tablename__ = "atlas_investment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    funder_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    recipient_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    country_iso3: Mapped[str] = mapped_column(ForeignKey("ref_country.iso3"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))
    committed_on: Mapped[dt.date] = mapped_column(Date)
    period_start: Mapped[int] = mapped_column(Integer)  # years
    period_end: Mapped[int] = mapped_column(Integer)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    approval: Mapped[str] = mapped_column(String(16), default="pending")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Disbursement(Base):
    __tablename__ = "atlas_disbursement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    investment_id: Mapped[int] = mapped_column(ForeignKey("atlas_investment.id", ondelete="CASCADE"), index=True)
    on_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2))


class InvestmentTarget(Base):
    """What an investment funds: an implementation, a 2023 intervention code, a GDHM component or a
    national priority, with the share of the amount it gets (shares of one investment add up to 1;
    none given means equal shares)."""

    __tablename__ = "atlas_investment_target"
    __table_args__ = (UniqueConstraint("investment_id", "kind", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    investment_id: Mapped[int] = mapped_column(ForeignKey("atlas_investment.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    ref: Mapped[str] = mapped_column(String(40), index=True)
    share: Mapped[Decimal | None] = mapped_column(Numeric(6, 5))


class MergeRecord(Base):
    """A duplicate folded into the record kept: what was merged, by whom, and what was rewired."""

    __tablename__ = "atlas_merge"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))  # implementation or organisation
    kept_id: Mapped[int] = mapped_column(Integer, index=True)
    merged_id: Mapped[int] = mapped_column(Integer, index=True)
    merged_by: Mapped[str] = mapped_column(String(254))
    merged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    rewired: Mapped[str] = mapped_column(Text)  # canonical JSON: table -> ids moved

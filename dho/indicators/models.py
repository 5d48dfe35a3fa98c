"""Indicators: definitions as data (numerator and denominator expressions over platform data, a factor,
aggregation over time and geography, a period type, decimals, a baseline, targets and colour legends).

A definition is versioned: editing it adds a new row with ``version + 1`` and marks it current; the
earlier versions stay, so a published figure can always name the definition it was computed with."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dho.db import Base, UTCDateTime, utcnow


class IndicatorDefinition(Base):
    """One version of an indicator. ``spec`` is canonical JSON: numerator, denominator, factor,
    aggregations, period type, decimals, baseline and legend (validated by dho.indicators.spec)."""

    __tablename__ = "indicator_definition"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    current: Mapped[bool] = mapped_column(default=True, index=True)
    objective: Mapped[str | None] = mapped_column(String(8))  # SO1..SO4, or None for cross-cutting
    name_en: Mapped[str] = mapped_column(String(300))
    name_fr: Mapped[str] = mapped_column(String(300))
    description_en: Mapped[str] = mapped_column(Text, default="")
    description_fr: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[str] = mapped_column(Text)
    shipped: Mapped[bool] = mapped_column(default=False)  # part of the core set shipped with the platform
    created_by: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IndicatorTarget(Base):
    """A target value for a period (e.g. "2027", "2026Q4"), worldwide or for one geography
    (``geo`` = "WORLD", a WHO region code, an income group code or an ISO3 country code)."""

    __tablename__ = "indicator_target"
    __table_args__ = (UniqueConstraint("code", "geo", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    geo: Mapped[str] = mapped_column(String(8), default="WORLD")
    period: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    unit: Mapped[str] = mapped_column(String(16))  # must equal the definition's unit (percent, number, ...)
    set_by: Mapped[str] = mapped_column(String(254), default="")
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DataEpoch(Base):
    """A counter bumped whenever data that indicators read changes; cached results carry the epoch
    they were computed at and are recomputed when it moves."""

    __tablename__ = "indicator_data_epoch"
    __audited__ = False
    __archived__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

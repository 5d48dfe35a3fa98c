"""Reports: the narrative sections people write into the generated progress reports (everything else
in a report is computed from live data)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dho.db import Base, UTCDateTime, utcnow

SCOPES = ("global", "region", "country")


class ReportNarrative(Base):
    """A narrative section of a progress report the Secretariat (or a region or country) writes."""

    __tablename__ = "report_narrative"
    __table_args__ = (UniqueConstraint("scope", "scope_code", "year", "section", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))  # global, region, country
    scope_code: Mapped[str] = mapped_column(String(8), default="")
    year: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(40))  # intro, SO1..SO4, outlook
    language: Mapped[str] = mapped_column(String(5), default="en")
    text: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(254), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

"""Reference tables: regions, countries and areas, income history, classifications, strategy."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dho.db import Base, UTCDateTime


class ReferenceTable(Base):
    __abstract__ = True
    __audited__ = False  # the loader writes its own audit entries (one per changed row)


class WhoRegion(ReferenceTable):
    __tablename__ = "ref_who_region"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    office: Mapped[str] = mapped_column(String(16))
    name_en: Mapped[str] = mapped_column(String(120))
    name_fr: Mapped[str] = mapped_column(String(120))


class IncomeGroupName(ReferenceTable):
    __tablename__ = "ref_income_group_name"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_fr: Mapped[str] = mapped_column(String(120))


class Country(ReferenceTable):
    __tablename__ = "ref_country"

    iso3: Mapped[str] = mapped_column(String(3), primary_key=True)
    iso2: Mapped[str | None] = mapped_column(String(2), index=True)
    iso_numeric: Mapped[int | None] = mapped_column(Integer)
    who_code: Mapped[str | None] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200), index=True)
    name_fr: Mapped[str | None] = mapped_column(String(200))
    # names and codes folded (lower case, no accents) so search behaves the same on every database
    search_text: Mapped[str | None] = mapped_column(String(600))
    who_member: Mapped[bool] = mapped_column(Boolean, default=False)
    who_region: Mapped[str | None] = mapped_column(ForeignKey("ref_who_region.code"), index=True)
    who_region_before_2025: Mapped[str | None] = mapped_column(ForeignKey("ref_who_region.code"))
    sovereign_iso3: Mapped[str | None] = mapped_column(String(3))
    wb_region: Mapped[str | None] = mapped_column(String(80))
    wb_income_group: Mapped[str | None] = mapped_column(String(8))  # latest fiscal year
    wb_lending_category: Mapped[str | None] = mapped_column(String(16))
    un_ldc: Mapped[bool] = mapped_column(Boolean, default=False)
    un_lldc: Mapped[bool] = mapped_column(Boolean, default=False)
    un_sids: Mapped[bool] = mapped_column(Boolean, default=False)
    status_note: Mapped[str | None] = mapped_column(Text)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)


class IncomeGroup(ReferenceTable):
    __tablename__ = "ref_income_group"

    iso3: Mapped[str] = mapped_column(ForeignKey("ref_country.iso3"), primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    gni_data_year: Mapped[int] = mapped_column(Integer)
    income_group: Mapped[str] = mapped_column(String(8), index=True)


class ClassificationScheme(ReferenceTable):
    __tablename__ = "ref_classification_scheme"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    edition: Mapped[int] = mapped_column(Integer)
    axis: Mapped[str] = mapped_column(String(40))  # interventions, challenges, services_applications, ...
    position: Mapped[int] = mapped_column(Integer, default=0)


class ClassificationCode(ReferenceTable):
    __tablename__ = "ref_classification_code"

    scheme: Mapped[str] = mapped_column(ForeignKey("ref_classification_scheme.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(40))
    parent_code: Mapped[str | None] = mapped_column(String(16), index=True)
    sort_key: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON of extra columns
    retired: Mapped[bool] = mapped_column(Boolean, default=False)


class ClassificationMap(ReferenceTable):
    __tablename__ = "ref_classification_map"
    __table_args__ = (UniqueConstraint("from_scheme", "from_code", "to_scheme", "to_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_scheme: Mapped[str] = mapped_column(ForeignKey("ref_classification_scheme.id"))
    from_code: Mapped[str] = mapped_column(String(16), index=True)
    to_scheme: Mapped[str] = mapped_column(ForeignKey("ref_classification_scheme.id"))
    to_code: Mapped[str | None] = mapped_column(String(16), index=True)
    relationship: Mapped[str] = mapped_column(String(24))
    comment: Mapped[str | None] = mapped_column(Text)


class StrategyElement(ReferenceTable):
    __tablename__ = "ref_strategy_element"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title_en: Mapped[str] = mapped_column(Text)
    title_fr: Mapped[str] = mapped_column(Text)


class ReferenceRelease(ReferenceTable):
    __tablename__ = "ref_release"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checksum: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    summary: Mapped[str] = mapped_column(Text)

"""API shapes for reference data."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class RegionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    office: str
    name_en: str
    name_fr: str


class IncomeGroupNameOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name_en: str
    name_fr: str


class CountryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    iso3: str
    iso2: str | None
    iso_numeric: int | None
    name: str
    name_fr: str
    who_member: bool
    who_region: str | None
    who_region_before_2025: str | None
    sovereign_iso3: str | None
    wb_region: str | None
    wb_income_group: str | None
    wb_lending_category: str | None
    un_ldc: bool
    un_lldc: bool
    un_sids: bool
    status_note: str | None


class IncomeYearOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    fiscal_year: int
    gni_data_year: int
    income_group: str


class CountryDetailOut(CountryOut):
    income_history: list[IncomeYearOut]


class Page(BaseModel):
    total: int
    limit: int
    offset: int


class CountryPage(Page):
    items: list[CountryOut]


class SchemeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    title: str
    edition: int
    axis: str


class CodeOut(BaseModel):
    scheme: str
    code: str
    name: str
    level: str
    parent_code: str | None
    attributes: dict[str, Any]


class CodePage(Page):
    items: list[CodeOut]


class MappingOut(BaseModel):
    from_scheme: str
    from_code: str
    to_scheme: str
    to_code: str | None
    to_name: str | None
    relationship: str
    comment: str | None


class CodeDetailOut(CodeOut):
    parent: CodeOut | None
    children: list[CodeOut]
    maps_to: list[MappingOut]
    maps_from: list[MappingOut]


class StrategyElementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    position: int
    title_en: str
    title_fr: str

"""What the atlas accepts: strict input models (unknown fields refused) for implementations and
investments. Cross-record checks (organisations exist, codes exist, rates exist) are the service's."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from dho.accounts.schemas import Email
from dho.atlas.models import INVESTMENT_KINDS, OPENNESS, ORG_ROLES, OWNERSHIP, STAGES, TARGET_KINDS

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000,
                                        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]
Iso3 = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Code = Annotated[str, StringConstraints(max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")]
Spdx = Annotated[str, StringConstraints(max_length=100,
                                        pattern=r"^[A-Za-z0-9.+\-]+( (AND|OR|WITH) [A-Za-z0-9.+\-]+)*$")]
Url = Annotated[str, StringConstraints(max_length=500, pattern=r"^https?://[^\s/$.?#][^\s]*$")]
Stage = Annotated[str, Field(json_schema_extra={"enum": list(STAGES)})]
# Money travels as a decimal string ("1250000.50") or a whole number; binary floats (and booleans)
# are refused rather than rounded. The service parses and checks the value (money.parse_amount).
Amount = Annotated[str, StringConstraints(max_length=30)] | Annotated[int, Strict()]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StageEventIn(_Strict):
    stage: Stage
    on_date: dt.date
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


class CoverageIn(_Strict):
    area_code: Annotated[str, StringConstraints(pattern=r"^([A-Z]{2}-[A-Z0-9]{1,3})?$")] = ""
    area_name: Annotated[str, StringConstraints(max_length=200)] = ""
    as_of: dt.date
    persons: Annotated[int, Field(ge=0, le=10_000_000_000)] | None = None
    health_workers: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    facilities: Annotated[int, Field(ge=0, le=10_000_000)] | None = None


class ClassificationIn(_Strict):
    scheme: Annotated[str, StringConstraints(max_length=40)]
    code: Annotated[str, StringConstraints(max_length=16)]


class ContactIn(_Strict):
    name: Name
    email: Email | None = None
    role: Annotated[str, StringConstraints(max_length=200)] = ""


class OrgRoleIn(_Strict):
    organisation_id: Annotated[int, Field(ge=1)]
    role: Annotated[str, Field(json_schema_extra={"enum": list(ORG_ROLES)})]


class ImplementationIn(_Strict):
    name: Name
    country_iso3: Iso3
    description: Text = ""
    stage: Stage
    stage_history: Annotated[list[StageEventIn], Field(max_length=50)] = []
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    openness: Annotated[str, Field(json_schema_extra={"enum": list(OPENNESS)})] = "unknown"
    licence: Spdx | None = None
    government_ownership: Annotated[str, Field(json_schema_extra={"enum": list(OWNERSHIP)})] = "none"
    owner_org_id: Annotated[int, Field(ge=1)]
    organisations: Annotated[list[OrgRoleIn], Field(max_length=50)] = []
    solutions: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=20)] = []
    classifications: Annotated[list[ClassificationIn], Field(max_length=100)] = []
    standards: Annotated[list[Code], Field(max_length=40)] = []
    interop: Annotated[list[Code], Field(max_length=40)] = []
    health_focus: Annotated[list[Code], Field(max_length=40)] = []
    coverage: Annotated[list[CoverageIn], Field(max_length=500)] = []
    contacts: Annotated[list[ContactIn], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _dates_in_order(self) -> ImplementationIn:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        for value in (self.stage, *(e.stage for e in self.stage_history)):
            if value not in STAGES:
                raise ValueError(f"unknown stage {value[:40]!r}; use one of {', '.join(STAGES)}")
        if self.openness not in OPENNESS or self.government_ownership not in OWNERSHIP:
            raise ValueError("unknown openness or government ownership value")
        if any(o.role not in ORG_ROLES for o in self.organisations):
            raise ValueError(f"an organisation's role must be one of {', '.join(ORG_ROLES)}")
        return self


class DisbursementIn(_Strict):
    on_date: dt.date
    amount: Amount


class TargetIn(_Strict):
    kind: Annotated[str, Field(json_schema_extra={"enum": list(TARGET_KINDS)})]
    ref: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    share: Annotated[str, StringConstraints(max_length=12)] | None = None


class InvestmentIn(_Strict):
    title: Name
    funder_org_id: Annotated[int, Field(ge=1)]
    recipient_org_id: Annotated[int, Field(ge=1)] | None = None
    country_iso3: Iso3
    amount: Amount
    currency: Annotated[str, StringConstraints(max_length=3)]
    kind: Annotated[str, Field(json_schema_extra={"enum": list(INVESTMENT_KINDS)})]
    committed_on: dt.date
    period_start: Annotated[int, Field(ge=1990, le=2100)]
    period_end: Annotated[int, Field(ge=1990, le=2100)]
    owner_org_id: Annotated[int, Field(ge=1)] | None = None
    disbursements: Annotated[list[DisbursementIn], Field(max_length=200)] = []
    targets: Annotated[list[TargetIn], Field(max_length=100)] = []

    @model_validator(mode="after")
    def _in_order(self) -> InvestmentIn:
        if self.kind not in INVESTMENT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(INVESTMENT_KINDS)}")
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if any(t.kind not in TARGET_KINDS for t in self.targets):
            raise ValueError(f"a target's kind must be one of {', '.join(TARGET_KINDS)}")
        for d in self.disbursements:
            if d.on_date < self.committed_on:
                raise ValueError(f"a disbursement on {d.on_date} is before the commitment on {self.committed_on}")
        return self

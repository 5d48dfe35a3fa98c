"""Input and output shapes for accounts. Input models are strict and refuse unknown fields."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from dho.accounts.models import ORGANISATION_KINDS, ROLES
from dho.i18n import _

# C0 controls (but tab and line breaks), DEL, C1 controls, and the bidirectional overrides that can
# make text display differently from what it is.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _no_control_chars(value: str) -> str:
    if CONTROL.search(value):
        raise ValueError(_("must not contain control characters"))
    return value


def _email(value: str) -> str:
    value = _no_control_chars(value).strip().lower()
    if not re.fullmatch(r"[^@\s]{1,64}@[^@\s]{1,189}\.[a-z0-9-]{2,63}", value):
        raise ValueError(_("is not a valid e-mail address"))
    return value


def _url(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    # printable ASCII only: international domain names are written in their xn-- form
    if not re.fullmatch(r"https?://[!#-&(-;=?-~]{3,490}", value):
        raise ValueError(_("must be an http(s) address"))
    return value


Acronym = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=40),
                    AfterValidator(lambda v: _no_control_chars(v) or None if v else None)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 AfterValidator(_no_control_chars)]
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
Password = Annotated[str, StringConstraints(min_length=10, max_length=256)]
Iso3 = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Url = Annotated[str | None, AfterValidator(_url)]
OrganisationKind = Literal[ORGANISATION_KINDS]  # type: ignore[valid-type]
Role = Literal[ROLES]  # type: ignore[valid-type]
Scope = Literal["read", "write", "admin"]
RowId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class StrictIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrganisationIn(StrictIn):
    name: Name
    acronym: Acronym = None
    kind: OrganisationKind
    country_iso3: Iso3 | None = None
    website: Url = None


class OrganisationPatch(StrictIn):
    version: int = Field(ge=1, le=2_147_483_647,
                         description="The version you edited; a stale version is refused with 409")
    name: Name | None = None
    acronym: Acronym = None
    kind: OrganisationKind | None = None
    country_iso3: Iso3 | None = None
    website: Url = None


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    acronym: str | None
    kind: str
    country_iso3: str | None
    website: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class UserIn(StrictIn):
    email: Email
    display_name: Name
    password: Password | None = None
    organisation_id: RowId | None = None
    locale: Literal["en", "fr"] | None = None


class GrantIn(StrictIn):
    role: Role
    country_iso3: Iso3 | None = None
    region_code: Annotated[str | None, StringConstraints(pattern=r"^[A-Z]{3,4}$")] = None
    organisation_id: RowId | None = None


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    role: str
    country_iso3: str | None
    region_code: str | None
    organisation_id: int | None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    display_name: str
    is_active: bool
    locale: str | None
    organisation_id: int | None
    grants: list[GrantOut]


class TokenIn(StrictIn):
    name: Name
    scopes: list[Scope] = Field(min_length=1, max_length=3)
    days: int = Field(default=90, ge=1, le=366)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    scopes: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret, shown once")

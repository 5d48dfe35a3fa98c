"""Capacity building: trainings and the people they trained, one record per participant.

No name is kept, only what the figures need (country, role, gender, completed), so "officials
trained" is a count of records: completed participants whose role is ``government_official``.
Participants are added one at a time or many at once from a CSV file; a file is checked row by row
and column by column before anything is written, and one bad row refuses the whole file.
Writes need ``training.record`` for the organiser organisation or the host country."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dho import i18n
from dho.accounts.models import Organisation
from dho.accounts.permissions import Principal, Target, authorize
from dho.errors import Conflict, ErrorReport, FieldError, NotFound, PayloadTooLarge, Unauthenticated, ValidationFailed
from dho.i18n import _
from dho.reference import service as reference
from dho.reference.models import Country
from dho.strategy.models import GENDERS, PARTICIPANT_ROLES, Training, TrainingParticipant

TOPICS = ("digital_health", "ai", "data_governance", "interoperability", "cybersecurity", "health_informatics",
          "leadership")
MODES = ("in_person", "online", "blended")
CSV_COLUMNS = ("country_iso3", "role", "gender", "completed")
MAX_CSV_BYTES = 1_500_000
MAX_ROWS = 20_000
MAX_REPORTED_ERRORS = 50
TRUE = ("true", "yes", "1", "y")
FALSE = ("false", "no", "0", "n")
MIN_YEAR, MAX_YEAR = 1990, 2100

TOPIC_LABELS = {
    "digital_health": i18n._("Digital health"), "ai": i18n._("Artificial intelligence"),
    "data_governance": i18n._("Data governance"), "interoperability": i18n._("Standards and interoperability"),
    "cybersecurity": i18n._("Cybersecurity"), "health_informatics": i18n._("Health informatics"),
    "leadership": i18n._("Digital leadership"),
}
MODE_LABELS = {"in_person": i18n._("In person"), "online": i18n._("Online"), "blended": i18n._("Blended")}
ROLE_LABELS = {
    "government_official": i18n._("Government official"), "health_worker": i18n._("Health worker"),
    "academic": i18n._("Academic"), "partner_staff": i18n._("Partner staff"), "other": i18n._("Other"),
}
GENDER_LABELS = {"female": i18n._("Female"), "male": i18n._("Male"), "other": i18n._("Other"),
                 "undisclosed": i18n._("Not disclosed")}

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]
Iso3 = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(_("must be one of: %(choices)s", choices=", ".join(allowed)))
    return value


class TrainingIn(_Strict):
    title: Name
    topic: Annotated[str, StringConstraints(max_length=40)] = "digital_health"
    organiser_org_id: Annotated[int, Field(ge=1, le=2_147_483_647)]
    host_country_iso3: Iso3 | None = None
    mode: Annotated[str, StringConstraints(max_length=16)] = "in_person"
    starts_on: dt.date
    ends_on: dt.date

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        return _choice(v, TOPICS)

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        return _choice(v, MODES)

    @field_validator("starts_on", "ends_on")
    @classmethod
    def _sane(cls, v: dt.date) -> dt.date:
        if not MIN_YEAR <= v.year <= MAX_YEAR:
            raise ValueError(_("must be a date between %(a)s and %(b)s", a=MIN_YEAR, b=MAX_YEAR))
        return v

    @model_validator(mode="after")
    def _in_order(self) -> TrainingIn:
        if self.ends_on < self.starts_on:
            raise ValueError(_("the training ends (%(end)s) before it starts (%(start)s)",
                               end=self.ends_on.isoformat(), start=self.starts_on.isoformat()))
        return self


class ParticipantIn(_Strict):
    country_iso3: Iso3
    role: Annotated[str, StringConstraints(max_length=24)]
    gender: Annotated[str, StringConstraints(max_length=12)]
    completed: bool = True

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        return _choice(v, PARTICIPANT_ROLES)

    @field_validator("gender")
    @classmethod
    def _gender(cls, v: str) -> str:
        return _choice(v, GENDERS)


def _signed_in(principal: Principal) -> None:
    if not principal.is_authenticated:
        raise Unauthenticated(_("Sign in to do this."))


def target_for(session: Session, training: Training | TrainingIn) -> Target:
    host = training.host_country_iso3
    return Target(country_iso3=host, region_code=reference.region_of(session, host),
                  organisation_id=training.organiser_org_id)


def _known_countries(session: Session) -> set[str]:
    return set(session.execute(select(Country.iso3).where(Country.retired.is_(False))).scalars())


# ---------------------------------------------------------------- trainings


def create_training(session: Session, principal: Principal, data: TrainingIn) -> Training:
    _signed_in(principal)
    authorize(session, principal, "training.record", target_for(session, data))
    errors: list[FieldError] = []
    if session.get(Organisation, data.organiser_org_id) is None:
        errors.append(FieldError("organiser_org_id", _("no organisation %(id)s in the master list",
                                                       id=data.organiser_org_id)))
    if data.host_country_iso3 and data.host_country_iso3 not in _known_countries(session):
        errors.append(FieldError("host_country_iso3", _("%(code)s is not a known country code",
                                                        code=data.host_country_iso3)))
    if errors:
        raise ValidationFailed(_("The training is not valid; nothing was saved."), errors=errors)
    training = Training(**data.model_dump())
    session.add(training)
    session.flush()
    return training


def get_training(session: Session, training_id: int) -> Training:
    training = session.get(Training, training_id)
    if training is None:
        raise NotFound(_("No training %(id)s.", id=training_id))
    return training


def add_participants(session: Session, principal: Principal, training_id: int, rows: list[ParticipantIn],
                     expected_version: int | None = None) -> int:
    """Add participants to a training, all or none. Returns how many were added."""
    _signed_in(principal)
    training = get_training(session, training_id)
    authorize(session, principal, "training.record", target_for(session, training))
    if expected_version is not None and expected_version != training.version:
        raise Conflict(_("Someone else changed this training meanwhile (now version %(v)s); reload it.",
                         v=training.version))
    if not rows:
        raise ValidationFailed(_("No participants were given; nothing was saved."),
                               errors=[FieldError("participants", _("must not be empty"))])
    if len(rows) > MAX_ROWS:
        raise PayloadTooLarge(_("At most %(n)s participants at once; nothing was saved.", n=MAX_ROWS))
    known = _known_countries(session)
    report = ErrorReport()
    for n, row in enumerate(rows, start=1):
        if row.country_iso3 not in known:
            report.add(f"row {n}, country_iso3", _("%(code)s is not a known country code", code=row.country_iso3))
            if len(report.errors) >= MAX_REPORTED_ERRORS:
                break
    report.raise_if_any(_("Some participants are not valid; nothing was saved."))
    session.add_all(TrainingParticipant(training_id=training.id, **r.model_dump()) for r in rows)
    training.updated_at = dt.datetime.now(dt.UTC)  # bumps the version: the list of participants changed
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise Conflict(_("Someone else changed this training meanwhile; reload it.")) from None
    return len(rows)


def parse_csv(data: bytes) -> list[ParticipantIn]:
    """Participants from a CSV file with the columns country_iso3, role, gender, completed (in any
    order, a header row first). Every row and column is checked; errors name both."""
    if len(data) > MAX_CSV_BYTES:
        raise PayloadTooLarge(_("The file is larger than %(n)s MB; nothing was saved.", n=MAX_CSV_BYTES / 1_000_000))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(_("The file is not valid; nothing was saved."),
                               errors=[FieldError("file", _("is not UTF-8 text"))]) from None
    if "\x00" in text:
        raise ValidationFailed(_("The file is not valid; nothing was saved."),
                               errors=[FieldError("file", _("is not a text file"))])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ValidationFailed(_("The file is not valid; nothing was saved."),
                               errors=[FieldError("file", _("is empty"))]) from None
    except csv.Error as exc:
        raise ValidationFailed(_("The file is not valid; nothing was saved."),
                               errors=[FieldError("row 1", str(exc))]) from None
    missing = [c for c in CSV_COLUMNS if c not in header]
    extra = [c for c in header if c not in CSV_COLUMNS]
    if missing or extra or len(set(header)) != len(header):
        raise ValidationFailed(_("The file's header row is not valid; nothing was saved."), errors=[FieldError(
            "row 1", _("the columns must be exactly: %(cols)s", cols=",".join(CSV_COLUMNS)))])
    pos = {c: header.index(c) for c in CSV_COLUMNS}
    report = ErrorReport()
    out: list[ParticipantIn] = []
    line = 1
    try:
        for cells in reader:
            line += 1
            if not any(c.strip() for c in cells):
                continue
            if len(out) >= MAX_ROWS:
                raise PayloadTooLarge(_("The file has more than %(n)s participants; nothing was saved.", n=MAX_ROWS))
            row = _csv_row(cells, pos, line, len(header), report)
            if row is not None:
                out.append(row)
            if len(report.errors) >= MAX_REPORTED_ERRORS:
                report.add(f"row {line}", _("too many errors; the rest of the file was not checked"))
                break
    except csv.Error as exc:
        report.add(f"row {line}", str(exc)[:200])
    report.raise_if_any(_("Some rows of the file are not valid; nothing was saved."))
    if not out:
        raise ValidationFailed(_("The file is not valid; nothing was saved."),
                               errors=[FieldError("file", _("has no participant rows"))])
    return out


def _csv_row(cells: list[str], pos: dict[str, int], line: int, width: int, report: ErrorReport
             ) -> ParticipantIn | None:
    if len(cells) != width:
        report.add(f"row {line}", _("has %(n)s columns instead of %(m)s", n=len(cells), m=width))
        return None
    values = {c: cells[i].strip() for c, i in pos.items()}
    ok = True
    iso3 = values["country_iso3"].upper()
    if len(iso3) != 3 or not iso3.isascii() or not iso3.isalpha():
        report.add(f"row {line}, column country_iso3", _("%(code)s is not a three-letter country code",
                                                          code=values["country_iso3"][:20]))
        ok = False
    for col, allowed in (("role", PARTICIPANT_ROLES), ("gender", GENDERS)):
        if values[col] not in allowed:
            report.add(f"row {line}, column {col}", _("%(value)s is not one of: %(choices)s",
                                                      value=values[col][:40], choices=", ".join(allowed)))
            ok = False
    done = values["completed"].lower()
    if done not in TRUE + FALSE + ("",):
        report.add(f"row {line}, column completed", _("must be true or false"))
        ok = False
    if not ok:
        return None
    return ParticipantIn(country_iso3=iso3, role=values["role"], gender=values["gender"], completed=done not in FALSE)


def check_csv_countries(session: Session, rows: list[ParticipantIn]) -> None:
    """Name the CSV row (header is row 1) of every unknown country code."""
    known = _known_countries(session)
    report = ErrorReport()
    for n, row in enumerate(rows, start=2):
        if row.country_iso3 not in known:
            report.add(f"row {n}, column country_iso3", _("%(code)s is not a known country code",
                                                          code=row.country_iso3))
            if len(report.errors) >= MAX_REPORTED_ERRORS:
                break
    report.raise_if_any(_("Some rows of the file are not valid; nothing was saved."))


def import_csv(session: Session, principal: Principal, training_id: int, data: bytes) -> int:
    """Add every participant of a CSV file, or none (the error names the row and column)."""
    _signed_in(principal)
    training = get_training(session, training_id)
    authorize(session, principal, "training.record", target_for(session, training))
    rows = parse_csv(data)
    check_csv_countries(session, rows)
    return add_participants(session, principal, training_id, rows)


# ---------------------------------------------------------------- reads


def training_dict(session: Session, t: Training, counts: dict[int, int] | None = None) -> dict[str, Any]:
    org = session.get(Organisation, t.organiser_org_id) if t.organiser_org_id else None
    n = counts.get(t.id, 0) if counts is not None else session.scalar(
        select(func.count()).where(TrainingParticipant.training_id == t.id)) or 0
    return {"id": t.id, "title": t.title, "topic": t.topic, "organiser_org_id": t.organiser_org_id,
            "organiser": org.name if org else None, "host_country_iso3": t.host_country_iso3, "mode": t.mode,
            "starts_on": t.starts_on.isoformat(), "ends_on": t.ends_on.isoformat(), "activity_id": t.activity_id,
            "participants": n, "version": t.version}


def participant_counts(session: Session, training_ids: list[int] | None = None) -> dict[int, int]:
    stmt = select(TrainingParticipant.training_id, func.count()).group_by(TrainingParticipant.training_id)
    if training_ids is not None:
        stmt = stmt.where(TrainingParticipant.training_id.in_(training_ids))
    return {int(k): int(v) for k, v in session.execute(stmt).all()}


def list_trainings(session: Session, year: int | None = None, country: str | None = None) -> list[Training]:
    stmt = select(Training)
    if year:
        # A training belongs to the year it ended, as in ``totals``.
        stmt = stmt.where(Training.ends_on >= dt.date(year, 1, 1), Training.ends_on <= dt.date(year, 12, 31))
    if country:
        stmt = stmt.where(Training.host_country_iso3 == country.upper())
    return list(session.execute(stmt.order_by(Training.starts_on.desc(), Training.id.desc())).scalars())


def totals(session: Session, training_id: int | None = None, year: int | None = None) -> dict[str, Any]:
    """Participants by role and gender (completed ones), countries reached, and officials trained:
    completed participants whose role is government official."""
    stmt = (select(TrainingParticipant.role, TrainingParticipant.gender, TrainingParticipant.completed, func.count())
            .join(Training, Training.id == TrainingParticipant.training_id)
            .group_by(TrainingParticipant.role, TrainingParticipant.gender, TrainingParticipant.completed))
    cstmt = select(func.count(func.distinct(TrainingParticipant.country_iso3))).join(
        Training, Training.id == TrainingParticipant.training_id).where(
        TrainingParticipant.role == "government_official", TrainingParticipant.completed.is_(True))
    if training_id is not None:
        stmt = stmt.where(TrainingParticipant.training_id == training_id)
        cstmt = cstmt.where(TrainingParticipant.training_id == training_id)
    if year:
        window = (Training.ends_on >= dt.date(year, 1, 1), Training.ends_on <= dt.date(year, 12, 31))
        stmt = stmt.where(*window)
        cstmt = cstmt.where(*window)
    by_role = {r: 0 for r in PARTICIPANT_ROLES}
    by_gender = {g: 0 for g in GENDERS}
    grid = {r: {g: 0 for g in GENDERS} for r in PARTICIPANT_ROLES}
    registered = completed = 0
    for role, gender, done, n in session.execute(stmt).all():
        registered += n
        if not done:
            continue
        completed += n
        by_role[role] = by_role.get(role, 0) + n
        by_gender[gender] = by_gender.get(gender, 0) + n
        grid.setdefault(role, {}).setdefault(gender, 0)
        grid[role][gender] += n
    return {"registered": registered, "completed": completed, "by_role": by_role, "by_gender": by_gender,
            "by_role_gender": grid, "officials_trained": by_role.get("government_official", 0),
            "official_countries": session.scalar(cstmt) or 0}


def by_country(session: Session, training_id: int) -> list[tuple[str, int]]:
    rows = session.execute(select(TrainingParticipant.country_iso3, func.count())
                           .where(TrainingParticipant.training_id == training_id)
                           .group_by(TrainingParticipant.country_iso3)
                           .order_by(func.count().desc(), TrainingParticipant.country_iso3)).all()
    return [(str(c), int(n)) for c, n in rows]

"""Atlas records: implementations and investments, their validation, permissions and workflow.

A partner edits the records its organisation owns; the country's focal point edits its country's
records and approves them, which publishes them; the public reads published records, without
contacts. Every write goes through ``authorize`` and is recorded in the audit log."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dho import linkcheck
from dho.accounts.models import Organisation
from dho.accounts.permissions import Principal, Target, authorize, can
from dho.atlas import money
from dho.atlas.models import (
    TERM_LISTS,
    Classification,
    Contact,
    Coverage,
    Disbursement,
    FxRate,
    Implementation,
    ImplementationOrg,
    ImplementationSolution,
    ImplementationTerm,
    Investment,
    InvestmentTarget,
    Solution,
    StageEvent,
    Term,
)
from dho.atlas.schemas import ImplementationIn, InvestmentIn
from dho.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from dho.i18n import _
from dho.reference import service as reference
from dho.reference import subdivisions
from dho.reference.loader import fold
from dho.reference.models import ClassificationCode, ClassificationMap, Country

DATA_DIR = Path(__file__).parent / "data"
SCHEMES_2023 = ("cdisah2023-dhi", "cdisah2023-hsc", "cdisah2023-sat")
SCHEMES_2018 = {"cdhi2018-dhi": "cdisah2023-dhi", "cdhi2018-sc": "cdisah2023-sat"}
STALE_AFTER_DAYS = 365
SPDX = re.compile(r"[A-Za-z0-9.+\-]+( (AND|OR|WITH) [A-Za-z0-9.+\-]+)*")


def utcnow_date() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def target_for(session: Session, country_iso3: str, owner_org_id: int | None) -> Target:
    return Target(country_iso3=country_iso3, region_code=reference.region_of(session, country_iso3),
                  organisation_id=owner_org_id)


# ---------------------------------------------------------------- managed lists


def load_terms(session: Session) -> int:
    """Load the shipped managed lists (standards, interoperability links, health focus areas);
    idempotent, user data untouched."""
    data = json.loads((DATA_DIR / "terms.json").read_text(encoding="utf-8"))
    existing = {(t.list, t.code): t for t in session.execute(select(Term)).scalars()}
    changed = 0
    for list_name, entries in data.items():
        for pos, entry in enumerate(entries):
            code, en, fr = entry[0], entry[1], entry[2]
            open_std = bool(entry[3]) if len(entry) > 3 else False
            t = existing.get((list_name, code))
            if t is None:
                session.add(Term(list=list_name, code=code, label_en=en, label_fr=fr, open_standard=open_std,
                                 position=pos))
                changed += 1
            elif (t.label_en, t.label_fr, t.open_standard, t.position) != (en, fr, open_std, pos):
                t.label_en, t.label_fr, t.open_standard, t.position = en, fr, open_std, pos
                changed += 1
    session.flush()
    return changed


def terms(session: Session, list_name: str) -> list[Term]:
    return list(session.execute(select(Term).where(Term.list == list_name, Term.retired.is_(False))
                                .order_by(Term.position)).scalars())


# ---------------------------------------------------------------- checks shared by both records


def _org(session: Session, org_id: int | None, field: str, errors: list[FieldError]) -> Organisation | None:
    if org_id is None:
        return None
    org = session.get(Organisation, org_id)
    if org is None:
        errors.append(FieldError(field, _("no organisation %(id)s in the master list", id=org_id)))
    return org


def _country(session: Session, iso3: str, errors: list[FieldError]) -> None:
    try:
        reference.get_country(session, iso3)
    except NotFound:
        errors.append(FieldError("country_iso3", _("%(code)s is not a known country code", code=iso3)))


def default_owner(principal: Principal) -> int | None:
    """A partner's records belong to its organisation unless it says otherwise."""
    return next((g.organisation_id for g in principal.grants if g.role == "partner" and g.organisation_id), None)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise Conflict(_("Someone else saved this record meanwhile; reload it and apply your change again.")) from None


# ---------------------------------------------------------------- classification


def resolve_codes(session: Session, items: list[Any], errors: list[FieldError]
                  ) -> list[tuple[str, str, str | None, str | None]]:
    """(scheme, code, original scheme, original code) for each given code: 2023 codes as they are,
    2018 codes converted through the crosswalk and kept; unknown codes refused."""
    out: list[tuple[str, str, str | None, str | None]] = []
    for n, item in enumerate(items, start=1):
        scheme, code = item.scheme, item.code
        if scheme in SCHEMES_2023:
            if session.get(ClassificationCode, (scheme, code)) is None:
                errors.append(FieldError(f"classifications[{n}]", _("%(code)s is not a code of %(scheme)s",
                                                                     code=code, scheme=scheme)))
            else:
                out.append((scheme, code, None, None))
        elif scheme in SCHEMES_2018:
            targets = session.execute(select(ClassificationMap.to_code).where(
                ClassificationMap.from_scheme == scheme, ClassificationMap.from_code == code,
                ClassificationMap.to_scheme == SCHEMES_2018[scheme])).scalars().all()
            if session.get(ClassificationCode, (scheme, code)) is None:
                errors.append(FieldError(f"classifications[{n}]", _("%(code)s is not a code of %(scheme)s",
                                                                     code=code, scheme=scheme)))
            elif not [t for t in targets if t]:
                errors.append(FieldError(f"classifications[{n}]", _(
                    "the 2018 code %(code)s has no counterpart in the 2023 classification; choose a 2023 code",
                    code=code)))
            else:
                out.extend((SCHEMES_2018[scheme], t, scheme, code) for t in targets if t)
        else:
            errors.append(FieldError(f"classifications[{n}]", _("unknown classification %(scheme)s",
                                                                 scheme=scheme[:40])))
    # One row per 2023 code: a code given directly wins over the same code reached from a 2018 one,
    # and of several 2018 codes reaching the same 2023 code the first is kept as its original.
    kept: dict[tuple[str, str], tuple[str, str, str | None, str | None]] = {}
    for row in sorted(out, key=lambda r: r[2] is not None):
        kept.setdefault((row[0], row[1]), row)
    return [row for row in out if kept[(row[0], row[1])] is row]


# ---------------------------------------------------------------- implementations


def _check_implementation(session: Session, data: ImplementationIn) -> list[tuple[str, str, str | None, str | None]]:
    errors: list[FieldError] = []
    _country(session, data.country_iso3, errors)
    _org(session, data.owner_org_id, "owner_org_id", errors)
    for n, o in enumerate(data.organisations, start=1):
        _org(session, o.organisation_id, f"organisations[{n}]", errors)
    for sid in data.solutions:
        if session.get(Solution, sid) is None:
            errors.append(FieldError("solutions", _("no solution %(id)s", id=sid)))
    for list_name in TERM_LISTS:
        known = {t.code for t in terms(session, list_name)}
        for code in getattr(data, list_name):
            if code not in known:
                errors.append(FieldError(list_name, _("%(code)s is not in the list", code=code)))
    for c in data.coverage:
        if c.area_code:
            country = session.get(Country, data.country_iso3)
            if country is not None and not subdivisions.known(c.area_code, country.iso2):
                errors.append(FieldError("coverage", _("%(area)s is not an area of this country", area=c.area_code)))
    today = utcnow_date()
    for when in (data.start_date, *(e.on_date for e in data.stage_history)):
        if when and when.year < 1990:
            errors.append(FieldError("dates", _("%(date)s is before 1990", date=when.isoformat())))
        if when and when > today + dt.timedelta(days=3653):
            errors.append(FieldError("dates", _("%(date)s is more than ten years ahead", date=when.isoformat())))
    codes = resolve_codes(session, data.classifications, errors)
    if errors:
        raise ValidationFailed(_("The implementation is not valid; nothing was saved."), errors=errors)
    return codes


def _stage_history(session: Session, impl: Implementation, data: ImplementationIn) -> list[tuple[str, Any, str]]:
    """The dated stage history to store: the one sent, or (when none is sent) the one recorded so
    far; the current stage is added if missing, dated when the record first entered it (today if
    it never did), so that editing a record never moves the date a stage began."""
    recorded = [(e.stage, e.on_date, e.note) for e in session.execute(
        select(StageEvent).where(StageEvent.implementation_id == impl.id)
        .order_by(StageEvent.on_date, StageEvent.id)).scalars()] if impl.id else []
    history = [(e.stage, e.on_date, e.note) for e in data.stage_history] or recorded
    if not any(stage == data.stage for stage, _d, _n in history):
        entered = next((d for stage, d, _n in recorded if stage == data.stage), None)
        history.append((data.stage, entered or utcnow_date(), ""))
    return sorted(history, key=lambda e: e[1])


def _write_children(session: Session, impl: Implementation, data: ImplementationIn,
                    codes: list[tuple[str, str, str | None, str | None]]) -> None:
    history = _stage_history(session, impl, data)
    # Deleted one by one through the session (not in bulk) so that the audit log records them.
    for model in (StageEvent, Coverage, Classification, ImplementationTerm, ImplementationSolution,
                  ImplementationOrg, Contact):
        for row in session.execute(select(model).where(model.implementation_id == impl.id)).scalars():
            session.delete(row)
    session.flush()
    session.add_all(StageEvent(implementation_id=impl.id, stage=stage, on_date=on_date, note=note)
                    for stage, on_date, note in history)
    session.add_all(Coverage(implementation_id=impl.id, **c.model_dump()) for c in data.coverage)
    session.add_all(Classification(implementation_id=impl.id, scheme=s, code=c, original_scheme=os_,
                                   original_code=oc) for s, c, os_, oc in codes)
    for list_name in TERM_LISTS:
        session.add_all(ImplementationTerm(implementation_id=impl.id, list=list_name, code=code)
                        for code in dict.fromkeys(getattr(data, list_name)))
    session.add_all(ImplementationSolution(implementation_id=impl.id, solution_id=sid)
                    for sid in dict.fromkeys(data.solutions))
    session.add_all(ImplementationOrg(implementation_id=impl.id, organisation_id=o.organisation_id, role=o.role)
                    for o in {(o.organisation_id, o.role): o for o in data.organisations}.values())
    session.add_all(Contact(implementation_id=impl.id, name=c.name, email=c.email, role=c.role)
                    for c in data.contacts)


_SCALARS = ("name", "country_iso3", "description", "stage", "start_date", "end_date", "openness", "licence",
            "government_ownership", "owner_org_id")


def _signed_in(principal: Principal) -> None:
    """Writes need a signed-in user: say so (401) before looking the record up (which would say 404)."""
    if not principal.is_authenticated:
        raise Unauthenticated(_("Sign in to do this."))


def _no_duplicate(session: Session, data: ImplementationIn, own_id: int | None = None) -> None:
    """One record per system, organisation and country (the name compared without case)."""
    stmt = select(Implementation.id).where(
        Implementation.country_iso3 == data.country_iso3, Implementation.owner_org_id == data.owner_org_id,
        func.lower(Implementation.name) == data.name.lower(), Implementation.merged_into_id.is_(None))
    if own_id is not None:
        stmt = stmt.where(Implementation.id != own_id)
    duplicate = session.execute(stmt.limit(1)).first()
    if duplicate:
        raise Conflict(_("Your organisation already registered %(name)s in this country (record %(id)s).",
                         name=data.name, id=duplicate[0]))


def create_implementation(session: Session, principal: Principal, data: ImplementationIn) -> Implementation:
    authorize(session, principal, "partner_data.edit", target_for(session, data.country_iso3, data.owner_org_id))
    codes = _check_implementation(session, data)
    _no_duplicate(session, data)
    impl = Implementation(**{k: getattr(data, k) for k in _SCALARS}, status="draft", approval="pending")
    session.add(impl)
    session.flush()
    _write_children(session, impl, data, codes)
    session.flush()
    return impl


def get_implementation(session: Session, principal: Principal, impl_id: int) -> Implementation:
    impl = session.get(Implementation, impl_id)
    if impl is None or not may_read(session, principal, impl):
        raise NotFound(_("No implementation %(id)s.", id=impl_id))
    return impl


def may_read(session: Session, principal: Principal, record: Implementation | Investment) -> bool:
    return record.status == "published" or can(principal, "unpublished.read", target_for(
        session, record.country_iso3, record.owner_org_id))


def may_edit(session: Session, principal: Principal, record: Implementation | Investment) -> bool:
    return can(principal, "partner_data.edit", target_for(session, record.country_iso3, record.owner_org_id))


def update_implementation(session: Session, principal: Principal, impl_id: int, data: ImplementationIn,
                          expected_version: int | None = None) -> Implementation:
    _signed_in(principal)
    impl = get_implementation(session, principal, impl_id)
    # Allowed on the record as it is and as it would be: a partner cannot hand a record to another
    # organisation, nor a focal point move it into another country.
    authorize(session, principal, "partner_data.edit", target_for(session, impl.country_iso3, impl.owner_org_id))
    authorize(session, principal, "partner_data.edit", target_for(session, data.country_iso3, data.owner_org_id))
    if impl.merged_into_id:
        raise Conflict(_("This record was merged into record %(id)s; edit that one.", id=impl.merged_into_id))
    if expected_version is not None and expected_version != impl.version:
        raise Conflict(_("Someone else saved this record meanwhile (now version %(v)s); reload it and apply your "
                         "change again.", v=impl.version))
    codes = _check_implementation(session, data)
    _no_duplicate(session, data, impl.id)
    for k in _SCALARS:
        setattr(impl, k, getattr(data, k))
    if impl.approval == "approved":
        impl.approval = "pending"  # a change needs the country's approval again; the record stays published
    impl.updated_at = dt.datetime.now(dt.UTC)
    _flush(session)
    _write_children(session, impl, data, codes)
    _flush(session)
    return impl


def decide(session: Session, principal: Principal, impl_id: int, decision: str) -> Implementation:
    """The country's focal point approves (which publishes) or rejects a record; anyone who may
    edit it may archive it."""
    _signed_in(principal)
    impl = get_implementation(session, principal, impl_id)
    target = target_for(session, impl.country_iso3, impl.owner_org_id)
    if decision in ("approve", "reject"):
        authorize(session, principal, "country_data.approve", target)
        impl.approval = "approved" if decision == "approve" else "rejected"
        impl.approved_by, impl.approved_at = principal.actor.label, dt.datetime.now(dt.UTC)
        impl.status = "published" if decision == "approve" else "draft"
    elif decision == "archive":
        authorize(session, principal, "partner_data.edit", target)
        impl.status = "archived"
    else:
        raise ValidationFailed(_("Unknown decision."), errors=[FieldError("decision", decision[:20])])
    _flush(session)
    return impl


def visible_to(principal: Principal, model: type[Implementation] | type[Investment]) -> ColumnElement[bool]:
    """The SQL form of ``may_read``: published records, and the unpublished ones the principal's
    grants let it read (the rule ``unpublished.read``, grant by grant)."""
    clauses: list[ColumnElement[bool]] = [model.status == "published"]
    if principal.scopes is not None and "read" not in principal.scopes:
        return clauses[0]
    for g in principal.grants:
        if g.role in ("admin", "secretariat") or (g.role == "viewer" and not g.country_iso3 and not g.region_code):
            return true()
        if g.role in ("country_focal_point", "respondent", "viewer") and g.country_iso3:
            clauses.append(model.country_iso3 == g.country_iso3)
        elif g.role in ("regional", "viewer") and g.region_code:
            clauses.append(model.country_iso3.in_(select(Country.iso3).where(Country.who_region == g.region_code)))
        elif g.role == "partner" and g.organisation_id:
            clauses.append(model.owner_org_id == g.organisation_id)
    return or_(*clauses)


def list_implementations(session: Session, principal: Principal, *, country: str | None = None,
                         q: str | None = None, status: str | None = None, owner: int | None = None,
                         limit: int = 50, offset: int = 0) -> tuple[list[Implementation], int]:
    stmt = select(Implementation).where(Implementation.merged_into_id.is_(None))
    if country:
        stmt = stmt.where(Implementation.country_iso3 == country.upper())
    if status:
        stmt = stmt.where(Implementation.status == status)
    if owner:
        stmt = stmt.where(Implementation.owner_org_id == owner)
    if q:
        stmt = stmt.where(func.lower(Implementation.name).contains(q.lower()[:100], autoescape=True))
    stmt = stmt.where(visible_to(principal, Implementation))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(Implementation.country_iso3, Implementation.name)
                           .limit(limit).offset(offset)).scalars().all()
    return list(rows), total


def implementation_detail(session: Session, principal: Principal, impl: Implementation) -> dict[str, Any]:
    """Everything about a record, as the API and the page show it (contacts only to who may edit)."""
    iid = impl.id
    orgs = session.execute(select(ImplementationOrg, Organisation.name).join(
        Organisation, Organisation.id == ImplementationOrg.organisation_id).where(
        ImplementationOrg.implementation_id == iid)).all()
    out: dict[str, Any] = {k: getattr(impl, k) for k in (*_SCALARS, "id", "status", "approval", "approved_by",
                                                        "version", "merged_into_id")}
    out.update({
        "start_date": impl.start_date.isoformat() if impl.start_date else None,
        "end_date": impl.end_date.isoformat() if impl.end_date else None,
        "updated_at": impl.updated_at.isoformat(),
        "stale": is_stale(impl),
        "owner_org_name": session.scalar(select(Organisation.name).where(Organisation.id == impl.owner_org_id)),
        "organisations": [{"organisation_id": o.organisation_id, "name": name, "role": o.role} for o, name in orgs],
        "stage_history": [{"stage": e.stage, "on_date": e.on_date.isoformat(), "note": e.note} for e in
                          session.execute(select(StageEvent).where(StageEvent.implementation_id == iid)
                                          .order_by(StageEvent.on_date, StageEvent.id)).scalars()],
        "classifications": [{"scheme": c.scheme, "code": c.code, "original_scheme": c.original_scheme,
                             "original_code": c.original_code} for c in session.execute(
            select(Classification).where(Classification.implementation_id == iid)
            .order_by(Classification.scheme, Classification.code)).scalars()],
        "coverage": [{"area_code": c.area_code, "area_name": c.area_name, "as_of": c.as_of.isoformat(),
                      "persons": c.persons, "health_workers": c.health_workers, "facilities": c.facilities}
                     for c in session.execute(select(Coverage).where(Coverage.implementation_id == iid)
                                              .order_by(Coverage.area_code, Coverage.as_of)).scalars()],
        "solutions": [{"id": s.id, "name": s.name} for s in session.execute(
            select(Solution).join(ImplementationSolution, ImplementationSolution.solution_id == Solution.id)
            .where(ImplementationSolution.implementation_id == iid).order_by(Solution.name)).scalars()],
    })
    for list_name in TERM_LISTS:
        out[list_name] = list(session.execute(select(ImplementationTerm.code).where(
            ImplementationTerm.implementation_id == iid, ImplementationTerm.list == list_name)).scalars())
    if not may_edit(session, principal, impl):
        out["approved_by"] = None  # a person's e-mail: for the record's editors only
    else:
        out["contacts"] = [{"name": c.name, "email": c.email, "role": c.role} for c in session.execute(
            select(Contact).where(Contact.implementation_id == iid).order_by(Contact.id)).scalars()]
    out["completeness"] = completeness(out)
    return out


def is_stale(record: Implementation | Investment, today: dt.date | None = None) -> bool:
    today = today or utcnow_date()
    return (today - record.updated_at.date()).days > STALE_AFTER_DAYS


COMPLETENESS_FIELDS = ("description", "start_date", "licence", "organisations", "classifications", "coverage",
                       "standards", "health_focus", "solutions", "stage_history")


def completeness(detail: dict[str, Any]) -> float:
    """Share of the descriptive fields that are filled (see docs/atlas.md)."""
    filled = sum(1 for f in COMPLETENESS_FIELDS if detail.get(f))
    return round(filled / len(COMPLETENESS_FIELDS), 2)


# ---------------------------------------------------------------- solutions


def create_solution(session: Session, principal: Principal, name: str, *, kind: str | None = None,
                    licence: str | None = None, website: str | None = None, repository: str | None = None,
                    description: str = "", owner_org_id: int | None = None) -> Solution:
    authorize(session, principal, "partner_data.edit", Target(organisation_id=owner_org_id))
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed(_("The solution is not valid; nothing was saved."),
                               errors=[FieldError("name", _("is required (at most 200 characters)"))])
    if owner_org_id is not None and session.get(Organisation, owner_org_id) is None:
        raise ValidationFailed(_("The solution is not valid; nothing was saved."), errors=[FieldError(
            "owner_org_id", _("no organisation %(id)s in the master list", id=owner_org_id))])
    if licence is not None and not SPDX.fullmatch(licence):
        raise ValidationFailed(_("The solution is not valid; nothing was saved."), errors=[FieldError(
            "licence", _("use an SPDX licence identifier or expression, such as Apache-2.0 or MIT"))])
    website = linkcheck.validate_url(website, "website", 500) if website else None
    repository = linkcheck.validate_url(repository, "repository", 500) if repository else None
    if len(description or "") > 10_000:
        raise ValidationFailed(_("The solution is not valid; nothing was saved."), errors=[
            FieldError("description", _("is too long (at most %(n)s characters)", n=10_000))])
    if kind and session.get(ClassificationCode, ("cdisah2023-sat", kind)) is None:
        raise ValidationFailed(_("The solution is not valid; nothing was saved."),
                               errors=[FieldError("kind", _("%(code)s is not a services and applications code",
                                                            code=kind[:16]))])
    if session.execute(select(Solution.id).where(func.lower(Solution.name) == name.lower())).first():
        raise Conflict(_("A solution named %(name)s exists already.", name=name))
    s = Solution(name=name, kind=kind, licence=licence, website=website, repository=repository,
                 description=description, owner_org_id=owner_org_id)
    session.add(s)
    session.flush()
    return s


# ---------------------------------------------------------------- investments


def _check_investment(session: Session, data: InvestmentIn) -> tuple[Decimal, str, list[tuple[Decimal, Any]],
                                                                      list[tuple[str, str, Decimal | None]]]:
    errors: list[FieldError] = []
    _country(session, data.country_iso3, errors)
    _org(session, data.funder_org_id, "funder_org_id", errors)
    _org(session, data.recipient_org_id, "recipient_org_id", errors)
    amount = currency = None
    try:
        amount = money.parse_amount(data.amount)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    try:
        currency = money.check_currency(data.currency)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if currency and currency != "USD" and session.get(FxRate, (currency, data.committed_on.year)) is None:
        errors.append(FieldError("currency", _(
            "no exchange rate for %(currency)s in %(year)s: an administrator loads it first (dho atlas rates)",
            currency=currency, year=data.committed_on.year)))
    disbursements = []
    for n, d in enumerate(data.disbursements, start=1):
        try:
            disbursements.append((money.parse_amount(d.amount, f"disbursements[{n}]"), d.on_date))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if amount is not None and sum((a for a, _d in disbursements), Decimal(0)) > amount:
        errors.append(FieldError("disbursements", _("add up to more than the amount committed")))
    if data.committed_on.year > data.period_end:
        errors.append(FieldError("committed_on", _("is after the end of the period")))
    targets = []
    shares = []
    for n, t in enumerate(data.targets, start=1):
        where = f"targets[{n}]"
        share = None
        if t.share is not None:
            try:
                share = Decimal(t.share)
                if not share.is_finite() or not 0 < share <= 1:
                    raise InvalidOperation
                shares.append(share)
            except InvalidOperation:
                errors.append(FieldError(where, _("the share must be a number above 0 and at most 1")))
        if t.kind == "implementation":
            impl = session.get(Implementation, int(t.ref)) if re.fullmatch(r"[1-9][0-9]{0,8}", t.ref) else None
            if impl is None or impl.country_iso3 != data.country_iso3:
                errors.append(FieldError(where, _("no implementation %(ref)s in this country", ref=t.ref)))
        elif t.kind == "intervention":
            if session.get(ClassificationCode, ("cdisah2023-dhi", t.ref)) is None:
                errors.append(FieldError(where, _("%(code)s is not a code of %(scheme)s", code=t.ref,
                                                  scheme="cdisah2023-dhi")))
        elif t.kind == "component":
            if t.ref not in {c.id for c in _gdhm_components(session)}:
                errors.append(FieldError(where, _("%(ref)s is not a component of the maturity framework", ref=t.ref)))
        elif t.kind == "priority":
            from dho.maturity import service as maturity

            if t.ref not in maturity.indicator_codes(session, maturity.DEFAULT_FRAMEWORK):
                errors.append(FieldError(where, _("%(ref)s is not an indicator of the maturity framework",
                                                  ref=t.ref)))
        targets.append((t.kind, t.ref, share))
    if shares and (len(shares) != len(data.targets) or sum(shares) != 1):
        errors.append(FieldError("targets", _("give every target a share, and let the shares add up to 1")))
    if len({(k, r) for k, r, _s in targets}) != len(targets):
        errors.append(FieldError("targets", _("a target is listed twice")))
    if errors:
        raise ValidationFailed(_("The investment is not valid; nothing was saved."), errors=errors)
    assert amount is not None and currency is not None
    return amount, currency, disbursements, targets


def _gdhm_components(session: Session) -> list[Any]:
    from dho.maturity import service as maturity

    return list(maturity.structure(session, maturity.DEFAULT_FRAMEWORK).components)


def _write_investment(session: Session, inv: Investment, disbursements: list[tuple[Decimal, Any]],
                      targets: list[tuple[str, str, Decimal | None]]) -> None:
    for model in (Disbursement, InvestmentTarget):  # one by one, so that the audit log records them
        for row in session.execute(select(model).where(model.investment_id == inv.id)).scalars():
            session.delete(row)
    session.flush()
    session.add_all(Disbursement(investment_id=inv.id, on_date=d, amount=a) for a, d in disbursements)
    session.add_all(InvestmentTarget(investment_id=inv.id, kind=k, ref=r, share=s) for k, r, s in targets)


def create_investment(session: Session, principal: Principal, data: InvestmentIn) -> Investment:
    owner = data.owner_org_id or default_owner(principal) or data.funder_org_id
    authorize(session, principal, "partner_data.edit", target_for(session, data.country_iso3, owner))
    amount, currency, disbursements, targets = _check_investment(session, data)
    same = session.execute(select(Investment.id).where(
        Investment.funder_org_id == data.funder_org_id, Investment.country_iso3 == data.country_iso3,
        Investment.committed_on == data.committed_on, Investment.amount == amount,
        Investment.currency == currency, func.lower(Investment.title) == data.title.lower())).first()
    if same:
        raise Conflict(_("This investment is registered already (record %(id)s).", id=same[0]))
    inv = Investment(title=data.title, funder_org_id=data.funder_org_id, recipient_org_id=data.recipient_org_id,
                     country_iso3=data.country_iso3, amount=amount, currency=currency, kind=data.kind,
                     committed_on=data.committed_on, period_start=data.period_start, period_end=data.period_end,
                     owner_org_id=owner, status="draft", approval="pending")
    session.add(inv)
    session.flush()
    _write_investment(session, inv, disbursements, targets)
    session.flush()
    return inv


def get_investment(session: Session, principal: Principal, inv_id: int) -> Investment:
    inv = session.get(Investment, inv_id)
    if inv is None or not may_read(session, principal, inv):
        raise NotFound(_("No investment %(id)s.", id=inv_id))
    return inv


def list_investments(session: Session, principal: Principal, *, country: str | None = None,
                     status: str | None = None, funder: int | None = None, limit: int = 50,
                     offset: int = 0) -> tuple[list[Investment], int]:
    """The investments the principal may read (the same rules as implementations), one page and the total."""
    stmt = select(Investment).where(visible_to(principal, Investment))
    if country:
        stmt = stmt.where(Investment.country_iso3 == country.upper())
    if status:
        stmt = stmt.where(Investment.status == status)
    if funder:
        stmt = stmt.where(Investment.funder_org_id == funder)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(Investment.id).limit(limit).offset(offset)).scalars().all()
    return list(rows), total


def decide_investment(session: Session, principal: Principal, inv_id: int, decision: str) -> Investment:
    _signed_in(principal)
    inv = get_investment(session, principal, inv_id)
    target = target_for(session, inv.country_iso3, inv.owner_org_id)
    if decision not in ("approve", "reject"):
        raise ValidationFailed(_("Unknown decision."), errors=[FieldError("decision", decision[:20])])
    authorize(session, principal, "country_data.approve", target)
    inv.approval = "approved" if decision == "approve" else "rejected"
    inv.status = "published" if decision == "approve" else "draft"
    _flush(session)
    return inv


def investment_detail(session: Session, inv: Investment, rates: money.Rates | None = None) -> dict[str, Any]:
    rates = rates or money.Rates(session)
    conv = rates.convert(inv.amount, inv.currency, inv.committed_on.year)
    names = dict(session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_([i for i in (inv.funder_org_id, inv.recipient_org_id) if i]))).all())
    return {
        "id": inv.id, "title": inv.title, "country_iso3": inv.country_iso3, "kind": inv.kind,
        "funder_org_id": inv.funder_org_id, "funder": names.get(inv.funder_org_id),
        "recipient_org_id": inv.recipient_org_id, "recipient": names.get(inv.recipient_org_id),
        "amount": str(inv.amount), "currency": inv.currency, "committed_on": inv.committed_on.isoformat(),
        "period_start": inv.period_start, "period_end": inv.period_end, "status": inv.status,
        "approval": inv.approval, "owner_org_id": inv.owner_org_id, "version": inv.version,
        "usd": None if conv.usd is None else str(conv.usd),
        "usd_rate": None if conv.rate is None else str(conv.rate), "usd_rate_source": conv.source,
        "disbursements": [{"on_date": d.on_date.isoformat(), "amount": str(d.amount)} for d in session.execute(
            select(Disbursement).where(Disbursement.investment_id == inv.id).order_by(Disbursement.on_date))
            .scalars()],
        "targets": [{"kind": t.kind, "ref": t.ref, "share": None if t.share is None else str(t.share)}
                    for t in session.execute(select(InvestmentTarget).where(
                        InvestmentTarget.investment_id == inv.id).order_by(InvestmentTarget.id)).scalars()],
    }


def search_key(name: str) -> str:
    return fold(name)

"""Folding a duplicate into the record kept, and the data-quality lists (stale records, completeness).

Merging implementation B into A: A gains what B had and A lacked (classification codes, managed-list
terms, solutions, organisations, coverage counts, contacts); investments that funded B fund A; B is
archived with ``merged_into_id = A`` and keeps its own rows as they were, so its history stays
readable. Merging organisation B into A moves every reference to B (implementations, solutions,
investments, users, role grants) to A and deletes B. Either way a ``MergeRecord`` keeps what moved
(canonical JSON) and every row written is in the audit log. Everything is checked before anything is
written: a refused merge changes nothing."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dho.accounts.models import Organisation, RoleGrant, User
from dho.accounts.permissions import Principal, Target, authorize, can, require_somewhere
from dho.atlas import service
from dho.atlas.models import (
    Classification,
    Contact,
    Coverage,
    Implementation,
    ImplementationOrg,
    ImplementationSolution,
    ImplementationTerm,
    Investment,
    InvestmentTarget,
    MergeRecord,
    Solution,
)
from dho.audit.chain import Change, record
from dho.errors import Conflict, FieldError, NotFound, ValidationFailed
from dho.i18n import _
from dho.jsonutil import canonical_json
from dho.reference import service as reference
from dho.reference.models import Country
from dho.strategy.models import ActionPlan, Activity, Training

ENTITIES = ("implementation", "organisation")


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise Conflict(_("Someone else saved one of these records meanwhile; reload them and merge again.")) from None


def _refuse_same(keep_id: int, merged_id: int) -> None:
    if keep_id == merged_id:
        raise ValidationFailed(_("A record cannot be merged into itself; nothing was changed."),
                               errors=[FieldError("merged", _("is the record kept"))])


# ---------------------------------------------------------------- implementations


def merge_implementations(session: Session, principal: Principal, keep_id: int, merged_id: int) -> MergeRecord:
    """Fold implementation ``merged_id`` into ``keep_id`` (both in one country, both live)."""
    require_somewhere(principal, "atlas.merge")  # 401 for the anonymous, 403 for who may merge nowhere
    keep = service.get_implementation(session, principal, keep_id)
    merged = service.get_implementation(session, principal, merged_id)
    for impl in (keep, merged):
        authorize(session, principal, "atlas.merge", service.target_for(session, impl.country_iso3, None))
    _refuse_same(keep_id, merged_id)
    if keep.country_iso3 != merged.country_iso3:
        raise ValidationFailed(_("Records of different countries (%(a)s, %(b)s) are not duplicates; nothing was "
                                 "changed.", a=keep.country_iso3, b=merged.country_iso3),
                               errors=[FieldError("country_iso3", _("differs"))])
    for impl in (keep, merged):
        if impl.merged_into_id is not None:
            raise Conflict(_("Record %(id)s was already merged into record %(into)s; nothing was changed.",
                             id=impl.id, into=impl.merged_into_id))
    moved: dict[str, Any] = defaultdict(list)

    have = {(c.scheme, c.code, c.original_scheme, c.original_code) for c in _rows(session, Classification, keep_id)}
    for c in _rows(session, Classification, merged_id):
        key = (c.scheme, c.code, c.original_scheme, c.original_code)
        if key not in have:
            have.add(key)
            session.add(Classification(implementation_id=keep_id, scheme=c.scheme, code=c.code,
                                       original_scheme=c.original_scheme, original_code=c.original_code))
            moved["classifications"].append(f"{c.scheme}:{c.code}")
    have_terms = {(t.list, t.code) for t in _rows(session, ImplementationTerm, keep_id)}
    for t in _rows(session, ImplementationTerm, merged_id):
        if (t.list, t.code) not in have_terms:
            session.add(ImplementationTerm(implementation_id=keep_id, list=t.list, code=t.code))
            moved["terms"].append(f"{t.list}:{t.code}")
    have_sols = {s.solution_id for s in _rows(session, ImplementationSolution, keep_id)}
    for s in _rows(session, ImplementationSolution, merged_id):
        if s.solution_id not in have_sols:
            session.add(ImplementationSolution(implementation_id=keep_id, solution_id=s.solution_id))
            moved["solutions"].append(s.solution_id)
    have_orgs = {(o.organisation_id, o.role) for o in _rows(session, ImplementationOrg, keep_id)}
    for o in _rows(session, ImplementationOrg, merged_id):
        if (o.organisation_id, o.role) not in have_orgs:
            session.add(ImplementationOrg(implementation_id=keep_id, organisation_id=o.organisation_id, role=o.role))
            moved["organisations"].append(f"{o.organisation_id}:{o.role}")
    have_cov = {(c.area_code, c.as_of) for c in _rows(session, Coverage, keep_id)}
    for c in _rows(session, Coverage, merged_id):
        if (c.area_code, c.as_of) not in have_cov:
            have_cov.add((c.area_code, c.as_of))
            session.add(Coverage(implementation_id=keep_id, area_code=c.area_code, area_name=c.area_name,
                                 as_of=c.as_of, persons=c.persons, health_workers=c.health_workers,
                                 facilities=c.facilities))
            moved["coverage"].append(f"{c.area_code or '*'}@{c.as_of.isoformat()}")
    have_contacts = {(c.name.casefold(), (c.email or "").casefold()) for c in _rows(session, Contact, keep_id)}
    for c in _rows(session, Contact, merged_id):
        if (c.name.casefold(), (c.email or "").casefold()) not in have_contacts:
            session.add(Contact(implementation_id=keep_id, name=c.name, email=c.email, role=c.role))
            moved["contacts"].append(c.id)

    # investments that funded the duplicate now fund the record kept (one target per investment)
    targets = session.execute(select(InvestmentTarget).where(
        InvestmentTarget.kind == "implementation", InvestmentTarget.ref.in_([str(keep_id), str(merged_id)]))
        ).scalars().all()
    on_keep = {t.investment_id: t for t in targets if t.ref == str(keep_id)}
    for t in targets:
        if t.ref != str(merged_id):
            continue
        other = on_keep.get(t.investment_id)
        if other is None:
            t.ref = str(keep_id)
            moved["investment_targets"].append(t.id)
        else:  # the investment funded both: one target, with both shares
            if other.share is not None and t.share is not None:
                other.share = other.share + t.share
            session.delete(t)
            moved["investment_targets_joined"].append(t.investment_id)

    merged.merged_into_id = keep_id
    merged.status = "archived"
    keep.updated_at = dt.datetime.now(dt.UTC)
    return _finish(session, principal, "implementation", keep_id, merged_id, moved, "atlas_implementation")


def _rows(session: Session, model: type, impl_id: int) -> list[Any]:
    return list(session.execute(select(model).where(model.implementation_id == impl_id)).scalars())


def _finish(session: Session, principal: Principal, entity: str, keep_id: int, merged_id: int,
            moved: dict[str, Any], table: str) -> MergeRecord:
    rec = MergeRecord(entity=entity, kept_id=keep_id, merged_id=merged_id, merged_by=principal.actor.label,
                      rewired=canonical_json(dict(moved)))
    session.add(rec)
    _flush(session)
    record(session, Change("merge", table, str(merged_id), {"id": merged_id},
                           {"merged_into": keep_id, "merge_record": rec.id}))
    return rec


# ---------------------------------------------------------------- organisations


def _org_target(session: Session, org: Organisation) -> Target:
    return Target(country_iso3=org.country_iso3, region_code=reference.region_of(session, org.country_iso3),
                  organisation_id=org.id)


def merge_organisations(session: Session, principal: Principal, keep_id: int, merged_id: int) -> MergeRecord:
    """Fold organisation ``merged_id`` into ``keep_id``: every reference moves, then it is deleted.
    Organisations of no country (global ones) are merged by the administrator or the secretariat."""
    require_somewhere(principal, "atlas.merge")
    keep, merged = session.get(Organisation, keep_id), session.get(Organisation, merged_id)
    for org_id, org in ((keep_id, keep), (merged_id, merged)):
        if org is None:
            raise NotFound(_("No organisation %(id)s.", id=org_id))
    assert keep is not None and merged is not None
    for org in (keep, merged):
        authorize(session, principal, "atlas.merge", _org_target(session, org))
    _refuse_same(keep_id, merged_id)
    if keep.country_iso3 != merged.country_iso3:
        raise ValidationFailed(_("Organisations of different countries (%(a)s, %(b)s) are not duplicates; nothing "
                                 "was changed.", a=keep.country_iso3 or "-", b=merged.country_iso3 or "-"),
                               errors=[FieldError("country_iso3", _("differs"))])
    moved: dict[str, Any] = defaultdict(list)
    for impl in session.execute(select(Implementation).where(Implementation.owner_org_id == merged_id)).scalars():
        impl.owner_org_id = keep_id
        moved["implementation_owner"].append(impl.id)
    for sol in session.execute(select(Solution).where(Solution.owner_org_id == merged_id)).scalars():
        sol.owner_org_id = keep_id
        moved["solution_owner"].append(sol.id)
    links = session.execute(select(ImplementationOrg).where(
        ImplementationOrg.organisation_id.in_([keep_id, merged_id]))).scalars().all()
    kept_links = {(link.implementation_id, link.role) for link in links if link.organisation_id == keep_id}
    for link in links:
        if link.organisation_id != merged_id:
            continue
        if (link.implementation_id, link.role) not in kept_links:
            session.add(ImplementationOrg(implementation_id=link.implementation_id, organisation_id=keep_id,
                                          role=link.role))
            moved["implementation_org"].append(f"{link.implementation_id}:{link.role}")
        session.delete(link)
    for inv in session.execute(select(Investment).where(or_(
            Investment.funder_org_id == merged_id, Investment.recipient_org_id == merged_id,
            Investment.owner_org_id == merged_id))).scalars():
        for col in ("funder_org_id", "recipient_org_id", "owner_org_id"):
            if getattr(inv, col) == merged_id:
                setattr(inv, col, keep_id)
                moved[f"investment_{col.removesuffix('_org_id')}"].append(inv.id)
    for model, col, key in ((ActionPlan, "organisation_id", "plan_owner"), (Activity, "owner_org_id", "activity_owner"),
                            (Training, "organiser_org_id", "training_organiser")):
        for row in session.execute(select(model).where(getattr(model, col) == merged_id)).scalars():
            setattr(row, col, keep_id)
            moved[key].append(row.id)
    for user in session.execute(select(User).where(User.organisation_id == merged_id)).scalars():
        user.organisation_id = keep_id
        moved["users"].append(user.id)
    grants = session.execute(select(RoleGrant).where(RoleGrant.organisation_id.in_([keep_id, merged_id]))
                             ).scalars().all()
    kept_grants = {(g.user_id, g.role, g.country_iso3, g.region_code) for g in grants if g.organisation_id == keep_id}
    for g in grants:
        if g.organisation_id != merged_id:
            continue
        if (g.user_id, g.role, g.country_iso3, g.region_code) in kept_grants:
            session.delete(g)
            moved["role_grants_dropped"].append(g.id)
        else:
            g.organisation_id = keep_id
            moved["role_grants"].append(g.id)
    _flush(session)  # references first, so the organisation is free to go
    moved["deleted_organisation"] = {"name": merged.name, "acronym": merged.acronym, "kind": merged.kind,
                                     "country_iso3": merged.country_iso3, "website": merged.website}
    session.delete(merged)
    return _finish(session, principal, "organisation", keep_id, merged_id, moved, "organisation")


def merge(session: Session, principal: Principal, entity: str, keep_id: int, merged_id: int) -> MergeRecord:
    if entity == "organisation":
        return merge_organisations(session, principal, keep_id, merged_id)
    if entity == "implementation":
        return merge_implementations(session, principal, keep_id, merged_id)
    raise ValidationFailed(_("Unknown kind of record."), errors=[FieldError("entity", entity[:20])])


def record_dict(rec: MergeRecord) -> dict[str, Any]:
    import json

    return {"id": rec.id, "entity": rec.entity, "kept_id": rec.kept_id, "merged_id": rec.merged_id,
            "merged_by": rec.merged_by, "merged_at": rec.merged_at.isoformat() if rec.merged_at else None,
            "rewired": json.loads(rec.rewired)}


# ---------------------------------------------------------------- stale records, completeness


def _visible_countries(session: Session, principal: Principal, action: str) -> set[str] | None:
    """Countries where ``action`` is allowed for every record (None: everywhere)."""
    if can(principal, action, Target()):  # only platform-wide roles pass without a target
        return None
    regions = dict(session.execute(select(Country.iso3, Country.who_region)).all())
    return {iso for iso, region in regions.items()
            if can(principal, action, Target(country_iso3=iso, region_code=region))}


def stale_records(session: Session, principal: Principal, *, country: str | None = None,
                  today: dt.date | None = None) -> list[dict[str, Any]]:
    """Implementations and investments not updated for a year that the caller may edit, grouped by
    the organisation that owns them (a to-do list: who has to refresh what)."""
    require_somewhere(principal, "partner_data.edit")
    today = today or service.utcnow_date()
    cutoff = dt.datetime.combine(today - dt.timedelta(days=service.STALE_AFTER_DAYS), dt.time(), dt.UTC)
    orgs = {g.organisation_id for g in principal.grants if g.role == "partner" and g.organisation_id}
    countries = _visible_countries(session, principal, "partner_data.edit")
    groups: dict[int, dict[str, Any]] = {}
    names = dict(session.execute(select(Organisation.id, Organisation.name)).all())
    for model, kind, label in ((Implementation, "implementation", Implementation.name),
                               (Investment, "investment", Investment.title)):
        stmt = select(model.id, label, model.country_iso3, model.owner_org_id, model.updated_at).where(
            model.updated_at < cutoff, model.status != "archived")
        if model is Implementation:
            stmt = stmt.where(Implementation.merged_into_id.is_(None))
        if country:
            stmt = stmt.where(model.country_iso3 == country.upper())
        conds = []
        if countries is not None:
            conds.append(model.country_iso3.in_(sorted(countries)))
            if orgs:
                conds.append(model.owner_org_id.in_(sorted(orgs)))
            stmt = stmt.where(or_(*conds))
        for rid, name, iso3, owner, updated in session.execute(stmt.order_by(model.updated_at)):
            g = groups.setdefault(owner, {"organisation_id": owner, "organisation": names.get(owner), "records": []})
            g["records"].append({"kind": kind, "id": rid, "name": name, "country_iso3": iso3,
                                 "updated_at": updated.isoformat(), "days": (today - updated.date()).days})
    return sorted(groups.values(), key=lambda g: (-len(g["records"]), g["organisation"] or ""))


def completeness_by_country(session: Session, principal: Principal, *, country: str | None = None
                            ) -> list[dict[str, Any]]:
    """Per country, the mean completeness (service.completeness) of the live implementations the caller
    may read (the public: published ones), computed in a handful of queries."""
    from dho.atlas.models import StageEvent

    stmt = select(Implementation).where(Implementation.merged_into_id.is_(None), Implementation.status != "archived")
    if country:
        stmt = stmt.where(Implementation.country_iso3 == country.upper())
    impls = [i for i in session.execute(stmt).scalars() if service.may_read(session, principal, i)]
    ids = [i.id for i in impls]
    present: dict[str, set[int]] = {}
    for key, model in (("organisations", ImplementationOrg), ("classifications", Classification),
                       ("coverage", Coverage), ("solutions", ImplementationSolution),
                       ("stage_history", StageEvent)):
        present[key] = set()
        for start in range(0, len(ids), 5000):
            present[key].update(session.execute(select(model.implementation_id).where(
                model.implementation_id.in_(ids[start:start + 5000])).distinct()).scalars())
    for list_name in ("standards", "health_focus"):
        present[list_name] = set()
        for start in range(0, len(ids), 5000):
            present[list_name].update(session.execute(select(ImplementationTerm.implementation_id).where(
                ImplementationTerm.implementation_id.in_(ids[start:start + 5000]),
                ImplementationTerm.list == list_name).distinct()).scalars())
    per: dict[str, list[float]] = defaultdict(list)
    for i in impls:
        detail = {"description": i.description, "start_date": i.start_date, "licence": i.licence,
                  **{k: i.id in v for k, v in present.items()}}
        per[i.country_iso3].append(service.completeness(detail))
    return [{"country_iso3": iso, "records": len(v), "completeness": round(sum(v) / len(v), 2)}
            for iso, v in sorted(per.items())]

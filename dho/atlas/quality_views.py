"""Atlas pages for solutions and data quality.

- ``/atlas/solutions``: every solution with its kind (a 2023 services-and-applications name), its
  licence and links, and how many implementations the reader may see use it, in how many countries;
- ``/atlas/solutions/{id}``: where a solution is deployed, as a world map and a table;
- ``/atlas/quality``: for who may merge or edit records: likely duplicates with merge buttons, the
  reader's stale records grouped by owner, and completeness per country. Merges go through
  ``dho.atlas.merge`` (which checks the permissions); a refused merge shows why and changes nothing.

Every page works without JavaScript (GET filters, POST forms with the CSRF token)."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.models import Organisation
from dho.accounts.permissions import Principal, Target, can, can_somewhere, require_somewhere
from dho.atlas import dedupe, merge, service
from dho.atlas.models import Implementation, ImplementationSolution, MergeRecord, Solution
from dho.atlas.views import STAGE_LABELS, labels
from dho.errors import DomainError, FieldError, NotFound, ValidationFailed
from dho.i18n import _
from dho.reference import service as reference
from dho.reference.models import ClassificationCode
from dho.web import worldmap
from dho.web.deps import current_principal, db_session
from dho.web.params import MAX_ID, Id, Offset
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE = 100
PAIRS_SHOWN = 100
STALE_SHOWN = 50  # records shown per owner organisation
SAT = "cdisah2023-sat"
THRESHOLDS = (0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)
Iso3Q = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$|^$")]
Short = Annotated[str | None, Query(max_length=100)]
# Map classes: number of implementations in a country (upper bound of each class; None: no bound).
MAP_CLASSES = ((1, 1), (2, 2), (3, 4), (5, 9), (10, None))
# What a merge moved, for the result shown after it (marked for translation, translated when shown).
MOVED_LABELS = {
    "classifications": i18n._("classification codes"), "terms": i18n._("standards and other list entries"),
    "solutions": i18n._("solutions"), "organisations": i18n._("organisations"), "coverage": i18n._("coverage counts"),
    "contacts": i18n._("contacts"), "investment_targets": i18n._("investments now funding the record kept"),
    "investment_targets_joined": i18n._("investments that funded both records"),
    "implementation_owner": i18n._("implementations owned"), "solution_owner": i18n._("solutions owned"),
    "implementation_org": i18n._("implementer and funder links"), "investment_funder": i18n._("investments funded"),
    "investment_recipient": i18n._("investments received"), "investment_owner": i18n._("investments owned"),
    "users": i18n._("user accounts"), "role_grants": i18n._("roles"),
    "role_grants_dropped": i18n._("roles held twice (dropped)"),
}


def _web_url(url: str | None) -> str | None:
    """A link only for http(s) addresses (a ``javascript:`` address stays plain text)."""
    value = (url or "").strip()
    return value if value.lower().startswith(("https://", "http://")) and " " not in value else None


def _live(principal: Principal) -> tuple[Any, ...]:
    """Implementations in use that the reader may see (the public: published ones)."""
    return (Implementation.merged_into_id.is_(None), Implementation.status != "archived",
            service.visible_to(principal, Implementation))


def _sat_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(session.execute(select(ClassificationCode.code, ClassificationCode.name).where(
        ClassificationCode.scheme == SAT, ClassificationCode.code.in_(codes))).all())


def _country_names(session: Session, codes: set[str]) -> dict[str, str]:
    locale = i18n.get_locale()
    return {iso3: reference.country_name(c, locale) for iso3, c in reference.countries_by_code(session, codes).items()}


# ---------------------------------------------------------------- solutions


@router.get("/atlas/solutions", response_class=HTMLResponse)
def solutions_page(request: Request, q: Short = None, offset: Offset = 0, session: Session = db_session,
                   principal: Principal = current_principal) -> Response:
    stmt = select(Solution)
    if q and q.strip():
        stmt = stmt.where(func.lower(Solution.name).contains(q.strip().lower(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(session.execute(stmt.order_by(func.lower(Solution.name), Solution.id).limit(PAGE)
                                .offset(offset)).scalars())
    counts: dict[int, tuple[int, int]] = {}
    if rows:
        counts = {sid: (n, c) for sid, n, c in session.execute(
            select(ImplementationSolution.solution_id, func.count(func.distinct(Implementation.id)),
                   func.count(func.distinct(Implementation.country_iso3)))
            .join(Implementation, Implementation.id == ImplementationSolution.implementation_id)
            .where(ImplementationSolution.solution_id.in_([s.id for s in rows]), *_live(principal))
            .group_by(ImplementationSolution.solution_id))}
    kinds = _sat_names(session, {s.kind for s in rows if s.kind})
    return render(request, "atlas_solutions.html", {
        "rows": [{"s": s, "kind": kinds.get(s.kind or "", ""), "website": _web_url(s.website),
                  "repository": _web_url(s.repository), "implementations": counts.get(s.id, (0, 0))[0],
                  "countries": counts.get(s.id, (0, 0))[1]} for s in rows],
        "total": total, "offset": offset, "limit": PAGE, "q": q or "",
        "published_only": not principal.is_authenticated or not can_somewhere(principal, "unpublished.read"),
    })


def _map(counts: dict[str, int], names: dict[str, str], solution: str) -> Any:
    values = {}
    entries = []
    for i, (low, high) in enumerate(MAP_CLASSES, start=1):
        label = (str(low) if high == low else f"{low}–{high}" if high else _("%(num)s or more", num=low))
        entries.append(worldmap.LegendEntry(str(i), label, f"wm-ph-{i}"))
        for iso3, n in counts.items():
            if n >= low and (high is None or n <= high):
                values[iso3] = worldmap.MapValue(str(i), i18n.ngettext("%(num)s implementation",
                                                                        "%(num)s implementations", n))
    legend = worldmap.Legend(entries=entries, caption=_("Implementations using it"),
                             no_data=_("None recorded"))
    return worldmap.render(values, legend=legend, title=_("Where %(name)s is deployed", name=solution),
                           names=names, map_id="solution-map", href_for=lambda iso3: f"/atlas?country={iso3}")


@router.get("/atlas/solutions/{solution_id}", response_class=HTMLResponse)
def solution_page(request: Request, solution_id: Id, session: Session = db_session,
                  principal: Principal = current_principal) -> Response:
    solution = session.get(Solution, solution_id)
    if solution is None:
        raise NotFound(_("No solution %(id)s.", id=solution_id))
    impls = list(session.execute(
        select(Implementation).join(ImplementationSolution, ImplementationSolution.implementation_id ==
                                    Implementation.id)
        .where(ImplementationSolution.solution_id == solution.id, *_live(principal))).scalars())
    org_ids = {i.owner_org_id for i in impls} | ({solution.owner_org_id} if solution.owner_org_id else set())
    owners = dict(session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_(org_ids))).all()) if org_ids else {}
    per_country: dict[str, int] = {}
    for i in impls:
        per_country[i.country_iso3] = per_country.get(i.country_iso3, 0) + 1
    names = _country_names(session, set(per_country))
    impls.sort(key=lambda i: (names.get(i.country_iso3, i.country_iso3), i.name.casefold(), i.id))
    kind = _sat_names(session, {solution.kind} if solution.kind else set()).get(solution.kind or "", "")
    return render(request, "atlas_solution.html", {
        "s": solution, "kind": kind, "website": _web_url(solution.website),
        "repository": _web_url(solution.repository), "owner": owners.get(solution.owner_org_id or 0),
        "impls": [{"i": i, "country": names.get(i.country_iso3, i.country_iso3), "owner": owners.get(i.owner_org_id,
                                                                                                   "")}
                  for i in impls],
        "n_countries": len(per_country), "map_svg": _map(per_country, names, solution.name),
        "stage_labels": labels(STAGE_LABELS),
        "published_only": not principal.is_authenticated or not can_somewhere(principal, "unpublished.read"),
    })


# ---------------------------------------------------------------- data quality


def _may_use_quality(principal: Principal) -> None:
    """Who may merge somewhere or edit some records (401 for the public, 403 for a viewer)."""
    if principal.is_authenticated and (can_somewhere(principal, "atlas.merge")
                                       or can_somewhere(principal, "partner_data.edit")):
        return
    require_somewhere(principal, "atlas.merge")


def _home_country(principal: Principal) -> str | None:
    """The one country a focal point looks after (the page opens on it); None for everyone else."""
    if can(principal, "atlas.merge", Target()):
        return None
    isos = {g.country_iso3 for g in principal.grants if g.role == "country_focal_point" and g.country_iso3}
    return isos.pop() if len(isos) == 1 else None


def _threshold(raw: str | None) -> float:
    try:
        value = float(raw or "")
    except ValueError:
        return dedupe.DEFAULT_THRESHOLD
    return value if value in THRESHOLDS else dedupe.DEFAULT_THRESHOLD


def _merge_result(session: Session, principal: Principal, rec_id: int | None) -> dict[str, Any] | None:
    """The merge the reader just made (shown after the redirect); nobody else's."""
    rec = session.get(MergeRecord, rec_id) if rec_id else None
    if rec is None or rec.merged_by != principal.actor.label:
        return None
    moved = json.loads(rec.rewired)
    deleted = moved.pop("deleted_organisation", None)
    names: dict[int, str] = {}
    if rec.entity == "implementation":
        names = dict(session.execute(select(Implementation.id, Implementation.name).where(
            Implementation.id.in_([rec.kept_id, rec.merged_id]))).all())
    else:
        names = dict(session.execute(select(Organisation.id, Organisation.name).where(
            Organisation.id == rec.kept_id)).all())
        if deleted:
            names[rec.merged_id] = deleted.get("name") or ""
    return {"rec": rec, "kept": names.get(rec.kept_id, ""), "merged": names.get(rec.merged_id, ""),
            "moved": [(i18n._(MOVED_LABELS[k]) if k in MOVED_LABELS else k, len(v) if isinstance(v, list) else 1)
                      for k, v in sorted(moved.items())]}


def _editable_pairs(session: Session, principal: Principal, entity: str, pairs: list[dict[str, Any]]
                    ) -> list[dict[str, Any]]:
    ids = {side["id"] for p in pairs for side in (p["a"], p["b"])}
    if not ids:
        return []
    if entity == "implementation":
        owner = dict(session.execute(select(Implementation.id, Implementation.owner_org_id).where(
            Implementation.id.in_(ids))).all())
    else:
        owner = {i: i for i in ids}  # an organisation's own records
    return [p for p in pairs if any(can(principal, "partner_data.edit", service.target_for(
        session, side["country_iso3"], owner.get(side["id"]))) for side in (p["a"], p["b"]))]


def _quality(request: Request, session: Session, principal: Principal, *, entity: str, country: str | None,
             threshold: float, done: int | None = None, error: DomainError | None = None,
             status_code: int = 200) -> Response:
    may_merge = can_somewhere(principal, "atlas.merge")
    found = dedupe.duplicates(session, principal, entity=entity, country=country, threshold=threshold,
                              limit=PAIRS_SHOWN if may_merge else None)
    if not may_merge:  # a partner: the pairs that include a record it may edit
        found["pairs"] = _editable_pairs(session, principal, entity, found["pairs"])
        found["total"] = len(found["pairs"])
        found["pairs"] = found["pairs"][:PAIRS_SHOWN]
    for p in found["pairs"]:
        iso3 = p["a"]["country_iso3"]
        p["may_merge"] = may_merge and can(principal, "atlas.merge", Target(
            country_iso3=iso3, region_code=reference.region_of(session, iso3)))
    may_edit = can_somewhere(principal, "partner_data.edit")
    stale = merge.stale_records(session, principal, country=country) if may_edit else []
    for g in stale:
        g["more"] = max(0, len(g["records"]) - STALE_SHOWN)
        g["records"] = g["records"][:STALE_SHOWN]
    completeness = merge.completeness_by_country(session, principal, country=country)
    with_records = set(session.execute(select(Implementation.country_iso3).where(*_live(principal))
                                       .distinct()).scalars())
    codes = with_records | {c["country_iso3"] for c in completeness} | {
        p["a"]["country_iso3"] for p in found["pairs"] if p["a"]["country_iso3"]} | ({country} if country else set())
    names = _country_names(session, codes)
    completeness.sort(key=lambda c: (names.get(c["country_iso3"], c["country_iso3"]), c["country_iso3"]))
    return render(request, "atlas_quality.html", {
        "entity": entity, "country": country or "", "threshold": threshold, "thresholds": THRESHOLDS,
        "found": found, "stale": stale, "stale_total": sum(len(g["records"]) + g["more"] for g in stale),
        "completeness": completeness, "names": names, "may_edit": may_edit,
        "may_merge": may_merge,
        "countries": sorted(((c, names.get(c, c)) for c in with_records), key=lambda x: x[1]),
        "result": _merge_result(session, principal, done), "error": error,
    }, status_code=status_code)


@router.get("/atlas/quality", response_class=HTMLResponse)
def quality_page(request: Request, country: Iso3Q = None,
                 entity: Annotated[str, Query(pattern="^(implementation|organisation)$")] = "implementation",
                 threshold: Annotated[str | None, Query(max_length=8)] = None,
                 done: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                 session: Session = db_session, principal: Principal = current_principal) -> Response:
    _may_use_quality(principal)
    chosen = country.upper() if country else (None if "country" in request.query_params
                                              else _home_country(principal))
    return _quality(request, session, principal, entity=entity, country=chosen, threshold=_threshold(threshold),
                    done=done)


def _form_id(raw: str, field: str, errors: list[FieldError]) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        errors.append(FieldError(field, _("must be a record number")))
        return 0
    return int(raw)


@router.post("/atlas/quality/merge")
async def quality_merge(request: Request, session: Session = db_session,
                        principal: Principal = current_principal) -> Response:
    _may_use_quality(principal)
    form = await request.form()
    values = {k: str(form.get(k) or "").strip()[:40] for k in ("keep", "merged", "entity", "country", "threshold")}
    country = values["country"].upper() if len(values["country"]) == 3 and values["country"].isalpha() else None
    entity = values["entity"] if values["entity"] in merge.ENTITIES else "implementation"
    threshold = _threshold(values["threshold"])
    errors: list[FieldError] = []
    keep = _form_id(values["keep"], "keep", errors)
    merged = _form_id(values["merged"], "merged", errors)
    if values["entity"] not in merge.ENTITIES:
        errors.append(FieldError("entity", _("must be implementation or organisation")))
    try:
        if errors:
            raise ValidationFailed(_("The merge request is not valid; nothing was changed."), errors=errors)
        rec = merge.merge(session, principal, entity, keep, merged)
    except DomainError as exc:
        session.rollback()
        return _quality(request, session, principal, entity=entity, country=country, threshold=threshold,
                        error=exc, status_code=exc.status)
    params = {"entity": entity, "country": country or "", "threshold": threshold, "done": rec.id}
    return RedirectResponse(f"/atlas/quality?{urlencode(params)}#result", status_code=303)


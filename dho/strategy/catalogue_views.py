"""The global strategy catalogue in the browser (/strategy/catalogue) and as open JSON (/api/strategy/catalogue).

Both read the shipped, validated catalogue (dho.strategy.catalogue) and accept the same filters: objective
(SO1..SO4), actor (member_states, secretariat, partners) and term (short, medium, long). An empty filter
means "all"; an unknown value is refused with a 422 naming the filter and the allowed values. The page is in
the request's language and works without JavaScript (a plain GET form)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from dho import i18n
from dho.accounts.permissions import Principal
from dho.errors import NotFound, ValidationFailed
from dho.i18n import _
from dho.strategy import catalogue as cat
from dho.web.deps import current_principal
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
api = APIRouter(tags=["strategy"])

Filter = Annotated[str | None, Query(max_length=40)]
ItemId = Annotated[str, Path(max_length=40)]


def _selection(objective: str | None, actor: str | None, term: str | None) -> dict[str, Any]:
    """Objectives, actors, terms and actions that match the filters (raises ValidationFailed on unknown values)."""
    objective, actor, term = objective or None, actor or None, term or None
    found = cat.actions(objective, actor, term)
    c = cat.catalogue()
    return {
        "objectives": [o for o in c.objectives if not objective or o.id == objective],
        "actors": [a for a in c.actors if not actor or a.id == actor],
        "terms": [t for t in c.terms if not term or t.id == term],
        "actions": found,
    }


@router.get("/strategy/catalogue", response_class=HTMLResponse)
def catalogue_page(request: Request, objective: Filter = None, actor: Filter = None, term: Filter = None,
                   principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    c = cat.catalogue()
    errors = []
    try:
        sel = _selection(objective, actor, term)
    except ValidationFailed as exc:
        errors = exc.errors
        sel = {"objectives": [], "actors": [], "terms": [], "actions": []}
    grid: dict[tuple[str, str, str], list[cat.AnnexAction]] = {}
    for a in sel["actions"]:
        grid.setdefault((a.objective, a.actor, a.term), []).append(a)
    return render(request, "strategy/catalogue.html", {
        "cat": c, "locale": locale, "sel": sel, "grid": grid, "errors": errors,
        "f": {"objective": objective or "", "actor": actor or "", "term": term or ""},
        "filtered": bool(objective or actor or term),
    }, status_code=422 if errors else 200)


def _lang(lang: str | None) -> str:
    return lang if lang in i18n.LOCALES else i18n.get_locale()


@api.get("/strategy/catalogue", summary="Global strategy catalogue: objectives, policy options, outputs, annex actions")
def catalogue_json(objective: Filter = None, actor: Filter = None, term: Filter = None,
                   lang: Annotated[str | None, Query(max_length=5)] = None) -> dict[str, Any]:
    """The catalogue, filtered. Each item carries both languages and ``title`` in ``lang`` (or the request's)."""
    locale = _lang(lang)
    sel = _selection(objective, actor, term)
    c = cat.catalogue()
    return {
        "source": c.source,
        "locale": locale,
        "filters": {"objective": objective or None, "actor": actor or None, "term": term or None},
        "actors": [a.as_dict(locale) | {"code": a.code} for a in sel["actors"]],
        "terms": [t.as_dict(locale) | {"code": t.code, "years": t.years} for t in sel["terms"]],
        "framework_for_action": [f.as_dict(locale) | {"summary_en": f.summary_en, "summary_fr": f.summary_fr}
                                 for f in c.framework],
        "objectives": [o.as_dict(locale) for o in sel["objectives"]],
        "annex_actions": [a.as_dict(locale) for a in sel["actions"]],
        "total_actions": len(sel["actions"]),
    }


@api.get("/strategy/catalogue/{item_id}", summary="One catalogue item by id (e.g. SO1, SO1.PA2, SO1.O1, SO1.MS.S1)")
def catalogue_item(item_id: ItemId, lang: Annotated[str | None, Query(max_length=5)] = None) -> dict[str, Any]:
    locale = _lang(lang)
    item = cat.get(item_id)
    if item is None:
        raise NotFound(_("The strategy catalogue has no item with the id %(id)s.", id=item_id))
    out = item.as_dict(locale)
    if isinstance(item, cat.Objective):
        out["annex_actions"] = [a.id for a in cat.actions(objective=item.id)]
    elif isinstance(item, cat.AnnexAction | cat.PolicyOption | cat.Output):
        out["objective_title"] = cat.objective(item.objective).title(locale)
    if isinstance(item, cat.FrameworkElement | cat.Objective):
        out["summary"] = item.summary(locale)
    out["url"] = cat.link(item.id)
    return out

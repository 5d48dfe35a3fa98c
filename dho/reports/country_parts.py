"""The parts of a country report that are not indicators: the maturity profile (from the maturity
service and its radar chart), the national strategy and action-plan status (strategy models, with the
computed red/amber/green), funding and gaps, and implementations (atlas, public records only).

Every function reads as the public does (published and approved records only) and takes its "today"
from the report (the cut-off, or the end of the report's year), so the result is reproducible."""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.permissions import ANONYMOUS
from dho.errors import DomainError
from dho.maturity import charts as maturity_charts
from dho.maturity import service as maturity_service
from dho.strategy import rag
from dho.strategy.models import (
    ActionPlan,
    Activity,
    Milestone,
    NationalStrategy,
    StrategyComponent,
    StrategyEvent,
    StrategyObjective,
)

RADAR_STYLE = (".ring{fill:none;stroke:#ccc}.spoke{stroke:#ccc}.ring-label{fill:#888;font-size:8px}"
               ".axis-label{font-size:9px;fill:#333}.series{fill-opacity:.18;stroke-width:1.6}"
               ".series-country{fill:#1f5f99;stroke:#1f5f99}.series-world{fill:#c2552b;stroke:#c2552b}"
               ".dot.missing{fill:#fff}")
RAG_ORDER = ("red", "amber", "green", "not_started", "done", "cancelled")


def _score(value: Any) -> str:
    return "" if value is None else i18n.fmt_score(value)


def maturity(session: Session, iso3: str, year: int, lang: str) -> dict[str, Any]:
    """The latest published assessment up to the report's year, by component, beside its region's
    and the world's mean for the same assessment year; with a radar chart."""
    rows = [r for r in maturity_service.trend(session, iso3) if r["year"] <= year]
    if not rows:
        return {"year": None, "components": [], "overall": None, "radar_svg": "", "history": []}
    last = rows[-1]
    s = last["score"]
    fw = maturity_service.get_framework(session, maturity_service.DEFAULT_FRAMEWORK)
    doc = maturity_service.framework_document(fw)
    titles = {str(c["id"]): (c["title"].get(lang) or c["title"]["en"]) for c in doc["components"]}
    region = maturity_service.group_of(session, iso3, "region", last["year"])
    by_region = {f.key: f for f in maturity_service.aggregates(session, group="region", year=last["year"])}
    world = next(iter(maturity_service.aggregates(session, group="world", year=last["year"])), None)
    own_region = by_region.get(region or "")
    comps = []
    for cid, sc in s.components.items():
        r = own_region.components.get(cid) if own_region else None
        w = world.components.get(cid) if world else None
        comps.append({"id": cid, "title": titles.get(cid, cid), "score": _score(sc.score), "phase": sc.phase,
                      "region": _score(r.score if r else None), "world": _score(w.score if w else None)})
    world_scores = [world.components[cid].score if world and world.components.get(cid) else None
                    for cid in s.components]
    radar = maturity_charts.radar(
        [f"{c['id']}. {c['title']}" for c in comps],
        [(i18n._("Country"), "series-country",
          [float(sc.score) if sc.score is not None else None for sc in s.components.values()]),
         (i18n._("World"), "series-world", [float(v) if v is not None else None for v in world_scores])],
        title=i18n._("Maturity profile by component"))
    radar = Markup(str(radar).replace("</title>", f"</title><style>{RADAR_STYLE}</style>", 1))  # noqa: S704
    return {"year": last["year"], "overall": {"score": _score(s.overall.score), "phase": s.overall.phase},
            "components": comps, "radar_svg": radar,
            "history": [{"year": r["year"], "score": _score(r["score"].overall.score),
                         "phase": r["score"].overall.phase} for r in rows]}


def strategy(session: Session, iso3: str, as_of: dt.date) -> dict[str, Any]:
    """The current national strategy and the country's action plans with their activities' status."""
    st = session.execute(select(NationalStrategy).where(
        NationalStrategy.country_iso3 == iso3, NationalStrategy.superseded_by_id.is_(None))
        .order_by(NationalStrategy.id.desc()).limit(1)).scalar_one_or_none()
    out: dict[str, Any] = {"strategy": None, "plans": []}
    if st is not None:
        comps = session.execute(select(StrategyComponent).where(StrategyComponent.strategy_id == st.id)
                                .order_by(StrategyComponent.component)).scalars().all()
        objs = session.execute(select(StrategyObjective.objective).where(StrategyObjective.strategy_id == st.id)
                               .order_by(StrategyObjective.objective)).scalars().all()
        events = session.execute(select(StrategyEvent).where(StrategyEvent.strategy_id == st.id,
                                                             StrategyEvent.on_date <= as_of)
                                 .order_by(StrategyEvent.on_date, StrategyEvent.id)).scalars().all()
        out["strategy"] = {
            "title": st.title, "status": st.status, "period": _period(st.period_start, st.period_end),
            "approved_on": st.approved_on.isoformat() if st.approved_on else "",
            "costed_plan_on": st.costed_plan_on.isoformat() if st.costed_plan_on else "",
            "governance_body": st.governance_body, "next_cycle_year": st.next_cycle_year,
            "components": [{"component": c.component, "coverage": c.coverage} for c in comps],
            "objectives": list(objs),
            "events": [{"on": e.on_date.isoformat(), "status": e.status} for e in events]}
    plans = session.execute(select(ActionPlan).where(ActionPlan.country_iso3 == iso3, ActionPlan.starts_on <= as_of)
                            .order_by(ActionPlan.cycle, ActionPlan.id)).scalars().all()
    for p in plans:
        acts = session.execute(select(Activity).where(Activity.plan_id == p.id)
                               .order_by(Activity.position, Activity.id)).scalars().all()
        ms: dict[int, list[Milestone]] = {}
        if acts:
            for m in session.execute(select(Milestone).where(Milestone.activity_id.in_([a.id for a in acts]))
                                     .order_by(Milestone.id)).scalars():
                ms.setdefault(m.activity_id, []).append(m)
        counts = dict.fromkeys(RAG_ORDER, 0)
        rows = []
        for a in acts:
            state, reasons = rag.evaluate(a, today=as_of, latest_update=a.last_update_on, milestones=ms.get(a.id, []))
            counts[state] = counts.get(state, 0) + 1
            rows.append({"title": a.title, "due_on": a.due_on.isoformat(), "progress": a.progress, "state": state,
                         "reasons": reasons})
        out["plans"].append({"title": p.title, "cycle": p.cycle, "status": p.status,
                             "period": f"{p.starts_on.isoformat()} – {p.ends_on.isoformat()}",
                             "counts": counts, "activities": rows})
    return out


def _period(start: int | None, end: int | None) -> str:
    if start is None and end is None:
        return ""
    return f"{start or ''}–{end or ''}"


def funding(session: Session, iso3: str, year: int) -> dict[str, Any]:
    """Money reaching the country (US dollars by year, approved investments) and its maturity gaps with
    whether money reaches each."""
    from dho.atlas import coordination

    try:
        by_year = coordination.who_funds_what(session, ANONYMOUS, by="year",
                                              filters=coordination.Filters(country=iso3, year_to=year))
        gaps = coordination.gap_view(session, iso3, ANONYMOUS)
    except DomainError:
        return {"years": [], "total_usd": "", "gaps": [], "unfunded": 0, "not_converted": []}
    return {
        "years": [{"year": r.key, "usd": str(r.usd), "n": r.n_investments} for r in by_year.rows if r.key],
        "total_usd": str(by_year.total.usd), "n": by_year.total.n_investments,
        "not_converted": [{"currency": c, "amount": str(a)} for c, a in sorted(by_year.total.not_converted.items())],
        "gaps": [{"rank": g["rank"], "indicator": g["indicator"], "title": g["title"], "phase": g["phase"],
                  "target": g["target"], "status": g["status"], "funders": g["funders"]}
                 for g in gaps["priorities"][:15]],
        "unfunded": gaps["unfunded"], "assessment_year": gaps["year"],
    }


def implementations(session: Session, iso3: str) -> dict[str, Any]:
    from dho.atlas import service as atlas

    rows, total = atlas.list_implementations(session, ANONYMOUS, country=iso3, limit=30)
    return {"total": total, "rows": [{"id": r.id, "name": r.name, "stage": r.stage, "openness": r.openness,
                                      "start": r.start_date.isoformat() if r.start_date else ""} for r in rows]}

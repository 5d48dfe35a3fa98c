"""Demo action plans: one per demo country for this year's cycle, one of the WHO Secretariat and one of
the Northwind Health Fund (demo). Each holds 6-15 activities in a deliberate mix of situations (on track,
late, over budget, silent for months, behind schedule, a missed milestone, done, not started, cancelled),
linked to the country's real demo maturity gaps, global objectives, annex actions, and its atlas
investments and implementations. Ghana's plan of last year was reviewed and its unfinished
activities carried into this year's plan. Deterministic for a given day (its own seeded generator),
and written through the plan service, so every rule the pages enforce holds for the demo data too."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from dho.atlas.models import Implementation, Investment
from dho.strategy import plans, rag
from dho.strategy.models import ActionPlan
from dho.strategy.review import review_plan
from dho.validation import parse

SEED = 6006
REVIEWED_COUNTRY = "GHA"
CURRENCY = {"KEN": "KES", "GHA": "GHS", "RWA": "RWF", "SEN": "XOF", "PER": "PEN", "BRA": "BRL", "PAK": "PKR",
            "BGD": "BDT", "PHL": "PHP", "IDN": "IDR"}

# Invented activity titles, each with the global objective it most obviously serves.
ACTIVITIES = [
    ("Set up the national digital health steering committee", "SO1"),
    ("Publish the national health data exchange standards", "SO2"),
    ("Cost the digital health strategy's action plan", "SO2"),
    ("Train district health information officers", "SO3"),
    ("Roll out the electronic immunisation registry to two more provinces", "SO3"),
    ("Adopt a health data protection regulation", "SO2"),
    ("Connect the laboratory system to the health information exchange", "SO3"),
    ("Run the annual digital health maturity self-assessment", "SO4"),
    ("Launch a national client registry pilot", "SO3"),
    ("Map digital health investments with partners", "SO1"),
    ("Draft guidance on artificial intelligence in health", "SO4"),
    ("Join the regional digital health knowledge network", "SO1"),
    ("Set up a helpdesk for facility staff using digital tools", "SO3"),
    ("Assess the digital literacy of community health workers", "SO4"),
    ("Agree a single facility registry with the statistics office", "SO2"),
    ("Evaluate the telemedicine pilot", "SO4"),
]
SECRETARIAT = [
    ("Publish the global digital health monitor's annual round", "SO4"),
    ("Support six countries in costing their digital health plans", "SO2"),
    ("Run the digital health leadership course for officials", "SO3"),
    ("Convene the partners' coordination forum", "SO1"),
    ("Update the classification of digital interventions", "SO2"),
    ("Onboard new members to the trust network", "SO2"),
    ("Draft the progress report to the Assembly", "SO4"),
    ("Launch the regional communities of practice", "SO1"),
]
PARTNER = [
    ("Co-fund national health information exchanges", "SO2"),
    ("Align grants with countries' costed digital health plans", "SO1"),
    ("Finance open-source health record deployments", "SO3"),
    ("Fund training of health informatics staff", "SO3"),
    ("Publish our digital health funding on the atlas", "SO1"),
    ("Evaluate the results of our country grants", "SO4"),
    ("Support country ownership handover of two systems", "SO3"),
]
SCENARIOS = ("on_track", "on_track", "on_track", "late", "over_budget", "no_update", "behind", "milestone_late",
             "done", "not_started", "cancelled", "on_track")
# Last year's reviewed plan: three done, one cancelled, four carried forward.
REVIEWED_MIX = ("done", "on_track", "late", "done", "cancelled", "no_update", "done", "behind")


def _annex_ids(actor: str) -> list[str]:
    """Annex action ids the catalogue knows (checked through the plan service's own rule)."""
    out = []
    for so in range(1, 5):
        for term in "SML":
            for k in range(1, 4):
                ref = f"SO{so}.{actor}.{term}{k}"
                if plans._annex_known(ref):
                    out.append(ref)
    return out


def _gap_codes(session: Any, iso3: str) -> list[str]:
    from dho.maturity import gaps

    return [g.code for g in gaps.priorities(session, iso3)["gaps"]][:6]


class _Builder:
    def __init__(self, ctx: Any, today: dt.date):
        self.ctx, self.session, self.today = ctx, ctx.session, today
        self.rng = random.Random(f"{SEED}-{today.isoformat()}")

    def dates(self, scenario: str, cycle_start: dt.date, cycle_end: dt.date) -> tuple[dt.date, dt.date]:
        rng, t = self.rng, self.today
        if scenario == "not_started":
            start = t + dt.timedelta(days=rng.randint(20, 90))
            return start, start + dt.timedelta(days=rng.randint(60, 200))
        if scenario in ("late", "done"):
            start = t - dt.timedelta(days=rng.randint(200, 330))
            return start, t - dt.timedelta(days=rng.randint(10, 60))
        start = t - dt.timedelta(days=rng.randint(60, 280))
        return start, max(t + dt.timedelta(days=rng.randint(40, 200)), start + dt.timedelta(days=30))

    def activity(self, plan: ActionPlan, title: str, objective: str, scenario: str, owner: int | None,
                 currency: str, links: list[dict[str, str]]) -> None:
        rng, t = self.rng, self.today
        start, due = self.dates(scenario, plan.starts_on, plan.ends_on)
        budget = rng.choice((20, 35, 50, 80, 120, 200, 350)) * 1000
        if currency not in ("USD", "EUR"):
            budget *= rng.choice((10, 100))
        elapsed = rag.elapsed_percent(start, due, t)
        progress = {"on_track": min(95, elapsed + rng.randint(0, 10)), "late": rng.randint(40, 80),
                    "over_budget": min(90, elapsed + 5), "no_update": min(90, elapsed), "behind": max(0, elapsed - 40),
                    "milestone_late": min(90, elapsed + 5), "done": 100, "not_started": 0,
                    "cancelled": rng.randint(0, 30)}[scenario]
        share = {"over_budget": rng.choice(("1.12", "1.3")), "done": "0.97", "not_started": "0",
                 "behind": "0.2"}.get(scenario, f"0.{max(1, min(8, progress // 12))}")
        spent = (budget * Decimal(share)).quantize(Decimal(1))
        mid = start + dt.timedelta(days=(due - start).days // 2)
        milestones = [{"title": "Interim deliverable", "due_on": mid.isoformat(),
                       "done_on": None if scenario == "milestone_late" or mid > t else mid.isoformat()}]
        status = {"done": "done", "not_started": "not_started", "cancelled": "cancelled"}.get(
            scenario, "in_progress")
        body = {"title": title, "owner_org_id": owner, "budget": str(budget), "spent": str(spent),
                "currency": currency, "starts_on": start.isoformat(), "due_on": due.isoformat(), "status": status,
                "progress": progress if status != "done" else 100, "milestones": milestones,
                "links": [{"kind": "objective", "ref": objective}, *links],
                "description": "" if rng.random() < 0.5 else f"{title} (demo activity)."}
        if status == "done":
            body["done_on"] = (due - dt.timedelta(days=rng.randint(0, 10))).isoformat()
        act = plans.create_activity(self.session, self.ctx.principal, plan.id,
                                    parse(plans.ActivityIn, body))
        if status == "in_progress" and start < t:
            last = t - dt.timedelta(days=rng.randint(120, 200)) if scenario == "no_update" else \
                t - dt.timedelta(days=rng.randint(3, 40))
            last = max(last, start)
            plans.post_update(self.session, self.ctx.principal, act.id, plans.UpdateIn(
                on_date=last, progress=progress, note=rng.choice(("Work continues as planned.",
                                                                  "Waiting for the partner's inputs.",
                                                                  "Procurement finished; deployment began."))))

    def plan(self, title: str, owner_kind: str, cycle: int, *, iso3: str | None = None,
             org: int | None = None) -> ActionPlan:
        return plans.create_plan(self.session, self.ctx.principal, plans.PlanIn(
            title=title, owner_kind=owner_kind, country_iso3=iso3, organisation_id=org, cycle=cycle,
            starts_on=dt.date(cycle, 1, 1), ends_on=dt.date(cycle, 12, 31),
            currency=CURRENCY.get(iso3 or "", "USD")))


def _country_links(b: _Builder, iso3: str, annex: list[str]) -> list[list[dict[str, str]]]:
    """Per activity, a few real targets of the country (gaps, annex actions, investments, implementations)."""
    s, rng = b.session, b.rng
    gaps = _gap_codes(s, iso3)
    invs = [str(i) for i in s.execute(select(Investment.id).where(Investment.country_iso3 == iso3)
                                      .order_by(Investment.id)).scalars()]
    impls = [str(i) for i in s.execute(select(Implementation.id).where(
        Implementation.country_iso3 == iso3, Implementation.merged_into_id.is_(None), Implementation.status ==
        "published").order_by(Implementation.id)).scalars()]
    out = []
    for n in range(16):
        links = []
        if gaps:
            links.append({"kind": "gap", "ref": gaps[n % len(gaps)]})
            if n % 3 == 0:
                links.append({"kind": "priority", "ref": gaps[0]})
        if annex and rng.random() < 0.6:
            links.append({"kind": "annex_action", "ref": rng.choice(annex)})
        if invs and rng.random() < 0.5:
            links.append({"kind": "investment", "ref": rng.choice(invs)})
        if impls and rng.random() < 0.5:
            links.append({"kind": "implementation", "ref": rng.choice(impls)})
        if rng.random() < 0.3:
            links.append({"kind": "indicator", "ref": rng.choice(("SO1.NDHS_APPROVED", "SO2.COSTED_PLAN",
                                                                   "SO4.ASSESSED_3Y", "SO3.OFFICIALS_TRAINED"))})
        out.append(list({(x["kind"], x["ref"]): x for x in links}.values()))
    return out


def plans_step(ctx: Any) -> None:
    """Add the demo action plans (called by dho.demo.load after the atlas and national strategy steps)."""
    from dho.demo import DEMO_COUNTRIES

    today = plans.today()
    b = _Builder(ctx, today)
    ids = ctx.org_ids
    year = today.year
    annex_ms, annex_sec, annex_par = _annex_ids("MS"), _annex_ids("SEC"), _annex_ids("PAR")
    for countries in DEMO_COUNTRIES.values():
        for iso3 in countries:
            links = _country_links(b, iso3, annex_ms)
            currency = CURRENCY.get(iso3, "USD")
            owner = ids.get(f"MOH-{iso3}")
            partners = [owner, owner, ids.get("NHF"), ids.get("OCC"), ids.get("MDB")]
            if iso3 == REVIEWED_COUNTRY:
                last = b.plan(f"Digital health action plan {year - 1}", "country", year - 1, iso3=iso3)
                saved, b.today = b.today, min(today, dt.date(year - 1, 12, 20))
                for n, (title, so) in enumerate(b.rng.sample(ACTIVITIES, len(REVIEWED_MIX))):
                    b.activity(last, title, so, REVIEWED_MIX[n], b.rng.choice(partners), currency, links[n])
                b.today = saved
                review_plan(b.session, ctx.principal, last.id, plans.ReviewIn(
                    reviewed_on=min(today, dt.date(year, 1, 20)),
                    summary="Half the activities finished; the rest continue into the new cycle (demo)."))
                plan = b.session.execute(select(ActionPlan).where(ActionPlan.previous_id == last.id)).scalar_one()
                count = 4
            else:
                plan = b.plan(f"Digital health action plan {year}", "country", year, iso3=iso3)
                count = b.rng.randint(6, 15)
            chosen = b.rng.sample(ACTIVITIES, count)
            for n, (title, so) in enumerate(chosen):
                b.activity(plan, title, so, SCENARIOS[n % len(SCENARIOS)], b.rng.choice(partners), currency,
                           links[n])
    sec = b.plan(f"WHO Secretariat digital health workplan {year}", "secretariat", year)
    for n, (title, so) in enumerate(SECRETARIAT):
        extra = [{"kind": "annex_action", "ref": annex_sec[n % len(annex_sec)]}] if annex_sec else []
        b.activity(sec, title, so, SCENARIOS[n], ids.get("WHO-DEMO"), "USD", extra)
    nhf = ids.get("NHF")
    if nhf:
        partner = b.plan(f"Northwind Health Fund digital health plan {year}", "partner", year, org=nhf)
        invs = [str(i) for i in b.session.execute(select(Investment.id).where(Investment.funder_org_id == nhf)
                                                  .order_by(Investment.id).limit(40)).scalars()]
        impls = [str(i) for i in b.session.execute(select(Implementation.id).where(
            Implementation.owner_org_id == nhf, Implementation.merged_into_id.is_(None))
            .order_by(Implementation.id).limit(40)).scalars()]
        for n, (title, so) in enumerate(PARTNER):
            extra = []
            if invs:
                extra.append({"kind": "investment", "ref": invs[n % len(invs)]})
            if impls and n % 2:
                extra.append({"kind": "implementation", "ref": impls[n % len(impls)]})
            if annex_par:
                extra.append({"kind": "annex_action", "ref": annex_par[n % len(annex_par)]})
            b.activity(partner, title, so, SCENARIOS[n + 2], nhf, "USD", extra)
    ctx.session.flush()

"""Demo data for the national strategy registry, capacity building and network memberships.

For all 194 Member States: about two thirds with a strategy that is approved or further along (with
components, alignment, documents and a dated history from 2019), some drafting, the rest none;
trainings from 2021 with about 1,650 participants (nearly all government officials, from over a
hundred countries); 40 members of the Global Digital Health Partnership. Deterministic (``ctx.rng``)
and written in a few bulk flushes so that every test database template stays fast to build. All
titles, bodies and documents are invented."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from dho.accounts import service as accounts
from dho.accounts.models import Organisation
from dho.reference.models import Country
from dho.strategy.models import (
    NationalStrategy,
    Partnership,
    StrategyComponent,
    StrategyDocument,
    StrategyEvent,
    StrategyObjective,
    Training,
    TrainingParticipant,
)
from dho.strategy.national import COMPONENTS, OBJECTIVES

DEMO_DOMAIN = "demo.example.org"
TODAY = dt.date(2026, 3, 31)  # fixed, so that the demo data set is the same whenever it is built
WITH_STRATEGY = 129
DRAFTING = 18
GDHP_MEMBERS = 40
TITLES = ("National Digital Health Strategy {a}-{b}", "Digital Health Strategic Plan {a}-{b}",
          "eHealth Strategy {a}-{b}", "Health Information and Digital Health Policy {a}-{b}",
          "Digital Transformation Roadmap for Health {a}-{b}")
BODIES = ("National Digital Health Steering Committee", "Digital Health Governance Board",
          "eHealth Technical Working Group", "Health Informatics Council", "Digital Health Agency board")
TRAINING_TITLES = (
    ("Leading digital health transformation", "leadership"),
    ("Data governance for health ministries", "data_governance"),
    ("Interoperability and health data standards", "interoperability"),
    ("Artificial intelligence in health: policy and safety", "ai"),
    ("Cybersecurity for health information systems", "cybersecurity"),
    ("Digital health strategy and costed planning", "digital_health"),
    ("Health informatics fundamentals", "health_informatics"),
)


def _actor(ctx: Any, local: str) -> Any:
    user = accounts.find_user(ctx.session, f"{local}@{DEMO_DOMAIN}")
    return accounts.principal_for(user, via="session") if user is not None else ctx.principal


def _day(rng: Any, year: int) -> dt.date:
    return dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(0, 365))


def national_step(ctx: Any) -> None:
    """Add the registry, trainings and memberships (called by dho.demo.load after the atlas step)."""
    from dho.demo import DEMO_COUNTRIES

    s, rng = ctx.session, ctx.rng
    members = list(s.execute(select(Country.iso3, Country.who_region).where(
        Country.who_member.is_(True), Country.retired.is_(False)).order_by(Country.iso3)).all())
    demo = [c for cs in DEMO_COUNTRIES.values() for c in cs]
    others = [iso3 for iso3, _r in members if iso3 not in demo]
    rng.shuffle(others)
    # Every demo country has a strategy, except Jamaica (drafting) and Fiji (none), so pages show all cases.
    active = [c for c in demo if c not in ("JAM", "FJI")] + others[: WITH_STRATEGY - len(demo) + 2]
    drafting = ["JAM", *others[WITH_STRATEGY - len(demo) + 2: WITH_STRATEGY - len(demo) + 2 + DRAFTING - 1]]
    secretariat = _actor(ctx, "secretariat")
    saved_actor = s.info.get("actor")

    # Demo countries: recorded by their focal points (one flush each, so the audit log names them).
    for iso3 in demo:
        if iso3 in active or iso3 in drafting:
            focal = _actor(ctx, f"focal.{iso3.lower()}")
            s.info["actor"] = focal.actor
            _strategy(s, rng, iso3, iso3 in active, focal.actor.label, detailed=True)
            s.flush()
    s.info["actor"] = secretariat.actor
    for iso3 in (c for c in active + drafting if c not in demo):
        _strategy(s, rng, iso3, iso3 in active, secretariat.actor.label, detailed=False)
    s.flush()
    _trainings(ctx, [iso3 for iso3, _r in members], demo)
    _partnerships(s, rng, active, demo)
    s.flush()
    if saved_actor is not None:
        s.info["actor"] = saved_actor


def _strategy(s: Any, rng: Any, iso3: str, is_active: bool, by: str, detailed: bool) -> None:
    start = rng.choice((2018, 2019, 2020, 2020, 2021, 2022, 2023)) if is_active else rng.choice((2025, 2026))
    end = start + rng.choice((4, 5, 5, 6))
    status = "drafting"
    history: list[tuple[str, dt.date, str]] = [("drafting", _day(rng, max(2019, start - 1)), "Drafting began.")]
    approved_on = costed_on = None
    if is_active:
        approved_on = max(history[0][1] + dt.timedelta(days=rng.randrange(120, 500)), dt.date(2019, 3, 1))
        approved_on = min(approved_on, TODAY - dt.timedelta(days=30))
        status = "approved"
        history.append(("approved", approved_on, "Adopted by the council of ministers."))
        roll = rng.random()
        if roll < 0.55:
            costed_on = min(approved_on + dt.timedelta(days=rng.randrange(60, 400)), TODAY - dt.timedelta(days=10))
            status = "costed_plan_approved"
            history.append((status, costed_on, "Costed implementation plan approved."))
            if roll < 0.40:
                when = min(costed_on + dt.timedelta(days=rng.randrange(30, 300)), TODAY - dt.timedelta(days=5))
                status = "implementing"
                history.append((status, when, "Implementation started under the steering committee."))
                if roll < 0.08 and end <= 2025:
                    when = min(dt.date(end, 12, 1), TODAY - dt.timedelta(days=1))
                    status = "evaluated"
                    history.append((status, when, "End-of-period evaluation completed."))
    a, b = start, end
    strategy = NationalStrategy(
        country_iso3=iso3, title=rng.choice(TITLES).format(a=a, b=b), status=status, period_start=start,
        period_end=end, approved_on=approved_on, costed_plan_on=costed_on, governance_body=rng.choice(BODIES),
        next_cycle_year=end + 1 if is_active else None, notes="Demo record (invented).")
    s.add(strategy)
    s.flush()
    covered = rng.sample(COMPONENTS, rng.randint(5, 9) if is_active else rng.randint(2, 5))
    s.add_all(StrategyComponent(strategy_id=strategy.id, component=c,
                                coverage="full" if rng.random() < 0.7 else "partial") for c in sorted(covered))
    s.add_all(StrategyObjective(strategy_id=strategy.id, objective=o)
              for o in sorted(rng.sample(OBJECTIVES, rng.randint(2, 4))))
    s.add_all(StrategyEvent(strategy_id=strategy.id, status=st, on_date=d, by=by, note=note) for st, d, note in history)
    if is_active:
        s.add(StrategyDocument(strategy_id=strategy.id, title=f"{strategy.title} (demo)",
                               url=f"https://moh-{iso3.lower()}.{DEMO_DOMAIN}/strategy.pdf", language="en",
                               published_on=approved_on))
    if detailed and is_active and rng.random() < 0.5:
        # An earlier strategy, replaced by this one and still readable.
        old = NationalStrategy(country_iso3=iso3, title=f"eHealth Strategy {start - 5}-{start - 1}",
                               status="evaluated", period_start=start - 5, period_end=start - 1,
                               approved_on=dt.date(start - 5, 6, 1), governance_body=strategy.governance_body,
                               notes="Demo record (invented).", superseded_by_id=strategy.id)
        s.add(old)
        s.flush()
        s.add_all([StrategyEvent(strategy_id=old.id, status="approved", on_date=dt.date(start - 5, 6, 1), by=by,
                                 note="Earlier strategy adopted."),
                   StrategyEvent(strategy_id=old.id, status="evaluated", on_date=dt.date(start - 1, 11, 15), by=by,
                                 note="Evaluated before the next cycle.")])


def _trainings(ctx: Any, members: list[str], demo: list[str]) -> None:
    s, rng = ctx.session, ctx.rng
    organisers = [ctx.org_ids[k] for k in ("WHO-DEMO", "IHI", "NHF", "OCC") if k in ctx.org_ids]
    organisers += [ctx.org_ids[f"RO-{r}"] for r in ("AFR", "AMR", "SEAR", "EUR", "EMR", "WPR")
                   if f"RO-{r}" in ctx.org_ids]
    if not organisers:
        organisers = list(s.execute(select(Organisation.id).limit(3)).scalars())
    reach = members[:]
    rng.shuffle(reach)
    reach = sorted(set(reach[:118]) | set(demo))  # the countries whose officials took part
    trainings: list[Training] = []
    for year in range(2021, 2027):
        for _n in range(7 if year < 2026 else 3):
            title, topic = rng.choice(TRAINING_TITLES)
            start = _day(rng, year)
            if year == 2026:
                start = dt.date(2026, 1, 10) + dt.timedelta(days=rng.randrange(0, 60))
            mode = rng.choice(("in_person", "online", "online", "blended"))
            host = None if mode == "online" else rng.choice(demo)
            trainings.append(Training(title=f"{title} ({year})", topic=topic, organiser_org_id=rng.choice(organisers),
                                      host_country_iso3=host, mode=mode, starts_on=start,
                                      ends_on=start + dt.timedelta(days=rng.choice((2, 4, 4, 9, 30)))))
    s.add_all(trainings)
    s.flush()
    people: list[TrainingParticipant] = []
    for i in range(1655):
        t = trainings[i % len(trainings)]
        country = reach[i % len(reach)] if i < len(reach) * 2 else rng.choice(reach)
        role = "government_official" if i % 60 else rng.choice(("health_worker", "academic", "partner_staff"))
        r = rng.random()
        gender = "female" if r < 0.46 else "male" if r < 0.96 else "other" if r < 0.97 else "undisclosed"
        people.append(TrainingParticipant(training_id=t.id, country_iso3=country, role=role, gender=gender,
                                          completed=rng.random() > 0.005))
    s.add_all(people)


def _partnerships(s: Any, rng: Any, active: list[str], demo: list[str]) -> None:
    founders = [c for c in demo if c in active][:12]
    rest = [c for c in active if c not in founders]
    rng.shuffle(rest)
    members = founders + rest[: GDHP_MEMBERS - len(founders) + 2]
    rows = []
    for n, iso3 in enumerate(members):
        joined = dt.date(2018 + min(n // 8, 7), 1 + rng.randrange(12), 1 + rng.randrange(28))
        left = None
        if n >= GDHP_MEMBERS:  # two countries that joined and later left: 40 members remain
            left = joined + dt.timedelta(days=rng.randrange(200, 700))
        rows.append(Partnership(network="gdhp", country_iso3=iso3, joined_on=joined, left_on=left))
    s.add_all(rows)

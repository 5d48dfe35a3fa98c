"""Indicators: recomputation of every shipped indicator for 194 countries x 10 years x every period type,
on synthetic data of that size in a temporary SQLite database, against baselines measured in the same run.

    .venv/bin/python bench/indicators.py [--repeats N] [--keep DIR]

Setup: ``initialise`` (reference data, frameworks, the shipped core set), then for the 194 WHO Member
States x 2016-2025 (deterministic pseudo-random): a strategy status history, one published national
assessment per year (all core indicators answered), 5 implementations with standards, 3 investments a
year with targets (priorities), one training a year with 10 participants, an action plan with 10
activities a year, GDHP memberships (40 countries) and GDHCN participants (80 countries). Rows are
written with bulk INSERTs (the bench measures the engine, not the write path).

Figures (medians of ``--repeats`` rounds, each with a cold engine cache):
* ``recompute_all_periods_s``: ``engine.compute`` of all shipped indicators for every geography and
  year, quarter, month and July financial year (what the brief asks: 194 x 10 years x every period).
* ``recompute_years_s``: the same for years only (what the pages ask for).
* ``cached_s``: a second call at the same data epoch (the pages' steady state).
* baselines: ``load_only_s`` = reading every source into records (the I/O floor the engine cannot go
  below) and ``sql_group_by_s`` = one hand-written SQL GROUP BY counting officials trained per country
  and year (what a single indicator costs as a plain query).
Checks compare a few computed values with counts made directly from the generated rows. Prints one
JSON document and writes bench/results/indicators.json; exit 0 when the checks pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from machine import cpu_model, git_state, version  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from dho.bootstrap import initialise  # noqa: E402
from dho.db import Database  # noqa: E402

RESULTS = BENCH_DIR / "results" / "indicators.json"
YEARS = list(range(2016, 2026))
TODAY = dt.date(2025, 12, 31)
PERIOD_TYPES = ["year", "quarter", "month", "financial_year"]
STATUSES = ["drafting", "approved", "costed_plan_approved", "implementing", "evaluated"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(db: Database, seed: int = 6) -> dict[str, Any]:
    """Write the synthetic data set; return the counts the checks need."""
    from dho.accounts.models import Organisation
    from dho.atlas.models import Implementation, ImplementationTerm, Investment, InvestmentTarget, Term
    from dho.maturity import service as maturity
    from dho.maturity.models import Assessment, PublishedVersion
    from dho.reference.models import Country
    from dho.strategy.models import (
        ActionPlan,
        Activity,
        NationalStrategy,
        Partnership,
        StrategyEvent,
        Training,
        TrainingParticipant,
    )
    from dho.trust.models import Participant

    rng = random.Random(seed)
    now = dt.datetime(2025, 12, 31, tzinfo=dt.UTC)
    expected: dict[str, Any] = {"officials_by_year": {y: 0 for y in YEARS}}
    with db.session() as s:
        members = [(c.iso3, c.iso2) for c in s.execute(select(Country).where(
            Country.who_member.is_(True), Country.retired.is_(False)).order_by(Country.iso3)).scalars()]
        core = maturity.structure(s, maturity.DEFAULT_FRAMEWORK).core_codes
        standards = [t for t, in s.execute(select(Term.code).where(Term.list == "standards"))]
        s.execute(insert(Organisation), [{"id": 900001, "name": "Bench funder", "kind": "donor", "created_at": now,
                                          "updated_at": now, "version": 1}])
        strategies, events, assessments, versions = [], [], [], []
        impls, impl_terms, invs, targets, trainings, people, plans, acts = [], [], [], [], [], [], [], []
        aid = iid = vid = tid = pid = acid = tgid = 0
        for sid, (iso3, _iso2) in enumerate(members, 1):
            strategies.append({"id": sid, "country_iso3": iso3, "title": f"{iso3} strategy", "status": "none",
                               "created_at": now, "updated_at": now, "version": 1})
            day = dt.date(2016, 1, 1) + dt.timedelta(days=rng.randrange(0, 1500))
            for status in STATUSES[:rng.randrange(1, 6)]:
                events.append({"strategy_id": sid, "status": status, "on_date": day, "by": "bench", "note": ""})
                strategies[-1]["status"] = status
                day += dt.timedelta(days=rng.randrange(90, 700))
            plid = sid
            plans.append({"id": plid, "title": f"{iso3} plan", "owner_kind": "country", "country_iso3": iso3,
                          "cycle": 2016, "starts_on": dt.date(2016, 1, 1), "ends_on": dt.date(2025, 12, 31),
                          "currency": "USD", "status": "active", "created_at": now, "updated_at": now, "version": 1})
            for k in range(5):
                iid += 1
                impls.append({"id": iid, "name": f"{iso3} system {k}", "country_iso3": iso3, "stage": "deploying",
                              "start_date": dt.date(rng.choice(YEARS), 3, 1), "openness": "open_source",
                              "government_ownership": "partial", "owner_org_id": 900001, "status": "published",
                              "approval": "approved", "created_at": now, "updated_at": now, "version": 1,
                              "description": ""})
                for code in rng.sample(standards, k=min(len(standards), rng.randrange(0, 3))):
                    impl_terms.append({"implementation_id": iid, "list": "standards", "code": code})
            for y in YEARS:
                aid += 1
                assessments.append({"id": aid, "country_iso3": iso3, "subdivision": "", "year": y,
                                    "framework_id": maturity.DEFAULT_FRAMEWORK, "status": "published",
                                    "published_version": 1, "created_at": now, "updated_at": now, "version": 1})
                snap = {"answers": {c: {"phase": rng.randint(1, 5), "not_available": False} for c in core}}
                vid += 1
                versions.append({"id": vid, "assessment_id": aid, "number": 1, "published_at": now,
                                 "published_by": "bench", "snapshot": json.dumps(snap)})
                for _k in range(3):
                    tgid += 1
                    invs.append({"id": tgid, "title": f"{iso3} {y} grant", "funder_org_id": 900001,
                                 "country_iso3": iso3, "amount": rng.randrange(10_000, 2_000_000), "currency": "USD",
                                 "kind": "grant", "committed_on": dt.date(y, rng.randint(1, 12), 15),
                                 "period_start": y, "period_end": y + 2, "owner_org_id": 900001,
                                 "status": "published", "approval": "approved", "created_at": now,
                                 "updated_at": now, "version": 1})
                    targets.append({"investment_id": tgid, "kind": "priority", "ref": rng.choice(core),
                                    "share": None})
                tid += 1
                trainings.append({"id": tid, "title": f"{iso3} {y} course", "topic": "digital_health",
                                  "mode": "online", "starts_on": dt.date(y, 5, 1), "ends_on": dt.date(y, 5, 5),
                                  "created_at": now, "updated_at": now, "version": 1})
                for _k in range(10):
                    pid += 1
                    role = rng.choice(["government_official", "government_official", "health_worker"])
                    people.append({"id": pid, "training_id": tid, "country_iso3": iso3, "role": role,
                                   "gender": rng.choice(["female", "male"]), "completed": True})
                    if role == "government_official":
                        expected["officials_by_year"][y] += 1
                for _k in range(1):
                    acid += 1
                    start = dt.date(y, rng.randint(1, 6), 1)
                    acts.append({"id": acid, "plan_id": plid, "title": f"activity {acid}", "description": "",
                                 "budget": 1000, "spent": rng.randrange(0, 1200), "currency": "USD",
                                 "starts_on": start, "due_on": start + dt.timedelta(days=rng.randrange(60, 900)),
                                 "status": rng.choice(["in_progress", "done", "not_started"]),
                                 "progress": rng.randrange(0, 100), "last_update_on": start, "position": 0,
                                 "created_at": now, "updated_at": now, "version": 1})
        s.execute(insert(NationalStrategy), strategies)
        s.execute(insert(StrategyEvent), events)
        s.execute(insert(ActionPlan), plans)
        s.execute(insert(Activity), acts)
        s.execute(insert(Implementation), impls)
        if impl_terms:
            s.execute(insert(ImplementationTerm), impl_terms)
        s.execute(insert(Assessment), assessments)
        s.execute(insert(PublishedVersion), versions)
        s.execute(insert(Investment), invs)
        s.execute(insert(InvestmentTarget), targets)
        s.execute(insert(Training), trainings)
        s.execute(insert(TrainingParticipant), people)
        gdhp = rng.sample(members, 40)
        s.execute(insert(Partnership), [{"network": "gdhp", "country_iso3": iso3, "joined_on": dt.date(2019, 1, 1)}
                                        for iso3, _ in gdhp])
        gdhcn = [m for m in rng.sample(members, 100) if m[1]][:80]
        s.execute(insert(Participant), [{"domain": "DCC", "country": iso2, "name": iso3,
                                         "created_at": dt.datetime(2023, 6, 1, tzinfo=dt.UTC)}
                                        for iso3, iso2 in gdhcn])
        expected.update(members=len(members), gdhp=len(gdhp), gdhcn=len(gdhcn), assessments=len(assessments),
                        participants=len(people), investments=len(invs), activities=len(acts),
                        implementations=len(impls), strategy_events=len(events))
    return expected


def timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="keep the database in this folder")
    args = ap.parse_args()
    from dho.indicators import engine
    from dho.indicators import sources as S

    folder = Path(args.keep or tempfile.mkdtemp(prefix="dho-bench-indicators-"))
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "bench.sqlite3"
    db_path.unlink(missing_ok=True)
    db = Database(f"sqlite:///{db_path}")
    log("initialising the database")
    t_init, _ = timed(lambda: initialise(db))
    log("writing the synthetic data")
    t_build, expected = timed(lambda: build(db))
    rounds: dict[str, list[float]] = {k: [] for k in ("all_periods", "years", "cached", "load_only", "group_by")}
    results = None
    for r in range(args.repeats):
        log(f"round {r + 1}/{args.repeats}")
        with db.session() as s:
            engine.clear_cache()
            t, results = timed(lambda s=s: engine.compute(s, years=YEARS, period_types=PERIOD_TYPES, today=TODAY))
            rounds["all_periods"].append(t)
            t, _ = timed(lambda s=s: engine.compute(s, years=YEARS, period_types=PERIOD_TYPES, today=TODAY))
            rounds["cached"].append(t)
            engine.clear_cache()
            t, years_only = timed(lambda s=s: engine.compute(s, years=YEARS, today=TODAY))
            rounds["years"].append(t)

            def load(s=s) -> int:
                info = S.load_countries(s)
                return sum(len(v) for v in S.load(s, info, set(S.SOURCES)).values())
            t, n_records = timed(load)
            rounds["load_only"].append(t)
            t, _ = timed(lambda s=s: s.execute(text(
                "SELECT p.country_iso3, strftime('%Y', t.ends_on) AS y, count(*) FROM strategy_training_participant p"
                " JOIN strategy_training t ON t.id = p.training_id WHERE p.role = 'government_official'"
                " AND p.completed GROUP BY 1, 2")).all())
            rounds["group_by"].append(t)
    assert results is not None
    med = {k: statistics.median(v) for k, v in rounds.items()}
    n_values = sum(len(results.periods(c)) * len(results.geos(c)) for c in results.codes)
    cumulative = {y: sum(n for yy, n in expected["officials_by_year"].items() if yy <= y) for y in YEARS}
    checks = {
        "officials_trained_2025": (results.value("OFFICIALS_TRAINED", "WORLD", "2025").value, cumulative[2025]),
        "officials_trained_2019": (results.value("OFFICIALS_TRAINED", "WORLD", "2019").value, cumulative[2019]),
        "gdhp_2025": (results.value("GDHP_MS", "WORLD", "2025").value, expected["gdhp"]),
        "gdhcn_2025": (results.value("GDHCN_COUNTRIES", "WORLD", "2025").value, expected["gdhcn"]),
        "ms_assessed_2025": (results.value("MS_ASSESSED", "WORLD", "2025").value, expected["members"]),
        "maturity_3y_2025_pct": (results.value("MATURITY_3Y_PCT", "WORLD", "2025").value, 100.0),
        "quarter_equals_year_stock": (results.value("OFFICIALS_TRAINED", "WORLD", "2025Q4").value, cumulative[2025]),
    }
    ok = all(abs((a or 0) - b) < 1e-9 for a, b in checks.values())
    doc = {
        "benchmark": "indicators",
        "machine": {"cpu": cpu_model(), "python": platform.python_version(), "sqlalchemy": version("sqlalchemy")},
        "code": git_state(),
        "size": {**{k: v for k, v in expected.items() if k != "officials_by_year"}, "years": len(YEARS),
                 "period_types": PERIOD_TYPES, "indicators": len(results.codes), "values": n_values,
                 "records_loaded": n_records, "periods_per_indicator": len(results.periods("GDHP_MS"))},
        "setup_s": {"initialise": round(t_init, 2), "synthetic_data": round(t_build, 2)},
        "median_s": {"recompute_all_periods": round(med["all_periods"], 3), "recompute_years": round(med["years"], 3),
                     "cached": round(med["cached"], 6), "baseline_load_only": round(med["load_only"], 3),
                     "baseline_sql_group_by": round(med["group_by"], 4)},
        "ratios": {"all_periods_vs_load_only": round(med["all_periods"] / med["load_only"], 2),
                   "years_vs_load_only": round(med["years"] / med["load_only"], 2),
                   "all_periods_vs_one_sql_group_by": round(med["all_periods"] / med["group_by"], 1),
                   "values_per_second_all_periods": round(n_values / med["all_periods"]),
                   "cold_vs_cached": round(med["all_periods"] / max(med["cached"], 1e-9))},
        "rounds_s": {k: [round(x, 4) for x in v] for k, v in rounds.items()},
        "checks": {k: {"computed": a, "expected": b} for k, (a, b) in checks.items()},
        "checks_passed": ok,
        "snapshot": results.snapshot,
        "years_only_snapshot": years_only.snapshot,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))
    db.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

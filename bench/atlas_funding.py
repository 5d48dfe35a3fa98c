"""Atlas: the who-funds-what aggregation over 500k investment rows, and over 50k to show how it grows;
each against a baseline measured in the same run.

    .venv/bin/python bench/atlas_funding.py [--quick] [--rows N] [--repeats R]

1. Two fresh SQLite databases (``initialise``: migrations and reference data) get synthetic atlas data
   written with Core ``executemany`` inserts (no ORM objects): 200 funders, 2 000 implementations with
   one or two 2023 intervention codes each, an exchange-rate table for 6 currencies x 2010-2025 with a
   few (currency, year) holes on purpose, and N investments (default 500 000 and 50 000) spread over
   every WHO Member State and 2010-2025, 95 % published, each with 0-3 targets (interventions,
   implementations, GDHM components, maturity priorities; half of them with shares). Deterministic
   (seeded) data.
2. Timed, each in a fresh session as a page or API request makes it, as the public (published
   investments only): ``coordination.who_funds_what`` by country, by funder and by category
   (the last one splits amounts over targets in one Python pass over tuples). Baselines over the
   same tables in the same run: ``group_by_sum`` = a plain ``SELECT country, COUNT(*), SUM(amount)
   ... GROUP BY country`` of the published rows; ``join_scan`` = ``COUNT(*)`` and ``SUM(share)`` over
   the investment-target outer join (the rows the category pass reads). Repeats are interleaved
   (every case once per round) and medians reported.
3. Checks: the totals agree across dimensions (same USD total and same unconverted amounts by
   country, by funder and by category) and the investment count equals the number of published rows.

Prints one JSON document and writes it to bench/results/atlas_funding.json. Exit status 0 when every
check passed, 1 when a check failed, 3 when the checks passed but a case grew more than 1.5 times faster
than the number of rows (linear would be rows_large / rows_small), 2 on a setup error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from dho.accounts.models import Organisation  # noqa: E402
from dho.accounts.permissions import ANONYMOUS  # noqa: E402
from dho.atlas import coordination  # noqa: E402
from dho.atlas.models import Classification, FxRate, Implementation, Investment, InvestmentTarget  # noqa: E402
from dho.bootstrap import initialise  # noqa: E402
from dho.db import Database  # noqa: E402
from dho.reference.models import ClassificationCode, Country  # noqa: E402

RESULTS = BENCH_DIR / "results" / "atlas_funding.json"
YEARS = tuple(range(2010, 2026))
CURRENCIES = {"EUR": 0.9, "GBP": 0.78, "KES": 110.0, "INR": 75.0, "XOF": 590.0, "BRL": 5.1}
RATE_HOLES = {("XOF", 2012), ("KES", 2019), ("BRL", 2024)}  # amounts of these years stay unconverted
FUNDERS = 200
IMPLEMENTATIONS = 2000
PUBLISHED_SHARE = 0.95
NONLINEAR_FACTOR = 1.5
CHUNK = 50_000
CASES = ("group_by_sum", "join_scan", "by_country", "by_funder", "by_category")


from machine import cpu_model, git_state, version  # noqa: E402 (bench/ is the script's folder)


def log(msg: str) -> None:
    print(f"[atlas_funding] {msg}", file=sys.stderr, flush=True)








def build(path: Path, n: int) -> dict[str, Any]:
    """A fresh database with n synthetic investments; returns what was written and how long it took."""
    t0 = time.perf_counter()
    db = Database(f"sqlite:///{path}")
    initialise(db)
    init_s = time.perf_counter() - t0
    rng = random.Random(20240601)
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    t1 = time.perf_counter()
    with db.session() as s:
        by_indicator = coordination.indicator_components(s)
    components, indicators = sorted(set(by_indicator.values())), sorted(by_indicator)
    with db.engine.begin() as conn:
        countries = list(conn.execute(select(Country.iso3).where(Country.who_member.is_(True))).scalars())
        interventions = list(conn.execute(select(ClassificationCode.code).where(
            ClassificationCode.scheme == coordination.DHI, ClassificationCode.level == "intervention")).scalars())
        conn.execute(insert(Organisation.__table__), [
            {"name": f"Bench funder {i}", "acronym": f"BF{i}", "kind": "donor", "version": 1,
             "created_at": now, "updated_at": now} for i in range(FUNDERS)])
        org_ids = list(conn.execute(select(Organisation.id).where(Organisation.name.like("Bench funder %"))).scalars())
        conn.execute(insert(FxRate.__table__), [
            {"currency": c, "year": y, "units_per_usd": Decimal(str(r)) * Decimal(1 + (y - 2010) / 100),
             "source": "bench: synthetic", "loaded_at": now}
            for c, r in CURRENCIES.items() for y in YEARS if (c, y) not in RATE_HOLES])
        conn.execute(insert(Implementation.__table__), [
            {"name": f"Bench implementation {i}", "country_iso3": rng.choice(countries), "description": "",
             "stage": "deploying", "openness": "unknown", "government_ownership": "none",
             "owner_org_id": rng.choice(org_ids), "status": "published", "approval": "approved", "version": 1,
             "created_at": now, "updated_at": now} for i in range(IMPLEMENTATIONS)])
        impl_ids = list(conn.execute(select(Implementation.id)).scalars())
        conn.execute(insert(Classification.__table__), [
            {"implementation_id": i, "scheme": coordination.DHI, "code": code}
            for i in impl_ids for code in rng.sample(interventions, rng.choice((1, 1, 2)))])
        currencies = ["USD", "USD", "USD", *CURRENCIES]
        next_id = 1
        for start in range(0, n, CHUNK):
            size = min(CHUNK, n - start)
            invs, targets = [], []
            for k in range(size):
                iid = next_id + k
                year = rng.choice(YEARS)
                invs.append({
                    "id": iid, "title": f"Bench investment {iid}", "funder_org_id": rng.choice(org_ids),
                    "country_iso3": rng.choice(countries),
                    "amount": Decimal(rng.randint(1_000_00, 5_000_000_00)) / 100,
                    "currency": rng.choice(currencies), "kind": "grant",
                    "committed_on": dt.date(year, rng.randint(1, 12), rng.randint(1, 28)),
                    "period_start": year, "period_end": year + 3, "owner_org_id": org_ids[0],
                    "status": "published" if rng.random() < PUBLISHED_SHARE else "draft",
                    "approval": "approved", "version": 1, "created_at": now, "updated_at": now})
                picked: dict[tuple[str, str], None] = {}
                for _t in range(rng.choice((0, 1, 1, 2, 2, 3))):
                    kind = rng.choice(("intervention", "intervention", "implementation", "component", "priority"))
                    ref = {"intervention": lambda: rng.choice(interventions),
                           "implementation": lambda: str(rng.choice(impl_ids)),
                           "component": lambda: rng.choice(components),
                           "priority": lambda: rng.choice(indicators)}[kind]()
                    picked[(kind, ref)] = None
                shares = _shares(len(picked)) if picked and rng.random() < 0.5 else [None] * len(picked)
                targets.extend({"investment_id": iid, "kind": kind, "ref": ref, "share": share}
                               for (kind, ref), share in zip(picked, shares, strict=True))
            conn.execute(insert(Investment.__table__), invs)
            conn.execute(insert(InvestmentTarget.__table__), targets)
            next_id += size
        published = conn.scalar(select(func.count()).select_from(Investment).where(Investment.status == "published"))
        n_targets = conn.scalar(select(func.count()).select_from(InvestmentTarget))
    conn_time = time.perf_counter() - t1
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    return {"db": db, "rows": n, "published": published, "targets": n_targets, "initialise_s": round(init_s, 2),
            "insert_s": round(conn_time, 2), "rows_per_s": round(n / conn_time)}


def _shares(nt: int) -> list[Decimal]:
    if nt == 1:
        return [Decimal(1)]
    if nt == 2:
        return [Decimal("0.6"), Decimal("0.4")]
    return [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")]


# ---------------------------------------------------------------- timing


def run_case(db: Database, case: str) -> tuple[float, Any]:
    with db.session() as s:
        t0 = time.perf_counter()
        if case == "group_by_sum":
            out: Any = s.execute(text("SELECT country_iso3, COUNT(*), SUM(amount) FROM atlas_investment "
                                      "WHERE status = 'published' GROUP BY country_iso3")).all()
        elif case == "join_scan":
            out = s.execute(text("SELECT COUNT(*), SUM(t.share) FROM atlas_investment i LEFT JOIN "
                                 "atlas_investment_target t ON t.investment_id = i.id "
                                 "WHERE i.status = 'published'")).all()
        else:
            out = coordination.who_funds_what(s, ANONYMOUS, by=case.removeprefix("by_"))
        return time.perf_counter() - t0, out


def measure(dbs: dict[str, Database], repeats: int) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {size: {c: [] for c in CASES} for size in dbs}
    for db in dbs.values():  # warm-up: the page cache and the framework structure
        for case in CASES:
            run_case(db, case)
    for r in range(repeats):
        for size, db in dbs.items():
            for case in CASES:
                times[size][case].append(run_case(db, case)[0])
        log(f"round {r + 1}/{repeats} done")
    return times


def checks(db: Database, published: int) -> tuple[list[str], dict[str, Any]]:
    failures = []
    seen = {}
    for by in ("country", "funder", "category"):
        _s, f = run_case(db, f"by_{by}")
        seen[by] = {"usd": str(f.total.usd), "n_investments": f.total.n_investments,
                    "not_converted": {c: str(a) for c, a in sorted(f.total.not_converted.items())},
                    "rows": len(f.rows), "rates_used": len(f.rates_used), "missing_rates": len(f.missing_rates)}
        if f.total.n_investments != published:
            failures.append(f"by {by}: {f.total.n_investments} investments counted, {published} published")
    for by in ("funder", "category"):
        a, b = Decimal(seen["country"]["usd"]), Decimal(seen[by]["usd"])
        if abs(a - b) > Decimal("1.00"):  # the category split rounds per row; a cent or so may differ
            failures.append(f"USD total by {by} ({b}) differs from by country ({a})")
        if seen[by]["not_converted"].keys() != seen["country"]["not_converted"].keys():
            failures.append(f"unconverted currencies by {by} differ from by country")
    return failures, seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k and 10k rows, 3 repeats")
    parser.add_argument("--rows", type=int, default=None, help="rows of the large case (default 500 000)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    large = args.rows or (100_000 if args.quick else 500_000)
    small = max(1000, large // 10)
    repeats = args.repeats or (3 if args.quick else 5)
    started = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    warnings = [f"busy machine: 1-minute load average {load_before[0]} before the run"] \
        if load_before[0] > 1.0 else []
    with tempfile.TemporaryDirectory(prefix="dho-bench-atlas-") as tmp:
        try:
            setup = {}
            dbs = {}
            for label, n in (("small", small), ("large", large)):
                log(f"building {n} investments ...")
                info = build(Path(tmp) / f"{label}.sqlite3", n)
                dbs[label] = info.pop("db")
                setup[label] = info
                log(f"{label}: {info['rows']} rows, {info['targets']} targets in {info['insert_s']} s")
        except Exception as exc:
            log(f"setup failed: {exc!r}")
            return 2
        failures, seen = checks(dbs["large"], setup["large"]["published"])
        small_failures, _ = checks(dbs["small"], setup["small"]["published"])
        failures += [f"small: {f}" for f in small_failures]
        times = measure(dbs, repeats)
        for db in dbs.values():
            db.dispose()
    results: dict[str, Any] = {}
    for size in ("small", "large"):
        med = {c: statistics.median(v) for c, v in times[size].items()}
        results[size] = {
            "rows": setup[size]["rows"], "published": setup[size]["published"],
            "median_s": {c: round(v, 4) for c, v in med.items()},
            "min_s": {c: round(min(v), 4) for c, v in times[size].items()},
            "max_s": {c: round(max(v), 4) for c, v in times[size].items()},
            "us_per_row": {c: round(v / setup[size]["rows"] * 1e6, 3) for c, v in med.items()},
            "ratio_to_group_by_sum": {c: round(med[c] / med["group_by_sum"], 2) for c in CASES},
            "ratio_to_join_scan": {c: round(med[c] / med["join_scan"], 2) for c in CASES},
        }
    scale = large / small
    growth = {c: round(results["large"]["median_s"][c] / results["small"]["median_s"][c], 2) for c in CASES}
    flagged = [c for c in CASES if c.startswith("by_") and growth[c] > NONLINEAR_FACTOR * scale]
    code = git_state()
    if code["uncommitted_app_changes"]:
        warnings.append("the application has uncommitted changes: these figures belong to no commit")
    report = {
        "benchmark": "atlas_funding",
        "ok": not failures,
        "failures": failures,
        "warnings": warnings,
        "machine": {
            "cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "platform": platform.platform(),
            "python": platform.python_version(), "sqlalchemy": version("sqlalchemy"),
            "sqlite": sqlite3.sqlite_version, "loadavg_before": load_before,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "code": code,
        "settings": {"quick": args.quick, "repeats": repeats, "rows_large": large, "rows_small": small,
                     "funders": FUNDERS, "implementations": IMPLEMENTATIONS, "years": [YEARS[0], YEARS[-1]],
                     "currencies": ["USD", *CURRENCIES], "rate_holes": sorted(f"{c} {y}" for c, y in RATE_HOLES),
                     "published_share": PUBLISHED_SHARE, "principal": "anonymous (published investments only)",
                     "database": "temporary SQLite, initialise() then Core executemany inserts"},
        "setup": setup,
        "checks": seen,
        "results": results,
        "growth": {"scale": scale, "ratio": growth, "linear_is_about": scale, "flag_above": NONLINEAR_FACTOR * scale,
                   "flagged_nonlinear": flagged},
        "wall_s": round(time.monotonic() - started, 1),
    }
    for case in CASES:
        log(f"{case}: {results['large']['median_s'][case]:.3f} s at {large} rows "
            f"({results['large']['ratio_to_group_by_sum'][case]}x the GROUP BY), growth {growth[case]} "
            f"(linear ~{scale:g})")
    out = json.dumps(report, indent=2)
    print(out)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(out + "\n")
    if failures:
        log("FAILED: " + "; ".join(failures))
        return 1
    if flagged:
        log("FLAGGED: grew faster than linear: " + ", ".join(flagged))
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

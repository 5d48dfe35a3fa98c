"""Maturity: full recomputation of scores, aggregates and benchmarks at 194 countries x 10 years and at
a multiple of that, and the import of a 194-country GDHM CSV; each against a baseline measured in the
same run.

    .venv/bin/python bench/maturity.py [--quick]

1. Recomputation. A fresh SQLite database (``initialise``) gets published assessments for the 194 WHO
   Member States x 2016-2025 (deterministic pseudo-random phases, ~5 % not available) through ONE
   GDHM CSV import with ``published=True`` as the CLI operator. A copy of it is then grown to
   ``--scale`` times as many assessments by importing further years (10-year CSV files), since years
   are the only dimension that multiplies national assessments (194 Member States; subnational
   assessments are left out of national scores). A "full recomputation" is, in one session:
   ``published_scores`` for all assessments (both rules), ``aggregates`` for region, income and world
   (both methods, both rules: 12 calls) and ``benchmarks`` for every Member State (default rule).
   ``benchmarks`` costs the same for every country, so by default it is timed on a few countries per
   round and multiplied by 194 (``--all-benchmarks`` times all 194); the same countries are also
   timed each in a fresh session, as a page request makes the call. Default scale 10x: 194 x 100
   years (2000-2099). Baseline: the pure ``scoring.score_assessment`` over the same answers, both
   rules, no database.
2. A cProfile of one ``benchmarks()`` call, in a fresh session and in the recomputation's session,
   shows where its time goes.
3. Import: a 194-row GDHM CSV (one year, every indicator answered with a justification) into a
   fresh database: parse + validate + write + commit; and parse + validate alone. Baseline: Python's
   csv module reading the same bytes.

Repeats are interleaved (1x then the scaled copy, round after round) and medians are reported.
Prints one JSON document and writes it to bench/results/maturity.json. Exit status 0 when every
check passed, 1 when a check failed (wrong counts or scores), 3 when the checks passed but the
recomputation grew more than 1.5 times faster than the number of assessments, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import os
import platform
import pstats
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from dho.accounts.permissions import CLI_OPERATOR  # noqa: E402
from dho.bootstrap import initialise  # noqa: E402
from dho.db import Database  # noqa: E402
from dho.maturity import scoring, service, transfer  # noqa: E402
from dho.reference.models import Country  # noqa: E402

RESULTS = BENCH_DIR / "results" / "maturity.json"
FRAMEWORK = service.DEFAULT_FRAMEWORK
BASE_YEARS = tuple(range(2016, 2026))  # the 1x case: 194 x 10 years
IMPORT_YEAR = 2025  # the single year of the 194-row import (figure 3)
NOT_AVAILABLE_SHARE = 0.05
BENCH_RULE = scoring.DEFAULT_RULE
# The recomputation may grow this many times faster than the number of assessments before it is flagged
# (15 for a 10x case, as issue 3 puts it).
NONLINEAR_FACTOR = 1.5
BUSY_LOAD = 1.0
CHUNK_YEARS = 10  # years per CSV file when growing the scaled copy


from machine import cpu_model, git_state, version  # noqa: E402 (bench/ is the script's folder)


def log(msg: str) -> None:
    print(f"[maturity] {msg}", file=sys.stderr, flush=True)








def med(values: list[float]) -> float:
    return statistics.median(values)


def r6(x: float) -> float:
    return round(x, 6)


# ---------------------------------------------------------------- data


def answers_for(iso3: str, year: int, codes: list[str], na_share: float) -> dict[str, int | None]:
    """Deterministic phases for one country-year, independent of the order rows are generated in (so
    the 1x database and the scaled copy hold the same answers for 2016-2025)."""
    rng = random.Random(f"{iso3}:{year}")
    return {code: None if rng.random() < na_share else rng.randint(1, 5) for code in codes}


def justification(iso3: str, year: int, code: str) -> str:
    return (f"Indicator {code}, {iso3} {year}: national digital health strategy, ministry annual report "
            f"and the assessment workshop's notes.")


def gdhm_csv(codes: list[str], rows: list[tuple[str, int, dict[str, int | None]]]) -> bytes:
    """The GDHM layout, as tests/maturity/conftest.py builds it: NA and an empty justification for not
    available, else the phase and a justification."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Country ISO3", "Year", *[c for code in codes for c in (f"Indicator {code} Score",
                                                                         f"Enter Indicator {code} justification")]])
    for iso3, year, answers in rows:
        line: list[Any] = [iso3, year]
        for code in codes:
            v = answers[code]
            line += ["NA", ""] if v is None else [v, justification(iso3, year, code)]
        w.writerow(line)
    return buf.getvalue().encode()


def build_rows(isos: list[str], years: tuple[int, ...] | list[int], codes: list[str], na_share: float
               ) -> list[tuple[str, int, dict[str, int | None]]]:
    return [(iso3, year, answers_for(iso3, year, codes, na_share)) for year in years for iso3 in isos]


def scaled_years(scale: int) -> list[int]:
    """10 x scale consecutive years that include 2016-2025: from 2016 if they end by 2099, else ending
    in 2099 (10x: 2000-2099). The importer accepts 2000-2100."""
    n = 10 * scale
    start = BASE_YEARS[0] if BASE_YEARS[0] + n - 1 <= 2099 else 2100 - n
    return list(range(start, start + n))


def year_chunks(years: list[int], size: int) -> list[list[int]]:
    """Consecutive runs of years, cut into blocks of at most ``size``."""
    chunks: list[list[int]] = []
    for y in sorted(years):
        if chunks and y == chunks[-1][-1] + 1 and len(chunks[-1]) < size:
            chunks[-1].append(y)
        else:
            chunks.append([y])
    return chunks


def import_csv(db: Database, data: bytes) -> tuple[dict[str, int], float]:
    t0 = time.perf_counter()
    with db.session() as s:  # commits on exit: the commit is part of the import
        res = transfer.import_file(s, CLI_OPERATOR, data, "gdhm-csv", published=True)
    return res, time.perf_counter() - t0


def sqlite_copy(src: Path, dst: Path) -> None:
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------- the recomputation


def check_benchmark(b: dict, iso3: str, n: int) -> list[str]:
    world = b.get("world")
    if b.get("latest") is None or world is None or world.overall.n != n:
        return [f"benchmarks({iso3}): no latest score or world n != {n}"]
    return []


def recompute(db: Database, isos: list[str], bench_isos: list[str], expected: int) -> tuple[dict, list[str]]:
    """One full recomputation in ONE session (a batch job), then the same countries' benchmarks() each
    in a fresh session (a page request: nothing remembered from earlier calls). Returns the timings
    and the checks that failed."""
    fails: list[str] = []
    with db.sessions() as s:
        t0 = time.perf_counter()
        scores = {rule: service.published_scores(s, rule=rule) for rule in scoring.RULES}
        t1 = time.perf_counter()
        aggs = {(g, m, r): service.aggregates(s, group=g, method=m, rule=r)
                for g in service.GROUPS for m in service.METHODS for r in scoring.RULES}
        t2 = time.perf_counter()
        batch = []
        for iso3 in bench_isos:
            tb = time.perf_counter()
            b = service.benchmarks(s, iso3, rule=BENCH_RULE)
            batch.append(time.perf_counter() - tb)
            fails += check_benchmark(b, iso3, len(isos))
        s.rollback()
    cold = []
    for iso3 in bench_isos:
        with db.sessions() as s:
            tb = time.perf_counter()
            b = service.benchmarks(s, iso3, rule=BENCH_RULE)
            cold.append(time.perf_counter() - tb)
            fails += check_benchmark(b, iso3, len(isos))
            s.rollback()
    for rule, sc in scores.items():
        if len(sc) != expected:
            fails.append(f"published_scores(rule={rule}) returned {len(sc)} scores, expected {expected}")
    for (g, m, r), figs in aggs.items():
        total_n = sum(f.overall.n for f in figs)
        if g in ("world", "region") and total_n != len(isos):
            fails.append(f"aggregates({g}, {m}, {r}): n totals {total_n}, expected {len(isos)}")
    # benchmarks() does the same work for every country: the median of the sample, robust to a call
    # that a busy machine slowed down, stands for each of them. All timed: the measured sum.
    everyone = len(bench_isos) == len(isos)
    out: dict[str, Any] = {
        "scores_s": r6(t1 - t0), "aggregates_s": r6(t2 - t1), "benchmarks_countries": list(bench_isos),
        "benchmarks_s_each": [r6(x) for x in batch],
        "benchmarks_per_country_s": r6(med(batch)),
        "benchmarks_all_s": r6(sum(batch) if everyone else med(batch) * len(isos)),
        "benchmarks_cold_s_each": [r6(x) for x in cold],
        "benchmarks_cold_per_country_s": r6(med(cold)),
        "benchmarks_cold_all_s": r6(sum(cold) if everyone else med(cold) * len(isos)),
    }
    out["total_s"] = r6(out["scores_s"] + out["aggregates_s"] + out["benchmarks_all_s"])
    out["_scores"] = scores  # for the correctness check; dropped before printing
    return out, fails


def pure_scoring(structure: scoring.Structure, answers: list[dict[str, int | None]]
                 ) -> tuple[float, dict[str, list[scoring.AssessmentScore]]]:
    """The baseline: score_assessment over the same answers, both rules, no database."""
    t0 = time.perf_counter()
    out = {rule: [scoring.score_assessment(structure, a, rule) for a in answers] for rule in scoring.RULES}
    return time.perf_counter() - t0, out


def check_scores(db_scores: dict[str, dict[str, scoring.AssessmentScore]], keys: list[str],
                 pure: dict[str, list[scoring.AssessmentScore]]) -> list[str]:
    """The database path must give exactly the scores of the pure function over the generated answers."""
    fails = []
    for rule in scoring.RULES:
        bad = [k for k, p in zip(keys, pure[rule], strict=True)
               if k not in db_scores[rule] or db_scores[rule][k].as_dict() != p.as_dict()
               or db_scores[rule][k].overall.score != p.overall.score]
        if bad:
            fails.append(f"published_scores(rule={rule}) differs from the pure scoring for {len(bad)} "
                         f"assessments, e.g. {bad[:3]}")
    return fails


def sample(isos: list[str], n: int, rnd: int) -> list[str]:
    """n countries spread over the sorted list, shifted each round (same countries at both scales)."""
    if n >= len(isos):
        return list(isos)
    step = len(isos) / n
    return [isos[(int(i * step) + 7 * rnd) % len(isos)] for i in range(n)]


def summarise_scale(runs: list[dict], pure_s: list[float], assessments: int) -> dict:
    res: dict[str, Any] = {"assessments": assessments}
    for key in ("scores_s", "aggregates_s", "benchmarks_per_country_s", "benchmarks_all_s", "total_s",
                "benchmarks_cold_per_country_s", "benchmarks_cold_all_s"):
        res[f"{key}_median"] = r6(med([r[key] for r in runs]))
    res["total_s_min"], res["total_s_max"] = min(r["total_s"] for r in runs), max(r["total_s"] for r in runs)
    res["baseline_pure_scoring_s_median"] = r6(med(pure_s))
    res["per_assessment_ms"] = {
        "total": round(res["total_s_median"] / assessments * 1000, 4),
        "scores": round(res["scores_s_median"] / assessments * 1000, 4),
        "baseline_pure_scoring": round(res["baseline_pure_scoring_s_median"] / assessments * 1000, 4),
    }
    # Same work as published_scores (every assessment, both rules) without the database, ORM and JSON.
    res["scores_ratio_to_baseline"] = round(res["scores_s_median"] / res["baseline_pure_scoring_s_median"], 2)
    res["total_ratio_to_baseline"] = round(res["total_s_median"] / res["baseline_pure_scoring_s_median"], 2)
    res["total_ratio_to_baseline_per_round"] = [round(r["total_s"] / p, 2) for r, p in zip(runs, pure_s, strict=True)]
    res["runs"] = [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs]
    res["baseline_pure_scoring_s_runs"] = [r6(x) for x in pure_s]
    return res


# ---------------------------------------------------------------- profile of benchmarks()

PROFILED = (  # (label, file suffix, function name)
    ("service.benchmarks", "dho/maturity/service.py", "benchmarks"),
    ("service.latest_published", "dho/maturity/service.py", "latest_published"),
    ("service.aggregates", "dho/maturity/service.py", "aggregates"),
    ("service.trend", "dho/maturity/service.py", "trend"),
    ("service.group_of", "dho/maturity/service.py", "group_of"),
    ("service.snapshot_structure", "dho/maturity/service.py", "snapshot_structure"),
    ("scoring.score_assessment", "dho/maturity/scoring.py", "score_assessment"),
    ("scoring.aggregate_mean_of_countries", "dho/maturity/scoring.py", "aggregate_mean_of_countries"),
    ("json.loads (snapshots)", "json/__init__.py", "loads"),
    ("sqlalchemy Session.execute", "sqlalchemy/orm/session.py", "execute"),
    ("sqlalchemy Result.all (fetch + ORM rows)", "sqlalchemy/engine/result.py", "all"),
)


def profile_benchmarks(db: Database, iso3: str, warm: bool) -> dict:
    """cProfile of one benchmarks() call: ``warm`` in the session of a recomputation (scores and
    aggregates already computed in it), else in a fresh session, as a page request makes it."""
    with db.sessions() as s:
        service.benchmarks(s, iso3, rule=BENCH_RULE)  # warm the process-wide caches (reference lookups)
        s.rollback()
    with db.sessions() as s:
        if warm:
            for rule in scoring.RULES:
                service.published_scores(s, rule=rule)
            for g in service.GROUPS:
                for m in service.METHODS:
                    for r in scoring.RULES:
                        service.aggregates(s, group=g, method=m, rule=r)
        prof = cProfile.Profile()
        prof.enable()
        service.benchmarks(s, iso3, rule=BENCH_RULE)
        prof.disable()
        s.rollback()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    # the whole call: cumulative time of benchmarks() itself
    total = max((ct for (file, _l, fn), (_cc, _nc, _tt, ct, _c) in stats.items()
                 if fn == "benchmarks" and file.endswith("dho/maturity/service.py")), default=0.0)
    found = []
    for label, suffix, name in PROFILED:
        hits = [(nc, ct) for (file, _line, fn), (_cc, nc, _tt, ct, _c) in stats.items()
                if fn == name and file.endswith(suffix)]
        if hits:
            nc, ct = sum(h[0] for h in hits), max(h[1] for h in hits)
            found.append({"function": label, "calls": nc, "cumulative_s": round(ct, 4),
                          "share": round(ct / total, 3) if total else None})
    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    return {
        "country": iso3, "rule": BENCH_RULE,
        "session": "the recomputation's (warm)" if warm else "fresh (cold, as a page request)",
        "profiled_s": round(total, 4),
        "note": "cProfile adds overhead; read the shares and the call counts, not the seconds",
        "cumulative": found,  # share = cumulative time / the whole benchmarks() call
        "top_own_time": [{"function": f"{Path(file).name}:{line}({fn})", "calls": nc, "own_s": round(tt, 4)}
                         for (file, line, fn), (_cc, nc, tt, _ct, _c) in top],
    }


# ---------------------------------------------------------------- import of a 194-row CSV


def per_call(fn: Callable[[], Any], min_s: float = 0.2) -> float:
    """Seconds per call of a fast function, looping until min_s has passed."""
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_s:
            return elapsed / n


def bench_import(tmpdir: Path, isos: list[str], codes: list[str], repeats: int) -> tuple[dict, list[str]]:
    rows = build_rows(isos, [IMPORT_YEAR], codes, 0.0)
    data = gdhm_csv(codes, rows)
    fails: list[str] = []

    def csv_read() -> list[list[str]]:
        return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))

    runs = []
    for rnd in range(1, repeats + 1):
        path = tmpdir / f"import-{rnd}.sqlite3"
        db = Database(f"sqlite:///{path}")
        try:
            initialise(db)
            with db.sessions() as s:
                t0 = time.perf_counter()
                parsed = transfer.parse_gdhm_csv(s, data, FRAMEWORK)
                parse_s = time.perf_counter() - t0
                s.rollback()
            res, import_s = import_csv(db, data)
            with db.sessions() as s:
                published = len(service.published_scores(s, year=IMPORT_YEAR))
            base = per_call(csv_read)
        finally:
            db.dispose()
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
        if len(parsed) != len(isos) or res != {"rows": len(isos), "created": len(isos), "updated": 0} \
                or published != len(isos):
            fails.append(f"import round {rnd}: parsed {len(parsed)}, import {res}, published {published}; "
                         f"expected {len(isos)} each")
        run = {"round": rnd, "import_s": r6(import_s), "parse_validate_s": r6(parse_s),
               "baseline_csv_read_s": round(base, 7)}
        runs.append(run)
        log(f"import round {rnd}: {import_s:.2f} s (parse+validate {parse_s:.3f} s), csv module {base * 1000:.2f} ms")
    imp, parse, base = (med([r[k] for r in runs]) for k in ("import_s", "parse_validate_s", "baseline_csv_read_s"))
    return {
        "rows": len(isos), "year": IMPORT_YEAR, "indicators": len(codes), "bytes": len(data),
        "cells_answered": len(isos) * len(codes),
        "import_s_median": r6(imp), "import_s_min": min(r["import_s"] for r in runs),
        "import_s_max": max(r["import_s"] for r in runs),
        "import_ms_per_row": round(imp / len(isos) * 1000, 3),
        "parse_validate_s_median": r6(parse), "write_s_median_estimate": r6(imp - parse),
        "baseline_csv_read_s_median": round(base, 7),
        "import_ratio_to_baseline": round(imp / base, 1),
        "parse_validate_ratio_to_baseline": round(parse / base, 1),
        "import_ratio_to_baseline_per_round": [round(r["import_s"] / r["baseline_csv_read_s"], 1) for r in runs],
        "runs": runs,
    }, fails


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="1 repeat, the scaled case at 2x, 2 sampled countries for benchmarks()")
    parser.add_argument("--repeats", type=int, help="recomputation and import repeats (default 3, 1 with --quick)")
    parser.add_argument("--scale", type=int,
                        help="the scaled case: K times 194 x 10 assessments, K = 2-10 (default 10, 2 with --quick)")
    parser.add_argument("--bench-countries", type=int,
                        help="countries whose benchmarks() is timed per round (default 3, 2 with --quick)")
    parser.add_argument("--all-benchmarks", action="store_true",
                        help="time benchmarks() for all 194 Member States in every round (slow: minutes per round)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    scale = args.scale if args.scale is not None else (2 if args.quick else 10)
    nbench = args.bench_countries if args.bench_countries is not None else (2 if args.quick else 3)
    if repeats < 1 or nbench < 1 or not 2 <= scale <= 10:
        parser.error("repeats and bench-countries must be positive; scale must be 2 to 10")

    started = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    busy = load_before[0] > BUSY_LOAD
    if busy:
        log(f"warning: 1-minute load average is {load_before[0]} before the run: other work is using the CPUs "
            "and will distort the figures; quote figures from a quiet machine")
    failures: list[str] = []
    warnings: list[str] = [f"busy machine: 1-minute load average {load_before[0]} before the run"] if busy else []
    all_years = scaled_years(scale)
    extra_years = [y for y in all_years if y not in BASE_YEARS]

    with tempfile.TemporaryDirectory(prefix="dho-bench-") as tmp:
        tmpdir = Path(tmp)
        base_path, scaled_path = tmpdir / "x1.sqlite3", tmpdir / "scaled.sqlite3"
        base_db = Database(f"sqlite:///{base_path}")
        try:
            t0 = time.perf_counter()
            initialise(base_db)
            init_s = time.perf_counter() - t0
            with base_db.sessions() as s:
                isos = sorted(s.execute(select(Country.iso3).where(Country.who_member.is_(True))).scalars())
                codes = service.indicator_codes(s, FRAMEWORK)
                st = service.structure(s, FRAMEWORK)
        except Exception as exc:  # any setup failure: exit 2
            log(f"setup failed: {exc!r}")
            return 2
        if len(isos) != 194:
            warnings.append(f"ref_country has {len(isos)} WHO Member States, not 194")
        log(f"{len(isos)} Member States, {len(codes)} indicators ({len(st.core_codes)} core); "
            f"initialise {init_s:.2f} s")

        # The 1x database: one GDHM CSV, 194 x 2016-2025, published.
        base_rows = build_rows(isos, BASE_YEARS, codes, NOT_AVAILABLE_SHARE)
        data = gdhm_csv(codes, base_rows)
        log(f"importing {len(base_rows)} assessments (one CSV, {len(data) / 1e6:.1f} MB) into the 1x database")
        res, import_1x_s = import_csv(base_db, data)
        if res["created"] != len(base_rows):
            failures.append(f"1x import: {res}, expected {len(base_rows)} created")
        log(f"1x import: {import_1x_s:.1f} s ({import_1x_s / len(base_rows) * 1000:.1f} ms per assessment)")
        base_db.dispose()

        # Figure 3 (after the 1x import, so that first-use costs are not in its first round).
        log(f"import of a {len(isos)}-row GDHM CSV: {repeats} round(s)")
        import_res, fails = bench_import(tmpdir, isos, codes, repeats)
        failures += fails

        # The scaled copy: the 1x database plus further years, one 10-year CSV at a time.
        sqlite_copy(base_path, scaled_path)
        scaled_db = Database(f"sqlite:///{scaled_path}")
        growth = []
        for years in year_chunks(extra_years, CHUNK_YEARS):
            rows = build_rows(isos, years, codes, NOT_AVAILABLE_SHARE)
            res, secs = import_csv(scaled_db, gdhm_csv(codes, rows))
            if res["created"] != len(rows):
                failures.append(f"growth import {years[0]}-{years[-1]}: {res}, expected {len(rows)} created")
            growth.append({"years": f"{years[0]}-{years[-1]}", "rows": len(rows), "seconds": round(secs, 3),
                           "ms_per_row": round(secs / len(rows) * 1000, 3)})
            log(f"grew the scaled copy with {years[0]}-{years[-1]}: {secs:.1f} s "
                f"({secs / len(rows) * 1000:.1f} ms/row)")

        cases = {
            "base": (base_db, BASE_YEARS),
            "scaled": (scaled_db, all_years),
        }
        answers = {name: {f"{iso3}:{year}": answers_for(iso3, year, codes, NOT_AVAILABLE_SHARE)
                          for iso3 in isos for year in years}
                   for name, (_db, years) in cases.items()}
        runs: dict[str, list[dict]] = {name: [] for name in cases}
        pure_s: dict[str, list[float]] = {name: [] for name in cases}
        for rnd in range(1, repeats + 1):
            bench_isos = list(isos) if args.all_benchmarks else sample(isos, nbench, rnd - 1)
            for name, (db, _years) in cases.items():
                keys = list(answers[name])
                secs, pure = pure_scoring(st, list(answers[name].values()))
                pure_s[name].append(secs)
                run, fails = recompute(db, isos, bench_isos, len(keys))
                if rnd == 1:
                    fails += check_scores(run["_scores"], keys, pure)
                failures += [f"{name} round {rnd}: {f}" for f in fails]
                run["round"] = rnd
                runs[name].append(run)
                log(f"round {rnd} {name} ({len(keys)} assessments): scores {run['scores_s']:.2f} s, "
                    f"aggregates {run['aggregates_s']:.2f} s, benchmarks {run['benchmarks_per_country_s']:.2f} s "
                    f"per country -> all {run['benchmarks_all_s']:.1f} s; total {run['total_s']:.1f} s; "
                    f"pure scoring {secs:.3f} s; benchmarks in a fresh session "
                    f"{run['benchmarks_cold_per_country_s']:.2f} s per country")
                del run["_scores"]

        log("profiling one benchmarks() call on the 1x database, in a fresh session and in a warm one")
        prof = {"cold": profile_benchmarks(base_db, isos[0], warm=False),
                "warm": profile_benchmarks(base_db, isos[0], warm=True)}
        sizes = {name: sum(p.stat().st_size for p in tmpdir.glob(f"{Path(str(db.url)).name}*"))
                 for name, (db, _y) in cases.items()}
        for db, _y in cases.values():
            db.dispose()

    results = {name: summarise_scale(runs[name], pure_s[name], len(answers[name])) for name in cases}
    for name, (_db, years) in cases.items():
        results[name]["years"] = f"{min(years)}-{max(years)} ({len(years)} years)"
        results[name]["countries"] = len(isos)
        results[name]["database_bytes"] = sizes[name]
    base, scaled = results["base"], results["scaled"]
    growth_ratio = {
        key: round(scaled[f"{key}_median"] / base[f"{key}_median"], 2)
        for key in ("total_s", "scores_s", "aggregates_s", "benchmarks_per_country_s",
                    "benchmarks_cold_per_country_s")
    }
    growth_ratio["baseline_pure_scoring_s"] = round(scaled["baseline_pure_scoring_s_median"]
                                                    / base["baseline_pure_scoring_s_median"], 2)
    growth_ratio["total_s_per_round"] = [round(b["total_s"] / a["total_s"], 2)
                                         for a, b in zip(runs["base"], runs["scaled"], strict=True)]
    linear_limit = NONLINEAR_FACTOR * scale
    nonlinear = growth_ratio["total_s"] > linear_limit
    nonlinear_msg = (f"the full recomputation grew {growth_ratio['total_s']}x for {scale}x the assessments "
                     f"(linear is about {scale}; flagged above {linear_limit:g})")
    if nonlinear:
        warnings.append(nonlinear_msg)
    if scale < 10:
        warnings.append(f"the scaled case is {scale}x (194 x {10 * scale} years), not 10x: "
                        + ("--quick" if args.quick else "--scale"))
    if not args.all_benchmarks:
        warnings.append(f"benchmarks() for every country is extrapolated: the median of {nbench} sampled "
                        f"countries per round x {len(isos)} (--all-benchmarks measures all)")

    code = git_state()
    if code["uncommitted_app_changes"]:
        warnings.append("the application has uncommitted changes (" + ", ".join(code["uncommitted_app_changes"])
                        + "): these figures belong to no commit")
    report = {
        "benchmark": "maturity",
        "ok": not failures,
        "failures": failures,
        "warnings": warnings,
        "machine": {
            "cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "platform": platform.platform(),
            "python": platform.python_version(), "sqlalchemy": version("sqlalchemy"),
            "sqlite": sqlite3.sqlite_version,
            "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "busy_before_run": busy,
        },
        "code": code,
        "settings": {
            "quick": args.quick, "repeats": repeats, "scale": scale,
            "scaled_case": (f"{scale}x the assessments by years: 194 x {10 * scale} years, "
                            f"{all_years[0]}-{all_years[-1]}"
                            + (" (reduced scale: --quick)" if args.quick else "")
                            + ("" if scale == 10 else "; 10x would be 194 x 100 years, 2000-2099")),
            "framework": FRAMEWORK, "indicators": len(codes), "core_indicators": len(st.core_codes),
            "not_available_share": NOT_AVAILABLE_SHARE, "benchmarks_rule": BENCH_RULE,
            "benchmarks_countries_per_round": len(isos) if args.all_benchmarks else nbench,
            "benchmarks_all_measured": args.all_benchmarks,
            "database": "temporary SQLite, initialise() (migrations, reference data, frameworks)",
            "recomputation": "one session: published_scores x 2 rules; aggregates x 3 groups x 2 methods x "
                             "2 rules; benchmarks x every Member State (one rule)",
            "baseline": "scoring.score_assessment over the same answers, both rules, no database",
        },
        "setup": {
            "initialise_s": round(init_s, 3),
            "import_1x": {"rows": len(base_rows), "seconds": round(import_1x_s, 3),
                          "ms_per_row": round(import_1x_s / len(base_rows) * 1000, 3),
                          "note": "one GDHM CSV, one transaction; a single run, for information"},
            "growth_imports": growth,
        },
        "recompute": {
            "base": base, "scaled": scaled,
            "growth": {
                "scale": scale, "ratio": growth_ratio, "linear_is_about": scale,
                "ratio_over_scale": round(growth_ratio["total_s"] / scale, 3),
                "flag_above": linear_limit, "flagged_nonlinear": nonlinear,
            },
        },
        "benchmarks_profile": prof,
        "import_194": import_res,
        "wall_s": round(time.monotonic() - started, 1),
    }
    log(f"1x: total {base['total_s_median']:.1f} s ({base['per_assessment_ms']['total']:.2f} ms/assessment, "
        f"{base['total_ratio_to_baseline']}x pure scoring); {scale}x: total {scaled['total_s_median']:.1f} s; "
        f"growth {growth_ratio['total_s']} (linear ~{scale})")
    log(f"import of {len(isos)} rows: {import_res['import_s_median']:.2f} s, "
        f"{import_res['import_ratio_to_baseline']}x the csv module")
    text = json.dumps(report, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    log(f"written to {args.output} ({report['wall_s']} s)")
    if failures:
        log("FAILED: " + "; ".join(failures))
        return 1
    if nonlinear:
        log("FLAGGED: " + nonlinear_msg)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

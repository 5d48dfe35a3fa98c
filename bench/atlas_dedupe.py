"""Atlas duplicate detection: time at 10k and 100k implementations (must grow about linearly), and
recall/precision on planted duplicates; against a baseline measured in the same run.

    .venv/bin/python bench/atlas_dedupe.py [--quick]

Synthetic implementations are generated in memory (deterministic, seeded): 50 countries, names of
digital-health systems built from a district, a health focus and a kind of system, written in the
country's language (English, French or Spanish), with classification codes, a coverage area,
organisations and sometimes a solution. One record in eleven is a planted duplicate of another
record of its country, of one of four kinds: a misspelling, accents/case changed, the name
translated into another language, or the kind of system replaced by its acronym. The detection
(``dho.atlas.dedupe.find_pairs``: preparing the names, blocking, scoring) is timed at both sizes,
median of the runs (interleaved: small, large, small, ...). Baseline: a trivial pass over the same
rows (folding and splitting every name), timed alike; its 100k/10k ratio shows what "exactly
linear" is on this machine in this run. Prints one JSON document and writes it to
bench/results/atlas_dedupe.json. Exit status 0 when the checks pass, 1 when recall or precision is
below its floor, 3 when the detection grew more than 1.5 times faster than the number of records.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from dho.atlas import dedupe  # noqa: E402

RESULTS = BENCH_DIR / "results" / "atlas_dedupe.json"
COUNTRIES = 50
DUP_SHARE = 1 / 11  # one record in eleven is a planted duplicate
NONLINEAR_FACTOR = 1.5
RECALL_FLOOR = 0.85
PRECISION_FLOOR = 0.85
BUSY_LOAD = 1.0

# (English, French, Spanish, English acronym or None)
KINDS = [
    ("Electronic Medical Record", "Dossier Médical Électronique", "Expediente Médico Electrónico", "EMR"),
    ("Health Management Information System", "Système d'Information de Gestion Sanitaire",
     "Sistema de Información de Gestión de Salud", "HMIS"),
    ("Logistics Management Information System", "Système d'Information de Gestion Logistique",
     "Sistema de Información de Gestión Logística", "LMIS"),
    ("Laboratory Information System", "Système d'Information de Laboratoire", "Sistema de Información de Laboratorio",
     "LIS"),
    ("Immunization Registry", "Registre de Vaccination", "Registro de Vacunación", None),
    ("Disease Surveillance System", "Système de Surveillance des Maladies", "Sistema de Vigilancia de Enfermedades",
     "DSS"),
    ("Community Health Worker Application", "Application des Agents de Santé Communautaire",
     "Aplicación de Agentes de Salud Comunitaria", None),
    ("Telemedicine Platform", "Plateforme de Télémédecine", "Plataforma de Telemedicina", None),
    ("Electronic Patient Record", "Dossier Patient Électronique", "Expediente Electrónico del Paciente", "EPR"),
    ("Mobile Health Data Platform", "Plateforme Mobile de Données de Santé", "Plataforma Móvil de Datos de Salud",
     None),
    ("Supply Chain Management System", "Système de Gestion de la Chaîne d'Approvisionnement",
     "Sistema de Gestión de la Cadena de Suministro", "SCMS"),
]
# (English, French, Spanish) health focus; "" for none
FOCUS = [
    ("", "", ""), ("Malaria", "du Paludisme", "de Malaria"), ("Tuberculosis", "de la Tuberculose", "de Tuberculosis"),
    ("HIV", "du VIH", "del VIH"), ("Maternal Health", "de Santé Maternelle", "de Salud Materna"),
    ("Child Health", "de Santé Infantile", "de Salud Infantil"), ("Nutrition", "de Nutrition", "de Nutrición"),
    ("Emergency", "des Urgences", "de Urgencias"),
]
SYLLABLES = ("ka", "lu", "mbo", "nye", "ri", "to", "sa", "ma", "ndi", "ko", "ba", "zi", "we", "ta", "go", "la", "mu",
             "se", "di", "po", "ra", "ki", "no", "ve", "yo", "fa", "bu", "te", "lo", "gi")
LANGS = ("en", "fr", "es")
VARIANTS = ("typo", "accent_case", "translation", "acronym")


from machine import version  # noqa: E402 (bench/ is the script's folder)


def log(msg: str) -> None:
    print(f"[atlas_dedupe] {msg}", file=sys.stderr, flush=True)




def render(lang: str, place: str, kind: int, focus: int) -> str:
    k, f = KINDS[kind], FOCUS[focus]
    if lang == "en":
        return " ".join(p for p in (place, f[0], k[0]) if p)
    i = 1 if lang == "fr" else 2
    return " ".join(p for p in (k[i], f[i], "de", place) if p)


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def typo(rnd: random.Random, name: str) -> str:
    words = name.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
    if not idx:
        return name + "s"
    i = rnd.choice(idx)
    w = words[i]
    p = rnd.randrange(2, len(w) - 1)
    op = rnd.randrange(4)
    if op == 0:
        w = w[:p] + w[p + 1:]  # a letter left out
    elif op == 1:
        w = w[:p] + w[p + 1] + w[p] + w[p + 2:]  # two letters swapped
    elif op == 2:
        w = w[:p] + rnd.choice("aeiounrst") + w[p + 1:]  # a letter replaced
    else:
        w = w[:p] + w[p] + w[p:]  # a letter doubled
    words[i] = w
    return " ".join(words)


def generate(n: int, seed: int = 4) -> tuple[list[tuple[Any, ...]], set[tuple[int, int]], dict[tuple[int, int], str]]:
    """Rows (id, country, name, codes, areas, orgs, solutions) and the planted pairs with their kind."""
    rnd = random.Random(seed)
    base_n = round(n * (1 - DUP_SHARE))
    per_country = -(-base_n // COUNTRIES)
    rows: list[tuple[Any, ...]] = []
    planted: set[tuple[int, int]] = set()
    kinds: dict[tuple[int, int], str] = {}
    next_id = 1
    places_per_country = max(8, per_country // 12)  # about 12 records per district at every size
    for c in range(COUNTRIES):
        country = f"X{c:02d}"
        lang = LANGS[c % 3]
        places: list[str] = []
        seen_places: set[str] = set()
        while len(places) < places_per_country:
            p = "".join(rnd.choice(SYLLABLES) for _ in range(rnd.choice((2, 3, 3)))).capitalize()
            if p not in seen_places:
                seen_places.add(p)
                places.append(p)
        used: set[tuple[int, int, int]] = set()
        base_rows = []
        while len(base_rows) < per_country and len(rows) + len(base_rows) < base_n:
            key = (rnd.randrange(len(places)), rnd.randrange(len(KINDS)), rnd.randrange(len(FOCUS)))
            if key in used:
                continue
            used.add(key)
            pi, ki, fi = key
            codes = frozenset({f"dhi:{ki}.1", f"dhi:{ki}.{1 + fi % 3}"})
            areas = frozenset({f"{country}-{pi}"})
            orgs = frozenset(rnd.sample(range(c * 100, c * 100 + 30), rnd.choice((1, 1, 2))))
            sols = frozenset({ki * 10 + rnd.randrange(3)}) if rnd.random() < 0.5 else frozenset()
            row = (next_id, country, render(lang, places[pi], ki, fi), codes, areas, orgs, sols)
            next_id += 1
            base_rows.append((row, lang, key))
        rows.extend(r for r, _lang, _key in base_rows)
        n_dups = round(len(base_rows) * DUP_SHARE / (1 - DUP_SHARE))
        for row, lang, (pi, ki, fi) in rnd.sample(base_rows, min(n_dups, len(base_rows))):
            variant = rnd.choice(VARIANTS)
            if variant == "acronym" and not (lang == "en" and KINDS[ki][3]):
                variant = "translation"
            if variant == "typo":
                name = typo(rnd, row[2])
            elif variant == "accent_case":
                name = rnd.choice((str.upper, lambda s: strip_accents(s).lower(), lambda s: s.replace(" ", "  ")
                                   .title()))(row[2])
                if name == row[2]:
                    name = row[2].upper()
            elif variant == "translation":
                name = render(rnd.choice([x for x in LANGS if x != lang]), places[pi], ki, fi)
            else:
                name = " ".join(p for p in (places[pi], FOCUS[fi][0], KINDS[ki][3]) if p)
            codes = row[3] if rnd.random() < 0.7 else frozenset(sorted(row[3])[:1])
            orgs = row[5] if rnd.random() < 0.5 else frozenset({c * 100 + rnd.randrange(30)})
            sols = row[6] if rnd.random() < 0.6 else frozenset()
            dup = (next_id, country, name, codes, row[4], orgs, sols)
            next_id += 1
            rows.append(dup)
            planted.add((row[0], dup[0]))
            kinds[(row[0], dup[0])] = variant
    return rows, planted, kinds


def to_recs(rows: list[tuple[Any, ...]]) -> list[dedupe.Rec]:
    return [dedupe.Rec(i, c, name, codes=codes, areas=areas, orgs=orgs, solutions=sols)
            for i, c, name, codes, areas, orgs, sols in rows]


def run_detection(rows: list[tuple[Any, ...]]) -> tuple[float, float, list[dedupe.Pair], dedupe.Stats]:
    """Wall and CPU seconds of ``find_pairs`` on fresh records, its pairs and statistics."""
    recs = to_recs(rows)  # fresh, unprepared records (not timed)
    stats = dedupe.Stats()
    c0, t0 = time.process_time(), time.perf_counter()
    pairs = dedupe.find_pairs(recs, stats=stats)
    return time.perf_counter() - t0, time.process_time() - c0, pairs, stats


def run_baseline(rows: list[tuple[Any, ...]]) -> float:
    """A trivial pass over the rows: fold and split every name."""
    t0 = time.perf_counter()
    n = 0
    for row in rows:
        n += len(dedupe.fold(row[2]).split())
    assert n > 0
    return time.perf_counter() - t0


def quality(pairs: list[dedupe.Pair], planted: set[tuple[int, int]], kinds: dict[tuple[int, int], str]
            ) -> dict[str, Any]:
    found = {(p.a, p.b) for p in pairs}
    hit = found & planted
    by_kind = {}
    for v in VARIANTS:
        of_kind = {k for k, kind in kinds.items() if kind == v}
        by_kind[v] = {"planted": len(of_kind), "found": len(of_kind & found),
                      "recall": round(len(of_kind & found) / len(of_kind), 4) if of_kind else None}
    return {"planted": len(planted), "reported": len(found), "true_positives": len(hit),
            "recall": round(len(hit) / len(planted), 4) if planted else None,
            "precision": round(len(hit) / len(found), 4) if found else None, "by_kind": by_kind}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 run per size, 2k and 20k records")
    parser.add_argument("--repeats", type=int, help="runs per size (default 3, 1 with --quick)")
    parser.add_argument("--small", type=int, help="records of the small case (default 10000)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    small = args.small or (2000 if args.quick else 10_000)
    large = small * 10
    started = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    warnings: list[str] = []
    if load_before[0] > BUSY_LOAD:
        warnings.append(f"busy machine: 1-minute load average {load_before[0]} before the run")
        log("warning: " + warnings[-1])

    data = {}
    for n in (small, large):
        t0 = time.perf_counter()
        data[n] = generate(n)
        log(f"generated {len(data[n][0])} records, {len(data[n][1])} planted duplicates "
            f"({time.perf_counter() - t0:.1f} s)")
    run_detection(data[small][0][:500])  # warm-up (imports, caches)
    runs: dict[int, list[dict[str, Any]]] = {small: [], large: []}
    last: dict[int, tuple[list[dedupe.Pair], dedupe.Stats]] = {}
    for r in range(repeats):
        for n in (small, large):
            rows = data[n][0]
            secs, cpu, pairs, stats = run_detection(rows)
            base = run_baseline(rows)
            runs[n].append({"round": r + 1, "detect_s": round(secs, 4), "detect_cpu_s": round(cpu, 4),
                            "baseline_s": round(base, 5), "pairs": len(pairs)})
            last[n] = (pairs, stats)
            log(f"round {r + 1}: {len(rows)} records: {secs:.2f} s (cpu {cpu:.2f} s), {len(pairs)} pairs "
                f"(baseline {base:.4f} s)")

    failures: list[str] = []
    sizes = {}
    for n in (small, large):
        rows, planted, kinds = data[n]
        pairs, stats = last[n]
        detect = statistics.median(x["detect_s"] for x in runs[n])
        cpu = statistics.median(x["detect_cpu_s"] for x in runs[n])
        base = statistics.median(x["baseline_s"] for x in runs[n])
        q = quality(pairs, planted, kinds)
        sizes[str(n)] = {
            "records": len(rows), "detect_s_median": round(detect, 4), "detect_cpu_s_median": round(cpu, 4),
            "baseline_s_median": round(base, 5),
            "detect_ratio_to_baseline": round(detect / base, 1), "per_record_us": round(detect / len(rows) * 1e6, 1),
            "blocks": stats.blocks, "split_blocks": stats.split_blocks, "windowed_blocks": stats.windowed_blocks,
            "compared_pairs": stats.compared, "compared_per_record": round(stats.compared / len(rows), 2),
            "candidate_pairs": stats.candidates, "candidates_per_record": round(stats.candidates / len(rows), 2),
            "all_pairs_in_countries": sum(k * (k - 1) // 2 for k in _per_country(rows)),
            "quality": q, "runs": runs[n],
        }
        if q["recall"] is None or q["recall"] < RECALL_FLOOR:
            failures.append(f"recall {q['recall']} below {RECALL_FLOOR} at {n}")
        if q["precision"] is None or q["precision"] < PRECISION_FLOOR:
            failures.append(f"precision {q['precision']} below {PRECISION_FLOOR} at {n}")
    s, lg = sizes[str(small)], sizes[str(large)]
    ratio = lg["detect_s_median"] / s["detect_s_median"]
    base_ratio = lg["baseline_s_median"] / s["baseline_s_median"]
    growth = {"scale": large / small, "detect_ratio": round(ratio, 2), "baseline_ratio": round(base_ratio, 2),
              "detect_cpu_ratio": round(lg["detect_cpu_s_median"] / s["detect_cpu_s_median"], 2),
              "compared_ratio": round(lg["compared_pairs"] / s["compared_pairs"], 2),
              "candidates_ratio": round(lg["candidate_pairs"] / s["candidate_pairs"], 2),
              "linear_is_about": large / small, "flagged_nonlinear": ratio > NONLINEAR_FACTOR * large / small}
    if growth["flagged_nonlinear"]:
        warnings.append(f"detection grew {ratio:.1f}x for {large / small:.0f}x the records")
    result = {
        "benchmark": "atlas_dedupe", "ok": not failures, "failures": failures, "warnings": warnings,
        "settings": {"repeats": repeats, "sizes": [small, large], "countries": COUNTRIES,
                     "duplicate_share": round(DUP_SHARE, 4), "threshold": dedupe.DEFAULT_THRESHOLD,
                     "window": dedupe.DEFAULT_WINDOW, "best_per_record": dedupe.DEFAULT_BEST,
                     "max_block_acronym": dedupe.DEFAULT_MAX_BLOCK, "prefilter": dedupe.PREFILTER,
                     "baseline": "fold + split of every name (a trivial pass over the rows)"},
        "growth": growth, "sizes": sizes,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "rapidfuzz": version("rapidfuzz"),
                    "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "wall_s": round(time.monotonic() - started, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n", encoding="utf-8")
    if failures:
        return 1
    return 3 if growth["flagged_nonlinear"] else 0


def _per_country(rows: list[tuple[Any, ...]]) -> list[int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[1]] = counts.get(row[1], 0) + 1
    return list(counts.values())


if __name__ == "__main__":
    sys.exit(main())

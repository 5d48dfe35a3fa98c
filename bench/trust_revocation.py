"""Revocation lookup structure: size, false-positive rate, build and lookup time of the Bloom filter
(``dho.trust.bloom``) against a Python ``set`` of the same 16-byte hashes, measured in the same run.

    .venv/bin/python bench/trust_revocation.py [--quick] [--probes N]

For n in (1e4, 1e5, 1e6) entries (``--quick``: 1e4, 1e5) and a false-positive target p in (1e-3, 1e-6):
random 16-byte entries (seeded) are added to a filter sized for (n, p); then

* size: bytes of the bit array (the serialised file adds 36 bytes), bits per entry, k;
* false positives: ``--probes`` random 16-byte values that were never added (default 1e6, 1e5 with
  --quick) are looked up and the hits counted; with p = 1e-6 a million probes expect about one hit, so
  the analytic rate from the bits actually set, ``(set / m) ** k``, is reported too;
* build time (sizing and adding every entry, one run);
* lookup time: the median over 7 rounds of ns per call for 20 000 absent values and 20 000 present
  values (a present value costs all k hashes, an absent one stops at the first clear bit), and the
  same for ``value in set``, with the ratio filter / set;
* the baseline ``set``: its build time and its approximate memory (set table plus the bytes objects).

Prints one JSON document (last line of stdout) and writes it to bench/results/trust_revocation.json.
Exit status 0 when every configuration has zero false negatives and its measured false-positive rate is
within 1.5 x the target (or at most 3 hits where fewer than 10 are expected), else 1.
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
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from machine import cpu_model, git_state, version  # noqa: E402 (bench/ is the script's folder)

from dho.trust.bloom import BloomFilter  # noqa: E402

RESULTS = BENCH_DIR / "results" / "trust_revocation.json"
SIZES = (10_000, 100_000, 1_000_000)
TARGETS = (1e-3, 1e-6)
LOOKUP_SAMPLE = 20_000
ROUNDS = 7
FP_TOLERANCE = 1.5


def log(msg: str) -> None:
    print(f"[trust_revocation] {msg}", file=sys.stderr, flush=True)


def ns_per_call(fn, sample: list[bytes]) -> float:
    """Median over ROUNDS of the time per call of ``fn`` over ``sample`` (same loop for both structures)."""
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter_ns()
        for x in sample:
            fn(x)
        times.append((time.perf_counter_ns() - t0) / len(sample))
    return statistics.median(times)


def set_bytes(values: set[bytes]) -> int:
    return sys.getsizeof(values) + sum(sys.getsizeof(v) for v in values)


def measure(n: int, p: float, probes: int, rnd: random.Random) -> dict[str, Any]:
    entries = [rnd.randbytes(16) for _ in range(n)]
    t0 = time.perf_counter()
    bloom = BloomFilter.for_capacity(n, p)
    bloom.update(entries)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    baseline = set(entries)
    set_build_s = time.perf_counter() - t0
    if len(baseline) != n:
        raise SystemExit("random entries collided: change the seed")

    false_negatives = sum(not bloom.might_contain(x) for x in entries[:LOOKUP_SAMPLE])
    t0 = time.perf_counter()
    hits = 0
    for _ in range(probes):
        x = rnd.randbytes(16)
        if bloom.might_contain(x) and x not in baseline:  # a probe that is an entry is not a false positive
            hits += 1
    probe_s = time.perf_counter() - t0

    absent = [rnd.randbytes(16) for _ in range(LOOKUP_SAMPLE)]
    present = rnd.sample(entries, min(LOOKUP_SAMPLE, n))
    lookup = {}
    for name, sample in (("absent", absent), ("present", present)):
        b_ns = ns_per_call(bloom.might_contain, sample)
        s_ns = ns_per_call(baseline.__contains__, sample)
        lookup[name] = {"bloom_ns_median": round(b_ns), "set_ns_median": round(s_ns, 1),
                        "ratio_bloom_to_set": round(b_ns / s_ns, 1)}
    measured = hits / probes
    expected_hits = p * probes
    within = (hits <= 3) if expected_hits < 10 else measured <= FP_TOLERANCE * p
    return {
        "n": n, "p_target": p, "m_bits": bloom.m, "k": bloom.k, "filter_bytes": bloom.size_bytes,
        "serialised_bytes": len(bloom.to_bytes()), "bits_per_entry": round(bloom.m / n, 2),
        "set_bytes_approx": set_bytes(baseline), "set_to_filter_size": round(set_bytes(baseline) / bloom.size_bytes, 1),
        "fp_probes": probes, "fp_hits": hits, "fp_measured": measured,
        "fp_ratio_to_target": round(measured / p, 3), "fp_from_fill": bloom.estimated_fp_rate(),
        "fill": round(bloom.bits_set() / bloom.m, 4), "false_negatives_checked": min(LOOKUP_SAMPLE, n),
        "false_negatives": false_negatives, "fp_within_tolerance": within,
        "build_s": round(build_s, 3), "build_us_per_entry": round(build_s / n * 1e6, 2),
        "set_build_s": round(set_build_s, 4), "probe_s": round(probe_s, 2), "lookup": lookup,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="n up to 1e5 and 1e5 probes")
    parser.add_argument("--probes", type=int, help="random false-positive probes per configuration")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = SIZES[:2] if args.quick else SIZES
    probes = args.probes or (100_000 if args.quick else 1_000_000)
    started = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    warnings: list[str] = []
    if load_before[0] > 1.0:
        warnings.append(f"busy machine: 1-minute load average {load_before[0]} before the run")
        log("warning: " + warnings[-1])
    rnd = random.Random(args.seed)
    results = []
    failures = []
    for n in sizes:
        for p in TARGETS:
            log(f"n={n} p={p}: building and probing ({probes} probes)")
            r = measure(n, p, probes, rnd)
            log(f"  {r['filter_bytes']} bytes, {r['bits_per_entry']} bits/entry, k={r['k']}, "
                f"fp {r['fp_hits']}/{probes}, build {r['build_s']} s, "
                f"lookup absent {r['lookup']['absent']['bloom_ns_median']} ns "
                f"(set {r['lookup']['absent']['set_ns_median']} ns)")
            results.append(r)
            if r["false_negatives"]:
                failures.append(f"false negatives at n={n} p={p}")
            if not r["fp_within_tolerance"]:
                failures.append(f"false-positive rate {r['fp_measured']} over {FP_TOLERANCE} x {p} at n={n}")
    result = {
        "benchmark": "trust_revocation", "ok": not failures, "failures": failures, "warnings": warnings,
        "settings": {"sizes": list(sizes), "targets": list(TARGETS), "fp_probes": probes,
                     "lookup_sample": LOOKUP_SAMPLE, "rounds": ROUNDS, "seed": args.seed,
                     "entry_bytes": 16, "scheme": "SHA-256(item || byte i), signed, mod m (EU dgc-bloomfilter)",
                     "baseline": "Python set of the same 16-byte bytes values"},
        "results": results,
        "git": git_state(),
        "machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
                    "cryptography": version("cryptography"), "loadavg_before": load_before,
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "wall_s": round(time.monotonic() - started, 1),
    }
    text = json.dumps(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(text)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())

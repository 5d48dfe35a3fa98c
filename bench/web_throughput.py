"""Web throughput: requests per second and p95 latency of the country list page and the
country API, against the framework's ceiling measured in the same run.

    .venv/bin/python bench/web_throughput.py [--quick]

Targets, all served by uvicorn (one worker, same version and flags) on 127.0.0.1 only:

* ``baseline_ping``        minimal FastAPI app, sync ``def`` returning ``{"ok": true}`` (the ceiling)
* ``baseline_ping_async``  the same with ``async def`` (for information)
* ``countries_page``       GET /countries of the real app on a demo SQLite database (HTML page)
* ``api_countries``        GET /api/countries of the real app (JSON)

The load generator is wrk (1 thread, fixed connections); each target gets a warm-up run, then
every target is measured ``--repeats`` times, interleaved, and medians are reported. Ratios are
ours / ceiling. Prints one JSON document and writes it to bench/results/web_throughput.json.
Exits non-zero if any run saw socket errors or a non-2xx response.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "web_throughput.json"
LUA = BENCH_DIR / "wrk_report.lua"
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"  # loopback only, by design

# Identical for both servers.
UVICORN_FLAGS = ["--host", HOST, "--workers", "1", "--log-level", "warning", "--no-access-log",
                 "--no-proxy-headers"]

# name -> (server, path); order is the interleaving order within a round.
TARGETS = {
    "baseline_ping": ("baseline", "/ping"),
    "baseline_ping_async": ("baseline", "/ping-async"),
    "countries_page": ("real", "/countries"),
    "api_countries": ("real", "/api/countries"),
}
CEILING = "baseline_ping"
# A 1-minute load average above this before the run means the machine was not quiet.
BUSY_LOAD = 1.0


from machine import cpu_model, version  # noqa: E402 (bench/ is the script's folder)


def log(msg: str) -> None:
    print(f"[web_throughput] {msg}", file=sys.stderr, flush=True)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("web_throughput: wrk is not installed and this is not root; install it with "
                 "'sudo apt-get install -y wrk' (Debian package 'wrk') and run again.")
    log("wrk missing: apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, check=False,
                      stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, check=False, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        sys.exit("web_throughput: could not install wrk with apt-get; install the Debian package 'wrk'.")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]






def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout + out.stderr).splitlines()[0].strip() if (out.stdout + out.stderr) else "?"


def affinity(cpus: set[int] | None):
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


@contextlib.contextmanager
def server(name: str, args: list[str], env: dict[str, str], port: int, ready_path: str,
           cpus: set[int] | None, log_path: Path) -> Iterator[subprocess.Popen]:
    cmd = [sys.executable, "-m", "uvicorn", *args, *UVICORN_FLAGS, "--port", str(port)]
    log(f"starting {name}: {' '.join(cmd[1:])}")
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=BENCH_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=affinity(cpus))
    try:
        deadline = time.monotonic() + 60
        url = f"http://{HOST}:{port}{ready_path}"
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text()[-3000:]
                raise RuntimeError(f"{name} server exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers; the probe reports the status
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} server not ready after 60 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def probe(url: str) -> dict:
    """One plain GET: status, type and size of what the load generator will fetch."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            status, headers, body = r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, exc.headers, exc.read()
    return {"status": status, "content_type": headers.get("content-type"), "body_bytes": len(body),
            "sets_cookie": headers.get("set-cookie") is not None}


def run_wrk(wrk: str, url: str, seconds: int, connections: int, threads: int,
            cpus: set[int] | None) -> dict:
    cmd = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
           "-s", str(LUA), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60,
                          preexec_fn=affinity(cpus))
    m = re.search(r"^WRK_JSON (.*)$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    raw = json.loads(m.group(1))
    lat = raw["latency_us"]
    err = raw["errors"]
    return {
        "requests": raw["requests"], "duration_s": round(raw["duration_s"], 3), "rps": round(raw["rps"], 1),
        "p50_ms": lat["p50"] / 1000, "p95_ms": lat["p95"] / 1000, "p99_ms": lat["p99"] / 1000,
        "mean_ms": round(lat["mean"] / 1000, 3), "max_ms": lat["max"] / 1000,
        "bytes_per_response": round(raw["bytes"] / raw["requests"]) if raw["requests"] else 0,
        "socket_errors": {k: err[k] for k in ("connect", "read", "write", "timeout")},
        "non_2xx": err["non_2xx"], "non_2xx_codes": err["non_2xx_codes"],
    }


def run_failed(run: dict) -> bool:
    return run["non_2xx"] > 0 or any(run["socket_errors"].values()) or run["requests"] == 0


def summarise(runs: list[dict]) -> dict:
    med = statistics.median
    return {
        "rps_median": round(med(r["rps"] for r in runs), 1),
        "p50_ms_median": round(med(r["p50_ms"] for r in runs), 3),
        "p95_ms_median": round(med(r["p95_ms"] for r in runs), 3),
        "p99_ms_median": round(med(r["p99_ms"] for r in runs), 3),
        "rps_min": min(r["rps"] for r in runs), "rps_max": max(r["rps"] for r in runs),
        "runs": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2 s runs and 1 s warm-ups instead of 5 s and 3 s")
    parser.add_argument("--duration", type=int, help="whole seconds per measured run (default 5, 2 with --quick)")
    parser.add_argument("--warmup", type=int,
                        help="whole seconds of warm-up per target (default 3, 1 with --quick)")
    parser.add_argument("--repeats", type=int, default=3, help="measured runs per target (default 3)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the servers to CPU 0 and wrk to CPU 1")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    duration = args.duration if args.duration is not None else (2 if args.quick else 5)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    if args.repeats < 1 or args.connections < 1 or args.threads < 1 or duration <= 0 or warmup <= 0:
        parser.error("repeats, connections, threads, duration and warm-up must be positive")

    wrk = ensure_wrk()
    load_before = [round(x, 2) for x in os.getloadavg()]
    busy = load_before[0] > BUSY_LOAD
    if busy:
        log(f"warning: 1-minute load average is {load_before[0]} before the run: other work is using the CPUs "
            "and will distort the figures (and pinning makes it worse for single-threaded targets); "
            "quote figures from a quiet machine")
    ncpu = os.cpu_count() or 1
    allowed = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(allowed) >= 2
    server_cpus = {allowed[0]} if pin else None
    wrk_cpus = set(allowed[1:]) if pin else None

    with tempfile.TemporaryDirectory(prefix="dho-bench-") as tmp:
        tmpdir = Path(tmp)
        db_url = f"sqlite:///{tmpdir / 'bench.sqlite3'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DHO_")}
        # A throw-away signing key, so that the app does not create or read one in the user's data folder.
        env.update({"DHO_DATABASE_URL": db_url, "DHO_SECRET_KEY": secrets.token_urlsafe(32),
                    "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"})
        log(f"creating the demo database {db_url}")
        t0 = time.monotonic()
        demo = subprocess.run([str(VENV_BIN / "dho"), "demo", "--no-serve", "--database", db_url],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if demo.returncode != 0:
            log(demo.stdout + demo.stderr)
            return 2
        demo_seconds = round(time.monotonic() - t0, 2)

        ports = {"baseline": free_port(), "real": free_port()}
        with (
            server("baseline", ["--app-dir", str(BENCH_DIR), "baseline_app:app"], env, ports["baseline"],
                   "/ping", server_cpus, tmpdir / "baseline.log"),
            server("real", ["--app-dir", str(BENCH_DIR), "--factory", "real_app:create"], env, ports["real"],
                   "/api/countries", server_cpus, tmpdir / "real.log"),
        ):
            urls = {name: f"http://{HOST}:{ports[srv]}{path}" for name, (srv, path) in TARGETS.items()}
            probes = {name: probe(url) for name, url in urls.items()}
            for name, p in probes.items():
                log(f"probe {name}: {p}")

            warmups: dict[str, dict] = {}
            for name, url in urls.items():
                log(f"warm-up {name} ({warmup} s)")
                warmups[name] = run_wrk(wrk, url, warmup, args.connections, args.threads, wrk_cpus)

            runs: dict[str, list[dict]] = {name: [] for name in urls}
            for rnd in range(1, args.repeats + 1):
                for name, url in urls.items():
                    run = run_wrk(wrk, url, duration, args.connections, args.threads, wrk_cpus)
                    run["round"] = rnd
                    runs[name].append(run)
                    log(f"round {rnd} {name}: {run['rps']} req/s, p95 {run['p95_ms']} ms"
                        + (f", non-2xx {run['non_2xx']}, socket errors {run['socket_errors']}"
                           if run_failed(run) else ""))
            server_logs = {srv: (tmpdir / f"{srv}.log").read_text()[-2000:] for srv in ports}

    results = {name: summarise(r) for name, r in runs.items()}
    ceiling = results[CEILING]
    for name, res in results.items():
        if name == CEILING:
            continue
        res["rps_ratio_to_baseline"] = round(res["rps_median"] / ceiling["rps_median"], 3)
        res["p95_ratio_to_baseline"] = round(res["p95_ms_median"] / ceiling["p95_ms_median"], 3)
        # The same ratio taken within each round, where both ran seconds apart (robust to drift).
        res["rps_ratio_per_round"] = [round(a["rps"] / b["rps"], 3) for a, b in zip(runs[name], runs[CEILING],
                                                                                      strict=True)]
        res["rps_ratio_per_round_median"] = round(statistics.median(res["rps_ratio_per_round"]), 3)
    for name, res in results.items():
        res["probe"] = probes[name]
        res["url_path"] = TARGETS[name][1]
        res["warmup"] = {k: warmups[name][k]
                         for k in ("requests", "rps", "p95_ms", "non_2xx", "socket_errors")}

    failures = [f"{name} {'warm-up' if run is warmups[name] else 'round ' + str(run['round'])}: "
                f"non-2xx {run['non_2xx']} {run['non_2xx_codes']}, socket errors {run['socket_errors']}"
                for name in urls for run in [warmups[name], *runs[name]] if run_failed(run)]
    failures += [f"{name}: probe status {p['status']}" for name, p in probes.items() if p["status"] != 200]

    report = {
        "benchmark": "web_throughput",
        "ok": not failures,
        "failures": failures,
        "machine": {
            "cpu_count": ncpu, "cpus_allowed": allowed, "cpu_model": cpu_model(),
            "platform": platform.platform(), "python": platform.python_version(),
            "uvicorn": version("uvicorn"), "fastapi": version("fastapi"), "starlette": version("starlette"),
            "sqlalchemy": version("sqlalchemy"),
            "uvloop": version("uvloop"), "httptools": version("httptools"),
            "wrk": wrk_version(wrk),
            # 1/5/15-minute load averages: well above 1 + wrk means other work shared the CPUs.
            "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "busy_before_run": busy,
        },
        "settings": {
            "quick": args.quick, "duration_s": duration, "warmup_s": warmup, "repeats": args.repeats,
            "connections": args.connections, "wrk_threads": args.threads, "interleaved_order": list(TARGETS),
            "ceiling": CEILING, "uvicorn_flags": UVICORN_FLAGS,
            "cpu_pinning": {"servers": sorted(server_cpus), "wrk": sorted(wrk_cpus)} if pin else None,
            "database": "temporary SQLite, `dho demo --no-serve` (reference + demo data)",
            "demo_setup_s": demo_seconds,
            "requests": "anonymous GETs, no cookies, no Accept-Language",
        },
        "results": results,
    }
    if failures:
        report["server_log_tails"] = server_logs
    for name, res in results.items():
        ratio = (f"  rps ratio {res['rps_ratio_to_baseline']:.3f}  p95 ratio {res['p95_ratio_to_baseline']:.2f}"
                 if name != CEILING else "  (ceiling)")
        log(f"{name:20s} {res['rps_median']:8.1f} req/s  p95 {res['p95_ms_median']:8.2f} ms{ratio}")
    text = json.dumps(report, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    log(f"written to {args.output}")
    if failures:
        log("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

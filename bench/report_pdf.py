"""Reports: time to generate the global progress report as PDF from the demo data, against a baseline
measured in the same run.

    .venv/bin/python bench/report_pdf.py [--quick] [--repeats N]

1. Setup: a temporary SQLite database with the demo data (``initialise`` + ``dho.demo.load``).
2. Measured, in one process, each round from cold caches (indicator results, report documents and
   chart caches cleared, a fresh session), as ``dho report global --format pdf`` does it:
   - ``global_pdf``: ``service.produce(..., "global", fmt="pdf")``: indicators, sections, charts
     (Altair -> vl-convert PNG), maps, HTML, WeasyPrint;
   - ``global_html``: the same report as HTML (no WeasyPrint);
   - stages of one PDF build (indicators, charts, maps, render) from its progress callback.
3. Baseline: WeasyPrint rendering a fixed simple document (a title, 40 paragraphs and a 60-row table,
   no pictures), the floor of any PDF made here.
Rounds are interleaved (baseline, html, pdf) and medians reported; the two PDFs' text (pdftotext)
must be equal, or the run fails. One JSON document on stdout and in bench/results/report_pdf.json.
Exit 0 when the checks passed, 1 when one failed, 2 on a setup error."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from machine import cpu_model, git_state, version  # noqa: E402 (bench/ is the script's folder)

RESULTS = BENCH_DIR / "results" / "report_pdf.json"


def log(msg: str) -> None:
    print(f"[report_pdf] {msg}", file=sys.stderr, flush=True)


def baseline_html() -> str:
    rows = "".join(f"<tr><td>Row {i}</td><td>{i * 7 % 100}</td><td>{i * 13 % 1000}</td></tr>" for i in range(60))
    paras = "".join(f"<p>Paragraph {i}: a fixed sentence about digital health progress, repeated for "
                    f"length so that lines wrap and pages break.</p>" for i in range(40))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Baseline</title></head><body>"
            f"<h1>Baseline document</h1>{paras}<table>{rows}</table></body></html>")


def clear_caches() -> None:
    from dho.indicators import engine
    from dho.reports import charts, service

    engine.clear_cache()
    service.clear_cache()
    charts._svg.cache_clear()
    charts._png.cache_clear()
    charts._svg_png.cache_clear()


def pdf_text(data: bytes, tmp: Path) -> str:
    path = tmp / "check.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds instead of 5")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    load_before = [round(x, 2) for x in os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="dho-bench-report-"))
    try:
        from dho import demo
        from dho.bootstrap import initialise
        from dho.db import Database, import_all_models
        from dho.reports import pdf, service

        import_all_models()
        db = Database(f"sqlite:///{tmp / 'bench.sqlite3'}")
        t = time.perf_counter()
        try:
            initialise(db)
            with db.session() as session:
                demo.load(session)
        except Exception as exc:  # reported as a setup error
            log(f"setup failed: {exc}")
            return 2
        setup_s = time.perf_counter() - t
        log(f"demo database ready in {setup_s:.1f} s")
        base_html = baseline_html()
        pdf.render_pdf(base_html)  # warm the fonts once, for both sides
        times: dict[str, list[float]] = {"baseline_pdf": [], "global_html": [], "global_pdf": []}
        stages: list[dict[str, float]] = []
        texts: list[str] = []
        sizes: dict[str, int] = {}
        snapshot = ""
        for r in range(repeats):
            t = time.perf_counter()
            base = pdf.render_pdf(base_html)
            times["baseline_pdf"].append(time.perf_counter() - t)
            sizes["baseline_pdf"] = len(base)
            clear_caches()
            with db.session() as session:
                t = time.perf_counter()
                html = service.produce(session, "global", None, None, "en", "html")
                times["global_html"].append(time.perf_counter() - t)
            sizes["global_html"] = len(html.body)
            clear_caches()
            marks: dict[str, float] = {}
            with db.session() as session:
                t = time.perf_counter()
                doc = service.produce(session, "global", None, None, "en", "pdf",
                                      progress=lambda s, t=t, m=marks: m.__setitem__(s, time.perf_counter() - t))
                times["global_pdf"].append(time.perf_counter() - t)
            stages.append(marks)
            sizes["global_pdf"] = len(doc.body)
            snapshot = doc.snapshot
            texts.append(pdf_text(doc.body, tmp))
            log(f"round {r + 1}/{repeats}: baseline {times['baseline_pdf'][-1]:.2f} s, html "
                f"{times['global_html'][-1]:.2f} s, pdf {times['global_pdf'][-1]:.2f} s")
        failures = []
        if len(set(texts)) != 1:
            failures.append("the PDF's text differed between rounds (not reproducible)")
        if snapshot not in texts[0].replace("\n", ""):
            failures.append("the snapshot hash is not printed in the PDF")
        med = {k: round(statistics.median(v), 4) for k, v in times.items()}
        stage_med = {}
        for name in stages[0]:
            vals = [m[name] for m in stages if name in m]
            stage_med[name] = round(statistics.median(vals), 4)
        code = git_state()
        warnings = []
        if code.get("uncommitted_app_changes"):
            warnings.append("the application has uncommitted changes: these figures belong to no commit")
        report: dict[str, Any] = {
            "benchmark": "report_pdf", "ok": not failures, "failures": failures, "warnings": warnings,
            "machine": {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "platform": platform.platform(),
                        "python": platform.python_version(), "weasyprint": version("weasyprint"),
                        "altair": version("altair"), "vl-convert-python": version("vl-convert-python"),
                        "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
            "code": code,
            "settings": {"repeats": repeats, "quick": args.quick, "report": "global, latest year with data, en",
                         "database": "temporary SQLite with the demo data", "setup_s": round(setup_s, 1)},
            "median_s": med, "all_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
            "pdf_stage_cumulative_median_s": stage_med,
            "ratio_pdf_to_baseline": round(med["global_pdf"] / med["baseline_pdf"], 1),
            "bytes": sizes, "pdf_pages": texts[0].count("\f"), "snapshot": snapshot,
        }
        text = json.dumps(report, indent=2)
        print(text)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
        db.dispose()
        return 0 if not failures else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

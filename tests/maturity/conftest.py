from __future__ import annotations

import csv
import io

from dho.maturity import service as maturity


def gdhm_csv(session, rows: list[dict], framework: str = "gdhm-current") -> bytes:  # type: ignore[no-untyped-def]
    """Build a GDHM-layout CSV: rows are {"iso3", "year", "scores": {code: phase|None|str}}."""
    codes = maturity.indicator_codes(session, framework)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Country ISO3", "Year", *[c for code in codes for c in (f"Indicator {code} Score",
                                                                         f"Enter Indicator {code} justification")]])
    for r in rows:
        line = [r["iso3"], r["year"]]
        for code in codes:
            v = r["scores"].get(code, "")
            line += ["NA" if v is None else v, f"because {code}" if v not in ("", None) else ""]
        w.writerow(line)
    return buf.getvalue().encode()


def full_scores(session, phase: int = 3) -> dict:  # type: ignore[no-untyped-def]
    return {code: phase for code in maturity.indicator_codes(session, "gdhm-current")}

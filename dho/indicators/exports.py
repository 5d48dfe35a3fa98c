"""Exports of computed values: CSV, JSON, DHIS2 ADX XML and DHIS2 dataValueSets JSON.

Every format carries the same rows (indicator, geography, period, value rounded to the definition's
decimals; rows without a value are left out of ADX and dataValueSets, which have no "no data") and
names the data snapshot, so a file can be traced to the data it came from. Output is deterministic:
the same snapshot gives byte-identical files."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from dho.indicators import periods as P
from dho.indicators.engine import Definition, Results

FORMATS = ("csv", "json", "adx", "dvs")
MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json", "adx": "application/adx+xml",
         "dvs": "application/json"}
SUFFIX = {"csv": "csv", "json": "json", "adx": "adx.xml", "dvs": "dvs.json"}
ADX_NS = "urn:ihe:qrph:adx:2015"
COLUMNS = ("code", "geo", "period", "value", "numerator", "denominator", "reporting", "unit")


@dataclass(frozen=True)
class Row:
    code: str
    geo: str
    period: str
    value: float | None
    numerator: float | None
    denominator: float | None
    reporting: int
    unit: str
    fy_start_month: int


def _round(v: float | None, decimals: int) -> float | None:
    if v is None:
        return None
    r = round(v, decimals)
    return float(r) if decimals else float(round(r))


def rows(results: Results, defs: Iterable[Definition], *, codes: Iterable[str] | None = None,
         geos: Iterable[str] | None = None, years: Iterable[int] | None = None) -> list[Row]:
    """The values to export, in a stable order (indicator, geography order of the results, period)."""
    want_codes = set(codes) if codes is not None else None
    want_geos = set(geos) if geos is not None else None
    want_years = set(years) if years is not None else None
    out = []
    for d in sorted(defs, key=lambda d: d.code):
        if want_codes is not None and d.code not in want_codes:
            continue
        for geo in results.geos(d.code):
            if want_geos is not None and geo not in want_geos:
                continue
            for period, v in results.series(d.code, geo):
                if want_years is not None and P.parse(period, d.spec.fy_start_month).year not in want_years:
                    continue
                out.append(Row(d.code, geo, period, _round(v.value, d.decimals), _round(v.numerator, 6),
                               _round(v.denominator, 6), v.reporting, d.unit, d.spec.fy_start_month))
    return out


def _text(v: float | None) -> str:
    if v is None:
        return ""
    return str(int(v)) if float(v).is_integer() else repr(v)


def to_csv(data: list[Row], snapshot: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*COLUMNS, "snapshot"])
    for r in data:
        w.writerow([r.code, r.geo, r.period, _text(r.value), _text(r.numerator), _text(r.denominator), r.reporting,
                    r.unit, snapshot])
    return buf.getvalue()


def to_json(data: list[Row], results: Results, defs: Iterable[Definition]) -> str:
    used = {r.code for r in data}
    doc: dict[str, Any] = {
        "snapshot": results.snapshot, "epoch": results.epoch,
        "indicators": [{"code": d.code, "version": d.version, "name": d.name, "unit": d.unit,
                        "decimals": d.decimals, "period_type": d.period_type}
                       for d in sorted(defs, key=lambda d: d.code) if d.code in used],
        "values": [{"code": r.code, "geo": r.geo, "period": r.period, "value": r.value, "numerator": r.numerator,
                    "denominator": r.denominator, "reporting": r.reporting} for r in data],
    }
    return json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def to_adx(data: list[Row], snapshot: str) -> str:
    """ADX (IHE QRPH): one <group> per orgUnit and period, one <dataValue> per indicator; periods as
    an ISO 8601 start date and duration (2025-01-01/P1Y)."""
    ET.register_namespace("", ADX_NS)
    root = ET.Element(f"{{{ADX_NS}}}adx", {"dataSnapshot": snapshot})
    groups: dict[tuple[str, str], ET.Element] = {}
    for r in data:
        if r.value is None:
            continue
        period = P.iso_duration(P.parse(r.period, r.fy_start_month))
        key = (r.geo, period)
        g = groups.get(key)
        if g is None:
            g = groups[key] = ET.SubElement(root, f"{{{ADX_NS}}}group", {"orgUnit": r.geo, "period": period})
        ET.SubElement(g, f"{{{ADX_NS}}}dataValue", {"dataElement": r.code, "value": _text(r.value)})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def to_dvs(data: list[Row], snapshot: str) -> str:
    """DHIS2 dataValueSets JSON: values as text, DHIS2 period identifiers (2025, 2025Q3, 202507, 2024July)."""
    values = [{"dataElement": r.code, "period": P.dhis2(P.parse(r.period, r.fy_start_month)), "orgUnit": r.geo,
               "value": _text(r.value)} for r in data if r.value is not None]
    return json.dumps({"comment": f"data snapshot {snapshot}", "dataValues": values}, ensure_ascii=False,
                      indent=1) + "\n"


def export(fmt: str, results: Results, defs: list[Definition], *, codes: Iterable[str] | None = None,
           geos: Iterable[str] | None = None, years: Iterable[int] | None = None) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    data = rows(results, defs, codes=codes, geos=geos, years=years)
    if fmt == "csv":
        return to_csv(data, results.snapshot)
    if fmt == "json":
        return to_json(data, results, defs)
    if fmt == "adx":
        return to_adx(data, results.snapshot)
    return to_dvs(data, results.snapshot)

"""Bulk import and export of assessments: the GDHM layout as CSV or XLSX, and JSON. Every row is
validated first and every error reported by row and column; an import with any error writes nothing."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dho.accounts.permissions import Principal, Target, require
from dho.audit.chain import Change, record
from dho.errors import ErrorReport, FieldError, ValidationFailed
from dho.i18n import _
from dho.maturity import service, xlsx
from dho.maturity.models import Answer, Assessment
from dho.reference import service as reference
from dho.reference.models import Country

MAX_BYTES = 20_000_000
MAX_ROWS = 50_000
SCORE_COL = re.compile(r"^Indicator (\w+) Score$")
JUSTIFICATION_COL = re.compile(r"^Enter Indicator (\w+) justification$")
NOT_AVAILABLE = {"", "NA", "N/A", "na", "n/a"}
FORMATS = ("gdhm-csv", "xlsx", "json")


@dataclass
class Row:
    where: str
    country: str
    year: int
    answers: dict[str, tuple[int | None, str, str]] = field(default_factory=dict)  # code -> phase, why, confidence


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise ValidationFailed(_("The file is larger than %(n)s MB.", n=MAX_BYTES // 1_000_000))
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte order mark, as spreadsheet programs write it
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ValidationFailed(_("The file is UTF-16 text; save it as CSV UTF-8."))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_("The file is not UTF-8 text (byte %(pos)s); save it as CSV UTF-8.",
                                 pos=exc.start)) from None


def parse_gdhm_csv(session: Session, data: bytes, framework_id: str = service.DEFAULT_FRAMEWORK) -> list[Row]:
    """The CSV decoding; the header and rows are then checked by parse_gdhm_table, as for XLSX."""
    text = _decode(data)
    if "\x00" in text:
        raise ValidationFailed(_("The file contains NUL bytes; it is not a CSV text file."))
    first_line = text.split("\n", 1)[0]
    if ";" in first_line and "," not in first_line:
        raise ValidationFailed(_("The columns are separated by semicolons; save the file with commas."))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed(_("The file is empty.")) from None
    except csv.Error as exc:
        raise ValidationFailed(_("The file is not valid CSV: %(error)s", error=str(exc))) from None
    try:
        return parse_gdhm_table(session, header, enumerate(reader, start=2), framework_id)
    except csv.Error as exc:  # raised while the rows are read
        raise ValidationFailed(_("The file is not valid CSV: %(error)s", error=str(exc))) from None


def parse_gdhm_xlsx(session: Session, data: bytes, framework_id: str = service.DEFAULT_FRAMEWORK) -> list[Row]:
    """The XLSX reading (checked for hostile archives first); then the same checks as the CSV."""
    if len(data) > MAX_BYTES:
        raise ValidationFailed(_("The file is larger than %(n)s MB.", n=MAX_BYTES // 1_000_000))
    header, records = xlsx.read_table(data, max_rows=MAX_ROWS)
    return parse_gdhm_table(session, header, records, framework_id)


def parse_gdhm_table(session: Session, header: list[str], records: Iterable[tuple[int, list[str]]],
                     framework_id: str = service.DEFAULT_FRAMEWORK) -> list[Row]:
    """Check the GDHM layout, whatever file it came from: the header, then every row, numbered as in a
    spreadsheet (the header is row 1). Errors name the row and the column; any error raises."""
    report = ErrorReport()
    codes = set(service.indicator_codes(session, framework_id))
    columns: dict[int, tuple[str, str]] = {}  # index -> (kind, code)
    seen: set[str] = set()
    for i, name in enumerate(header):
        name = name.strip()
        col = f"column {i + 1} ({name[:60]})"
        if name in seen:
            report.add(col, _("appears twice"))
            continue
        seen.add(name)
        if name in ("Country ISO3", "Year"):
            columns[i] = (name, "")
            continue
        m = SCORE_COL.match(name) or JUSTIFICATION_COL.match(name)
        if not m:
            report.add(col, _("is not a column of the GDHM layout"))
        elif m.group(1) not in codes:
            report.add(col, _("names indicator %(code)s, which this framework does not have", code=m.group(1)))
        else:
            columns[i] = ("score" if m.re is SCORE_COL else "justification", m.group(1))
    for needed in ("Country ISO3", "Year"):
        if needed not in seen:
            report.add("header", _("the column %(name)s is missing", name=needed))
    report.raise_if_any(_("The file's columns are not the GDHM layout; nothing was imported."))
    known = {iso3 for (iso3,) in session.execute(select(Country.iso3))}
    rows: list[Row] = []
    keys: dict[tuple[str, int], int] = {}
    for n, values in records:
        if n - 1 > MAX_ROWS:
            raise ValidationFailed(_("The file has more than %(n)s rows.", n=MAX_ROWS))
        if not any(v.strip() for v in values):
            continue
        where = _("row %(n)s", n=n)
        if len(values) != len(header):
            report.add(where, _("has %(got)s values for %(want)s columns", got=len(values), want=len(header)))
            continue
        row = _parse_row(values, columns, where, known, report)
        if row is None:
            continue
        key = (row.country, row.year)
        if key in keys:
            report.add(where, _("repeats %(country)s %(year)s of row %(first)s", country=row.country,
                                year=row.year, first=keys[key]))
            continue
        keys[key] = n
        rows.append(row)
    report.raise_if_any(_("Some rows are not valid; nothing was imported."))
    return rows


def _parse_row(values: list[str], columns: dict[int, tuple[str, str]], where: str, known: set[str],
               report: ErrorReport) -> Row | None:
    country, year, scores, why = "", 0, {}, {}
    ok = True
    for i, (kind, code) in columns.items():
        value = values[i].strip()
        is_date = isinstance(values[i], xlsx.DateCell)  # a spreadsheet cell formatted as a date
        col = f"{where}, {kind if not code else f'indicator {code}'}"
        if kind == "Country ISO3":
            country = value.upper()
            if country not in known:
                report.add(col, _("%(value)s is not a country code (ISO alpha-3)", value=value[:10]))
                ok = False
        elif kind == "Year":
            if is_date:
                report.add(col, _("is a date (%(value)s); the year must be a number from 2000 to 2100",
                                  value=value[:20]))
                ok = False
            elif not re.fullmatch(r"\d{4}", value) or not 2000 <= int(value) <= 2100:
                report.add(col, _("the year must be a number from 2000 to 2100"))
                ok = False
            else:
                year = int(value)
        elif kind == "score":
            if is_date:
                report.add(f"{where}, Indicator {code} Score",
                           _("is a date (%(value)s), not a phase: format the cell as a number", value=value[:20]))
                ok = False
            elif value in NOT_AVAILABLE:
                scores[code] = None
            elif re.fullmatch(r"[1-5]", value):
                scores[code] = int(value)
            else:
                report.add(f"{where}, Indicator {code} Score",
                           _("%(value)s is not a phase: use 1 to 5, or NA or blank for not available",
                             value=value[:20]))
                ok = False
        else:
            why[code] = value
    for code, phase in scores.items():
        if phase is not None and not why.get(code):
            report.add(f"{where}, Enter Indicator {code} justification", _("a rationale is required for a phase"))
            ok = False
        if len(why.get(code, "")) > service.MAX_RATIONALE:
            report.add(f"{where}, Enter Indicator {code} justification", _("is too long"))
            ok = False
    if not ok:
        return None
    row = Row(where, country, year)
    for code, phase in scores.items():
        row.answers[code] = (phase, why.get(code) or _("Not available (imported)"), "medium")
    return row


def parse_json(session: Session, data: bytes) -> tuple[str, list[Row]]:
    text = _decode(data)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(_("The file is not valid JSON: %(error)s (line %(line)s).", error=exc.msg,
                                 line=exc.lineno)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("assessments"), list):
        raise ValidationFailed(_("The JSON must be an object with a list of assessments."))
    framework_id = doc.get("framework", service.DEFAULT_FRAMEWORK)
    if not isinstance(framework_id, str):
        raise ValidationFailed(_("The framework must be named."))
    service.get_framework(session, framework_id)
    codes = set(service.indicator_codes(session, framework_id))
    known = {iso3 for (iso3,) in session.execute(select(Country.iso3))}
    report = ErrorReport()
    rows: list[Row] = []
    keys: set[tuple[str, int]] = set()
    for n, item in enumerate(doc["assessments"][:MAX_ROWS + 1], start=1):
        where = _("assessment %(n)s", n=n)
        if not isinstance(item, dict):
            report.add(where, _("is not an object"))
            continue
        country, year = str(item.get("country", "")).upper(), item.get("year")
        if country not in known:
            report.add(f"{where}, country", _("%(value)s is not a country code (ISO alpha-3)", value=country[:10]))
            continue
        if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
            report.add(f"{where}, year", _("the year must be a number from 2000 to 2100"))
            continue
        if (country, year) in keys:
            report.add(where, _("repeats %(country)s %(year)s", country=country, year=year))
            continue
        keys.add((country, year))
        row = Row(where, country, year)
        answers = item.get("answers")
        if not isinstance(answers, dict):
            report.add(f"{where}, answers", _("must be an object keyed by indicator code"))
            continue
        for code, ans in answers.items():
            aw = f"{where}, indicator {code[:16]}"
            if code not in codes:
                report.add(aw, _("this framework has no such indicator"))
                continue
            if not isinstance(ans, dict):
                report.add(aw, _("must be an object"))
                continue
            phase, why = ans.get("phase"), ans.get("rationale")
            conf = ans.get("confidence", "medium")
            if phase is not None and (isinstance(phase, bool) or phase not in (1, 2, 3, 4, 5)):
                report.add(aw, _("the phase must be 1 to 5, or null for not available"))
            elif not isinstance(why, str) or not why.strip():
                report.add(aw, _("a rationale is required"))
            elif conf not in ("low", "medium", "high"):
                report.add(aw, _("confidence must be low, medium or high"))
            else:
                row.answers[code] = (phase, why.strip()[:service.MAX_RATIONALE], conf)
        rows.append(row)
    report.raise_if_any(_("Some assessments are not valid; nothing was imported."))
    return framework_id, rows


def import_rows(session: Session, principal: Principal, rows: Iterable[Row], framework_id: str,
                published: bool = False) -> dict[str, int]:
    """Write parsed rows. Checked first for every row (permissions, states); then written."""
    rows = list(rows)
    report = ErrorReport()
    existing: dict[tuple[str, int], Assessment] = {}
    for row in rows:
        target = Target(country_iso3=row.country, region_code=reference.region_of(session, row.country))
        try:
            require(principal, "maturity.import_published" if published else "country_data.edit", target)
        except Exception as exc:  # a denial names the row; the whole import is refused below
            detail = getattr(exc, "detail", str(exc))
            if getattr(exc, "status", 403) == 401:
                raise
            report.add(row.where, detail)
            continue
        a = session.execute(select(Assessment).where(
            Assessment.country_iso3 == row.country, Assessment.year == row.year, Assessment.subdivision == "",
            Assessment.framework_id == framework_id)).scalar_one_or_none()
        if a is not None:
            if not published and a.status not in ("draft", "returned"):
                report.add(row.where, _("%(country)s %(year)s is %(status)s; reopen it before importing answers",
                                        country=row.country, year=row.year, status=a.status))
            existing[(row.country, row.year)] = a
    if report.errors:
        raise ValidationFailed(_("The import is refused; nothing was imported."), errors=report.errors)
    session.info["actor"] = principal.actor
    created = updated = 0
    for row in rows:
        a = existing.get((row.country, row.year))
        if a is None:
            a = Assessment(country_iso3=row.country, subdivision="", year=row.year, framework_id=framework_id,
                           status="draft", published_version=0)
            session.add(a)
            session.flush()
            created += 1
        else:
            updated += 1
        current = {x.indicator_code: x for x in session.execute(
            select(Answer).where(Answer.assessment_id == a.id)).scalars()}
        for code, (phase, why, conf) in row.answers.items():
            ans = current.get(code) or Answer(assessment_id=a.id, indicator_code=code)
            ans.phase, ans.not_available, ans.rationale, ans.confidence = phase, phase is None, why, conf
            session.add(ans)
        session.flush()
        if published:
            a.status = "approved"
            session.flush()
            service.transition(session, principal, a.id, "publish")
            record(session, Change("import-published", "maturity_assessment", str(a.id), None,
                                   {"country": row.country, "year": row.year, "version": a.published_version}),
                   principal.actor)
    return {"rows": len(rows), "created": created, "updated": updated}


def import_file(session: Session, principal: Principal, data: bytes, fmt: str = "gdhm-csv",
                published: bool = False, framework_id: str = service.DEFAULT_FRAMEWORK) -> dict[str, int]:
    if fmt not in FORMATS:
        raise ValidationFailed(_("Unknown format; use %(formats)s.", formats=", ".join(FORMATS)),
                               errors=[FieldError("format", fmt[:20])])
    if fmt == "json":
        framework_id, rows = parse_json(session, data)
    elif fmt == "xlsx":
        rows = parse_gdhm_xlsx(session, data, framework_id)
    else:
        rows = parse_gdhm_csv(session, data, framework_id)
    return import_rows(session, principal, rows, framework_id, published)


def export_rows(session: Session, principal: Principal, framework_id: str = service.DEFAULT_FRAMEWORK,
                country: str | None = None, year: int | None = None) -> list[tuple[Assessment, dict[str, Any]]]:
    """Published answers for everyone; a user who may read unpublished data gets the current ones."""
    out = []
    rows, _total = service.list_assessments(session, principal, country=country, year=year, limit=1_000_000)
    for a in rows:
        if a.framework_id != framework_id or a.subdivision:
            continue
        if service.can(principal, "unpublished.read", Target(country_iso3=a.country_iso3,
                                                             region_code=reference.region_of(session, a.country_iso3))):
            answers = {x.indicator_code: {"phase": x.phase, "rationale": x.rationale, "confidence": x.confidence}
                       for x in session.execute(select(Answer).where(Answer.assessment_id == a.id)).scalars()}
        else:
            pv = service.published_versions(session, a.id)
            answers = json.loads(pv[-1].snapshot)["answers"] if pv else {}
        out.append((a, answers))
    return out


def gdhm_table(session: Session, principal: Principal, framework_id: str = service.DEFAULT_FRAMEWORK,
               country: str | None = None, year: int | None = None) -> tuple[list[str], list[list[Any]]]:
    """The GDHM layout: core indicators in framework order, then sub-indicators; a phase as a
    number, NA for not available, blanks for no answer."""
    codes = service.indicator_codes(session, framework_id)
    header = ["Country ISO3", "Year", *[c for code in codes for c in (f"Indicator {code} Score",
                                                                       f"Enter Indicator {code} justification")]]
    rows: list[list[Any]] = []
    for a, answers in export_rows(session, principal, framework_id, country, year):
        line: list[Any] = [a.country_iso3, a.year]
        for code in codes:
            ans = answers.get(code)
            if ans is None:
                line += ["", ""]
            else:
                line += ["NA" if ans["phase"] is None else ans["phase"], ans.get("rationale", "")]
        rows.append(line)
    return header, rows


def export_gdhm_csv(session: Session, principal: Principal, framework_id: str = service.DEFAULT_FRAMEWORK,
                    country: str | None = None, year: int | None = None) -> str:
    header, rows = gdhm_table(session, principal, framework_id, country, year)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def export_xlsx(session: Session, principal: Principal, framework_id: str = service.DEFAULT_FRAMEWORK,
                country: str | None = None, year: int | None = None, when: datetime | None = None) -> bytes:
    header, rows = gdhm_table(session, principal, framework_id, country, year)
    return xlsx.write_table(header, rows, when=when)


def export_json(session: Session, principal: Principal, framework_id: str = service.DEFAULT_FRAMEWORK,
                country: str | None = None, year: int | None = None) -> dict[str, Any]:
    return {"framework": framework_id, "assessments": [
        {"country": a.country_iso3, "year": a.year, "status": a.status, "published_version": a.published_version,
         "answers": {code: {k: v for k, v in ans.items() if k in ("phase", "rationale", "confidence")}
                     for code, ans in answers.items()}}
        for a, answers in export_rows(session, principal, framework_id, country, year)]}

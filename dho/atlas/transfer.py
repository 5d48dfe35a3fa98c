"""Bulk import and export of atlas records (implementations and investments).

Formats: our own layout as CSV or XLSX (one row per record, the columns of ``IMPLEMENTATION_COLUMNS``
or ``INVESTMENT_COLUMNS``), JSON (a list of objects in the shape of the API's input models), and
the Digital Health Atlas export layout (``dha``, CSV or XLSX; see docs/atlas-import.md).

Every row goes through the same validation as a record entered by hand: the pydantic input model,
then the service's checks (organisations, codes, dates, rates, permissions), then the duplicate
rules. Errors name the row and the column. By default an import with any error writes nothing;
with ``valid_only`` the valid rows are written and the rejected ones come back as a CSV file (the
original columns and an ``errors`` column). A permission denial on any row refuses the whole file.

Free-text organisation names of the DHA layout are matched to the master list; names that match
no organisation, or several, are returned for review with candidates, and nothing is written until
a second call brings the reviewer's choices (an organisation id, or ``"new"``)."""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dho.accounts.models import Organisation
from dho.accounts.permissions import Principal, can
from dho.atlas import service
from dho.atlas.models import STAGES, Implementation, Investment, Solution
from dho.atlas.schemas import ClassificationIn, ImplementationIn, InvestmentIn
from dho.errors import FieldError, Forbidden, PayloadTooLarge, ValidationFailed
from dho.i18n import _
from dho.maturity import xlsx
from dho.reference.loader import fold
from dho.reference.models import ClassificationCode, Country
from dho.validation import field_errors

MAX_BYTES = 20_000_000
MAX_ROWS = 20_000
FORMATS = ("csv", "xlsx", "json", "dha")
EXPORT_FORMATS = ("csv", "xlsx", "json")
ENTITIES = ("implementations", "investments")
IGNORE = "-"  # map a column to this to skip it
NEW = "new"  # a reviewer's choice: add the name to the organisation master list

Progress = Callable[[int, int], None]

# Our own layout. Lists of codes are separated by semicolons; nested records are JSON in the cell.
IMPLEMENTATION_COLUMNS = (
    "id", "name", "country_iso3", "description", "stage", "stage_history", "start_date", "end_date", "openness",
    "licence", "government_ownership", "owner_org_id", "owner_org", "organisations", "solutions", "classifications",
    "standards", "interop", "health_focus", "coverage", "contacts", "status",
)
INVESTMENT_COLUMNS = (
    "id", "title", "funder_org_id", "recipient_org_id", "country_iso3", "amount", "currency", "kind", "committed_on",
    "period_start", "period_end", "owner_org_id", "disbursements", "targets", "status",
)
INFO_ONLY = frozenset({"id", "owner_org", "status"})  # written by the export, ignored on import
REQUIRED = {
    "implementations": ("name", "country_iso3", "stage"),
    "investments": ("title", "funder_org_id", "country_iso3", "amount", "currency", "kind", "committed_on",
                    "period_start", "period_end"),
}
CODE_LISTS = frozenset({"standards", "interop", "health_focus", "solutions"})
JSON_CELLS = frozenset({"stage_history", "coverage", "contacts", "disbursements", "targets"})

# The Digital Health Atlas export layout: source column -> our DHA field (header matched without
# regard to case, accents, spaces or punctuation).
DHA_FIELDS = ("name", "country", "description", "stage", "start_date", "end_date", "lead_organisation",
              "implementers", "funders", "dhi_2018", "system_categories_2018", "health_focus", "software",
              "contact_name", "contact_email", "licence")
DHA_COLUMNS = {
    "Project Name": "name", "Name": "name", "Country": "country", "Overview": "description",
    "Description": "description", "Phase": "stage", "Stage": "stage", "Start Date": "start_date",
    "End Date": "end_date", "Organisation": "lead_organisation", "Organisation Name": "lead_organisation",
    "Implementing Partners": "implementers", "Partners": "implementers", "Donors": "funders",
    "Funders": "funders", "Digital Health Interventions": "dhi_2018", "DHI": "dhi_2018",
    "Health System Categories": "system_categories_2018", "Software Categories": "system_categories_2018",
    "System Categories": "system_categories_2018", "Health Focus Areas": "health_focus",
    "Health Focus": "health_focus", "Software": "software", "Contact Name": "contact_name",
    "Contact Email": "contact_email", "Licence": "licence", "License": "licence",
}
STAGE_WORDS = {
    "opportunity": "opportunity", "preparation": "preparation", "analysis and design": "analysis_design",
    "analysis design": "analysis_design", "design": "analysis_design", "planning": "implementation_planning",
    "implementation planning": "implementation_planning", "development": "development", "pilot": "piloting",
    "piloting": "piloting", "packaging and advocacy": "packaging_advocacy", "advocacy": "packaging_advocacy",
    "deploying": "deploying", "deployment": "deploying", "deployed": "deploying", "scale up": "scaling_up",
    "scaling up": "scaling_up", "scale": "scaling_up", "at scale": "scaling_up", "handed over": "handed_over",
    "handover": "handed_over", "institutionalised": "handed_over", "institutionalized": "handed_over",
}
MONTHS = {
    "jan": 1, "january": 1, "janvier": 1, "feb": 2, "february": 2, "fevrier": 2, "mar": 3, "march": 3, "mars": 3,
    "apr": 4, "april": 4, "avril": 4, "may": 5, "mai": 5, "jun": 6, "june": 6, "juin": 6, "jul": 7, "july": 7,
    "juillet": 7, "aug": 8, "august": 8, "aout": 8, "sep": 9, "sept": 9, "september": 9, "septembre": 9,
    "oct": 10, "october": 10, "octobre": 10, "nov": 11, "november": 11, "novembre": 11, "dec": 12,
    "december": 12, "decembre": 12,
}
DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
DHI_CODE = re.compile(r"(?<![\d.])\d{1,2}\.\d{1,2}(?:\.\d{1,2})?(?![\d.])")
LIST_SPLIT = re.compile(r"[;|\n]")
BODY_RULE_FIELDS = ("end_date", "period_end", "stage", "openness", "government_ownership", "kind", "disbursement",
                    "target", "organisation")


# ---------------------------------------------------------------- results


@dataclass
class RejectedRow:
    where: str
    values: list[str]
    errors: list[FieldError]


@dataclass
class PartnerReview:
    name: str
    reason: str  # unmatched or ambiguous
    rows: list[int]
    candidates: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason, "rows": self.rows, "candidates": self.candidates}


@dataclass
class ImportResult:
    status: str  # "done", or "review": partner names to choose, nothing written
    entity: str
    created: list[int] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    review: list[PartnerReview] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)  # errors known before the review, for information
    new_organisations: list[int] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rejected_csv(self) -> bytes | None:
        """The rejected rows with their original columns and an ``errors`` column."""
        if not self.rejected:
            return None
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([_safe(h) for h in (*self.header, "errors")])
        for r in self.rejected:
            text = "; ".join(f"{e.field}: {e.message}" for e in r.errors)
            w.writerow([_safe(v) for v in (*r.values, text)])
        return buf.getvalue().encode("utf-8")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "entity": self.entity, "created": self.created,
                               "rejected": len(self.rejected), "new_organisations": self.new_organisations,
                               "ignored_columns": self.ignored_columns}
        if self.status == "review":
            out["partners"] = [r.as_dict() for r in self.review]
            out["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        if self.rejected:
            out["rejected_rows"] = [{"where": r.where, "errors": [{"field": e.field, "message": e.message}
                                                                   for e in r.errors]} for r in self.rejected]
            out["rejected_csv"] = (self.rejected_csv or b"").decode("utf-8")
        return out


@dataclass
class _Row:
    """One source row on its way to a record: the values for the input model, and where each
    field came from (to name the column of an error)."""

    n: int
    where: str
    values: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # field -> source column
    items: dict[str, list[str]] = field(default_factory=dict)  # list field -> source column of each item
    errors: list[FieldError] = field(default_factory=list)
    partners: list[tuple[str, str, str]] = field(default_factory=list)  # (name, role, column); DHA only

    def error(self, column: str | None, message: str) -> None:
        self.errors.append(FieldError(f"{self.where}, {column}" if column else self.where, message))

    def locate(self, name: str, message: str = "") -> str | None:
        m = re.match(r"^(\w+)(?:\[(\d+)\]|\.(\d+))?", name)
        if not m:
            return None
        base = m.group(1)
        if base == "body":  # a rule about several fields: the column its message names, else the whole row
            return next((self.columns[f] for f in BODY_RULE_FIELDS if f in self.columns and f in message), None)
        index = int(m.group(2)) - 1 if m.group(2) else int(m.group(3)) if m.group(3) else None
        if index is not None and base in self.items and 0 <= index < len(self.items[base]):
            return self.items[base][index]
        if base == "dates":
            return self.columns.get("start_date") or self.columns.get("stage_history")
        return self.columns.get(base, base)


# ---------------------------------------------------------------- reading files


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # the byte order mark spreadsheet programs write
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ValidationFailed(_("The file is UTF-16 text; save it as CSV UTF-8."))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_("The file is not UTF-8 text (byte %(pos)s); save it as CSV UTF-8.",
                                 pos=exc.start)) from None
    if "\x00" in text:
        raise ValidationFailed(_("The file contains NUL bytes; it is not a CSV text file."))
    return text


def read_csv(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and non-blank rows (numbered as in a spreadsheet). Commas or semicolons separate the
    columns (whichever the header uses more); a leading apostrophe that our export puts before a
    character a spreadsheet would read as a formula is taken off."""
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise ValidationFailed(_("The file is empty: its first row must hold the column names."))
        for n, cells in enumerate(reader, start=2):
            if len(rows) > MAX_ROWS:
                raise ValidationFailed(_("The file has more than %(n)s rows.", n=MAX_ROWS))
            if any(c.strip() for c in cells):
                rows.append((n, [_unquote(c) for c in cells]))
    except csv.Error as exc:
        raise ValidationFailed(_("The file is not valid CSV: %(error)s", error=str(exc))) from None
    return [h.strip() for h in header], rows


def _unquote(cell: str) -> str:
    return cell[1:] if cell[:1] == "'" and cell[1:2] and cell[1:2] in DANGEROUS_START else cell


def read_xlsx(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    header, rows = xlsx.read_table(data, max_rows=MAX_ROWS)  # refuses zip bombs, entities, huge rows
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(_("The file has more than %(n)s rows.", n=MAX_ROWS))
    return [h.strip() for h in header], [(n, [str(v) for v in values]) for n, values in rows]


def _read_table(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    return read_xlsx(data) if data.startswith((b"PK\x03\x04", xlsx.OLE_MAGIC)) else read_csv(data)


def _header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", fold(name))


# ---------------------------------------------------------------- our layout


def _columns(entity: str) -> tuple[str, ...]:
    return IMPLEMENTATION_COLUMNS if entity == "implementations" else INVESTMENT_COLUMNS


def _plan(header: list[str], mapping: dict[str, str] | None, known: Iterable[str], defaults: dict[str, str],
          strict: bool) -> tuple[dict[int, str], list[FieldError], list[str]]:
    """Index -> field for each column, errors of the header, ignored columns."""
    known = set(known)
    given = {_header_key(k): v.strip() for k, v in (mapping or {}).items()}
    default_keys = {_header_key(k): v for k, v in defaults.items()}
    plan: dict[int, str] = {}
    errors: list[FieldError] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for target in given.values():
        if target not in known and target not in (IGNORE, ""):
            errors.append(FieldError("mapping", _("%(field)s is not a field of this layout", field=target[:40])))
    for i, name in enumerate(header):
        where = _("column %(n)s (%(name)s)", n=i + 1, name=name[:60])
        key = _header_key(name)
        target = given.get(key, default_keys.get(key))
        if target in (IGNORE, ""):
            ignored.append(name)
            continue
        if target is None:
            if strict:
                errors.append(FieldError(where, _("is not a column of the layout; map it to a field, or to - to "
                                                  "ignore it")))
            else:
                ignored.append(name)
            continue
        if target not in known:
            continue  # reported above
        if target in seen:
            errors.append(FieldError(where, _("gives %(field)s again (column %(first)s)", field=target,
                                              first=seen[target][:60])))
            continue
        seen[target] = name
        plan[i] = target
    return plan, errors, ignored


def _own_row(entity: str, n: int, where: str, values: list[str], header: list[str], plan: dict[int, str]) -> _Row:
    row = _Row(n, where, values)
    for i, target in plan.items():
        if target in INFO_ONLY:
            continue
        column = header[i]
        row.columns[target] = column
        value = values[i].strip() if i < len(values) else ""
        if not value:
            continue
        if target in JSON_CELLS:
            try:
                row.data[target] = json.loads(value)
            except json.JSONDecodeError as exc:
                row.error(column, _("is not valid JSON: %(error)s", error=exc.msg))
        elif target in CODE_LISTS:
            row.data[target] = [v.strip() for v in value.split(";") if v.strip()]
        elif target == "organisations":
            orgs = []
            for part in (p.strip() for p in value.split(";")):
                if not part:
                    continue
                org_id, _sep, role = part.partition(":")
                if not org_id.strip().isdigit() or not role.strip():
                    row.error(column, _("write each organisation as id:role (for example 12:implementer)"))
                    break
                orgs.append({"organisation_id": int(org_id), "role": role.strip()})
            row.data[target] = orgs
        elif target == "classifications":
            codes = []
            for part in (p.strip() for p in value.split(";")):
                if not part:
                    continue
                scheme, sep, code = part.rpartition(":")
                if not sep or not scheme.strip() or not code.strip():
                    row.error(column, _("write each code as scheme:code (for example cdisah2023-dhi:1.1.1)"))
                    break
                codes.append({"scheme": scheme.strip(), "code": code.strip()})
            row.data[target] = codes
        else:
            row.data[target] = value
    return row


def _json_rows(data: bytes, entity: str, mapping: dict[str, str] | None) -> list[_Row]:
    text = _decode(data)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(_("The file is not valid JSON: %(error)s (line %(line)s).", error=exc.msg,
                                 line=exc.lineno)) from None
    if isinstance(doc, dict) and isinstance(doc.get(entity), list):
        doc = doc[entity]
    if not isinstance(doc, list):
        raise ValidationFailed(_("The JSON must be a list of records."))
    if len(doc) > MAX_ROWS:
        raise ValidationFailed(_("The file has more than %(n)s rows.", n=MAX_ROWS))
    rename = {k: v for k, v in (mapping or {}).items()}
    rows = []
    for n, item in enumerate(doc, start=1):
        where = _("record %(n)s", n=n)
        row = _Row(n, where, [json.dumps(item, ensure_ascii=False)[:100_000]])
        if not isinstance(item, dict):
            row.error(None, _("is not an object"))
        else:
            for k, v in item.items():
                k = rename.get(k, k)
                if k in INFO_ONLY or k == IGNORE:
                    continue
                row.data[k] = v
                row.columns[k] = k
        rows.append(row)
    return rows


# ---------------------------------------------------------------- the DHA layout


def parse_loose_date(text: str) -> dt.date:
    """A date as people type it: 2019-03-15, 2019-03, 2019, March 2019, 15 March 2019, March 15,
    2019, 03/2019, 15/03/2019 (day first; refused when the day could be the month). A month or a year
    alone means its first day."""
    t = fold(text).strip().replace(",", " ")
    t = re.sub(r"\s+", " ", t)
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ].*)?", t):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})", t):
            return dt.date(int(m[1]), int(m[2]), 1)
        if m := re.fullmatch(r"(\d{4})", t):
            return dt.date(int(m[1]), 1, 1)
        if m := re.fullmatch(r"(\d{1,2})[/.](\d{4})", t):
            return dt.date(int(m[2]), int(m[1]), 1)
        if m := re.fullmatch(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})", t):
            day, month = int(m[1]), int(m[2])
            if day <= 12 and month <= 12 and day != month:
                raise ValueError(_("%(value)s could be day/month or month/day; write it as YYYY-MM-DD",
                                   value=text[:30]))
            if month > 12:
                day, month = month, day
            return dt.date(int(m[3]), month, day)
        if m := re.fullmatch(r"(?:(\d{1,2}) )?([a-z]+)\.? (?:(\d{1,2}) )?(\d{4})", t):
            month = MONTHS.get(m[2])
            if month:
                return dt.date(int(m[4]), month, int(m[1] or m[3] or 1))
    except ValueError as exc:
        if "YYYY" in str(exc):
            raise
        raise ValueError(_("%(value)s is not a real date", value=text[:30])) from None
    raise ValueError(_("%(value)s is not a date (write 2019-03-15, 2019-03, March 2019 or 2019)", value=text[:30]))


class _Lookups:
    """The reference lists the DHA reading matches free text against, loaded once per import."""

    def __init__(self, session: Session):
        self.session = session
        self.countries: dict[str, str] = {}
        for c in session.execute(select(Country)).scalars():
            for key in (c.iso3, c.iso2, c.name, c.name_fr):
                if key:
                    self.countries.setdefault(_header_key(key), c.iso3)
        self.focus: dict[str, str] = {}
        for t in service.terms(session, "health_focus"):
            for key in (t.code, t.label_en, t.label_fr):
                self.focus.setdefault(_header_key(key), t.code)
        self.categories: dict[str, str] = {}
        for code, name in session.execute(select(ClassificationCode.code, ClassificationCode.name).where(
                ClassificationCode.scheme == "cdhi2018-sc")):
            self.categories[_header_key(name)] = code
        self.solutions = {_header_key(name): sid for sid, name in session.execute(
            select(Solution.id, Solution.name))}



def _looked_up(row: Any, column: str, parts: list[str], table: dict[str, Any], message: str) -> list[Any]:
    """The list entries named in a cell, each found in ``table`` by its folded name; an unknown one is a
    row error naming it (``message`` holds ``%(value)s``, already translated)."""
    found = []
    for part in (p.strip() for p in parts):
        if part:
            value = table.get(_header_key(part))
            if value is None:
                row.error(column, message % {"value": part[:60]})
            else:
                found.append(value)
    return list(dict.fromkeys(found))


def _dha_row(n: int, values: list[str], header: list[str], plan: dict[int, str], lookups: _Lookups,
             principal: Principal) -> _Row:
    row = _Row(n, _("row %(n)s", n=n), values)
    cell: dict[str, tuple[str, str]] = {}
    for i, target in plan.items():
        cell[target] = (header[i], values[i].strip() if i < len(values) else "")
    for target, (column, _v) in cell.items():
        row.columns[target] = column
    data = row.data

    def take(target: str) -> tuple[str, str]:
        return cell.get(target, ("", ""))

    column, value = take("name")
    data["name"] = value
    row.columns["name"] = column or "name"
    column, value = take("country")
    row.columns["country_iso3"] = column or "country"
    if value:
        iso3 = lookups.countries.get(_header_key(value))
        if iso3 is None:
            row.error(column, _("%(value)s is not a country name or code", value=value[:60]))
        else:
            data["country_iso3"] = iso3
    else:
        row.error(column or "country", _("is required"))
    column, value = take("description")
    if value:
        data["description"] = value
    column, value = take("stage")
    row.columns["stage"] = column or "stage"
    if value:
        key = re.sub(r"[^a-z]+", " ", fold(value)).strip()
        stage = STAGE_WORDS.get(key) or (key.replace(" ", "_") if key.replace(" ", "_") in STAGES else None)
        if stage is None:
            row.error(column, _("%(value)s is not a stage; use one of %(stages)s", value=value[:40],
                                stages=", ".join(STAGES)))
        else:
            data["stage"] = stage
    else:
        row.error(column or "stage", _("is required"))
    for target in ("start_date", "end_date"):
        column, value = take(target)
        if value:
            try:
                data[target] = parse_loose_date(value).isoformat()
            except ValueError as exc:
                row.error(column, str(exc))
    column, value = take("licence")
    if value:
        data["licence"] = value
    codes: list[dict[str, str]] = []
    origin: list[str] = []
    column, value = take("dhi_2018")
    found = DHI_CODE.findall(value)
    if value and not found:
        row.error(column, _("no 2018 intervention code (like 2.1.1) in %(value)s", value=value[:60]))
    for code in dict.fromkeys(found):
        codes.append({"scheme": "cdhi2018-dhi", "code": code})
        origin.append(column)
    column, value = take("system_categories_2018")
    for part in (p.strip() for p in re.split(r"[;,|\n]", value)):
        if not part:
            continue
        m = re.match(r"^([A-Z]{1,2})(?:$|\s*[-:.)]\s*|\s+)", part)
        code = m.group(1) if m else lookups.categories.get(_header_key(part))
        if code is None:
            row.error(column, _("%(value)s is not a 2018 system category", value=part[:60]))
            continue
        codes.append({"scheme": "cdhi2018-sc", "code": code})
        origin.append(column)
    data["classifications"] = codes
    row.items["classifications"] = origin
    found_errors: list[FieldError] = []  # unknown codes, reported now with the other cells of the row
    service.resolve_codes(lookups.session, [ClassificationIn(**c) for c in codes], found_errors)
    for e in found_errors:
        row.error(row.locate(e.field), e.message)
    column, value = take("health_focus")
    data["health_focus"] = _looked_up(row, column, re.split(r"[;,|\n]", value), lookups.focus,
                                      _("%(value)s is not a health focus area of the list"))
    row.columns["health_focus"] = column
    column, value = take("software")
    data["solutions"] = _looked_up(row, column, LIST_SPLIT.split(value), lookups.solutions,
                                   _("%(value)s is not a registered solution; register it first"))
    row.columns["solutions"] = column
    name_col, contact = take("contact_name")
    email_col, email = take("contact_email")
    if contact or email:
        data["contacts"] = [{"name": contact or email, **({"email": email} if email else {})}]
        row.columns["contacts"] = name_col or email_col
    column, value = take("lead_organisation")
    row.columns["owner_org_id"] = column or "organisation"
    if value:
        row.partners.append((value, "owner", column))
    elif service.default_owner(principal) is None:
        row.error(column or "organisation", _("is required"))
    for target, role in (("implementers", "implementer"), ("funders", "funder")):
        column, value = take(target)
        for part in (p.strip() for p in LIST_SPLIT.split(value)):
            if part:
                row.partners.append((part, role, column))
    return row


def _org_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", fold(name)).strip()


class _Matcher:
    def __init__(self, session: Session):
        self.orgs = list(session.execute(select(Organisation).order_by(Organisation.id)).scalars())
        self.by_name: dict[str, list[Organisation]] = {}
        self.by_acronym: dict[str, list[Organisation]] = {}
        for o in self.orgs:
            self.by_name.setdefault(_org_key(o.name), []).append(o)
            if o.acronym:
                self.by_acronym.setdefault(_org_key(o.acronym), []).append(o)

    def match(self, name: str) -> list[Organisation]:
        key = _org_key(name)
        found = self.by_name.get(key) or self.by_acronym.get(key)
        if not found and (m := re.fullmatch(r"(.+?)\s*\(([^()]+)\)\s*", name)):  # "Full Name (ACRONYM)"
            found = self.by_name.get(_org_key(m.group(1))) or self.by_acronym.get(_org_key(m.group(2)))
        return list({o.id: o for o in found or []}.values())

    def candidates(self, name: str, limit: int = 5) -> list[Organisation]:
        key = _org_key(name)
        words = set(key.split())
        scored = []
        for o in self.orgs:
            okey = _org_key(o.name)
            ratio = difflib.SequenceMatcher(None, key, okey).ratio()
            overlap = len(words & set(okey.split())) / max(len(words), 1)
            if o.acronym and _org_key(o.acronym) in words:
                overlap = 1.0
            score = max(ratio, overlap)
            if score >= 0.6:
                scored.append((-score, o.id, o))
        return [o for _s, _i, o in sorted(scored)[:limit]]


def _org_dict(o: Organisation) -> dict[str, Any]:
    return {"id": o.id, "name": o.name, "acronym": o.acronym, "country_iso3": o.country_iso3}


def _resolve_partners(session: Session, rows: list[_Row], choices: dict[str, Any]
                      ) -> tuple[dict[str, int | str], list[PartnerReview]]:
    """Each partner name's organisation id (or NEW), and the names still to review."""
    matcher = _Matcher(session)
    chosen = {_org_key(k): v for k, v in choices.items()}
    resolved: dict[str, int | str] = {}
    review: dict[str, PartnerReview] = {}
    for row in rows:
        for name, _role, _col in row.partners:
            key = _org_key(name)
            if key in resolved:
                continue
            if key in review:
                if row.n not in review[key].rows:
                    review[key].rows.append(row.n)
                continue
            choice = chosen.get(key)
            if choice is not None:
                if choice == NEW:
                    resolved[key] = NEW
                elif str(choice).isdigit() and not isinstance(choice, bool) and 0 < int(choice) < 2**31:
                    if session.get(Organisation, int(choice)) is None:
                        raise ValidationFailed(_("The review names an organisation that does not exist."),
                                               errors=[FieldError(name[:100], _("no organisation %(id)s in the "
                                                                                "master list", id=choice))])
                    resolved[key] = int(choice)
                else:
                    raise ValidationFailed(_("The review's choices are not valid."), errors=[FieldError(
                        name[:100], _("choose an organisation id or %(new)s", new=NEW))])
                continue
            found = matcher.match(name)
            if len(found) == 1:
                resolved[key] = found[0].id
            else:
                reason = "ambiguous" if found else "unmatched"
                candidates = found or matcher.candidates(name)
                review[key] = PartnerReview(name, reason, [row.n], [_org_dict(o) for o in candidates])
    return resolved, list(review.values())


def _apply_partners(session: Session, principal: Principal, rows: list[_Row],
                    resolved: dict[str, int | str]) -> list[int]:
    """Add the chosen new organisations, then put the organisation ids into the rows."""
    from dho.accounts import service as accounts

    created: dict[str, int] = {}
    names = {_org_key(n): n for row in rows for n, _r, _c in row.partners}
    for key, choice in resolved.items():
        if choice == NEW and key in names:
            org = accounts.create_organisation(session, principal, {"name": names[key].strip()[:200],
                                                                     "kind": "other"})
            created[key] = org.id
    for row in rows:
        orgs: list[dict[str, Any]] = []
        origin: list[str] = []
        for name, role, column in row.partners:
            key = _org_key(name)
            org_id = created.get(key) or resolved.get(key)
            if not isinstance(org_id, int):
                continue
            if role == "owner":
                row.data["owner_org_id"] = org_id
                role = "implementer"
            if not any(o["organisation_id"] == org_id and o["role"] == role for o in orgs):
                orgs.append({"organisation_id": org_id, "role": role})
                origin.append(column)
        row.data["organisations"] = orgs
        row.items["organisations"] = origin
    return list(created.values())


# ---------------------------------------------------------------- validation and writing


def _validate(session: Session, principal: Principal, entity: str, row: _Row, seen: dict[tuple[Any, ...], int]
              ) -> tuple[Any, bool]:
    """The row's input model if it is valid (else None, with its errors in the row), and whether
    the principal was refused."""
    model = ImplementationIn if entity == "implementations" else InvestmentIn
    if entity == "implementations" and not row.data.get("owner_org_id"):
        owner = service.default_owner(principal)
        if owner:
            row.data["owner_org_id"] = owner
    if row.errors and not row.data:
        return None, False
    known = {e.field for e in row.errors}  # cells the reading refused already: not reported twice
    try:
        data = model.model_validate(row.data)
    except ValidationError as exc:
        for e in field_errors(exc):
            column = row.locate(e.field, e.message)
            if (f"{row.where}, {column}" if column else row.where) not in known:
                row.error(column, e.message)
        return None, False
    if row.errors:
        return None, False
    if entity == "implementations":
        owner = data.owner_org_id
    else:
        owner = data.owner_org_id or service.default_owner(principal) or data.funder_org_id
    if not can(principal, "partner_data.edit", service.target_for(session, data.country_iso3, owner)):
        row.error(row.locate("owner_org_id"), _("you may not register records of organisation %(org)s in "
                                                "%(country)s", org=owner, country=data.country_iso3))
        return None, True
    try:
        if entity == "implementations":
            service._check_implementation(session, data)
        else:
            service._check_investment(session, data)
    except ValidationFailed as exc:
        for e in exc.errors:
            row.error(row.locate(e.field), e.message)
        return None, False
    if entity == "implementations":
        key: tuple[Any, ...] = (data.country_iso3, data.owner_org_id, data.name.lower())
        same = session.execute(select(Implementation.id).where(
            Implementation.country_iso3 == data.country_iso3,
            Implementation.owner_org_id == data.owner_org_id,
            func.lower(Implementation.name) == data.name.lower(),
            Implementation.merged_into_id.is_(None))).first()
        column = row.locate("name")
    else:
        key = (data.funder_org_id, data.country_iso3, data.committed_on, data.title.lower(), str(data.amount),
               data.currency.upper())
        same = session.execute(select(Investment.id).where(
            Investment.funder_org_id == data.funder_org_id, Investment.country_iso3 == data.country_iso3,
            Investment.committed_on == data.committed_on, func.lower(Investment.title) == data.title.lower(),
            Investment.currency == data.currency.upper())).first()
        if same:
            existing = session.get(Investment, same[0])
            from dho.atlas import money

            try:
                if existing is None or existing.amount != money.parse_amount(data.amount):
                    same = None
            except ValidationFailed:
                same = None
        column = row.locate("title")
    if same:
        row.error(column, _("is registered already (record %(id)s)", id=same[0]))
        return None, False
    if key in seen:
        row.error(column, _("repeats row %(first)s", first=seen[key]))
        return None, False
    seen[key] = row.n
    return data, False


def _run(session: Session, principal: Principal, entity: str, header: list[str], rows: list[_Row],
         valid_only: bool, progress: Progress | None, result: ImportResult, resolved: dict[str, int | str] | None
         ) -> ImportResult:
    total = len(rows)
    result.header = header
    with session.begin_nested():  # rolled back, new organisations too, by any error raised here
        if resolved is not None:
            result.new_organisations = _apply_partners(session, principal, rows, resolved)
        checked: list[tuple[_Row, Any]] = []
        denied: list[FieldError] = []
        seen: dict[tuple[Any, ...], int] = {}
        for done, row in enumerate(rows, start=1):
            data, refused = _validate(session, principal, entity, row, seen)
            if refused:
                denied.extend(row.errors)
            checked.append((row, data))
            if progress:
                progress(done, total * 2)
        if denied:
            raise Forbidden(_("You may not import some of these rows; nothing was imported."), errors=denied)
        errors = [e for row, _d in checked for e in row.errors]
        if errors and not valid_only:
            raise ValidationFailed(_("Some rows are not valid; nothing was imported."), errors=errors)
        create = service.create_implementation if entity == "implementations" else service.create_investment
        for done, (row, data) in enumerate(checked, start=1):
            if data is None:
                result.rejected.append(RejectedRow(row.where, row.values, row.errors))
            else:
                result.created.append(create(session, principal, data).id)
            if progress:
                progress(total + done, total * 2)
    return result


def import_file(session: Session, principal: Principal, data: bytes, fmt: str = "csv",
                entity: str = "implementations", *, mapping: dict[str, str] | None = None, valid_only: bool = False,
                partners: dict[str, Any] | None = None, progress: Progress | None = None) -> ImportResult:
    """Import records from a file. Raises ValidationFailed (422) with every error by row and column,
    Forbidden (403) when a row belongs to an organisation the principal may not edit; returns a
    result with status "review" (nothing written) when DHA partner names need a reviewer's choice."""
    if fmt not in FORMATS:
        raise ValidationFailed(_("Unknown format; use %(formats)s.", formats=", ".join(FORMATS)),
                               errors=[FieldError("format", fmt[:20])])
    if entity not in ENTITIES or (fmt == "dha" and entity != "implementations"):
        raise ValidationFailed(_("Unknown kind of record; use implementations or investments (the DHA layout holds "
                                 "implementations only)."), errors=[FieldError("entity", entity[:20])])
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(_("The file is larger than %(n)s MB.", n=MAX_BYTES // 1_000_000))
    if not data.strip():
        raise ValidationFailed(_("The file is empty."))
    result = ImportResult("done", entity)
    if fmt == "json":
        rows = _json_rows(data, entity, mapping)
        return _run(session, principal, entity, ["record"], rows, valid_only, progress, result, None)
    if fmt == "dha":
        header, records = _read_table(data)
        plan, errors, result.ignored_columns = _plan(header, mapping, DHA_FIELDS, DHA_COLUMNS, strict=False)
        if not any(f == "name" for f in plan.values()):
            errors.append(FieldError("header", _("no column gives the project name (map one with name)")))
        if errors:
            raise ValidationFailed(_("The file's columns are not understood; nothing was imported."), errors=errors)
        lookups = _Lookups(session)
        rows = [_dha_row(n, values, header, plan, lookups, principal) for n, values in records]
        resolved, review = _resolve_partners(session, rows, partners or {})
        if review:
            result.status, result.review, result.header = "review", review, header
            result.errors = [e for row in rows for e in row.errors]
            return result
        return _run(session, principal, entity, header, rows, valid_only, progress, result, resolved)
    header, records = read_xlsx(data) if fmt == "xlsx" else read_csv(data)
    plan, errors, result.ignored_columns = _plan(header, mapping, _columns(entity),
                                                 {c: c for c in _columns(entity)}, strict=True)
    for needed in REQUIRED[entity]:
        if needed not in plan.values():
            errors.append(FieldError("header", _("the column %(name)s is missing", name=needed)))
    if errors:
        raise ValidationFailed(_("The file's columns are not our layout; nothing was imported."), errors=errors)
    rows = [_own_row(entity, n, _("row %(n)s", n=n), values, header, plan) for n, values in records]
    for row in rows:
        if len(row.values) > len(header) and any(v.strip() for v in row.values[len(header):]):
            row.error(None, _("has %(got)s values for %(want)s columns", got=len(row.values), want=len(header)))
    return _run(session, principal, entity, header, rows, valid_only, progress, result, None)


# ---------------------------------------------------------------- export


def implementation_record(session: Session, principal: Principal, impl: Any) -> dict[str, Any]:
    """An implementation in the shape of ImplementationIn (plus its id, owner's name and status):
    converted 2018 codes are given as the original code, which converts to the same 2023 codes."""
    d = service.implementation_detail(session, principal, impl)
    codes: list[dict[str, str]] = []
    for c in d["classifications"]:
        item = {"scheme": c["original_scheme"], "code": c["original_code"]} if c["original_code"] else \
            {"scheme": c["scheme"], "code": c["code"]}
        if item not in codes:
            codes.append(item)
    return {
        "id": d["id"], "name": d["name"], "country_iso3": d["country_iso3"], "description": d["description"],
        "stage": d["stage"], "stage_history": d["stage_history"], "start_date": d["start_date"],
        "end_date": d["end_date"], "openness": d["openness"], "licence": d["licence"],
        "government_ownership": d["government_ownership"], "owner_org_id": d["owner_org_id"],
        "owner_org": d["owner_org_name"],
        "organisations": sorted(({"organisation_id": o["organisation_id"], "role": o["role"]}
                                 for o in d["organisations"]), key=lambda o: (o["organisation_id"], o["role"])),
        "solutions": sorted(s["id"] for s in d["solutions"]),
        "classifications": sorted(codes, key=lambda c: (c["scheme"], c["code"])),
        "standards": sorted(d["standards"]), "interop": sorted(d["interop"]), "health_focus": sorted(d["health_focus"]),
        "coverage": d["coverage"], "contacts": d.get("contacts", []), "status": d["status"],
    }


def investment_record(session: Session, inv: Investment) -> dict[str, Any]:
    d = service.investment_detail(session, inv)
    return {
        "id": d["id"], "title": d["title"], "funder_org_id": d["funder_org_id"],
        "recipient_org_id": d["recipient_org_id"], "country_iso3": d["country_iso3"], "amount": d["amount"],
        "currency": d["currency"], "kind": d["kind"], "committed_on": d["committed_on"],
        "period_start": d["period_start"], "period_end": d["period_end"], "owner_org_id": d["owner_org_id"],
        "disbursements": d["disbursements"],
        "targets": [{k: v for k, v in t.items() if v is not None} for t in d["targets"]], "status": d["status"],
    }


def records(session: Session, principal: Principal, entity: str = "implementations") -> list[dict[str, Any]]:
    """The records the principal may see (published ones for everyone)."""
    if entity == "implementations":
        rows, _total = service.list_implementations(session, principal, limit=1_000_000)
        return [implementation_record(session, principal, r) for r in rows if service.may_read(session, principal, r)]
    if entity == "investments":
        invs = session.execute(select(Investment).order_by(Investment.country_iso3, Investment.id)).scalars()
        return [investment_record(session, i) for i in invs if service.may_read(session, principal, i)]
    raise ValidationFailed(_("Unknown kind of record; use implementations or investments."),
                           errors=[FieldError("entity", entity[:20])])


def _cell(name: str, value: Any) -> Any:
    if value is None:
        return ""
    if name in JSON_CELLS:
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    if name in CODE_LISTS:
        return "; ".join(str(v) for v in value)
    if name == "organisations":
        return "; ".join(f"{o['organisation_id']}:{o['role']}" for o in value)
    if name == "classifications":
        return "; ".join(f"{c['scheme']}:{c['code']}" for c in value)
    return value


def table(session: Session, principal: Principal, entity: str = "implementations"
          ) -> tuple[list[str], list[list[Any]]]:
    header = list(_columns(entity))
    return header, [[_cell(c, r.get(c)) for c in header] for r in records(session, principal, entity)]


def _safe(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting with = + - @ or a tab gets an apostrophe
    (which our CSV reading takes off again)."""
    return "'" + value if isinstance(value, str) and value.startswith(DANGEROUS_START) else value


def export_csv(session: Session, principal: Principal, entity: str = "implementations") -> bytes:
    header, rows = table(session, principal, entity)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([_safe(v) for v in row] for row in rows)
    return buf.getvalue().encode("utf-8")


def export_json(session: Session, principal: Principal, entity: str = "implementations") -> bytes:
    items = [{k: v for k, v in r.items() if k not in ("owner_org", "status")} for r in records(session, principal,
                                                                                                entity)]
    return json.dumps(items, ensure_ascii=False, indent=1).encode("utf-8")


def export_xlsx(session: Session, principal: Principal, entity: str = "implementations") -> bytes:
    """One sheet named after the records; every text cell is stored as text (never a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    header, rows = table(session, principal, entity)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(entity)
    for i, name in enumerate(header, start=1):
        ws.column_dimensions[get_column_letter(i)].width = 40 if name in ("name", "title", "description") else 16
    ws.freeze_panes = "A2"
    bold = Font(bold=True)

    def cell(value: Any, font: Font | None = None) -> Any:
        if value is None or value == "":
            return None
        c = WriteOnlyCell(ws)
        if isinstance(value, int) and not isinstance(value, bool):
            c.value = value
        else:
            c.value = xlsx.CONTROL.sub("\ufffd", str(value))[:32_767]
            c.data_type = "s"  # text, whatever it starts with
        if font is not None:
            c.font = font
        return c

    ws.append([cell(h, bold) for h in header])
    for row in rows:
        ws.append([cell(v) for v in row])
    wb.properties.creator = "Digital Health Observatory"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "xlsx": xlsx.MEDIA_TYPE}


def export(session: Session, principal: Principal, fmt: str = "csv", entity: str = "implementations") -> bytes:
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(_("Unknown format; use %(formats)s.", formats=", ".join(EXPORT_FORMATS)),
                               errors=[FieldError("format", fmt[:20])])
    if entity not in ENTITIES:
        raise ValidationFailed(_("Unknown kind of record; use implementations or investments."),
                               errors=[FieldError("entity", entity[:20])])
    return {"csv": export_csv, "json": export_json, "xlsx": export_xlsx}[fmt](session, principal, entity)


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """``["Source column=field", ...]`` as a mapping (for the CLI and the API)."""
    out: dict[str, str] = {}
    for item in items:
        source, sep, target = item.rpartition("=")
        if not sep or not source.strip():
            raise ValidationFailed(_("Write a column mapping as column=field."), errors=[FieldError("map",
                                                                                               item[:80])])
        out[source.strip()] = target.strip()
    return out

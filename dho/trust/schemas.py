"""Schema validation of health-certificate payloads: the published EU DCC schema (1.3.3) and our schema for
the WHO DDCC:VS core data set. Validators are compiled once (jsonschema-rs); formats are checked."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import cache
from pathlib import Path

import jsonschema_rs

from dho.trust.fastpath import fast as _fast

DATA = Path(__file__).parent / "data"
SCHEMAS = {"eu-dcc": "eu-dcc-schema-1.3.3.json", "ddcc": "ddcc-vs-schema.json"}


# The EU DCC accepts ISO 8601 offsets written +hh, +hhmm and +hh:mm (see its valid test cases), which a strict
# RFC 3339 "date-time" refuses; these checkers follow the EU reading while still refusing impossible dates.
_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}(?::?\d{2})?)$")


def _is_date(value: str) -> bool:
    if len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_date_time(value: str) -> bool:
    m = _DATE_TIME.match(value)
    if not m or not _is_date(m.group(1)):
        return False
    try:
        datetime(2000, 1, 1, int(m.group(2)), int(m.group(3)), min(int(m.group(4)), 59))
    except ValueError:
        return False
    return True


@cache
def validator(kind: str):
    schema = json.loads((DATA / SCHEMAS[kind]).read_text(encoding="utf-8"))
    return jsonschema_rs.validator_for(schema, validate_formats=True,
                                       formats={"date-time": _is_date_time})  # "date": the built-in full-date


def check_payload(kind: str, payload: dict) -> str | None:
    """None when the payload follows its schema, else the first problem in words (path: message)."""
    if kind not in SCHEMAS:
        return f"no schema for {kind}"
    if kind == "eu-dcc" and _fast is not None and _fast.dcc_vaccination_valid(payload):
        return None  # a common-shape vaccination certificate the compiled check vouches for (see its tests)
    v = validator(kind)
    try:
        if v.is_valid(payload):
            return None
    except ValueError as exc:  # e.g. a map key that is not text: no JSON document has one
        return f"not a JSON document: {str(exc)[:120]}"
    for error in v.iter_errors(payload):
        path = "/".join(str(p) for p in error.instance_path) or "(root)"
        return f"{path}: {error.message[:200]}"
    return "not valid"  # pragma: no cover

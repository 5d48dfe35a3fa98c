"""The definition spec: a strict pydantic model (unknown keys refused) plus the checks pydantic cannot
make: expressions parse, name known sources, fields and values, never divide by a literal zero,
references to other indicators exist and do not go round in a circle, periods are real, the factor
fits the unit. Errors are collected as (field, message) pairs so a form can show each by its field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dho.indicators import expr as X
from dho.indicators import periods
from dho.indicators.sources import BOOL, NUM, SOURCES, STR, fields_of

MAX_SPEC_BYTES = 20_000
UNITS = ("percent", "number", "per1000", "currency_usd", "phase")
UNIT_FACTOR = {"percent": 100, "per1000": 1000, "number": 1, "currency_usd": 1, "phase": 1}
TIME_AGGREGATIONS = ("sum", "last", "mean", "max")
GEO_AGGREGATIONS = ("pooled", "sum", "mean", "median")


class SpecError(ValueError):
    """A spec that does not validate; ``errors`` holds (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=True)


class LegendBand(_Strict):
    from_: float = Field(alias="from")
    to: float
    colour: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    label_en: str = Field(default="", max_length=120)
    label_fr: str = Field(default="", max_length=120)


class Baseline(_Strict):
    period: str = Field(max_length=16)
    value: float


class Spec(_Strict):
    numerator: str = Field(min_length=1, max_length=X.MAX_LENGTH)
    denominator: str | None = Field(default=None, max_length=X.MAX_LENGTH)
    factor: Literal[1, 100, 1000] = 1
    unit: Literal["percent", "number", "per1000", "currency_usd", "phase"] = "number"
    decimals: int = Field(default=0, ge=0, le=6)
    period_type: Literal["year", "quarter", "month", "financial_year"] = "year"
    fy_start_month: int = Field(default=7, ge=1, le=12)
    time_aggregation: Literal["sum", "last", "mean", "max"] = "last"
    geo_aggregation: Literal["pooled", "sum", "mean", "median"] = "pooled"
    baseline: Baseline | None = None
    legend: list[LegendBand] = Field(default_factory=list, max_length=12)

    def canonical(self) -> str:
        return json.dumps(self.model_dump(by_alias=True), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def trees(self) -> tuple[Any, Any | None]:
        return X.parse(self.numerator), (X.parse(self.denominator) if self.denominator else None)


def _pydantic_errors(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "spec"
        msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"]
        out.append((loc, msg))
    return out


def parse_spec(raw: Any) -> Spec:
    """Validate the shape of a spec (a dict or JSON text) and its expressions against the sources;
    references to other indicators are checked by ``check_references``."""
    if isinstance(raw, str | bytes):
        if len(raw) > MAX_SPEC_BYTES:
            raise SpecError([("spec", f"the spec is too large (at most {MAX_SPEC_BYTES} bytes)")])
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise SpecError([("spec", f"not valid JSON: {exc}")]) from None
    if not isinstance(raw, Mapping):
        raise SpecError([("spec", "the spec must be a JSON object")])
    if len(json.dumps(raw, default=str)) > MAX_SPEC_BYTES:
        raise SpecError([("spec", f"the spec is too large (at most {MAX_SPEC_BYTES} bytes)")])
    try:
        spec = Spec.model_validate(dict(raw))
    except ValidationError as exc:
        raise SpecError(_pydantic_errors(exc)) from None
    errors: list[tuple[str, str]] = []
    for name in ("numerator", "denominator"):
        text = getattr(spec, name)
        if text is None:
            continue
        try:
            tree = X.parse(text)
        except X.ExprError as exc:
            errors.append((name, str(exc)))
            continue
        errors.extend((name, m) for m in check_tree(tree))
    if spec.factor != UNIT_FACTOR[spec.unit]:
        errors.append(("factor", f"a {spec.unit} indicator uses the factor {UNIT_FACTOR[spec.unit]}"))
    if spec.unit in ("percent", "per1000") and not spec.denominator:
        errors.append(("denominator", f"a {spec.unit} indicator needs a denominator"))
    if spec.baseline is not None:
        errors.extend(("baseline.period", m) for m in period_errors(spec.baseline.period, spec))
    for i, band in enumerate(spec.legend):
        if band.to <= band.from_:
            errors.append((f"legend.{i}", "a legend band must end above where it starts"))
    if errors:
        raise SpecError(errors)
    return spec


def period_errors(code: str, spec: Spec) -> list[str]:
    try:
        p = periods.parse(code, spec.fy_start_month)
    except periods.BadPeriod as exc:
        return [str(exc)]
    if p.type != spec.period_type:
        return [f"{code} is a {p.type.replace('_', ' ')}; this indicator is computed per "
                f"{spec.period_type.replace('_', ' ')}"]
    return []


def check_tree(tree: Any) -> list[str]:
    """Sources, fields, field types and values of every call in an expression."""
    errors = []
    for call in X.calls(tree):
        if call.source not in SOURCES:
            errors.append(f"unknown source {call.source!r}; use one of {', '.join(sorted(SOURCES))}")
            continue
        fields = fields_of(call.source)
        if call.field is not None:
            f = fields.get(call.field)
            if f is None:
                errors.append(f"unknown field {call.field!r} of {call.source}; it has {', '.join(sorted(fields))}")
            elif f.type == STR:
                errors.append(f"{call.func}() needs a number; {call.source}.{call.field} is text")
        errors.extend(_check_cond(call.where, call.source, fields))
    return errors


def _check_cond(node: Any, source: str, fields: Mapping[str, Any]) -> list[str]:
    if node is None:
        return []
    if isinstance(node, X.And | X.Or):
        return [e for p in node.parts for e in _check_cond(p, source, fields)]
    if isinstance(node, X.Not):
        return _check_cond(node.operand, source, fields)
    f = fields.get(node.field)
    if f is None:
        return [f"unknown field {node.field!r} in the filter of {source}; it has {', '.join(sorted(fields))}"]
    if isinstance(node, X.Truthy):
        return [] if f.type == BOOL else [f"{node.field} is not true/false; compare it with a value"]
    values = [node.value] if isinstance(node, X.Cmp) else list(node.values)
    errors = []
    for v in values:
        if isinstance(v, X.YearRel):
            kind = NUM
        elif isinstance(v, bool):
            kind = BOOL
        elif isinstance(v, float):
            kind = NUM
        else:
            kind = STR
        if kind != f.type:
            errors.append(f"{source}.{node.field} is {_kind_word(f.type)}; {v!r} is {_kind_word(kind)}")
        elif kind == STR and f.values and v not in f.values:
            errors.append(f"unknown value {v!r} for {source}.{node.field}; use one of {', '.join(f.values)}")
    if isinstance(node, X.Cmp) and node.op not in ("==", "!=") and f.type != NUM:
        errors.append(f"{node.op} compares numbers; {source}.{node.field} is {_kind_word(f.type)}")
    return errors


def _kind_word(kind: str) -> str:
    return {NUM: "a number", STR: "text", BOOL: "true/false"}[kind]


def references(spec: Spec) -> set[str]:
    num, den = spec.trees()
    return set(X.refs(num)) | (set(X.refs(den)) if den is not None else set())


def check_references(code: str, spec: Spec, others: Mapping[str, Spec]) -> None:
    """Every #{CODE} must exist, and following references from ``code`` must never come back to it."""
    graph = {c: references(s) for c, s in others.items() if c != code}
    graph[code] = references(spec)
    errors = [("numerator", f"unknown indicator #{{{ref}}}") for ref in sorted(graph[code]) if ref not in graph]
    if errors:
        raise SpecError(errors)
    cycle = find_cycle(graph, code)
    if cycle:
        raise SpecError([("numerator", "circular reference: " + " -> ".join(cycle))])


def find_cycle(graph: Mapping[str, set[str]], start: str) -> list[str] | None:
    path: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node):], node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt)
            if found:
                return found
        path.pop()
        done.add(node)
        return None

    return visit(start)


def order(specs: Mapping[str, Spec]) -> list[str]:
    """Codes in an order where every referenced indicator comes first (references outside the set
    are ignored; a circle, which validation refuses, raises)."""
    out: list[str] = []
    state: dict[str, int] = {}

    def visit(c: str) -> None:
        if state.get(c) == 2:
            return
        if state.get(c) == 1:
            raise SpecError([("numerator", f"circular reference through {c}")])
        state[c] = 1
        for r in sorted(references(specs[c])):
            if r in specs:
                visit(r)
        state[c] = 2
        out.append(c)

    for c in sorted(specs):
        visit(c)
    return out

"""Indicator pages (list by objective, one indicator with its method, values, targets, drill-down
and versions; admin edit forms) and the API (read, values, records, export; create and edit)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from dho import i18n
from dho.accounts.permissions import Principal, can
from dho.errors import DomainError, FieldError, NotFound, ValidationFailed
from dho.indicators import engine, exports, service
from dho.indicators import periods as P
from dho.indicators import spec as S
from dho.reference import service as reference
from dho.web.deps import content_disposition, current_principal, db_session, form_data
from dho.web.templating import render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/indicators", tags=["indicators"])

GeoQ = Annotated[str | None, Query(pattern=r"^(WORLD|[A-Za-z]{3,4}|[A-Za-z]{2}-[A-Za-z0-9]{1,3})$")]  # or ISO 3166-2
PeriodQ = Annotated[str | None, Query(max_length=16)]
JsonBody = Annotated[Any, Body()]
OBJECTIVE_ORDER = ("SO1", "SO2", "SO3", "SO4", None)


def _check_code(code: str) -> str:
    if not re.match(r"^[A-Za-z][A-Za-z0-9_]{1,39}$", code):
        raise NotFound(i18n._("No indicator %(code)s.", code=code[:40]))
    return code.upper()


def _check_period(defn: engine.Definition, period: str | None) -> str | None:
    if period is None:
        return None
    try:
        p = P.parse(period, defn.spec.fy_start_month)
    except P.BadPeriod as exc:
        raise ValidationFailed(i18n._("Unknown period."), errors=[FieldError("period", str(exc))]) from None
    return p.code


def _latest(results: engine.Results, code: str, geo: str = engine.WORLD) -> tuple[str | None, engine.Value | None]:
    for period, v in reversed(results.series(code, geo)):
        if v.value is not None:
            return period, v
    return None, None


def _objective_names(session: Session, locale: str) -> dict[str | None, str]:
    names: dict[str | None, str] = {None: i18n._("Across the objectives")}
    for el in reference.strategy_elements(session):
        if el.id in OBJECTIVE_ORDER:
            names[el.id] = f"{el.id} · {reference.localized(el, 'title', locale)}"
    for so in OBJECTIVE_ORDER:
        names.setdefault(so, so or "")
    return names


def _geo_names(session: Session, locale: str) -> dict[str, str]:
    names = {engine.WORLD: i18n._("World")}
    for r in [*reference.regions(session), *reference.income_group_names(session)]:
        names[r.code] = reference.localized(r, "name", locale)
    return names


# ---------------------------------------------------------------- pages


@router.get("/indicators", response_class=HTMLResponse)
def list_page(request: Request, session: Session = db_session, principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    defs = engine.definitions(session, locale)
    results = engine.compute(session)
    groups: dict[str | None, list[dict[str, Any]]] = {so: [] for so in OBJECTIVE_ORDER}
    for d in defs:
        period, v = _latest(results, d.code)
        target = sorted((p, t) for (g, p), t in d.targets.items() if g == engine.WORLD)
        groups.setdefault(d.objective, []).append({
            "d": d, "period": period, "value": engine.format_value(d, v, locale),
            "target": (target[0][0], engine.format_value(d, target[0][1], locale)) if target else None})
    return render(request, "indicators/list.html", {
        "groups": [(so, rows) for so, rows in groups.items() if rows], "objectives": _objective_names(session, locale),
        "snapshot": results.snapshot, "formats": exports.FORMATS})


@router.get("/indicators/{code}", response_class=HTMLResponse)
def detail_page(request: Request, code: str, period: PeriodQ = None, done: str | None = None,
                session: Session = db_session, principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    d = service.get(session, _check_code(code), locale)
    results = engine.compute(session)
    periods = results.periods(d.code)
    chosen = _check_period(d, period) or (_latest(results, d.code)[0] or (periods[-1] if periods else None))
    geo_names = _geo_names(session, locale)
    groups = [g for g in results.geos(d.code)
              if not (len(g) == 3 and g not in engine._GROUP_CODES) and not results.is_unit(g)]
    recent = periods[-6:]
    table = [{"geo": g, "name": geo_names.get(g, g), "values": [
        engine.format_value(d, results.value(d.code, g, p), locale) for p in recent]} for g in groups]
    countries = reference.countries_by_code(session, results.by_country(d.code, chosen or ""))
    by_country = sorted(
        ({"iso3": iso3, "name": reference.country_name(countries[iso3], locale) if iso3 in countries else iso3,
          "value": engine.format_value(d, v, locale), "raw": v} for iso3, v in
         results.by_country(d.code, chosen or "").items() if v.value is not None or (v.numerator or 0) != 0),
        key=lambda r: (-(r["raw"].value or 0), r["name"]))
    is_admin = can(principal, "indicators.manage")
    rows = service.versions(session, d.code)
    return render(request, "indicators/detail.html", {
        "d": d, "periods": recent, "chosen": chosen, "table": table, "by_country": by_country,
        "geo_names": geo_names, "snapshot": results.snapshot, "versions": rows, "is_admin": is_admin,
        "targets": sorted(((g, p, engine.format_value(d, t, locale)) for (g, p), t in d.targets.items())),
        "baseline": d.baseline and engine.format_value(d, d.baseline["value"], locale),
        "spec_json": json.dumps(d.spec.model_dump(by_alias=True), indent=1, ensure_ascii=False),
        "fields": _spec_fields(d.spec), "legend_rows": range(min(LEGEND_ROWS, len(d.spec.legend) + 2)),
        "choices": _choices(),
        "done": done, "errors": [], "form": None})


@router.get("/indicators/{code}/records", response_class=HTMLResponse)
def records_page(request: Request, code: str, geo: GeoQ = engine.WORLD, period: PeriodQ = None,
                 session: Session = db_session, principal: Principal = current_principal) -> Response:
    locale = i18n.get_locale()
    d = service.get(session, _check_code(code), locale)
    results = engine.compute(session)
    chosen = _check_period(d, period) or _latest(results, d.code)[0]
    geo = (geo or engine.WORLD).upper()
    found = engine.records(session, d.code, geo, chosen, limit=500) if chosen else []
    value = results.value(d.code, geo, chosen) if chosen else None
    if results.is_unit(geo):
        geo_name = results.unit_name(geo) if results.unit_name(geo) == geo else f"{results.unit_name(geo)} ({geo})"
    else:
        geo_name = _geo_names(session, locale).get(geo, geo)
    return render(request, "indicators/records.html", {
        "d": d, "geo": geo, "geo_name": geo_name, "period": chosen,
        "value": engine.format_value(d, value, locale), "v": value, "records": found, "limit": 500})


def _choices() -> dict[str, list[tuple[str, str]]]:
    """The edit form's lists: (value, label in the reader's language)."""
    _ = i18n._
    return {
        "unit": [("number", _("number")), ("percent", _("percent")), ("per1000", _("per 1000")),
                 ("currency_usd", _("US dollars")), ("phase", _("maturity phase"))],
        "period_type": [("year", _("year")), ("quarter", _("quarter")), ("month", _("month")),
                        ("financial_year", _("financial year"))],
        "time_aggregation": [("last", _("stock: what exists at the end of the period")),
                             ("sum", _("flow: what starts within the period")),
                             ("mean", _("mean of the month-end values")), ("max", _("highest month-end value"))],
        "geo_aggregation": [("pooled", _("pooled: group numerator over group denominator")),
                            ("sum", _("the sum of the countries' values")),
                            ("mean", _("the mean of the countries' values")),
                            ("median", _("the median of the countries' values"))],
        "month": [(str(m), str(m)) for m in range(1, 13)],
    }


LEGEND_ROWS = 12  # the most bands a definition may have (spec.LegendBand, max_length of Spec.legend)


def _spec_fields(spec: Any) -> dict[str, str]:
    """A definition's spec as the flat text fields of the edit form."""
    out = {"numerator": spec.numerator, "denominator": spec.denominator or "", "unit": spec.unit,
           "decimals": str(spec.decimals), "period_type": spec.period_type, "fy_start_month": str(spec.fy_start_month),
           "time_aggregation": spec.time_aggregation, "geo_aggregation": spec.geo_aggregation,
           "baseline_period": spec.baseline.period if spec.baseline else "",
           "baseline_value": _number_text(spec.baseline.value) if spec.baseline else ""}
    for i, band in enumerate(spec.legend):
        out.update({f"legend_from_{i}": _number_text(band.from_), f"legend_to_{i}": _number_text(band.to),
                    f"legend_colour_{i}": band.colour, f"legend_label_en_{i}": band.label_en,
                    f"legend_label_fr_{i}": band.label_fr})
    return out


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _number(text: str) -> Any:
    """A form's number as a float; anything else stays text, so the spec check names the field."""
    try:
        value = float(text)
    except ValueError:
        return text
    return value if value == value and abs(value) != float("inf") else text


def _whole(text: str) -> Any:
    return int(text) if text.isdigit() and len(text) <= 4 else text


def _form_to_spec(form: dict[str, str]) -> dict[str, Any]:
    """The edit form's fields as a spec; the factor follows the unit (percent 100, per 1000 1000, else 1)."""
    get = lambda name: (form.get(name) or "").strip()  # noqa: E731
    unit = get("unit")
    spec: dict[str, Any] = {
        "numerator": get("numerator"), "denominator": get("denominator") or None, "unit": unit,
        "factor": S.UNIT_FACTOR.get(unit, 1), "decimals": _whole(get("decimals") or "0"),
        "period_type": get("period_type"), "fy_start_month": _whole(get("fy_start_month") or "7"),
        "time_aggregation": get("time_aggregation"), "geo_aggregation": get("geo_aggregation")}
    if get("baseline_period") or get("baseline_value"):
        spec["baseline"] = {"period": get("baseline_period"), "value": _number(get("baseline_value"))}
    legend = []
    for i in range(LEGEND_ROWS):
        row = [get(f"legend_{part}_{i}") for part in ("from", "to", "colour", "label_en", "label_fr")]
        if any(row[:3]) or any(row[3:]):
            legend.append({"from": _number(row[0]), "to": _number(row[1]), "colour": row[2], "label_en": row[3],
                           "label_fr": row[4]})
    spec["legend"] = legend
    return spec


def _form_to_data(form: dict[str, str], code: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {k: form.get(k, "") for k in service.TEXT_FIELDS}
    data["objective"] = form.get("objective") or None
    data["spec"] = _form_to_spec(form)
    if code:
        data["code"] = code
    return data


@router.post("/indicators/{code}/edit", response_class=HTMLResponse)
def edit_submit(request: Request, code: str, form: dict[str, str] = form_data, session: Session = db_session,
                principal: Principal = current_principal) -> Response:
    code = _check_code(code)
    try:
        service.edit(session, principal, code, _form_to_data(form, None))
    except ValidationFailed as exc:
        session.rollback()
        return _detail_with_errors(request, session, principal, code, exc, form)
    return RedirectResponse(f"/indicators/{code}?done=saved", status_code=303)


@router.post("/indicators/{code}/targets", response_class=HTMLResponse)
def target_submit(request: Request, code: str, form: dict[str, str] = form_data, session: Session = db_session,
                  principal: Principal = current_principal) -> Response:
    code = _check_code(code)
    data = {"geo": (form.get("geo") or "WORLD").upper(), "period": form.get("period", ""),
            "value": form.get("value", ""), "unit": form.get("unit", "")}
    try:
        service.set_target(session, principal, code, data)
    except ValidationFailed as exc:
        session.rollback()
        return _detail_with_errors(request, session, principal, code, exc, form)
    return RedirectResponse(f"/indicators/{code}?done=target", status_code=303)


def _field_label(field: str) -> str:
    """The edit form's label for an error's field ("spec.legend.2.colour" -> "Colour legend, row 3")."""
    _ = i18n._
    name = field.removeprefix("spec.")
    labels = {"numerator": _("Numerator"), "denominator": _("Denominator (optional)"), "unit": _("Unit"),
              "factor": _("Unit"), "decimals": _("Decimals"), "period_type": _("Period type"),
              "fy_start_month": _("Financial years start in month"), "time_aggregation": _("Over time"),
              "geo_aggregation": _("Over countries (regions, income groups, world)"),
              "name_en": _("Name (English)"), "name_fr": _("Name (French)"),
              "description_en": _("Description (English)"), "description_fr": _("Description (French)"),
              "objective": _("Strategic objective")}
    head, _dot, rest = name.partition(".")
    if head == "baseline":
        return _("Baseline (optional)")
    if head == "legend" and rest.split(".")[0].isdigit():
        return _("Colour legend, row %(n)s", n=int(rest.split(".")[0]) + 1)
    return labels.get(name, field)


def _detail_with_errors(request: Request, session: Session, principal: Principal, code: str, exc: DomainError,
                        form: dict[str, str]) -> Response:
    response = detail_page(request, code, None, None, session, principal)
    ctx = response.context  # type: ignore[attr-defined]
    ctx["errors"] = [FieldError(_field_label(e.field), e.message) for e in exc.errors]
    ctx["error_detail"] = exc.detail
    ctx["form"] = form
    used = [i for i in range(LEGEND_ROWS) if any(form.get(f"legend_{p}_{i}") for p in ("from", "to", "colour"))]
    ctx["legend_rows"] = range(min(LEGEND_ROWS, (max(used) + 2) if used else 2))
    return render(request, "indicators/detail.html", ctx, status_code=422)


# ---------------------------------------------------------------- API


def _definition_out(d: engine.Definition) -> dict[str, Any]:
    return {"code": d.code, "version": d.version, "name": d.name, "description": d.description,
            "objective": d.objective, "unit": d.unit, "decimals": d.decimals, "period_type": d.period_type,
            "legend": d.legend, "baseline": d.baseline, "method": d.method, "shipped": d.shipped,
            "spec": d.spec.model_dump(by_alias=True),
            "targets": [{"geo": g, "period": p, "value": v} for (g, p), v in sorted(d.targets.items())]}


def _value_out(v: engine.Value | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"numerator": v.numerator, "denominator": v.denominator, "value": v.value, "reporting": v.reporting}


@api.get("", summary="Indicator definitions (current versions)")
def api_list(session: Session = db_session) -> list[dict[str, Any]]:
    return [_definition_out(d) for d in engine.definitions(session)]


@api.get("/export", summary="Computed values as CSV, JSON, DHIS2 ADX XML or DHIS2 dataValueSets JSON")
def api_export(format: Annotated[str, Query(pattern="^(csv|json|adx|dvs)$")] = "csv",
               year: Annotated[int | None, Query(ge=P.MIN_YEAR, le=P.MAX_YEAR)] = None,
               code: Annotated[str | None, Query(pattern=r"^[A-Za-z][A-Za-z0-9_]{1,39}$")] = None,
               geo: GeoQ = None, session: Session = db_session) -> Response:
    defs = engine.definitions(session)
    codes = [code.upper()] if code else None
    if codes and codes[0] not in {d.code for d in defs}:
        raise NotFound(i18n._("No indicator %(code)s.", code=code))
    results = engine.compute(session, codes=codes)
    body = exports.export(format, results, defs, codes=codes, geos=[geo.upper()] if geo else None,
                          years=[year] if year else None)
    name = f"indicators-{results.snapshot[:12]}.{exports.SUFFIX[format]}"
    return Response(body, media_type=exports.MEDIA[format],
                    headers={"Content-Disposition": content_disposition(name)})


@api.get("/{code}", summary="One indicator: definition, method, targets and versions")
def api_get(code: str, session: Session = db_session) -> dict[str, Any]:
    d = service.get(session, _check_code(code))
    body = _definition_out(d)
    body["versions"] = [service.definition_json(r) for r in service.versions(session, d.code)]
    return body


@api.get("/{code}/values", summary="Computed values (filter by geography and period)")
def api_values(code: str, geo: GeoQ = None, period: PeriodQ = None, session: Session = db_session
               ) -> dict[str, Any]:
    d = service.get(session, _check_code(code))
    chosen = _check_period(d, period)
    results = engine.compute(session, codes=[d.code])
    geos = [geo.upper()] if geo else results.geos(d.code)
    values = []
    for g in geos:
        for p, v in results.series(d.code, g):
            if chosen is None or p == chosen:
                values.append({"geo": g, "period": p, **(_value_out(v) or {})})
    return {"code": d.code, "version": d.version, "unit": d.unit, "snapshot": results.snapshot,
            "epoch": results.epoch, "values": values}


@api.get("/{code}/records", summary="The records behind a value (drill-down)")
def api_records(code: str, geo: GeoQ = None, period: PeriodQ = None,
                limit: Annotated[int, Query(ge=1, le=2000)] = 200, session: Session = db_session) -> dict[str, Any]:
    d = service.get(session, _check_code(code))
    results = engine.compute(session, codes=[d.code])
    chosen = _check_period(d, period) or _latest(results, d.code)[0]
    g = (geo or engine.WORLD).upper()
    found = engine.records(session, d.code, g, chosen, limit=limit) if chosen else []
    return {"code": d.code, "geo": g, "period": chosen, "value": _value_out(results.value(d.code, g, chosen or "")),
            "records": found}


@api.post("", status_code=201, summary="Add an indicator definition (admins)")
def api_create(body: JsonBody, session: Session = db_session, principal: Principal = current_principal
               ) -> dict[str, Any]:
    row = service.create(session, principal, body)
    return service.definition_json(row)


@api.put("/{code}", summary="Save a new version of an indicator definition (admins)")
def api_edit(code: str, body: JsonBody, session: Session = db_session, principal: Principal = current_principal
             ) -> dict[str, Any]:
    row = service.edit(session, principal, _check_code(code), body)
    return service.definition_json(row)


@api.put("/{code}/targets", summary="Set a target for a geography and period (admins; unit must match)")
def api_target(code: str, body: JsonBody, session: Session = db_session, principal: Principal = current_principal
               ) -> dict[str, Any]:
    t = service.set_target(session, principal, _check_code(code), body)
    return {"code": t.code, "geo": t.geo, "period": t.period, "value": float(t.value), "unit": t.unit}

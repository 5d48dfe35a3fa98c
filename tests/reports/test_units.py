"""Subnational units on the country dashboard and in the country report, from the demo data (Pakistan's
provinces Punjab PK-PB and Sindh PK-SD publish their own maturity assessments; implementations cover
areas of every demo country), and their drill-down with bad input."""

from __future__ import annotations

import html
import re

import pytest

from dho.reports import service


@pytest.fixture(autouse=True)
def _fresh_cache():
    service.clear_cache()
    yield
    service.clear_cache()


def _units_table(page: str) -> str:
    found = re.search(r'<table class="data" id="units">(.*?)</table>', page, re.S)
    assert found, "no unit table"
    return found.group(1)


def test_country_dashboard_lists_its_units_with_links_to_their_records(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/dashboard/country/PAK", params={"year": 2025})
    assert page.status_code == 200
    table = _units_table(page.text)
    units = re.findall(r'<tr data-unit="([A-Z0-9-]+)">', table)
    assert {"PK-PB", "PK-SD"} <= set(units) and all(u.startswith("PK-") for u in units)
    columns = re.findall(r'<th scope="col" class="num" data-code="([A-Z0-9_]+)">', table)
    assert "MATURITY_MEDIAN_PHASE" in columns  # the provinces' own assessments
    assert "NDHS_COUNTRIES" not in columns and "MS_ASSESSED" not in columns  # counts of countries: no unit value
    punjab = table.split('data-unit="PK-PB"', 1)[1].split("</tr>", 1)[0]
    assert "Punjab" in punjab  # named from the atlas coverage rows
    href, text = re.search(r'<a href="(/dashboard/records\?[^"]*geo=PK-PB[^"]*)">([^<]+)</a>', punjab).groups()
    records = client.get(html.unescape(href))
    assert records.status_code == 200
    assert "Punjab (PK-PB), Pakistan" in records.text and text in records.text
    rows = re.search(r'<table class="data" id="records">(.*?)</table>', records.text, re.S).group(1)
    assert rows.count("<tr>") >= 2 and "Punjab" in rows
    # the national card of Pakistan is its own figure, not the provinces'
    api = client.get("/api/dashboard/records", params={"code": "MATURITY_MEDIAN_PHASE", "geo": "PAK",
                                                         "period": "2025"}).json()
    assert api["records"] and {r["country"] for r in api["records"]} == {"PAK"}
    unit_api = client.get("/api/dashboard/records", params={"code": "MATURITY_MEDIAN_PHASE", "geo": "PK-PB",
                                                              "period": "2025"}).json()
    assert unit_api["value"] is not None and {r["country"] for r in unit_api["records"]} == {"PK-PB"}
    # a country without any unit in the data shows no such section
    plain = client.get("/dashboard/country/FRA", params={"year": 2025})
    assert plain.status_code == 200 and 'id="units"' not in plain.text and "ind-card" in plain.text
    # the indicator page lists countries and groups, never units
    detail = client.get("/indicators/OPEN_STANDARD_PCT")
    assert detail.status_code == 200 and "PK-PB" not in detail.text


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/api/dashboard/records", {"code": "MATURITY_MEDIAN_PHASE", "geo": "ZZ-99", "period": "2025"}, 404),
    ("/api/dashboard/records", {"code": "NDHS_COUNTRIES", "geo": "PK-PB", "period": "2025"}, 404),
    ("/dashboard/records", {"code": "MATURITY_MEDIAN_PHASE", "geo": "PK-PBXXXX", "period": "2025"}, 422),
    ("/api/indicators/MATURITY_MEDIAN_PHASE/records", {"geo": "PK-PB<", "period": "2025"}, 422),
])
def test_unit_drill_down_bad_input(client, path: str, params: dict, status: int) -> None:  # type: ignore[no-untyped-def]
    r = client.get(path, params=params)
    assert r.status_code == status, r.text[:300]
    assert "Traceback" not in r.text
    if status == 404:
        assert "No subnational unit" in r.json()["detail"]


def test_indicator_api_for_units_and_an_unknown_unit(client) -> None:  # type: ignore[no-untyped-def]
    unknown = client.get("/api/indicators/MATURITY_MEDIAN_PHASE/records", params={"geo": "ZZ-99", "period": "2025"})
    assert unknown.status_code == 200 and unknown.json()["records"] == [] and unknown.json()["value"] is None
    values = client.get("/api/indicators/MATURITY_MEDIAN_PHASE/values", params={"geo": "PK-SD"}).json()["values"]
    assert values and all(v["geo"] == "PK-SD" for v in values) and any(v["value"] for v in values)
    page = client.get("/indicators/MATURITY_MEDIAN_PHASE/records", params={"geo": "pk-sd", "period": "2025"})
    assert page.status_code == 200 and "Sindh (PK-SD)" in page.text and "/maturity/assessments/" in page.text


def test_country_report_has_a_unit_section_only_where_units_exist(client) -> None:  # type: ignore[no-untyped-def]
    data = client.get("/api/reports/country/PAK", params={"year": 2025}).json()
    units = data["units"]
    assert units and {"PK-PB", "PK-SD"} <= {r["code"] for r in units["rows"]}
    phase = next(i for i, c in enumerate(units["columns"]) if c["code"] == "MATURITY_MEDIAN_PHASE")
    punjab = next(r for r in units["rows"] if r["code"] == "PK-PB")
    assert punjab["name"] == "Punjab" and punjab["cells"][phase]["text"]
    national = next(c for c in data["headline"] if c["code"] == "MATURITY_MEDIAN_PHASE")
    assert national["value"] is not None  # Pakistan's own figure stays in the key figures
    doc = client.get("/reports/country/PAK", params={"year": 2025})
    assert doc.status_code == 200 and 'id="unit-values"' in doc.text and 'data-unit="PK-SD"' in doc.text
    other = client.get("/api/reports/country/FRA", params={"year": 2025}).json()
    assert other["units"] is None
    assert 'id="unit-values"' not in client.get("/reports/country/FRA", params={"year": 2025}).text

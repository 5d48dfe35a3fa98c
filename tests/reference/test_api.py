"""The open reference API and pages, including hostile query parameters."""

from __future__ import annotations

import pytest


def test_countries_api(client):
    r = client.get("/api/countries", params={"region": "AFR", "members": "true", "limit": 100})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 47
    assert {c["who_region"] for c in body["items"]} == {"AFR"}
    r = client.get("/api/countries/idn")
    assert r.status_code == 200
    body = r.json()
    assert body["who_region"] == "WPR" and body["who_region_before_2025"] == "SEAR"
    assert body["name_fr"] == "Indonésie"
    assert [y["fiscal_year"] for y in body["income_history"]][:2] == [2015, 2016]


def test_classification_api(client):
    r = client.get("/api/classifications")
    assert [s["id"] for s in r.json()] == ["cdisah2023-dhi", "cdisah2023-hsc", "cdisah2023-sat", "cdhi2018-dhi",
                                           "cdhi2018-sc"]
    r = client.get("/api/classifications/cdhi2018-dhi/codes/3.5.3")
    body = r.json()
    assert body["parent"]["code"] == "3.5" and body["maps_to"] == []
    r = client.get("/api/classifications/cdhi2018-sc/codes/C")
    assert r.json()["maps_to"][0]["to_code"] == "A7"
    r = client.get("/api/classifications/cdisah2023-dhi/codes", params={"parent": "1.0"})
    assert r.json()["total"] > 3


@pytest.mark.parametrize(("url", "status"), [
    ("/api/countries/XXX", 404), ("/api/countries/%00%00", 400), ("/api/classifications/nope/codes", 404),
    ("/api/classifications/cdhi2018-dhi/codes/99.99", 404),
    ("/api/countries?limit=0", 422), ("/api/countries?limit=100000", 422), ("/api/countries?offset=-1", 422),
    ("/api/countries?region=%3Cscript%3E", 422), ("/api/countries?q=" + "a" * 500, 422),
    ("/api/countries?members=perhaps", 422),
])
def test_bad_queries_get_problem_json(client, url, status):
    r = client.get(url)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["type"].startswith("/problems/") and body["detail"]
    if status == 422:
        assert body["errors"] and all("field" in e and "message" in e for e in body["errors"])


def test_pages(client):
    r = client.get("/countries", params={"q": "ken"})
    assert r.status_code == 200 and "Kenya" in r.text and "Senegal" not in r.text
    r = client.get("/countries/IDN")
    assert "South-East Asia Region" in r.text and "Western Pacific Region" in r.text
    r = client.get("/classifications/cdhi2018-dhi/3.5.3")
    assert "gives no 2023 code" in r.text
    r = client.get("/classifications/cdisah2023-dhi", params={"q": "payroll"})
    assert "3.5.4" in r.text
    r = client.get("/strategy")
    assert "SO4" in r.text and "Enhance and iterate" in r.text


def test_htmx_request_gets_only_the_results(client):
    r = client.get("/countries", params={"q": "ken"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "Kenya" in r.text and "<html" not in r.text and 'class="filters"' not in r.text


def test_country_page_404_is_friendly(client):
    r = client.get("/countries/QQQ")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "No country or area" in r.text

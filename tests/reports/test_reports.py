"""Dashboards and progress reports from the demo data (SQLite and PostgreSQL): pages and figures,
drill-down to the records, reproducible documents, a "no data" report, the PDF's text, narratives with
permissions and optimistic locking, the CLI, and bad input that must give a clear error and write nothing."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from sqlalchemy import func, select

from dho.reports import service
from dho.reports.models import ReportNarrative
from tests.conftest import csrf_from, demo_email, login


@pytest.fixture(autouse=True)
def _fresh_cache():
    service.clear_cache()
    yield
    service.clear_cache()


def narratives_count(client) -> int:  # type: ignore[no-untyped-def]
    with client.app.state.db.session() as s:
        return s.scalar(select(func.count()).select_from(ReportNarrative))


# ---------------------------------------------------------------- dashboards


def test_dashboards_world_region_income_country_and_drill_down(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/dashboard")
    assert page.status_code == 200
    codes = re.findall(r'class="ind-card[^"]*" data-code="([A-Z0-9_]+)"', page.text)
    assert "NDHS_COUNTRIES" in codes and len(codes) >= 10
    assert 'id="dashboard-map"' in page.text and "/dashboard/region/AFR" in page.text
    # the world card's number links to its records, and the records page lists them
    card = page.text.split('data-code="NDHS_COUNTRIES"', 1)[1].split("</article>", 1)[0]
    href = re.search(r'class="big" href="([^"]+)"', card).group(1).replace("&amp;", "&")
    records = client.get(href)
    assert records.status_code == 200
    value = re.search(r'class="big" href="[^"]+"[^>]*>([^<]+)<', card).group(1)
    assert value in records.text
    n_rows = records.text.count("<tr>") - 1
    assert n_rows >= int(value.replace(",", "")) > 0  # every counted strategy is a listed record
    for path in ("/dashboard/region/AFR", "/dashboard/income/LIC", "/dashboard/country/KEN?map=NDHS_APPROVED_PCT"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert 'class="ind-card"' in r.text
    api = client.get("/api/dashboard/records", params={"code": "NDHS_COUNTRIES", "geo": "KEN", "period": "2025"})
    assert api.status_code == 200 and api.json()["code"] == "NDHS_COUNTRIES"


@pytest.mark.parametrize(("path", "status"), [
    ("/dashboard/region/XYZ", 404), ("/dashboard/income/ABC", 404), ("/dashboard/country/QQQ", 404),
    ("/dashboard?year=abcd", 422), ("/dashboard?year=1999", 422), ("/dashboard?map=NOPE", 422),
    ("/dashboard?year=" + "9" * 500, 422),
    ("/dashboard/records?code=NOPE&geo=WORLD&period=2025", 404),
    ("/dashboard/records?code=NDHS_COUNTRIES&geo=ZZZ&period=2025", 404),
    ("/dashboard/records?code=NDHS_COUNTRIES&geo=WORLD&period=20X5", 422),
    ("/api/dashboard/records?code=NDHS_COUNTRIES&geo=WORLD&period=<script>", 422),
])
def test_dashboard_bad_input(client, path: str, status: int) -> None:  # type: ignore[no-untyped-def]
    r = client.get(path)
    assert r.status_code == status, (path, r.text[:300])
    assert "Traceback" not in r.text


# ---------------------------------------------------------------- reports


def test_global_report_html_reproducible_and_figures_from_indicators(client) -> None:  # type: ignore[no-untyped-def]
    data = client.get("/api/reports/global", params={"year": 2025}).json()
    assert data["year"] == 2025 and data["has_data"] and re.fullmatch(r"[0-9a-f]{64}", data["snapshot"])
    ndhs = next(c for c in data["headline"] if c["code"] == "NDHS_COUNTRIES")
    assert ndhs["value"] and ndhs["value"] > 0
    first = client.get("/reports/global", params={"year": 2025, "format": "html"})
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    assert data["snapshot"] in first.text and first.headers["x-report-snapshot"] == data["snapshot"]
    assert ndhs["text"] in first.text and 'id="section-SO1"' in first.text and "wm-map" in first.text
    service.clear_cache()  # rebuilt from scratch: the same bytes
    second = client.get("/reports/global", params={"year": 2025, "format": "html"})
    assert second.content == first.content
    fr = client.get("/reports/global", params={"year": 2025, "lang": "fr"})
    assert fr.status_code == 200 and '<html lang="fr">' in fr.text
    region = client.get("/reports/region/AFR", params={"year": 2025})
    assert region.status_code == 200 and 'data-geo="KEN"' in region.text


def test_country_report_has_maturity_strategy_funding_and_implementations(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/reports/country/KEN", params={"year": 2025})
    assert r.status_code == 200
    for anchor in ('id="maturity"', 'id="strategy"', 'id="funding"', 'id="implementations"', 'svg class="radar"'):
        assert anchor in r.text, anchor
    data = client.get("/api/reports/country/KEN", params={"year": 2025}).json()
    assert data["maturity"]["year"] and data["strategy"]["strategy"]["title"]


def test_no_data_year_gives_a_well_formed_report(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/reports/global", params={"year": 2003})
    assert r.status_code == 200
    assert 'id="no-data"' in r.text and r.text.rstrip().endswith("</html>")
    assert client.get("/api/reports/global", params={"year": 2003}).json()["has_data"] is False


@pytest.mark.parametrize(("path", "status"), [
    ("/reports/region/XXX", 404), ("/reports/country/ZZZ", 404), ("/api/reports/country/12345", 404),
    ("/reports/global?format=docx", 422), ("/reports/global?year=abcd", 422), ("/reports/global?year=1999", 422),
    ("/reports/global?lang=de", 422), ("/api/reports/global?format=exe", 422),
    ("/reports/open?scope=planet", 404), ("/reports/open?scope=country&code=ZZZ", 404),
])
def test_report_bad_input(client, path: str, status: int) -> None:  # type: ignore[no-untyped-def]
    r = client.get(path)
    assert r.status_code == status, (path, r.text[:300])


def test_reports_index_and_chooser(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/reports")
    assert page.status_code == 200 and 'action="/reports/open"' in page.text
    r = client.get("/reports/open", params={"scope": "country", "code": "ken", "year": "2025", "format": "pdf"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/reports/country/KEN?")


def test_pdf_has_headline_figures_and_hash(client, backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if backend != "sqlite":
        pytest.skip("the PDF is the same code on both databases; rendered once")
    assert shutil.which("pdftotext"), "poppler-utils is needed"
    data = client.get("/api/reports/global", params={"year": 2025}).json()
    texts = []
    for _ in range(2):
        service.clear_cache()
        r = client.get("/reports/global", params={"year": 2025, "format": "pdf"})
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
        path = tmp_path / "r.pdf"
        path.write_bytes(r.content)
        texts.append(subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                                    text=True).stdout)
    assert texts[0] == texts[1]
    flat = re.sub(r"\s+", " ", texts[0])
    assert data["snapshot"] in flat.replace(" ", "") or data["snapshot"] in texts[0]
    for code in ("NDHS_COUNTRIES", "OFFICIALS_TRAINED", "GDHP_MS"):
        card = next(c for c in data["headline"] if c["code"] == code)
        assert card["text"] in flat, (code, card["text"])
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    assert data["cutoff"][:4] in info  # the PDF's dates are the cut-off, not the clock


# ---------------------------------------------------------------- narratives


def put(client, section: str, text: str, version: int = 0, scope: str = "global", code: str = "",  # type: ignore[no-untyped-def]
        token: str | None = None):
    headers = {"X-CSRF-Token": token} if token else {}
    return client.put(f"/api/reports/narratives/{scope}/{section}", params={"code": code, "year": 2025, "lang": "en"},
                      json={"text": text, "version": version}, headers=headers)


def token_of(client) -> str:  # type: ignore[no-untyped-def]
    return csrf_from(client.get("/reports/narratives", params={"scope": "global", "year": 2025}).text)


def test_narrative_edit_shows_in_report_with_locking(client) -> None:  # type: ignore[no-untyped-def]
    assert login(client, demo_email("secretariat")).status_code == 303
    tok = token_of(client)
    r = put(client, "SO2", "Strategies spread quickly.\n\nCosting lags behind.", token=tok)
    assert r.status_code == 200 and r.json()["version"] == 1
    report = client.get("/reports/global", params={"year": 2025})
    assert "<p>Strategies spread quickly.</p><p>Costing lags behind.</p>" in report.text
    stale = put(client, "SO2", "An old edit", version=0, token=tok)
    assert stale.status_code == 409
    assert put(client, "SO2", "Second edit", version=1, token=tok).json()["version"] == 2
    assert put(client, "SO2", "from an old page", version=1, token=tok).status_code == 409
    before = narratives_count(client)
    too_big = put(client, "intro", "x" * 10_001, token=tok)
    assert too_big.status_code == 413 and narratives_count(client) == before
    assert put(client, "nowhere", "text", token=tok).status_code == 404
    assert put(client, "intro", "text\x00", token=tok).status_code == 422
    # the browser form, with its CSRF field
    page = client.get("/reports/narratives", params={"scope": "global", "year": 2025, "lang": "en"})
    form = {"csrf_token": csrf_from(page.text), "scope": "global", "code": "", "year": "2025", "lang": "en",
            "section": "outlook", "version": "0", "text": "<script>alert(1)</script> Next steps."}
    saved = client.post("/reports/narratives", data=form, follow_redirects=False)
    assert saved.status_code == 303
    report = client.get("/reports/global", params={"year": 2025})
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Next steps." in report.text and "<script>alert" not in report.text


def test_narrative_permissions(client) -> None:  # type: ignore[no-untyped-def]
    assert put(client, "intro", "anonymous text").status_code == 401
    assert narratives_count(client) == 0
    login(client, demo_email("viewer"))
    assert put(client, "intro", "viewer text", token=token_of(client)).status_code == 403
    client.cookies.clear()
    login(client, demo_email("focal.ken"))
    tok = token_of(client)
    assert put(client, "intro", "Kenya's own words", scope="country", code="KEN", token=tok).status_code == 200
    assert put(client, "intro", "Not my country", scope="country", code="NGA", token=tok).status_code == 403
    assert put(client, "intro", "Not the global report", token=tok).status_code == 403
    assert narratives_count(client) == 1
    page = client.get("/reports/narratives", params={"scope": "global", "year": 2025})
    assert page.status_code == 200 and "<textarea" not in page.text


# ---------------------------------------------------------------- CLI


def test_cli_report(demo_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from dho.cli import app

    url = demo_db.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    out = tmp_path / "global.html"
    r = runner.invoke(app, ["report", "global", "--format", "html", "--out", str(out), "--year", "2025",
                            "--database", url])
    assert r.exit_code == 0, r.output
    first = out.read_bytes()
    assert b"id=\"snapshot\"" in first
    service.clear_cache()
    again = tmp_path / "again.html"
    assert runner.invoke(app, ["report", "global", "--out", str(again), "--year", "2025", "--database", url]
                         ).exit_code == 0
    assert again.read_bytes() == first
    for args, msg in ((["region", "XXX"], "No WHO region"), (["country", "ZZZ"], "No country"),
                      (["global", "--format", "docx"], "unknown format"), (["global", "--lang", "xx"], "language")):
        bad = tmp_path / "bad.html"
        r = runner.invoke(app, ["report", *args, "--out", str(bad), "--database", url])
        assert r.exit_code == 1 and msg in r.output and not bad.exists(), (args, r.output)
    r = runner.invoke(app, ["report", "global", "--out", str(tmp_path / "no" / "such" / "x.html"), "--database", url])
    assert r.exit_code == 1 and "does not exist" in r.output

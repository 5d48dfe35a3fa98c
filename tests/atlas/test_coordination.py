"""Coordination views against a small planted case whose figures are computed by hand.

The plant, all in Nauru (NRU: upper-middle income in 2019, high income from 2021):
- impl1 (owner Beta): codes 1.1.2 and 1.4.1, areas NR-01 (1000 persons) and NR-02 (3000), solution S1
- impl2 (owner Alpha): code 1.4.1, areas NR-01 (1000) and NR-03 (1000), solution S2
- impl3 (owner Alpha): code 1.2.1, area NR-05 (persons unknown), no solution
- impl4 (owner Beta): code 1.2.1, area NR-06 (500), solution S3
- inv1 Alpha 1000 USD 2022: intervention 1.1.1 share 0.6, intervention 1.4.1 share 0.4
- inv2 Beta 800 EUR 2022 (rate 0.8 EUR per USD: 1000 USD): implementation impl1
- inv3 Beta 3000 XOF 2019, no targets, and no XOF rate for 2019 (loaded, then taken out)
- inv4 Alpha 5000 USD 2022, a draft (never approved)
- inv5 Alpha 300 USD 2023: component C (the component of indicator 16) and priority 16, equal shares
- inv6 Alpha 100 USD 2022: impl2;  inv7 Alpha 50 USD 2021: impl3;  inv8 Beta 50 USD 2021: impl4
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from dho.accounts import service as accounts
from dho.accounts.permissions import ANONYMOUS, CLI_OPERATOR
from dho.atlas import coordination, money
from dho.atlas import service as atlas
from dho.atlas.models import FxRate, Investment, Solution
from dho.atlas.schemas import ImplementationIn, InvestmentIn
from dho.errors import NotFound, ValidationFailed
from dho.maturity import transfer
from tests.maturity.conftest import full_scores, gdhm_csv

D = Decimal


def _plant(s) -> dict:  # type: ignore[no-untyped-def]
    orgs = {}
    for key, name in (("alpha", "Alpha Test Fund"), ("beta", "Beta Test Fund"), ("moh", "Nauru Test Ministry")):
        orgs[key] = accounts.create_organisation(s, CLI_OPERATOR, {
            "name": name, "acronym": key.upper(), "kind": "donor" if key != "moh" else "ministry",
            "country_iso3": "NRU" if key == "moh" else None}).id
    money.load_rates(s, CLI_OPERATOR, b"currency,year,units_per_usd,source\nEUR,2022,0.8,Test table\n"
                                      b"XOF,2019,600,Test table\n")
    sols = {}
    for name in ("S1 test", "S2 test", "S3 test"):
        sols[name[:2]] = atlas.create_solution(s, CLI_OPERATOR, name).id

    def impl(name: str, owner: str, codes: list[str], coverage: list[tuple[str, int | None]],
             solutions: list[str]) -> int:
        data = ImplementationIn(
            name=name, country_iso3="NRU", stage="deploying", owner_org_id=orgs[owner],
            classifications=[{"scheme": "cdisah2023-dhi", "code": c} for c in codes],
            coverage=[{"area_code": a, "as_of": "2023-01-01", "persons": p} for a, p in coverage],
            solutions=[sols[x] for x in solutions])
        i = atlas.create_implementation(s, CLI_OPERATOR, data)
        atlas.decide(s, CLI_OPERATOR, i.id, "approve")
        return i.id

    impls = {
        "impl1": impl("Impl one", "beta", ["1.1.2", "1.4.1"], [("NR-01", 1000), ("NR-02", 3000)], ["S1"]),
        "impl2": impl("Impl two", "alpha", ["1.4.1"], [("NR-01", 1000), ("NR-03", 1000)], ["S2"]),
        "impl3": impl("Impl three", "alpha", ["1.2.1"], [("NR-05", None)], []),
        "impl4": impl("Impl four", "beta", ["1.2.1"], [("NR-06", 500)], ["S3"]),
    }
    component = coordination.indicator_components(s)["16"]

    def inv(title: str, funder: str, amount: str, currency: str, on: str, targets: list[dict],
            publish: bool = True) -> int:
        data = InvestmentIn(title=title, funder_org_id=orgs[funder], recipient_org_id=orgs["moh"],
                            country_iso3="NRU", amount=amount, currency=currency, kind="grant", committed_on=on,
                            period_start=int(on[:4]), period_end=int(on[:4]) + 2, targets=targets)
        i = atlas.create_investment(s, CLI_OPERATOR, data)
        if publish:
            atlas.decide_investment(s, CLI_OPERATOR, i.id, "approve")
        return i.id

    invs = {
        "inv1": inv("One", "alpha", "1000", "USD", "2022-03-01", [
            {"kind": "intervention", "ref": "1.1.1", "share": "0.6"},
            {"kind": "intervention", "ref": "1.4.1", "share": "0.4"}]),
        "inv2": inv("Two", "beta", "800", "EUR", "2022-05-01", [{"kind": "implementation",
                                                                 "ref": str(impls["impl1"])}]),
        "inv3": inv("Three", "beta", "3000", "XOF", "2019-01-15", []),
        "inv4": inv("Four", "alpha", "5000", "USD", "2022-06-01", [], publish=False),
        "inv5": inv("Five", "alpha", "300", "USD", "2023-02-01", [
            {"kind": "component", "ref": component}, {"kind": "priority", "ref": "16"}]),
        "inv6": inv("Six", "alpha", "100", "USD", "2022-07-01", [{"kind": "implementation",
                                                                  "ref": str(impls["impl2"])}]),
        "inv7": inv("Seven", "alpha", "50", "USD", "2021-07-01", [{"kind": "implementation",
                                                                   "ref": str(impls["impl3"])}]),
        "inv8": inv("Eight", "beta", "50", "USD", "2021-08-01", [{"kind": "implementation",
                                                                  "ref": str(impls["impl4"])}]),
    }
    s.execute(delete(FxRate).where(FxRate.currency == "XOF"))  # the XOF amount now has no rate
    s.flush()
    return {**orgs, **impls, **invs, "component": component}


@pytest.fixture
def planted(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        ids = _plant(s)
    return ids


NRU = coordination.Filters(country="NRU")


def _rows(funding: coordination.Funding) -> dict:
    return {r.key: r for r in funding.rows}


def test_by_category_splits_by_shares_and_lists_unconverted_apart(db, planted):
    with db.session() as s:
        f = coordination.who_funds_what(s, ANONYMOUS, by="category", filters=NRU)
    rows = _rows(f)
    assert set(rows) == {"1.1", "1.4", "1.2", None}
    # 1.1: 0.6 x 1000 (inv1) + half of 1000 USD (inv2: impl1 has categories 1.1 and 1.4)
    assert (rows["1.1"].usd, rows["1.1"].n_investments, rows["1.1"].n_funders) == (D("1100.00"), 2, 2)
    assert (rows["1.4"].usd, rows["1.4"].n_investments) == (D("1000.00"), 3)  # 400 + 500 + 100
    assert (rows["1.2"].usd, rows["1.2"].n_investments) == (D("100.00"), 2)
    # inv3 (no target, no rate) and inv5 (a component and a priority: no category) are not attributed
    assert rows[None].usd == D("300.00") and rows[None].not_converted == {"XOF": D("3000.00")}
    assert rows["1.1"].label.startswith("Targeted communication")
    assert f.total.usd == D("2500.00") and f.total.not_converted == {"XOF": D("3000.00")}
    assert (f.total.n_investments, f.total.n_funders) == (7, 2)  # the draft inv4 is not counted
    assert f.missing_rates == [("XOF", 2019)]
    assert f.rates_used == [{"currency": "EUR", "year": 2022, "units_per_usd": "0.8000000000",
                             "source": "Test table"}]


def test_by_funder_country_year_and_component(db, planted):
    with db.session() as s:
        funder = _rows(coordination.who_funds_what(s, ANONYMOUS, by="funder", filters=NRU))
        country = _rows(coordination.who_funds_what(s, ANONYMOUS, by="country", filters=NRU))
        year = coordination.who_funds_what(s, ANONYMOUS, by="year", filters=NRU)
        comp = _rows(coordination.who_funds_what(s, ANONYMOUS, by="component", filters=NRU))
        later = coordination.who_funds_what(s, ANONYMOUS, by="country",
                                            filters=coordination.Filters(country="NRU", year_from=2022))
    a, b = str(planted["alpha"]), str(planted["beta"])
    assert (funder[a].usd, funder[a].n_investments, funder[a].not_converted) == (D("1450.00"), 4, {})
    assert (funder[b].usd, funder[b].n_investments, funder[b].not_converted) == (D("1050.00"), 3,
                                                                                 {"XOF": D("3000.00")})
    assert funder[a].label == "Alpha Test Fund (ALPHA)"
    assert (country["NRU"].usd, country["NRU"].n_investments, country["NRU"].n_funders) == (D("2500.00"), 7, 2)
    assert [(r.key, r.usd) for r in year.rows] == [("2019", D("0.00")), ("2021", D("100.00")),
                                                   ("2022", D("2100.00")), ("2023", D("300.00"))]
    assert comp[planted["component"]].usd == D("300.00")  # both targets of inv5 land on the component of 16
    assert comp[None].usd == D("2200.00") and comp[None].not_converted == {"XOF": D("3000.00")}
    assert later.total.usd == D("2400.00") and later.total.not_converted == {}


def test_income_group_of_the_commitment_year(db, planted):
    with db.session() as s:
        rows = _rows(coordination.who_funds_what(s, ANONYMOUS, by="income", filters=NRU))
    # Nauru was upper-middle income in fiscal year 2019 and high income from 2021
    assert set(rows) == {"HIC", "UMC"}
    assert (rows["UMC"].usd, rows["UMC"].n_investments, rows["UMC"].not_converted) == (D("0.00"), 1,
                                                                                       {"XOF": D("3000.00")})
    assert (rows["HIC"].usd, rows["HIC"].n_investments) == (D("2500.00"), 6)


def test_unpublished_investments_only_for_who_may_read_them(db, planted):
    with db.session() as s:
        public = coordination.who_funds_what(s, ANONYMOUS, by="country", filters=NRU)
        admin = coordination.who_funds_what(s, CLI_OPERATOR, by="country", filters=NRU)
        focal = accounts.create_user(s, CLI_OPERATOR, {"email": "focal.nru.test@example.org",
                                                       "display_name": "Focal"})
        accounts.grant_role(s, CLI_OPERATOR, focal.id, {"role": "country_focal_point", "country_iso3": "NRU"})
        other = accounts.create_user(s, CLI_OPERATOR, {"email": "focal.tuv.test@example.org",
                                                       "display_name": "Other"})
        accounts.grant_role(s, CLI_OPERATOR, other.id, {"role": "country_focal_point", "country_iso3": "TUV"})
        s.flush()
        s.refresh(focal)
        s.refresh(other)
        as_focal = coordination.who_funds_what(s, accounts.principal_for(focal, via="session"), by="country",
                                               filters=NRU)
        as_other = coordination.who_funds_what(s, accounts.principal_for(other, via="session"), by="country",
                                               filters=NRU)
    assert public.total.usd == D("2500.00") and public.total.n_investments == 7
    assert admin.total.usd == D("7500.00") and admin.total.n_investments == 8
    assert as_focal.total.usd == D("7500.00")
    assert as_other.total.usd == D("2500.00")


def test_overlap_planted(db, planted):
    with db.session() as s:
        found = coordination.overlap(s, "nru")
    assert [o["code"] for o in found] == ["1.4.1"]  # 1.2.1: two funders but in different areas
    o = found[0]
    assert o["level"] == "areas" and o["shared_areas"] == ["NR-01"] and o["n_funders"] == 2
    by_name = {f["name"]: f for f in o["funders"]}
    # Alpha: 0.4 x 1000 (inv1, areas unknown) + 100 (inv6, impl2); Beta: half of 1000 (impl1 has two codes)
    assert by_name["Alpha Test Fund (ALPHA)"]["usd"] == "500.00"
    assert by_name["Alpha Test Fund (ALPHA)"]["areas"] == ["NR-01", "NR-03"]
    assert by_name["Alpha Test Fund (ALPHA)"]["areas_unknown"] is True
    assert by_name["Beta Test Fund (BETA)"]["usd"] == "500.00"


def test_fragmentation_planted(db, planted):
    with db.session() as s:
        frag = coordination.fragmentation(s, "NRU")
    rows = {r["code"]: r for r in frag["codes"]}
    assert set(rows) == {"1.1.2", "1.4.1", "1.2.1"}
    # 1.4.1: S1 reaches 4000 persons, S2 2000 -> shares 2/3 and 1/3 -> F = 1 - 5/9 = 0.444, F* = 8/9
    assert (rows["1.4.1"]["basis"], rows["1.4.1"]["n_systems"], rows["1.4.1"]["index"],
            rows["1.4.1"]["index_normalised"]) == ("persons", 2, "0.444", "0.889")
    # 1.2.1: impl3 has no count of persons -> equal shares: F = 0.5, F* = 1
    assert (rows["1.2.1"]["basis"], rows["1.2.1"]["index"], rows["1.2.1"]["index_normalised"]) == (
        "implementations", "0.500", "1.000")
    assert rows["1.1.2"]["index"] == "0.000" and rows["1.1.2"]["n_systems"] == 1
    assert frag["index"] == "0.315"  # (0 + 0.5 + 0.444) / 3


def test_gap_view_marks_unfunded_priorities(db, planted):
    with db.session() as s:
        scores = full_scores(s, 3)
        transfer.import_file(s, CLI_OPERATOR, gdhm_csv(s, [{"iso3": "NRU", "year": 2024, "scores": scores}]),
                             published=True)
    with db.session() as s:
        view = coordination.gap_view(s, "NRU")
        components = coordination.indicator_components(s)
    rows = {r["indicator"]: r for r in view["priorities"]}
    assert rows["16"]["status"] == "funded" and rows["16"]["direct"]["usd"] == "150.00"
    assert rows["16"]["component_money"]["usd"] == "150.00"
    same = [c for c, r in rows.items() if c != "16" and components[c] == planted["component"]]
    other = [c for c, r in rows.items() if components[c] != planted["component"]]
    assert same and all(rows[c]["status"] == "component_only" for c in same)
    assert other and all(rows[c]["status"] == "unfunded" for c in other)
    assert view["unfunded"] == len(other)


def test_bad_parameters(db):
    with db.session() as s:
        for kwargs in ({"by": "planet"}, {"filters": coordination.Filters(country="NR1")},
                       {"filters": coordination.Filters(year_from=2020, year_to=2019)},
                       {"filters": coordination.Filters(year_from=99999)}):
            with pytest.raises(ValidationFailed):
                coordination.who_funds_what(s, ANONYMOUS, **kwargs)
        with pytest.raises(NotFound):
            coordination.overlap(s, "ZZZ")
        with pytest.raises(NotFound):
            coordination.fragmentation(s, "'; drop table x; --")
        empty = coordination.who_funds_what(s, ANONYMOUS, by="category")
        assert empty.rows == [] and empty.total.usd == 0


# ---------------------------------------------------------------- API and pages


@pytest.fixture
def planted_demo(demo_db):  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        ids = _plant(s)
    return ids


def test_api_funding_json_csv_xlsx(client, planted_demo):
    params = {"by": "funder", "country": "NRU"}
    r = client.get("/api/atlas/funding", params=params)
    assert r.status_code == 200
    body = r.json()
    rows = {row["key"]: row for row in body["rows"]}
    assert rows[str(planted_demo["beta"])]["usd"] == "1050.00"
    assert rows[str(planted_demo["beta"])]["not_converted"] == [{"currency": "XOF", "amount": "3000.00"}]
    assert body["total"]["usd"] == "2500.00"
    r = client.get("/api/atlas/funding", params={**params, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(r.text)))
    by_key = {p["key"]: p for p in parsed}
    assert by_key[str(planted_demo["alpha"])]["usd"] == "1450.00"
    assert by_key[str(planted_demo["beta"])]["not_converted"] == "XOF 3000.00"
    assert by_key["total"]["usd"] == "2500.00"
    r = client.get("/api/atlas/funding", params={**params, "format": "xlsx"})
    assert r.status_code == 200
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(r.content)).active
    values = list(ws.iter_rows(values_only=True))
    header = values[0]
    got = {str(v[header.index("key")]): v for v in values[1:]}
    assert D(str(got[str(planted_demo["alpha"])][header.index("usd")])) == D("1450")
    assert got["total"][header.index("n_investments")] == 7


def test_api_other_views(client, planted_demo):
    r = client.get("/api/atlas/overlap", params={"country": "NRU"})
    assert r.status_code == 200 and [o["code"] for o in r.json()["overlap"]] == ["1.4.1"]
    r = client.get("/api/atlas/fragmentation", params={"country": "NRU"})
    assert r.status_code == 200 and r.json()["index"] == "0.315"
    r = client.get("/api/atlas/countries/KEN/gaps")
    assert r.status_code == 200 and r.json()["year"] == 2025 and r.json()["priorities"]
    assert {p["status"] for p in r.json()["priorities"]} <= {"funded", "component_only", "unfunded"}
    assert r.json()["unfunded"] == sum(1 for p in r.json()["priorities"] if p["status"] == "unfunded")


@pytest.mark.parametrize("url", [
    "/api/atlas/funding?by=planet", "/api/atlas/funding?country=%00%00%00", "/api/atlas/funding?year_from=1e9",
    "/api/atlas/funding?year_from=2024&year_to=2020", "/api/atlas/funding?funder=99999999999999999999",
    "/api/atlas/funding?format=exe", "/api/atlas/funding?region=" + "A" * 500, "/api/atlas/overlap",
    "/api/atlas/overlap?country=ZZZ", "/api/atlas/fragmentation?country=<script>",
    "/api/atlas/countries/ZZZ/gaps", "/api/atlas/countries/" + "K" * 300 + "/gaps",
    "/atlas/funding?by=planet", "/atlas/funding?year_from=abc", "/atlas/countries/ZZZ",
    "/atlas/funding?country=%3Cscript%3E",
])
def test_bad_params_never_500(client, url):
    r = client.get(url)
    assert 400 <= r.status_code < 500, (url, r.status_code)
    assert "<script>" not in r.text


def test_pages(client, planted_demo, demo_db):
    r = client.get("/atlas/funding", params={"by": "country"})
    assert r.status_code == 200
    assert "Nauru" in r.text and "2,500.00" in r.text and "XOF" in r.text and "<svg" in r.text
    assert 'href="/api/atlas/funding?by=country&amp;format=csv"' in r.text
    r = client.get("/atlas/funding", params={"by": "category", "country": "NRU"})
    assert r.status_code == 200 and "1,100.00" in r.text
    r = client.get("/atlas/countries/NRU")
    assert r.status_code == 200 and "1.4.1" in r.text and "NR-01" in r.text and "0.315" in r.text
    r = client.get("/atlas/countries/KEN")
    assert r.status_code == 200 and "unfunded" in r.text
    with demo_db.session() as s:
        before = s.scalar(select(func.count()).select_from(Investment))
        assert s.scalar(select(func.count()).select_from(Solution)) >= 3
    client.get("/atlas/funding", params={"by": "'; delete from atlas_investment; --"})
    with demo_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Investment)) == before


def test_draft_hidden_from_public_api(client, planted_demo):
    from tests.conftest import demo_email, login

    r = client.get("/api/atlas/funding", params={"by": "country", "country": "NRU"})
    assert r.json()["total"]["usd"] == "2500.00"
    login(client, demo_email("admin"))
    r = client.get("/api/atlas/funding", params={"by": "country", "country": "NRU"})
    assert r.json()["total"]["usd"] == "7500.00"


"""Atlas money: exact amounts, ISO 4217 currencies, the rate table (HTTP, CLI, service) and
investments over the HTTP API, with what is refused and that a refusal writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from dho.accounts.permissions import CLI_OPERATOR, Grant, Principal
from dho.atlas import money
from dho.atlas.models import FxRate
from dho.cli import app
from dho.errors import Forbidden, PayloadTooLarge, ValidationFailed
from tests.atlas.test_records import audit_for, counts, impl_body, orgs, token

API = "/api/atlas/investments"
SOURCE = "Test rates (made up for the tests)"


def inv_body(o: dict[str, int], **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "title": "Digital health grant", "funder_org_id": o["NHF"], "recipient_org_id": o["MOH-KEN"],
        "country_iso3": "KEN", "amount": "1300000.00", "currency": "KES", "kind": "grant",
        "committed_on": "2024-02-01", "period_start": 2024, "period_end": 2026,
        "disbursements": [{"on_date": "2024-06-01", "amount": "300000"}, {"on_date": "2025-01-15", "amount": 200000}],
        "targets": [{"kind": "intervention", "ref": "1.1.1", "share": "0.5"},
                    {"kind": "component", "ref": "1", "share": "0.5"}],
    }
    body.update(over)
    return body


@pytest.fixture
def ctx(client, demo_db):  # type: ignore[no-untyped-def]
    class Ctx:
        pass

    c = Ctx()
    c.client, c.db, c.orgs = client, demo_db, orgs(demo_db)
    c.partner = token(demo_db, "partner.northwind")
    c.focal = token(demo_db, "focal.ken")
    c.admin = token(demo_db, "admin", ("read", "write", "admin"))
    r = client.post("/api/atlas/rates", content=f"currency,year,units_per_usd,source\nKES,2024,130,{SOURCE}\n",
                    headers=c.admin)
    assert r.status_code == 200, r.text
    return c


def refused(c, body: dict, status: int = 422, headers=None) -> dict:  # type: ignore[no-untyped-def]
    before = counts(c.db)
    r = c.client.post(API, json=body, headers=headers or c.partner)
    assert r.status_code == status, r.text
    assert "problem+json" in r.headers["content-type"]
    assert counts(c.db) == before, "a refused investment changed the database"
    return r.json()


def fields(problem: dict) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


# ---------------------------------------------------------------- investments


def test_investment_is_converted_with_the_years_rate_and_published_on_approval(ctx):  # type: ignore[no-untyped-def]
    r = ctx.client.post(API, json=inv_body(ctx.orgs), headers=ctx.partner)
    assert r.status_code == 201, r.text
    inv = r.json()
    assert (inv["amount"], inv["currency"], inv["usd"]) == ("1300000.00", "KES", "10000.00")
    assert Decimal(inv["usd_rate"]) == 130 and inv["usd_rate_source"] == SOURCE
    assert (inv["status"], inv["approval"], inv["owner_org_id"]) == ("draft", "pending", ctx.orgs["NHF"])
    assert [d["amount"] for d in inv["disbursements"]] == ["300000.00", "200000.00"]
    assert {(t["kind"], t["ref"], t["share"]) for t in inv["targets"]} == {("intervention", "1.1.1", "0.50000"),
                                                                           ("component", "1", "0.50000")}
    assert audit_for(ctx.db, "atlas_investment", inv["id"]) == ["create"]
    assert ctx.client.get(f"{API}/{inv['id']}").status_code == 404
    assert ctx.client.post(f"{API}/{inv['id']}/approve", headers=token(ctx.db, "focal.sen")).status_code == 404
    assert ctx.client.post(f"{API}/{inv['id']}/approve", headers=ctx.partner).status_code == 403
    assert ctx.client.post(f"{API}/{inv['id']}/approve").status_code == 401
    r = ctx.client.post(f"{API}/{inv['id']}/approve", headers=ctx.focal)
    assert r.status_code == 200 and (r.json()["status"], r.json()["approval"]) == ("published", "approved")
    assert audit_for(ctx.db, "atlas_investment", inv["id"]) == ["create", "update"]
    public = ctx.client.get(f"{API}/{inv['id']}")
    assert public.status_code == 200 and public.json()["usd"] == "10000.00"
    # a USD investment needs no rate
    r = ctx.client.post(API, json=inv_body(ctx.orgs, currency="usd", amount=5000, title="In dollars", disbursements=[]),
                        headers=ctx.partner)
    assert r.status_code == 201, r.text
    assert (r.json()["currency"], r.json()["usd"], r.json()["usd_rate_source"]) == ("USD", "5000.00", "USD")


def test_investment_list_is_filtered_in_the_database(ctx):  # type: ignore[no-untyped-def]
    draft = ctx.client.post(API, json=inv_body(ctx.orgs, title="Zq draft"), headers=ctx.partner).json()
    pub = ctx.client.post(API, json=inv_body(ctx.orgs, title="Zq published"), headers=ctx.partner).json()
    ctx.client.post(f"{API}/{pub['id']}/approve", headers=ctx.focal)

    def ids(headers, **params):  # type: ignore[no-untyped-def]
        r = ctx.client.get(API, params={"country": "KEN", "limit": 500, **params}, headers=headers)
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}, r.json()["total"]

    public, total = ids({})
    assert pub["id"] in public and draft["id"] not in public and total == len(public)
    assert {draft["id"], pub["id"]} <= ids(ctx.partner)[0]
    assert draft["id"] in ids(ctx.focal)[0]
    assert draft["id"] in ids(token(ctx.db, "viewer"))[0]
    assert draft["id"] in ids(token(ctx.db, "regional.afr"))[0]
    assert draft["id"] not in ids(token(ctx.db, "regional.amr"))[0]
    assert draft["id"] not in ids(token(ctx.db, "partner.lattice"))[0]
    assert draft["id"] not in ids(token(ctx.db, "focal.sen"))[0]
    everything = ctx.client.get(API, params={"limit": 1}).json()
    assert len(everything["items"]) == 1 and everything["total"] >= 1
    page = ctx.client.get(API, params={"limit": 2, "offset": 1}).json()
    assert page["offset"] == 1 and len(page["items"]) <= 2
    assert ctx.client.get(API, params={"status": "draft"}).json()["items"] == []
    assert ctx.client.get(API, params={"limit": 0}).status_code == 422


@pytest.mark.parametrize(("amount", "words"), [
    ("-5", "more than zero"), ("0", "more than zero"), (0, "more than zero"), ("1e20", "too large"),
    ("10.005", "two decimals"), (1000.5, None), (1000.0, None), ("abc", "not a number"), ("NaN", "not a number"),
    ("Infinity", "not a number"), ("", "not a number"), (True, None), (None, None), ([], None), ({"a": 1}, None),
    ("1_000", "not a number"), ("0x10", "not a number"), ("١٠٠", "not a number"),
])
def test_bad_amounts_are_refused(ctx, amount, words):  # type: ignore[no-untyped-def]
    problem = refused(ctx, inv_body(ctx.orgs, amount=amount))
    messages = " ".join(e["message"] for e in problem["errors"])
    assert any(f.startswith("amount") for f in fields(problem)), problem
    if words:
        assert words in messages


@pytest.mark.parametrize(("currency", "status"), [("ABC", 422), ("XAU", 422), ("XXX", 422), ("", 422),
                                                  ("EURO", 422), ("€", 422)])
def test_unknown_currencies_are_refused(ctx, currency, status):  # type: ignore[no-untyped-def]
    problem = refused(ctx, inv_body(ctx.orgs, currency=currency), status)
    assert fields(problem) & {"currency"}


def test_missing_rate_is_refused_naming_currency_and_year(ctx):  # type: ignore[no-untyped-def]
    problem = refused(ctx, inv_body(ctx.orgs, committed_on="2012-05-01", period_start=2012,
                                    disbursements=[]))
    assert any("KES" in e["message"] and "2012" in e["message"] for e in problem["errors"]), problem
    problem = refused(ctx, inv_body(ctx.orgs, currency="TZS"))
    assert any("TZS" in e["message"] and "2024" in e["message"] for e in problem["errors"]), problem


@pytest.mark.parametrize("over", [
    {"period_start": 2026, "period_end": 2024},
    {"disbursements": [{"on_date": "2023-12-31", "amount": "10"}]},
    {"committed_on": "2027-01-01"},
    {"disbursements": [{"on_date": "2024-03-01", "amount": "1000000"},
                       {"on_date": "2024-04-01", "amount": "300000.01"}]},
    {"disbursements": [{"on_date": "2024-03-01", "amount": "-1"}]},
    {"disbursements": [{"on_date": "2024-03-01", "amount": 1.5}]},
    {"kind": "gift"},
    {"funder_org_id": 999999},
    {"recipient_org_id": 999999},
    {"country_iso3": "XYZ"},
    {"title": "bell\x07"},
    {"extra": 1},
    {"amount": "1" * 31},
])
def test_invalid_investments_are_refused(ctx, over):  # type: ignore[no-untyped-def]
    problem = refused(ctx, inv_body(ctx.orgs, **over))
    assert problem["errors"], problem


def test_targets_are_checked(ctx):  # type: ignore[no-untyped-def]
    ken = ctx.client.post("/api/atlas/implementations", json=impl_body(ctx.orgs, name="Zq target"),
                          headers=ctx.partner).json()
    sen = ctx.client.post("/api/atlas/implementations", json=impl_body(ctx.orgs, country_iso3="SEN", coverage=[],
                                                                       name="Zq target"), headers=ctx.partner).json()
    for target in ({"kind": "implementation", "ref": "99999999"}, {"kind": "implementation", "ref": str(sen["id"])},
                   {"kind": "implementation", "ref": "-1"}, {"kind": "implementation", "ref": "1" * 40},
                   {"kind": "intervention", "ref": "9.9.9"}, {"kind": "component", "ref": "99"},
                   {"kind": "priority", "ref": "999"}, {"kind": "wish", "ref": "1"}):
        problem = refused(ctx, inv_body(ctx.orgs, targets=[target]))
        assert problem["errors"], (target, problem)
    for targets in ([{"kind": "component", "ref": "1", "share": "0.5"},
                     {"kind": "component", "ref": "2", "share": "0.4"}],
                    [{"kind": "component", "ref": "1", "share": "0.5"}, {"kind": "component", "ref": "2"}],
                    [{"kind": "component", "ref": "1", "share": "1.5"}],
                    [{"kind": "component", "ref": "1", "share": "0"}],
                    [{"kind": "component", "ref": "1", "share": "NaN"}],
                    [{"kind": "component", "ref": "1", "share": "x"}],
                    [{"kind": "component", "ref": "1"}, {"kind": "component", "ref": "1"}]):
        problem = refused(ctx, inv_body(ctx.orgs, targets=targets))
        assert "targets" in " ".join(fields(problem)), (targets, problem)
    ok = inv_body(ctx.orgs, targets=[{"kind": "implementation", "ref": str(ken["id"]), "share": "0.25"},
                                     {"kind": "priority", "ref": "1", "share": "0.75"}])
    r = ctx.client.post(API, json=ok, headers=ctx.partner)
    assert r.status_code == 201, r.text


def test_duplicate_investment_conflicts(ctx):  # type: ignore[no-untyped-def]
    r = ctx.client.post(API, json=inv_body(ctx.orgs), headers=ctx.partner)
    assert r.status_code == 201
    problem = refused(ctx, inv_body(ctx.orgs, title="digital HEALTH grant"), 409)
    assert str(r.json()["id"]) in problem["detail"]


def test_investment_permissions(ctx):  # type: ignore[no-untyped-def]
    refused(ctx, inv_body(ctx.orgs), 401, {"X-None": "1"})
    refused(ctx, inv_body(ctx.orgs, owner_org_id=ctx.orgs["LHS"]), 403)
    refused(ctx, inv_body(ctx.orgs), 403, token(ctx.db, "focal.sen"))
    refused(ctx, inv_body(ctx.orgs), 403, token(ctx.db, "viewer"))
    # a partner that is not the funder records the investment under its own organisation
    r = ctx.client.post(API, json=inv_body(ctx.orgs), headers=token(ctx.db, "partner.lattice"))
    assert r.status_code == 201 and r.json()["owner_org_id"] == ctx.orgs["LHS"]


# ---------------------------------------------------------------- parse_amount and currencies


def test_parse_amount_and_currency_directly():
    assert money.parse_amount("1 234 567.5") == Decimal("1234567.50")
    assert money.parse_amount(12) == Decimal("12.00")
    assert money.parse_amount(Decimal("0.01")) == Decimal("0.01")
    assert money.parse_amount("0", allow_zero=True) == Decimal("0.00")
    for bad in (0.1, "1e16", "-0.01", "0.001", "1,2,3x", Decimal("NaN"), Decimal("1e16"), "snan", True, object()):
        with pytest.raises(ValidationFailed):
            money.parse_amount(bad)
    assert money.check_currency(" eur ") == "EUR"
    assert "XOF" in money.currencies() and "XAU" not in money.currencies()
    for bad in ("ABC", "XAU", "", "EU", "EURO", None):
        with pytest.raises(ValidationFailed):
            money.check_currency(bad)  # type: ignore[arg-type]
    assert money.precision("JPY") == 0 and money.precision("EUR") == 2


# ---------------------------------------------------------------- the rate table


ADMIN = CLI_OPERATOR
HEADER = "currency,year,units_per_usd,source\n"


def rates_in(db) -> dict[tuple[str, int], tuple[Decimal, str]]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return {(r.currency, r.year): (r.units_per_usd, r.source) for r in s.query(FxRate)}


def load(db, data: bytes | str, principal: Principal = ADMIN) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return money.load_rates(s, principal, data.encode() if isinstance(data, str) else data)


def test_rates_load_convert_and_replace(db):  # type: ignore[no-untyped-def]
    good = HEADER + "XOF,2019,585.91,World Bank WDI PA.NUS.FCRF\n\nEUR,2019,0.8933,\"ECB, annual average\"\n"
    assert load(db, "\ufeff" + good) == {"added": 2, "updated": 0}
    assert load(db, good) == {"added": 0, "updated": 0}
    assert load(db, HEADER + "XOF,2019,600,Revised\n") == {"added": 0, "updated": 1}
    table = rates_in(db)
    assert table[("XOF", 2019)] == (Decimal("600"), "Revised")
    assert table[("EUR", 2019)][1] == "ECB, annual average"
    with db.session() as s:
        rates = money.Rates(s)
        conv = rates.convert(Decimal("1200.00"), "XOF", 2019)
        assert (conv.usd, conv.rate, conv.source) == (Decimal("2.00"), Decimal(600), "Revised")
        assert rates.convert(Decimal("10"), "XOF", 2018).usd is None  # no rate: not converted, never guessed
        assert rates.convert(Decimal("10"), "USD", 1995).usd == Decimal("10")
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM audit_entry WHERE object_type = 'atlas_fx_rate'")).scalar() == 3


@pytest.mark.parametrize(("csv_text", "where"), [
    ("XOF,2019,585.91,WB\nXOF,2019,590,WB\n", "row 4, currency"),
    ("USD,2019,1,WB\n", "row 3, currency"),
    ("ABC,2019,1,WB\n", "row 3, currency"),
    ("XAU,2019,1,WB\n", "row 3, currency"),
    ("XOF,2019,0,WB\n", "row 3, units_per_usd"),
    ("XOF,2019,-3,WB\n", "row 3, units_per_usd"),
    ("XOF,2019,NaN,WB\n", "row 3, units_per_usd"),
    ("XOF,2019,Infinity,WB\n", "row 3, units_per_usd"),
    ("XOF,2019,abc,WB\n", "row 3, units_per_usd"),
    ("XOF,2019,585.91,\n", "row 3, source"),
    ("XOF,2019,585.91,   \n", "row 3, source"),
    ("XOF,1900,585.91,WB\n", "row 3, year"),
    ("XOF,twenty,585.91,WB\n", "row 3, year"),
    ("XOF,2019,585.91\n", "row 3, *"),
    ("XOF,2019,585.91,WB,extra\n", "row 3, *"),
    ("XOF,2019,1_000,WB\n", "row 3, units_per_usd"),
    ("XOF,2019,1,5,WB\n", "row 3, *"),
    ('XOF,2019,"1,5",WB\n', "row 3, units_per_usd"),
    ("XOF,２０１９,585.91,WB\n", "row 3, year"),
    ("XOF,2019,0.00000000001,WB\n", "row 3, units_per_usd"),
    ("XOF,2019,1e10,WB\n", "row 3, units_per_usd"),
    ("XOF,2019,585.91," + "s" * 301 + "\n", "row 3, source"),
    ("EUR,2019,0.9,WB\nXOF,2019,585.91,WB\x00\n", "row 4"),
])
def test_bad_rate_rows_are_reported_and_nothing_loads(db, csv_text, where):  # type: ignore[no-untyped-def]
    """Row 2 is a good row; rows are numbered as in a spreadsheet (the header is row 1)."""
    with pytest.raises(ValidationFailed) as info:
        load(db, HEADER + "GBP,2020,0.78,WB\n" + csv_text)
    assert rates_in(db) == {}  # not even the good row
    assert any(e.field.startswith(where) for e in info.value.errors), info.value.errors


@pytest.mark.parametrize("data", [b"", b"cur,year,rate,source\nXOF,2019,1,WB\n", b"\xff\xfeX\x00O\x00F\x00",
                                  b"currency;year;units_per_usd;source\nXOF;2019;1;WB\n",
                                  HEADER.encode("utf-16")])
def test_bad_rate_files_load_nothing(db, data):  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as info:
        load(db, data)
    assert "nothing was loaded" in info.value.detail
    assert rates_in(db) == {}


def test_oversized_rate_file_is_refused(db):  # type: ignore[no-untyped-def]
    row = "XOF,2019,585.91," + "x" * 200 + "\n"
    with pytest.raises(PayloadTooLarge):
        load(db, HEADER + row * (money.MAX_RATES_BYTES // len(row) + 10))
    assert rates_in(db) == {}


def test_only_admin_and_secretariat_load_rates(demo_db):  # type: ignore[no-untyped-def]
    before = rates_in(demo_db)
    for grant in (Grant("country_focal_point", country_iso3="KEN"), Grant("partner", organisation_id=1),
                  Grant("viewer"), Grant("regional", region_code="AFR")):
        with pytest.raises(Forbidden):
            load(demo_db, HEADER + "XOF,2019,1,WB\n", Principal(1, "x@example.org", (grant,), None, "session"))
    assert rates_in(demo_db) == before
    load(demo_db, HEADER + "XOF,1999,600,WB\n", Principal(1, "x@example.org", (Grant("secretariat"),), None, "session"))
    assert rates_in(demo_db)[("XOF", 1999)] == (Decimal(600), "WB")


def test_rates_over_http(client, demo_db):  # type: ignore[no-untyped-def]
    before = rates_in(demo_db)
    admin = token(demo_db, "admin", ("read", "write", "admin"))
    url = "/api/atlas/rates"
    assert client.post(url, content=HEADER + "XOF,1999,600,WB\n").status_code == 401
    assert client.post(url, content=HEADER + "XOF,1999,600,WB\n",
                       headers=token(demo_db, "focal.ken")).status_code == 403
    assert client.post(url, content=HEADER + "XOF,1999,600,WB\n",
                       headers=token(demo_db, "secretariat")).status_code == 403  # a token needs the admin scope
    # the admin scope is needed
    assert client.post(url, content=HEADER + "XOF,1999,600,WB\n",
                       headers=token(demo_db, "admin", ("read", "write"))).status_code == 403
    r = client.post(url, content=HEADER + "XOF,1999,600,WB\nXOF,1998,-1,WB\n", headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "row 3, units_per_usd"
    assert client.post(url, content=b"x" * 2_000_001, headers=admin).status_code == 413
    assert client.post(url, content=b"\xff\xfe\x00", headers=admin).status_code == 422
    assert rates_in(demo_db) == before
    r = client.post(url, content=HEADER + "XOF,1999,600,WB\n", headers=admin)
    assert r.status_code == 200 and r.json() == {"added": 1, "updated": 0}
    assert rates_in(demo_db)[("XOF", 1999)] == (Decimal(600), "WB")


def test_rates_from_the_command_line(db, tmp_path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    good = tmp_path / "rates.csv"
    good.write_text(HEADER + "XOF,2019,585.91,World Bank\nEUR,2019,0.8933,ECB\n", encoding="utf-8")
    r = runner.invoke(app, ["atlas", "rates", str(good), "--database", db.url], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "2 added, 0 updated" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "GBP,2019,0.78,BoE\nXOF,2019,-1,World Bank\n", encoding="utf-8")
    r = runner.invoke(app, ["atlas", "rates", str(bad), "--database", db.url], catch_exceptions=False)
    assert r.exit_code == 1 and "row 3, units_per_usd" in r.output and "nothing was loaded" in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1
    r = runner.invoke(app, ["atlas", "rates", str(tmp_path / "missing.csv"), "--database", db.url],
                      catch_exceptions=False)
    assert r.exit_code == 1 and "no such file" in r.output
    huge = tmp_path / "huge.csv"
    huge.write_text(HEADER + ("XOF,2019,585.91," + "x" * 250 + "\n") * 25_000, encoding="utf-8")
    r = runner.invoke(app, ["atlas", "rates", str(huge), "--database", db.url], catch_exceptions=False)
    assert r.exit_code == 1
    assert set(rates_in(db)) == {("XOF", 2019), ("EUR", 2019)}
    assert rates_in(db)[("XOF", 2019)] == (Decimal("585.91"), "World Bank")

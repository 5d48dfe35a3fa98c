"""Capacity building: trainings and participants through the service, the API (JSON and CSV) and the
pages; the officials-trained figure counted from records; bad input refused with nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR
from dho.errors import PayloadTooLarge, ValidationFailed
from dho.strategy import training
from tests.conftest import csrf_from, demo_email, login

API = "/api/strategy/trainings"
TABLES = ("strategy_training", "strategy_training_participant", "audit_entry")


def counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.engine.connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}  # noqa: S608


def token(db, local: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        user = accounts.find_user(s, demo_email(local))
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "t", "scopes": ["read", "write"]}, user.id)
    return {"Authorization": f"Bearer {secret}"}


def org_id(db, acronym: str) -> int:  # type: ignore[no-untyped-def]
    with db.engine.connect() as c:
        return int(c.execute(text("SELECT id FROM organisation WHERE acronym = :a"), {"a": acronym}).scalar_one())


def new_training(db, **over: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    b: dict[str, object] = {"title": "Data governance course", "topic": "data_governance",
                            "organiser_org_id": org_id(db, "MOH-KEN"), "host_country_iso3": "KEN",
                            "mode": "in_person", "starts_on": "2026-02-02", "ends_on": "2026-02-06"}
    b.update(over)
    return b


def csv_bytes(rows: list[str], header: str = "country_iso3,role,gender,completed") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


# ---------------------------------------------------------------- demo figures and CSV parsing


def test_demo_officials_trained(demo_db) -> None:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        totals = training.totals(s)
        assert 1600 < totals["registered"] < 1700
        assert totals["officials_trained"] > 1600
        assert totals["official_countries"] > 100
        assert totals["by_gender"]["female"] > 500 and totals["by_gender"]["male"] > 500
        assert sum(totals["by_role"].values()) == totals["completed"]
        years = {t.starts_on.year for t in training.list_trainings(s)}
        assert years == set(range(2021, 2027))


def test_parse_csv_names_row_and_column() -> None:
    rows = training.parse_csv(csv_bytes(["KEN,government_official,female,true", "per,academic,male,no", ""]))
    assert [(r.country_iso3, r.role, r.completed) for r in rows] == [("KEN", "government_official", True),
                                                                     ("PER", "academic", False)]
    # Columns in another order are fine.
    assert training.parse_csv(csv_bytes(["female,KEN,true,health_worker"], "gender,country_iso3,completed,role"))
    with pytest.raises(ValidationFailed) as exc:
        training.parse_csv(csv_bytes(["KEN,government_official,female,true", "KEN,minister,female,true",
                                      "K3N,government_official,x,maybe"]))
    fields = [e.field for e in exc.value.errors]
    assert fields == ["row 3, column role", "row 4, column country_iso3", "row 4, column gender",
                      "row 4, column completed"]
    for bad, where in ((csv_bytes(["KEN,government_official"]), "row 2"),
                       (csv_bytes([], "country,role,gender,completed"), "row 1"),
                       (csv_bytes([], "country_iso3,role,gender,completed,name"), "row 1"),
                       (b"", "file"), (b"\xff\xfe\x00a", "file"), (csv_bytes([]), "file")):
        with pytest.raises(ValidationFailed) as exc:
            training.parse_csv(bad)
        assert exc.value.errors[0].field == where, bad
    with pytest.raises(PayloadTooLarge):
        training.parse_csv(csv_bytes(["KEN,government_official,female,true"] * (training.MAX_ROWS + 1)))
    with pytest.raises(PayloadTooLarge):
        training.parse_csv(b"x" * (training.MAX_CSV_BYTES + 1))


# ---------------------------------------------------------------- API


def test_api_create_and_add_participants(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    focal = token(demo_db, "focal.ken")
    r = client.post(API, json=new_training(demo_db), headers=focal)
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    r = client.post(f"{API}/{tid}/participants", headers=focal, json=[
        {"country_iso3": "KEN", "role": "government_official", "gender": "female"},
        {"country_iso3": "UGA", "role": "health_worker", "gender": "male", "completed": False}])
    assert r.status_code == 201, r.text
    assert r.json()["added"] == 2
    rows = ["KEN,government_official,male,true"] * 300 + ["TZA,government_official,female,yes"] * 200
    r = client.post(f"{API}/{tid}/participants", content=csv_bytes(rows), headers={**focal, "content-type": "text/csv"})
    assert r.status_code == 201, r.text
    detail = client.get(f"{API}/{tid}").json()
    assert detail["participants"] == 502
    assert detail["totals"]["officials_trained"] == 501
    assert detail["totals"]["by_gender"]["female"] == 201
    assert detail["by_country"] == {"KEN": 301, "TZA": 200, "UGA": 1}


def test_api_refusals_write_nothing(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    focal = token(demo_db, "focal.ken")
    other = token(demo_db, "focal.per")
    tid = client.post(API, json=new_training(demo_db), headers=focal).json()["id"]
    before = counts(demo_db)
    assert client.post(API, json=new_training(demo_db)).status_code == 401
    # A focal point of Peru may not record a training organised by Kenya's ministry in Kenya.
    assert client.post(API, json=new_training(demo_db), headers=other).status_code == 403
    admin = token(demo_db, "admin")
    for over in ({"ends_on": "2026-01-01"}, {"mode": "telepathy"}, {"topic": "x" * 41},
                 {"host_country_iso3": "ZZZ"}, {"organiser_org_id": 999_999}, {"starts_on": "1066-10-14"},
                 {"title": ""}, {"extra": 1}):
        r = client.post(API, json=new_training(demo_db, **over), headers=admin)
        assert r.status_code == 422, (over, r.text)
    url = f"{API}/{tid}/participants"
    assert client.post(url, json=[{"country_iso3": "KEN", "role": "academic", "gender": "male"}]).status_code == 401
    assert client.post(url, json=[{"country_iso3": "KEN", "role": "academic", "gender": "male"}],
                       headers=other).status_code == 403
    for bad in ([{"country_iso3": "KEN", "role": "king", "gender": "male"}],
                [{"country_iso3": "ZZZ", "role": "academic", "gender": "male"}],
                [{"country_iso3": "KEN", "role": "academic", "gender": "male", "name": "A. Person"}],
                [], {"a": 1}):
        assert client.post(url, json=bad, headers=focal).status_code == 422, bad
    r = client.post(url, content=b"{not json", headers={**focal, "content-type": "application/json"})
    assert r.status_code == 422
    # One bad row among many valid ones: the whole file is refused, the error names row and column.
    rows = ["KEN,government_official,female,true"] * 100 + ["ZZZ,government_official,female,true"]
    r = client.post(url, content=csv_bytes(rows), headers={**focal, "content-type": "text/csv"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "row 102, column country_iso3"
    big = csv_bytes(["KEN,government_official,female,true"] * 45_000)
    r = client.post(url, content=big, headers={**focal, "content-type": "text/csv"})
    assert r.status_code == 413
    assert client.post(f"{API}/999999/participants", json=[], headers=focal).status_code == 404
    after = counts(demo_db)
    assert {k: after[k] for k in TABLES[:2]} == {k: before[k] for k in TABLES[:2]}


# ---------------------------------------------------------------- pages


def test_pages_show_totals_and_escape(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/strategy/trainings")
    assert page.status_code == 200 and 'id="officials-trained"' in page.text
    assert 'id="new-training"' not in page.text
    assert client.get("/strategy/trainings", params={"year": 2023}).status_code == 200
    assert client.get("/strategy/trainings", params={"year": "abc"}).status_code == 422
    assert client.get("/strategy/trainings/1").status_code == 200
    assert client.get("/strategy/trainings/999999").status_code == 404

    login(client, demo_email("focal.ken"))
    page = client.get("/strategy/trainings")
    tok = csrf_from(page.text)
    form = {"csrf_token": tok, "title": "<img src=x onerror=alert(1)> course", "topic": "ai",
            "organiser_org_id": str(org_id(demo_db, "MOH-KEN")), "host_country_iso3": "KEN", "mode": "blended",
            "starts_on": "2026-03-01", "ends_on": "2026-03-03"}
    before = counts(demo_db)
    r = client.post("/strategy/trainings", data={**form, "ends_on": "2026-02-01"}, follow_redirects=False)
    assert r.status_code == 422 and "nothing was saved" in r.text.lower()
    assert counts(demo_db) == before
    r = client.post("/strategy/trainings", data=form, follow_redirects=False)
    assert r.status_code == 303
    url = r.headers["location"].split("?")[0]
    page = client.get(url)
    assert "&lt;img src=x onerror=alert(1)&gt; course" in page.text and "<img src=x" not in page.text
    tok = csrf_from(page.text)
    r = client.post(f"{url}/participants", data={"csrf_token": tok, "country_iso3": "KEN",
                                                 "role": "government_official", "gender": "female", "completed": "1"},
                    follow_redirects=False)
    assert r.status_code == 303
    files = {"file": ("people.csv", csv_bytes(["SEN,government_official,male,true"] * 3), "text/csv")}
    r = client.post(f"{url}/upload", data={"csrf_token": tok}, files=files, follow_redirects=False)
    assert r.status_code == 303, r.text
    before = counts(demo_db)
    files = {"file": ("people.csv", csv_bytes(["SEN,government_official,male,true", "SEN,<b>,male,true"]),
                      "text/csv")}
    r = client.post(f"{url}/upload", data={"csrf_token": tok}, files=files, follow_redirects=False)
    assert r.status_code == 422 and "row 3, column role" in r.text and "&lt;b&gt;" in r.text
    assert counts(demo_db) == before
    assert 'id="participants">4<' in client.get(url).text

"""Action plans through the API and the pages, on SQLite and PostgreSQL: the demo plans, who may change
which plan, what is refused (and that a refusal writes nothing), optimistic locking, updates turning
RAG, and the annual review with its hashed snapshot and carry-forward."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import text

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR
from tests.conftest import csrf_from, demo_email, login

API = "/api/plans"
COUNTED = ("strategy_plan", "strategy_activity", "strategy_activity_link", "strategy_milestone",
           "strategy_activity_update", "strategy_plan_review", "audit_entry")
TODAY = dt.datetime.now(dt.UTC).date()


def token(demo_db, local: str, scopes=("read", "write")) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        user = accounts.find_user(s, demo_email(local))
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "t", "scopes": list(scopes)}, user.id)
    return {"Authorization": f"Bearer {secret}"}


def counts(demo_db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with demo_db.engine.connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED}  # noqa: S608


def scalar(demo_db, sql: str, **params: object) -> object:  # type: ignore[no-untyped-def]
    with demo_db.engine.connect() as c:
        return c.execute(text(sql), params).scalar()


def plan_of(client, iso3: str) -> dict:  # type: ignore[no-untyped-def]
    r = client.get(API, params={"country": iso3, "status": "active"})
    assert r.status_code == 200
    (item,) = r.json()["items"]
    return client.get(f"{API}/{item['id']}").json()


def activity_body(**over: object) -> dict[str, object]:
    body: dict[str, object] = {"title": "Write the interoperability guidelines", "budget": "25000.50", "spent": "0",
                               "currency": "KES", "starts_on": (TODAY - dt.timedelta(days=10)).isoformat(),
                               "due_on": (TODAY + dt.timedelta(days=120)).isoformat(), "status": "in_progress",
                               "progress": 10, "milestones": [{"title": "Draft", "due_on": (
                                   TODAY + dt.timedelta(days=60)).isoformat()}],
                               "links": [{"kind": "objective", "ref": "SO2"}]}
    body.update(over)
    return body


def other_country_record(demo_db, table: str, iso3: str) -> int:  # type: ignore[no-untyped-def]
    sql = f"SELECT min(id) FROM {table} WHERE country_iso3 = :c"  # noqa: S608 (a table name of this file)
    return int(scalar(demo_db, sql, c=iso3))  # type: ignore[arg-type]


# ---------------------------------------------------------------- reading


def test_demo_has_a_plan_per_country_a_secretariat_and_a_partner_plan(client) -> None:  # type: ignore[no-untyped-def]
    from dho.demo import DEMO_COUNTRIES

    items = client.get(API, params={"limit": 500}).json()["items"]
    countries = {p["country_iso3"] for p in items if p["owner_kind"] == "country"}
    assert countries == {c for cs in DEMO_COUNTRIES.values() for c in cs}
    assert [p["owner_kind"] for p in items].count("secretariat") == 1
    assert [p["owner_kind"] for p in items].count("partner") == 1
    assert all(6 <= p["activity_count"] <= 15 for p in items if p["status"] == "active")
    reviewed = [p for p in items if p["status"] == "reviewed"]
    assert len(reviewed) == 1 and reviewed[0]["next_id"]
    every = {}
    for p in items:
        for k, v in p["rag_counts"].items():
            every[k] = every.get(k, 0) + v
    assert every["red"] and every["amber"] and every["green"] and every["done"]
    # links reach real records of the country
    kenya = plan_of(client, "KEN")
    kinds = {link["kind"] for a in kenya["activities"] for link in a["links"]}
    assert {"gap", "objective", "annex_action"} <= kinds
    assert client.get(API, params={"owner": "robot"}).status_code == 422


def test_rag_at_another_date(client) -> None:  # type: ignore[no-untyped-def]
    kenya = plan_of(client, "KEN")
    early = client.get(f"{API}/{kenya['id']}", params={"on": kenya["starts_on"]}).json()
    assert early["rag_on"] == kenya["starts_on"]
    assert early["rag_counts"]["red"] <= kenya["rag_counts"]["red"]


# ---------------------------------------------------------------- writing


def test_focal_point_adds_an_activity_with_real_links(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    kenya = plan_of(client, "KEN")
    inv = other_country_record(demo_db, "atlas_investment", "KEN")
    impl = other_country_record(demo_db, "atlas_implementation", "KEN")
    gap = next(link["ref"] for a in kenya["activities"] for link in a["links"] if link["kind"] == "gap")
    links = [{"kind": "gap", "ref": gap}, {"kind": "objective", "ref": "SO2"},
             {"kind": "annex_action", "ref": "SO2.MS.S1"}, {"kind": "investment", "ref": str(inv)},
             {"kind": "implementation", "ref": str(impl)}, {"kind": "indicator", "ref": "SO2.COSTED_PLAN"}]
    before = counts(demo_db)
    r = client.post(f"{API}/{kenya['id']}/activities", json=activity_body(links=links),
                    headers=token(demo_db, "focal.ken"))
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["budget"] == "25000.50" and a["rag"] == "green" and len(a["links"]) == 6 and len(a["milestones"]) == 1
    after = counts(demo_db)
    assert after["strategy_activity"] == before["strategy_activity"] + 1
    assert after["strategy_activity_link"] == before["strategy_activity_link"] + 6
    assert scalar(demo_db, "SELECT count(*) FROM audit_entry WHERE object_type = 'strategy_activity' "
                  "AND object_id = :i", i=str(a["id"])) == 1


@pytest.mark.parametrize(("over", "field"), [
    ({"due_on": (TODAY - dt.timedelta(days=30)).isoformat()}, "the due date"),  # ends before it starts
    ({"title": "x" * 301}, "title"),
    ({"description": "y" * 10_001}, "description"),
    ({"title": "bad\x00title"}, "title"),
    ({"budget": "1,5"}, "budget"),
    ({"budget": 1.5}, "budget"),
    ({"budget": "-3"}, "budget"),
    ({"budget": "1e30"}, "budget"),
    ({"currency": "XXX"}, "currency"),
    ({"progress": 101}, "progress"),
    ({"status": "finished"}, "status"),
    ({"owner_org_id": 999_999}, "owner_org_id"),
    ({"robot": True}, "robot"),
    ({"starts_on": "1850-01-01", "due_on": "1850-02-01"}, "starts_on"),
    ({"links": [{"kind": "gap", "ref": "99"}]}, "links[1]"),
    ({"links": [{"kind": "objective", "ref": "SO9"}]}, "links[1]"),
    ({"links": [{"kind": "annex_action", "ref": "SO1.XX.S1"}]}, "links[1]"),
    ({"links": [{"kind": "investment", "ref": "99999999"}]}, "links[1]"),
    ({"links": [{"kind": "implementation", "ref": "abc"}]}, "links[1]"),
    ({"links": [{"kind": "indicator", "ref": "lower case!"}]}, "links[1]"),
    ({"links": [{"kind": "wish", "ref": "x"}]}, "links"),
])
def test_bad_activities_are_refused_and_nothing_is_written(client, demo_db, over, field) -> None:  # type: ignore[no-untyped-def]
    kenya = plan_of(client, "KEN")
    ken = token(demo_db, "focal.ken")
    before = counts(demo_db)
    r = client.post(f"{API}/{kenya['id']}/activities", json=activity_body(**over), headers=ken)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["type"].endswith("validation-failed")
    assert field in json.dumps(problem)
    assert counts(demo_db) == before


def test_another_countrys_investment_or_implementation_is_refused(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    kenya = plan_of(client, "KEN")
    peru_inv = other_country_record(demo_db, "atlas_investment", "PER")
    peru_impl = other_country_record(demo_db, "atlas_implementation", "PER")
    ken = token(demo_db, "focal.ken")
    before = counts(demo_db)
    r = client.post(f"{API}/{kenya['id']}/activities", headers=ken, json=activity_body(
        links=[{"kind": "investment", "ref": str(peru_inv)}, {"kind": "implementation", "ref": str(peru_impl)}]))
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"links[1]", "links[2]"}
    assert counts(demo_db) == before


def test_kenya_cannot_edit_perus_plan_and_anonymous_cannot_write(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    peru = plan_of(client, "PER")
    act = peru["activities"][0]
    ken = token(demo_db, "focal.ken")
    viewer, read_only = token(demo_db, "viewer"), token(demo_db, "focal.per", scopes=("read",))
    before = counts(demo_db)
    assert client.post(f"{API}/{peru['id']}/activities", json=activity_body(currency="PEN"),
                       headers=ken).status_code == 403
    assert client.put(f"{API}/{peru['id']}/activities/{act['id']}", json=activity_body(currency="PEN"),
                      headers=ken).status_code == 403
    assert client.post(f"{API}/{peru['id']}/activities/{act['id']}/updates", headers=ken,
                       json={"on_date": TODAY.isoformat(), "progress": 50}).status_code == 403
    assert client.delete(f"{API}/{peru['id']}/activities/{act['id']}", headers=ken).status_code == 403
    assert client.post(f"{API}/{peru['id']}/review", headers=ken, json={"reviewed_on": TODAY.isoformat()}
                       ).status_code == 403
    assert client.post(API, headers=ken, json={"title": "Peru by Kenya", "owner_kind": "country", "country_iso3": "PER",
                                               "cycle": 2030, "starts_on": "2030-01-01", "ends_on": "2030-12-31"}
                       ).status_code == 403
    # anonymous: sign in first (401), nothing looked up
    assert client.post(f"{API}/{peru['id']}/activities", json=activity_body()).status_code == 401
    assert client.post(f"{API}/999999/activities", json=activity_body()).status_code == 401
    # a viewer may read but not write; a read-only token may not write
    assert client.post(f"{API}/{peru['id']}/activities", json=activity_body(),
                       headers=viewer).status_code == 403
    assert client.post(f"{API}/{peru['id']}/activities", json=activity_body(currency="PEN"),
                       headers=read_only).status_code == 403
    # activity of another plan through this plan's address
    kenya = plan_of(client, "KEN")
    assert client.get(f"{API}/{kenya['id']}/activities/{act['id']}").status_code == 404
    assert counts(demo_db) == before


def test_partner_and_secretariat_edit_only_their_own_plans(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    items = client.get(API, params={"limit": 500}).json()["items"]
    sec = next(p for p in items if p["owner_kind"] == "secretariat")
    nhf = next(p for p in items if p["owner_kind"] == "partner")
    kenya = plan_of(client, "KEN")
    body = activity_body(currency="USD")
    assert client.post(f"{API}/{sec['id']}/activities", json=body,
                       headers=token(demo_db, "secretariat")).status_code == 201
    assert client.post(f"{API}/{kenya['id']}/activities", json=body,
                       headers=token(demo_db, "secretariat")).status_code == 403
    assert client.post(f"{API}/{nhf['id']}/activities", json=body,
                       headers=token(demo_db, "partner.northwind")).status_code == 201
    assert client.post(f"{API}/{nhf['id']}/activities", json=body,
                       headers=token(demo_db, "partner.lattice")).status_code == 403
    assert client.post(f"{API}/{sec['id']}/activities", json=body,
                       headers=token(demo_db, "partner.northwind")).status_code == 403


def test_stale_version_is_a_conflict(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    kenya = plan_of(client, "KEN")
    act = kenya["activities"][0]
    ken = token(demo_db, "focal.ken")
    url = f"{API}/{kenya['id']}/activities/{act['id']}"
    body = activity_body(title="First change", currency=act["currency"], starts_on=act["starts_on"],
                         due_on=act["due_on"])
    r = client.put(url, params={"version": act["version"]}, json=body, headers=ken)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == act["version"] + 1
    before = counts(demo_db)
    r = client.put(url, params={"version": act["version"]}, json={**body, "title": "Second change"}, headers=ken)
    assert r.status_code == 409
    assert client.get(url).json()["title"] == "First change"
    assert client.delete(url, params={"version": act["version"]}, headers=ken).status_code == 409
    assert counts(demo_db) == before


def test_an_update_turns_a_silent_activity_green(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    kenya = plan_of(client, "KEN")
    ken = token(demo_db, "focal.ken")
    silent = next((a for p in client.get(API, params={"limit": 500}).json()["items"]
                   for a in client.get(f"{API}/{p['id']}").json()["activities"]
                   if a["rag_reasons"] == ["no_update"] and p["country_iso3"] == "KEN"), None)
    if silent is None:  # make one: started 200 days ago, never updated
        silent = client.post(f"{API}/{kenya['id']}/activities", headers=ken, json=activity_body(
            starts_on=(TODAY - dt.timedelta(days=200)).isoformat(), progress=60, milestones=[])).json()
    assert silent["rag_reasons"] == ["no_update"]
    url = f"{API}/{kenya['id']}/activities/{silent['id']}/updates"
    r = client.post(url, headers=ken, json={"on_date": TODAY.isoformat(), "progress": 95, "note": "Nearly there"})
    assert r.status_code == 201, r.text
    assert r.json()["rag"] == "green" and r.json()["last_update_on"] == TODAY.isoformat()
    assert r.json()["progress"] == 95
    assert client.get(url).json()[0]["note"] == "Nearly there"
    before = counts(demo_db)
    for bad in ({"on_date": (TODAY + dt.timedelta(days=30)).isoformat(), "progress": 50},
                {"on_date": TODAY.isoformat(), "progress": -1},
                {"on_date": TODAY.isoformat(), "progress": 50, "spent": "abc"},
                {"on_date": "yesterday", "progress": 50},
                {"on_date": TODAY.isoformat(), "progress": 50, "note": "z" * 10_001}):
        assert client.post(url, headers=ken, json=bad).status_code == 422, bad
    assert counts(demo_db) == before


def test_links_added_and_removed_one_by_one(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    kenya = plan_of(client, "KEN")
    act = next(a for a in kenya["activities"] if {"kind": "objective", "ref": "SO4"} not in a["links"])
    ken = token(demo_db, "focal.ken")
    url = f"{API}/{kenya['id']}/activities/{act['id']}/links"
    r = client.post(url, headers=ken, json={"kind": "objective", "ref": "SO4"})
    assert r.status_code == 201 and {"kind": "objective", "ref": "SO4"} in r.json()["links"]
    assert client.post(url, headers=ken, json={"kind": "objective", "ref": "SO4"}).status_code == 409
    peru_inv = other_country_record(demo_db, "atlas_investment", "PER")
    assert client.post(url, headers=ken, json={"kind": "investment", "ref": str(peru_inv)}).status_code == 422
    assert client.delete(f"{url}/objective/SO4", headers=ken).status_code == 204
    assert client.delete(f"{url}/objective/SO4", headers=ken).status_code == 404


def test_annual_review_snapshot_and_carry_forward(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    ken = token(demo_db, "focal.ken")
    plan_id = plan_of(client, "KEN")["id"]
    # one finished activity, with a milestone done and one open, whatever the demo's mix
    assert client.post(f"{API}/{plan_id}/activities", headers=ken, json=activity_body(
        title="Finished work", status="done", progress=100, done_on=TODAY.isoformat())).status_code == 201
    mixed = client.post(f"{API}/{plan_id}/activities", headers=ken, json=activity_body(
        title="Open work", milestones=[
            {"title": "Done part", "due_on": TODAY.isoformat(), "done_on": TODAY.isoformat()},
            {"title": "Open part", "due_on": (TODAY + dt.timedelta(days=9)).isoformat()}]))
    assert mixed.status_code == 201
    kenya = plan_of(client, "KEN")
    unfinished = [a for a in kenya["activities"] if a["status"] in ("not_started", "in_progress")]
    assert unfinished and len(unfinished) < len(kenya["activities"])
    before = counts(demo_db)
    r = client.post(f"{API}/{kenya['id']}/review", params={"version": kenya["version"]}, headers=ken,
                    json={"reviewed_on": TODAY.isoformat(), "summary": "Mid-course review"})
    assert r.status_code == 201, r.text
    rev = r.json()
    assert rev["verified"] is True
    snap = client.get(f"{API}/{kenya['id']}/snapshot.json")
    assert snap.status_code == 200
    assert hashlib.sha256(snap.content).hexdigest() == rev["snapshot_sha256"] == snap.headers["x-snapshot-sha256"]
    doc = json.loads(snap.content)
    assert doc["reviewed_on"] == TODAY.isoformat() and len(doc["plan"]["activities"]) == len(kenya["activities"])
    assert {a["rag"] for a in doc["plan"]["activities"]} == {a["rag"] for a in kenya["activities"]}
    assert doc["plan"]["money"] == kenya["money"]

    old = client.get(f"{API}/{kenya['id']}").json()
    assert old["status"] == "reviewed" and old["next_id"] == rev["next_plan_id"]
    new = client.get(f"{API}/{rev['next_plan_id']}").json()
    assert new["previous_id"] == kenya["id"] and new["cycle"] == kenya["cycle"] + 1 and new["status"] == "active"
    assert sorted(a["carried_from_id"] for a in new["activities"]) == sorted(a["id"] for a in unfinished)
    by_origin = {a["carried_from_id"]: a for a in new["activities"]}
    for a in unfinished:
        copy = by_origin[a["id"]]
        assert copy["links"] == a["links"]
        assert [m["title"] for m in copy["milestones"]] == [m["title"] for m in a["milestones"] if not m["done_on"]]
    after = counts(demo_db)
    assert after["strategy_plan"] == before["strategy_plan"] + 1
    assert after["strategy_plan_review"] == before["strategy_plan_review"] + 1

    # twice: refused, nothing written; the frozen plan cannot be edited any more
    frozen = counts(demo_db)
    r = client.post(f"{API}/{kenya['id']}/review", headers=ken, json={"reviewed_on": TODAY.isoformat()})
    assert r.status_code == 409 and "reviewed already" in r.json()["detail"]
    assert client.post(f"{API}/{kenya['id']}/activities", json=activity_body(), headers=ken).status_code == 409
    assert client.post(f"{API}/{new['id']}/review", headers=ken,
                       json={"reviewed_on": "1999-01-01"}).status_code == 422
    assert counts(demo_db) == frozen


def test_stale_review_and_bad_plans(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    peru = plan_of(client, "PER")
    per = token(demo_db, "focal.per")
    before = counts(demo_db)
    r = client.post(f"{API}/{peru['id']}/review", params={"version": peru["version"] + 5}, headers=per,
                    json={"reviewed_on": TODAY.isoformat()})
    assert r.status_code == 409
    for bad in ({"title": "P", "owner_kind": "country", "country_iso3": "PER", "cycle": 2031,
                 "starts_on": "2031-12-31", "ends_on": "2031-01-01"},
                {"title": "P", "owner_kind": "country", "cycle": 2031, "starts_on": "2031-01-01",
                 "ends_on": "2031-12-31"},
                {"title": "P", "owner_kind": "country", "country_iso3": "PER", "cycle": peru["cycle"],
                 "starts_on": "2031-01-01", "ends_on": "2031-12-31"}):
        assert client.post(API, headers=per, json=bad).status_code in (409, 422), bad
    assert counts(demo_db) == before
    r = client.post(API, headers=per, json={"title": "Peru 2031", "owner_kind": "country", "country_iso3": "PER",
                                            "cycle": 2031, "starts_on": "2031-01-01", "ends_on": "2031-12-31",
                                            "currency": "PEN"})
    assert r.status_code == 201 and r.json()["activities"] == []


# ---------------------------------------------------------------- pages


def test_pages_show_table_timeline_and_board(client) -> None:  # type: ignore[no-untyped-def]
    assert "Digital health action plan" in client.get("/plans").text
    assert client.get("/plans?owner=robot").status_code == 422
    kenya = plan_of(client, "KEN")
    page = client.get(f"/plans/{kenya['id']}")
    assert page.status_code == 200 and 'id="activities"' in page.text and 'data-rag="red"' in page.text
    tl = client.get(f"/plans/{kenya['id']}?view=timeline").text
    assert "<svg" in tl and 'class="today"' in tl and 'class="milestone"' in tl and "timeline-text" in tl
    board = client.get(f"/plans/{kenya['id']}?view=board").text
    assert 'data-column="red"' in board and 'data-column="green"' in board
    assert 'data-column="in_progress"' in client.get(f"/plans/{kenya['id']}?view=board&board=status").text
    act = kenya["activities"][0]
    assert act["title"] in client.get(f"/plans/{kenya['id']}/activities/{act['id']}").text
    assert "Post the update" not in client.get(f"/plans/{kenya['id']}/activities/{act['id']}").text
    assert client.get("/plans/999999").status_code == 404
    reviewed = client.get(API, params={"status": "reviewed"}).json()["items"][0]
    rev = client.get(f"{API}/{reviewed['id']}/review").json()
    page = client.get(f"/plans/{reviewed['id']}").text
    assert rev["snapshot_sha256"] in page and "Status at the review" in page


def test_page_edit_due_date_into_the_past_turns_red(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    kenya = plan_of(client, "KEN")
    act = next(a for a in kenya["activities"] if a["rag"] == "green")
    login(client, demo_email("focal.ken"))
    url = f"/plans/{kenya['id']}/activities/{act['id']}/edit"
    form = client.get(url)
    assert form.status_code == 200
    token_ = csrf_from(form.text)
    data = {"csrf_token": token_, "title": act["title"], "starts_on": (TODAY - dt.timedelta(days=100)).isoformat(),
            "due_on": (TODAY - dt.timedelta(days=2)).isoformat(), "status": "in_progress", "progress": "50",
            "currency": act["currency"], "budget": act["budget"] or "", "spent": act["spent"],
            "owner_org_id": str(act["owner_org_id"] or ""), "version": str(act["version"])}
    # due before start: shown again with the error, nothing saved
    before = counts(demo_db)
    bad = client.post(url, data={**data, "due_on": (TODAY - dt.timedelta(days=200)).isoformat()})
    assert bad.status_code == 422 and "before the start date" in bad.text
    assert counts(demo_db) == before
    r = client.post(url, data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    tl = client.get(f"/plans/{kenya['id']}?view=timeline").text
    assert f'data-activity="{act["id"]}" data-rag="red"' in tl
    # the same form again with the old version: 409
    assert client.post(url, data=data).status_code == 409
    # a progress update from the page
    page = client.get(f"/plans/{kenya['id']}/activities/{act['id']}")
    r = client.post(f"/plans/{kenya['id']}/activities/{act['id']}/updates", follow_redirects=False, data={
        "csrf_token": csrf_from(page.text), "on_date": TODAY.isoformat(), "progress": "70", "note": "Back on track"})
    assert r.status_code == 303
    assert "Back on track" in client.get(f"/plans/{kenya['id']}/activities/{act['id']}").text
    # Peru's page refuses Kenya's focal point
    peru = plan_of(client, "PER")
    r = client.post(f"/plans/{peru['id']}/activities/new", data={"csrf_token": csrf_from(page.text), "title": "x",
                                                                  "starts_on": "2026-01-01", "due_on": "2026-02-01"})
    assert r.status_code == 403

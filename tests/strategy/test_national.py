"""National strategy registry: demo figures, the service, the API and the pages. Who may edit which
country, what is refused (and that a refusal writes nothing), history kept, optimistic locking."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR
from dho.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from dho.strategy import national
from tests.conftest import csrf_from, demo_email, login

API = "/api/strategy/national"
TABLES = ("strategy_national", "strategy_national_component", "strategy_national_objective",
          "strategy_national_document", "strategy_national_event", "strategy_partnership", "audit_entry")


def counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.engine.connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}  # noqa: S608


def token(db, local: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        user = accounts.find_user(s, demo_email(local))
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "t", "scopes": ["read", "write"]}, user.id)
    return {"Authorization": f"Bearer {secret}"}


def principal(db, local: str):  # type: ignore[no-untyped-def]
    with db.session() as s:
        return accounts.principal_for(accounts.find_user(s, demo_email(local)), via="session")


def body(**over: object) -> dict[str, object]:
    b: dict[str, object] = {
        "title": "National Digital Health Strategy 2026-2030", "status": "approved", "period_start": 2026,
        "period_end": 2030, "approved_on": "2026-01-15", "governance_body": "Digital Health Council",
        "next_cycle_year": 2031, "components": {"NSC1": "full", "NSC5": "partial"}, "objectives": ["SO2", "SO3"],
        "documents": [{"title": "Strategy text", "url": "https://moh.example.org/strategy.pdf", "language": "en"}],
        "status_note": "Adopted.", "status_date": "2026-01-15",
    }
    b.update(over)
    return b


# ---------------------------------------------------------------- demo figures


def test_demo_registry_figures(demo_db) -> None:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        rows, by_status = national.registry(s)
        assert len(rows) == 194
        assert sum(by_status.values()) == 194
        with_strategy = national.countries_with_strategy(s)
        assert len(with_strategy) == 129
        assert by_status["drafting"] > 0 and by_status["none"] > 0
        # History: fewer countries had one at the start of 2021 than now, and fewer still in 2018 (only
        # the earlier strategies, since replaced, of a few demo countries).
        in_2021 = len(national.countries_with_strategy(s, dt.date(2021, 1, 1)))
        assert 0 < len(national.countries_with_strategy(s, dt.date(2018, 12, 31))) < in_2021 < 129
        assert len(national.partnerships(s, "gdhp", dt.date(2026, 3, 31))) == 40
        ken = national.country_record(s, "KEN")
        assert ken["strategy"]["events"] and ken["strategy"]["components"]


# ---------------------------------------------------------------- service


def test_save_history_and_replacement(demo_db) -> None:  # type: ignore[no-untyped-def]
    focal = principal(demo_db, "focal.fji")
    with demo_db.session() as s:
        assert national.current(s, "FJI") is None
        first = national.save(s, focal, "FJI", national.NationalStrategyIn(**body(status="drafting",
                                                                                  status_date="2025-05-01")))
        first_id = first.id
    with demo_db.session() as s:
        same = national.save(s, focal, "FJI", national.NationalStrategyIn(**body(version=1)))
        assert same.id == first_id and same.status == "approved"
        events = national.detail(s, same)["events"]
        assert [e["status"] for e in events] == ["drafting", "approved"]
        assert events[1]["by"] == demo_email("focal.fji")
        # A new strategy replaces it; the old one stays readable, pointing at its successor.
        new = national.save(s, focal, "FJI", national.NationalStrategyIn(**body(
            title="Digital Health Roadmap 2027-2031", status="drafting", replaces_current=True, version=same.version,
            status_date=None)))
        assert new.id != first_id
    with demo_db.session() as s:
        record = national.country_record(s, "FJI")
        assert record["strategy"]["title"] == "Digital Health Roadmap 2027-2031"
        assert record["earlier"][0]["id"] == first_id and record["earlier"][0]["superseded_by_id"] == record[
            "strategy"]["id"]


def test_service_refusals_write_nothing(demo_db) -> None:  # type: ignore[no-untyped-def]
    before = counts(demo_db)
    focal = principal(demo_db, "focal.ken")
    with demo_db.session() as s:
        with pytest.raises(Forbidden):
            national.save(s, focal, "PER", national.NationalStrategyIn(**body()))
        with pytest.raises(Unauthenticated):
            national.save(s, national.Principal(None, None), "KEN", national.NationalStrategyIn(**body()))
        with pytest.raises(NotFound):
            national.save(s, CLI_OPERATOR, "ZZZ", national.NationalStrategyIn(**body()))
        with pytest.raises(Conflict):
            national.save(s, focal, "KEN", national.NationalStrategyIn(**body(version=999)))
        with pytest.raises(ValidationFailed):  # a status change dated in the future
            national.record_event(s, focal, "KEN", national.StatusEventIn(status="evaluated", on_date="2099-01-01"))
        with pytest.raises(ValidationFailed):  # before the last recorded change
            national.record_event(s, focal, "KEN", national.StatusEventIn(status="evaluated", on_date="1995-01-01"))
        with pytest.raises(NotFound):  # nothing recorded yet
            national.record_event(s, CLI_OPERATOR, "FJI", national.StatusEventIn(status="approved"))
        s.rollback()
    assert counts(demo_db) == before


@pytest.mark.parametrize("over, where", [
    ({"status": "ratified"}, "status"),
    ({"period_start": 2030, "period_end": 2026}, "body"),
    ({"period_start": 1800}, "period_start"),
    ({"components": {"NSC10": "full"}}, "components"),
    ({"components": {"NSC1": "most"}}, "components"),
    ({"objectives": ["SO9"]}, "objectives"),
    ({"approved_on": "2200-01-01"}, "approved_on"),
    ({"unknown": 1}, "unknown"),
    ({"title": ""}, "title"),
    ({"title": "x" * 301}, "title"),
    ({"documents": [{"title": "a", "url": "javascript:alert(1)"}]}, "documents.0.url"),
    ({"documents": [{"title": "a", "url": "ftp://example.org/a"}]}, "documents.0.url"),
    ({"documents": [{"title": "a", "url": "https://example.org/" + "a" * 600}]}, "documents.0.url"),
    ({"documents": [{"title": "a"}]}, "documents.0"),
    ({"documents": [{"title": "a", "file_sha256": "0" * 64}]}, "documents.0.file_sha256"),
])
def test_api_refuses_bad_input(client, demo_db, over, where) -> None:  # type: ignore[no-untyped-def]
    headers = token(demo_db, "focal.ken")
    before = counts(demo_db)
    r = client.put(f"{API}/KEN", json=body(**over), headers=headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["type"].endswith("validation-failed")
    assert any(e["field"].startswith(where) for e in problem["errors"]), problem
    assert counts(demo_db) == before


def test_api_permissions_and_locking(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    focal = token(demo_db, "focal.ken")
    other = token(demo_db, "focal.per")
    before = counts(demo_db)
    assert client.put(f"{API}/KEN", json=body()).status_code == 401
    assert client.put(f"{API}/KEN", json=body(), headers=other).status_code == 403
    assert client.put(f"{API}/KEN", json=body(), headers=token(demo_db, "viewer")).status_code == 403
    assert client.post(f"{API}/KEN/events", json={"status": "evaluated"}).status_code == 401
    assert client.post(f"{API}/KEN/events", json={"status": "evaluated"}, headers=other).status_code == 403
    for bad in (b"{not json", b"[", b"\xff\xfe"):
        r = client.put(f"{API}/KEN", content=bad, headers={**focal, "content-type": "application/json"})
        assert r.status_code in (400, 422), r.text
    after = counts(demo_db)
    assert {k: v for k, v in after.items() if k != "audit_entry"} == \
        {k: v for k, v in before.items() if k != "audit_entry"}
    current = client.get(f"{API}/KEN").json()["strategy"]
    r = client.put(f"{API}/KEN", json=body(version=current["version"]), headers=focal)
    assert r.status_code == 200, r.text
    saved = r.json()["strategy"]
    assert saved["version"] > current["version"] and saved["components"] == {"NSC1": "full", "NSC5": "partial"}
    # The same stale version again: 409, nothing written.
    before = counts(demo_db)
    r = client.put(f"{API}/KEN", json=body(version=current["version"], title="Stale"), headers=focal)
    assert r.status_code == 409
    assert counts(demo_db) == before
    r = client.post(f"{API}/KEN/events", json={"status": "implementing", "note": "Started.",
                                               "version": saved["version"]}, headers=focal)
    assert r.status_code == 201, r.text
    assert r.json()["strategy"]["events"][-1]["status"] == "implementing"
    assert r.json()["status"] == "implementing"


def test_api_reads_are_public(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get(API, params={"status": "approved", "region": "AFR"})
    assert r.status_code == 200
    data = r.json()
    assert data["items"] and all(i["status"] == "approved" and i["who_region"] == "AFR" for i in data["items"])
    assert sum(data["counts"].values()) == 47
    assert client.get(f"{API}/FJI").json()["strategy"] is None
    assert client.get(f"{API}/ZZZ").status_code == 404
    assert client.get(f"{API}/K1").status_code == 422


def test_partnerships_admin_only(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    url = "/api/strategy/partnerships"
    new = {"network": "gdhp", "country_iso3": "FJI", "joined_on": "2025-06-01"}
    before = counts(demo_db)
    assert client.post(url, json=new).status_code == 401
    assert client.post(url, json=new, headers=token(demo_db, "focal.fji")).status_code == 403
    secretariat = token(demo_db, "secretariat")
    assert client.post(url, json={**new, "left_on": "2024-01-01"}, headers=secretariat).status_code == 422
    assert client.post(url, json={**new, "country_iso3": "ZZZ"}, headers=secretariat).status_code == 422
    assert client.post(url, json={**new, "network": "<b>"}, headers=secretariat).status_code == 422
    assert counts(demo_db)["strategy_partnership"] == before["strategy_partnership"]
    r = client.post(url, json=new, headers=secretariat)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert client.post(url, json={**new, "joined_on": "2025-09-01"}, headers=secretariat).status_code == 409
    assert client.post(f"{url}/{pid}/leave", json={"left_on": "2025-01-01"}, headers=secretariat).status_code == 422
    assert client.post(f"{url}/{pid}/leave", json={"left_on": "2026-01-31"}, headers=secretariat).status_code == 200
    members = client.get(url, params={"network": "gdhp", "on": "2026-03-01"}).json()["items"]
    assert "FJI" not in {m["country_iso3"] for m in members}


# ---------------------------------------------------------------- pages


def test_pages_list_and_filter(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/strategy/national")
    assert page.status_code == 200
    assert 'id="with-strategy">129<' in page.text
    assert "/strategy/national/KEN" in page.text
    page = client.get("/strategy/national", params={"region": "AFR", "status": "drafting"})
    assert page.status_code == 200 and "/strategy/national/KEN" not in page.text
    assert client.get("/strategy/national", params={"status": "<script>"}).status_code == 422
    detail = client.get("/strategy/national/KEN")
    assert detail.status_code == 200 and 'id="components"' in detail.text and 'id="history"' in detail.text
    assert 'id="edit"' not in detail.text  # the public sees no form
    assert "no-strategy" in client.get("/strategy/national/FJI").text


def test_page_edit_by_focal_point(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    login(client, demo_email("focal.ken"))
    page = client.get("/strategy/national/KEN")
    assert 'id="edit"' in page.text
    tok = csrf_from(page.text)
    version = page.text.split('name="version" value="')[1].split('"')[0]
    form = {"csrf_token": tok, "version": version, "title": "<script>alert(1)</script> Strategy",
            "status": "implementing", "period_start": "2024", "period_end": "2028", "comp_NSC1": "full",
            "comp_NSC9": "partial", "objectives": ["SO1", "SO4"], "doc_title": "Plan",
            "doc_url": "https://moh.example.org/plan.pdf", "status_note": "Implementation began."}
    r = client.post("/strategy/national/KEN", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    shown = client.get("/strategy/national/KEN").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Strategy" in shown and "<script>alert(1)" not in shown
    # End before start: shown beside the form, nothing saved.
    before = counts(demo_db)
    bad = {**form, "version": str(int(version) + 1), "period_start": "2030", "period_end": "2020",
           "title": "Changed"}
    r = client.post("/strategy/national/KEN", data=bad, follow_redirects=False)
    assert r.status_code == 422 and "nothing was saved" in r.text.lower()
    r = client.post("/strategy/national/KEN", data={**form, "version": version, "title": "Stale"},
                    follow_redirects=False)
    assert r.status_code == 409
    assert counts(demo_db) == before
    # Another country's page: no form; a forged post is refused.
    assert 'id="edit"' not in client.get("/strategy/national/PER").text
    r = client.post("/strategy/national/PER", data={**form, "csrf_token": tok}, follow_redirects=False)
    assert r.status_code == 403
    assert counts(demo_db) == before


def test_page_status_change_and_anonymous(client, demo_db) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/strategy/national/KEN")
    tok = csrf_from(page.text)
    r = client.post("/strategy/national/KEN/events", data={"csrf_token": tok, "new_status": "evaluated"},
                    follow_redirects=False)
    assert r.status_code == 401  # a page asking to sign in; nothing written
    login(client, demo_email("secretariat"))
    page = client.get("/strategy/national/KEN")
    tok = csrf_from(page.text)
    r = client.post("/strategy/national/KEN/events", data={"csrf_token": tok, "new_status": "bogus"},
                    follow_redirects=False)
    assert r.status_code == 422
    r = client.post("/strategy/national/KEN/events", data={"csrf_token": tok, "new_status": "evaluated",
                                                          "on_date": national.today().isoformat(),
                                                          "note": "<b>done</b>"}, follow_redirects=False)
    assert r.status_code == 303
    shown = client.get("/strategy/national/KEN").text
    assert "&lt;b&gt;done&lt;/b&gt;" in shown

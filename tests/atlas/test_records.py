"""Atlas implementations over the HTTP API: who may create, edit, approve and read them, what is
refused (and that a refusal writes nothing), and that every write is audited."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR

API = "/api/atlas/implementations"
COUNTED = ("atlas_implementation", "atlas_stage_event", "atlas_coverage", "atlas_classification",
           "atlas_implementation_term", "atlas_implementation_solution", "atlas_implementation_org", "atlas_contact",
           "atlas_investment", "atlas_disbursement", "atlas_investment_target", "atlas_fx_rate", "audit_entry")


def token(demo_db, local: str, scopes=("read", "write")) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        user = accounts.find_user(s, f"{local}@demo.example.org")
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "t", "scopes": list(scopes)}, user.id)
    return {"Authorization": f"Bearer {secret}"}


def orgs(demo_db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with demo_db.engine.connect() as c:
        return {a: i for i, a in c.execute(text("SELECT id, acronym FROM organisation WHERE acronym IS NOT NULL"))}


def counts(demo_db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with demo_db.engine.connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED}  # noqa: S608


def audit_for(demo_db, table: str, object_id: object) -> list[str]:  # type: ignore[no-untyped-def]
    with demo_db.engine.connect() as c:
        return list(c.execute(text("SELECT action FROM audit_entry WHERE object_type = :t AND object_id = :i "
                                   "ORDER BY seq"), {"t": table, "i": str(object_id)}).scalars())


def impl_body(o: dict[str, int], **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Antenatal SMS reminders", "country_iso3": "KEN", "stage": "piloting", "owner_org_id": o["NHF"],
        "description": "Text reminders for antenatal visits.", "start_date": "2022-03-01",
        "stage_history": [{"stage": "preparation", "on_date": "2021-06-01"},
                          {"stage": "piloting", "on_date": "2022-03-01"}],
        "organisations": [{"organisation_id": o["MOH-KEN"], "role": "implementer"},
                          {"organisation_id": o["NHF"], "role": "funder"}],
        "classifications": [{"scheme": "cdisah2023-dhi", "code": "1.1.1"}],
        "standards": ["fhir"], "interop": ["hmis"], "health_focus": ["maternal"],
        "coverage": [{"area_code": "KE-30", "area_name": "Nairobi", "as_of": "2024-01-01", "persons": 12000}],
        "contacts": [{"name": "Amina Test", "email": "amina@example.org", "role": "project lead"}],
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
    c.lattice = token(demo_db, "partner.lattice")
    c.focal = token(demo_db, "focal.ken")
    c.focal_sen = token(demo_db, "focal.sen")
    return c


def create(c, **over):  # type: ignore[no-untyped-def]
    r = c.client.post(API, json=impl_body(c.orgs, **over), headers=c.partner)
    assert r.status_code == 201, r.text
    return r.json()


def refused(c, method: str, url: str, status: int | tuple[int, ...], headers=None,  # type: ignore[no-untyped-def]
            **kw) -> dict:
    before = counts(c.db)
    r = c.client.request(method, url, headers=headers if headers is not None else c.partner, **kw)
    assert r.status_code in (status if isinstance(status, tuple) else (status,)), r.text
    assert "problem+json" in r.headers["content-type"]
    assert counts(c.db) == before, "a refused request changed the database"
    return r.json()


# ---------------------------------------------------------------- workflow and permissions


def test_partner_creates_focal_point_approves(ctx):  # type: ignore[no-untyped-def]
    before = counts(ctx.db)
    rec = create(ctx)
    assert (rec["status"], rec["approval"], rec["version"]) == ("draft", "pending", 1)
    assert rec["owner_org_id"] == ctx.orgs["NHF"] and rec["contacts"][0]["email"] == "amina@example.org"
    assert [e["stage"] for e in rec["stage_history"]] == ["preparation", "piloting"]
    assert rec["standards"] == ["fhir"] and rec["coverage"][0]["persons"] == 12000
    assert 0 < rec["completeness"] <= 1 and rec["stale"] is False
    after = counts(ctx.db)
    assert after["atlas_implementation"] == before["atlas_implementation"] + 1
    assert audit_for(ctx.db, "atlas_implementation", rec["id"]) == ["create"]
    assert after["audit_entry"] > before["audit_entry"] + 5  # the children are recorded too

    # the public does not see a draft
    assert ctx.client.get(f"{API}/{rec['id']}").status_code == 404
    assert rec["id"] not in [i["id"] for i in ctx.client.get(API).json()["items"]]
    # another country's focal point does not even see the draft; the partner may not approve its own record
    refused(ctx, "POST", f"{API}/{rec['id']}/approve", 404, ctx.focal_sen)
    refused(ctx, "POST", f"{API}/{rec['id']}/approve", 403, ctx.partner)
    r = ctx.client.post(f"{API}/{rec['id']}/approve", headers=ctx.focal)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["approval"]) == ("published", "approved")
    assert r.json()["approved_by"] == "focal.ken@demo.example.org"
    assert audit_for(ctx.db, "atlas_implementation", rec["id"]) == ["create", "update"]
    # published, it is visible to another country's focal point, who still may not approve it
    refused(ctx, "POST", f"{API}/{rec['id']}/approve", 403, ctx.focal_sen)
    refused(ctx, "POST", f"{API}/{rec['id']}/reject", 403, ctx.focal_sen)

    public = ctx.client.get(f"{API}/{rec['id']}")
    assert public.status_code == 200 and "contacts" not in public.json()
    assert "amina@example.org" not in public.text
    listed = ctx.client.get(API, params={"country": "KEN"}).json()
    assert rec["id"] in [i["id"] for i in listed["items"]]
    assert all(i["status"] == "published" and "contacts" not in i for i in listed["items"])
    assert "amina@example.org" not in ctx.client.get(API).text


def test_focal_point_rejects(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx)
    r = ctx.client.post(f"{API}/{rec['id']}/reject", headers=ctx.focal)
    assert r.status_code == 200 and (r.json()["status"], r.json()["approval"]) == ("draft", "rejected")
    assert ctx.client.get(f"{API}/{rec['id']}").status_code == 404


def test_partner_cannot_create_for_another_organisation(ctx):  # type: ignore[no-untyped-def]
    body = impl_body(ctx.orgs, owner_org_id=ctx.orgs["LHS"])
    problem = refused(ctx, "POST", API, 403, json=body)
    assert "not allow" in problem["detail"]


def test_anonymous_writes_are_refused(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx)
    refused(ctx, "POST", API, 401, {}, json=impl_body(ctx.orgs, name="Other"))
    refused(ctx, "PUT", f"{API}/{rec['id']}", 401, {}, json=impl_body(ctx.orgs))
    ctx.client.post(f"{API}/{rec['id']}/approve", headers=ctx.focal)
    refused(ctx, "POST", f"{API}/{rec['id']}/archive", 401, {})
    refused(ctx, "PUT", f"{API}/{rec['id']}", 401, {}, json=impl_body(ctx.orgs))


def test_read_only_token_cannot_write(ctx):  # type: ignore[no-untyped-def]
    refused(ctx, "POST", API, 403, token(ctx.db, "partner.northwind", ("read",)), json=impl_body(ctx.orgs))


def test_edit_after_approval_needs_approval_again(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx)
    approved = ctx.client.post(f"{API}/{rec['id']}/approve", headers=ctx.focal).json()
    body = impl_body(ctx.orgs, description="Now in two counties.")
    r = ctx.client.put(f"{API}/{rec['id']}", params={"version": approved["version"]}, json=body, headers=ctx.partner)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["approval"]) == ("published", "pending")
    assert r.json()["version"] == approved["version"] + 1
    assert r.json()["description"] == "Now in two counties."
    # stale version: someone saved meanwhile
    problem = refused(ctx, "PUT", f"{API}/{rec['id']}", 409, params={"version": approved["version"]},
                      json=impl_body(ctx.orgs, description="lost update"))
    assert "meanwhile" in problem["detail"]


def test_edit_keeps_stage_dates(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx, stage_history=[], stage="piloting", start_date="2021-01-01")
    first = rec["stage_history"]
    assert [e["stage"] for e in first] == ["piloting"]
    # an edit that does not send the history keeps it (the date the stage was entered does not move)
    r = ctx.client.put(f"{API}/{rec['id']}", json=impl_body(ctx.orgs, stage_history=[], start_date="2021-01-01",
                                                            description="edited"), headers=ctx.partner)
    assert r.status_code == 200, r.text
    assert r.json()["stage_history"] == first
    with ctx.db.engine.begin() as c:
        c.execute(text("UPDATE atlas_stage_event SET on_date = '2021-02-01' WHERE implementation_id = :i"),
                  {"i": rec["id"]})
    r = ctx.client.put(f"{API}/{rec['id']}", json=impl_body(ctx.orgs, stage_history=[], stage="deploying"),
                       headers=ctx.partner)
    history = r.json()["stage_history"]
    assert (history[0]["stage"], history[0]["on_date"]) == ("piloting", "2021-02-01")
    assert history[-1]["stage"] == "deploying"


def test_partner_cannot_move_a_record_to_another_organisation(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx)
    refused(ctx, "PUT", f"{API}/{rec['id']}", 403, json=impl_body(ctx.orgs, owner_org_id=ctx.orgs["LHS"]))
    # nor edit another organisation's record, which it cannot even see while unpublished
    refused(ctx, "PUT", f"{API}/{rec['id']}", 404, ctx.lattice, json=impl_body(ctx.orgs, owner_org_id=ctx.orgs["LHS"]))
    ctx.client.post(f"{API}/{rec['id']}/approve", headers=ctx.focal)
    refused(ctx, "PUT", f"{API}/{rec['id']}", 403, ctx.lattice, json=impl_body(ctx.orgs))
    refused(ctx, "POST", f"{API}/{rec['id']}/archive", 403, ctx.lattice)


def test_focal_point_edits_its_country_only(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx)
    r = ctx.client.put(f"{API}/{rec['id']}", json=impl_body(ctx.orgs, description="checked"), headers=ctx.focal)
    assert r.status_code == 200 and r.json()["contacts"]
    refused(ctx, "PUT", f"{API}/{rec['id']}", 404, ctx.focal_sen, json=impl_body(ctx.orgs))
    # a focal point cannot move a record into another country
    refused(ctx, "PUT", f"{API}/{rec['id']}", 403, ctx.focal, json=impl_body(ctx.orgs, country_iso3="SEN",
                                                                            coverage=[]))


def test_archive(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx)
    ctx.client.post(f"{API}/{rec['id']}/approve", headers=ctx.focal)
    r = ctx.client.post(f"{API}/{rec['id']}/archive", headers=ctx.partner)
    assert r.status_code == 200 and r.json()["status"] == "archived"
    assert ctx.client.get(f"{API}/{rec['id']}").status_code == 404
    assert audit_for(ctx.db, "atlas_implementation", rec["id"]) == ["create", "update", "update"]


def test_list_visibility_by_role(ctx):  # type: ignore[no-untyped-def]
    draft = create(ctx, name="Zq visibility draft")
    sen = ctx.client.post(API, json=impl_body(ctx.orgs, country_iso3="SEN", coverage=[], name="Zq visibility SEN"),
                          headers=ctx.partner).json()
    published = create(ctx, name="Zq visibility published")
    ctx.client.post(f"{API}/{published['id']}/approve", headers=ctx.focal)

    def ids(headers):  # type: ignore[no-untyped-def]
        r = ctx.client.get(API, params={"q": "zq visibility", "limit": 500}, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(body["items"])
        return {i["id"] for i in body["items"]}

    everything = {draft["id"], sen["id"], published["id"]}
    assert ids({}) == {published["id"]}
    assert ids(ctx.partner) == everything
    assert ids(ctx.lattice) == {published["id"]}
    assert ids(ctx.focal) == {draft["id"], published["id"]}
    assert ids(token(ctx.db, "regional.afr")) == everything  # KEN and SEN are in AFR
    assert ids(token(ctx.db, "regional.amr")) == {published["id"]}
    assert ids(token(ctx.db, "viewer")) == everything  # a platform-wide viewer reads unpublished records
    assert ids(token(ctx.db, "secretariat")) == everything
    # a token without the read scope reads what the public reads
    assert ids(token(ctx.db, "partner.northwind", ("write",))) == {published["id"]}
    # what a list shows, the record itself shows too, and nothing more
    for who in ("viewer", "regional.afr", "regional.amr", "focal.ken", "partner.lattice"):
        h = token(ctx.db, who)
        seen = ids(h)
        for i in everything:
            assert (ctx.client.get(f"{API}/{i}", headers=h).status_code == 200) == (i in seen), (who, i)
    # paging: the total counts them all, a page holds at most limit items
    r = ctx.client.get(API, params={"q": "zq visibility", "limit": 1, "offset": 1}, headers=ctx.partner).json()
    assert r["total"] == 3 and len(r["items"]) == 1
    whole = ctx.client.get(API, params={"limit": 500}).json()
    assert whole["total"] >= len(whole["items"]) and all(i["status"] == "published" for i in whole["items"])


# ---------------------------------------------------------------- classifications and validation


def test_2018_codes_are_converted_and_kept(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx, classifications=[{"scheme": "cdhi2018-dhi", "code": "4.4.1"},
                                       {"scheme": "cdhi2018-sc", "code": "A"},
                                       {"scheme": "cdisah2023-dhi", "code": "1.1.1"}])
    got = {(c["scheme"], c["code"], c["original_scheme"], c["original_code"]) for c in rec["classifications"]}
    assert got == {("cdisah2023-dhi", "4.4.1", "cdhi2018-dhi", "4.4.1"),
                   ("cdisah2023-dhi", "4.4.2", "cdhi2018-dhi", "4.4.1"),
                   ("cdisah2023-dhi", "4.4.3", "cdhi2018-dhi", "4.4.1"),
                   ("cdisah2023-sat", "C1", "cdhi2018-sc", "A"),
                   ("cdisah2023-dhi", "1.1.1", None, None)}


def test_a_2023_code_given_twice_is_kept_once(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx, classifications=[{"scheme": "cdisah2023-dhi", "code": "4.4.2"},
                                       {"scheme": "cdhi2018-dhi", "code": "4.4.1"}])
    codes = [(c["scheme"], c["code"]) for c in rec["classifications"]]
    assert sorted(codes) == [("cdisah2023-dhi", "4.4.1"), ("cdisah2023-dhi", "4.4.2"), ("cdisah2023-dhi", "4.4.3")]


@pytest.mark.parametrize(("item", "words"), [
    ({"scheme": "cdhi2018-dhi", "code": "3.5.3"}, "no counterpart"),
    ({"scheme": "cdhi2018-dhi", "code": "9.9.9"}, "is not a code"),
    ({"scheme": "cdisah2023-dhi", "code": "9.9.9"}, "is not a code"),
    ({"scheme": "icd-99", "code": "1"}, "unknown classification"),
])
def test_bad_classification_codes_are_refused(ctx, item, words):  # type: ignore[no-untyped-def]
    problem = refused(ctx, "POST", API, 422, json=impl_body(ctx.orgs, classifications=[item]))
    assert any(words in e["message"] for e in problem["errors"]), problem


@pytest.mark.parametrize(("over", "field"), [
    ({"standards": ["not-a-standard"]}, "standards"),
    ({"interop": ["fhir"]}, "interop"),
    ({"health_focus": ["astrology"]}, "health_focus"),
    ({"coverage": [{"area_code": "SN-DK", "as_of": "2024-01-01"}]}, "coverage"),
    ({"coverage": [{"area_code": "KE-99", "as_of": "2024-01-01"}]}, "coverage"),  # Kenya has 47 counties
    ({"start_date": "2023-01-01", "end_date": "2022-01-01"}, "body"),
    ({"owner_org_id": 999999}, "owner_org_id"),
    ({"organisations": [{"organisation_id": 999999, "role": "funder"}]}, "organisations[1]"),
    ({"solutions": [999999]}, "solutions"),
    ({"stage": "dreaming"}, "body"),
    ({"country_iso3": "XYZ"}, "country_iso3"),
    ({"stage_history": [{"stage": "piloting", "on_date": "1890-01-01"}]}, "dates"),
])
def test_invalid_implementations_are_refused(ctx, over, field):  # type: ignore[no-untyped-def]
    if over.get("owner_org_id") == 999999 or over.get("country_iso3") == "XYZ":
        headers = token(ctx.db, "admin", ("read", "write"))
    else:
        headers = ctx.partner
    problem = refused(ctx, "POST", API, 422, headers, json=impl_body(ctx.orgs, **over))
    assert field in {e["field"] for e in problem["errors"]}, problem


def test_duplicate_registration_conflicts(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx)
    problem = refused(ctx, "POST", API, 409, json=impl_body(ctx.orgs, name="  antenatal sms REMINDERS "))
    assert str(rec["id"]) in problem["detail"]
    # another organisation may register a system of the same name
    r = ctx.client.post(API, json=impl_body(ctx.orgs, owner_org_id=ctx.orgs["LHS"]), headers=ctx.lattice)
    assert r.status_code == 201, r.text
    # renaming a record onto another of the same organisation conflicts too
    other = create(ctx, name="Second system")
    refused(ctx, "PUT", f"{API}/{other['id']}", 409, json=impl_body(ctx.orgs))


@pytest.mark.parametrize("over", [
    {"name": "SMS\x00reminders"},
    {"name": "line\nbreak"},
    {"description": "bell\x07"},
    {"unknown_field": 1},
    {"contacts": [{"name": "X", "email": "not-an-email"}]},
    {"contacts": [{"name": "X", "phone": "123"}]},
    {"name": ""},
    {"name": "x" * 301},
    {"licence": "MIT; DROP TABLE"},
    {"coverage": [{"area_code": "KE-30", "as_of": "2024-01-01", "persons": -1}]},
    {"solutions": ["1"] * 21},
    {"owner_org_id": 2.5},
    {"standards": "fhir"},
])
def test_hostile_input_is_refused_cleanly(ctx, over):  # type: ignore[no-untyped-def]
    problem = refused(ctx, "POST", API, 422, json=impl_body(ctx.orgs, **over))
    assert problem["errors"] and problem["detail"]


def test_oversized_and_malformed_bodies(ctx):  # type: ignore[no-untyped-def]
    big = json.dumps(impl_body(ctx.orgs, description="x" * 10_000_000))
    refused(ctx, "POST", API, 413, {**ctx.partner, "content-type": "application/json"}, content=big)
    as_json = {**ctx.partner, "content-type": "application/json"}
    for bad in ("[" * 100_000 + "]" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000, b"{not json", b"\xff\xfe"):
        problem = refused(ctx, "POST", API, (400, 422), as_json, content=bad)
        assert problem["detail"]
    deep = impl_body(ctx.orgs)
    deep["description"] = {"a": [[[[{"b": 1}]]]]}
    refused(ctx, "POST", API, 422, json=deep)
    refused(ctx, "POST", API, 422, json=[impl_body(ctx.orgs)])
    refused(ctx, "PUT", f"{API}/1", 422, params={"version": "abc"}, json=impl_body(ctx.orgs))
    assert ctx.client.get(f"{API}/99999999999999999999").status_code in (404, 422)
    assert ctx.client.get(API, params={"limit": 100000}).status_code == 422
    assert ctx.client.get(API, params={"country": "K'; --"}).status_code == 422


def test_managed_lists_over_http(ctx):  # type: ignore[no-untyped-def]
    r = ctx.client.get("/api/atlas/terms/standards")
    assert r.status_code == 200 and "fhir" in {t["code"] for t in r.json()}
    assert ctx.client.get("/api/atlas/terms/nothing").status_code == 404


def test_update_rewrites_children_with_audit(ctx):  # type: ignore[no-untyped-def]
    rec = create(ctx)
    with ctx.db.engine.connect() as c:
        contact_id = c.execute(text("SELECT id FROM atlas_contact WHERE implementation_id = :i"),
                               {"i": rec["id"]}).scalar_one()
    r = ctx.client.put(f"{API}/{rec['id']}", json=impl_body(ctx.orgs, contacts=[]), headers=ctx.partner)
    assert r.status_code == 200 and r.json()["contacts"] == []
    assert audit_for(ctx.db, "atlas_contact", contact_id) == ["create", "delete"]


def _solutions(demo_db) -> int:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        return s.execute(text("SELECT count(*) FROM atlas_solution")).scalar_one()


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "Tracker", "website": "javascript:alert(1)"}, "website"),
    ({"name": "Tracker", "repository": "https://user:secret@git.example.org/x"}, "repository"),
    ({"name": "Tracker", "website": "ftp://example.org"}, "website"),
    ({"name": "Tracker", "licence": "Apache 2.0; DROP TABLE"}, "licence"),
    ({"name": "Tracker", "kind": "Z9"}, "kind"),
    ({"name": ""}, "name"),
    ({"name": "Tracker", "colour": "red"}, "colour"),
])
def test_solution_registration_refuses_bad_input(client, demo_db, body, field):
    before = _solutions(demo_db)
    r = client.post("/api/atlas/solutions", json=body, headers=token(demo_db, "partner.northwind"))
    assert r.status_code == 422, r.text
    assert field in r.text
    assert _solutions(demo_db) == before


def test_solution_registration_by_a_partner(client, demo_db):
    o = orgs(demo_db)
    before = _solutions(demo_db)
    body = {"name": "Northwind Referral Suite", "kind": "A2", "licence": "Apache-2.0",
            "website": "https://northwind.example.org/suite", "repository": "https://git.example.org/nw/suite"}
    assert client.post("/api/atlas/solutions", json=body).status_code == 401
    assert client.post("/api/atlas/solutions", json=body, headers=token(demo_db, "viewer")).status_code == 403
    assert client.post("/api/atlas/solutions", json={**body, "owner_org_id": o["LHS"]},
                       headers=token(demo_db, "partner.northwind")).status_code == 403
    assert _solutions(demo_db) == before
    r = client.post("/api/atlas/solutions", json=body, headers=token(demo_db, "partner.northwind"))
    assert r.status_code == 201, r.text
    assert r.json()["owner_org_id"] == o["NHF"] and r.json()["licence"] == "Apache-2.0"
    again = client.post("/api/atlas/solutions", json={**body, "name": "northwind referral suite"},
                        headers=token(demo_db, "partner.northwind"))
    assert again.status_code == 409
    assert any(s["name"] == "Northwind Referral Suite" for s in client.get("/api/atlas/solutions").json())


def test_solution_for_an_unknown_organisation_is_refused(client, demo_db):
    before = _solutions(demo_db)
    r = client.post("/api/atlas/solutions", json={"name": "Orphan suite", "owner_org_id": 999_999},
                    headers=token(demo_db, "admin", scopes=("read", "write", "admin")))
    assert r.status_code == 422 and "owner_org_id" in r.text
    assert _solutions(demo_db) == before

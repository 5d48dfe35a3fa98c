"""Atlas data quality: duplicates found (with reasons) and not invented, blocking by country, the merge
of implementations and organisations (links rewired, history kept, hostile merges refused with nothing
written), stale records, completeness, over the API and the command line."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from dho.accounts import service as accounts
from dho.accounts.models import Organisation, RoleGrant, User
from dho.accounts.permissions import CLI_OPERATOR
from dho.atlas import dedupe, service
from dho.atlas.models import (
    Classification,
    Coverage,
    Implementation,
    ImplementationOrg,
    Investment,
    InvestmentTarget,
    MergeRecord,
)
from dho.atlas.schemas import ImplementationIn, InvestmentIn
from dho.cli import app
from dho.strategy.models import ActionPlan, Activity, Training

R = dedupe.Rec
COUNTED = ("atlas_implementation", "atlas_classification", "atlas_coverage", "atlas_implementation_org",
           "atlas_implementation_solution", "atlas_implementation_term", "atlas_investment_target", "atlas_merge",
           "organisation", "user_account", "role_grant", "atlas_investment", "audit_entry")


def kinds(pair: dedupe.Pair) -> set[str]:
    return {r["kind"] for r in pair.reasons}


def found(records: list[dedupe.Rec], **kw) -> dict[tuple[int, int], dedupe.Pair]:  # type: ignore[no-untyped-def]
    return {(p.a, p.b): p for p in dedupe.find_pairs(records, **kw)}


# ---------------------------------------------------------------- detection, without a database


def test_planted_duplicates_found_with_reasons() -> None:
    recs = [
        R(1, "SEN", "Dossier Patient Électronique de Thiès"), R(2, "SEN", "DOSSIER PATIENT ELECTRONIQUE DE THIES"),
        R(3, "SEN", "Thies Electronic Patient Record"),
        R(4, "KEN", "Nakuru Logistics Management Information System"), R(5, "KEN", "Nakuru LMIS"),
        R(6, "KEN", "Kisumu Malaria Surveillance Programme"), R(7, "KEN", "Kisumu Malaria Surveilance"),
        R(8, "KEN", "District Health Information Software 2"), R(9, "KEN", "DHIS 2"),
        R(10, "PER", "Sistema de Información de Laboratorio de Cusco"),
        R(11, "PER", "Cusco Laboratory Information System"),
    ]
    pairs = found(recs)
    assert "accent_case" in kinds(pairs[(1, 2)])
    assert "translation" in kinds(pairs[(1, 3)]) and "translation" in kinds(pairs[(2, 3)])
    assert "acronym" in kinds(pairs[(4, 5)])
    assert any("LMIS = logistics management information" in r["detail"] for r in pairs[(4, 5)].reasons)
    assert "spelling" in kinds(pairs[(6, 7)])  # "programme" is a stop word; "surveilance" a misspelling
    assert "acronym" in kinds(pairs[(8, 9)])
    assert "translation" in kinds(pairs[(10, 11)])
    assert all(p.reasons[0]["kind"] == "name" for p in pairs.values())
    assert set(pairs) == {(1, 2), (1, 3), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)}


def test_non_duplicates_are_not_paired() -> None:
    recs = [
        R(1, "KEN", "Kisumu Malaria Surveillance System"), R(2, "KEN", "Kisumu Cholera Surveillance System"),
        R(3, "KEN", "Nakuru Malaria Surveillance System"), R(4, "KEN", "Kisumu Malaria Laboratory Information System"),
        R(5, "KEN", "Health Information System"), R(6, "KEN", "Hospital Information System"),
        R(7, "KEN", "OpenMRS"), R(8, "KEN", "OpenSRP"), R(9, "KEN", "Kisumu Electronic Medical Record"),
        R(10, "KEN", "Kisumu Nutrition Electronic Medical Record"),
    ]
    assert found(recs) == {}


def test_shared_facts_raise_and_different_solutions_lower_the_score() -> None:
    a = R(1, "KEN", "Kisumu Maternal SMS", codes=frozenset({"dhi:1.1.1"}), areas=frozenset({"KE-17"}),
          solutions=frozenset({3}))
    b = R(2, "KEN", "Kisumu Maternal SMS reminders", codes=frozenset({"dhi:1.1.1"}), areas=frozenset({"KE-17"}),
          solutions=frozenset({3}))
    c = R(3, "KEN", "Kisumu Maternal SMS reminders", solutions=frozenset({4}))
    scored = found([a, b, c], threshold=0.3)
    assert {"codes", "areas", "solutions"} <= kinds(scored[(1, 2)])
    assert "different_solutions" in kinds(scored[(1, 3)])
    assert scored[(1, 2)].score > scored[(1, 3)].score


def test_blocking_never_compares_across_countries() -> None:
    recs = [R(i, iso, "Electronic Medical Record") for i, iso in enumerate(("KEN", "UGA", "TZA", "RWA"), start=1)]
    recs.append(R(5, "KEN", "EMR"))
    for r in recs:
        dedupe.prepare(r)
    dedupe._weigh(recs)
    for _kind, members in dedupe.blocks(recs):
        assert len({r.country for r in members}) == 1
    assert dedupe.candidates(recs) == {(1, 5)}
    assert set(found(recs)) == {(1, 5)}


def test_giant_blocks_are_split_so_work_stays_bounded() -> None:
    # 2,000 names of one country sharing most words: the blocks are capped, not 2,000 x 2,000 pairs
    recs = [R(i, "KEN", f"Ward {i} Community Health Worker Application") for i in range(1, 2001)]
    recs.append(R(5000, "KEN", "Ward 17 Community Health Worker Aplication"))
    stats = dedupe.Stats()
    pairs = found(recs, stats=stats)
    assert stats.split_blocks >= 1
    assert stats.candidates <= len(recs) * dedupe.MAX_KEY_WORDS * dedupe.DEFAULT_MAX_BLOCK
    assert stats.candidates < len(recs) * (len(recs) - 1) // 20
    assert (17, 5000) in pairs


def _dense_country(n: int) -> tuple[list[dedupe.Rec], set[tuple[int, int]]]:
    """n names of one country (districts x kinds of system), and one in ten again with a letter
    left out of the district: the records and those planted pairs."""
    rnd = random.Random(7)
    kinds = ("Malaria Surveillance", "Laboratory Information System", "Electronic Medical Record",
             "Immunization Registry", "Community Health Worker Application")
    syl = ("ka", "lu", "mbo", "ri", "to", "sa", "ndi", "ze", "po", "gu", "ve", "nyo")
    recs: list[dedupe.Rec] = []
    planted: set[tuple[int, int]] = set()
    seen: set[str] = set()
    while len(recs) < n:
        district = "".join(rnd.choice(syl) for _ in range(3)).capitalize()
        if district in seen:
            continue
        seen.add(district)
        for kind in kinds:
            recs.append(R(len(recs) + 1, "KEN", f"{district} {kind}"))
            if rnd.random() < 0.1:
                cut = rnd.randrange(3, len(district))
                recs.append(R(len(recs) + 1, "KEN", f"{district[:cut]}{district[cut + 1:]} {kind}"))
                planted.add((len(recs) - 1, len(recs)))
    return recs, planted


def test_work_per_record_is_bounded_and_the_same_at_two_sizes() -> None:
    per_record = []
    for n in (600, 6000):
        recs, planted = _dense_country(n)
        stats = dedupe.Stats()
        pairs = found(recs, stats=stats)
        n = len(recs)
        assert stats.compared <= n * dedupe.MAX_KEY_WORDS * 2 * 2 * (dedupe.DEFAULT_WINDOW - 1)
        assert stats.candidates <= n * 2 * dedupe.DEFAULT_BEST
        assert stats.candidates < n * (n - 1) // 100
        per_record.append((stats.compared / n, stats.candidates / n))
        # most misspelt districts are still found (in this dense country, a letter left out of the middle of the
        # district, the only word telling records apart, changes its key and can put many records between
        # the two in both sort orders: 59 of 59 at 600 records, 485 of 557 at 6,000)
        assert len(planted & set(pairs)) >= 0.85 * len(planted)
        names = {r.id: r.name for r in recs}
        same_kind = [(a, b) for a, b in pairs if names[a].split()[1:] == names[b].split()[1:]]
        assert len(same_kind) == len(pairs)  # never two kinds of system
    (small_compared, small_scored), (large_compared, large_scored) = per_record
    assert large_compared <= 1.25 * small_compared and large_scored <= 1.25 * small_scored


def test_a_misspelling_at_the_start_is_caught_by_the_reversed_order() -> None:
    syl = ("ka", "lu", "mbo", "ri", "to", "sa")
    recs = [R(i, "KEN", f"Ak{a}{b} Malaria Surveillance") for i, (a, b) in enumerate(
        ((a, b) for a in syl for b in syl), start=10)]
    recs.append(R(1, "KEN", "Alkuri Malaria Surveillance"))  # "Akluri" (id 19), two letters swapped
    assert recs[9].name == "Akluri Malaria Surveillance"
    by_canon = sorted(recs, key=lambda r: (dedupe.prepare(r).canon, r.id))
    assert abs(by_canon.index(recs[-1]) - by_canon.index(recs[9])) >= dedupe.DEFAULT_WINDOW  # apart in order 1
    dedupe._weigh(recs)
    assert (1, 19) in dedupe.candidates(recs)  # met in the reversed order ("irukla" / "irulka")
    assert (1, 19) in found(recs, threshold=0.7)


def test_organisation_acronym_field_and_website() -> None:
    recs = [R(1, "GHA", "Ghana Health Service", acronym="GHS", website="ghs.gov.gh"),
            R(2, "GHA", "GHS", website="ghs.gov.gh"), R(3, "GHA", "Ghana Statistical Service", acronym="GSS")]
    pairs = found(recs)
    assert set(pairs) == {(1, 2)} and {"acronym", "website"} <= kinds(pairs[(1, 2)])


# ---------------------------------------------------------------- with the database


def tok(db, local: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        user = accounts.find_user(s, f"{local}@demo.example.org")
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "t", "scopes": ["read", "write"]}, user.id)
    return {"Authorization": f"Bearer {secret}"}


def counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.engine.connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED}  # noqa: S608


def org_id(s, acronym: str) -> int:  # type: ignore[no-untyped-def]
    return s.execute(select(Organisation.id).where(Organisation.acronym == acronym)).scalar_one()


def make_impl(s, name: str, iso3: str = "KEN", owner: str = "NHF", **over) -> int:  # type: ignore[no-untyped-def]
    body = {"name": name, "country_iso3": iso3, "stage": "piloting", "owner_org_id": org_id(s, owner)}
    body.update(over)
    return service.create_implementation(s, CLI_OPERATOR, ImplementationIn(**body)).id


@pytest.fixture
def world(demo_db):  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        moh, nhf, lhs = org_id(s, "MOH-KEN"), org_id(s, "NHF"), org_id(s, "LHS")
        a = make_impl(s, "Nairobi Electronic Medical Record", classifications=[
            {"scheme": "cdisah2023-dhi", "code": "1.1.1"}], organisations=[{"organisation_id": moh,
                                                                            "role": "implementer"}],
            coverage=[{"area_code": "KE-30", "as_of": "2024-01-01", "persons": 100}], standards=["fhir"])
        b = make_impl(s, "Dossier Médical Électronique de Nairobi", owner="LHS", classifications=[
            {"scheme": "cdisah2023-dhi", "code": "1.1.1"}, {"scheme": "cdisah2023-dhi", "code": "1.1.2"}],
            organisations=[{"organisation_id": moh, "role": "implementer"}, {"organisation_id": lhs,
                                                                             "role": "implementer"}],
            coverage=[{"area_code": "KE-30", "as_of": "2024-01-01", "persons": 90},
                      {"area_code": "KE-30", "as_of": "2025-01-01", "persons": 150}], health_focus=["maternal"])
        other = make_impl(s, "Mombasa Malaria Surveillance")
        sen = make_impl(s, "Nairobi Electronic Medical Record", iso3="SEN")
        inv = service.create_investment(s, CLI_OPERATOR, InvestmentIn(
            title="EMR roll-out", funder_org_id=nhf, country_iso3="KEN", amount="1000", currency="USD",
            kind="grant", committed_on=dt.date(2024, 1, 1), period_start=2024, period_end=2025,
            targets=[{"kind": "implementation", "ref": str(b)}])).id
    return {"a": a, "b": b, "other": other, "sen": sen, "inv": inv}


def test_duplicates_api_shows_what_the_caller_may_read(client, demo_db, world) -> None:  # type: ignore[no-untyped-def]
    focal = tok(demo_db, "focal.ken")
    mine = (world["a"], world["b"])
    r = client.get("/api/atlas/duplicates", params={"country": "KEN"}, headers=focal)
    assert r.status_code == 200, r.text
    pairs = {(p["a"]["id"], p["b"]["id"]): p for p in r.json()["pairs"]}
    assert "translation" in {x["kind"] for x in pairs[mine]["reasons"]}
    assert world["other"] not in {i for pair in pairs for i in pair}
    assert all(p["a"]["country_iso3"] == p["b"]["country_iso3"] == "KEN" for p in pairs.values())

    def public_pairs() -> set[tuple[int, int]]:
        body = client.get("/api/atlas/duplicates").json()
        ids = {i for p in body["pairs"] for i in (p["a"]["id"], p["b"]["id"])}
        with demo_db.session() as s:
            assert {s.get(Implementation, i).status for i in ids} <= {"published"}  # drafts stay hidden
        return {(p["a"]["id"], p["b"]["id"]) for p in body["pairs"]}

    assert mine not in public_pairs()
    for iid in mine:
        assert client.post(f"/api/atlas/implementations/{iid}/approve", headers=focal).status_code == 200
    assert mine in public_pairs()
    assert client.get("/api/atlas/duplicates", params={"entity": "people"}).status_code == 422
    assert client.get("/api/atlas/duplicates", params={"country": "K3N"}).status_code == 422


def test_merge_rewires_links_and_keeps_history(client, demo_db, world) -> None:  # type: ignore[no-untyped-def]
    a, b = world["a"], world["b"]
    r = client.post(f"/api/atlas/implementations/{a}/merge/{b}", headers=tok(demo_db, "focal.ken"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kept_id"] == a and body["merged_id"] == b and body["merged_by"] == "focal.ken@demo.example.org"
    assert body["rewired"]["investment_targets"] and body["rewired"]["classifications"] == ["cdisah2023-dhi:1.1.2"]
    with demo_db.session() as s:
        kept, gone = s.get(Implementation, a), s.get(Implementation, b)
        assert gone.merged_into_id == a and gone.status == "archived" and kept.merged_into_id is None
        codes = sorted(s.execute(select(Classification.code).where(Classification.implementation_id == a)).scalars())
        assert codes == ["1.1.1", "1.1.2"]  # unioned, no duplicate row
        orgs = s.execute(select(ImplementationOrg.organisation_id).where(ImplementationOrg.implementation_id == a)
                         ).scalars().all()
        assert len(orgs) == len(set(orgs)) == 2
        cov = s.execute(select(Coverage.as_of, Coverage.persons).where(Coverage.implementation_id == a)
                        .order_by(Coverage.as_of)).all()
        assert [(c.as_of.year, c.persons) for c in cov] == [(2024, 100), (2025, 150)]  # the kept count wins
        target = s.execute(select(InvestmentTarget).where(InvestmentTarget.investment_id == world["inv"])).scalar_one()
        assert target.ref == str(a)
        assert len(s.execute(select(Classification).where(Classification.implementation_id == b)).all()) == 2
        rec = s.execute(select(MergeRecord)).scalar_one()
        assert json.loads(rec.rewired) == body["rewired"]
        detail = service.implementation_detail(s, CLI_OPERATOR, kept)
        assert detail["standards"] == ["fhir"] and detail["health_focus"] == ["maternal"]
    with demo_db.engine.connect() as c:
        actions = c.execute(text("SELECT action, object_type FROM audit_entry WHERE object_id = :i OR "
                                 "object_type = 'atlas_merge'"), {"i": str(b)}).all()
    assert ("merge", "atlas_implementation") in actions and ("create", "atlas_merge") in actions
    assert ("update", "atlas_implementation") in actions
    # the merged record no longer turns up as a duplicate; a second merge of it is refused
    after = client.get("/api/atlas/duplicates", headers=tok(demo_db, "admin")).json()["pairs"]
    assert b not in {i for p in after for i in (p["a"]["id"], p["b"]["id"])}
    again = client.post(f"/api/atlas/implementations/{world['other']}/merge/{b}", headers=tok(demo_db, "admin"))
    assert again.status_code == 409 and "already merged" in again.json()["detail"]


def test_hostile_merges_are_refused_and_write_nothing(client, demo_db, world) -> None:  # type: ignore[no-untyped-def]
    a, b = world["a"], world["b"]
    admin, focal = tok(demo_db, "admin"), tok(demo_db, "focal.ken")
    partner, focal_sen = tok(demo_db, "partner.northwind"), tok(demo_db, "focal.sen")
    before = counts(demo_db)
    cases = [
        (f"/api/atlas/implementations/{a}/merge/{a}", focal, 422, "itself"),
        (f"/api/atlas/implementations/{a}/merge/{world['sen']}", admin, 422, "different countries"),
        (f"/api/atlas/implementations/{a}/merge/{b}", partner, 403, None),
        (f"/api/atlas/implementations/{a}/merge/{b}", focal_sen, 404, None),  # KEN drafts unseen
        (f"/api/atlas/implementations/{a}/merge/{b}", {}, 401, None),
        (f"/api/atlas/implementations/{a}/merge/999999", admin, 404, None),
        (f"/api/atlas/implementations/{a}/merge/0", admin, 422, None),
        (f"/api/atlas/implementations/{a}/merge/99999999999", admin, 422, None),
        (f"/api/atlas/organisations/{a}/merge/999999", admin, 404, None),
    ]
    for url, headers, status, words in cases:
        r = client.post(url, headers=headers)
        assert r.status_code == status, (url, r.text)
        if words:
            assert words in r.json()["detail"]
    assert counts(demo_db) == before
    with demo_db.session() as s:
        assert s.get(Implementation, b).merged_into_id is None and s.get(Implementation, b).status == "draft"
    # a focal point of another country may not merge published records of Kenya either
    for iid in (a, b):
        client.post(f"/api/atlas/implementations/{iid}/approve", headers=focal)
    before = counts(demo_db)
    assert client.post(f"/api/atlas/implementations/{a}/merge/{b}", headers=focal_sen).status_code == 403
    assert counts(demo_db) == before


def test_organisation_merge_moves_every_reference(client, demo_db, world) -> None:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        keep = accounts.create_organisation(s, CLI_OPERATOR, {"name": "Kenya Medical Research Institute",
                                                              "acronym": "KEMRI", "kind": "academic",
                                                              "country_iso3": "KEN"}).id
        dup = accounts.create_organisation(s, CLI_OPERATOR, {"name": "KEMRI", "kind": "academic",
                                                             "country_iso3": "KEN"}).id
        user = accounts.create_user(s, CLI_OPERATOR, {"email": "res@example.org", "display_name": "R",
                                                      "organisation_id": dup})
        accounts.grant_role(s, CLI_OPERATOR, user.id, {"role": "partner", "organisation_id": dup})
        s.get(Implementation, world["other"]).owner_org_id = dup
        s.add(ImplementationOrg(implementation_id=world["a"], organisation_id=dup, role="funder"))
        inv = s.get(Investment, world["inv"])
        inv.recipient_org_id = dup
        uid = user.id
        # strategy records point at organisations too: a plan's owner, an activity's owner, a training's organiser
        activity = s.execute(select(Activity).join(ActionPlan).where(ActionPlan.country_iso3 == "KEN")
                             ).scalars().first()
        activity.owner_org_id = dup
        activity_id, plan_id = activity.id, activity.plan_id
        s.get(ActionPlan, plan_id).organisation_id = dup
        training = s.execute(select(Training)).scalars().first()
        training.organiser_org_id = dup
        training_id = training.id
    admin, partner = tok(demo_db, "admin"), tok(demo_db, "partner.northwind")
    dups = client.get("/api/atlas/duplicates", params={"entity": "organisation", "country": "KEN"}).json()
    assert (keep, dup) in {(p["a"]["id"], p["b"]["id"]) for p in dups["pairs"]}
    before = counts(demo_db)
    assert client.post(f"/api/atlas/organisations/{keep}/merge/{dup}", headers=partner).status_code == 403
    assert client.post(f"/api/atlas/organisations/{keep}/merge/{keep}", headers=admin).status_code == 422
    with demo_db.session() as s:
        global_org = org_id(s, "NHF")
    assert client.post(f"/api/atlas/organisations/{keep}/merge/{global_org}", headers=admin).status_code == 422
    assert counts(demo_db) == before
    r = client.post(f"/api/atlas/organisations/{keep}/merge/{dup}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["rewired"]["deleted_organisation"]["name"] == "KEMRI"
    with demo_db.session() as s:
        assert s.get(Organisation, dup) is None
        assert s.get(User, uid).organisation_id == keep
        assert s.execute(select(RoleGrant.organisation_id).where(RoleGrant.user_id == uid)).scalar_one() == keep
        assert s.get(Implementation, world["other"]).owner_org_id == keep
        assert s.get(Investment, world["inv"]).recipient_org_id == keep
        assert s.get(Activity, activity_id).owner_org_id == keep
        assert s.get(ActionPlan, plan_id).organisation_id == keep
        assert s.get(Training, training_id).organiser_org_id == keep
        assert (world["a"], keep, "funder") in {(x.implementation_id, x.organisation_id, x.role) for x in s.execute(
            select(ImplementationOrg)).scalars()}
    with demo_db.engine.connect() as c:
        assert c.execute(text("SELECT action FROM audit_entry WHERE object_type = 'organisation' AND object_id = :i "
                              "ORDER BY seq DESC"), {"i": str(dup)}).scalars().first() == "merge"


def test_stale_and_completeness(client, demo_db, world) -> None:  # type: ignore[no-untyped-def]
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    with demo_db.engine.begin() as c:
        c.execute(text("UPDATE atlas_implementation SET updated_at = :t WHERE id = :i"), {"t": old, "i": world["a"]})
    with demo_db.session() as s:
        nhf, lhs = org_id(s, "NHF"), org_id(s, "LHS")
    r = client.get("/api/atlas/stale", headers=tok(demo_db, "partner.northwind"))
    assert r.status_code == 200, r.text
    groups = r.json()["organisations"]
    assert {g["organisation_id"] for g in groups} == {nhf}  # only its own organisation's records
    mine = {x["id"]: x for g in groups for x in g["records"] if x["kind"] == "implementation"}
    assert world["a"] in mine and mine[world["a"]]["days"] >= 400 and world["other"] not in mine
    assert all(x["days"] > 365 for x in mine.values())
    lattice = client.get("/api/atlas/stale", headers=tok(demo_db, "partner.lattice")).json()
    assert {g["organisation_id"] for g in lattice["organisations"]} <= {lhs}
    sen = client.get("/api/atlas/stale", headers=tok(demo_db, "focal.sen")).json()
    assert {x["country_iso3"] for g in sen["organisations"] for x in g["records"]} <= {"SEN"}
    assert client.get("/api/atlas/stale").status_code == 401
    assert client.get("/api/atlas/stale", headers=tok(demo_db, "viewer")).status_code == 403
    comp = client.get("/api/atlas/completeness", params={"country": "KEN"}, headers=tok(demo_db, "focal.ken")).json()
    (ken,) = comp["countries"]
    with demo_db.session() as s:
        live = s.execute(select(Implementation).where(Implementation.country_iso3 == "KEN",
                                                      Implementation.merged_into_id.is_(None),
                                                      Implementation.status != "archived")).scalars().all()
        expected = [service.implementation_detail(s, CLI_OPERATOR, i)["completeness"] for i in live]
        published = sum(1 for i in live if i.status == "published")
    assert ken["country_iso3"] == "KEN" and ken["records"] == len(live) >= 3 and 0 < ken["completeness"] < 1
    assert ken["completeness"] == round(sum(expected) / len(expected), 2)
    public = client.get("/api/atlas/completeness", params={"country": "KEN"}).json()["countries"]
    assert sum(c["records"] for c in public) == published  # the public: published records only


def test_cli_dedupe_and_merge(demo_db, world) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    r = runner.invoke(app, ["atlas", "dedupe", "--country", "KEN", "--json", "--database", demo_db.url])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert (world["a"], world["b"]) in [(p["a"]["id"], p["b"]["id"]) for p in data["pairs"]]
    r = runner.invoke(app, ["atlas", "dedupe", "--country", "KEN", "--database", demo_db.url])
    assert r.exit_code == 0 and "the same words in another language" in r.output
    r = runner.invoke(app, ["atlas", "dedupe", "--country", "K3N", "--database", demo_db.url])
    assert r.exit_code == 1
    r = runner.invoke(app, ["atlas", "merge", str(world["a"]), str(world["sen"]), "--database", demo_db.url])
    assert r.exit_code == 1 and "different countries" in r.output
    r = runner.invoke(app, ["atlas", "merge", str(world["a"]), str(world["b"]), "--database", demo_db.url])
    assert r.exit_code == 0, r.output
    assert f"Merged implementation {world['b']} into {world['a']}" in r.output
    with demo_db.session() as s:
        assert s.get(Implementation, world["b"]).merged_into_id == world["a"]
        assert s.execute(select(MergeRecord.merged_by).where(MergeRecord.merged_id == world["b"])).scalar_one() == "cli"

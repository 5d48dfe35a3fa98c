"""The atlas pages for solutions (list, where each is deployed) and for data quality (likely
duplicates merged through a form, stale records, completeness). Counts are checked against the
database; merges that are refused (another country's focal point, a viewer, the public, no CSRF
token, a record merged into itself, records of two countries, malformed fields) change nothing."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import select, text

from dho.accounts.permissions import CLI_OPERATOR
from dho.atlas import service
from dho.atlas.models import Classification, Implementation, ImplementationOrg, InvestmentTarget, MergeRecord
from dho.atlas.schemas import InvestmentIn
from dho.errors import ValidationFailed
from tests.atlas.test_dedupe import counts, make_impl, org_id
from tests.conftest import csrf_from, demo_email, login
from tests.maturity.test_map import map_classes

MERGE = "/atlas/quality/merge"


def signed_in(client, local: str, url: str = "/atlas/quality") -> str:  # type: ignore[no-untyped-def]
    assert login(client, demo_email(local)).status_code == 303
    page = client.get(url)
    assert page.status_code == 200, page.text[:500]
    return csrf_from(page.text)


def solution_counts(page: str) -> dict[int, tuple[int, int]]:
    rows = re.findall(r'<tr data-id="(\d+)">.*?data-count="implementations">(\d+)<.*?data-count="countries">(\d+)<',
                      page, re.S)
    return {int(i): (int(n), int(c)) for i, n, c in rows}


def expected_counts(demo_db, extra_country: str | None = None) -> dict[int, tuple[int, int]]:  # type: ignore[no-untyped-def]
    """Implementations per solution (and their countries): published ones, plus the live ones of
    ``extra_country`` (what its focal point may read); merged and archived records left out."""
    with demo_db.engine.connect() as c:
        rows = c.execute(text(
            "SELECT s.id, count(DISTINCT i.id), count(DISTINCT i.country_iso3) FROM atlas_solution s "
            "LEFT JOIN atlas_implementation_solution x ON x.solution_id = s.id "
            "LEFT JOIN atlas_implementation i ON i.id = x.implementation_id AND i.merged_into_id IS NULL "
            "AND i.status <> 'archived' AND (i.status = 'published' OR i.country_iso3 = :c) GROUP BY s.id"),
            {"c": extra_country or "---"}).all()
    return {sid: (n, k) for sid, n, k in rows}


# ---------------------------------------------------------------- solutions


def test_solution_list_counts_what_the_reader_may_see(client, demo_db):
    page = client.get("/atlas/solutions")
    assert page.status_code == 200
    shown = solution_counts(page.text)
    public = expected_counts(demo_db)
    assert shown == public and len(shown) >= 10
    assert "Counts include published implementations only" in page.text
    assert "Electronic medical record systems" in page.text  # kinds by their 2023 names (A5)
    assert 'href="https://openmrs.org"' in page.text
    # the focal point of Kenya also counts Kenya's drafts
    signed_in(client, "focal.ken", "/atlas")
    mine = solution_counts(client.get("/atlas/solutions").text)
    assert mine == expected_counts(demo_db, "KEN") and mine != public
    # search, and bounded parameters
    one = client.get("/atlas/solutions", params={"q": "openmrs"})
    assert list(solution_counts(one.text)) == [s for s in shown if s == _solution_id(demo_db, "OpenMRS")]
    assert client.get("/atlas/solutions", params={"q": "x" * 101}).status_code == 422
    assert client.get("/atlas/solutions?offset=-1").status_code == 422
    assert "No solution matches." in client.get("/atlas/solutions", params={"q": "%_no_such_"}).text


def _solution_id(demo_db, name: str) -> int:  # type: ignore[no-untyped-def]
    with demo_db.engine.connect() as c:
        return c.execute(text("SELECT id FROM atlas_solution WHERE name = :n"), {"n": name}).scalar_one()


def test_hostile_solution_links_are_not_followed(client, demo_db):
    with demo_db.session() as s:
        with pytest.raises(ValidationFailed):  # the service refuses such an address...
            service.create_solution(s, CLI_OPERATOR, "Bad link suite", website="javascript:alert(1)")
        sid = service.create_solution(s, CLI_OPERATOR, '<script>alert("x")</script> Suite',
                                      repository="https://example.org/repo").id
    with demo_db.engine.begin() as c:  # ...and a page shows one that came from older data as text only
        c.execute(text("UPDATE atlas_solution SET website = 'javascript:alert(1)' WHERE id = :i"), {"i": sid})
    for url in ("/atlas/solutions", f"/atlas/solutions/{sid}"):
        page = client.get(url).text
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page
        assert 'href="javascript:' not in page and "javascript:alert(1)" in page  # shown as text only
        assert 'href="https://example.org/repo"' in page


def test_solution_page_maps_and_lists_published_deployments(client, demo_db):
    sid = _solution_id(demo_db, "OpenSRP")
    with demo_db.engine.connect() as c:
        rows = c.execute(text(
            "SELECT i.id, i.country_iso3, i.status FROM atlas_implementation i JOIN atlas_implementation_solution x "
            "ON x.implementation_id = i.id WHERE x.solution_id = :s AND i.merged_into_id IS NULL "
            "AND i.status <> 'archived'"), {"s": sid}).all()
    published = [r for r in rows if r.status == "published"]
    drafts = [r for r in rows if r.status != "published"]
    assert published and drafts  # the demo data has both
    page = client.get(f"/atlas/solutions/{sid}")
    assert page.status_code == 200
    linked = {int(i) for i in re.findall(r'<a href="/atlas/implementations/(\d+)">', page.text)}
    assert linked == {r.id for r in published}
    per_country: dict[str, int] = {}
    for r in published:
        per_country[r.country_iso3] = per_country.get(r.country_iso3, 0) + 1
    assert f"{len(published)} implementations · {len(per_country)} countries" in page.text
    classes = map_classes(page.text)
    bands = {1: 1, 2: 2, 3: 3, 4: 3, **dict.fromkeys(range(5, 10), 4)}
    coloured = {iso3: int(m.group(1)) for iso3, c in classes.items() if (m := re.search(r"wm-ph-(\d)", c))}
    assert coloured == {iso3: bands.get(n, 5) for iso3, n in per_country.items()}
    assert classes["FRA"].split() == ["wm-c", "wm-nodata"]
    assert "Where OpenSRP is deployed" in page.text
    # the focal point of a country with a draft sees that draft too, marked as such
    iso3 = drafts[0].country_iso3
    signed_in(client, f"focal.{iso3.lower()}", "/atlas")
    own = client.get(f"/atlas/solutions/{sid}").text
    assert f'href="/atlas/implementations/{drafts[0].id}"' in own and "not published" in own
    # unknown and malformed ids
    assert client.get("/atlas/solutions/999999").status_code == 404
    assert "No solution 999999" in client.get("/atlas/solutions/999999").text
    assert client.get("/atlas/solutions/0").status_code == 422
    assert client.get("/atlas/solutions/abc").status_code == 422
    assert client.get("/atlas/solutions/99999999999").status_code == 422


def test_atlas_pages_link_to_solutions_and_quality(client, demo_db):
    home = client.get("/atlas").text
    assert 'href="/atlas/solutions"' in home and 'href="/atlas/quality"' not in home
    with demo_db.engine.connect() as c:
        impl_id, sid = c.execute(text(
            "SELECT i.id, x.solution_id FROM atlas_implementation i JOIN atlas_implementation_solution x "
            "ON x.implementation_id = i.id WHERE i.status = 'published' ORDER BY i.id")).first()
    assert f'href="/atlas/solutions/{sid}"' in client.get(f"/atlas/implementations/{impl_id}").text
    signed_in(client, "focal.ken", "/atlas")
    assert 'href="/atlas/quality"' in client.get("/atlas").text
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/atlas").text)})
    signed_in(client, "viewer", "/atlas")
    assert 'href="/atlas/quality"' not in client.get("/atlas").text


# ---------------------------------------------------------------- data quality


@pytest.fixture
def pair(demo_db):  # type: ignore[no-untyped-def]
    """Two published records of Kenya that describe the same system (one in French), one of Senegal."""
    with demo_db.session() as s:
        moh, lhs, nhf = org_id(s, "MOH-KEN"), org_id(s, "LHS"), org_id(s, "NHF")
        a = make_impl(s, "Nairobi Electronic Medical Record", classifications=[
            {"scheme": "cdisah2023-dhi", "code": "1.1.1"}], organisations=[{"organisation_id": moh,
                                                                            "role": "implementer"}])
        b = make_impl(s, "Dossier Médical Électronique de Nairobi", owner="LHS", classifications=[
            {"scheme": "cdisah2023-dhi", "code": "1.1.1"}, {"scheme": "cdisah2023-dhi", "code": "1.1.2"}],
            organisations=[{"organisation_id": moh, "role": "implementer"},
                           {"organisation_id": lhs, "role": "implementer"}])
        sen = make_impl(s, "Nairobi Electronic Medical Record", iso3="SEN")
        for iid in (a, b, sen):
            service.decide(s, CLI_OPERATOR, iid, "approve")
        inv = service.create_investment(s, CLI_OPERATOR, InvestmentIn(
            title="EMR roll-out (quality page)", funder_org_id=nhf, country_iso3="KEN", amount="1000",
            currency="USD", kind="grant", committed_on=dt.date(2024, 1, 1), period_start=2024, period_end=2025,
            targets=[{"kind": "implementation", "ref": str(b)}])).id
    return {"a": a, "b": b, "sen": sen, "inv": inv, "lhs": lhs}


def pairs_on(page: str) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in re.findall(r'data-pair="(\d+)-(\d+)"', page)}


def merge_form(token: str | None, keep: object, merged: object, **more: str) -> dict[str, object]:
    form: dict[str, object] = {"keep": keep, "merged": merged, "entity": "implementation", "country": "KEN",
                               "threshold": "0.85", **more}
    if token is not None:
        form["csrf_token"] = token
    return form


def test_focal_point_merges_a_pair_through_the_form(client, demo_db, pair):
    a, b = pair["a"], pair["b"]
    token = signed_in(client, "focal.ken")
    page = client.get("/atlas/quality").text  # opens on Kenya for Kenya's focal point
    found = pairs_on(page)
    assert (a, b) in found
    with demo_db.session() as s:
        countries = set(s.execute(select(Implementation.country_iso3).where(
            Implementation.id.in_({i for p in found for i in p}))).scalars())
    assert countries == {"KEN"}
    assert 'action="/atlas/quality/merge"' in page and "Merge B into A" in page
    r = client.post(MERGE, data=merge_form(token, a, b), follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    assert r.headers["location"].startswith("/atlas/quality?") and "done=" in r.headers["location"]
    after = client.get(r.headers["location"]).text
    result = re.search(r'<div class="notice" role="status" id="result">(.*?)</div>', after, re.S)
    assert result, "no merge result shown"
    assert (f"Merged Dossier Médical Électronique de Nairobi (#{b}) into Nairobi Electronic Medical Record (#{a})."
            in html.unescape(result.group(1)))
    assert "classification codes (1)" in result.group(1)
    assert (a, b) not in pairs_on(after)
    with demo_db.session() as s:
        gone, kept = s.get(Implementation, b), s.get(Implementation, a)
        assert gone.merged_into_id == a and gone.status == "archived" and kept.merged_into_id is None
        assert sorted(s.execute(select(Classification.code).where(Classification.implementation_id == a))
                      .scalars()) == ["1.1.1", "1.1.2"]
        assert pair["lhs"] in set(s.execute(select(ImplementationOrg.organisation_id).where(
            ImplementationOrg.implementation_id == a)).scalars())
        target = s.execute(select(InvestmentTarget).where(InvestmentTarget.investment_id == pair["inv"])).scalar_one()
        assert target.ref == str(a)
        rec = s.execute(select(MergeRecord)).scalar_one()
        assert rec.merged_by == "focal.ken@demo.example.org"
    merged_page = client.get(f"/atlas/implementations/{b}").text
    assert "Archived" in merged_page and 'id="merged-into"' in merged_page
    assert f'href="/atlas/implementations/{a}"' in merged_page
    kept_page = client.get(f"/atlas/implementations/{a}").text
    assert "Lattice Health Systems" in kept_page and f'href="/atlas/investments/{pair["inv"]}"' in kept_page
    # the result is shown only to who made the merge
    client.post("/logout", data={"csrf_token": token})
    signed_in(client, "admin")
    assert 'id="result"' not in client.get(r.headers["location"]).text


def test_other_countries_viewers_and_the_public_cannot_merge(client, demo_db, pair):
    a, b = pair["a"], pair["b"]
    before = counts(demo_db)
    # the public: the page asks to sign in; a post is refused
    r = client.get("/atlas/quality", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/atlas/quality")
    anon_token = csrf_from(client.get("/login").text)
    assert client.post(MERGE, data=merge_form(anon_token, a, b)).status_code == 401
    # a viewer reads everything but may not use the page
    assert login(client, demo_email("viewer")).status_code == 303
    viewer_token = csrf_from(client.get("/atlas").text)
    assert client.get("/atlas/quality").status_code == 403
    assert client.post(MERGE, data=merge_form(viewer_token, a, b)).status_code == 403
    client.post("/logout", data={"csrf_token": viewer_token})
    # Senegal's focal point sees Kenya's published pair, without merge buttons, and may not merge it
    token = signed_in(client, "focal.sen", "/atlas/quality?country=KEN")
    page = client.get("/atlas/quality?country=KEN").text
    assert (a, b) in pairs_on(page) and 'action="/atlas/quality/merge"' not in page
    r = client.post(MERGE, data=merge_form(token, a, b))
    assert r.status_code == 403 and 'id="merge-error"' in r.text and "Your roles do not allow you" in r.text
    assert counts(demo_db) == before
    with demo_db.session() as s:
        assert s.get(Implementation, b).merged_into_id is None and s.get(Implementation, b).status == "published"


def test_refused_merges_show_why_and_change_nothing(client, demo_db, pair):
    a, b = pair["a"], pair["b"]
    before = counts(demo_db)
    token = signed_in(client, "focal.ken")
    assert client.post(MERGE, data=merge_form(None, a, b)).status_code == 403  # no CSRF token
    assert client.post(MERGE, data=merge_form("forged" * 8, a, b)).status_code == 403
    cases = [
        (merge_form(token, a, a), 422, "cannot be merged into itself"),
        (merge_form(token, a, pair["sen"]), 403, "Your roles do not allow you"),  # Senegal's record
        (merge_form(token, "abc", b), 422, "must be a record number"),
        (merge_form(token, a, "99999999999"), 422, "must be a record number"),
        (merge_form(token, f"{a}; DROP TABLE atlas_merge", b), 422, "must be a record number"),
        (merge_form(token, a, b, entity="people"), 422, "must be implementation or organisation"),
        (merge_form(token, a, 999999), 404, "No implementation 999999"),
    ]
    for form, status, words in cases:
        r = client.post(MERGE, data=form)
        assert r.status_code == status, (form, r.text[:300])
        error = re.search(r'<div class="alert" role="alert" id="merge-error">(.*?)</div>', r.text, re.S)
        assert error and words in html.unescape(error.group(1)), (form, words)
        assert "Atlas data quality" in r.text  # the page is shown again, with the message
    client.post("/logout", data={"csrf_token": token})
    token = signed_in(client, "admin")
    r = client.post(MERGE, data=merge_form(token, a, pair["sen"]))
    assert r.status_code == 422 and "different countries" in r.text
    # a partner may edit records but not merge them
    client.post("/logout", data={"csrf_token": token})
    token = signed_in(client, "partner.northwind")
    assert client.post(MERGE, data=merge_form(token, a, b)).status_code == 403
    assert counts(demo_db) == before
    with demo_db.session() as s:
        assert s.get(Implementation, b).merged_into_id is None
        assert s.execute(select(MergeRecord)).first() is None


def test_stale_records_and_completeness(client, demo_db, pair):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    with demo_db.engine.begin() as c:
        c.execute(text("UPDATE atlas_implementation SET updated_at = :t WHERE id = :i"), {"t": old, "i": pair["a"]})
    signed_in(client, "partner.northwind")
    page = client.get("/atlas/quality").text
    stale = page[page.index('id="stale"'):page.index('id="completeness"')]
    assert f'href="/atlas/implementations/{pair["a"]}/edit"' in stale and "Northwind Health Fund" in stale
    assert f'/atlas/implementations/{pair["b"]}/' not in stale  # Lattice's record, not Northwind's
    assert 'action="/atlas/quality/merge"' not in page  # a partner may not merge
    found = pairs_on(page)  # only pairs that include one of its own records
    assert (pair["a"], pair["b"]) in found
    with demo_db.session() as s:
        nhf = org_id(s, "NHF")
        owners = dict(s.execute(select(Implementation.id, Implementation.owner_org_id).where(
            Implementation.id.in_({i for p in found for i in p}))).all())
    assert all(nhf in (owners[x], owners[y]) for x, y in found)
    assert client.get("/atlas/quality?country=K3N").status_code == 422
    assert client.get("/atlas/quality?entity=people").status_code == 422
    assert client.get("/atlas/quality?threshold=0.1").status_code == 200  # not offered: the default is used
    token = csrf_from(page)
    client.post("/logout", data={"csrf_token": token})
    signed_in(client, "focal.ken")
    page = client.get("/atlas/quality").text
    with demo_db.engine.connect() as c:
        live = c.execute(text("SELECT count(*) FROM atlas_implementation WHERE country_iso3 = 'KEN' AND "
                              "merged_into_id IS NULL AND status <> 'archived'")).scalar_one()
    row = re.search(r'<tr data-iso3="KEN">.*?<td class="num">(\d+)</td>.*?value="([0-9.]+)"', page, re.S)
    assert row and int(row.group(1)) == live
    assert 0 < float(row.group(2)) < 1
    # the secretariat may merge anywhere but edits no records: no stale list, organisations offered
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    signed_in(client, "secretariat")
    sec = client.get("/atlas/quality?entity=organisation").text
    assert 'id="stale"' not in sec and 'id="duplicates"' in sec

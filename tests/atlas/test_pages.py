"""The atlas pages: the list, the record pages and the forms that register implementations and
investments. Bad input (negative or absurd amounts, unknown currencies, a year without a rate,
dates out of order, unknown codes, control characters), another organisation's record, a missing
CSRF token and a second submission of the same form are refused with a clear message, and nothing
is written; hostile text that is accepted is shown escaped."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import text

from tests.atlas.test_records import counts, orgs
from tests.conftest import csrf_from, demo_email, login

NEW_IMPL = "/atlas/implementations/new"
NEW_INV = "/atlas/investments/new"


def signed_in(client, local: str, url: str = "/atlas") -> str:  # type: ignore[no-untyped-def]
    assert login(client, demo_email(local)).status_code == 303
    page = client.get(url)
    assert page.status_code == 200, page.text[:500]
    return csrf_from(page.text)


def field_error(page: str, name: str) -> str:
    match = re.search(rf'id="f-{re.escape(name)}-error">([^<]*)<', page)
    assert match, f"no error shown next to {name}"
    return html.unescape(match.group(1))


def impl_form(token: str, **changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "csrf_token": token, "name": "Kisumu Cold Chain Monitor (page test)", "country_iso3": "KEN",
        "description": "Temperature sensors in vaccine fridges report to the district.", "stage": "piloting",
        "stage_date": "2025-01-10", "start_date": "2024-09-01", "end_date": "", "openness": "open_source",
        "licence": "Apache-2.0", "government_ownership": "partial", "owner_org_id": "", "dhi": "3.2.3",
        "hsc": "2.1", "sat": "B6", "dhi2018": "", "standards": ["fhir", "gs1"], "health_focus": "immunization",
        "cov_area_code": "KE-17", "cov_area_name": "Kisumu", "cov_as_of": "2025-06-30", "cov_persons": "",
        "cov_health_workers": "120", "cov_facilities": "35", "contact_name": "Otieno Page-Test",
        "contact_email": "otieno@demo.example.org", "contact_role": "Cold chain officer",
    }
    form.update(changes)
    return form


def inv_form(token: str, funder: int, **changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "csrf_token": token, "title": "Cold chain sensors, Kisumu (page test)", "country_iso3": "KEN",
        "funder_org_id": str(funder), "recipient_org_id": "", "owner_org_id": "", "amount": "12500000",
        "currency": "KES", "kind": "grant", "committed_on": "2024-04-01", "period_start": "2024", "period_end": "2026",
        "disb_date": "2024-07-01", "disb_amount": "5000000", "implementations": "", "interventions": "3.2.3",
        "priorities": "", "components": ["5"],
    }
    form.update(changes)
    return form


def record_of(demo_db, acronym: str, status: str = "published") -> int:  # type: ignore[no-untyped-def]
    """An implementation in Kenya owned by the organisation with this acronym."""
    with demo_db.engine.connect() as c:
        return c.execute(text(
            "SELECT i.id FROM atlas_implementation i JOIN organisation o ON o.id = i.owner_org_id "
            "WHERE o.acronym = :a AND i.status = :s ORDER BY i.id"), {"a": acronym, "s": status}).scalars().first()


# ---------------------------------------------------------------- pages that read


def test_atlas_home_filters_and_hides_drafts_from_the_public(client, demo_db):
    page = client.get("/atlas?country=KEN")
    assert page.status_code == 200
    assert "Kenya" in page.text and "/atlas/funding" in page.text and "/atlas/countries/KEN" in page.text
    with demo_db.engine.connect() as c:
        published = c.execute(text("SELECT count(*) FROM atlas_implementation WHERE country_iso3 = 'KEN' "
                                   "AND status = 'published' AND merged_into_id IS NULL")).scalar_one()
        draft = c.execute(text("SELECT name FROM atlas_implementation WHERE status = 'draft' AND lower(name) NOT IN "
                               "(SELECT lower(name) FROM atlas_implementation WHERE status = 'published') "
                               "ORDER BY id")).scalars().first()
    assert f"{published} implementation" in page.text
    assert 'name="status"' not in page.text  # the public has no drafts to filter
    assert client.get("/atlas?stage=nonsense&country=").status_code == 200  # unknown stage: ignored
    assert client.get("/atlas?country=K%3Cscript").status_code == 422
    assert client.get("/atlas?offset=-1").status_code == 422
    # Searching for a draft's exact name finds nothing for the public.
    assert "No implementation matches." in client.get("/atlas", params={"q": draft, "status": "draft"}).text


def test_record_pages_show_contacts_to_editors_only(client, demo_db):
    impl_id = record_of(demo_db, "NHF")
    with demo_db.engine.connect() as c:
        contact = c.execute(text("SELECT name FROM atlas_contact WHERE implementation_id = :i"),
                            {"i": impl_id}).scalar()
        draft = record_of(demo_db, "NHF", "draft")
    public = client.get(f"/atlas/implementations/{impl_id}")
    assert public.status_code == 200
    assert "Approve and publish" not in public.text and "/edit" not in public.text
    if contact:
        assert html.escape(contact) not in public.text
    assert client.get(f"/atlas/implementations/{draft}").status_code == 404
    assert client.get("/atlas/implementations/999999").status_code == 404
    assert client.get("/atlas/implementations/0").status_code == 422
    signed_in(client, "partner.northwind")
    own = client.get(f"/atlas/implementations/{impl_id}")
    assert f"/atlas/implementations/{impl_id}/edit" in own.text
    if contact:
        assert html.escape(contact) in own.text
    assert client.get(f"/atlas/implementations/{draft}").status_code == 200  # its own draft
    assert client.get(f"/atlas/implementations/{impl_id}?tab=history").status_code == 200


def test_investment_page_states_the_rate_and_its_source(client, demo_db):
    with demo_db.engine.connect() as c:
        inv_id = c.execute(text(
            "SELECT id FROM atlas_investment WHERE status = 'published' AND currency = 'EUR' "
            "ORDER BY id")).scalars().first()
    page = client.get(f"/atlas/investments/{inv_id}")
    assert page.status_code == 200
    assert "EUR per US dollar" in page.text and "Demo figures, not official rates" in page.text


# ---------------------------------------------------------------- registering an implementation


def test_partner_registers_then_edits_an_implementation(client, demo_db):
    token = signed_in(client, "partner.northwind", NEW_IMPL)
    before = counts(demo_db)
    done = client.post(NEW_IMPL, data=impl_form(token, dhi2018="1.1.3"), follow_redirects=False)
    assert done.status_code == 303, done.text[:2000]
    impl_id = int(done.headers["location"].split("/")[3].split("?")[0])
    after = counts(demo_db)
    assert after["atlas_implementation"] == before["atlas_implementation"] + 1
    assert after["atlas_contact"] == before["atlas_contact"] + 1
    with demo_db.engine.connect() as c:
        row = c.execute(text("SELECT status, approval, owner_org_id, stage FROM atlas_implementation WHERE id = :i"),
                        {"i": impl_id}).one()
        assert tuple(row) == ("draft", "pending", orgs(demo_db)["NHF"], "piloting")  # the partner's own by default
        kept = c.execute(text("SELECT code, original_code FROM atlas_classification WHERE implementation_id = :i "
                              "AND original_code IS NOT NULL"), {"i": impl_id}).all()
    assert kept == [("1.1.3", "1.1.3")]

    # The edit form shows what was saved; a change keeps the 2018 original and the coverage row.
    form = client.get(f"/atlas/implementations/{impl_id}/edit")
    assert form.status_code == 200 and 'value="1.1.3"' in form.text and "Kisumu Cold Chain" in form.text
    edited = impl_form(token, name="Kisumu Cold Chain Monitor v2 (page test)", dhi2018="1.1.3", cov_area_code="",
                       cov_area_name="", cov_as_of="", cov_health_workers="", cov_facilities="", version="1")
    saved = client.post(f"/atlas/implementations/{impl_id}/edit", data=edited, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:2000]
    with demo_db.engine.connect() as c:
        assert c.execute(text("SELECT name, version FROM atlas_implementation WHERE id = :i"),
                         {"i": impl_id}).one()[0] == "Kisumu Cold Chain Monitor v2 (page test)"
        assert c.execute(text("SELECT count(*) FROM atlas_coverage WHERE implementation_id = :i"),
                         {"i": impl_id}).scalar_one() == 1
        assert c.execute(text("SELECT count(*) FROM atlas_classification WHERE implementation_id = :i AND "
                              "original_code = '1.1.3'"), {"i": impl_id}).scalar_one() == 1
    # A stale version (someone saved meanwhile) is refused.
    stale = client.post(f"/atlas/implementations/{impl_id}/edit", data={**edited, "version": "1"})
    assert stale.status_code == 409


BAD_IMPLEMENTATIONS = [
    pytest.param({"end_date": "2024-01-01"}, "end_date", "before the start date", id="dates-out-of-order"),
    pytest.param({"start_date": "2024-02-30"}, "start_date", "not a date", id="impossible-date"),
    pytest.param({"dhi": "3.2.3 9.9.9"}, "dhi", "9.9.9 is not a code", id="unknown-2023-code"),
    pytest.param({"sat": "Z9"}, "sat", "Z9 is not a code", id="unknown-application-type"),
    pytest.param({"dhi2018": "8.8"}, "dhi2018", "8.8 is not a code", id="unknown-2018-code"),
    pytest.param({"name": ""}, "name", "empty", id="missing-name"),
    pytest.param({"name": "Bell\x07 ringer"}, "name", "format", id="control-character"),
    pytest.param({"country_iso3": "XXX"}, "country_iso3", "not a known country", id="unknown-country"),
    pytest.param({"stage": "flying"}, None, "unknown stage", id="unknown-stage"),
    pytest.param({"licence": "GPL 3 <b>"}, "licence", "format", id="licence-not-spdx"),
    pytest.param({"cov_area_code": "GH-AA"}, "coverage", "not an area of this country", id="area-of-another-country"),
    pytest.param({"cov_facilities": "-4"}, "cov_facilities", "whole number", id="negative-count"),
    pytest.param({"cov_as_of": ""}, "cov_as_of", "required", id="coverage-without-date"),
    pytest.param({"contact_email": "not-an-address"}, "contact_email", "", id="bad-email"),
    pytest.param({"standards": ["fhir", "telepathy"]}, None, "telepathy is not in the list", id="unknown-standard"),
    pytest.param({"owner_org_id": "999999"}, None, "", id="unknown-owner"),
    pytest.param({"stage_date": "1989-12-31"}, None, "before 1990", id="ancient-stage-date"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_IMPLEMENTATIONS)
def test_bad_implementation_is_explained_and_nothing_saved(client, demo_db, changes, field, message):
    token = signed_in(client, "partner.northwind", NEW_IMPL)
    before = counts(demo_db)
    page = client.post(NEW_IMPL, data=impl_form(token, **changes), follow_redirects=False)
    assert page.status_code in (403, 422), page.text[:1000]
    if page.status_code == 422:
        assert "nothing was saved" in page.text or "not valid" in page.text
        if field:
            assert message in field_error(page.text, field)
        else:
            assert message in html.unescape(page.text)
        assert 'value="Kisumu Cold Chain Monitor (page test)"' in page.text or "name" in changes  # values kept
    assert counts(demo_db) == before


def test_hostile_text_is_stored_as_text_and_shown_escaped(client, demo_db):
    token = signed_in(client, "partner.northwind", NEW_IMPL)
    hostile = '<script>alert("x")</script> Tracker'
    done = client.post(NEW_IMPL, data=impl_form(token, name=hostile, description="<img src=x onerror=alert(1)>"),
                       follow_redirects=False)
    assert done.status_code == 303
    page = client.get(done.headers["location"])
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert" in page.text
    listing = client.get("/atlas", params={"q": "alert", "country": "KEN"})
    assert "<script>alert" not in listing.text and "&lt;script&gt;" in listing.text


def test_duplicate_submission_is_refused_with_409(client, demo_db):
    token = signed_in(client, "partner.northwind", NEW_IMPL)
    assert client.post(NEW_IMPL, data=impl_form(token), follow_redirects=False).status_code == 303
    before = counts(demo_db)
    again = client.post(NEW_IMPL, data=impl_form(token), follow_redirects=False)
    assert again.status_code == 409
    assert "already registered" in again.text
    assert counts(demo_db) == before

    inv = inv_form(token, orgs(demo_db)["NHF"])
    assert client.post(NEW_INV, data=inv, follow_redirects=False).status_code == 303
    before = counts(demo_db)
    again = client.post(NEW_INV, data=inv, follow_redirects=False)
    assert again.status_code == 409 and "registered already" in again.text
    assert counts(demo_db) == before


def test_csrf_token_is_required(client, demo_db):
    signed_in(client, "partner.northwind", NEW_IMPL)
    before = counts(demo_db)
    form = impl_form("")
    del form["csrf_token"]
    assert client.post(NEW_IMPL, data=form, follow_redirects=False).status_code == 403
    assert client.post(NEW_IMPL, data=impl_form("forged"), follow_redirects=False).status_code == 403
    bad_inv = inv_form("", orgs(demo_db)["NHF"])
    assert client.post(NEW_INV, data=bad_inv, follow_redirects=False).status_code == 403
    impl_id = record_of(demo_db, "NHF", "draft")
    assert client.post(f"/atlas/implementations/{impl_id}/decision", data={"decision": "archive"},
                       follow_redirects=False).status_code == 403
    assert counts(demo_db) == before


def test_partner_cannot_edit_another_organisations_record(client, demo_db):
    impl_id = record_of(demo_db, "NHF")
    token = signed_in(client, "partner.lattice", NEW_IMPL)
    before = counts(demo_db)
    assert client.get(f"/atlas/implementations/{impl_id}/edit").status_code == 403
    hijack = client.post(f"/atlas/implementations/{impl_id}/edit", data=impl_form(token, name="Hijacked"),
                         follow_redirects=False)
    assert hijack.status_code == 403
    # Nor register a record in another organisation's name, nor approve, nor archive.
    forged = client.post(NEW_IMPL, data=impl_form(token, owner_org_id=str(orgs(demo_db)["NHF"])),
                         follow_redirects=False)
    assert forged.status_code == 403
    for decision in ("approve", "archive"):
        assert client.post(f"/atlas/implementations/{impl_id}/decision", data={
            "csrf_token": token, "decision": decision}, follow_redirects=False).status_code == 403
    assert counts(demo_db) == before


def test_forms_need_a_signed_in_editor(client, demo_db):
    assert client.get(NEW_IMPL, follow_redirects=False).status_code == 303  # to the sign-in page
    assert client.get(NEW_INV, follow_redirects=False).headers["location"].startswith("/login")
    signed_in(client, "viewer")
    assert client.get(NEW_IMPL).status_code == 403
    assert client.get(NEW_INV).status_code == 403


def test_focal_point_approves_only_its_own_country(client, demo_db):
    impl_id = record_of(demo_db, "NHF", "draft")
    with demo_db.engine.connect() as c:
        country = c.execute(text("SELECT country_iso3 FROM atlas_implementation WHERE id = :i"),
                            {"i": impl_id}).scalar_one()
    other = "gha" if country != "GHA" else "ken"
    token = signed_in(client, f"focal.{other}")
    before = counts(demo_db)
    refused = client.post(f"/atlas/implementations/{impl_id}/decision",
                          data={"csrf_token": token, "decision": "approve"}, follow_redirects=False)
    assert refused.status_code in (403, 404)
    assert client.post(f"/atlas/implementations/{impl_id}/decision", data={"csrf_token": token,
                       "decision": "explode"}).status_code == 422
    assert counts(demo_db) == before

    client.cookies.clear()
    token = signed_in(client, f"focal.{country.lower()}", f"/atlas/implementations/{impl_id}")
    page = client.get(f"/atlas/implementations/{impl_id}")
    assert "Approve and publish" in page.text
    done = client.post(f"/atlas/implementations/{impl_id}/decision", data={"csrf_token": token, "decision": "approve"},
                       follow_redirects=False)
    assert done.status_code == 303
    with demo_db.engine.connect() as c:
        assert c.execute(text("SELECT status, approval FROM atlas_implementation WHERE id = :i"),
                         {"i": impl_id}).one() == ("published", "approved")


# ---------------------------------------------------------------- registering an investment


def test_partner_registers_an_investment(client, demo_db):
    token = signed_in(client, "partner.northwind", NEW_INV)
    impl_id = record_of(demo_db, "NHF")
    before = counts(demo_db)
    form = inv_form(token, orgs(demo_db)["NHF"], implementations=str(impl_id))
    with demo_db.engine.connect() as c:
        form["country_iso3"] = c.execute(text("SELECT country_iso3 FROM atlas_implementation WHERE id = :i"),
                                         {"i": impl_id}).scalar_one()
        rate = c.execute(text("SELECT units_per_usd FROM atlas_fx_rate WHERE currency = 'KES' AND year = 2024"))
        assert rate.scalar_one()
    form["currency"] = "usd"
    done = client.post(NEW_INV, data=form, follow_redirects=False)
    assert done.status_code == 303, done.text[:2000]
    after = counts(demo_db)
    assert after["atlas_investment"] == before["atlas_investment"] + 1
    assert after["atlas_disbursement"] == before["atlas_disbursement"] + 1
    assert after["atlas_investment_target"] == before["atlas_investment_target"] + 3
    page = client.get(done.headers["location"])
    assert "12,500,000 USD" in page.text and "Saved." in page.text


BAD_INVESTMENTS = [
    pytest.param({"amount": "-5000"}, "amount", "more than zero", id="negative-amount"),
    pytest.param({"amount": "0"}, "amount", "more than zero", id="zero-amount"),
    pytest.param({"amount": "1e18"}, "amount", "", id="absurd-amount"),
    pytest.param({"amount": "99999999999999999"}, "amount", "too large", id="too-large"),
    pytest.param({"amount": "12.345"}, "amount", "two decimals", id="three-decimals"),
    pytest.param({"amount": "lots"}, "amount", "not a number", id="not-a-number"),
    pytest.param({"currency": "ZZZ"}, "currency", "ZZZ is not an ISO 4217", id="unknown-currency"),
    pytest.param({"currency": "EURO"}, "currency", "", id="currency-too-long"),
    pytest.param({"currency": "KES", "committed_on": "2014-05-01", "period_start": "2014", "disb_date": "",
                  "disb_amount": ""},
                 "currency", "no exchange rate for KES in 2014", id="missing-rate-for-the-year"),
    pytest.param({"period_end": "2023"}, "period_end", "before the start", id="period-out-of-order"),
    pytest.param({"disb_date": "2024-01-01"}, "disb_date", "before the commitment", id="disbursed-before-commitment"),
    pytest.param({"disb_amount": "99000000"}, "disb_amount", "more than the amount", id="disbursed-too-much"),
    pytest.param({"interventions": "7.7.7"}, "interventions", "7.7.7 is not a code", id="unknown-intervention"),
    pytest.param({"implementations": "99999999"}, "implementations", "no implementation", id="unknown-implementation"),
    pytest.param({"priorities": "zz"}, "priorities", "not an indicator", id="unknown-priority"),
    pytest.param({"components": ["99"]}, "components", "not a component", id="unknown-component"),
    pytest.param({"kind": "bribe"}, None, "kind", id="unknown-kind"),
    pytest.param({"committed_on": "yesterday"}, "committed_on", "not a date", id="bad-date"),
    pytest.param({"title": "Grant\x00"}, "title", "format", id="nul-in-title"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_INVESTMENTS)
def test_bad_investment_is_explained_and_nothing_saved(client, demo_db, changes, field, message):
    token = signed_in(client, "partner.northwind", NEW_INV)
    before = counts(demo_db)
    page = client.post(NEW_INV, data=inv_form(token, orgs(demo_db)["NHF"], **changes), follow_redirects=False)
    assert page.status_code == 422, page.text[:1000]
    assert "nothing was saved" in page.text or "not valid" in page.text
    if field:
        assert message in field_error(page.text, field) if field != "components" else message in page.text
    else:
        assert message in html.unescape(page.text)
    assert counts(demo_db) == before


def test_investment_decisions_belong_to_the_focal_point(client, demo_db):
    with demo_db.engine.connect() as c:
        inv_id, country = c.execute(text("SELECT id, country_iso3 FROM atlas_investment WHERE status = 'draft' "
                                         "AND approval = 'pending' ORDER BY id")).first()
    token = signed_in(client, "partner.northwind")
    before = counts(demo_db)
    assert client.post(f"/atlas/investments/{inv_id}/decision", data={"csrf_token": token, "decision": "approve"},
                       follow_redirects=False).status_code in (403, 404)
    assert counts(demo_db) == before
    client.cookies.clear()
    token = signed_in(client, f"focal.{country.lower()}")
    assert "Approve and publish" in client.get(f"/atlas/investments/{inv_id}").text
    assert client.post(f"/atlas/investments/{inv_id}/decision", data={"csrf_token": token, "decision": "approve"},
                       follow_redirects=False).status_code == 303
    assert client.get(f"/atlas/investments/{inv_id}").status_code == 200
    with demo_db.engine.connect() as c:
        assert c.execute(text("SELECT status FROM atlas_investment WHERE id = :i"), {"i": inv_id}).scalar_one() \
            == "published"


"""The atlas in the browser: Northwind's partner registers an implementation in Kenya and the
investment that funds it, both drafts; Kenya's focal point approves them; the public then sees
them published, without the contact, and the new money shows in the funding figures. The record
names used here are used by no other test."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import demo_email

pytestmark = pytest.mark.browser

NAME = "Nairobi Maternal Referral Tracker (browser test)"
TITLE = "Referral tracker roll-out grant (browser test)"
CONTACT = "Wanjiru Test-Contact"


def _funding(page: Page) -> tuple[Decimal, int, Decimal]:
    """Kenya's total in US dollars, its number of investments, and Northwind's share (the public's view)."""
    data = page.request.get("/api/atlas/funding?country=KEN&by=funder&format=json").json()
    northwind = next((Decimal(r["usd"]) for r in data["rows"] if "Northwind" in r["label"]), Decimal(0))
    return Decimal(data["total"]["usd"]), int(data["total"]["n_investments"]), northwind


def test_partner_registers_focal_point_approves_public_sees(page_as, page, shoot) -> None:  # type: ignore[no-untyped-def]
    page.goto("/atlas")
    total_before, count_before, northwind_before = _funding(page)

    # 1. The partner registers an implementation.
    partner = page_as(demo_email("partner.northwind"))
    partner.goto("/atlas")
    partner.get_by_role("link", name="Register an implementation").click()
    expect(partner.locator("h1")).to_have_text("Register an implementation")
    expect(partner.locator("#f-owner_org_id option:checked")).to_contain_text("Northwind")  # its own by default
    partner.locator("#f-name").fill(NAME)
    partner.locator("#f-country_iso3").select_option("KEN")
    partner.locator("#f-description").fill("Tracks referrals of pregnant women between clinics and hospitals.")
    partner.locator("#f-stage").select_option("piloting")
    partner.locator("#f-stage_date").fill("2025-02-01")
    partner.locator("#f-start_date").fill("2024-06-01")
    partner.locator("#f-openness").select_option("open_source")
    partner.locator("#f-licence").fill("Apache-2.0")
    partner.locator("#f-solutions").select_option(label="OpenSRP")
    partner.locator("#f-dhi").fill("2.6.2 2.2.1")
    partner.locator("#f-dhi2018").fill("1.1.3")
    partner.locator("#f-sat").fill("A2")
    partner.get_by_label("HL7 FHIR").check()
    partner.get_by_label("Maternal and newborn health").check()
    partner.locator("#f-cov_area_code").fill("KE-30")
    partner.locator("#f-cov_area_name").fill("Nairobi City")
    partner.locator("#f-cov_as_of").fill("2025-06-30")
    partner.locator("#f-cov_persons").fill("12000")
    partner.locator("#f-cov_facilities").fill("14")
    partner.locator("#f-contact_name").fill(CONTACT)
    partner.locator("#f-contact_email").fill("wanjiru.contact@demo.example.org")
    shoot(partner, "atlas-implementation-form")
    partner.get_by_role("button", name="Register").click()

    expect(partner.get_by_role("status")).to_contain_text("Saved.")
    expect(partner.locator("h1")).to_have_text(NAME)
    expect(partner.locator("main")).to_contain_text("Draft")
    expect(partner.locator("main")).to_contain_text(CONTACT)  # the owner sees the contact
    classification = partner.locator("#classification")
    expect(classification).to_contain_text("2.6.2")
    expect(classification).to_contain_text("cdhi2018-dhi")  # the 2018 code kept beside its 2023 counterpart
    expect(partner.locator("#coverage")).to_contain_text("12,000")
    impl_id = int(re.search(r"/atlas/implementations/(\d+)", partner.url).group(1))  # type: ignore[union-attr]
    shoot(partner, "atlas-implementation-draft")

    # 2. ... and the investment that funds it, from the record's page.
    partner.get_by_role("link", name="Register funding for it").click()
    expect(partner.locator("#f-implementations")).to_have_value(str(impl_id))
    partner.locator("#f-title").fill(TITLE)
    partner.locator("#f-amount").fill("250000")
    partner.locator("#f-currency").fill("USD")
    partner.locator("#f-kind").select_option("grant")
    partner.locator("#f-committed_on").fill("2025-03-15")
    partner.locator("#f-period_start").fill("2025")
    partner.locator("#f-period_end").fill("2027")
    partner.locator("#f-disb_date").fill("2025-05-01")
    partner.locator("#f-disb_amount").fill("100000")
    partner.locator("#f-interventions").fill("2.6.2")
    shoot(partner, "atlas-investment-form")
    partner.get_by_role("button", name="Register").click()
    expect(partner.get_by_role("status")).to_contain_text("Saved.")
    expect(partner.locator("h1")).to_have_text(TITLE)
    expect(partner.locator("main")).to_contain_text("250,000 USD")
    expect(partner.locator("#targets")).to_contain_text(NAME)
    inv_id = int(re.search(r"/atlas/investments/(\d+)", partner.url).group(1))  # type: ignore[union-attr]

    # The partner sees its draft in the list; the public does not, and the money is not counted yet.
    partner.goto(f"/atlas?country=KEN&status=draft&q={NAME[:20]}")
    expect(partner.locator("#implementations")).to_contain_text(NAME)
    assert page.request.get(f"/atlas/implementations/{impl_id}").status == 404
    assert page.request.get(f"/atlas/investments/{inv_id}").status == 404
    assert _funding(page)[:2] == (total_before, count_before)

    # 3. Kenya's focal point approves both.
    focal = page_as(demo_email("focal.ken"))
    focal.goto(f"/atlas/implementations/{impl_id}")
    expect(focal.locator("main")).to_contain_text("Waiting for the country's approval")
    focal.get_by_role("button", name="Approve and publish").click()
    expect(focal.get_by_role("status")).to_contain_text("Approved and published.")
    expect(focal.get_by_role("button", name="Approve and publish")).to_have_count(0)
    focal.goto(f"/atlas/investments/{inv_id}")
    focal.get_by_role("button", name="Approve and publish").click()
    expect(focal.get_by_role("status")).to_contain_text("Approved and published.")
    shoot(focal, "atlas-investment-approved")

    # 4. The public sees both published, without the contact and without buttons.
    page.goto("/atlas?country=KEN&q=Referral+Tracker")
    expect(page.locator("#implementations")).to_contain_text(NAME)
    page.get_by_role("link", name=NAME).click()
    expect(page.locator("main")).to_contain_text("Published")
    expect(page.locator("main")).not_to_contain_text(CONTACT)
    expect(page.locator("main")).not_to_contain_text("wanjiru.contact")
    expect(page.get_by_role("heading", name="Contacts")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve and publish")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.locator("#funding")).to_contain_text(TITLE)
    shoot(page, "atlas-implementation-public")
    page.get_by_role("link", name=TITLE).click()
    expect(page.locator("main")).to_contain_text("250,000 USD")

    # 5. The money now counts in Kenya's funding figures, on Northwind's line.
    total_after, count_after, northwind_after = _funding(page)
    assert (total_after - total_before, count_after - count_before) == (Decimal(250000), 1)
    assert northwind_after - northwind_before == Decimal(250000)
    page.goto("/atlas/funding?country=KEN&by=funder")
    expect(page.locator("main")).to_contain_text("Northwind")
    shoot(page, "atlas-funding-kenya")


def test_atlas_pages_on_a_phone(page, shoot) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/atlas")
    expect(page.locator("#implementations")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the atlas page scrolls sideways on a phone ({width}px)"
    shoot(page, "atlas-home-phone")

"""A country focal point edits an organisation of their country, then finds the change in its history."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import demo_email

pytestmark = pytest.mark.browser

NEW_ACRONYM = "MOH-KENYA"


def _fact(page: Page, term: str):
    return page.locator("dl.facts dt", has_text=re.compile(f"^{re.escape(term)}$")).locator(
        "xpath=following-sibling::dd[1]")


def test_focal_point_edits_a_kenyan_organisation_and_sees_it_in_the_history(
        page_as, live_app, shoot) -> None:
    focal = demo_email("focal.ken")
    org_id = live_app.org_ids["MOH-KEN"]
    page = page_as(focal)
    page.goto("/")
    expect(page.locator("header .account-link")).to_have_text(live_app.display_names[focal])

    # From the country page to the ministry.
    page.goto("/countries/KEN")
    page.get_by_role("link", name="Ministry of Health, KEN (demo)").click()
    expect(page).to_have_url(re.compile(rf"/organisations/{org_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Ministry of Health, KEN (demo)")
    expect(_fact(page, "Acronym")).to_have_text("MOH-KEN")
    expect(_fact(page, "Last changed")).to_contain_text("version 1")
    shoot(page, "organisation")

    page.locator("main").get_by_role("link", name="Edit").click()
    expect(page).to_have_url(re.compile(rf"/organisations/{org_id}/edit$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit organisation")
    acronym = page.get_by_label("Acronym")
    expect(acronym).to_have_value("MOH-KEN")
    expect(page.get_by_label("Country")).to_have_value("KEN")
    acronym.fill(NEW_ACRONYM)
    shoot(page, "organisation-edit")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(rf"/organisations/{org_id}\?saved=1$"))
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(_fact(page, "Acronym")).to_have_text(NEW_ACRONYM)
    expect(_fact(page, "Last changed")).to_contain_text("version 2")

    page.locator("nav.tabs").get_by_role("link", name="History").click()
    expect(page).to_have_url(re.compile(rf"/organisations/{org_id}\?tab=history$"))
    expect(page.locator("nav.tabs").get_by_role("link", name="History")).to_have_attribute("aria-current", "page")
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(2)  # created by the demo loader, then this edit
    latest = rows.first
    expect(latest.locator("td").nth(2)).to_have_text(focal)
    expect(latest.locator("td").nth(3)).to_have_text("update")
    change = latest.locator("dl.changes dt", has_text=re.compile(r"^acronym$")).locator(
        "xpath=following-sibling::dd[1]")
    expect(change.locator("del")).to_have_text("MOH-KEN")
    expect(change.locator("ins")).to_have_text(NEW_ACRONYM)
    expect(rows.nth(1).locator("td").nth(3)).to_have_text("create")
    shoot(page, "organisation-history")

"""Dashboards in the browser: from the world dashboard to a region, to a country, and down to the
records behind a number; the report link opens a progress report with its snapshot hash."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_world_region_country_then_records(page: Page, page_problems: list[str], shoot) -> None:  # type: ignore[no-untyped-def]
    page.goto("/dashboard?year=2025")
    expect(page.locator("h1")).to_contain_text("the world")
    expect(page.locator(".ind-card").first).to_be_visible()
    expect(page.locator("svg.wm-map")).to_be_visible()
    shoot(page, "dashboard-world")
    page.locator("#region-links a[href^='/dashboard/region/AFR']").click()
    expect(page).to_have_url(re.compile(r"/dashboard/region/AFR"))
    expect(page.locator("#breakdown tr[data-geo='KEN'] a").first).to_be_visible()
    page.locator("#breakdown tr[data-geo='KEN'] a").first.click()
    expect(page).to_have_url(re.compile(r"/dashboard/country/KEN"))
    shoot(page, "dashboard-country")
    card = page.locator(".ind-card[data-code='NDHS_APPROVED_PCT'] a.big")
    expect(card).to_be_visible()
    shown = card.inner_text().strip()
    card.click()
    expect(page).to_have_url(re.compile(r"/dashboard/records\?code=NDHS_APPROVED_PCT"))
    expect(page.locator("#records-value")).to_contain_text(shown)
    expect(page.locator("#records tbody tr").first).to_be_visible()
    shoot(page, "dashboard-records")
    page.goto("/dashboard/country/KEN?year=2025")
    page.get_by_role("link", name="Progress report (HTML)").click()
    expect(page.locator("#snapshot")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    assert not page_problems, page_problems

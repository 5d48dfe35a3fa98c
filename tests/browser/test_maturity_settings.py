"""The maturity settings in the browser: Ghana's focal point opens the targets page from the
country profile, weighs a component higher and sets a target, saves, and sees the priorities
re-ranked on the profile; an administrator reads the frameworks. Ghana is used by no other test."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dho.db import Database
from dho.maturity import gaps
from tests.browser.conftest import demo_email

pytestmark = pytest.mark.browser


def _priorities(database_url: str) -> list[gaps.Gap]:
    db = Database(database_url)
    try:
        with db.session() as s:
            return gaps.priorities(s, "GHA")["gaps"]
    finally:
        db.dispose()


def test_focal_point_reweighs_priorities(page_as, live_app, shoot) -> None:  # type: ignore[no-untyped-def]
    low = _priorities(live_app.database_url)[-1]  # the last of Ghana's priorities
    page = page_as(demo_email("focal.gha"))
    page.goto("/maturity/countries/GHA")
    page.get_by_role("link", name="Set targets and component weights").click()
    expect(page.locator("h1")).to_contain_text("Targets and weights")

    weight = page.locator(f"#f-weight-{low.component_id}")
    expect(weight).to_have_value("1")
    weight.fill("10")
    page.locator(f"#f-target-{low.code}").select_option("5")
    shoot(page, "maturity-targets")
    page.get_by_role("button", name="Save targets and weights").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    expect(page.locator(f"#f-weight-{low.component_id}")).to_have_value("10")
    expect(page.locator(f"#f-target-{low.code}")).to_have_value("5")

    page.get_by_role("link", name="See the priorities").click()
    rows = page.locator("#priorities tbody tr")
    expect(rows.first).to_be_visible()
    shown = [rows.nth(i).locator(".code").inner_text() for i in range(rows.count())]
    now = _priorities(live_app.database_url)
    assert shown == [g.code for g in now[:len(shown)]]  # the profile shows the re-ranked list
    assert low.code in shown  # the last priority rose into the top ten: gap to 5 x weight 10
    row = rows.nth(shown.index(low.code))
    expect(row.locator("td").nth(3)).to_have_text("5")
    priority = (5 - (low.phase or 0)) * 10 * (1 + 0.5 * len(low.dependents))
    expect(row.locator("td.num")).to_have_text(re.compile(rf"^{priority:g}$"))
    shoot(page, "maturity-priorities-reweighed")

    # A wrong value is explained next to its field; nothing changes.
    page.goto("/maturity/countries/GHA/targets")
    page.locator(f"#f-weight-{low.component_id}").fill("11")
    page.get_by_role("button", name="Save targets and weights").click()
    expect(page.get_by_role("alert")).to_contain_text("nothing was saved")
    expect(page.locator(f"#f-weight-{low.component_id}-error")).to_contain_text("from 0 to 10")
    page.set_viewport_size({"width": 390, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "maturity-targets-error-mobile")


def test_frameworks_pages(page_as, shoot) -> None:  # type: ignore[no-untyped-def]
    page = page_as(demo_email("admin"))
    page.goto("/maturity")
    page.get_by_role("link", name="Frameworks", exact=True).click()
    expect(page.locator("h1")).to_have_text("Maturity frameworks")
    expect(page.get_by_role("button", name="Check and add")).to_be_visible()
    page.get_by_label("Or paste the JSON").fill('{"id": "draft", "components": []}')
    page.get_by_role("button", name="Check and add").click()
    expect(page.get_by_role("alert")).to_contain_text("nothing was saved")
    expect(page.get_by_role("alert")).to_contain_text("has no components")
    shoot(page, "maturity-frameworks")
    page.get_by_role("link", name=re.compile("Global Digital Health Monitor")).first.click()
    expect(page.locator("#lint")).to_contain_text("warning")
    expect(page.locator("#crosswalks")).to_contain_text("No counterpart in gdhi-2019")
    shoot(page, "maturity-framework")
    for url in ("/maturity/frameworks", "/maturity/frameworks/gdhm-current", "/maturity/countries/GHA/targets"):
        page.set_viewport_size({"width": 390, "height": 900})
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
    shoot(page, "maturity-targets-mobile")

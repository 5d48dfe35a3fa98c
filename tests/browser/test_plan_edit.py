"""An action plan in the browser: Kenya's focal point opens Kenya's plan, moves an on-track activity's
due date into the past and sees it turn red on the timeline (computed, not typed), then posts an
update. Also a look at the table, the timeline and the board for the screenshots."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import demo_email

pytestmark = pytest.mark.browser


def _kenya_plan(page: Page) -> dict:
    items = page.request.get("/api/plans?country=KEN&status=active").json()["items"]
    return page.request.get(f"/api/plans/{items[0]['id']}").json()


def test_focal_point_moves_a_due_date_into_the_past_and_it_turns_red(page_as, shoot) -> None:  # type: ignore[no-untyped-def]
    ken = page_as(demo_email("focal.ken"))
    problems: list[str] = []  # script and console errors (a CSP violation is one)
    ken.on("pageerror", lambda exc: problems.append(str(exc)))
    ken.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    plan = _kenya_plan(ken)
    act = next(a for a in plan["activities"] if a["rag"] == "green")
    today = dt.datetime.now(dt.UTC).date()

    ken.goto("/plans")
    ken.locator("#f-country").select_option("KEN")
    ken.get_by_role("button", name="Filter").click()
    ken.get_by_role("link", name=plan["title"]).click()
    expect(ken.locator("h1")).to_have_text(plan["title"])
    shoot(ken, "plan-table")
    row = ken.locator(f'#activities tr[data-activity="{act["id"]}"]')
    expect(row).to_have_attribute("data-rag", "green")

    ken.get_by_role("link", name="Timeline").click()
    bar = ken.locator(f'svg.plan-timeline g.bar[data-activity="{act["id"]}"]')
    expect(bar).to_have_attribute("data-rag", "green")
    shoot(ken, "plan-timeline")

    # Edit the activity: the due date moves into the past.
    ken.locator(f'a[href="/plans/{plan["id"]}/activities/{act["id"]}"]').first.click()
    ken.get_by_role("link", name="Edit the activity").click()
    ken.locator("#f-starts_on").fill((today - dt.timedelta(days=120)).isoformat())
    ken.locator("#f-due_on").fill((today - dt.timedelta(days=3)).isoformat())
    ken.get_by_role("button", name="Save").click()
    expect(ken.locator("p.notice")).to_contain_text("Saved")
    expect(ken.locator("#rag")).to_contain_text("Red")
    expect(ken.locator("#rag")).to_contain_text("past its due date")

    ken.goto(f"/plans/{plan['id']}?view=timeline")
    expect(ken.locator(f'svg.plan-timeline g.bar[data-activity="{act["id"]}"]')).to_have_attribute("data-rag", "red")
    ken.locator("details summary").click()
    expect(ken.locator(f'.timeline-text li[data-activity="{act["id"]}"]')).to_contain_text("past its due date")

    # Post an update from the activity's page.
    ken.goto(f"/plans/{plan['id']}/activities/{act['id']}")
    ken.locator("#f-progress").fill("80")
    ken.locator("#f-note").fill("Final report in review (browser test)")
    ken.get_by_role("button", name="Post the update").click()
    expect(ken.locator("p.notice")).to_contain_text("The update was recorded")
    expect(ken.locator("#updates")).to_contain_text("Final report in review (browser test)")
    expect(ken.locator("#updates")).to_contain_text("80")

    ken.goto(f"/plans/{plan['id']}?view=board")
    expect(ken.locator(f'[data-column="red"] [data-activity="{act["id"]}"]')).to_be_visible()
    shoot(ken, "plan-board")
    assert problems == []


def test_the_public_reads_plans_but_gets_no_forms(page: Page, page_problems) -> None:  # type: ignore[no-untyped-def]
    plan = _kenya_plan(page)
    page.goto(f"/plans/{plan['id']}")
    expect(page.get_by_role("link", name="Add an activity")).to_have_count(0)
    expect(page.locator("#run-review")).to_have_count(0)
    assert page_problems == []

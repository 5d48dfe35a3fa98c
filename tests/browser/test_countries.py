"""Browsing countries: the htmx-driven search and filters, the same form without JavaScript, and a
country's page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Response, expect

pytestmark = pytest.mark.browser


def _is_htmx_countries_request(response: Response) -> bool:
    return "/countries?" in response.url and response.request.headers.get("hx-request") == "true"


def _rows(page: Page):
    return page.locator("#country-table tbody tr")


def _region_cells_text(page: Page) -> list[str]:
    return page.locator("#country-table tbody tr td:nth-child(3)").all_inner_texts()


def test_typing_in_the_search_narrows_the_table_without_a_page_reload(page: Page, shoot) -> None:
    page.goto("/countries")
    expect(page.get_by_role("heading", level=1)).to_have_text("Countries and areas")
    expect(_rows(page)).to_have_count(50)  # the first page of the 249 countries and areas
    shoot(page, "countries")
    page.evaluate("window.__sameDocument = true")  # lost if the browser loads a new document

    with page.expect_response(_is_htmx_countries_request) as info:
        page.get_by_label("Name or code").press_sequentially("ken", delay=40)
    response = info.value
    assert response.status == 200, f"the htmx request {response.url} answered {response.status}"

    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first.get_by_role("link")).to_have_text("Kenya")
    expect(page.locator("#results .result-count")).to_have_text("1 country or area")
    expect(page).to_have_url(re.compile(r"/countries\?(.*&)?q=ken(&|$)"))  # hx-push-url
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    # What was swapped in is the results fragment, not a whole page.
    expect(page.locator("#results header, #results footer, #results main")).to_have_count(0)
    expect(page.locator("main")).to_have_count(1)

    # The pushed URL is a real history entry: Back restores the unfiltered list.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/countries$"))
    expect(_rows(page)).to_have_count(50)
    expect(page.get_by_label("Name or code")).to_have_value("")


def test_choosing_a_who_region_filters_the_table(page: Page) -> None:
    page.goto("/countries")
    expect(_rows(page)).to_have_count(50)
    page.evaluate("window.__sameDocument = true")

    with page.expect_response(_is_htmx_countries_request) as info:
        page.get_by_label("WHO region").select_option(label="African Region")
    assert info.value.status == 200, f"the htmx request {info.value.url} answered {info.value.status}"

    expect(page.locator("#results .result-count")).to_have_text("47 countries and areas")
    expect(_rows(page)).to_have_count(47)
    assert set(_region_cells_text(page)) == {"African Region"}
    expect(page.locator("#country-table").get_by_role("link", name="Kenya")).to_be_visible()
    expect(page.locator("#country-table").get_by_role("link", name="Peru")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"[?&]region=AFR(&|$)"))
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"

    # Links in the swapped-in table work like any other.
    page.locator("#country-table").get_by_role("link", name="Kenya").click()
    expect(page).to_have_url(re.compile(r"/countries/KEN$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Kenya")


def test_a_country_page_shows_its_who_region_and_income_history(page: Page, shoot) -> None:
    page.goto("/countries?q=kenya")  # a search result page, as bookmarked or shared
    expect(_rows(page)).to_have_count(1)
    page.locator("#country-table").get_by_role("link", name="Kenya").click()

    expect(page).to_have_url(re.compile(r"/countries/KEN$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Kenya\s+KEN$"))
    facts = page.locator("dl.facts")
    region = facts.locator("dt", has_text=re.compile(r"^WHO region$"))
    expect(region.locator("xpath=following-sibling::dd[1]")).to_have_text("African Region")
    expect(facts).to_contain_text("Lower-middle income")

    history = page.locator("section.card", has=page.get_by_role("heading", name="Income group by fiscal year"))
    expect(history.get_by_role("columnheader")).to_have_text(["Fiscal year", "GNI data year", "Group"])
    latest = history.locator("tbody tr").first
    expect(latest.locator("td")).to_have_text(["FY2025", "2023", "Lower-middle income"])
    assert history.locator("tbody tr").count() >= 5, "several fiscal years of income groups are listed"
    # The demo ministry is listed among the organisations in Kenya.
    expect(page.get_by_role("link", name="Ministry of Health, KEN (demo)")).to_be_visible()
    shoot(page, "country-KEN")


@pytest.mark.browser_context_args(java_script_enabled=False)
def test_search_and_region_filter_work_without_javascript(page: Page) -> None:
    page.goto("/countries")
    search = page.get_by_role("button", name="Search")
    expect(search).to_be_visible()  # shown by <noscript>

    page.get_by_label("Name or code").fill("ken")
    with page.expect_navigation():
        search.click()
    expect(page).to_have_url(re.compile(r"/countries\?q=ken(&|$)"))
    expect(page.get_by_label("Name or code")).to_have_value("ken")
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first.get_by_role("link")).to_have_text("Kenya")

    page.get_by_label("Name or code").fill("")
    page.get_by_label("WHO region").select_option("AFR")
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"[?&]region=AFR(&|$)"))
    expect(page.locator(".result-count")).to_have_text("47 countries and areas")
    assert set(_region_cells_text(page)) == {"African Region"}

    page.locator("#country-table").get_by_role("link", name="Kenya").click()
    expect(page).to_have_url(re.compile(r"/countries/KEN$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Kenya")

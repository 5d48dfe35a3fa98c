"""The maturity map in the browser: choosing a component recolours the map in place (htmx), the map
and the table agree, hovering names a country, and a region page opens from the map page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

# The year is explicit: another browser test publishes a later assessment for one country.
START = "/maturity/map?year=2025"


def _map_phases(page: Page) -> dict[str, str]:
    """ISO3 -> the phase class of its shape on the map ('' when it has no value)."""
    return page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('svg.wm-map [data-iso3]')].map(el => {
            const shape = el.querySelector('path, circle');
            const m = (shape.getAttribute('class') || '').match(/wm-ph-(\\d)/);
            return [el.dataset.iso3, m ? m[1] : ''];
        }))""")


def _table_phases(page: Page) -> dict[str, str]:
    return page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('#map-table tbody tr')].map(tr =>
            [tr.dataset.iso3, (tr.querySelector('.phase').textContent || '').trim().replace('–', '')]))""")


def test_choosing_a_component_recolours_the_map(page: Page, page_problems: list[str], shoot) -> None:
    page.goto(START)
    expect(page.locator("svg.wm-map")).to_be_visible()
    expect(page.locator(".wm-disclaimer")).to_contain_text("do not imply the expression of any opinion")
    overall = _map_phases(page)
    table = _table_phases(page)
    assert len(table) == 20 and all(overall[iso3] == phase for iso3, phase in table.items())
    shoot(page, "maturity-map")
    page.evaluate("window.__sameDocument = true")

    show = page.get_by_role("button", name="Show")
    page.get_by_label("Component").select_option(value="5")
    if show.count() and show.is_visible():  # without htmx the form is sent by its button
        show.click()
    expect(page.locator("#map-summary")).to_contain_text("Component 5: Standards and interoperability")
    expect(page).to_have_url(re.compile(r"component=5"))
    component = _map_phases(page)
    table = _table_phases(page)
    assert all(component[iso3] == phase for iso3, phase in table.items()), "the map and the table disagree"
    assert any(component[iso3] != overall[iso3] for iso3 in table), "component 5 should recolour some country"
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded instead of swapped"
    expect(page.get_by_label("Indicator (optional)").locator("optgroup")).to_have_count(1)  # component 5's only

    kenya = page.locator('svg.wm-map [data-iso3="KEN"]')
    expect(kenya.locator("title")).to_have_text(re.compile(r"^Kenya: phase \d, "))
    kenya.locator("path").hover()
    shoot(page, "maturity-map-component")
    page.locator("#maturity-map").screenshot(path=str(SCREENSHOTS / "maturity-map-only.png"))
    assert not page_problems, page_problems


def test_a_region_page_from_the_map_page(page: Page, shoot) -> None:
    page.goto(START)
    page.get_by_role("link", name="African Region").click()
    expect(page.locator("h1")).to_contain_text("African Region")
    expect(page.locator("#group-figures")).to_contain_text("Overall")
    expect(page.locator("svg.wm-map [data-iso3='KEN'] path")).to_have_class(re.compile(r"wm-ph-\d"))
    expect(page.locator("svg.wm-map [data-iso3='FRA'] path")).to_have_class(re.compile("wm-outside"))
    before = page.locator("#comparison tbody").inner_text()
    page.get_by_label("Group figure").select_option(value="pooled")
    expect(page.locator("#group-results .hint").first).to_contain_text("Pooled")
    expect(page).to_have_url(re.compile(r"method=pooled"))
    assert page.locator("#comparison tbody").inner_text() != before
    shoot(page, "maturity-region")

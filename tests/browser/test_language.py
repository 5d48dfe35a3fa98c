"""Switching the interface language with the header form (kept in the dho_lang cookie)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def _lang_cookie(page: Page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "dho_lang"), None)


def test_language_switch_persists_across_pages_and_switches_back(page: Page, live_app, shoot) -> None:
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    switch = page.locator("header form.lang-switch")
    expect(switch.get_by_role("button", name="English")).to_have_attribute("aria-current", "true")

    switch.get_by_role("button", name="Français").click()
    expect(page).to_have_url(live_app.url + "/")  # back on the page where the switch was used
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(switch.get_by_role("button", name="Français")).to_have_attribute("aria-current", "true")
    expect(switch.get_by_role("button", name="English")).not_to_have_attribute("aria-current", "true")
    assert _lang_cookie(page) == "fr"
    shoot(page, "home-fr")

    # Following a link keeps French: reference data (WHO region names) comes in French.
    page.locator("nav.main-nav a[href='/countries']").click()
    expect(page).to_have_url(re.compile(r"/countries$"))
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("#f-region option[value='AFR']")).to_have_text("Région africaine")
    page.goto("/countries/KEN")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("dl.facts")).to_contain_text("Région africaine")

    # And back to English, from another page: the user stays on it.
    page.locator("header form.lang-switch").get_by_role("button", name="English").click()
    expect(page).to_have_url(re.compile(r"/countries/KEN$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("dl.facts")).to_contain_text("African Region")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Countries")).to_be_visible()
    assert _lang_cookie(page) == "en"
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_french_interface_translates_navigation_and_headings(page: Page, live_app) -> None:
    page.goto("/")
    page.locator("header form.lang-switch").get_by_role("button", name="Français").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")

    nav = page.locator("nav.main-nav")
    expect(nav.locator("a[href='/countries']")).to_have_text("Pays")
    expect(nav.locator("a[href='/strategy']")).to_have_text(re.compile(r"^Stratégie", re.I))
    expect(nav).not_to_contain_text("Countries")
    expect(nav).not_to_contain_text("Global strategy")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Observatoire")
    expect(page.locator("header").get_by_role("link", name="Sign in")).to_have_count(0)

    page.goto("/countries")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Pays"))
    expect(page.get_by_label(re.compile("Région OMS", re.I))).to_be_visible()

    page.goto("/organisations")
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisations")  # the same word in French
    expect(page.locator("main")).not_to_contain_text("Name or acronym")

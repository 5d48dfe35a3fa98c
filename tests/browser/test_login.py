"""Signing in through the form."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import demo_email

pytestmark = pytest.mark.browser


def test_admin_signs_in_and_sees_their_name_in_the_header(page: Page, live_app, shoot) -> None:
    admin = demo_email("admin")
    page.goto("/")
    shoot(page, "home")
    page.get_by_role("link", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    shoot(page, "login")

    page.get_by_label("E-mail address").fill(admin)
    page.get_by_label("Password").fill("demo-password")
    page.locator("main").get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(live_app.url + "/")
    header = page.locator("header.site-header")
    expect(header.get_by_role("link", name=live_app.display_names[admin])).to_be_visible()
    expect(header.get_by_role("button", name="Sign out")).to_be_visible()
    expect(header.get_by_role("link", name="Sign in")).to_have_count(0)
    # Administrators get the sections only they may open.
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Users")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit log")).to_be_visible()
    shoot(page, "home-signed-in")


def test_wrong_password_shows_the_error_next_to_the_form(page: Page, live_app, shoot) -> None:
    page.goto("/login")
    page.get_by_label("E-mail address").fill(demo_email("secretariat"))
    page.get_by_label("Password").fill("not-the-password")
    page.locator("main").get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/login$"))
    error = page.get_by_role("alert")
    expect(error).to_have_text("Wrong e-mail address or password.")
    # The message sits in the same card as the form, and the e-mail address is kept.
    card = page.locator("main section.card")
    expect(card.get_by_role("alert")).to_be_visible()
    expect(card.locator("form[action='/login']")).to_be_visible()
    expect(page.get_by_label("E-mail address")).to_have_value(demo_email("secretariat"))
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.locator("header .account-link")).to_have_count(0)
    shoot(page, "login-error")

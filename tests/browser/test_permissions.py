"""What people may not do: the 403 page, hidden buttons, refused posts, sign-in redirects."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DEMO_PASSWORD, demo_email

pytestmark = pytest.mark.browser


def _csrf_token(page: Page) -> str:
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token, "no CSRF field on the page"
    return token


def test_partner_sees_edit_only_on_their_own_organisation(page_as, live_app) -> None:
    page = page_as(demo_email("partner.northwind"))
    page.goto(f"/organisations/{live_app.org_ids['NHF']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Health Fund (demo)")
    expect(page.locator("main").get_by_role("link", name="Edit")).to_be_visible()

    page.goto(f"/organisations/{live_app.org_ids['MOH-KEN']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ministry of Health, KEN (demo)")
    expect(page.locator("main").get_by_role("link", name="Edit")).to_have_count(0)


def test_partner_opening_a_ministrys_edit_form_gets_the_403_page(page_as, live_app, shoot) -> None:
    partner = demo_email("partner.northwind")
    page = page_as(partner)
    response = page.goto(f"/organisations/{live_app.org_ids['MOH-KEN']}/edit")
    shoot(page, "forbidden-partner")
    assert response is not None
    assert response.status == 403, f"expected 403, got {response.status}: {page.locator('body').inner_text()[:200]}"
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.locator(".error-page .status-code")).to_have_text("403")
    expect(page.get_by_label("Acronym")).to_have_count(0)  # no form
    # Still signed in, with a way back.
    expect(page.locator("header").get_by_role("link", name=live_app.display_names[partner])).to_be_visible()
    expect(page.get_by_role("link", name="Back to the home page")).to_be_visible()


def test_viewer_has_no_add_button_and_a_create_post_is_refused(page_as, live_app) -> None:
    page = page_as(demo_email("viewer"))
    page.goto("/organisations")
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisations")
    expect(page.get_by_role("link", name="Download (JSON)")).to_be_visible()  # the actions bar is there
    expect(page.get_by_role("link", name="Add an organisation")).to_have_count(0)

    # Posting the creation form anyway, with the viewer's valid session and CSRF token.
    name = "Viewer Smuggled Clinic (demo)"
    response = page.request.post("/organisations/new", max_redirects=0, form={
        "csrf_token": _csrf_token(page), "name": name, "kind": "ngo", "country_iso3": "KEN"})
    assert response.status >= 400, f"a viewer's POST was accepted ({response.status})"
    assert live_app.organisation_count(name) == 0, "the organisation was created"
    page.goto("/organisations?q=Smuggled")
    expect(page.locator("#results")).to_contain_text("No organisation matches these filters.")


def test_viewer_create_post_is_refused_with_403(page_as, live_app) -> None:
    page = page_as(demo_email("viewer"))
    page.goto("/organisations")
    response = page.request.post("/organisations/new", max_redirects=0, form={
        "csrf_token": _csrf_token(page), "name": "Viewer Second Try (demo)", "kind": "ngo"})
    assert response.status == 403, f"expected 403, got {response.status}: {response.text()[:200]}"
    assert "Not allowed" in response.text()


def test_signed_out_visitor_is_sent_from_admin_users_to_login_and_back(page: Page, live_app) -> None:
    response = page.goto("/admin/users")
    assert response is not None and response.ok
    expect(page).to_have_url(re.compile(r"/login\?next=/admin/users$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.locator("main table")).to_have_count(0)  # no user list leaked

    page.get_by_label("E-mail address").fill(demo_email("admin"))
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.locator("main").get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    expect(page.locator("main")).to_contain_text(demo_email("viewer"))


def test_a_form_with_an_expired_security_token_gets_the_403_page(page: Page, shoot) -> None:
    page.goto("/countries")
    page.context.clear_cookies()  # the CSRF cookie expired while the page was open
    with page.expect_response(lambda r: r.url.endswith("/language")) as info:
        page.locator("header form.lang-switch").get_by_role("button", name="Français").click()
    assert info.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.locator(".error-page .status-code")).to_have_text("403")
    expect(page.locator(".error-page")).to_contain_text("security token")
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the language did not change
    expect(page.locator(".error-page").get_by_role("link", name="Sign in")).to_be_visible()
    shoot(page, "forbidden")

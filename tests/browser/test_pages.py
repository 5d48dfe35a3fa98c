"""The main pages load in a real browser with htmx running and nothing refused by the CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_main_pages_load_without_script_errors_or_csp_violations(page: Page, live_app, page_problems) -> None:
    pages = {
        "/": "Digital Health Observatory",
        "/countries": "Countries and areas",
        "/countries/KEN": "Kenya",
        "/classifications": "Classifications",
        "/strategy": "Global Strategy",
        "/organisations": "Organisations",
        f"/organisations/{live_app.org_ids['NHF']}": "Northwind Health Fund (demo)",
        "/login": "Sign in",
    }
    for path, heading in pages.items():
        response = page.goto(path)
        assert response is not None and response.status == 200, f"{path} answered {response and response.status}"
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        # The stylesheet applied (the header is dark) and htmx loaded despite the strict CSP.
        assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor") \
            != "rgba(0, 0, 0, 0)", f"dho.css not applied on {path}"
        assert page.evaluate("window.htmx && window.htmx.version") == "4.0.1", f"htmx not running on {path}"
    assert page_problems == []

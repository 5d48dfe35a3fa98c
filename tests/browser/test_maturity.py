"""The maturity journey in the browser: a country answers, the region reviews and returns it, the
country fixes and approves, the Secretariat publishes, and the profile shows the new scores."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import demo_email

pytestmark = pytest.mark.browser
YEAR = "2029"
ANSWER_FORMS = "article.indicator form[action*='/answers/']"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _transition(page: Page, label: str) -> None:
    page.get_by_role("button", name=label).click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")


def test_full_assessment_cycle(page_as, live_app, shoot) -> None:  # type: ignore[no-untyped-def]
    focal = page_as(demo_email("focal.ken"))
    focal.goto("/maturity/countries/KEN")
    focal.get_by_label("Year").fill(YEAR)
    focal.get_by_role("button", name="Start an assessment").click()
    expect(focal.locator("h1")).to_contain_text(f"Kenya {YEAR}")
    assessment_url = focal.url.split("?")[0]
    forms = focal.locator(ANSWER_FORMS)
    count = forms.count()
    assert count == 31  # 23 core + 8 sub-indicators
    for i in range(count):
        form = focal.locator(ANSWER_FORMS).nth(i)
        code = form.get_attribute("action").rsplit("/", 1)[-1]
        if code.endswith(("a", "b", "c")):
            continue  # sub-indicators may stay unanswered
        form.locator("input[name=phase][value='4']").check()
        form.locator("textarea[name=rationale]").fill(f"Evidence for indicator {code}")
        form.get_by_role("button", name="Save").click()
        expect(focal.get_by_role("status")).to_contain_text("Saved.")
    shoot(focal, "maturity-questionnaire")
    focal.locator("#i-2").screenshot(path="screenshots/maturity-indicator.png")
    _transition(focal, "Submit for review")
    expect(focal.locator("h1 .status")).to_have_text("submitted")

    reviewer = page_as(demo_email("regional.afr"))
    reviewer.goto(assessment_url)
    _transition(reviewer, "Start the review")
    reviewer.get_by_label("Comment for the country").fill("Please cite the law for indicator 7.")
    _transition(reviewer, "Return with requested changes")
    expect(reviewer.locator("h1 .status")).to_have_text("returned")

    focal.goto(assessment_url)
    expect(focal.locator("#comments")).to_contain_text("Please cite the law for indicator 7.")
    form = focal.locator("#i-7 " + ANSWER_FORMS.split(" ", 1)[1])
    form.locator("input[name=phase][value='5']").check()
    form.locator("textarea[name=rationale]").fill("Data Protection Act, section 25")
    form.get_by_role("button", name="Save").click()
    # the evidence the reviewer asked for: the law, and the gazette page as a document
    item = focal.locator("#i-7")
    item.get_by_text("Add evidence").first.click()
    item.get_by_label("legal reference", exact=True).check()
    item.get_by_label("Legal reference (instrument, article, date)").fill("Data Protection Act 2019, s. 25")
    item.get_by_role("button", name="Add evidence").click()
    expect(focal.locator("#i-7 ul.evidence")).to_contain_text("Data Protection Act 2019, s. 25")
    item = focal.locator("#i-7")
    item.get_by_text("Add evidence").first.click()
    item.get_by_label("Title").fill("Official gazette, 12 March 2019")
    item.locator("input[type=file]").set_input_files(
        files=[{"name": "gazette.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    item.get_by_role("button", name="Add evidence").click()
    expect(focal.locator("#i-7 ul.evidence")).to_contain_text("gazette.pdf")
    focal.locator("#i-7").screenshot(path="screenshots/maturity-evidence.png")
    _transition(focal, "Submit for review")

    reviewer.goto(assessment_url)
    _transition(reviewer, "Start the review")
    _transition(reviewer, "Accept the review")
    focal.goto(assessment_url)
    _transition(focal, "Approve for the government")

    secretariat = page_as(demo_email("secretariat"))
    secretariat.goto(assessment_url)
    _transition(secretariat, "Publish")
    expect(secretariat.locator("h1 .status")).to_have_text("published")

    anonymous = page_as(demo_email("viewer"))
    anonymous.goto(assessment_url)
    expect(anonymous.locator("#i-7 ul.evidence")).to_contain_text("Official gazette, 12 March 2019")
    link = anonymous.locator("#i-7 ul.evidence a").filter(has_text="Official gazette")
    download = anonymous.request.get(link.get_attribute("href"))
    assert download.ok and download.body() == PDF

    public = page_as(demo_email("viewer"))
    public.goto("/maturity/countries/KEN")
    expect(public.locator("h2").first).to_contain_text(f"Latest published assessment: {YEAR}")
    expect(public.locator("svg.radar")).to_be_visible()
    overall = public.locator("section.card p").filter(has_text="Overall").first
    expect(overall).to_contain_text(re.compile(r"4\.0\d"))  # 22 core at 4, indicator 7 at 5
    shoot(public, "maturity-profile")


def test_focal_point_of_another_country_sees_no_form(page_as) -> None:  # type: ignore[no-untyped-def]
    page = page_as(demo_email("focal.sen"))
    page.goto("/maturity/countries/KEN")
    expect(page.get_by_role("button", name="Start an assessment")).to_have_count(0)
    response = page.request.post("/maturity/countries/KEN/assessments", form={
        "year": "2028", "csrf_token": page.locator("input[name=csrf_token]").first.get_attribute("value")})
    assert response.status == 403

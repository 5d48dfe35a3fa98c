"""The maturity settings pages: a country's targets and component weights (and the priorities they
change), and the frameworks list, detail and upload. Bad values, other countries' focal points,
viewers and requests without the CSRF token write nothing."""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dho.accounts.permissions import CLI_OPERATOR
from dho.audit.models import AuditEntry
from dho.maturity import gaps
from dho.maturity.models import ComponentWeight, Framework, Target
from tests.conftest import csrf_from, demo_email, login

URL = "/maturity/countries/KEN/targets"
YEAR = 2026  # the demo countries' latest published assessments are from 2025: priorities read 2026's targets
SHIPPED = json.loads((Path(__file__).resolve().parents[2] / "dho" / "maturity" / "frameworks" /
                      "gdhm-current.json").read_text(encoding="utf-8"))


def counts(db) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    """Everything these pages could write."""
    with db.sessions() as s:
        return tuple(s.execute(select(func.count()).select_from(m)).scalar_one()  # type: ignore[return-value]
                     for m in (AuditEntry, Target, ComponentWeight, Framework))


def signed_in(client, local: str, url: str = URL) -> str:  # type: ignore[no-untyped-def]
    assert login(client, demo_email(local)).status_code == 303
    page = client.get(url)
    assert page.status_code == 200
    return csrf_from(page.text)


def ken_phases(db) -> dict[str, int | None]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        latest = gaps.country_latest(s, "KEN")
        assert latest.year == YEAR - 1 and latest.framework_id == "gdhm-current"
        return latest.phases


def field_error(html: str, name: str) -> str:
    match = re.search(rf'id="f-{re.escape(name)}-error">([^<]*)<', html)
    assert match, f"no error shown next to {name}"
    return match.group(1)


# ---------------------------------------------------------------- targets and weights


def test_focal_point_sets_a_target_and_a_weight(client, demo_db):
    token = signed_in(client, "focal.ken")
    phases = ken_phases(demo_db)
    code = next(c for c, p in phases.items() if p is not None and p <= 3 and not c[-1].isalpha())
    with demo_db.session() as s:
        component = next(c.id for c in gaps.service.structure(s, "gdhm-current").components if code in c.core)
        before = {g.code: g for g in gaps.priorities(s, "KEN")["gaps"]}
        deps = len(before[code].dependents)
    assert before[code].target == phases[code] + 1 and before[code].weight == Decimal(1)
    written = counts(demo_db)

    r = client.post(URL, data={"csrf_token": token, "year": str(YEAR), f"target-{code}": "5",
                               f"weight-{component}": "2,5"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{URL}?year={YEAR}&saved=1"
    page = client.get(r.headers["location"])
    assert 'role="status"' in page.text and "Saved." in page.text
    assert re.search(rf'name="target-{code}".*?<option value="5" selected', page.text, re.S)
    assert f'name="weight-{component}" type="text"' in page.text and 'value="2.5"' in page.text

    with demo_db.session() as s:
        after = {g.code: g for g in gaps.priorities(s, "KEN")["gaps"]}
        assert gaps.targets(s, "KEN", "gdhm-current", YEAR) == {code: 5}
        assert gaps.weights(s, "KEN", "gdhm-current") == {component: Decimal("2.5")}
    g = after[code]
    assert g.target == 5 and g.gap == 5 - phases[code] and g.weight == Decimal("2.5")
    assert g.priority == Decimal(5 - phases[code]) * Decimal("2.5") * (1 + Decimal("0.5") * deps)
    for other, gap in after.items():  # every gap of the component is weighed, the others are not
        assert gap.weight == (Decimal("2.5") if gap.component_id == component else Decimal(1)), other
    now = counts(demo_db)
    assert now[1:3] == (written[1] + 1, written[2] + 1) and now[0] > written[0]  # audited

    # Saving the same values again writes nothing; emptying the fields restores the defaults.
    client.post(URL, data={"csrf_token": token, "year": str(YEAR), f"target-{code}": "5",
                           f"weight-{component}": "2.5"})
    assert counts(demo_db) == now
    r = client.post(URL, data={"csrf_token": token, "year": str(YEAR), f"target-{code}": "",
                               f"weight-{component}": ""}, follow_redirects=False)
    assert r.status_code == 303
    with demo_db.session() as s:
        restored = {g.code: g for g in gaps.priorities(s, "KEN")["gaps"]}
    assert restored[code].target == phases[code] + 1 and restored[code].priority == before[code].priority
    assert counts(demo_db)[1:3] == written[1:3]


def test_the_profile_links_the_page_for_editors_only(client):
    assert "/targets" not in client.get("/maturity/countries/KEN").text
    page = client.get(URL)  # the public sees the values, read-only
    assert page.status_code == 200 and 'name="target-' not in page.text and 'name="weight-' not in page.text
    assert 'method="post" action="/maturity/countries/KEN/targets"' not in page.text
    assert "Only the country's focal point" in page.text
    signed_in(client, "focal.ken")
    assert f'href="{URL}"' in client.get("/maturity/countries/KEN").text


def test_focal_point_of_another_country_is_refused(client, demo_db):
    token = signed_in(client, "focal.sen")
    page = client.get(URL)
    assert 'name="target-1"' not in page.text  # read-only for Senegal's focal point
    written = counts(demo_db)
    r = client.post(URL, data={"csrf_token": token, "year": str(YEAR), "target-1": "5", "weight-1": "3"})
    assert r.status_code == 403
    assert counts(demo_db) == written


@pytest.mark.parametrize("who", ["viewer", "regional.afr", "secretariat"])
def test_others_cannot_post_targets(client, demo_db, who):
    token = signed_in(client, who)
    written = counts(demo_db)
    assert client.post(URL, data={"csrf_token": token, "year": str(YEAR), "weight-1": "3"}).status_code == 403
    assert counts(demo_db) == written


def test_anonymous_cannot_post_targets(client, demo_db):
    token = csrf_from(client.get(URL).text)
    written = counts(demo_db)
    assert client.post(URL, data={"csrf_token": token, "year": str(YEAR), "weight-1": "3"}).status_code == 401
    assert counts(demo_db) == written


def _below_current(db) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    code, phase = next((c, p) for c, p in ken_phases(db).items() if p and p >= 2 and not c[-1].isalpha())
    return f"target-{code}", str(phase - 1)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("target-1", "7", "must be a phase from 1 to 5"),
    ("target-1", "abc", "must be a phase from 1 to 5"),
    ("target-1", "2.5", "must be a phase from 1 to 5"),
    ("target-1", "0", "must be a phase from 1 to 5"),
    ("weight-1", "-1", "must be a number from 0 to 10"),
    ("weight-1", "11", "must be a number from 0 to 10"),
    ("weight-1", "abc", "must be a number from 0 to 10"),
    ("weight-1", "1e1", "must be a number from 0 to 10"),
    ("weight-1", "NaN", "must be a number from 0 to 10"),
    ("weight-1", "10.001", "must be a number from 0 to 10"),
    ("target-99", "3", "unknown core indicator 99"),
    ("target-2a", "3", "unknown core indicator 2a"),  # a sub-indicator has no target of its own
    ("weight-9", "2", "unknown component 9"),
    ("below", "", "is below the current phase"),
    ("year", "1999", "the year must be a number from 2000 to 2100"),
    ("year", "²⁰²⁶", "the year must be a number from 2000 to 2100"),
    ("year", "", "the year must be a number from 2000 to 2100"),
])
def test_invalid_values_are_shown_and_nothing_is_written(client, demo_db, field, value, message):
    token = signed_in(client, "focal.ken")
    if field == "below":
        field, value = _below_current(demo_db)
    written = counts(demo_db)
    data = {"csrf_token": token, "year": str(YEAR), "weight-2": "4", "target-5": "5", field: value}
    r = client.post(URL, data=data)
    assert r.status_code == 422
    assert "nothing was saved" in r.text and message in r.text
    if field.startswith(("target-", "weight-")) and field not in ("target-99", "target-2a", "weight-9"):
        assert message in field_error(r.text, field)
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', r.text, re.S)
    assert 'value="4"' in r.text  # the other values typed are kept for the next try
    assert counts(demo_db) == written  # the valid weight and target were not written either


def test_a_stale_target_below_the_current_phase_must_be_changed(client, demo_db):
    """A target set before a newer publication raised the phase is shown with the reason."""
    field, value = _below_current(demo_db)
    code = field.removeprefix("target-")
    with demo_db.session() as s:
        gaps.set_target(s, CLI_OPERATOR, "KEN", code, YEAR, int(value))  # the API's check is the range only
    token = signed_in(client, "focal.ken")
    page = client.get(URL)
    assert re.search(rf'name="{field}".*?<option value="{value}" selected', page.text, re.S)
    r = client.post(URL, data={"csrf_token": token, "year": str(YEAR), field: value})
    assert r.status_code == 422 and "is below the current phase" in field_error(r.text, field)


def test_csrf_is_required(client, demo_db):
    signed_in(client, "focal.ken")
    written = counts(demo_db)
    r = client.post(URL, data={"year": str(YEAR), "weight-1": "3"})
    assert r.status_code == 403 and "security token" in r.text
    r = client.post(URL, data={"csrf_token": "forged", "year": str(YEAR), "weight-1": "3"})
    assert r.status_code == 403
    assert counts(demo_db) == written


def test_other_years_and_unknown_countries(client):
    signed_in(client, "focal.ken")
    page = client.get(URL, params={"year": 2030})
    assert page.status_code == 200 and "Targets for 2030" in page.text
    assert '<input type="hidden" name="year" value="2030">' in page.text
    assert client.get(URL, params={"year": 1500}).status_code == 422
    assert client.get("/maturity/countries/XXX/targets").status_code == 404
    assert client.get("/maturity/countries/K3N/targets").status_code == 422


# ---------------------------------------------------------------- frameworks


def new_framework(fid: str = "gdhm-test") -> dict:
    doc = copy.deepcopy(SHIPPED)
    doc["id"], doc["edition"] = fid, "2027"
    doc["title"] = {"en": "Test edition of the monitor", "fr": "Édition d'essai du moniteur"}
    return doc


def test_frameworks_list_and_detail(client):
    page = client.get("/maturity/frameworks")
    assert page.status_code == 200
    assert 'href="/maturity/frameworks/gdhm-current"' in page.text and "23 core + 8 sub" in page.text
    assert "10 warnings" in page.text and 'action="/maturity/frameworks"' not in page.text  # no upload form
    assert 'href="/maturity/frameworks"' in client.get("/maturity").text
    page = client.get("/maturity/frameworks/gdhm-current")
    assert page.status_code == 200
    assert 'download="gdhm-current.json"' in page.text
    assert "the value 50 falls in no phase" in page.text  # a linter finding of indicator 6's bands
    assert "No counterpart in gdhi-2019" in page.text  # indicators new since 2019
    assert "Regulation and certification of AI in health services" in page.text.split('id="crosswalks"')[1]
    french = client.get("/maturity/frameworks/gdhm-current", params={"lang": "fr"})
    assert "Instance nationale de gouvernance de la santé numérique" in french.text
    old = client.get("/maturity/frameworks/gdhi-2019")
    assert old.status_code == 200 and "From this framework to gdhm-current" in old.text
    assert client.get("/maturity/frameworks/nope").status_code == 404


@pytest.mark.parametrize("how", ["file", "textarea"])
def test_admin_uploads_a_framework(client, demo_db, how):
    token = signed_in(client, "admin", "/maturity/frameworks")
    assert 'enctype="multipart/form-data"' in client.get("/maturity/frameworks").text
    body = json.dumps(new_framework(), ensure_ascii=False)
    before = counts(demo_db)
    if how == "file":
        r = client.post("/maturity/frameworks", data={"csrf_token": token},
                        files={"file": ("edition.json", body.encode(), "application/json")}, follow_redirects=False)
    else:
        r = client.post("/maturity/frameworks", data={"csrf_token": token, "document": body},
                        files={"file": ("", b"", "application/octet-stream")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/maturity/frameworks/gdhm-test?saved=1"
    page = client.get(r.headers["location"])
    assert "The framework was added." in page.text and "Test edition of the monitor" in page.text
    listing = client.get("/maturity/frameworks").text
    assert 'href="/maturity/frameworks/gdhm-test"' in listing and "uploaded" in listing
    after = counts(demo_db)
    assert after[3] == before[3] + 1 and after[0] > before[0]
    with demo_db.sessions() as s:
        assert s.get(Framework, "gdhm-test").origin == "uploaded"


def _lint_error() -> bytes:
    doc = new_framework()
    del doc["components"][0]["indicators"][0]["descriptors"]["3"]
    return json.dumps(doc).encode()


def _too_long_code() -> bytes:
    doc = new_framework()
    doc["components"][0]["indicators"][0]["code"] = "1" * 40
    return json.dumps(doc).encode()


def _bad_bands() -> bytes:
    doc = new_framework()
    doc["components"][1]["indicators"][2]["bands"]["phases"]["3"] = 7  # not an object
    return json.dumps(doc).encode()


def _huge_band(value: int | str) -> bytes:
    doc = new_framework()
    doc["components"][1]["indicators"][2]["bands"]["range"] = [0, 0]
    doc["components"][1]["indicators"][2]["bands"]["phases"]["4"]["max"] = "HUGE"
    return json.dumps(doc).replace('"HUGE"', str(value)).encode()


@pytest.mark.parametrize(("content", "status", "message"), [
    (_lint_error(), 422, "indicator 1</strong>: has no descriptor for phase 3"),
    (b'{"id": "x", "title": ', 422, "The framework is not valid JSON"),
    (b'[1, 2, 3]', 422, "must be a JSON object"),
    (b'"a string"', 422, "must be a JSON object"),
    (b'{"id": "x", "phases": NaN}', 422, "The framework is not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, 422, "The framework is not valid JSON"),
    ("{}".encode("utf-16"), 422, "not UTF-8"),
    (json.dumps(new_framework("gdhm-current")).encode(), 422, "exists already"),
    (json.dumps(new_framework("../etc")).encode(), 422, "the id must be"),
    (_too_long_code(), 422, "the code is longer than 16 characters"),
    (_bad_bands(), 422, "The framework&#39;s structure is malformed"),
    (_huge_band(10 ** 12), 422, "integer bands may span at most 100000 values"),  # the linter would walk them
    (_huge_band("1e400"), 422, "integer bands may span at most 100000 values"),  # infinity
    (json.dumps(new_framework()).encode()[:-1] + b', "deep": ' + b"[" * 990 + b"]" * 990 + b"}", 422,
     "is nested too deeply"),
    (_huge_band("75.5"), 422, "framework.components.1.indicators.2.bands.phases.4.max</strong>: use whole numbers"),
    (json.dumps(new_framework()).encode() + b" " * 1_100_000, 413, "larger than 1 MB"),
    (b"", 422, "Choose a file or paste"),
], ids=["lint-error", "malformed", "list", "string", "nan", "deep", "utf16", "duplicate-id", "bad-id", "long-code",
        "bad-bands", "huge-band", "infinite-band", "deep-inside", "decimal", "over-1mb", "empty"])
def test_bad_framework_uploads_write_nothing(client, demo_db, content, status, message):
    token = signed_in(client, "admin", "/maturity/frameworks")
    written = counts(demo_db)
    r = client.post("/maturity/frameworks", data={"csrf_token": token},
                    files={"file": ("edition.json", content, "application/json")})
    assert r.status_code == status, r.text[:500]
    assert "nothing was saved" in r.text and message in r.text
    assert 'role="alert"' in r.text
    assert counts(demo_db) == written


def test_odd_but_valid_documents_render(client, demo_db):
    """What the linter does not check (phase names, questions, descriptions) cannot break the page."""
    token = signed_in(client, "admin", "/maturity/frameworks")
    doc = new_framework("odd-1")
    doc["phase_names"] = ["not", "a", "mapping"]
    doc["description"] = 42
    doc["components"][0]["indicators"][0]["question"] = ["a list"]
    doc["components"][0]["title"]["en"] = "<script>alert(1)</script>"
    r = client.post("/maturity/frameworks", data={"csrf_token": token, "document": json.dumps(doc)},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/maturity/frameworks/odd-1")
    assert page.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    assert client.get("/maturity/frameworks").status_code == 200


def test_pasted_document_with_errors_is_shown_again(client, demo_db):
    token = signed_in(client, "admin", "/maturity/frameworks")
    written = counts(demo_db)
    r = client.post("/maturity/frameworks", data={"csrf_token": token, "document": '{"id": "<b>x</b>"}'})
    assert r.status_code == 422 and "has no components" in r.text
    assert "&lt;b&gt;x&lt;/b&gt;" in r.text and "<b>x</b>" not in r.text  # shown again, escaped
    assert counts(demo_db) == written


def test_five_megabytes_are_refused(client, demo_db):
    token = signed_in(client, "admin", "/maturity/frameworks")
    written = counts(demo_db)
    r = client.post("/maturity/frameworks", data={"csrf_token": token},
                    files={"file": ("big.json", b'{"id": "big", "pad": "' + b"x" * 5_000_000 + b'"}',
                                    "application/json")})
    assert r.status_code == 413 and "larger than the server accepts" in r.text
    assert counts(demo_db) == written


@pytest.mark.parametrize("who", ["viewer", "focal.ken", "regional.afr"])
def test_only_administrators_upload_frameworks(client, demo_db, who):
    token = signed_in(client, who, "/maturity/frameworks")
    assert 'action="/maturity/frameworks"' not in client.get("/maturity/frameworks").text
    written = counts(demo_db)
    r = client.post("/maturity/frameworks", data={"csrf_token": token},
                    files={"file": ("edition.json", json.dumps(new_framework()).encode(), "application/json")})
    assert r.status_code == 403
    assert counts(demo_db) == written


def test_framework_upload_needs_the_csrf_token(client, demo_db):
    signed_in(client, "admin", "/maturity/frameworks")
    written = counts(demo_db)
    r = client.post("/maturity/frameworks",
                    files={"file": ("edition.json", json.dumps(new_framework()).encode(), "application/json")})
    assert r.status_code == 403 and "security token" in r.text
    assert counts(demo_db) == written

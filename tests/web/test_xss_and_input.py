"""Hostile text and hostile input: names that carry markup, quotes and right-to-left text are shown
escaped (and unchanged) on every page that shows them; bad input on every form and JSON endpoint is
a clear 422 (or 413 for oversized bodies) that writes nothing; the sign-in redirect stays on the
site; HTML responses carry the security headers and cookies the right attributes."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select

from dho.accounts import service as accounts
from dho.accounts.models import ApiToken, Organisation, RoleGrant, User
from dho.accounts.permissions import CLI_OPERATOR
from dho.audit.models import AuditEntry
from dho.config import get_settings
from dho.web.deps import CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE
from tests.conftest import DEMO_PASSWORD, csrf_from, demo_email, login

BASE = "https://testserver"

SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
IMG = "<img src=x onerror=alert(1)>"
QUOTES = "\"double\" 'single' & amp"
ATTR_BREAKOUT = "x\" autofocus onfocus=\"alert(1)"
UNICODE = "وزارة الصحة 🏥 \u200fRTL\u200e مرحبا"

ORG_SCRIPT = f"Org {SCRIPT} one"
ORG_SCRIPT_RENAMED = f"Org {IMG} renamed"
ORG_QUOTES = f"Org {QUOTES}"
ORG_ATTR = f"Org {ATTR_BREAKOUT}"
ORG_UNICODE = f"{UNICODE} (org)"
USER_SCRIPT = f"User {SCRIPT}"
USER_QUOTES = f"User {QUOTES}"
USER_UNICODE = f"{UNICODE} (user)"


# ---------------------------------------------------------------- helpers


def count(db, model, *where) -> int:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def written(db) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    """Everything a form or endpoint here could write."""
    return (count(db, AuditEntry), count(db, Organisation), count(db, User), count(db, RoleGrant),
            count(db, ApiToken))


def org_rows(db) -> list[tuple]:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return [tuple(r) for r in s.execute(select(Organisation.id, Organisation.version, Organisation.name,
                                                   Organisation.acronym, Organisation.website)
                                            .order_by(Organisation.id)).all()]


def admin_bearer(db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        uid = accounts.find_user(s, demo_email("admin")).id
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "input tests",
                                                             "scopes": ["read", "write", "admin"]}, user_id=uid)
    return {"Authorization": f"Bearer {secret}"}


def browser(client: TestClient, **kw) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(client.app, base_url=BASE, raise_server_exceptions=False, **kw)


def assert_shown_escaped(html: str, text: str, where: str) -> None:
    """``text`` appears on the page in its escaped form and never raw (unless it has nothing to escape)."""
    escaped = str(escape(text))
    assert escaped in html, f"{where}: {text!r} is not shown (escaped: {escaped!r})"
    if escaped != text:
        assert text not in html, f"{where}: {text!r} appears unescaped"


class _Tags(HTMLParser):
    """The elements and attributes a browser would build from the page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_no_raw_markup(html: str, where: str) -> None:
    for raw in (SCRIPT, IMG, ATTR_BREAKOUT):
        assert raw not in html, f"{where}: raw {raw!r}"
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        # no event handler attribute anywhere, and no element the payloads would create
        handlers = [a for a in attrs if a.startswith("on")]
        assert not handlers, f"{where}: <{tag}> with {handlers}"
        assert "autofocus" not in attrs, f"{where}: <{tag}> with autofocus"
        assert tag != "img", f"{where}: an <img> element"
        if tag == "script":  # the page's own script (htmx, when installed) only
            assert attrs.get("src") == "/vendor/htmx/htmx.min.js", f"{where}: <script {attrs}>"


def assert_problem_422(response, *fields: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text[:400]
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 422 and body["type"] == "/problems/validation-failed"
    got = [e["field"] for e in body.get("errors", [])]
    assert got, "no field errors"
    for field in fields:
        assert any(g == field or g.startswith(f"{field}.") for g in got), (field, got)


# ---------------------------------------------------------------- hostile names, shown everywhere


@pytest.fixture
def hostile(client, demo_db):  # type: ignore[no-untyped-def]
    """Organisations and users with hostile names, made through the API by an administrator, one of
    them renamed (for the history tabs); the administrator is signed in on ``client``."""
    h = admin_bearer(demo_db)
    ids = {}
    for key, name, acronym in (("script", ORG_SCRIPT, IMG[:40]), ("quotes", ORG_QUOTES, "A\"B'C"),
                               ("attr", ORG_ATTR, None), ("unicode", ORG_UNICODE, "وزارة")):
        r = client.post("/api/organisations", headers=h, json={"name": name, "acronym": acronym, "kind": "ngo",
                                                               "country_iso3": "KEN"})
        assert r.status_code == 201, r.text
        ids[key] = r.json()["id"]
    r = client.patch(f"/api/organisations/{ids['script']}", headers=h, json={"version": 1, "name": ORG_SCRIPT_RENAMED})
    assert r.status_code == 200, r.text
    users = {}
    for key, name, org in (("script", USER_SCRIPT, ids["script"]), ("quotes", USER_QUOTES, ids["quotes"]),
                           ("unicode", USER_UNICODE, ids["unicode"])):
        r = client.post("/api/users", headers=h, json={"email": f"hostile.{key}@demo.example.org",
                                                       "display_name": name, "password": "hostile-password",
                                                       "organisation_id": org})
        assert r.status_code == 201, r.text
        users[key] = r.json()["id"]
        assert client.post(f"/api/users/{users[key]}/grants", headers=h,
                           json={"role": "partner", "organisation_id": org}).status_code == 201
    # a later rename of a user, for its history tab
    with demo_db.session() as s:
        s.info["actor"] = CLI_OPERATOR.actor
        s.get(User, users["quotes"]).display_name = USER_QUOTES + " renamed"
    assert login(client, demo_email("admin")).status_code == 303
    return ids, users


def test_hostile_organisation_names_are_escaped_on_every_page(client, hostile):
    ids, _users = hostile
    every = (ORG_SCRIPT_RENAMED, ORG_QUOTES, ORG_ATTR, ORG_UNICODE)
    current = {"script": ORG_SCRIPT_RENAMED, "quotes": ORG_QUOTES, "attr": ORG_ATTR, "unicode": ORG_UNICODE}
    # (where, url, extra headers, names that must be shown)
    pages: list[tuple[str, str, dict[str, str], tuple[str, ...]]] = [
        ("list", "/organisations?country=KEN", {}, every),
        ("search", "/organisations?q=org", {}, every),
        ("list fragment (htmx)", "/organisations?country=KEN", {"HX-Request": "true"}, every),
        ("country page", "/countries/KEN", {}, every),
        ("audit log", "/audit", {}, (*every, ORG_SCRIPT)),
        ("audit log, one object", f"/audit?object_type=organisation&object_id={ids['script']}", {},
         (ORG_SCRIPT, ORG_SCRIPT_RENAMED)),
    ]
    for key, org_id in ids.items():
        pages += [
            (f"detail {key}", f"/organisations/{org_id}", {}, (current[key],)),
            (f"edit form {key}", f"/organisations/{org_id}/edit", {}, (current[key],)),
            (f"history {key}", f"/organisations/{org_id}?tab=history", {},
             (ORG_SCRIPT, ORG_SCRIPT_RENAMED) if key == "script" else (current[key],)),
        ]
    for where, url, headers, names in pages:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, (where, r.status_code)
        assert "text/html" in r.headers["content-type"]
        assert_no_raw_markup(r.text, where)
        for name in names:
            assert_shown_escaped(r.text, name, where)
    # the acronyms too
    assert_shown_escaped(client.get(f"/organisations/{ids['quotes']}").text, "A\"B'C", "acronym")
    assert_shown_escaped(client.get(f"/organisations/{ids['script']}").text, IMG[:40], "acronym")


def test_hostile_user_names_are_escaped_on_every_page(client, demo_db, hostile):
    ids, users = hostile
    names = {"script": USER_SCRIPT, "quotes": USER_QUOTES + " renamed", "unicode": USER_UNICODE}
    pages = {"users list": "/admin/users", "users search": "/admin/users?q=hostile",
             **{f"user {k}": f"/admin/users/{v}" for k, v in users.items()},
             **{f"user history {k}": f"/admin/users/{v}?tab=history" for k, v in users.items()},
             "audit log": "/audit?object_type=user_account"}
    for where, url in pages.items():
        r = client.get(url)
        assert r.status_code == 200, (where, r.status_code)
        html = r.text
        assert_no_raw_markup(html, where)
        if where.startswith("user history"):
            key = where.split()[-1]
            if key == "quotes":
                assert_shown_escaped(html, USER_QUOTES, where)  # the old name
            assert_shown_escaped(html, names[key], where)
        elif where.startswith("user "):
            key = where.split()[-1]
            assert_shown_escaped(html, names[key], where)
            # the organisation's hostile name on the user page
            org_name = {"script": ORG_SCRIPT_RENAMED, "quotes": ORG_QUOTES, "unicode": ORG_UNICODE}[key]
            assert_shown_escaped(html, org_name, where)
        else:
            for name in names.values():
                assert_shown_escaped(html, name, where)
    # each hostile user's own pages: the header shows their name, the account page their organisation
    for key, uid in users.items():
        own = browser(client)
        r = login(own, f"hostile.{key}@demo.example.org", "hostile-password")
        assert r.status_code == 303, key
        for url in ("/", "/account", "/organisations", f"/organisations/{ids[key]}"):
            html = own.get(url).text
            assert_no_raw_markup(html, f"{key} {url}")
            assert_shown_escaped(html, names[key], f"{key} {url} header")
        assert own.get("/api/me").json()["id"] == uid


def test_unicode_survives_unchanged(client, demo_db, hostile):
    ids, users = hostile
    with demo_db.sessions() as s:
        assert s.get(Organisation, ids["unicode"]).name == ORG_UNICODE
        assert s.get(User, users["unicode"]).display_name == USER_UNICODE
    assert client.get(f"/api/organisations/{ids['unicode']}").json()["name"] == ORG_UNICODE
    html = client.get(f"/organisations/{ids['unicode']}").text
    assert UNICODE in html  # verbatim, not as character references
    assert 'charset="utf-8"' in html


def test_reflected_input_is_escaped(client, demo_db):
    assert login(client, demo_email("admin")).status_code == 303
    anonymous = browser(client)
    cases = [
        (client, f"/organisations?q={SCRIPT}"),
        (client, f"/organisations?q={ATTR_BREAKOUT}"),
        (client, f"/admin/users?q={SCRIPT}"),
        (client, f"/audit?actor={SCRIPT}&action={ATTR_BREAKOUT}"),
        (anonymous, f"/organisations?q={SCRIPT}&kind={IMG}"),
        (anonymous, '/login?next=/"><script>alert(1)</script>'),
        (anonymous, "/problems/<img src=x onerror=alert(1)>"),
        (anonymous, "/countries/<img src=x onerror=alert(1)>"),
        (anonymous, "/no-such-page/<img src=x onerror=alert(1)>"),
    ]
    for c, url in cases:
        r = c.get(url)
        assert "text/html" in r.headers["content-type"], url
        assert r.status_code in (200, 404, 422), (url, r.status_code)
        assert_no_raw_markup(r.text, url)
    # the search box keeps what was typed, escaped
    html = client.get("/organisations", params={"q": ATTR_BREAKOUT}).text
    assert f'value="{escape(ATTR_BREAKOUT)}"' in html


def test_json_responses_are_not_html(client, demo_db, hostile):
    ids, _users = hostile
    for url in (f"/api/organisations/{ids['script']}", "/api/organisations?q=Org", "/api/organisations/999999"):
        r = client.get(url)
        assert r.headers["content-type"].startswith(("application/json", "application/problem+json")), url
        assert r.headers["x-content-type-options"] == "nosniff"


def test_form_field_attributes_are_rendered_as_attributes(client):
    html = client.get("/login").text
    assert 'autocomplete="username"' in html
    assert "&#34;" not in html


# ---------------------------------------------------------------- bad input on the JSON API


def _ids(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return {
            "org": s.execute(select(Organisation.id).where(Organisation.acronym == "OCC")).scalar_one(),
            "user": accounts.find_user(s, demo_email("viewer")).id,
        }


LONG = "x" * 201
BAD_URLS = ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "data:text/html,<b>x</b>",
            "vbscript:msgbox(1)", "//evil.example", "ftp://files.example", "https://a.example/\" onclick=\"x",
            "https://a.example/<script>", "https://" + "a" * 600 + ".example", "http://"]


def json_cases(ids: dict[str, int]) -> list[tuple[str, str, object, tuple[str, ...]]]:
    """(method, path, body, fields expected in the errors)."""
    org, user = f"/api/organisations/{ids['org']}", f"/api/users/{ids['user']}/grants"
    new_org = {"name": "Valid", "kind": "ngo"}
    new_user = {"email": "valid.person@demo.example.org", "display_name": "Valid"}
    cases: list[tuple[str, str, object, tuple[str, ...]]] = [
        # wrong shapes
        ("POST", "/api/organisations", [], ()),
        ("POST", "/api/organisations", "a string", ()),
        ("POST", "/api/organisations", None, ()),
        ("POST", "/api/organisations", {}, ("name", "kind")),
        # wrong types
        ("POST", "/api/organisations", {"name": 123, "kind": "ngo"}, ("name",)),
        ("POST", "/api/organisations", {"name": "V", "kind": ["ngo"]}, ("kind",)),
        ("POST", "/api/organisations", {"name": "V", "kind": "ngo", "country_iso3": 404}, ("country_iso3",)),
        ("PATCH", org, {"version": "one", "acronym": "X"}, ("version",)),
        ("PATCH", org, {"version": 1.5}, ("version",)),
        ("POST", "/api/users", {**new_user, "organisation_id": "abc"}, ("organisation_id",)),
        ("POST", "/api/users", {**new_user, "display_name": {"$ne": ""}}, ("display_name",)),
        ("POST", user, {"role": 5}, ("role",)),
        # unknown values and fields
        ("POST", "/api/organisations", {**new_org, "kind": "cartel"}, ("kind",)),
        ("POST", "/api/organisations", {**new_org, "id": 1}, ("id",)),
        ("POST", "/api/organisations", {**new_org, "version": 7}, ("version",)),
        ("PATCH", org, {"version": 1, "created_at": "2000-01-01T00:00:00Z"}, ("created_at",)),
        ("POST", "/api/users", {**new_user, "is_active": False}, ("is_active",)),
        ("POST", "/api/users", {**new_user, "grants": [{"role": "admin"}]}, ("grants",)),
        ("POST", "/api/users", {**new_user, "password_hash": "x"}, ("password_hash",)),
        ("POST", user, {"role": "superuser"}, ("role",)),
        ("POST", user, {"role": "country_focal_point", "country_iso3": "KEN", "created_by_id": 1},
         ("created_by_id",)),
        # oversized strings
        ("POST", "/api/organisations", {**new_org, "name": LONG}, ("name",)),
        ("POST", "/api/organisations", {**new_org, "acronym": "A" * 41}, ("acronym",)),
        ("PATCH", org, {"version": 1, "name": LONG}, ("name",)),
        ("POST", "/api/users", {**new_user, "display_name": LONG}, ("display_name",)),
        ("POST", "/api/users", {**new_user, "email": "a" * 250 + "@x.example"}, ("email",)),
        ("POST", "/api/users", {**new_user, "password": "p" * 257}, ("password",)),
        # empty and malformed values
        ("POST", "/api/organisations", {**new_org, "name": "   "}, ("name",)),
        ("POST", "/api/organisations", {**new_org, "country_iso3": "ken"}, ("country_iso3",)),
        ("POST", "/api/organisations", {**new_org, "country_iso3": "XXX"}, ("country_iso3",)),
        ("POST", "/api/users", {**new_user, "email": "not-an-address"}, ("email",)),
        ("POST", "/api/users", {**new_user, "email": "a@b.example\r\nBcc: x@y.example"}, ("email",)),
        ("POST", "/api/users", {**new_user, "password": "short"}, ("password",)),
        ("POST", user, {"role": "country_focal_point"}, ("role",)),
        ("POST", user, {"role": "regional", "region_code": "MARS"}, ("region_code",)),
        # control characters
        ("POST", "/api/organisations", {**new_org, "name": "Nul\x00byte"}, ("name",)),
        ("POST", "/api/organisations", {**new_org, "name": "Esc\x1b[31mape"}, ("name",)),
        ("POST", "/api/organisations", {**new_org, "acronym": "B\x07ELL"}, ("acronym",)),
        ("PATCH", org, {"version": 1, "name": "Back\x08space"}, ("name",)),
        ("POST", "/api/users", {**new_user, "display_name": "Del\x7fete"}, ("display_name",)),
    ]
    for url in BAD_URLS:
        cases.append(("POST", "/api/organisations", {**new_org, "website": url}, ("website",)))
        cases.append(("PATCH", org, {"version": 1, "website": url}, ("website",)))
    return cases


def test_bad_json_input_is_a_clear_422_and_writes_nothing(client, demo_db):
    h = admin_bearer(demo_db)
    ids = _ids(demo_db)
    before, orgs = written(demo_db), org_rows(demo_db)
    failures = []
    for method, path, body, fields in json_cases(ids):
        r = client.request(method, path, json=body, headers=h)
        try:
            assert_problem_422(r, *fields)
        except AssertionError as exc:
            failures.append(f"{method} {path} {body!r}: {exc}")
    assert not failures, "\n".join(failures)
    assert written(demo_db) == before
    assert org_rows(demo_db) == orgs


def test_malformed_json_is_422(client, demo_db):
    h = {**admin_bearer(demo_db), "Content-Type": "application/json"}
    before = written(demo_db)
    for raw in (b'{"name": "x",', b"{'name': 'x'}", b'{"name": "x"} trailing', b'{"name": "x", "kind": "ngo"',
                b"NaN", b"", b"null"):
        r = client.post("/api/organisations", content=raw, headers=h)
        assert r.status_code == 422, (raw, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"], raw
    # bytes that are not text at all: a clear 400 (bad request) is as good
    r = client.post("/api/organisations", content=b"\xff\xfe\x00\xc3", headers=h)
    assert r.status_code in (400, 422), r.status_code
    assert r.headers["content-type"].startswith("application/problem+json")
    # a body nested deeper than the parser goes is refused cleanly, not with a server error
    r = client.post("/api/organisations", content=b"[" * 100_000 + b"]" * 100_000, headers=h)
    assert r.status_code in (400, 422), r.status_code
    assert r.headers["content-type"].startswith("application/problem+json")
    assert written(demo_db) == before


def test_lone_surrogate_does_not_break_the_server(client, demo_db):
    """JSON may spell a lone UTF-16 surrogate; it cannot be stored as text and must be refused."""
    h = {**admin_bearer(demo_db), "Content-Type": "application/json"}
    before = written(demo_db)
    r = client.post("/api/organisations", content=b'{"name": "Sur\\ud800rogate", "kind": "ngo"}', headers=h)
    assert r.status_code == 422, r.text[:300]
    assert written(demo_db) == before


def test_oversized_bodies_are_413(client, demo_db):
    limit = get_settings().max_request_bytes
    assert limit == 2_000_000
    h = admin_bearer(demo_db)
    before = written(demo_db)
    big_json = b'{"name": "' + b"x" * limit + b'", "kind": "ngo"}'
    for path, headers, content in [
        ("/api/organisations", {**h, "Content-Type": "application/json"}, big_json),
        ("/api/users", {**h, "Content-Type": "application/json"}, big_json),
        ("/login", {"Content-Type": "application/x-www-form-urlencoded"}, b"email=" + b"a" * limit),
        ("/organisations/new", {"Content-Type": "application/x-www-form-urlencoded"}, b"name=" + b"a" * limit),
    ]:
        r = client.post(path, content=content, headers=headers)
        assert r.status_code == 413, (path, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "/problems/payload-too-large"
    # just under the limit is read (and refused for what it says, not for its size)
    r = client.post("/api/organisations", content=b'{"name": "' + b"x" * (limit - 100) + b'", "kind": "ngo"}',
                    headers={**h, "Content-Type": "application/json"})
    assert_problem_422(r, "name")
    assert written(demo_db) == before


def _chunks(total: int, size: int = 64_000):  # type: ignore[no-untyped-def]
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def test_oversized_streamed_bodies_write_nothing(client, demo_db):
    """Without Content-Length the limit is enforced while reading: refused, nothing written."""
    h = admin_bearer(demo_db)
    before = written(demo_db)
    for path, headers in (("/api/organisations", {**h, "Content-Type": "application/json"}),
                          ("/login", {"Content-Type": "application/x-www-form-urlencoded"})):
        r = client.post(path, content=_chunks(3_000_000), headers=headers)
        assert 400 <= r.status_code < 500, (path, r.status_code)
    assert written(demo_db) == before


def test_oversized_streamed_bodies_are_413(client, demo_db):
    h = admin_bearer(demo_db)
    r = client.post("/api/organisations", content=_chunks(3_000_000),
                    headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413


# ---------------------------------------------------------------- pagination


PAGED = ["/api/organisations", "/api/users", "/api/audit", "/api/countries"]
HUGE = 10**20  # larger than any database integer


def test_negative_and_out_of_range_pagination_is_422(client, demo_db):
    h = admin_bearer(demo_db)
    before = written(demo_db)
    for path in PAGED:
        for params, field in [({"limit": 0}, "limit"), ({"limit": -1}, "limit"), ({"limit": 100_000}, "limit"),
                              ({"limit": HUGE}, "limit"), ({"limit": "ten"}, "limit"), ({"offset": -1}, "offset"),
                              ({"offset": HUGE}, "offset"), ({"offset": "1e3"}, "offset"),
                              ({"offset": ""}, "offset")]:
            r = client.get(path, params=params, headers=h)
            assert_problem_422(r, field)
        assert client.get(path, params={"limit": 1, "offset": 0}, headers=h).status_code == 200
    for page in ("/organisations", "/countries", "/admin/users", "/audit"):
        for offset in (-1, HUGE):
            r = client.get(page, params={"offset": offset}, headers=h)
            assert r.status_code == 422, (page, offset, r.status_code)
            assert "offset" in r.text
    assert written(demo_db) == before


def test_huge_ids_in_paths_are_422(client, demo_db):
    h = admin_bearer(demo_db)
    before = written(demo_db)
    for method, path in [("GET", f"/api/organisations/{HUGE}"), ("PATCH", f"/api/organisations/{HUGE}"),
                         ("DELETE", f"/api/organisations/{HUGE}"), ("POST", f"/api/users/{HUGE}/grants"),
                         ("DELETE", f"/api/grants/{HUGE}"), ("DELETE", f"/api/tokens/{HUGE}"),
                         ("GET", "/api/organisations/-1"), ("GET", "/api/organisations/abc")]:
        r = client.request(method, path, headers=h, json={"version": 1})
        assert r.status_code == 422, (method, path, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert written(demo_db) == before


# ---------------------------------------------------------------- bad input on the forms


def _form(client, page: str, action: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=False)


def test_bad_input_on_the_organisation_forms_is_422_and_writes_nothing(client, demo_db):
    assert login(client, demo_email("admin")).status_code == 303
    org_id = _ids(demo_db)["org"]
    before, orgs = written(demo_db), org_rows(demo_db)
    good = {"name": "Form org", "kind": "ngo", "country_iso3": "", "acronym": "", "website": ""}
    for change, field in [
        ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": LONG}, "name"),
        ({"name": "Bell\x07"}, "name"), ({"kind": "cartel"}, "kind"), ({"kind": ""}, "kind"),
        ({"country_iso3": "XXX"}, "country_iso3"), ({"country_iso3": "ken"}, "country_iso3"),
        ({"acronym": "A" * 41}, "acronym"),
        *(({"website": url}, "website") for url in BAD_URLS),
    ]:
        for page, action in (("/organisations/new", "/organisations/new"),
                             (f"/organisations/{org_id}/edit", f"/organisations/{org_id}/edit")):
            data = {**good, **change}
            if "edit" in action:
                data["version"] = "1"
            r = _form(client, page, action, data)
            assert r.status_code == 422, (action, change, r.status_code)
            assert "text/html" in r.headers["content-type"]
            assert 'class="field-error"' in r.text, (action, change)
            assert re.search(rf'id="f-{field}-error"', r.text), (action, change, field)
            assert_no_raw_markup(r.text, f"{action} {change}")
    assert written(demo_db) == before
    assert org_rows(demo_db) == orgs


def test_refused_form_values_are_shown_back_escaped(client, demo_db):
    assert login(client, demo_email("admin")).status_code == 303
    before = written(demo_db)
    r = _form(client, "/organisations/new", "/organisations/new",
              {"name": ATTR_BREAKOUT, "acronym": SCRIPT[:40], "kind": "cartel", "website": "javascript:alert(1)"})
    assert r.status_code == 422
    assert_no_raw_markup(r.text, "re-shown form")
    assert f'value="{escape(ATTR_BREAKOUT)}"' in r.text
    assert written(demo_db) == before


def test_bad_input_on_the_user_forms_is_422_and_writes_nothing(client, demo_db):
    assert login(client, demo_email("admin")).status_code == 303
    uid = _ids(demo_db)["user"]
    before = written(demo_db)
    good = {"email": "form.person@demo.example.org", "display_name": "Form Person", "password": "",
            "organisation_id": ""}
    for change, field in [({"email": "not-an-address"}, "email"), ({"email": ""}, "email"),
                          ({"display_name": ""}, "display_name"), ({"display_name": LONG}, "display_name"),
                          ({"display_name": "Esc\x1bape"}, "display_name"), ({"password": "short"}, "password"),
                          ({"email": demo_email("viewer")}, "email")]:
        r = _form(client, "/admin/users", "/admin/users", {**good, **change})
        assert r.status_code in (409, 422), (change, r.status_code)
        assert re.search(rf'id="f-{field}-error"', r.text), (change, field)
    for data in ({"role": "superuser"}, {"role": "country_focal_point"}, {"role": "regional", "region_code": "MARS"},
                 {"role": "viewer", "country_iso3": "KEN", "region_code": "AFR"}, {"role": ""}):
        r = _form(client, f"/admin/users/{uid}", f"/admin/users/{uid}/grants", data)
        assert r.status_code == 422, (data, r.status_code)
        assert 'class="field-error"' in r.text or 'class="alert"' in r.text, data
    assert written(demo_db) == before


def test_bad_input_on_the_token_form_is_422_and_writes_nothing(client, demo_db):
    assert login(client, demo_email("focal.ken")).status_code == 303
    before = written(demo_db)
    for data in ({"name": "", "scopes": "read", "days": "30"}, {"name": "x", "days": "30"},
                 {"name": "x", "scopes": "root", "days": "30"}, {"name": "x", "scopes": "read", "days": "0"},
                 {"name": "x", "scopes": "read", "days": "9999"}, {"name": "x", "scopes": "read", "days": "-5"},
                 {"name": LONG, "scopes": "read", "days": "30"}):
        r = _form(client, "/account", "/account/tokens", data)
        assert r.status_code == 422, (data, r.status_code)
        # the form shown again with the field marked, or (over the form's size limit) the error page
        assert 'class="field-error"' in r.text or 'class="error-list"' in r.text, data
    assert written(demo_db) == before


def test_bad_input_on_the_sign_in_and_language_forms(client, demo_db):
    before = written(demo_db)
    token = csrf_from(client.get("/login").text)
    r = client.post("/login", data={"email": "a" * 300, "password": "x", "csrf_token": token})
    assert r.status_code == 422
    assert "email" in r.text
    r = client.post("/login", data={"email": "x", "password": "x", "next": "/" + "a" * 600, "csrf_token": token})
    assert r.status_code == 422
    # an unknown language falls back to the default instead of being stored
    r = client.post("/language", data={"lang": "<script>", "next": "/", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.cookies.get(LANG_COOKIE) == "en"
    r = client.post("/language", data={"lang": "x" * 50, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 422
    assert written(demo_db) == before


def test_control_characters_are_refused_in_every_text_field(client, demo_db):
    h = admin_bearer(demo_db)
    org_id = _ids(demo_db)["org"]
    before, orgs = written(demo_db), org_rows(demo_db)
    answers = {}
    for ch in ("\x00", "\x07", "\x1b"):
        b = browser(client)
        answers[f"PATCH acronym {ch!r}"] = b.patch(f"/api/organisations/{org_id}", headers=h, json={
            "version": _version(demo_db, org_id), "acronym": f"A{ch}B"}).status_code
        answers[f"PATCH website {ch!r}"] = b.patch(f"/api/organisations/{org_id}", headers=h, json={
            "version": _version(demo_db, org_id), "website": f"https://ex{ch}ample.org"}).status_code
        answers[f"POST website {ch!r}"] = b.post("/api/organisations", headers=h, json={
            "name": f"Control {ord(ch)}", "kind": "ngo", "website": f"https://ex{ch}ample.org"}).status_code
        answers[f"POST e-mail {ch!r}"] = b.post("/api/users", headers=h, json={
            "email": f"a{ch}b@demo.example.org", "display_name": "Control"}).status_code
    assert answers == dict.fromkeys(answers, 422), answers
    assert written(demo_db) == before and org_rows(demo_db) == orgs


def test_nul_bytes_in_any_input_are_refused_cleanly(client, demo_db, backend, request):
    lenient = browser(client)
    before = written(demo_db)
    answers = {}
    for url in ("/api/organisations?q=a%00b", "/organisations?q=a%00b", "/api/organisations?kind=a%00b",
                "/organisations?country=%00AB", "/api/countries?q=a%00b", "/countries?q=a%00b",
                "/api/countries/A%00B", "/countries/A%00B", "/api/classifications/a%00b/codes",
                "/admin/users?q=%00", "/audit?actor=%00"):
        answers[url] = lenient.get(url).status_code
    token = csrf_from(lenient.get("/login").text)
    answers["POST /login e-mail"] = lenient.post("/login", data={
        "email": "a\x00b@demo.example.org", "password": "x", "csrf_token": token}).status_code
    answers["Bearer"] = lenient.get("/api/me", headers={"Authorization": "Bearer dho_ab\x00cd_xyz"}).status_code
    assert not {k: v for k, v in answers.items() if v >= 500}, answers
    assert written(demo_db) == before


def _version(db, org_id: int) -> int:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return s.get(Organisation, org_id).version


# ---------------------------------------------------------------- open redirects

EVIL_NEXT = ["//evil.example", "https://evil.example", "/\\evil.example", "\\\\evil.example", "/\\/evil.example",
             "///evil.example", "http:evil.example", "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)",
             " //evil.example", "%2F%2Fevil.example", "/%09/evil.example", "https:/\\evil.example", "@evil.example"]


def assert_same_site(location: str, attempt: str) -> None:
    assert location.startswith("/"), (attempt, location)
    # what a browser would make of it: tabs and newlines dropped, backslashes as slashes
    normalised = re.sub(r"[\t\r\n]", "", location).replace("\\", "/")
    assert not normalised.startswith("//"), (attempt, location)
    parts = urlsplit(normalised)
    assert parts.scheme == "" and parts.netloc == "", (attempt, location)


def test_sign_in_never_redirects_off_site(client, demo_db):
    for attempt in ("//evil.example", "https://evil.example", "/\\evil.example"):
        r = browser(client).get("/login", params={"next": attempt})
        assert 'name="next" value="/"' in r.text, attempt
        c = browser(client)
        token = csrf_from(c.get("/login").text)
        r = c.post("/login", data={"email": demo_email("viewer"), "password": DEMO_PASSWORD, "csrf_token": token,
                                   "next": attempt}, follow_redirects=False)
        assert r.status_code == 303
        assert_same_site(r.headers["location"], attempt)
        assert r.headers["location"] == "/"
    # a same-site path is kept
    c = browser(client)
    token = csrf_from(c.get("/login").text)
    r = c.post("/login", data={"email": demo_email("viewer"), "password": DEMO_PASSWORD, "csrf_token": token,
                               "next": "/organisations?q=a"}, follow_redirects=False)
    assert r.headers["location"] == "/organisations?q=a"


def test_no_redirect_parameter_leads_off_site(client):
    token = csrf_from(client.get("/login").text)
    for attempt in EVIL_NEXT:
        r = client.get("/login", params={"next": attempt})
        m = re.search(r'name="next" value="([^"]*)"', r.text)
        assert m, attempt
        # the form keeps only a same-site path (which the server checks again when it is posted)
        kept = m.group(1)
        assert kept == "/" or (kept.startswith("/") and not kept.startswith(("//", "/\\"))), (attempt, kept)
        r = client.post("/language", data={"lang": "en", "next": attempt, "csrf_token": token},
                        follow_redirects=False)
        assert r.status_code == 303, attempt
        assert_same_site(r.headers["location"], attempt)


# ---------------------------------------------------------------- headers and cookies


def assert_security_headers(response, where: str) -> None:  # type: ignore[no-untyped-def]
    h = response.headers
    csp = h.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, where
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, where
    assert h.get("x-frame-options") == "DENY", where
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("referrer-policy") == "same-origin", where


def test_html_responses_carry_security_headers(client, demo_db):
    anonymous = browser(client)
    responses = {
        "home": anonymous.get("/"),
        "login": anonymous.get("/login"),
        "organisations": anonymous.get("/organisations"),
        "404": anonymous.get("/no-such-page"),
        "422": anonymous.get("/organisations?offset=-1"),
        "403 csrf": anonymous.post("/organisations/new", data={"name": "x"}),
        "401 redirect": anonymous.get("/account", follow_redirects=False),
    }
    assert login(client, demo_email("admin")).status_code == 303
    responses.update({"users": client.get("/admin/users"), "audit": client.get("/audit"),
                      "account": client.get("/account")})
    for where, r in responses.items():
        assert_security_headers(r, where)
        if "text/html" in r.headers.get("content-type", ""):
            assert r.headers.get("cache-control") == "no-store", where
    for where in ("users", "audit", "account"):
        assert responses[where].status_code == 200


def parse_set_cookies(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    out = {}
    for header in response.headers.get_list("set-cookie"):
        out[header.split("=", 1)[0]] = header
    return out


def test_cookies_are_httponly_samesite_lax_and_secure(client, demo_db):
    page = client.get("/login")
    cookies = parse_set_cookies(page)
    r = client.post("/login", data={"email": demo_email("viewer"), "password": DEMO_PASSWORD, "next": "/",
                                    "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    cookies.update(parse_set_cookies(r))
    token = csrf_from(client.get("/").text)
    cookies.update(parse_set_cookies(client.post("/language", data={"lang": "fr", "csrf_token": token},
                                                 follow_redirects=False)))
    assert {SESSION_COOKIE, CSRF_COOKIE, LANG_COOKIE} <= set(cookies)
    for header in cookies.values():
        attrs = [a.strip().lower() for a in header.split(";")[1:]]
        assert "secure" in attrs, header
        assert "samesite=lax" in attrs, header
        assert "path=/" in attrs, header
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        assert "httponly" in [a.strip().lower() for a in cookies[name].split(";")], cookies[name]


def test_every_cookie_is_httponly(client, demo_db):
    token = csrf_from(client.get("/").text)
    r = client.post("/language", data={"lang": "fr", "csrf_token": token}, follow_redirects=False)
    header = parse_set_cookies(r)[LANG_COOKIE]
    assert "httponly" in header.lower()

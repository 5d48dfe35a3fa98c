"""Signing in and out: wrong credentials, brute force, CSRF on the sign-in form and after it,
session fixation, logout, disabled accounts, password changes."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from dho.accounts import service as accounts
from dho.accounts.models import ApiToken, LoginAttempt, User, WebSession
from dho.accounts.permissions import CLI_OPERATOR
from dho.audit.models import AuditEntry
from dho.config import get_settings
from dho.web.deps import CSRF_COOKIE, SESSION_COOKIE
from tests.conftest import DEMO_PASSWORD, csrf_from, demo_email, login

BASE = "https://testserver"


# ---------------------------------------------------------------- helpers


def browser(client: TestClient, *, ip: str = "testclient", cookies: dict[str, str] | None = None) -> TestClient:
    """Another browser on the same application (own cookie jar, optionally another address)."""
    other = TestClient(client.app, base_url=BASE, client=(ip, 50000), raise_server_exceptions=False)
    for name, value in (cookies or {}).items():
        other.cookies.set(name, value)
    return other


def count(db, model, *where) -> int:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def state(db) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """What a sign-in can write: sessions, audit entries, tokens."""
    return count(db, WebSession), count(db, AuditEntry), count(db, ApiToken)


def user_id(db, local: str) -> int:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return accounts.find_user(s, demo_email(local)).id


def password_hash(db, local: str) -> str | None:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return accounts.find_user(s, demo_email(local)).password_hash


def set_cookie_headers(response) -> list[str]:  # type: ignore[no-untyped-def]
    return response.headers.get_list("set-cookie")


def sets_session_cookie(response) -> bool:  # type: ignore[no-untyped-def]
    return any(h.startswith(f"{SESSION_COOKIE}=") and 'Max-Age=0' not in h and '=""' not in h
               for h in set_cookie_headers(response))


def login_error(html: str) -> str:
    match = re.search(r'<p class="alert" role="alert" id="login-error">(.*?)</p>', html, re.S)
    assert match, "no error shown on the sign-in page"
    return match.group(1).strip()


def post_login(client: TestClient, email: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token, "next": "/",
                                       **extra}, follow_redirects=False)


def me(client: TestClient) -> int:
    """The status of /api/me: 200 when the browser's session is valid, 401 when not."""
    return client.get("/api/me").status_code


def session_id(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


# ---------------------------------------------------------------- wrong credentials


def test_wrong_password_and_unknown_user_get_the_same_answer(client, demo_db):
    before = state(demo_db)
    wrong = post_login(client, demo_email("admin"), "not-the-password")
    unknown = post_login(client, demo_email("nobody.at.all"), DEMO_PASSWORD)
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert "text/html" in r.headers["content-type"]
        assert not sets_session_cookie(r)
    assert login_error(wrong.text) == login_error(unknown.text) == "Wrong e-mail address or password."
    assert SESSION_COOKIE not in client.cookies
    assert me(client) == 401
    assert state(demo_db) == before
    # both attempts were recorded as failures (that is what the limits count)
    assert count(demo_db, LoginAttempt, LoginAttempt.success.is_(False)) == 2


def test_right_password_signs_in(client, demo_db):
    r = post_login(client, demo_email("focal.ken"), DEMO_PASSWORD)
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    assert sets_session_cookie(r)
    assert client.get("/api/me").json()["email"] == demo_email("focal.ken")
    assert count(demo_db, WebSession) == 1


def test_empty_and_oversized_credentials_are_refused_without_a_session(client, demo_db):
    before = state(demo_db)
    assert post_login(client, "", "").status_code == 401
    r = post_login(client, demo_email("admin"), "x" * 257)  # over the form's limit
    assert r.status_code == 422
    assert not sets_session_cookie(r)
    assert state(demo_db) == before


# ---------------------------------------------------------------- brute force


def test_account_is_locked_after_the_failure_limit_even_with_the_right_password(client, demo_db):
    limit = get_settings().login_max_failures
    assert limit == 5
    admin_id = user_id(demo_db, "admin")
    for _ in range(limit):
        assert post_login(client, demo_email("admin"), "guess-guess-guess").status_code == 401
    before = state(demo_db)
    r = post_login(client, demo_email("admin"), DEMO_PASSWORD)
    assert r.status_code == 429
    assert "Too many failed sign-in attempts" in login_error(r.text)
    assert not sets_session_cookie(r)
    assert me(client) == 401
    # the same account written differently is the same account
    r = post_login(client, "  ADMIN@Demo.Example.org ", DEMO_PASSWORD)
    assert r.status_code == 429
    assert state(demo_db) == before
    with demo_db.sessions() as s:
        assert s.get(User, admin_id).last_login_at is None
    # the lock is per account: someone else signs in from the same address
    assert post_login(client, demo_email("viewer"), DEMO_PASSWORD).status_code == 303


def test_lock_ends_when_the_window_has_passed(client, demo_db):
    settings = get_settings()
    for _ in range(settings.login_max_failures):
        post_login(client, demo_email("secretariat"), "guess-guess-guess")
    assert post_login(client, demo_email("secretariat"), DEMO_PASSWORD).status_code == 429
    with demo_db.session() as s:
        s.execute(update(LoginAttempt).values(
            at=accounts.utcnow() - dt.timedelta(minutes=settings.login_window_minutes + 1)))
    assert post_login(client, demo_email("secretariat"), DEMO_PASSWORD).status_code == 303


def test_one_address_is_limited_across_accounts(client, demo_db):
    limit = get_settings().login_max_failures_per_ip
    assert limit == 30
    ip = "203.0.113.7"
    # Earlier failures from this address, one per account so that no account reaches its own limit
    # (recorded directly: each real attempt costs a full Argon2 verification).
    with demo_db.session() as s:
        s.add_all(LoginAttempt(email=demo_email(f"guess{i}"), ip=ip, success=False) for i in range(limit - 1))
    attacker = browser(client, ip=ip)
    assert post_login(attacker, demo_email("guess-last"), "guess-guess-guess").status_code == 401
    before = state(demo_db)
    r = post_login(attacker, demo_email("viewer"), DEMO_PASSWORD)
    assert r.status_code == 429
    assert "Too many failed sign-in attempts" in login_error(r.text)
    assert not sets_session_cookie(r)
    assert state(demo_db) == before
    # the same account from another address is not affected
    assert post_login(browser(client, ip="198.51.100.9"), demo_email("viewer"), DEMO_PASSWORD).status_code == 303


# ---------------------------------------------------------------- CSRF on the sign-in form


def test_sign_in_without_a_valid_csrf_token_is_refused(client, demo_db):
    other = browser(client)
    other_token = csrf_from(other.get("/login").text)
    own_token = csrf_from(client.get("/login").text)
    creds = {"email": demo_email("admin"), "password": DEMO_PASSWORD, "next": "/"}
    before = state(demo_db), count(demo_db, LoginAttempt)
    cases = {
        "missing": {},
        "empty": {"csrf_token": ""},
        "wrong": {"csrf_token": "0" * 64},
        "from another browser": {"csrf_token": other_token},
    }
    for name, extra in cases.items():
        r = client.post("/login", data={**creds, **extra}, follow_redirects=False)
        assert r.status_code == 403, name
        assert not sets_session_cookie(r), name
    # a valid token without the cookie it was made from
    r = browser(client).post("/login", data={**creds, "csrf_token": own_token}, follow_redirects=False)
    assert r.status_code == 403
    assert not sets_session_cookie(r)
    # a forged cookie with a token that does not match it
    forged = browser(client, cookies={CSRF_COOKIE: "forged-cookie"})
    r = forged.post("/login", data={**creds, "csrf_token": own_token}, follow_redirects=False)
    assert r.status_code == 403
    assert me(client) == 401
    assert (state(demo_db), count(demo_db, LoginAttempt)) == before
    # and the genuine pair works, in the form field or in the header
    r = client.post("/login", data=creds, headers={"X-CSRF-Token": own_token}, follow_redirects=False)
    assert r.status_code == 303


def test_after_sign_in_only_the_sessions_own_csrf_token_is_accepted(client, demo_db):
    pre_login_token = csrf_from(client.get("/login").text)
    assert login(client, demo_email("focal.ken")).status_code == 303
    own_token = csrf_from(client.get("/account").text)
    assert own_token != pre_login_token
    other = browser(client)
    assert login(other, demo_email("focal.sen")).status_code == 303
    other_token = csrf_from(other.get("/account").text)
    form = {"name": "csrf probe", "scopes": "read", "days": "30"}
    before = state(demo_db)
    for name, extra in {"missing": {}, "pre-login token": {"csrf_token": pre_login_token},
                        "another session's token": {"csrf_token": other_token},
                        "garbage": {"csrf_token": "<x>"}}.items():
        r = client.post("/account/tokens", data={**form, **extra})
        assert r.status_code == 403, name
    r = client.post("/account/tokens", data=form, headers={"X-CSRF-Token": other_token})
    assert r.status_code == 403
    assert state(demo_db) == before
    r = client.post("/account/tokens", data={**form, "csrf_token": own_token})
    assert r.status_code == 200
    assert count(demo_db, ApiToken) == before[2] + 1


# ---------------------------------------------------------------- session fixation


def test_a_session_value_planted_before_sign_in_is_replaced(client, demo_db):
    planted = "attacker-chosen-session-value-0123456789"
    client.cookies.set(SESSION_COOKIE, planted)
    r = post_login(client, demo_email("viewer"), DEMO_PASSWORD)
    assert r.status_code == 303
    new_value = r.cookies.get(SESSION_COOKIE)
    assert new_value and new_value != planted
    assert count(demo_db, WebSession, WebSession.id == session_id(planted)) == 0
    assert me(browser(client, cookies={SESSION_COOKIE: planted})) == 401
    assert me(browser(client, cookies={SESSION_COOKIE: new_value})) == 200


def test_signing_in_again_ends_the_previous_session(client, demo_db):
    first = post_login(client, demo_email("viewer"), DEMO_PASSWORD).cookies[SESSION_COOKIE]
    assert me(browser(client, cookies={SESSION_COOKIE: first})) == 200
    second = post_login(client, demo_email("focal.ken"), DEMO_PASSWORD).cookies[SESSION_COOKIE]
    assert second != first
    assert me(browser(client, cookies={SESSION_COOKIE: first})) == 401
    assert count(demo_db, WebSession, WebSession.id == session_id(first)) == 0
    assert client.get("/api/me").json()["email"] == demo_email("focal.ken")


def test_session_cookie_value_is_not_stored(client, demo_db):
    value = post_login(client, demo_email("viewer"), DEMO_PASSWORD).cookies[SESSION_COOKIE]
    with demo_db.sessions() as s:
        rows = s.execute(select(WebSession.id, WebSession.csrf_token)).all()
    assert [r.id for r in rows] == [session_id(value)]
    assert value not in {r.csrf_token for r in rows}


# ---------------------------------------------------------------- logout


def test_logout_ends_the_session_on_the_server(client, demo_db):
    value = post_login(client, demo_email("viewer"), DEMO_PASSWORD).cookies[SESSION_COOKIE]
    token = csrf_from(client.get("/account").text)
    # without the CSRF token, a logout is refused and the session lives on
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert me(browser(client, cookies={SESSION_COOKIE: value})) == 200
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert any(h.startswith(f"{SESSION_COOKIE}=") for h in set_cookie_headers(r))  # told to forget it
    assert count(demo_db, WebSession, WebSession.id == session_id(value)) == 0
    # a copy of the old cookie is worthless
    stale = browser(client, cookies={SESSION_COOKIE: value})
    assert me(stale) == 401
    assert stale.get("/account", follow_redirects=False).status_code == 303


# ---------------------------------------------------------------- disabled accounts


def test_disabled_user_cannot_sign_in_and_their_sessions_and_tokens_end(client, demo_db):
    uid = user_id(demo_db, "focal.per")
    value = post_login(client, demo_email("focal.per"), DEMO_PASSWORD).cookies[SESSION_COOKIE]
    with demo_db.session() as s:
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "t", "scopes": ["read"]}, user_id=uid)
    assert me(browser(client, cookies={SESSION_COOKIE: value})) == 200
    # the administrator disables the account through the users page
    admin = browser(client)
    assert login(admin, demo_email("admin")).status_code == 303
    token = csrf_from(admin.get(f"/admin/users/{uid}").text)
    r = admin.post(f"/admin/users/{uid}/active", data={"active": "0", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert count(demo_db, WebSession, WebSession.user_id == uid) == 0
    assert me(browser(client, cookies={SESSION_COOKIE: value})) == 401
    r = browser(client).get("/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401
    before = state(demo_db)
    r = post_login(browser(client), demo_email("focal.per"), DEMO_PASSWORD)
    assert r.status_code == 401
    assert login_error(r.text) == "Wrong e-mail address or password."  # no hint that the account exists
    assert not sets_session_cookie(r)
    assert state(demo_db) == before


# ---------------------------------------------------------------- password change


def _change_password(client, current: str, new: str):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/account").text)
    return client.post("/account/password", data={"current_password": current, "new_password": new,
                                                   "csrf_token": token}, follow_redirects=False)


def test_password_change_needs_the_current_password(client, demo_db):
    user = browser(client)
    value = post_login(user, demo_email("focal.ken"), DEMO_PASSWORD).cookies[SESSION_COOKIE]
    old_hash = password_hash(demo_db, "focal.ken")
    before = state(demo_db)
    for current in ("", "wrong-current-password"):
        r = _change_password(user, current, "a-brand-new-password")
        assert r.status_code == 422, (current, r.status_code)
        assert "The current password is wrong." in r.text
        assert password_hash(demo_db, "focal.ken") == old_hash
        assert state(demo_db) == before
        assert me(browser(client, cookies={SESSION_COOKIE: value})) == 200
    # with it, the password changes and every session of the account ends
    r = _change_password(user, DEMO_PASSWORD, "a-brand-new-password")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?changed=1"
    assert password_hash(demo_db, "focal.ken") != old_hash
    assert me(browser(client, cookies={SESSION_COOKIE: value})) == 401
    assert post_login(browser(client), demo_email("focal.ken"), DEMO_PASSWORD).status_code == 401
    assert post_login(browser(client), demo_email("focal.ken"), "a-brand-new-password").status_code == 303
    # the audit log records the change, without the hash
    with demo_db.sessions() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.object_type == "user_account")
                          .order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert "password_hash" in (entry.after or "")
    assert "argon2" not in (entry.after or "") and "argon2" not in (entry.before or "")


def test_administrator_changing_own_password_needs_the_current_one_too(client, demo_db):
    """A stolen administrator session alone must not be enough to take the account over."""
    admin = browser(client)
    assert post_login(admin, demo_email("admin"), DEMO_PASSWORD).status_code == 303
    old_hash = password_hash(demo_db, "admin")
    before = state(demo_db)
    for current in ("", "wrong-current-password"):
        r = _change_password(admin, current, "a-brand-new-password")
        assert r.status_code == 422, (current, r.status_code)
    assert password_hash(demo_db, "admin") == old_hash
    assert state(demo_db) == before
    assert _change_password(admin, DEMO_PASSWORD, "a-brand-new-password").status_code == 303
    assert password_hash(demo_db, "admin") != old_hash


def test_too_short_new_password_is_refused(client, demo_db):
    user = browser(client)
    assert post_login(user, demo_email("viewer"), DEMO_PASSWORD).status_code == 303
    old_hash, before = password_hash(demo_db, "viewer"), state(demo_db)
    r = _change_password(user, DEMO_PASSWORD, "short")
    assert r.status_code == 422
    assert (password_hash(demo_db, "viewer"), state(demo_db)) == (old_hash, before)


def test_administrator_may_reset_another_users_password_without_theirs(demo_db):
    uid = user_id(demo_db, "viewer")
    with demo_db.sessions() as s:
        admin = accounts.principal_for(accounts.find_user(s, demo_email("admin")), via="session")
    old_hash = password_hash(demo_db, "viewer")
    with demo_db.session() as s:
        accounts.set_password(s, admin, uid, "reset-by-the-admin")
    assert password_hash(demo_db, "viewer") != old_hash


def test_nobody_else_may_change_a_password(demo_db):
    uid = user_id(demo_db, "viewer")
    with demo_db.sessions() as s:
        secretariat = accounts.principal_for(accounts.find_user(s, demo_email("secretariat")), via="session")
    old_hash, before = password_hash(demo_db, "viewer"), count(demo_db, AuditEntry)
    with demo_db.sessions() as s:
        with pytest.raises(accounts.Forbidden):
            accounts.set_password(s, secretariat, uid, "taken-over-password", DEMO_PASSWORD)
        s.commit()
    assert (password_hash(demo_db, "viewer"), count(demo_db, AuditEntry)) == (old_hash, before)

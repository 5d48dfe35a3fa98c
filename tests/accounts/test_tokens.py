"""API tokens: expiry, revocation, scopes, malformed headers, hashed storage, and the limits on
which tokens a token (or a user) may create."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import func, select, text, update

from dho.accounts import service as accounts
from dho.accounts.models import ApiToken, Organisation, User
from dho.accounts.permissions import CLI_OPERATOR
from dho.audit.models import AuditEntry
from dho.db import Base
from dho.errors import Forbidden
from tests.conftest import csrf_from, demo_email, login

NEW_ORG = {"name": "Token probe organisation", "kind": "ngo"}


def count(db, model, *where) -> int:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def written(db) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    return count(db, AuditEntry), count(db, Organisation), count(db, ApiToken), count(db, User)


def make_token(db, local: str, scopes: list[str], days: int = 30) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        uid = accounts.find_user(s, demo_email(local)).id
        token, secret = accounts.create_token(s, CLI_OPERATOR, {"name": f"{local} {'+'.join(scopes)}",
                                                                "scopes": scopes, "days": days}, user_id=uid)
        return token.id, secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_401(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Bearer" in response.headers.get("www-authenticate", "")
    body = response.json()
    assert body["status"] == 401 and body["type"] == "/problems/unauthenticated"


# ---------------------------------------------------------------- expiry and revocation


def test_a_valid_token_identifies_its_user(client, demo_db):
    _id, secret = make_token(demo_db, "focal.ken", ["read"])
    r = client.get("/api/me", headers=bearer(secret))
    assert r.status_code == 200
    assert r.json()["email"] == demo_email("focal.ken")


def test_expired_token_is_refused(client, demo_db):
    token_id, secret = make_token(demo_db, "admin", ["read", "write"])
    with demo_db.session() as s:
        s.execute(update(ApiToken).where(ApiToken.id == token_id)
                  .values(expires_at=accounts.utcnow() - dt.timedelta(seconds=1)))
    before = written(demo_db)
    r = client.post("/api/organisations", json=NEW_ORG, headers=bearer(secret))
    assert_401(r)
    assert "expired" in r.json()["detail"]
    assert_401(client.get("/api/me", headers=bearer(secret)))
    assert written(demo_db) == before


def test_revoked_token_is_refused(client, demo_db):
    token_id, secret = make_token(demo_db, "admin", ["read", "write"])
    assert client.get("/api/me", headers=bearer(secret)).status_code == 200
    # a token may revoke itself
    assert client.delete(f"/api/tokens/{token_id}", headers=bearer(secret)).status_code == 204
    with demo_db.sessions() as s:
        assert s.get(ApiToken, token_id).revoked_at is not None
    before = written(demo_db)
    r = client.post("/api/organisations", json=NEW_ORG, headers=bearer(secret))
    assert_401(r)
    assert "revoked" in r.json()["detail"]
    assert written(demo_db) == before


def test_token_of_a_disabled_account_is_refused(client, demo_db):
    _id, secret = make_token(demo_db, "secretariat", ["read", "write"])
    with demo_db.session() as s:
        accounts.set_active(s, CLI_OPERATOR, accounts.find_user(s, demo_email("secretariat")).id, False)
    before = written(demo_db)
    r = client.post("/api/organisations", json=NEW_ORG, headers=bearer(secret))
    assert_401(r)
    assert written(demo_db) == before


# ---------------------------------------------------------------- scopes


def test_read_only_token_cannot_write(client, demo_db):
    _id, secret = make_token(demo_db, "admin", ["read"])
    with demo_db.sessions() as s:
        org_id = s.execute(select(Organisation.id).where(Organisation.acronym == "OCC")).scalar_one()
    before = written(demo_db)
    for method, path, body in [
        ("POST", "/api/organisations", NEW_ORG),
        ("PATCH", f"/api/organisations/{org_id}", {"version": 1, "acronym": "X"}),
        ("DELETE", f"/api/organisations/{org_id}", None),
        ("POST", "/api/tokens", {"name": "more", "scopes": ["read"]}),
    ]:
        r = client.request(method, path, json=body, headers=bearer(secret))
        assert r.status_code == 403, (method, path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "'write' scope" in r.json()["detail"], r.json()["detail"]
    assert written(demo_db) == before
    # reading is what it is for
    assert client.get("/api/audit?limit=1", headers=bearer(secret)).status_code == 200


def test_write_only_token_cannot_read_the_audit_log(client, demo_db):
    _id, secret = make_token(demo_db, "admin", ["write"])
    r = client.get("/api/audit?limit=1", headers=bearer(secret))
    assert r.status_code == 403
    assert "'read' scope" in r.json()["detail"]


def test_user_management_needs_the_admin_scope(client, demo_db):
    body = {"email": "scoped.user@demo.example.org", "display_name": "Scoped"}
    _id, rw = make_token(demo_db, "admin", ["read", "write"])
    before = written(demo_db)
    r = client.post("/api/users", json=body, headers=bearer(rw))
    assert r.status_code == 403
    assert "'admin' scope" in r.json()["detail"]
    assert written(demo_db) == before
    _id, full = make_token(demo_db, "admin", ["read", "write", "admin"])
    assert client.post("/api/users", json=body, headers=bearer(full)).status_code == 201


def test_admin_scope_token_loses_its_power_with_the_role(client, demo_db):
    _id, secret = make_token(demo_db, "admin", ["read", "write", "admin"])
    with demo_db.session() as s:
        admin = accounts.find_user(s, demo_email("admin"))
        accounts.revoke_role(s, CLI_OPERATOR, admin.grants[0].id)
    before = written(demo_db)
    r = client.post("/api/users", json={"email": "late@demo.example.org", "display_name": "Late"},
                    headers=bearer(secret))
    assert r.status_code == 403
    assert written(demo_db) == before


# ---------------------------------------------------------------- malformed headers


def test_malformed_authorization_headers_are_401(client, demo_db):
    _id, secret = make_token(demo_db, "admin", ["read", "write"])
    _dho, prefix, raw = secret.split("_", 2)
    headers = {
        "no scheme": secret,
        "Token scheme": f"Token {secret}",
        "Basic scheme": "Basic YWRtaW46ZGVtby1wYXNzd29yZA==",
        "Bearer without value": "Bearer",
        "Bearer with blanks": "Bearer    ",
        "garbage": "Bearer garbage",
        "overlong": "Bearer " + "dho_" + prefix + "_" + "A" * 8000,
        "wrong prefix": f"Bearer xyz_{prefix}_{raw}",
        "empty token prefix": f"Bearer dho__{raw}",
        "unknown token prefix": f"Bearer dho_000000000000_{raw}",
        "right prefix, wrong secret": f"Bearer dho_{prefix}_{'x' * len(raw)}",
        "right prefix, secret with extra": f"Bearer dho_{prefix}_{raw}x",
        "right prefix, truncated secret": f"Bearer dho_{prefix}_{raw[:-1]}",
        "two tokens": f"Bearer {secret} {secret}",
    }
    before = written(demo_db)
    for name, value in headers.items():
        r = client.post("/api/organisations", json=NEW_ORG, headers={"Authorization": value})
        assert r.status_code == 401, (name, r.status_code, r.text[:200])
        assert_401(r)
        assert_401(client.get("/api/me", headers={"Authorization": value}))
    assert written(demo_db) == before
    # the genuine header, for contrast
    assert client.post("/api/organisations", json=NEW_ORG, headers=bearer(secret)).status_code == 201


def test_bad_authorization_header_does_not_fall_back_to_the_session_cookie(client, demo_db):
    """A header that fails must not let the request ride on the browser's session (and skip CSRF)."""
    assert login(client, demo_email("admin")).status_code == 303
    assert client.get("/api/me").status_code == 200
    before = written(demo_db)
    for value in ("Bearer garbage", "Basic YWRtaW46ZGVtby1wYXNzd29yZA=="):
        r = client.post("/api/organisations", json=NEW_ORG, headers={"Authorization": value})
        assert_401(r)
    assert written(demo_db) == before


# ---------------------------------------------------------------- storage


def _all_stored_text(db) -> str:  # type: ignore[no-untyped-def]
    """Every value of every table, as one string."""
    parts = []
    with db.sessions() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).all():
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_tokens_are_stored_hashed(client, demo_db):
    assert login(client, demo_email("focal.ken")).status_code == 303
    token = csrf_from(client.get("/account").text)
    r = client.post("/api/tokens", json={"name": "hashed", "scopes": ["read", "write"]},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 201
    created = r.json()
    secret = created["token"]
    dho, prefix, raw = secret.split("_", 2)
    assert (dho, prefix) == ("dho", created["prefix"])
    with demo_db.sessions() as s:
        row = s.get(ApiToken, created["id"])
        assert row.secret_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert s.execute(text("SELECT count(*) FROM api_token WHERE secret_hash = :h"),
                         {"h": hashlib.sha256(raw.encode()).hexdigest()}).scalar_one() == 1
    stored = _all_stored_text(demo_db)
    assert raw not in stored and secret not in stored
    # shown once: neither the listing nor the account page gives it again
    listing = client.get("/api/tokens").text
    assert raw not in listing and created["prefix"] in listing
    assert raw not in client.get("/account").text
    # and the audit entry for it has the hash redacted
    with demo_db.sessions() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.object_type == "api_token",
                                                   AuditEntry.object_id == str(created["id"]))).scalar_one()
    assert row.secret_hash not in (entry.after or "") and raw not in (entry.after or "")
    assert json.loads(entry.after)["secret_hash"].startswith("[redacted")


# ---------------------------------------------------------------- what a token may create


def test_a_token_cannot_create_a_token_with_more_scopes(client, demo_db):
    _id, rw = make_token(demo_db, "admin", ["read", "write"])
    _id, w = make_token(demo_db, "admin", ["write"])
    before = written(demo_db)
    for secret, scopes in ((rw, ["read", "write", "admin"]), (rw, ["admin"]), (w, ["read"]), (w, ["read", "write"])):
        r = client.post("/api/tokens", json={"name": "wider", "scopes": scopes}, headers=bearer(secret))
        assert r.status_code == 403, (scopes, r.text)
        assert "more scopes" in r.json()["detail"]
    assert written(demo_db) == before
    # the same or fewer is fine
    r = client.post("/api/tokens", json={"name": "narrower", "scopes": ["read"]}, headers=bearer(rw))
    assert r.status_code == 201
    assert r.json()["scopes"] == "read"


def test_admin_scope_is_for_administrators_only(client, demo_db):
    body = {"name": "wants admin", "scopes": ["read", "admin"]}
    # a non-administrator's write token
    _id, focal = make_token(demo_db, "focal.ken", ["read", "write"])
    before = written(demo_db)
    r = client.post("/api/tokens", json=body, headers=bearer(focal))
    assert r.status_code == 403
    assert "administrators" in r.json()["detail"]
    # the account page of a non-administrator
    assert login(client, demo_email("secretariat")).status_code == 303
    page = client.get("/account")
    assert 'value="admin"' not in page.text  # not even offered
    r = client.post("/account/tokens", data={"name": "sneaky", "scopes": ["read", "admin"], "days": "30",
                                             "csrf_token": csrf_from(page.text)})
    assert r.status_code == 422
    assert "administrators" in r.text
    assert written(demo_db) == before
    # not even the command-line operator can give a non-administrator an admin token
    with demo_db.sessions() as s:
        uid = accounts.find_user(s, demo_email("secretariat")).id
        with pytest.raises(Forbidden):
            accounts.create_token(s, CLI_OPERATOR, body, user_id=uid)
        s.commit()
    assert written(demo_db) == before
    # an administrator may hold one
    _id, admin_rw_admin = make_token(demo_db, "admin", ["read", "write", "admin"])
    r = client.post("/api/tokens", json=body, headers=bearer(admin_rw_admin))
    assert r.status_code == 201
    assert r.json()["scopes"] == "admin read"


def test_a_token_cannot_be_created_for_someone_else_through_the_api(client, demo_db):
    _id, secret = make_token(demo_db, "admin", ["read", "write", "admin"])
    with demo_db.sessions() as s:
        victim = accounts.find_user(s, demo_email("viewer")).id
    before = written(demo_db)
    for extra in ({"user_id": victim}, {"user": victim}, {"owner_user_id": victim}):
        r = client.post("/api/tokens", json={"name": "for them", "scopes": ["read"], **extra},
                        headers=bearer(secret))
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == [next(iter(extra))]
    assert written(demo_db) == before


def test_invalid_token_requests_are_422(client, demo_db):
    _id, secret = make_token(demo_db, "admin", ["read", "write"])
    before = written(demo_db)
    for body, field in [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["read", "root"]}, "scopes.1"),
        ({"name": "x", "scopes": "read"}, "scopes"),
        ({"name": "x", "scopes": ["read"], "days": 0}, "days"),
        ({"name": "x", "scopes": ["read"], "days": 367}, "days"),
        ({"name": "x", "scopes": ["read"], "days": "forever"}, "days"),
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "x" * 201, "scopes": ["read"]}, "name"),
        ({"name": "bell\x07", "scopes": ["read"]}, "name"),
        ({"scopes": ["read"]}, "name"),
    ]:
        r = client.post("/api/tokens", json=body, headers=bearer(secret))
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in r.json()["errors"]], (body, r.json()["errors"])
    assert written(demo_db) == before

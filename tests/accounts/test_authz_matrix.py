"""Who may do what: every write (and the audit reads) of the accounts, reference and audit services,
tried by every role, on its own and on someone else's country or organisation, through the service
layer and through the HTTP API.

The expected table below is written from what each role is for, not read from ``RULES``:

* admin — runs the platform: everything.
* secretariat — reviews and publishes everywhere and keeps the organisation master list; reads the
  audit log. No user management, no reference loads.
* regional — reviews in one WHO region. No organisation, user, token-for-others or reference writes.
* country_focal_point — edits and approves one country's data, which includes the organisations of
  that country (add, edit), but not deleting from the master list or anything elsewhere.
* partner — edits its own organisation's records, which includes the organisation's own entry.
* viewer — reads only.
* anonymous — reads published data only; every write is "sign in first" (401).

Every authenticated user manages their own API tokens (create, revoke); only an administrator
acts on another user's tokens.

A refused attempt must write nothing: the audit log and the target table are counted before and
after, and the session is even committed after the refusal (as a careless caller might).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, update

from dho.accounts import service as accounts
from dho.accounts.models import ApiToken, Organisation, RoleGrant, User
from dho.accounts.permissions import ANONYMOUS, CLI_OPERATOR, Principal
from dho.audit import service as audit
from dho.audit.models import AuditEntry
from dho.errors import DomainError, Forbidden, Unauthenticated
from dho.reference import service as reference
from dho.reference.models import Country
from tests.conftest import csrf_from, demo_email, login

ADMIN, SECRETARIAT, REGIONAL, FOCAL, PARTNER, VIEWER, ANON = (
    "admin", "secretariat", "regional", "focal", "partner", "viewer", "anonymous")
ROLES = [ADMIN, SECRETARIAT, REGIONAL, FOCAL, PARTNER, VIEWER, ANON]
# The demo account that holds each role: regional AFR (Kenya is in AFR), focal point of Kenya,
# partner of the Northwind Health Fund (NHF, an organisation without a country).
ACCOUNTS = {ADMIN: "admin", SECRETARIAT: "secretariat", REGIONAL: "regional.afr", FOCAL: "focal.ken",
            PARTNER: "partner.northwind", VIEWER: "viewer"}
AUTHENTICATED = frozenset(ACCOUNTS)

# ---------------------------------------------------------------- the expected table
# operation -> the roles that may do it. Everyone else is refused (anonymous: 401, others: 403).
EXPECTED: dict[str, frozenset[str]] = {
    "organisation.create own country (KEN)": frozenset({ADMIN, SECRETARIAT, FOCAL}),
    "organisation.create other country (PER)": frozenset({ADMIN, SECRETARIAT}),
    "organisation.create no country": frozenset({ADMIN, SECRETARIAT}),
    "organisation.update own country (MOH-KEN)": frozenset({ADMIN, SECRETARIAT, FOCAL}),
    "organisation.update other country (MOH-PER)": frozenset({ADMIN, SECRETARIAT}),
    "organisation.update own organisation (NHF)": frozenset({ADMIN, SECRETARIAT, PARTNER}),
    "organisation.update other organisation (LHS)": frozenset({ADMIN, SECRETARIAT}),
    "organisation.update move own-country organisation to PER": frozenset({ADMIN, SECRETARIAT}),
    "organisation.delete own country": frozenset({ADMIN, SECRETARIAT}),
    "organisation.delete other country": frozenset({ADMIN, SECRETARIAT}),
    "organisation.delete no country": frozenset({ADMIN, SECRETARIAT}),
    "user.create": frozenset({ADMIN}),
    "user.create in own organisation": frozenset({ADMIN}),
    "grant role in own country": frozenset({ADMIN}),
    "grant role in other country": frozenset({ADMIN}),
    "revoke role in own country": frozenset({ADMIN}),
    "revoke role in other country": frozenset({ADMIN}),
    "disable user of own country": frozenset({ADMIN}),
    "disable user of other country": frozenset({ADMIN}),
    "token.create for self": AUTHENTICATED,
    "token.create for another user": frozenset({ADMIN}),
    "token.revoke own": AUTHENTICATED,
    "token.revoke another user's": frozenset({ADMIN}),
    "reference.load": frozenset({ADMIN}),
    "audit.read": frozenset({ADMIN, SECRETARIAT}),
    "audit.verify": frozenset({ADMIN, SECRETARIAT}),
}
# Operations that act on "oneself": not applicable to the anonymous public, which has no self.
SELF_OPS = {"token.create for self", "token.revoke own"}
# Reads: allowed means an answer and still nothing written.
READ_OPS = {"audit.read", "audit.verify"}


def test_expected_table_covers_every_role_name():
    for op, roles in EXPECTED.items():
        assert roles <= set(ROLES) - {ANON}, op


# ---------------------------------------------------------------- the world each test acts on


@dataclass
class World:
    db: Any
    org: dict[str, int]  # MOH-KEN, MOH-PER, NHF, LHS, DEL-KEN, DEL-PER, DEL-NONE
    user: dict[str, int]  # role -> user id, target.ken, target.per
    grant: dict[str, int]  # target.ken / target.per -> their focal point grant
    token: dict[str, int]  # role -> a token of that role's user; "other" -> target.per's token


def _scalar(db, stmt) -> Any:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return s.execute(stmt).scalar_one_or_none()


def _count(db, model, *where) -> int:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _audit_count(db) -> int:  # type: ignore[no-untyped-def]
    return _count(db, AuditEntry)


def build_world(db) -> World:  # type: ignore[no-untyped-def]
    """Targets for every operation, made by the command-line operator before anything is counted."""
    with db.session() as s:
        def org_id(name: str) -> int:
            return s.execute(select(Organisation.id).where(Organisation.name == name)).scalar_one()

        org = {
            "MOH-KEN": org_id("Ministry of Health, KEN (demo)"),
            "MOH-PER": org_id("Ministry of Health, PER (demo)"),
            "NHF": org_id("Northwind Health Fund (demo)"),
            "LHS": org_id("Lattice Health Systems (demo)"),
        }
        for iso3 in ("KEN", "PER"):  # organisations nothing refers to, so that they may be deleted
            org[f"DEL-{iso3}"] = accounts.create_organisation(s, CLI_OPERATOR, {
                "name": f"Unreferenced network {iso3} (matrix)", "kind": "ngo", "country_iso3": iso3}).id
        org["DEL-NONE"] = accounts.create_organisation(
            s, CLI_OPERATOR, {"name": "Unreferenced global body (matrix)", "kind": "other"}).id
        user = {role: accounts.find_user(s, demo_email(local)).id for role, local in ACCOUNTS.items()}
        grant = {}
        for iso3 in ("KEN", "PER"):
            target = accounts.create_user(s, CLI_OPERATOR, {
                "email": f"target.{iso3.lower()}@demo.example.org", "display_name": f"Target {iso3}",
                "organisation_id": org[f"MOH-{iso3}"]})
            user[f"target.{iso3.lower()}"] = target.id
            grant[f"target.{iso3.lower()}"] = accounts.grant_role(
                s, CLI_OPERATOR, target.id, {"role": "country_focal_point", "country_iso3": iso3}).id
        token = {}
        for key, uid in [*((r, user[r]) for r in ACCOUNTS), ("other", user["target.per"])]:
            token[key] = accounts.create_token(s, CLI_OPERATOR, {"name": f"revocable {key}", "scopes": ["read"]},
                                               user_id=uid)[0].id
    # A reference row drifted from the release, so that an allowed reload has something to write.
    with db.session() as s:
        s.execute(update(Country).where(Country.iso3 == "KEN").values(name="Kenya (drifted)"))
    return World(db, org, user, grant, token)


def _org_state(w: World, key: str) -> Any:
    with w.db.sessions() as s:
        o = s.get(Organisation, w.org[key])
        return None if o is None else (o.version, o.acronym, o.country_iso3)


# ---------------------------------------------------------------- operations


@dataclass
class Op:
    name: str
    service: Callable[[Any, Principal, World, str], Any] | None  # (session, principal, world, role)
    http: Callable[[Any, dict[str, str], World, str], Any] | None  # (client, headers, world, role)
    probe: Callable[[World, str], Any]  # (world, role) -> the target's state
    http_ok: int | None = None


def _version(db, org_id: int) -> int:  # type: ignore[no-untyped-def]
    return _scalar(db, select(Organisation.version).where(Organisation.id == org_id))


def _org_create(name: str, iso3: str | None) -> Op:
    body = {"name": name, "kind": "ngo", **({"country_iso3": iso3} if iso3 else {})}
    return Op(
        "",
        lambda s, p, w, r: accounts.create_organisation(s, p, dict(body)),
        lambda c, h, w, r: c.post("/api/organisations", json=body, headers=h),
        lambda w, r: (_count(w.db, Organisation), _count(w.db, Organisation, Organisation.name == name)),
        201,
    )


def _org_update(key: str, change: dict[str, Any]) -> Op:
    def service(s, p, w, r):  # type: ignore[no-untyped-def]
        org = s.get(Organisation, w.org[key])
        return accounts.update_organisation(s, p, org.id, {"version": org.version, **change})

    def http(c, h, w, r):  # type: ignore[no-untyped-def]
        return c.patch(f"/api/organisations/{w.org[key]}", json={"version": _version(w.db, w.org[key]), **change},
                       headers=h)

    return Op("", service, http, lambda w, r: (_count(w.db, Organisation), _org_state(w, key)), 200)


def _org_delete(key: str) -> Op:
    return Op(
        "",
        lambda s, p, w, r: accounts.delete_organisation(s, p, w.org[key]),
        lambda c, h, w, r: c.delete(f"/api/organisations/{w.org[key]}", headers=h),
        lambda w, r: (_count(w.db, Organisation), _count(w.db, Organisation, Organisation.id == w.org[key])),
        204,
    )


def _user_create(email: str, in_own_organisation: bool) -> Op:
    def body(w: World, role: str) -> dict[str, Any]:
        # "own organisation": the acting user's own organisation (the ministry of a focal point, NHF
        # for the partner...); for the anonymous public, Kenya's ministry.
        org_id = None
        if in_own_organisation:
            uid = w.user.get(role)
            org_id = w.org["MOH-KEN"] if uid is None else \
                _scalar(w.db, select(User.organisation_id).where(User.id == uid))
        return {"email": email, "display_name": "New Person", "organisation_id": org_id}

    return Op(
        "",
        lambda s, p, w, r: accounts.create_user(s, p, body(w, r)),
        lambda c, h, w, r: c.post("/api/users", json=body(w, r), headers=h),
        lambda w, r: (_count(w.db, User), _count(w.db, User, User.email == email)),
        201,
    )


def _grant(target: str, iso3: str) -> Op:
    body = {"role": "viewer", "country_iso3": iso3}
    return Op(
        "",
        lambda s, p, w, r: accounts.grant_role(s, p, w.user[target], dict(body)),
        lambda c, h, w, r: c.post(f"/api/users/{w.user[target]}/grants", json=body, headers=h),
        lambda w, r: (_count(w.db, RoleGrant), _count(w.db, RoleGrant, RoleGrant.user_id == w.user[target],
                                                        RoleGrant.role == "viewer")),
        201,
    )


def _revoke(target: str) -> Op:
    return Op(
        "",
        lambda s, p, w, r: accounts.revoke_role(s, p, w.grant[target]),
        lambda c, h, w, r: c.delete(f"/api/grants/{w.grant[target]}", headers=h),
        lambda w, r: (_count(w.db, RoleGrant), _count(w.db, RoleGrant, RoleGrant.id == w.grant[target])),
        204,
    )


def _disable(target: str) -> Op:
    # There is no JSON endpoint for this; the administrators' page takes the same token.
    return Op(
        "",
        lambda s, p, w, r: accounts.set_active(s, p, w.user[target], False),
        lambda c, h, w, r: c.post(f"/admin/users/{w.user[target]}/active", data={"active": "0"}, headers=h,
                                      follow_redirects=False),
        lambda w, r: (_count(w.db, User), _scalar(w.db, select(User.is_active).where(User.id == w.user[target]))),
        303,
    )


def _token_create(for_self: bool) -> Op:
    body = {"name": "matrix token", "scopes": ["read"]}

    def owner(w: World, role: str) -> int:
        return w.user[role] if for_self else w.user["target.ken"]

    return Op(
        "",
        lambda s, p, w, r: accounts.create_token(s, p, dict(body), user_id=None if for_self else owner(w, r)),
        # The API creates tokens for oneself only; there is no way to name another user.
        (lambda c, h, w, r: c.post("/api/tokens", json=body, headers=h)) if for_self else None,
        lambda w, r: (_count(w.db, ApiToken), _count(w.db, ApiToken, ApiToken.user_id == owner(w, r),
                                                      ApiToken.name == "matrix token")),
        201,
    )


def _token_revoke(whose: str) -> Op:
    def token_id(w: World, role: str) -> int:
        return w.token[role] if whose == "own" else w.token["other"]

    return Op(
        "",
        lambda s, p, w, r: accounts.revoke_token(s, p, token_id(w, r)),
        lambda c, h, w, r: c.delete(f"/api/tokens/{token_id(w, r)}", headers=h),
        lambda w, r: (_count(w.db, ApiToken),
                          _scalar(w.db, select(ApiToken.revoked_at).where(ApiToken.id == token_id(w, r)))),
        204,
    )


OPS: dict[str, Op] = {
    "organisation.create own country (KEN)": _org_create("Matrix body KEN", "KEN"),
    "organisation.create other country (PER)": _org_create("Matrix body PER", "PER"),
    "organisation.create no country": _org_create("Matrix body global", None),
    "organisation.update own country (MOH-KEN)": _org_update("MOH-KEN", {"acronym": "MX-KEN"}),
    "organisation.update other country (MOH-PER)": _org_update("MOH-PER", {"acronym": "MX-PER"}),
    "organisation.update own organisation (NHF)": _org_update("NHF", {"acronym": "MX-NHF"}),
    "organisation.update other organisation (LHS)": _org_update("LHS", {"acronym": "MX-LHS"}),
    "organisation.update move own-country organisation to PER": _org_update("DEL-KEN", {"country_iso3": "PER"}),
    "organisation.delete own country": _org_delete("DEL-KEN"),
    "organisation.delete other country": _org_delete("DEL-PER"),
    "organisation.delete no country": _org_delete("DEL-NONE"),
    "user.create": _user_create("new.person@demo.example.org", False),
    "user.create in own organisation": _user_create("colleague@demo.example.org", True),
    "grant role in own country": _grant("target.ken", "KEN"),
    "grant role in other country": _grant("target.per", "PER"),
    "revoke role in own country": _revoke("target.ken"),
    "revoke role in other country": _revoke("target.per"),
    "disable user of own country": _disable("target.ken"),
    "disable user of other country": _disable("target.per"),
    "token.create for self": _token_create(True),
    "token.create for another user": _token_create(False),
    "token.revoke own": _token_revoke("own"),
    "token.revoke another user's": _token_revoke("other"),
    "reference.load": Op(
        "", lambda s, p, w, r: reference.load(s, p), None,
        lambda w, r: _scalar(w.db, select(Country.name).where(Country.iso3 == "KEN"))),
    "audit.read": Op(
        "", lambda s, p, w, r: audit.search(s, p, limit=5),
        lambda c, h, w, r: c.get("/api/audit?limit=5", headers=h),
        lambda w, r: None, 200),
    "audit.verify": Op(
        "", lambda s, p, w, r: audit.verify(s, p),
        lambda c, h, w, r: c.get("/api/audit/verify", headers=h),
        lambda w, r: None, 200),
}
for _name, _op in OPS.items():
    _op.name = _name


def test_every_expected_operation_is_exercised():
    assert set(OPS) == set(EXPECTED)


def _principal(db, role: str) -> Principal:  # type: ignore[no-untyped-def]
    if role == ANON:
        return ANONYMOUS
    with db.sessions() as s:
        return accounts.principal_for(accounts.find_user(s, demo_email(ACCOUNTS[role])), via="session")


def _ops_for(role: str) -> list[Op]:
    return [op for name, op in OPS.items() if not (role == ANON and name in SELF_OPS)]


def _newest_actors(db, n: int) -> set[str]:  # type: ignore[no-untyped-def]
    with db.sessions() as s:
        return set(s.execute(select(AuditEntry.actor).order_by(AuditEntry.seq.desc()).limit(n)).scalars())


# ---------------------------------------------------------------- service layer


def _check_outcome(db, role: str, op: Op, w: World, allowed: bool, before: tuple, after: tuple,  # type: ignore[no-untyped-def]
                   outcome: Any) -> list[str]:
    problems = []
    audit_before, state_before = before
    audit_after, state_after = after
    if allowed:
        if isinstance(outcome, DomainError):
            problems.append(f"{op.name}: expected allowed, got {type(outcome).__name__}: {outcome.detail}")
        elif op.name in READ_OPS:
            if audit_after != audit_before:
                problems.append(f"{op.name}: a read wrote {audit_after - audit_before} audit entries")
        else:
            if audit_after <= audit_before:
                problems.append(f"{op.name}: allowed write left no audit entry")
            elif _newest_actors(db, audit_after - audit_before) != {demo_email(ACCOUNTS[role])}:
                problems.append(f"{op.name}: audit entries not attributed to {role}")
            if state_after == state_before:
                problems.append(f"{op.name}: allowed write changed nothing ({state_before!r})")
    else:
        expected_error = Unauthenticated if role == ANON else Forbidden
        if not isinstance(outcome, expected_error):
            got = f"{type(outcome).__name__}: {getattr(outcome, 'detail', outcome)}" if outcome is not None \
                else "success"
            problems.append(f"{op.name}: expected {expected_error.__name__}, got {got}")
        if audit_after != audit_before:
            problems.append(f"{op.name}: refused attempt wrote {audit_after - audit_before} audit entries")
        if state_after != state_before:
            problems.append(f"{op.name}: refused attempt changed {state_before!r} -> {state_after!r}")
    return problems


def run_service_matrix(db, role: str) -> list[str]:  # type: ignore[no-untyped-def]
    w = build_world(db)
    principal = _principal(db, role)
    problems = []
    for op in _ops_for(role):
        allowed = role in EXPECTED[op.name]
        before = (_audit_count(db), op.probe(w, role))
        outcome: Any = None
        with db.sessions() as s:
            try:
                outcome = op.service(s, principal, w, role)
            except DomainError as exc:
                outcome = exc
            s.commit()  # a refusal must leave nothing behind even if the caller commits anyway
        after = (_audit_count(db), op.probe(w, role))
        problems += _check_outcome(db, role, op, w, allowed, before, after, outcome)
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_service_matrix(demo_db, role):
    problems = run_service_matrix(demo_db, role)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- HTTP API


def _headers(db, role: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A Bearer token of the role's user, read+write (an administrator's also carries admin, which
    user management needs), created by the command-line operator."""
    if role == ANON:
        return {}
    scopes = ["read", "write", "admin"] if role == ADMIN else ["read", "write"]
    with db.session() as s:
        uid = accounts.find_user(s, demo_email(ACCOUNTS[role])).id
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "matrix http", "scopes": scopes}, user_id=uid)
    return {"Authorization": f"Bearer {secret}"}


def run_http_matrix(client, db, role: str) -> list[str]:  # type: ignore[no-untyped-def]
    w = build_world(db)
    headers = _headers(db, role)
    problems = []
    for op in _ops_for(role):
        if op.http is None:
            continue
        allowed = role in EXPECTED[op.name]
        before = (_audit_count(db), op.probe(w, role))
        client.cookies.clear()  # an API client, not a browser: no cookie from an earlier answer
        response = op.http(client, headers, w, role)
        after = (_audit_count(db), op.probe(w, role))
        status = response.status_code
        if allowed:
            if status != op.http_ok:
                problems.append(f"{op.name}: expected {op.http_ok}, got {status} {response.text[:200]}")
            elif op.name in READ_OPS:
                if after[0] != before[0]:
                    problems.append(f"{op.name}: a read wrote audit entries")
            else:
                if after[0] <= before[0]:
                    problems.append(f"{op.name}: allowed write left no audit entry")
                elif _newest_actors(db, after[0] - before[0]) != {demo_email(ACCOUNTS[role])}:
                    problems.append(f"{op.name}: audit entries not attributed to {role}")
                if after[1] == before[1]:
                    problems.append(f"{op.name}: allowed write changed nothing")
        else:
            is_api = op.http_ok != 303  # the one HTML route (disable) answers with an error page
            # Anonymous: the API says "sign in" (401); a browser form without its CSRF token is
            # refused before anything else (403).
            wanted = {403} if role != ANON else {401} if is_api else {401, 403}
            if status not in wanted:
                problems.append(f"{op.name}: expected {sorted(wanted)}, got {status} {response.text[:200]}")
            if after != before:
                problems.append(f"{op.name}: refused request wrote something: {before!r} -> {after!r}")
            if is_api and not response.headers.get("content-type", "").startswith("application/problem+json"):
                problems.append(f"{op.name}: refusal is not problem+json")
            if status == 401 and is_api and "Bearer" not in response.headers.get("www-authenticate", ""):
                problems.append(f"{op.name}: 401 without WWW-Authenticate: Bearer")
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_http_matrix(client, demo_db, role):
    problems = run_http_matrix(client, demo_db, role)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- details worth their own tests


def test_read_write_token_of_admin_cannot_manage_users(client, demo_db):
    """User management needs the admin scope even for an administrator: read+write is not enough."""
    with demo_db.session() as s:
        admin = accounts.find_user(s, demo_email("admin"))
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "rw", "scopes": ["read", "write"]},
                                           user_id=admin.id)
    users, audit_n = _count(demo_db, User), _audit_count(demo_db)
    r = client.post("/api/users", json={"email": "nobody@demo.example.org", "display_name": "N"},
                    headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 403
    assert "'admin' scope" in r.json()["detail"]
    assert (_count(demo_db, User), _audit_count(demo_db)) == (users, audit_n)


def _form_attempt(client, db, email: str, country: str):  # type: ignore[no-untyped-def]
    assert login(client, demo_email(email)).status_code == 303
    page = client.get("/organisations/new")
    assert page.status_code == 200
    before = (_count(db, Organisation), _audit_count(db))
    r = client.post("/organisations/new", data={"name": f"Form body {country}", "kind": "ngo",
                                                "country_iso3": country, "csrf_token": csrf_from(page.text)},
                    follow_redirects=False)
    return r, before, (_count(db, Organisation), _audit_count(db))


def test_organisation_form_applies_the_same_permission_check(client, demo_db):
    """The HTML form of a signed-in focal point: Kenya is accepted, Peru is refused and not written."""
    r, before, after = _form_attempt(client, demo_db, "focal.ken", "PER")
    assert r.status_code == 403
    assert "text/html" in r.headers["content-type"]
    assert after == before
    r, before, after = _form_attempt(client, demo_db, "focal.ken", "KEN")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/organisations/")
    assert after[0] == before[0] + 1 and after[1] > before[1]


def test_refusals_shown_to_a_signed_in_user_are_error_pages(client, demo_db):
    """Refused and missing pages of a signed-in user: the right status, a page, nothing written."""
    assert login(client, demo_email("viewer")).status_code == 303
    before = _audit_count(demo_db)
    for url, status in [("/organisations/new", 403), ("/organisations/1/edit", 403), ("/admin/users", 403),
                        ("/admin/users/1", 403), ("/audit", 403), ("/audit/export", 403),
                        ("/organisations/999999", 404), ("/countries/XXXX", 404)]:
        r = client.get(url, follow_redirects=False)
        assert r.status_code == status, (url, r.status_code)
        assert "text/html" in r.headers["content-type"], url
        assert "Sign out" in r.text, url  # still shown as signed in
    token = csrf_from(client.get("/account").text)
    for url in ("/organisations/1/delete", "/admin/users/1/active", "/admin/users/1/grants/1/revoke"):
        r = client.post(url, data={"csrf_token": token, "active": "0"}, follow_redirects=False)
        assert r.status_code == 403, (url, r.status_code)
    assert _audit_count(demo_db) == before


def test_revoked_grant_takes_effect_on_the_next_request(client, demo_db):
    """Rights come from the database at each request, not from what the token held when made."""
    with demo_db.session() as s:
        focal = accounts.find_user(s, demo_email("focal.ken"))
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "rw", "scopes": ["read", "write"]},
                                           user_id=focal.id)
        grant_id = focal.grants[0].id
        org_id = s.execute(select(Organisation.id).where(Organisation.acronym == "MOH-KEN")).scalar_one()
    w = World(demo_db, {"MOH-KEN": org_id}, {}, {}, {})
    h = {"Authorization": f"Bearer {secret}"}
    r = client.patch(f"/api/organisations/{org_id}", headers=h,
                     json={"version": _version(demo_db, org_id), "acronym": "A1"})
    assert r.status_code == 200
    with demo_db.session() as s:
        accounts.revoke_role(s, CLI_OPERATOR, grant_id)
    before = (_audit_count(demo_db), _org_state(w, "MOH-KEN"))
    r = client.patch(f"/api/organisations/{org_id}", headers=h,
                     json={"version": _version(demo_db, org_id), "acronym": "A2"})
    assert r.status_code == 403
    assert (_audit_count(demo_db), _org_state(w, "MOH-KEN")) == before


def test_refused_service_call_leaves_no_actor_on_the_session(demo_db):
    """A refused call must not leave the caller's session marked as written by someone."""
    with demo_db.sessions() as s:
        viewer = _principal(demo_db, VIEWER)
        with pytest.raises(Forbidden):
            accounts.create_organisation(s, viewer, {"name": "Nope", "kind": "ngo"})
        assert "actor" not in s.info
        s.rollback()

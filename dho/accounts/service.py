"""Accounts: users, organisations, role grants, sign-in, browser sessions and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from dho.accounts.models import ApiToken, LoginAttempt, Organisation, RoleGrant, User, WebSession
from dho.accounts.permissions import CLI_OPERATOR, Grant, Principal, Target, authorize, require
from dho.accounts.schemas import CONTROL, GrantIn, OrganisationIn, OrganisationPatch, TokenIn, UserIn
from dho.config import get_settings
from dho.db import utcnow
from dho.errors import Conflict, FieldError, Forbidden, NotFound, RateLimited, Unauthenticated, ValidationFailed
from dho.i18n import _, ngettext
from dho.reference import service as reference
from dho.reference.models import Country, WhoRegion
from dho.validation import parse

_hasher = PasswordHasher()
# A fixed hash to verify against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0000")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- principals


def principal_for(user: User, *, via: str, scopes: frozenset[str] | None = None) -> Principal:
    grants = tuple(
        Grant(g.role, g.country_iso3, g.region_code, g.organisation_id) for g in user.grants
    )
    return Principal(user.id, user.email, grants, scopes, via)


def target_for_country(session: Session, iso3: str | None) -> Target:
    return Target(country_iso3=iso3, region_code=reference.region_of(session, iso3))


def target_for_organisation(session: Session, org: Organisation) -> Target:
    return Target(country_iso3=org.country_iso3, region_code=reference.region_of(session, org.country_iso3),
                  organisation_id=org.id)


# ---------------------------------------------------------------- organisations


def _check_country(session: Session, iso3: str | None, field: str = "country_iso3") -> None:
    if iso3 is not None and session.get(Country, iso3) is None:
        raise ValidationFailed(_("Unknown country."),
                               errors=[FieldError(field, _("no country with code %(code)s", code=iso3))])


def create_organisation(session: Session, principal: Principal, data: OrganisationIn | dict[str, Any]) -> Organisation:
    data = parse(OrganisationIn, data)
    authorize(session, principal, "organisation.create", target_for_country(session, data.country_iso3))
    _check_country(session, data.country_iso3)
    org = Organisation(**data.model_dump())
    session.add(org)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(_("An organisation with this name already exists in this country."),
                       errors=[FieldError("name", _("already exists in this country"))]) from None
    return org


def get_organisation(session: Session, org_id: int) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(_("No organisation %(id)s.", id=org_id))
    return org


def update_organisation(
    session: Session, principal: Principal, org_id: int, data: OrganisationPatch | dict[str, Any]
) -> Organisation:
    data = parse(OrganisationPatch, data)
    org = get_organisation(session, org_id)
    authorize(session, principal, "organisation.update", target_for_organisation(session, org))
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if "country_iso3" in changes and changes["country_iso3"] != org.country_iso3:
        _check_country(session, changes["country_iso3"])
        # moving an organisation is also an act in the destination country
        require(principal, "organisation.update", Target(
            country_iso3=changes["country_iso3"],
            region_code=reference.region_of(session, changes["country_iso3"]), organisation_id=org.id))
    if data.version != org.version:
        raise Conflict(_(
            "This organisation was changed by someone else (now version %(current)s, you edited "
            "version %(edited)s). Reload it and apply your change again.",
            current=org.version, edited=data.version))
    for key, value in changes.items():
        if key in ("name", "kind") and value is None:
            continue
        setattr(org, key, value)
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise Conflict(_("This organisation was changed by someone else; reload and try again.")) from None
    except IntegrityError:
        session.rollback()
        raise Conflict(_("An organisation with this name already exists in this country."),
                       errors=[FieldError("name", _("already exists in this country"))]) from None
    return org


def referring_tables(session: Session, table: Any, key: object) -> list[str]:
    """The tables with a row whose foreign key points at ``key`` in ``table`` (every domain's)."""
    from dho.db import Base

    found = []
    for other in Base.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is table and session.execute(
                    select(func.count()).select_from(other).where(fk.parent == key)).scalar_one():
                found.append(other.name)
    return found


def delete_organisation(session: Session, principal: Principal, org_id: int) -> None:
    org = get_organisation(session, org_id)
    authorize(session, principal, "organisation.delete", target_for_organisation(session, org))
    if referring_tables(session, Organisation.__table__, org_id):
        raise Conflict(_("This organisation is still referred to by users, role grants or records; it cannot be "
                         "deleted (merge it into another instead)."))
    session.delete(org)
    session.flush()


def search_organisations(
    session: Session, *, q: str | None = None, country: str | None = None, kind: str | None = None,
    limit: int = 50, offset: int = 0,
) -> tuple[list[Organisation], int]:
    stmt = select(Organisation)
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(Organisation.name).like(like), func.lower(Organisation.acronym).like(like)))
    if country:
        stmt = stmt.where(Organisation.country_iso3 == country)
    if kind:
        stmt = stmt.where(Organisation.kind == kind)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Organisation.name, Organisation.id).limit(limit).offset(offset)).scalars()
    return list(rows), total


# ---------------------------------------------------------------- users and grants


def create_user(session: Session, principal: Principal, data: UserIn | dict[str, Any]) -> User:
    data = parse(UserIn, data)
    authorize(session, principal, "user.manage")
    if data.organisation_id is not None:
        get_organisation(session, data.organisation_id)
    if session.execute(select(User.id).where(User.email == data.email)).first():
        raise Conflict(_("A user with this e-mail address exists."),
                       errors=[FieldError("email", _("already registered"))])
    user = User(
        email=data.email, display_name=data.display_name,
        password_hash=hash_password(data.password) if data.password else None,
        organisation_id=data.organisation_id, locale=data.locale, is_active=True,
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("No user %(id)s.", id=user_id))
    return user


def find_user(session: Session, email: str) -> User | None:
    return session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()


def list_users(session: Session, principal: Principal, *, q: str | None = None, limit: int = 100,
               offset: int = 0) -> tuple[list[User], int]:
    require(principal, "user.read")
    stmt = select(User)
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(User.email).like(like), func.lower(User.display_name).like(like)))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    return list(session.execute(stmt.order_by(User.email).limit(limit).offset(offset)).scalars()), total


def set_active(session: Session, principal: Principal, user_id: int, active: bool) -> User:
    user = get_user(session, user_id)
    authorize(session, principal, "user.manage")
    user.is_active = active
    if not active:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    return user


def set_password(session: Session, principal: Principal, user_id: int, password: str,
                 current_password: str | None = None) -> None:
    user = get_user(session, user_id)
    authorize(session, principal, "profile.update", Target(owner_user_id=user.id))
    # Whoever changes their own password proves they know the current one (a stolen session
    # alone cannot take over the account); an administrator resetting someone else's need not.
    if principal.user_id == user.id and (not current_password or not _verify(user.password_hash, current_password)):
            raise ValidationFailed(_("The current password is wrong."),
                                   errors=[FieldError("current_password", _("does not match"))])
    if not 10 <= len(password) <= 256:
        raise ValidationFailed(_("The password is too short."),
                               errors=[FieldError("password", _("use at least 10 characters"))])
    user.password_hash = hash_password(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()


def set_locale(session: Session, principal: Principal, user_id: int, locale: str) -> None:
    user = get_user(session, user_id)
    authorize(session, principal, "profile.update", Target(owner_user_id=user.id))
    if locale not in ("en", "fr"):
        raise ValidationFailed(_("Unknown language."), errors=[FieldError("locale", _("choose en or fr"))])
    user.locale = locale
    session.flush()


def grant_role(session: Session, principal: Principal, user_id: int, data: GrantIn | dict[str, Any]) -> RoleGrant:
    data = parse(GrantIn, data)
    user = get_user(session, user_id)
    authorize(session, principal, "user.manage")
    scope_fields = {
        "admin": set(), "secretariat": set(), "regional": {"region_code"},
        "country_focal_point": {"country_iso3"}, "respondent": {"country_iso3"}, "partner": {"organisation_id"},
        "viewer": None,  # optional: a country, a region, or everywhere
    }[data.role]
    given = {k for k in ("country_iso3", "region_code", "organisation_id") if getattr(data, k) is not None}
    if scope_fields is None:
        if len(given) > 1 or "organisation_id" in given:
            raise ValidationFailed(_("A viewer is scoped to one country, one region, or nothing."),
                                   errors=[FieldError(next(iter(given)), _("too many scopes"))])
    elif given != scope_fields:
        need = ", ".join(sorted(scope_fields)) or _("no scope")
        raise ValidationFailed(_("The role %(role)s needs %(need)s.", role=data.role, need=need),
                               errors=[FieldError("role", _("needs %(need)s", need=need))])
    _check_country(session, data.country_iso3)
    if data.region_code and session.get(WhoRegion, data.region_code) is None:
        raise ValidationFailed(_("Unknown WHO region."),
                               errors=[FieldError("region_code", _("unknown region"))])
    if data.organisation_id is not None:
        get_organisation(session, data.organisation_id)
    existing = session.execute(select(RoleGrant).where(
        RoleGrant.user_id == user.id, RoleGrant.role == data.role,
        RoleGrant.country_iso3.is_(data.country_iso3) if data.country_iso3 is None
        else RoleGrant.country_iso3 == data.country_iso3,
        RoleGrant.region_code.is_(None) if data.region_code is None else RoleGrant.region_code == data.region_code,
        RoleGrant.organisation_id.is_(None) if data.organisation_id is None
        else RoleGrant.organisation_id == data.organisation_id,
    )).scalar_one_or_none()
    if existing:
        raise Conflict(_("This user already has this role."))
    grant = RoleGrant(user_id=user.id, created_by_id=principal.user_id, **data.model_dump())
    session.add(grant)
    session.flush()
    session.refresh(user)
    return grant


def revoke_role(session: Session, principal: Principal, grant_id: int) -> None:
    grant = session.get(RoleGrant, grant_id)
    if grant is None:
        raise NotFound(_("No role grant %(id)s.", id=grant_id))
    authorize(session, principal, "user.manage")
    session.delete(grant)
    session.flush()


# ---------------------------------------------------------------- sign-in


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _recent_failures(session: Session, *, email: str | None = None, ip: str | None = None) -> int:
    """Failures in the window: per account, only those after its last successful sign-in; per
    address, all of them (signing into one's own account must not reset an address's count)."""
    settings = get_settings()
    since = utcnow() - dt.timedelta(minutes=settings.login_window_minutes)
    if email is not None:
        last_ok = session.execute(select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, LoginAttempt.success.is_(True))).scalar_one()
        if last_ok is not None:
            last_ok = last_ok if last_ok.tzinfo else last_ok.replace(tzinfo=dt.UTC)
            since = max(since, last_ok)
    stmt = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at > since,
                                                                 LoginAttempt.success.is_(False))
    stmt = stmt.where(LoginAttempt.email == email) if email is not None else stmt.where(LoginAttempt.ip == ip)
    return session.execute(stmt).scalar_one()


def authenticate(session: Session, email: str, password: str, ip: str | None = None) -> User:
    """Check a password. Failures are counted per account and per address; past the limit every
    attempt is refused, right or wrong, until the window has passed. Commits its own record."""
    settings = get_settings()
    email = (email or "").strip().lower()[:254]
    if CONTROL.search(email):
        email = ""  # never reaches a query (PostgreSQL refuses NUL); counts as an unknown account
    if (_recent_failures(session, email=email) >= settings.login_max_failures
            or (ip and _recent_failures(session, ip=ip) >= settings.login_max_failures_per_ip)):
        raise RateLimited(ngettext(
            "Too many failed sign-in attempts. Try again in %(num)s minute.",
            "Too many failed sign-in attempts. Try again in %(num)s minutes.", settings.login_window_minutes))
    user = find_user(session, email) if email else None
    ok = _verify(user.password_hash if user else None, password or "")
    ok = ok and user is not None and user.is_active
    session.add(LoginAttempt(email=email, ip=ip, success=ok))
    if not ok:
        session.commit()
        raise Unauthenticated(_("Wrong e-mail address or password."))
    assert user is not None
    if _hasher.check_needs_rehash(user.password_hash or ""):
        session.info["actor"] = principal_for(user, via="session").actor
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    session.info.setdefault("actor", principal_for(user, via="session").actor)
    session.flush()
    return user


@dataclass
class NewSession:
    cookie_value: str
    csrf_token: str
    record: WebSession


def start_session(session: Session, user: User, *, ip: str | None = None, user_agent: str | None = None) -> NewSession:
    """A fresh session identifier at every sign-in (no fixation)."""
    settings = get_settings()
    value = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    record = WebSession(id=_sha256(value), user_id=user.id, csrf_token=csrf, created_at=now, last_seen_at=now,
                        expires_at=now + dt.timedelta(hours=settings.session_hours), ip=ip,
                        user_agent=(user_agent or "")[:500])
    session.add(record)
    session.flush()
    return NewSession(value, csrf, record)


def load_session(session: Session, cookie_value: str | None) -> tuple[WebSession, User] | None:
    if not cookie_value or len(cookie_value) > 128:
        return None
    record = session.get(WebSession, _sha256(cookie_value))
    if record is None:
        return None
    now = utcnow()
    settings = get_settings()
    idle_limit = record.last_seen_at + dt.timedelta(minutes=settings.session_idle_minutes)
    user = session.get(User, record.user_id)
    if record.expires_at <= now or idle_limit <= now or user is None or not user.is_active:
        session.delete(record)
        session.commit()
        return None
    if (now - record.last_seen_at).total_seconds() > 60:
        record.last_seen_at = now
        session.commit()
    return record, user


def end_session(session: Session, cookie_value: str | None) -> None:
    if cookie_value:
        session.execute(delete(WebSession).where(WebSession.id == _sha256(cookie_value)))


# ---------------------------------------------------------------- API tokens

TOKEN_PREFIX = "dho"  # noqa: S105 (a public marker, not a secret)
# dho_<12 hex digits>_<43 URL-safe base64 characters>; anything else is refused before any query
TOKEN_SHAPE = re.compile(r"dho_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def create_token(session: Session, principal: Principal, data: TokenIn | dict[str, Any],
                 user_id: int | None = None) -> tuple[ApiToken, str]:
    """Create a token for ``user_id`` (default: oneself). Returns the record and the secret,
    which is stored only as a SHA-256 hash and shown once."""
    data = parse(TokenIn, data)
    owner_id = user_id if user_id is not None else principal.user_id
    if owner_id is None:
        raise ValidationFailed(_("Say which user the token is for."),
                               errors=[FieldError("user", _("required"))])
    owner = get_user(session, owner_id)
    authorize(session, principal, "token.manage", Target(owner_user_id=owner.id))
    if "admin" in data.scopes and not any(g.role == "admin" for g in owner.grants):
        raise Forbidden(_("Only platform administrators can hold tokens with the admin scope."))
    if principal.scopes is not None and not set(data.scopes) <= principal.scopes:
        raise Forbidden(_("A token cannot create a token with more scopes than it has."))
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(user_id=owner.id, name=data.name, prefix=prefix, secret_hash=_sha256(secret),
                     scopes=" ".join(sorted(set(data.scopes))),
                     expires_at=utcnow() + dt.timedelta(days=data.days))
    session.add(token)
    session.flush()
    return token, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def list_tokens(session: Session, principal: Principal, user_id: int) -> list[ApiToken]:
    require(principal, "token.read", Target(owner_user_id=user_id))
    return list(session.execute(select(ApiToken).where(ApiToken.user_id == user_id)
                                .order_by(ApiToken.created_at.desc())).scalars())


def revoke_token(session: Session, principal: Principal, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(_("No token %(id)s.", id=token_id))
    authorize(session, principal, "token.manage", Target(owner_user_id=token.user_id))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def authenticate_token(session: Session, raw: str) -> Principal:
    """Resolve ``Authorization: Bearer dho_<prefix>_<secret>``; any problem is 401."""
    shape = TOKEN_SHAPE.fullmatch(raw or "")
    if shape is None:
        raise Unauthenticated(_("Malformed API token."))
    prefix, secret = shape.groups()
    token = session.execute(select(ApiToken).where(ApiToken.prefix == prefix)).scalar_one_or_none()
    if token is None or not hmac.compare_digest(token.secret_hash, _sha256(secret)):
        raise Unauthenticated(_("Unknown API token."))
    if token.revoked_at is not None:
        raise Unauthenticated(_("This API token was revoked."))
    if token.expires_at <= utcnow():
        raise Unauthenticated(_("This API token has expired."))
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated(_("The account of this API token is disabled."))
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
        token.last_used_at = now
        session.info.setdefault("actor", principal_for(user, via="token").actor)
        session.commit()
    return principal_for(user, via="token", scopes=frozenset(token.scopes.split()))


def cli_principal(session: Session, email: str | None) -> Principal:
    """The CLI acts as the platform operator, or as a named user when ``--as`` is given."""
    if not email:
        return CLI_OPERATOR
    user = find_user(session, email)
    if user is None:
        raise NotFound(_("No user %(email)s.", email=email))
    if not user.is_active:
        raise Forbidden(_("The account %(email)s is disabled.", email=email))
    return principal_for(user, via="cli")

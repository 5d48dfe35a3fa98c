"""The one place that decides who may do what. Every service calls ``authorize`` (writes) or
``can`` (reads) before it acts; no endpoint, page or command decides access on its own.

A principal holds role grants; each grant is scoped (a country, a WHO region, an organisation, or
nothing for platform-wide roles). A token narrows a principal further by its scopes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from dho.audit.chain import Actor
from dho.errors import Forbidden, Unauthenticated
from dho.i18n import _


@dataclass(frozen=True)
class Grant:
    role: str
    country_iso3: str | None = None
    region_code: str | None = None
    organisation_id: int | None = None


@dataclass(frozen=True)
class Principal:
    user_id: int | None
    email: str | None
    grants: tuple[Grant, ...] = ()
    scopes: frozenset[str] | None = None  # None: an interactive session or the CLI, no narrowing
    via: str = "anonymous"  # anonymous, session, token, cli

    @property
    def is_authenticated(self) -> bool:
        return self.via != "anonymous"

    @property
    def actor(self) -> Actor:
        if self.user_id is None:
            return Actor.system(self.via if self.via != "anonymous" else "anonymous")
        return Actor(self.user_id, self.email or f"user:{self.user_id}")

    def has_role(self, role: str) -> bool:
        return any(g.role == role for g in self.grants)


ANONYMOUS = Principal(None, None)
# The operator at the command line of the server: full rights, recorded as "cli".
CLI_OPERATOR = Principal(None, None, (Grant("admin"),), None, "cli")


@dataclass(frozen=True)
class Target:
    """What an action touches. Services fill in what they know; the region is the country's."""

    country_iso3: str | None = None
    region_code: str | None = None
    organisation_id: int | None = None
    owner_user_id: int | None = None


GrantRule = Callable[[Grant, Target], bool]


def _anywhere(_g: Grant, _t: Target) -> bool:
    return True


def _own_country(g: Grant, t: Target) -> bool:
    return g.country_iso3 is not None and g.country_iso3 == t.country_iso3


def _own_region(g: Grant, t: Target) -> bool:
    return g.region_code is not None and g.region_code == t.region_code


def _own_organisation(g: Grant, t: Target) -> bool:
    return g.organisation_id is not None and g.organisation_id == t.organisation_id


def _viewer_scope(g: Grant, t: Target) -> bool:
    if g.country_iso3:
        return g.country_iso3 == t.country_iso3
    if g.region_code:
        return g.region_code == t.region_code
    return True


def _secretariat_plan(_g: Grant, t: Target) -> bool:
    """The Secretariat's own plans: those of no country and no organisation."""
    return t.country_iso3 is None and t.organisation_id is None


@dataclass(frozen=True)
class Rule:
    description: str
    scope: str  # token scope needed: read, write or admin
    roles: dict[str, GrantRule] = field(default_factory=dict)
    owner: bool = False  # the target's owner (a user's own token, profile) may act


# _() marks the descriptions for extraction and returns them unchanged at import (the default locale);
# require() translates them in the language of the request.
RULES: dict[str, Rule] = {
    "organisation.create": Rule(
        _("Add an organisation to the master list"), "write",
        {"admin": _anywhere, "secretariat": _anywhere, "country_focal_point": _own_country},
    ),
    "organisation.update": Rule(
        _("Edit an organisation"), "write",
        {"admin": _anywhere, "secretariat": _anywhere, "country_focal_point": _own_country,
         "partner": _own_organisation},
    ),
    "organisation.delete": Rule(
        _("Delete an organisation that nothing refers to"), "write",
        {"admin": _anywhere, "secretariat": _anywhere},
    ),
    "user.manage": Rule(
        _("Create users, change them, grant and revoke roles"), "admin", {"admin": _anywhere},
    ),
    "user.read": Rule(
        _("See user accounts and their roles"), "read",
        {"admin": _anywhere, "secretariat": _anywhere}, owner=True,
    ),
    "profile.update": Rule(_("Change one's own name, language or password"), "write", {"admin": _anywhere},
                           owner=True),
    "token.manage": Rule(_("Create and revoke API tokens"), "write", {"admin": _anywhere}, owner=True),
    "token.read": Rule(_("List API tokens"), "read", {"admin": _anywhere}, owner=True),
    "archive.manage": Rule(_("Export or restore the whole database"), "admin", {"admin": _anywhere}),
    "reference.load": Rule(_("Load a reference data release"), "admin", {"admin": _anywhere}),
    "audit.read": Rule(
        _("Read the audit log and its verification"), "read", {"admin": _anywhere, "secretariat": _anywhere},
    ),
    "country_data.edit": Rule(
        _("Edit a country's own records"), "write",
        {"admin": _anywhere, "country_focal_point": _own_country},
    ),
    "country_data.approve": Rule(
        _("Approve a country's records on behalf of its government"), "write",
        {"admin": _anywhere, "country_focal_point": _own_country},
    ),
    "partner_data.edit": Rule(
        _("Edit records owned by an organisation"), "write",
        {"admin": _anywhere, "partner": _own_organisation, "country_focal_point": _own_country},
    ),
    "review": Rule(
        _("Review submitted records"), "write",
        {"admin": _anywhere, "secretariat": _anywhere, "regional": _own_region},
    ),
    "publish": Rule(
        _("Publish reviewed records"), "write",
        {"admin": _anywhere, "secretariat": _anywhere, "regional": _own_region},
    ),
    "unpublished.read": Rule(
        _("Read records that are not published yet"), "read",
        {"admin": _anywhere, "secretariat": _anywhere, "regional": _own_region,
         "country_focal_point": _own_country, "respondent": _own_country, "partner": _own_organisation,
         "viewer": _viewer_scope},
    ),
    "maturity.respond": Rule(
        _("Answer a country's maturity questionnaire"), "write",
        {"admin": _anywhere, "country_focal_point": _own_country, "respondent": _own_country},
    ),
    "maturity.import_published": Rule(
        _("Import assessments already published elsewhere straight into the published state"), "admin",
        {"admin": _anywhere, "secretariat": _anywhere},
    ),
    "maturity.framework.manage": Rule(
        _("Add or change maturity frameworks"), "admin", {"admin": _anywhere},
    ),
    "atlas.rates.manage": Rule(
        _("Load exchange rates for converting investments to US dollars"), "admin",
        {"admin": _anywhere, "secretariat": _anywhere},
    ),
    "atlas.merge": Rule(
        _("Merge duplicate records of the atlas"), "write",
        {"admin": _anywhere, "secretariat": _anywhere, "country_focal_point": _own_country},
    ),
    "strategy.national.edit": Rule(
        _("Record a country's national digital-health strategy and its history"), "write",
        {"admin": _anywhere, "secretariat": _anywhere, "country_focal_point": _own_country},
    ),
    "plan.edit": Rule(
        _("Edit an action plan: a country's own, a partner's own, or the Secretariat's"), "write",
        {"admin": _anywhere, "country_focal_point": _own_country, "partner": _own_organisation,
         "secretariat": _secretariat_plan},
    ),
    "plan.review": Rule(
        _("Close a plan's annual review and open its next cycle"), "write",
        {"admin": _anywhere, "country_focal_point": _own_country, "partner": _own_organisation,
         "secretariat": _secretariat_plan},
    ),
    "training.record": Rule(
        _("Record trainings and their participants"), "write",
        {"admin": _anywhere, "secretariat": _anywhere, "country_focal_point": _own_country,
         "partner": _own_organisation},
    ),
    "indicators.manage": Rule(
        _("Add or change indicator definitions and targets"), "admin", {"admin": _anywhere},
    ),
    "reports.narrative": Rule(
        _("Write the narrative sections of progress reports"), "write",
        {"admin": _anywhere, "secretariat": _anywhere, "regional": _own_region,
         "country_focal_point": _own_country},
    ),
    "trust.manage": Rule(
        _("Run the trust network: onboard participants, publish signed trust lists"), "admin",
        {"admin": _anywhere, "secretariat": _anywhere},
    ),
    "trust.upload": Rule(
        _("Upload a country's document signers, revocation batches and business rules to the trust network"),
        "write", {"admin": _anywhere, "country_focal_point": _own_country},
    ),
}


def can(principal: Principal, action: str, target: Target | None = None) -> bool:
    rule = RULES[action]  # an unknown action is a programming error, not a denial
    target = target or Target()
    if principal.scopes is not None and rule.scope not in principal.scopes:
        return False
    if rule.owner and principal.user_id is not None and target.owner_user_id == principal.user_id:
        return True
    return any(
        (check := rule.roles.get(g.role)) is not None and check(g, target) for g in principal.grants
    )


def can_somewhere(principal: Principal, action: str) -> bool:
    """Whether some grant allows ``action`` for some target (to offer a form or a button; the
    write itself is still checked against its real target)."""
    rule = RULES[action]
    if principal.scopes is not None and rule.scope not in principal.scopes:
        return False
    return any(g.role in rule.roles for g in principal.grants)


def require_somewhere(principal: Principal, action: str) -> None:
    if not can_somewhere(principal, action):
        require(principal, action, Target())  # no grant allows it anywhere: raises 401 or 403


def require(principal: Principal, action: str, target: Target | None = None) -> None:
    if can(principal, action, target):
        return
    if not principal.is_authenticated:
        raise Unauthenticated(_("Sign in to do this."))
    rule = RULES[action]
    # The translated description is the verb phrase of the sentence.
    what = _(rule.description)
    what = what[:1].lower() + what[1:]
    if principal.scopes is not None and rule.scope not in principal.scopes:
        raise Forbidden(_("This token lacks the '%(scope)s' scope needed to %(action)s.",
                          scope=rule.scope, action=what))
    raise Forbidden(_("Your roles do not allow you to %(action)s here.", action=what))


def authorize(session: Session, principal: Principal, action: str, target: Target | None = None) -> None:
    """Check the permission and mark the session's writes as made by this principal."""
    require(principal, action, target)
    session.info["actor"] = principal.actor

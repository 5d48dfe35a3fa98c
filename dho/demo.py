"""A realistic, clearly fictitious demo data set. Every organisation and person here is invented:
names carry "(demo)" or come from a list of made-up people, and e-mail addresses use the reserved
``example.org`` domain. Later domains append their own steps to ``STEPS``."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from dho.accounts import service as accounts
from dho.accounts.models import User
from dho.accounts.permissions import CLI_OPERATOR, Principal

DEMO_PASSWORD = "demo-password"  # noqa: S105 (published on purpose: demo accounts only)
DEMO_DOMAIN = "demo.example.org"

# Several countries in every WHO region (Indonesia shows the 2025 move from SEAR to WPR).
DEMO_COUNTRIES = {
    "AFR": ["KEN", "SEN", "GHA", "RWA"],
    "AMR": ["PER", "JAM", "BRA"],
    "SEAR": ["BGD", "NPL", "LKA"],
    "EUR": ["EST", "MDA", "UZB"],
    "EMR": ["JOR", "PAK", "MAR"],
    "WPR": ["PHL", "VNM", "IDN", "FJI"],
}

GIVEN = ["Amina", "Kofi", "Aïcha", "Mateo", "Lucía", "Sunita", "Rahim", "Mariam", "Tanvir", "Elena", "Ivan",
         "Nguyễn Lan", "Siosaia", "Malia", "Youssef", "Leïla", "Olumide", "Chipo", "Pita", "Ana", "Bilal", "Noor",
         "Dilnoza", "Kalinda", "Jean-Baptiste", "Ama", "Tomás", "Farah", "Ravi", "Mei"]
FAMILY = ["Okonkwo-Demo", "Diallo", "Quispe", "Rahman", "Tamm", "Rusu", "Haddad", "Santos", "Perera", "Tupou",
          "Mensah", "Uwase", "Karimova", "Bennani", "Reyes", "Tran", "Shrestha", "Campbell", "Nakamura", "Iqbal"]

GLOBAL_ORGS = [
    ("WHO Secretariat (demo)", "WHO-DEMO", "who_office", None),
    ("Northwind Health Fund (demo)", "NHF", "donor", None),
    ("Meridian Development Bank (demo)", "MDB", "development_bank", None),
    ("Open Clinic Collective (demo)", "OCC", "ngo", None),
    ("Lattice Health Systems (demo)", "LHS", "vendor", None),
    ("Institute for Health Informatics (demo)", "IHI", "academic", "GHA"),
]


@dataclass
class DemoLogin:
    email: str
    role: str
    scope: str


@dataclass
class DemoContext:
    session: Session
    principal: Principal
    rng: random.Random
    password_hash: str
    logins: list[DemoLogin] = field(default_factory=list)
    org_ids: dict[str, int] = field(default_factory=dict)  # key -> organisation id

    def person(self) -> str:
        return f"{self.rng.choice(GIVEN)} {self.rng.choice(FAMILY)}"

    def user(self, local: str, role: str | None = None, scope: str = "", org_key: str | None = None,
             **grant: object) -> User:
        org_id = self.org_ids.get(org_key) if org_key else None
        user = accounts.create_user(self.session, self.principal, {
            "email": f"{local}@{DEMO_DOMAIN}", "display_name": self.person(), "organisation_id": org_id})
        user.password_hash = self.password_hash
        if role:
            accounts.grant_role(self.session, self.principal, user.id, {"role": role, **grant})
            self.logins.append(DemoLogin(user.email, role, scope))
        return user


def _accounts_step(ctx: DemoContext) -> None:
    for name, acronym, kind, iso3 in GLOBAL_ORGS:
        org = accounts.create_organisation(ctx.session, ctx.principal,
                                           {"name": name, "acronym": acronym, "kind": kind, "country_iso3": iso3})
        ctx.org_ids[acronym] = org.id
    for region, countries in DEMO_COUNTRIES.items():
        office = accounts.create_organisation(ctx.session, ctx.principal, {
            "name": f"WHO {region} regional office (demo)", "kind": "who_office"})
        ctx.org_ids[f"RO-{region}"] = office.id
        for iso3 in countries:
            moh = accounts.create_organisation(ctx.session, ctx.principal, {
                "name": f"Ministry of Health, {iso3} (demo)", "acronym": f"MOH-{iso3}", "kind": "ministry",
                "country_iso3": iso3, "website": f"https://moh-{iso3.lower()}.{DEMO_DOMAIN}"})
            ctx.org_ids[f"MOH-{iso3}"] = moh.id
            if ctx.rng.random() < 0.6:
                accounts.create_organisation(ctx.session, ctx.principal, {
                    "name": f"National Digital Health Agency, {iso3} (demo)", "kind": "public_agency",
                    "country_iso3": iso3})
            accounts.create_organisation(ctx.session, ctx.principal, {
                "name": f"Community Health Network {iso3} (demo)", "kind": "ngo", "country_iso3": iso3})

    ctx.user("admin", "admin", "platform")
    ctx.user("secretariat", "secretariat", "everywhere", "WHO-DEMO")
    for region in DEMO_COUNTRIES:
        ctx.user(f"regional.{region.lower()}", "regional", region, f"RO-{region}", region_code=region)
    for countries in DEMO_COUNTRIES.values():
        for iso3 in countries:
            ctx.user(f"focal.{iso3.lower()}", "country_focal_point", iso3, f"MOH-{iso3}", country_iso3=iso3)
    ctx.user("partner.northwind", "partner", "Northwind Health Fund (demo)", "NHF",
             organisation_id=ctx.org_ids["NHF"])
    ctx.user("partner.lattice", "partner", "Lattice Health Systems (demo)", "LHS",
             organisation_id=ctx.org_ids["LHS"])
    ctx.user("viewer", "viewer", "everywhere")


STEPS: list[Callable[[DemoContext], None]] = [_accounts_step]


@dataclass
class DemoSummary:
    created: bool
    logins: list[DemoLogin]
    password: str = DEMO_PASSWORD


def is_loaded(session: Session) -> bool:
    return session.execute(select(User.id).where(User.email == f"admin@{DEMO_DOMAIN}")).first() is not None


def demo_logins(session: Session) -> list[DemoLogin]:
    out = []
    for user in session.execute(select(User).where(User.email.like(f"%@{DEMO_DOMAIN}")).order_by(User.id)).scalars():
        for g in user.grants:
            scope = g.country_iso3 or g.region_code or (str(g.organisation_id) if g.organisation_id else "")
            out.append(DemoLogin(user.email, g.role, scope))
    return out


def load(session: Session, principal: Principal = CLI_OPERATOR, seed: int = 2026) -> DemoSummary:
    """Load the demo data set once; a second call finds it and changes nothing."""
    if is_loaded(session):
        return DemoSummary(False, demo_logins(session))
    ctx = DemoContext(session, principal, random.Random(seed), accounts.hash_password(DEMO_PASSWORD))
    for step in STEPS:
        step(ctx)
    session.flush()
    return DemoSummary(True, ctx.logins)

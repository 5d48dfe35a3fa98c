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
from dho.maturity import service as maturity

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


# ---------------------------------------------------------------- maturity history

MATURITY_EARLY_YEAR = 2019  # answered with the GDHI 2019 edition by some countries
MATURITY_YEARS = (2021, 2023, 2025)  # published with the current GDHM edition by every demo country
MATURITY_CURRENT_YEAR = 2026  # this year's round: drafts, reviews, a returned submission, respondents
RESPONDENT_REGIONS = ("AFR", "EUR")  # two respondents per country answer this year's draft

# Rationales by indicator of the current edition (2019 codes reach them through the crosswalk) and
# by phase tier (1-2, 3, 4-5). All generic and invented; placeholders are filled in at random.
RATIONALES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "1": (("Digital health questions are handled case by case by individual programmes; no standing body exists.",
           "A steering committee was proposed in {past} but has not been formally set up."),
          ("A national digital health steering committee met {n} times this year.",
           "The technical working group on digital health has terms of reference and meets every quarter."),
          ("The digital health council is chaired by the ministry, brings together {n} ministries and follows "
           "an annual work plan.",
           "Governance of digital health and health data is written into the ministry's organisational decree.")),
    "2": (("The national health sector plan does not mention digital health.",
           "Digital health appears in the health plan only as a list of pilot projects."),
          ("The health sector plan has a chapter on digital health, but without targets.",
           "Digital health is named as a priority in the national health plan, with a few targets."),
          ("The national health plan sets digital health targets that are followed in the annual sector review.",
           "Digital health has a budgeted programme in both the national development plan and the health plan.")),
    "2a": (("The national digital economy policy does not mention health.",),
           ("Health is one of {n} priority sectors of the national digital policy.",),
           ("The national digital transformation agency runs a health workstream with the ministry of health.",)),
    "3": (("No assessment of emerging technologies such as artificial intelligence has been made for health.",
           "The use of new technologies depends on individual projects; there is no national guidance."),
          ("A task force on artificial intelligence in health issued its first recommendations in {past}.",
           "Guidance on assessing new digital tools before their use in public facilities is in draft."),
          ("A national framework sets out how new technologies are assessed, piloted and scaled in health.",
           "An advisory group reviews artificial intelligence tools before they are used in public services.")),
    "4": (("Digital health plans do not consider access for rural, poor or disabled people.",),
          ("The strategy mentions equity of access, and a study of the digital divide was done in {past}.",
           "Patient groups were consulted while the plan was prepared."),
          ("Digital health plans include equity targets, and progress is reported by region, sex and income.",)),
    "4a": (("Gender is not addressed in the digital health governance documents.",),
           ("The strategy mentions gender, but the working groups do not track their gender balance.",),
           ("The steering committee's working groups are gender-balanced and report on it every year.",)),
    "5": (("There is no national digital health strategy; projects follow their funders' plans.",
           "A strategy was drafted with partners but has not been endorsed yet."),
          ("The national digital health strategy was endorsed in {past}; its costed plan is being finalised.",
           "A strategy is in place, but nobody has been tasked with monitoring it."),
          ("The strategy is costed, has a monitoring framework, and its mid-term review was completed in {past}.",
           "The steering committee follows the strategy's action plan and reports on it every year.")),
    "5a": (("The digital health strategy was written apart from the plans for universal health coverage.",),
           ("The strategy refers to universal health coverage goals, though few activities are linked to them.",),
           ("Each strategic objective is linked to a universal health coverage target.",)),
    "6": (("Digital health spending is not tracked separately in the health budget.",
           "Almost all digital health projects are financed by external partners."),
          ("About {pct}% of digital health spending comes from the national budget, the rest from partners.",
           "A budget line for digital health exists but mainly covers licences and hosting."),
          ("A dedicated budget line funds digital health and grew for the {nth} year in a row.",
           "Over {pct}% of recurrent digital health costs are now met from domestic resources.")),
    "6a": (("There is no framework for private sector participation in digital health.",),
           ("Private providers took part in {n} consultations on digital health, without a formal agreement.",),
           ("Public-private agreements govern the hosting and support of {n} national health systems.",)),
    "7": (("No law deals with health data specifically; general rules on records apply.",
           "A data protection bill is under discussion but has not reached parliament."),
          ("The data protection act covers health data, but its implementing regulations are still pending.",
           "A cybersecurity law was passed in {past}; the health sector has no specific guidance yet."),
          ("Data protection and cybersecurity laws are in force, and the regulator inspected {n} health "
           "facilities this year.",
           "A health sector incident response team handles security incidents under the national law.")),
    "8": (("Patient consent and confidentiality rely on professional codes of conduct only.",),
          ("Consent and patient access rules were set out in a ministerial circular in {past}.",
           "Health facilities have privacy guidance, but nobody checks that it is applied."),
          ("Patients can ask for a copy of their electronic record under regulations adopted in {past}.",
           "Access to patient records is logged and audited in the main national systems.")),
    "9": (("Digital health software is not covered by any certification process.",),
          ("The medicines and devices regulator has started to register health software, beginning with {n} "
           "products.",),
          ("Digital health services must be certified before use in public facilities; the list is published.",)),
    "9a": (("No rules cover the use of artificial intelligence in health services.",),
           ("Draft guidance on artificial intelligence in health was opened for comment in {past}.",),
           ("Artificial intelligence tools used in public health services must be registered and are reviewed.",)),
    "10": (("Sharing of health data across borders is not regulated.",),
           ("Cross-border sharing is allowed case by case under the data protection act.",
            "An agreement with neighbouring countries covers the exchange of disease surveillance data."),
           ("Rules for cross-border health data sharing are in force and applied in {n} regional agreements.",)),
    "11": (("Digital health is not part of the pre-service curricula of health workers.",),
           ("Digital health modules were added to nursing and medical curricula in {n} training institutions.",),
           ("Digital health competencies are part of the accreditation standards of all health training "
            "institutions.",)),
    "12": (("Training is given only when a new system is rolled out and is not recorded.",),
           ("An in-service course reached about {pct}% of district health information officers.",),
           ("Continuing education in digital health is tracked in the workforce information system.",)),
    "13": (("There is no course in health informatics in the country; specialists train abroad.",),
           ("A university offers a master's course in health informatics; {n} students graduated last year.",),
           ("Health informatics degrees are offered by {n} universities and match the posts in the ministry.",)),
    "14": (("There is no career path for health informatics staff in the public service.",),
           ("Health informatics posts exist at national level but are not yet filled in the districts.",),
           ("A health informatics cadre with {n} grades is recognised in the civil service.",)),
    "15": (("Systems exchange data mainly through spreadsheets and manual re-entry.",),
           ("A national enterprise architecture was adopted; {n} systems have started to follow it.",),
           ("Most national systems exchange data through a shared interoperability layer.",)),
    "16": (("No national list of approved standards has been adopted.",),
           ("Terminology standards have been chosen, though few systems implement them so far.",),
           ("Conformance testing against the national standards is required before a system is connected.",)),
    "17": (("Fewer than a third of health facilities have a reliable internet connection.",
            "Power cuts and missing equipment limit computer use outside the capital."),
           ("About {pct}% of public facilities are connected, mostly through mobile data.",),
           ("Over {pct}% of public facilities are connected and the network is monitored centrally.",)),
    "18": (("National systems run on servers without a tested backup plan.",),
           ("A government data centre hosts the main health systems; disaster recovery is being planned.",
            "Equipment in district offices was renewed in {past}, though maintenance is irregular."),
           ("Health systems run in a government cloud with tested backups and a recovery site.",
            "A maintenance contract covers the computers of all hospitals and district offices.")),
    "19": (("A few pilot projects run in selected districts with no plan to scale them up.",
            "Routine data are still collected mostly in paper registers."),
           ("The routine health information system covers every district; {n} hospitals use electronic records.",
            "Community health workers in about {pct}% of districts use a mobile application.",
            "A national telehealth service started in {past} and is used in several provinces."),
           ("Electronic records are in use in most public hospitals and share data with the national platform.",)),
    "20": (("There is no up-to-date list of health facilities or of registered health workers.",),
           ("A master facility list is maintained and used by the routine reporting system.",),
           ("Facility and health worker registries are kept up to date and used by all national systems.",)),
    "21": (("Patient identifiers differ from one system to the next.",),
           ("The national identity number is recorded in {n} health systems but not yet used to link records.",),
           ("A unique health identifier is used across {n} national systems.",)),
    "21a": (("There is no master patient index.",),
            ("A master patient index was set up for the HIV and tuberculosis programmes.",),
            ("The master patient index links records across hospitals and primary care.",)),
    "21b": (("Births are registered on paper and reach the civil registry months later.",),
            ("Births in about {pct}% of hospitals are notified electronically to the civil registry.",),
            ("Births are notified electronically from almost every facility and linked to a health identifier.",)),
    "21c": (("Deaths are reported on paper, and causes of death are rarely coded.",),
            ("Deaths in hospitals are notified electronically; deaths in the community are still on paper.",),
            ("Death notification is electronic nationwide, with causes coded by trained staff.",)),
    "22": (("Patients can only give feedback through suggestion boxes in facilities.",),
           ("A telephone and text-message line collects patient feedback in {n} provinces.",),
           ("A national feedback platform is open to all patients, and results are published every quarter.",)),
    "23": (("Data are reported upward but rarely used for decisions at district level.",),
           ("A national dashboard shows key indicators, though districts use it unevenly.",),
           ("Data from the national systems feed a dashboard used in monthly performance reviews.",
            "Citizens can see their test results and vaccination records online.")),
}
NOT_AVAILABLE = (
    "Not assessed this round: the department in charge could not provide evidence in time.",
    "No reliable information was available; to be looked at again in the next round.",
    "Information on this indicator is not collected nationally.",
    "The people consulted could not point to any evidence either way.",
)
EVIDENCE = (
    "Source: annual report of the ministry (demo).",
    "Confirmed at the national validation workshop.",
    "Based on interviews with {n} programme managers.",
    "Evidence shared with the regional office.",
    "Details in the {past} situation analysis.",
    "Checked against the minutes of the last partners' meeting.",
)
REVIEW_COMMENTS = (
    "Please attach the decree or the minutes that support this phase.",
    "The rationale describes a plan rather than something in place; please check the phase.",
    "Which document is this based on? Please name it in the rationale.",
    "The evidence mentioned is from before the period assessed; is there anything more recent?",
)
RETURN_COMMENTS = (
    "Returned: a few answers need evidence before they can be accepted; see the comments on the indicators.",
    "Returned for changes: please look at the indicators we commented on and submit again.",
)
# Evidence behind answers: links and legal references (demo addresses under example.org, which
# never resolve to a real ministry), and small PDF documents generated here.
EVIDENCE_LINKS = (
    ("Ministry of Health digital health page", "https://moh.{iso3}.example.org/digital-health"),
    ("Costed implementation plan (summary)", "https://moh.{iso3}.example.org/plans/digital-health-{year}"),
    ("Annual report of the national HMIS unit", "https://hmis.{iso3}.example.org/reports/{year}"),
)
EVIDENCE_LAWS = (
    "Data Protection Act, part III (processing of health data)",
    "Ministerial decree on electronic health records, art. 4-9",
    "National eHealth governance order, schedule 2",
)


def demo_pdf(title: str) -> bytes:
    """A one-page PDF holding ``title``: enough to exercise uploads, checksums and downloads."""
    text = "".join(ch for ch in title if 32 <= ord(ch) < 127 and ch not in "()\\")
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


ACCEPT_COMMENTS = (
    "Thank you; the evidence is clear.",
    "Consistent with the documents shared during the regional meeting.",
    "Checked with the country team; no further questions.",
)
ORDINAL = ("second", "third", "fourth")
PERCENT_BY_PHASE = {1: (10, 25), 2: (20, 40), 3: (35, 60), 4: (55, 80), 5: (75, 95)}  # coverage figures
CONFIDENCE_WEIGHTS = (("low", 2), ("medium", 5), ("high", 3))


@dataclass
class _CountryPlan:
    iso3: str
    region: str
    base: float  # level in 2019
    slope: float  # gain every two years
    offsets: dict[str, float]  # per current-edition indicator code
    weak: list[str]  # core indicators the country often cannot document
    last: dict[str, int] = field(default_factory=dict)  # latest published phase per current code


class _Maturity:
    """Builds the maturity history through the service layer, acting as the people who really do it:
    the country's focal point answers, submits and approves, the regional office reviews, the
    Secretariat publishes."""

    def __init__(self, ctx: DemoContext):
        self.ctx, self.s, self.rng = ctx, ctx.session, ctx.rng
        self._principals: dict[str, Principal] = {}
        # Held so the session's (weak) identity map keeps them: every answer checks its framework.
        self._frameworks = [maturity.get_framework(self.s, f) for f in ("gdhm-current", "gdhi-2019")]
        self.current = maturity.structure(self.s, "gdhm-current")
        self.early = maturity.structure(self.s, "gdhi-2019")
        self.parent = self._parents("gdhm-current")
        self.early_parent = self._parents("gdhi-2019")
        self.to_current = {k: v for k, v in maturity.crosswalk(self.s, "gdhi-2019", "gdhm-current").items() if v}

    def _parents(self, framework_id: str) -> dict[str, str]:
        doc = maturity.framework_document(maturity.get_framework(self.s, framework_id))
        return {str(i["code"]): str(i["parent"]) for c in doc["components"] for i in c["indicators"]
                if i.get("parent")}

    def who(self, local: str) -> Principal:
        if local not in self._principals:
            user = accounts.find_user(self.s, f"{local}@{DEMO_DOMAIN}")
            assert user is not None, local
            self._principals[local] = accounts.principal_for(user, via="session")
        return self._principals[local]

    def focal(self, c: _CountryPlan) -> Principal:
        return self.who(f"focal.{c.iso3.lower()}")

    def reviewer(self, c: _CountryPlan) -> Principal:
        return self.who(f"regional.{c.region.lower()}")

    # -- content

    def rationale(self, code: str, phase: int | None, year: int, framework_id: str = "gdhm-current") -> str:
        rng = self.rng
        if phase is None:
            return rng.choice(NOT_AVAILABLE)
        low, high = PERCENT_BY_PHASE[phase]
        fill = {"n": rng.randint(2, 9), "pct": 5 * rng.randint(low // 5, high // 5), "past": year - rng.randint(1, 3),
                "nth": rng.choice(ORDINAL)}
        tier = 0 if phase <= 2 else 1 if phase == 3 else 2
        topic = self.to_current.get(code, code) if framework_id == "gdhi-2019" else code
        text = rng.choice(RATIONALES[topic][tier]).format(**fill)
        if rng.random() < 0.35:
            text += " " + rng.choice(EVIDENCE).format(**fill)
        return text

    def confidence(self) -> str:
        return self.rng.choices([c for c, _w in CONFIDENCE_WEIGHTS], [w for _c, w in CONFIDENCE_WEIGHTS])[0]

    def level(self, c: _CountryPlan, year: int, code: str) -> int:
        value = c.base + c.slope * (year - MATURITY_EARLY_YEAR) / 2 + c.offsets.get(code, 0.0) \
            + self.rng.gauss(0, 0.35)
        return min(5, max(1, round(value)))

    def draft_answers(self, c: _CountryPlan, year: int, framework_id: str) -> dict[str, int | None]:
        """Phases for one assessment: drifting upward from the country's previous round, with a few
        core indicators not available and a few sub-indicators left unanswered."""
        rng = self.rng
        early = framework_id == "gdhi-2019"
        st, parents = (self.early, self.early_parent) if early else (self.current, self.parent)
        missing_weight = 3 if year <= 2021 else 2 if year <= 2023 else 1
        not_available = set(rng.sample(c.weak, rng.randint(0, min(len(c.weak), missing_weight))))
        if rng.random() < 0.3:  # now and then something outside the usual gaps
            not_available.add(rng.choice(st.core_codes))
        out: dict[str, int | None] = {}
        for code in st.core_codes:
            key = self.to_current.get(code, code) if early else code
            if key in not_available or (early and code in not_available):
                out[code] = None
                continue
            phase = self.level(c, year, key)
            prev = c.last.get(key)
            if prev is not None and phase < prev and rng.random() < 0.85:
                phase = prev  # progress is rarely lost; now and then a phase drops
            out[code] = phase
        unanswered = set(rng.sample(st.sub_codes, rng.randint(1, 3)))
        for code in st.sub_codes:
            if code in unanswered:
                continue
            parent = out.get(parents[code])
            if parent is None:
                out[code] = None if rng.random() < 0.5 else self.level(c, year, code)
            else:
                out[code] = min(5, max(1, parent + rng.choice((-1, 0, 0, 0, 1))))
        return out

    def remember(self, c: _CountryPlan, framework_id: str, values: dict[str, int | None]) -> None:
        core = self.early.core_codes if framework_id == "gdhi-2019" else self.current.core_codes
        for code in core:
            phase = values.get(code)
            key = self.to_current.get(code, code) if framework_id == "gdhi-2019" else code
            if phase is not None:
                c.last[key] = phase

    # -- workflow

    def answer_all(self, c: _CountryPlan, aid: int, year: int, values: dict[str, int | None],
                   framework_id: str = "gdhm-current") -> None:
        focal = self.focal(c)
        for code, phase in values.items():
            maturity.save_answer(self.s, focal, aid, maturity.AnswerIn(
                code, phase, self.rationale(code, phase, year, framework_id),
                "low" if phase is None else self.confidence()))

    def review(self, c: _CountryPlan, aid: int, until: str, values: dict[str, int | None]) -> None:
        """Move a fully answered assessment forward to ``until`` (a status)."""
        focal, reviewer, secretariat = self.focal(c), self.reviewer(c), self.who("secretariat")
        steps = [("submit", focal, "submitted"), ("start_review", reviewer, "in_review"),
                 ("accept", reviewer, "reviewed"), ("approve", focal, "approved"), ("publish", secretariat,
                                                                                   "published")]
        for action, who, status in steps:
            if action == "accept" and self.rng.random() < 0.3:
                code = self.rng.choice([k for k, v in values.items() if v is not None])
                maturity.comment(self.s, reviewer, aid, self.rng.choice(ACCEPT_COMMENTS), code)
            maturity.transition(self.s, who, aid, action)
            if status == until:
                return

    def evidence(self, who: Principal, aid: int, year: int, iso3: str, codes: list[str], own: bool = False) -> None:
        """A link, a legal reference and a document behind a few answers."""
        from dho.maturity import evidence
        from dho.uploads import check_upload

        for n, code in enumerate(codes):
            if n % 3 == 0:
                title, url = self.rng.choice(EVIDENCE_LINKS)
                item = evidence.EvidenceIn("link", title, url.format(iso3=iso3.lower(), year=year))
                evidence.add(self.s, who, aid, code, item, own=own)
            elif n % 3 == 1:
                evidence.add(self.s, who, aid, code, evidence.EvidenceIn("legal", citation=self.rng.choice(
                    EVIDENCE_LAWS)), own=own)
            else:
                name = f"{iso3}-{year}-indicator-{code}.pdf"
                doc = check_upload(name, "application/pdf", demo_pdf(f"{iso3} {year}: evidence for indicator {code}"),
                                   max_bytes=1_000_000)
                evidence.add(self.s, who, aid, code, evidence.EvidenceIn("document", f"Minutes of the review of "
                                                                                     f"indicator {code}"), doc, own=own)

    def publish_round(self, c: _CountryPlan, year: int, framework_id: str) -> int:
        a = maturity.create_assessment(self.s, self.focal(c), c.iso3, year, framework_id)
        values = self.draft_answers(c, year, framework_id)
        self.answer_all(c, a.id, year, values, framework_id)
        if year == MATURITY_YEARS[-1]:
            answered = sorted((k for k, v in values.items() if v is not None), key=lambda k: (len(k), k))
            self.evidence(self.focal(c), a.id, year, c.iso3, self.rng.sample(answered, 4))
        self.review(c, a.id, "published", values)
        self.remember(c, framework_id, values)
        return a.id

    def correct_and_republish(self, c: _CountryPlan, aid: int, year: int) -> None:
        """A country finds an error after publication: reopen, fix one answer, publish version 2."""
        focal = self.focal(c)
        maturity.transition(self.s, focal, aid, "reopen")
        ans = self.rng.choice(sorted((x for x in maturity.answers(self.s, focal, aid) if x.phase is not None
                                      and x.phase < 5 and x.indicator_code in self.current.core_codes),
                                     key=lambda x: x.id))
        code, phase = ans.indicator_code, ans.phase + 1
        maturity.save_answer(self.s, focal, aid, maturity.AnswerIn(
            code, phase, ans.rationale + " Corrected after publication: the signed decree was found in the archives.",
            "high"), expected_version=ans.version)
        c.last[code] = max(c.last.get(code, 0), phase)
        self.review(c, aid, "published", {code: phase})

    def returned(self, c: _CountryPlan, aid: int, values: dict[str, int | None]) -> None:
        """Submitted, reviewed with comments on some indicators, and sent back to the country."""
        focal, reviewer = self.focal(c), self.reviewer(c)
        maturity.transition(self.s, focal, aid, "submit")
        maturity.transition(self.s, reviewer, aid, "start_review")
        answered = [k for k, v in values.items() if v is not None and k in self.current.core_codes]
        rose = [k for k in answered if (values[k] or 0) > c.last.get(k, 5)]
        notes: list[tuple[str, str]] = []
        if rose:  # a jump since the last published round is what a reviewer asks about first
            code = self.rng.choice(rose)
            notes.append((code, f"Phase {values[code]} is above the {MATURITY_YEARS[-1]} answer (phase "
                                f"{c.last[code]}); what changed since then?"))
        for code in self.rng.sample([k for k in answered if k not in rose], 2 - len(notes)):
            notes.append((code, self.rng.choice(REVIEW_COMMENTS)))
        for code, body in notes:
            maturity.comment(self.s, reviewer, aid, body, code)
        maturity.transition(self.s, reviewer, aid, "return", self.rng.choice(RETURN_COMMENTS))

    def respondents(self, c: _CountryPlan, aid: int, values: dict[str, int | None]) -> None:
        """Two respondents answer; they disagree on a handful of indicators. The focal point then
        consolidates: what they agree on is copied, the disagreements stay for the focal point."""
        rng = self.rng
        people = [self.who(f"respondent.{n}.{c.iso3.lower()}") for n in (1, 2)]
        disputed = set(rng.sample(self.current.core_codes, rng.randint(3, 6)))
        for who in people:
            skipped = set(rng.sample(list(values), rng.randint(1, 4)))
            for code, phase in values.items():
                if code in skipped and code not in disputed:
                    continue
                if who is people[1] and code in disputed:  # the second respondent sees it differently
                    phase = rng.choice((1, 2)) if phase is None else \
                        rng.choice([p for p in (None, phase - 1, phase + 1) if p is None or 1 <= p <= 5])
                maturity.save_response(self.s, who, aid, maturity.AnswerIn(
                    code, phase, self.rationale(code, phase, MATURITY_CURRENT_YEAR),
                    "low" if phase is None else self.confidence()))
            mine = [k for k in values if k not in skipped or k in disputed]
            self.evidence(who, aid, MATURITY_CURRENT_YEAR, c.iso3, rng.sample(mine, 3), own=True)
        maturity.consolidate(self.s, self.focal(c), aid)


def _maturity_step(ctx: DemoContext) -> None:
    """Several years of published assessments for every demo country (some starting with the GDHI
    2019 edition), and this year's round in every state: drafts answered by respondents who disagree,
    submissions in review, approvals waiting for publication, and a returned submission per region."""
    m = _Maturity(ctx)
    rng = ctx.rng
    plans: list[_CountryPlan] = []
    for region, countries in DEMO_COUNTRIES.items():
        for iso3 in countries:
            offsets = {code: rng.gauss(0, 0.6) for code in (*m.current.core_codes, *m.current.sub_codes)}
            plans.append(_CountryPlan(iso3, region, base=rng.uniform(1.0, 2.8), slope=rng.uniform(0.15, 0.55),
                                      offsets=offsets, weak=rng.sample(m.current.core_codes, 4)))
    by_region = {r: [p for p in plans if p.region == r] for r in DEMO_COUNTRIES}
    early = {p.iso3 for ps in by_region.values() for p in rng.sample(ps, 2 if len(ps) > 3 else 1)}
    rejected = {rng.choice(ps).iso3 for ps in by_region.values()}
    republished = {rng.choice(by_region[r]).iso3 for r in rng.sample(list(DEMO_COUNTRIES), 2)}
    # Respondent accounts (logins shown with the others), two per country of the respondent regions.
    for region in RESPONDENT_REGIONS:
        for p in by_region[region]:
            for n in (1, 2):
                ctx.user(f"respondent.{n}.{p.iso3.lower()}", "respondent", p.iso3,
                         f"MOH-{p.iso3}" if n == 1 else None, country_iso3=p.iso3)

    # History, one round at a time across all countries, as it would have happened.
    for p in plans:
        if p.iso3 in early:
            m.publish_round(p, MATURITY_EARLY_YEAR, "gdhi-2019")
    for year in MATURITY_YEARS:
        for p in plans:
            aid = m.publish_round(p, year, "gdhm-current")
            if year == 2023 and p.iso3 in republished:
                m.correct_and_republish(p, aid, year)

    # Two provinces assess themselves too (subnational units stay out of national figures).
    pak = next(p for p in plans if p.iso3 == "PAK")
    for unit in ("PK-PB", "PK-SD"):
        a = maturity.create_assessment(ctx.session, m.focal(pak), "PAK", MATURITY_YEARS[-1], subdivision=unit)
        values = m.draft_answers(pak, MATURITY_YEARS[-1], "gdhm-current")
        m.answer_all(pak, a.id, MATURITY_YEARS[-1], values)
        m.review(pak, a.id, "published", values)

    # This year's round.
    later = ["none", "draft", "submitted", "in_review", "reviewed", "approved"]
    rng.shuffle(later)
    others = 0
    for p in plans:
        state, with_respondents = "", p.region in RESPONDENT_REGIONS
        if p.iso3 not in rejected and not with_respondents:
            state = later[others % len(later)]
            others += 1
            if state == "none":
                continue
        a = maturity.create_assessment(ctx.session, m.focal(p), p.iso3, MATURITY_CURRENT_YEAR)
        values = m.draft_answers(p, MATURITY_CURRENT_YEAR, "gdhm-current")
        todo = values
        if with_respondents:
            m.respondents(p, a.id, values)
            if p.iso3 not in rejected:
                continue  # left in consolidation: the disagreements are visible to the focal point
            # the focal point settles the disagreements and answers what nobody answered, then submits
            have = {x.indicator_code for x in maturity.answers(ctx.session, m.focal(p), a.id)}
            todo = {k: v for k, v in values.items() if k not in have}
        if p.iso3 in rejected:
            m.answer_all(p, a.id, MATURITY_CURRENT_YEAR, todo)
            m.returned(p, a.id, values)
        elif state == "draft":
            part = dict(rng.sample(sorted(values.items()), len(values) // 2))
            m.answer_all(p, a.id, MATURITY_CURRENT_YEAR, part)
        else:
            m.answer_all(p, a.id, MATURITY_CURRENT_YEAR, values)
            m.review(p, a.id, state, values)


# ---------------------------------------------------------------- atlas: implementations and investments

# Software and digital goods. The open-source ones are real products named as facts (name, licence
# as their projects publish it, left empty where we are not sure); the "(demo)" ones are invented.
ATLAS_SOLUTIONS = [
    # name, 2023 services-and-applications code, SPDX licence, website
    ("DHIS2", "D6", "BSD-3-Clause", "https://dhis2.org"),
    ("OpenMRS", "A5", "MPL-2.0", "https://openmrs.org"),
    ("OpenSRP", "A2", "Apache-2.0", "https://opensrp.io"),
    ("CommCare", "A2", "BSD-3-Clause", "https://www.dimagi.com/commcare/"),
    ("iHRIS", "B4", None, "https://www.ihris.org"),
    ("OpenLMIS", "B6", "AGPL-3.0-only", "https://openlmis.org"),
    ("OpenCR", "C8", None, None),
    ("SORMAS", "E2", "GPL-3.0-only", "https://sormas.org"),
    ("OpenHIM", "D2", "MPL-2.0", "http://openhim.org"),
    ("Bahmni", "A5", "AGPL-3.0-only", "https://www.bahmni.org"),
    ("Lattice Clinic Suite (demo)", "A5", "LicenseRef-Lattice-Commercial", None),
    ("Maisha Reminders (demo)", "A1", None, None),
]

# Kinds of system a country runs: English name, French name, acronym, solution, 2023 intervention
# codes, services-and-applications code, health-system challenge, standards, interop links, focus.
ATLAS_SYSTEMS = [
    ("National HMIS", "Système national d'information sanitaire", "HMIS", "DHIS2", ("2.2.4", "4.1.2", "4.1.3"),
     "D6", "1.2", ("adx", "icd10"), ("facility_registry", "hmis"), ("phc",)),
    ("Hospital electronic medical records", "Dossier médical électronique hospitalier", "EMR", "OpenMRS",
     ("2.2.2", "2.9.1", "2.10.2"), "A5", "3.5", ("fhir", "icd10", "loinc"), ("client_registry", "lab"), ("ncd",)),
    ("Community health worker app", "Application des agents de santé communautaires", "CHW app", "CommCare",
     ("2.2.1", "2.3.1", "2.7.1"), "A2", "5.4", ("fhir",), ("hmis",), ("maternal", "child")),
    ("Electronic immunization registry", "Registre électronique de vaccination", "EIR", "OpenSRP",
     ("2.2.1", "1.1.3", "3.2.3"), "C7", "5.4", ("fhir", "gs1"), ("client_registry", "hmis"), ("immunization",)),
    ("Health workforce information system", "Système d'information sur les ressources humaines en santé", "HRIS",
     "iHRIS", ("3.1.1", "3.1.3", "3.1.4"), "B4", "2.4", ("fhir",), ("facility_registry", "hr"), ("workforce",)),
    ("Electronic logistics management information system", "Système électronique d'information logistique",
     "eLMIS", "OpenLMIS", ("3.2.1", "3.2.2", "3.2.5"), "B6", "2.1", ("gs1",), ("facility_registry", "lmis"),
     ("supply",)),
    ("National client registry", "Registre national des patients", "NCR", "OpenCR", ("2.1.1", "4.2.2"), "C8", "1.7",
     ("fhir", "ihe"), ("client_registry", "crvs"), ("uhc",)),
    ("Disease surveillance and outbreak response", "Surveillance des maladies et riposte aux épidémies", "IDSR",
     "SORMAS", ("3.3.1", "4.3.2", "2.5.4"), "E2", "1.2", ("fhir", "icd11"), ("surveillance", "lab"),
     ("emergencies", "one_health")),
    ("Health information exchange", "Plateforme d'échange de données de santé", "HIE", "OpenHIM", ("4.4.2", "4.4.3"),
     "D2", "3.5", ("fhir", "hl7v2", "openhie"), ("shared_health_record", "terminology_service"), ("phc",)),
    ("Maternal SMS reminders", "Rappels SMS pour la santé maternelle", "mSMS", "Maisha Reminders (demo)",
     ("1.1.2", "1.1.3"), "A1", "5.1", (), ("client_registry",), ("maternal", "srh")),
    ("Laboratory information system", "Système d'information de laboratoire", "LIS", "Bahmni",
     ("2.10.1", "2.10.2", "2.10.4"), "A6", "6.4", ("loinc", "hl7v2"), ("lab",), ("hiv", "tb")),
    ("Telemedicine for remote facilities", "Télémédecine pour les structures isolées", "Telehealth",
     "Lattice Clinic Suite (demo)", ("2.4.1", "2.4.4"), "A9", "5.2", ("dicom",), ("shared_health_record",),
     ("ncd", "mental")),
    ("Health insurance claims platform", "Plateforme de gestion des demandes de remboursement", "Claims", None,
     ("3.5.1", "3.5.2"), "B2", "7.4", ("icd10", "proprietary"), ("insurance",), ("uhc",)),
]
FRENCH_COUNTRIES = {"SEN", "MAR", "RWA"}  # partners there often register in French
# Two or three ISO 3166-2 areas per demo country for coverage rows.
ATLAS_AREAS = {
    "KEN": [("KE-30", "Nairobi City"), ("KE-28", "Mombasa"), ("KE-17", "Kisumu")],
    "SEN": [("SN-DK", "Dakar"), ("SN-TH", "Thiès"), ("SN-ZG", "Ziguinchor")],
    "GHA": [("GH-AA", "Greater Accra"), ("GH-AH", "Ashanti"), ("GH-NP", "Northern")],
    "RWA": [("RW-01", "Kigali City"), ("RW-05", "Southern Province")],
    "PER": [("PE-LIM", "Lima"), ("PE-CUS", "Cusco"), ("PE-LOR", "Loreto")],
    "JAM": [("JM-01", "Kingston"), ("JM-13", "Clarendon")],
    "BRA": [("BR-SP", "São Paulo"), ("BR-BA", "Bahia"), ("BR-AM", "Amazonas")],
    "BGD": [("BD-C", "Dhaka Division"), ("BD-B", "Chattogram Division")],
    "NPL": [("NP-P3", "Bagmati Province"), ("NP-P6", "Karnali Province")],
    "LKA": [("LK-1", "Western Province"), ("LK-2", "Central Province")],
    "EST": [("EE-37", "Harju County"), ("EE-79", "Tartu County")],
    "MDA": [("MD-CU", "Chișinău"), ("MD-BA", "Bălți")],
    "UZB": [("UZ-TK", "Tashkent"), ("UZ-SA", "Samarkand Region")],
    "JOR": [("JO-AM", "Amman"), ("JO-IR", "Irbid")],
    "PAK": [("PK-PB", "Punjab"), ("PK-SD", "Sindh"), ("PK-KP", "Khyber Pakhtunkhwa")],
    "MAR": [("MA-06", "Casablanca-Settat"), ("MA-04", "L'Oriental")],
    "PHL": [("PH-00", "National Capital Region"), ("PH-07", "Central Visayas")],
    "VNM": [("VN-HN", "Hanoi"), ("VN-SG", "Ho Chi Minh City")],
    "IDN": [("ID-JK", "Jakarta"), ("ID-JT", "Central Java"), ("ID-PA", "Papua")],
    "FJI": [("FJ-C", "Central Division"), ("FJ-W", "Western Division")],
}
ATLAS_CURRENCY = {"KEN": "KES", "SEN": "XOF", "GHA": "GHS", "RWA": "RWF", "PER": "PEN", "JAM": "JMD", "BRA": "BRL",
                  "BGD": "BDT", "NPL": "NPR", "LKA": "LKR", "EST": "EUR", "MDA": "MDL", "UZB": "UZS", "JOR": "JOD",
                  "PAK": "PKR", "MAR": "MAD", "PHL": "PHP", "VNM": "VND", "IDN": "IDR", "FJI": "FJD"}
ATLAS_ROLES = ("Programme manager", "Technical lead", "Monitoring and evaluation officer", "Country coordinator")


def _typo(name: str, rng: random.Random) -> str:
    """A plausible slip of the keyboard: a doubled or dropped letter."""
    words = name.split()
    i = rng.randrange(len(words))
    w = words[i]
    if len(w) > 4:
        j = rng.randrange(1, len(w) - 1)
        words[i] = w[:j] + w[j + 1:] if rng.random() < 0.5 else w[:j] + w[j] + w[j:]
    return " ".join(words)


class _Atlas:
    """Builds the atlas through the services, as partners and focal points would."""

    def __init__(self, ctx: DemoContext):
        from dho.accounts.models import Organisation
        from dho.reference.models import ClassificationMap

        self.ctx, self.s, self.rng = ctx, ctx.session, ctx.rng
        self.principals: dict[str, Principal] = {}
        self.orgs_by_country: dict[str, list[int]] = {}
        for org in self.s.execute(select(Organisation).where(Organisation.country_iso3.is_not(None))).scalars():
            if org.kind in ("ngo", "public_agency", "ministry"):
                self.orgs_by_country.setdefault(org.country_iso3 or "", []).append(org.id)
        back: dict[str, str] = {}
        for m in self.s.execute(select(ClassificationMap).where(ClassificationMap.from_scheme == "cdhi2018-dhi",
                                                                ClassificationMap.to_scheme == "cdisah2023-dhi")
                                ).scalars():
            if m.to_code and m.from_code == m.to_code:
                back[m.to_code] = m.from_code
        self.code_2018 = back  # 2023 code -> the same 2018 code, where the crosswalk says they match

    def who(self, local: str) -> Principal:
        if local not in self.principals:
            user = accounts.find_user(self.s, f"{local}@{DEMO_DOMAIN}")
            assert user is not None, local
            self.principals[local] = accounts.principal_for(user, via="session")
        return self.principals[local]

    def author(self, owner: int, iso3: str) -> Principal:
        ids = self.ctx.org_ids
        if owner == ids["NHF"]:
            return self.who("partner.northwind")
        if owner == ids["LHS"]:
            return self.who("partner.lattice")
        return self.who(f"focal.{iso3.lower()}")


def _atlas_step(ctx: DemoContext) -> None:
    """Exchange rates, a dozen solutions, hundreds of implementations in every demo country (with
    duplicates registered by different partners, in French and English, with typos, and records
    nobody updated for over a year), and hundreds of investments funding them."""
    import datetime as dt
    import unicodedata
    from decimal import Decimal
    from pathlib import Path

    from dho.atlas import money
    from dho.atlas import service as atlas
    from dho.atlas.models import STAGES, Implementation
    from dho.atlas.schemas import (
        ClassificationIn,
        ContactIn,
        CoverageIn,
        DisbursementIn,
        ImplementationIn,
        InvestmentIn,
        OrgRoleIn,
        StageEventIn,
        TargetIn,
    )

    s, rng, ids = ctx.session, ctx.rng, ctx.org_ids
    money.load_rates(s, ctx.principal, (Path(atlas.__file__).parent / "data" / "demo_rates.csv").read_bytes())
    rates = money.Rates(s)
    a = _Atlas(ctx)
    solutions = {}
    for name, kind, licence, website in ATLAS_SOLUTIONS:
        sol = atlas.create_solution(s, ctx.principal, name, kind=kind, licence=licence, website=website,
                                    owner_org_id=ids["LHS"] if "Lattice" in name else None)
        solutions[name] = sol.id
    components = [c.id for c in maturity.structure(s, maturity.DEFAULT_FRAMEWORK).components]
    core_codes = list(maturity.structure(s, maturity.DEFAULT_FRAMEWORK).core_codes)
    today = dt.date.today()
    partners = [ids[k] for k in ("NHF", "LHS", "OCC", "IHI", "MDB")]

    stale_since: dict[int, dt.date] = {}  # records last touched long ago, and when

    def record(iso3: str, system: tuple, owner: int, name: str, start: dt.date,
               until: dt.date) -> ImplementationIn:
        """A record as its owner would enter it, with nothing dated after ``until`` (its last update)."""
        _en, _fr, _acr, sol, dhi, sat, hsc, standards, interop, focus = system
        start = min(start, until - dt.timedelta(days=120))
        stage_n = rng.randint(2, len(STAGES) - 1)
        days = sorted(rng.sample(range(0, max(60, (until - start).days)), stage_n + 1))
        history = [StageEventIn(stage=STAGES[k], on_date=start + dt.timedelta(days=d))
                   for k, d in enumerate(days[:stage_n + 1])]
        codes = [ClassificationIn(scheme="cdisah2023-dhi", code=c) for c in dhi]
        if rng.random() < 0.25 and all(c in a.code_2018 for c in dhi):  # registered with the 2018 codes
            codes = [ClassificationIn(scheme="cdhi2018-dhi", code=a.code_2018[c]) for c in dhi]
        codes += [ClassificationIn(scheme="cdisah2023-sat", code=sat), ClassificationIn(scheme="cdisah2023-hsc",
                                                                                          code=hsc)]
        areas = rng.sample(ATLAS_AREAS[iso3], rng.randint(1, len(ATLAS_AREAS[iso3])))
        coverage = []
        for code, area in areas:
            persons = rng.randint(5, 400) * 1000
            for back in ((730, 0) if rng.random() < 0.4 else (0,)):  # some counts have an earlier version
                coverage.append(CoverageIn(area_code=code, area_name=area, as_of=until - dt.timedelta(
                    days=back + rng.randint(30, 300)), persons=persons // (2 if back else 1),
                    health_workers=rng.randint(20, 3000), facilities=rng.randint(3, 400)))
        helpers = rng.sample([p for p in partners if p != owner], rng.randint(0, 2))
        moh = ids[f"MOH-{iso3}"]
        orgs = [OrgRoleIn(organisation_id=o, role="implementer") for o in {owner, *helpers}]
        orgs += [OrgRoleIn(organisation_id=o, role="funder") for o in rng.sample([ids["NHF"], ids["MDB"], moh],
                                                                                 rng.randint(1, 2))]
        person = ctx.person()
        end = start + dt.timedelta(days=rng.randint(3, 8) * 365) if rng.random() < 0.5 else None
        licence = next((lic for n, _k, lic, _w in ATLAS_SOLUTIONS if n == sol), None)
        open_source = licence is not None and not licence.startswith("LicenseRef-")
        local_part = unicodedata.normalize("NFKD", person.split()[0].lower()).encode("ascii", "ignore").decode()
        return ImplementationIn(
            name=name, country_iso3=iso3, owner_org_id=owner, stage=STAGES[stage_n], stage_history=history,
            description=rng.choice(("", f"{_en} serving the public health system of the country.",
                                    f"Deployment of {sol or 'a locally built system'} supporting {', '.join(focus)}.")),
            start_date=start, end_date=end,
            openness="open_source" if open_source else rng.choice(("proprietary", "mixed", "unknown")),
            licence=licence,
            government_ownership=rng.choice(("none", "partial", "partial", "full")), organisations=orgs,
            solutions=[solutions[sol]] if sol else [], classifications=codes,
            standards=list(standards) if rng.random() < 0.8 else [], interop=list(interop), health_focus=list(focus),
            coverage=coverage if rng.random() < 0.85 else [],
            contacts=[ContactIn(name=person, role=rng.choice(ATLAS_ROLES),
                                email=f"{local_part}.{rng.randint(10, 99)}@{DEMO_DOMAIN}" if rng.random() < 0.7
                                else None)])

    impls: list[tuple[Implementation, tuple]] = []
    for countries in DEMO_COUNTRIES.values():
        for iso3 in countries:
            systems = rng.sample(ATLAS_SYSTEMS, rng.randint(7, 11))
            local = a.orgs_by_country.get(iso3, [])
            for system in systems:
                en, fr, acr = system[0], system[1], system[2]
                # Several vertical programmes often run the same kind of system side by side.
                for copy in range(rng.choice((1, 1, 1, 2, 2, 3))):
                    owner = rng.choice([*partners, *local, ids[f"MOH-{iso3}"]])
                    base = fr if iso3 in FRENCH_COUNTRIES and rng.random() < 0.6 else en
                    region = ATLAS_AREAS[iso3][copy % len(ATLAS_AREAS[iso3])][1] if copy else ""
                    name = f"{base} ({acr})" + (f" – {region}" if region else "")
                    start = dt.date(rng.randint(2015, 2024), rng.randint(1, 12), rng.randint(1, 28))
                    until = today - dt.timedelta(days=rng.randint(400, 1100)) if rng.random() < 0.15 else today
                    data = record(iso3, system, owner, name, start, until)
                    impls.append((atlas.create_implementation(s, a.author(owner, iso3), data), system))
                    if until < today:
                        stale_since[impls[-1][0].id] = until
                    if copy == 0 and rng.random() < 0.3:
                        # The same system registered again by another partner: in the other language,
                        # with an acronym only, or with a typo.
                        other = rng.choice([o for o in (*partners, *local) if o != owner])
                        twin = rng.choice((f"{fr if base == en else en}", f"{acr} {iso3}", _typo(base, rng),
                                           f"{base.upper()} ({system[3] or acr})"))
                        dup = record(iso3, system, other, twin, start + dt.timedelta(days=rng.randint(-90, 90)),
                                     today)
                        impls.append((atlas.create_implementation(s, a.author(other, iso3), dup), system))

    # The focal points decide: most are approved (published), a few rejected, some wait.
    for impl, _system in impls:
        roll = rng.random()
        if roll < 0.78:
            atlas.decide(s, a.who(f"focal.{impl.country_iso3.lower()}"), impl.id, "approve")
        elif roll < 0.82:
            atlas.decide(s, a.who(f"focal.{impl.country_iso3.lower()}"), impl.id, "reject")
        elif roll < 0.84:
            atlas.decide(s, a.author(impl.owner_org_id, impl.country_iso3), impl.id, "archive")

    # Investments: donors and banks in dollars, euros or pounds; governments in their own currency.
    by_country: dict[str, list[tuple[Implementation, tuple]]] = {}
    for impl, system in impls:
        by_country.setdefault(impl.country_iso3, []).append((impl, system))
    invs = []
    for iso3, rows in by_country.items():
        published = [(i, sy) for i, sy in rows if i.status == "published"] or rows
        shared = rng.choice(published)[1][4][0]  # an intervention several funders pay for here
        for _n in range(rng.randint(11, 16)):
            funder_key = rng.choice(("NHF", "NHF", "MDB", f"MOH-{iso3}", f"MOH-{iso3}", "OCC", "LHS"))
            funder = ids[funder_key]
            kind = {"NHF": "grant", "MDB": rng.choice(("loan", "grant")), "OCC": "in_kind",
                    "LHS": "private"}.get(funder_key, "domestic_budget")
            currency = ATLAS_CURRENCY[iso3] if kind == "domestic_budget" or rng.random() < 0.2 else \
                rng.choice(("USD", "USD", "USD", "EUR", "GBP", "CHF"))
            year = rng.randint(2016, 2025)
            committed = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
            usd = Decimal(rng.choice((25, 50, 80, 120, 250, 400, 750, 1200, 3000))) * 1000
            rate = Decimal(1) if currency == "USD" else rates.table[(currency, year)][0]
            amount = (usd * rate).quantize(Decimal(1000) if usd * rate > 10_000_000 else Decimal(1))
            impl, system = rng.choice(published)
            targets = [TargetIn(kind="implementation", ref=str(impl.id))]
            if rng.random() < 0.6:
                targets.append(TargetIn(kind="intervention", ref=shared if rng.random() < 0.5 else
                                        rng.choice(system[4])))
            if rng.random() < 0.4:
                targets.append(TargetIn(kind="component", ref=rng.choice(components)))
            if rng.random() < 0.3:
                targets.append(TargetIn(kind="priority", ref=rng.choice(core_codes)))
            targets = list({(t.kind, t.ref): t for t in targets}.values())
            disbursed, paid = [], Decimal(0)
            for k in range(rng.randint(0, 3)):
                when = committed + dt.timedelta(days=90 + 240 * k)
                if when > today:
                    break
                part = (amount * Decimal(rng.choice(("0.2", "0.25", "0.3")))).quantize(Decimal(1))
                disbursed.append(DisbursementIn(on_date=when, amount=str(part)))
                paid += part
            owner = funder if funder_key in ("NHF", "LHS") else None
            who = a.author(funder, iso3) if owner else a.who(f"focal.{iso3.lower()}")
            what = system[0] if rng.random() < 0.7 else f"{system[0]} – phase {rng.randint(1, 3)}"
            invs.append(atlas.create_investment(s, who, InvestmentIn(
                title=f"{what}, {iso3} {year}", funder_org_id=funder, country_iso3=iso3, amount=str(amount),
                currency=currency, kind=kind, committed_on=committed, period_start=year,
                period_end=year + rng.randint(0, 4), recipient_org_id=rng.choice((ids[f"MOH-{iso3}"],
                                                                                   impl.owner_org_id)),
                owner_org_id=owner or ids[f"MOH-{iso3}"], disbursements=disbursed, targets=targets)))
    for inv in invs:
        if rng.random() < 0.85:
            atlas.decide_investment(s, a.who(f"focal.{inv.country_iso3.lower()}"), inv.id,
                                    "approve" if rng.random() < 0.95 else "reject")

    # Records nobody touched for more than a year (set last: any later change would refresh them).
    # Set explicitly, the value wins over the column's onupdate; the change is audited as the CLI's.
    for impl, _system in impls:
        if impl.id in stale_since:
            impl.updated_at = dt.datetime.combine(stale_since[impl.id], dt.time(9, 30), dt.UTC)
    s.flush()


def _strategy_step(ctx: DemoContext) -> None:
    from dho.strategy.demo_national import national_step
    from dho.strategy.demo_plans import plans_step

    national_step(ctx)
    plans_step(ctx)


STEPS: list[Callable[[DemoContext], None]] = [_accounts_step, _maturity_step, _atlas_step, _strategy_step]


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

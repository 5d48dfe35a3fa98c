"""Assessments from draft to published: permissions, optimistic locking, disagreement, versions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR
from dho.audit import chain
from dho.audit.models import AuditEntry
from dho.errors import Conflict, Forbidden, NotFound, ValidationFailed
from dho.maturity import service as maturity
from dho.maturity.models import Assessment
from dho.maturity.service import AnswerIn


def P(s, local):  # type: ignore[no-untyped-def]
    return accounts.principal_for(accounts.find_user(s, f"{local}@demo.example.org"), via="session")


def _respondent(s, iso3: str, local: str):  # type: ignore[no-untyped-def]
    user = accounts.create_user(s, CLI_OPERATOR, {"email": f"{local}@example.org", "display_name": local})
    accounts.grant_role(s, CLI_OPERATOR, user.id, {"role": "respondent", "country_iso3": iso3})
    return accounts.principal_for(accounts.get_user(s, user.id), via="session")


def _audit_count(s) -> int:  # type: ignore[no-untyped-def]
    return s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def test_full_cycle(demo_db):
    with demo_db.session() as s:
        focal, reviewer, sec = P(s, "focal.ken"), P(s, "regional.afr"), P(s, "secretariat")
        a = maturity.create_assessment(s, focal, "KEN", 2036)
        aid = a.id
        codes = maturity.structure(s, "gdhm-current").core_codes
        r1, r2 = _respondent(s, "KEN", "amina"), _respondent(s, "KEN", "kofi")
        maturity.save_response(s, r1, aid, AnswerIn("1", 3, "A council meets monthly"))
        maturity.save_response(s, r2, aid, AnswerIn("1", 4, "It reports to the cabinet"))
        maturity.save_response(s, r1, aid, AnswerIn("2", 2, "Under discussion"))
        maturity.save_response(s, r2, aid, AnswerIn("2", 2, "Being drafted"))
        dis = maturity.disagreements(s, focal, aid)
        assert [(d.code, sorted(d.phases.values())) for d in dis] == [("1", [3, 4])]
        result = maturity.consolidate(s, focal, aid)
        assert result == {"copied": ["2"], "disputed": ["1"]}
        with pytest.raises(ValidationFailed) as exc:
            maturity.transition(s, focal, aid, "submit")
        assert len(exc.value.errors) == len(codes) - 1  # only indicator 2 has the country's answer
        for code in codes:
            if code != "2":
                maturity.save_answer(s, focal, aid, AnswerIn(code, None if code == "20" else 3, f"because {code}"))
        maturity.transition(s, focal, aid, "submit")
        with pytest.raises(Conflict):  # no more edits once submitted
            maturity.save_answer(s, focal, aid, AnswerIn("1", 4, "late change"), expected_version=1)
        maturity.transition(s, reviewer, aid, "start_review")
        maturity.comment(s, reviewer, aid, "Which law is this?", "5")
        maturity.transition(s, reviewer, aid, "return")
        maturity.save_answer(s, focal, aid, AnswerIn("5", 4, "Data protection act of 2019"), expected_version=1)
        maturity.transition(s, focal, aid, "submit")
        maturity.transition(s, reviewer, aid, "start_review")
        maturity.transition(s, reviewer, aid, "accept")
        with pytest.raises(Forbidden):  # approval is the country's
            maturity.transition(s, reviewer, aid, "approve")
        maturity.transition(s, focal, aid, "approve")
        with pytest.raises(Forbidden):  # publishing is the Secretariat's or the regional office's
            maturity.transition(s, focal, aid, "publish")
        maturity.transition(s, sec, aid, "publish")
    with demo_db.session() as s:
        scores = maturity.published_scores(s, country="KEN", year=2036, rule="nearest")
        assert set(scores) == {"KEN:2036"}
        first = scores["KEN:2036"]
        assert first.indicators["5"] == 4 and first.indicators["20"] is None
        # republishing after a change makes version 2; version 1 stays readable
        focal, sec = P(s, "focal.ken"), P(s, "secretariat")
        maturity.transition(s, focal, aid, "reopen")
        maturity.save_answer(s, focal, aid, AnswerIn("6", 5, "Budget line doubled"), expected_version=1)
        for step, who in (("submit", focal), ("start_review", sec), ("accept", sec), ("approve", focal),
                          ("publish", sec)):
            maturity.transition(s, who, aid, step)
        assert maturity.published_answers(s, aid, 1)["6"] == 3
        assert maturity.published_answers(s, aid, 2)["6"] == 5
        assert chain.verify(s).ok


def test_optimistic_locking_never_overwrites(demo_db):
    with demo_db.session() as s:
        focal = P(s, "focal.ken")
        aid = maturity.create_assessment(s, focal, "KEN", 2037).id
        first = maturity.save_answer(s, focal, aid, AnswerIn("1", 2, "first"))
        assert first.version == 1
        maturity.save_answer(s, focal, aid, AnswerIn("1", 3, "second, from version 1"), expected_version=1)
    with demo_db.session() as s:
        focal = P(s, "focal.ken")
        with pytest.raises(Conflict, match="meanwhile"):
            maturity.save_answer(s, focal, aid, AnswerIn("1", 5, "stale edit"), expected_version=1)
    with demo_db.session() as s:
        ans = next(x for x in maturity.answers(s, P(s, "focal.ken"), aid) if x.indicator_code == "1")
        assert (ans.phase, ans.rationale, ans.version) == (3, "second, from version 1", 2)


@pytest.mark.parametrize(("answer", "field"), [
    (AnswerIn("1", 6, "why"), "phase"), (AnswerIn("1", 0, "why"), "phase"), (AnswerIn("99", 3, "why"), "code"),
    (AnswerIn("1", 3, "  "), "rationale"), (AnswerIn("1", 3, "x" * 6000), "rationale"),
    (AnswerIn("1", 3, "why", "certain"), "confidence"), (AnswerIn("1", True, "why"), "phase"),  # type: ignore[arg-type]
])
def test_bad_answers_are_refused_and_write_nothing(demo_db, answer, field):
    with demo_db.session() as s:
        aid = maturity.create_assessment(s, P(s, "focal.ken"), "KEN", 2038).id
    with demo_db.session() as s:
        before = _audit_count(s)
        with pytest.raises(ValidationFailed) as exc:
            maturity.save_answer(s, P(s, "focal.ken"), aid, answer)
        assert field in [e.field for e in exc.value.errors]
    with demo_db.session() as s:
        assert _audit_count(s) == before
        assert maturity.answers(s, P(s, "focal.ken"), aid) == []


def test_focal_point_of_one_country_cannot_touch_another(demo_db):
    with demo_db.session() as s:
        aid = maturity.create_assessment(s, P(s, "focal.ken"), "KEN", 2038).id
    with demo_db.session() as s:
        before = _audit_count(s)
        sen = P(s, "focal.sen")
        with pytest.raises(Forbidden):
            maturity.save_answer(s, sen, aid, AnswerIn("1", 3, "not mine"))
        with pytest.raises(Forbidden):
            maturity.create_assessment(s, sen, "KEN", 2043)
        with pytest.raises(NotFound):  # an unpublished assessment of another country is invisible
            maturity.answers(s, sen, aid)
        with pytest.raises(Forbidden):
            maturity.transition(s, P(s, "regional.emr"), aid, "start_review")
        assert _audit_count(s) == before


def test_published_assessment_cannot_be_edited(demo_db):
    with demo_db.session() as s:
        focal, sec = P(s, "focal.ken"), P(s, "secretariat")
        aid = maturity.create_assessment(s, focal, "KEN", 2039).id
        for code in maturity.structure(s, "gdhm-current").core_codes:
            maturity.save_answer(s, focal, aid, AnswerIn(code, 2, "why"))
        for step, who in (("submit", focal), ("start_review", sec), ("accept", sec), ("approve", focal),
                          ("publish", sec)):
            maturity.transition(s, who, aid, step)
    with demo_db.session() as s:
        with pytest.raises(Conflict, match="published"):
            maturity.save_answer(s, P(s, "focal.ken"), aid, AnswerIn("1", 5, "sneaky"), expected_version=1)
        with pytest.raises(Conflict):
            maturity.transition(s, P(s, "secretariat"), aid, "publish")


def test_working_data_stays_private_after_publication(demo_db):
    with demo_db.session() as s:
        focal, sec = P(s, "focal.ken"), P(s, "secretariat")
        aid = maturity.create_assessment(s, focal, "KEN", 2040).id
        r1 = _respondent(s, "KEN", "ruth")
        maturity.save_response(s, r1, aid, AnswerIn("1", 2, "respondent view"))
        for code in maturity.structure(s, "gdhm-current").core_codes:
            maturity.save_answer(s, focal, aid, AnswerIn(code, 3, "why"))
        for step, who in (("submit", focal), ("start_review", sec), ("accept", sec), ("approve", focal),
                          ("publish", sec), ("reopen", focal)):
            maturity.transition(s, who, aid, step)
        maturity.save_answer(s, focal, aid, AnswerIn("1", 5, "draft change"), expected_version=1)
    from dho.accounts.permissions import ANONYMOUS

    with demo_db.session() as s:
        for who in (ANONYMOUS, P(s, "focal.sen")):
            with pytest.raises((NotFound, Forbidden)):
                maturity.disagreements(s, who, aid)
            with pytest.raises((NotFound, Forbidden)):
                maturity.answers(s, who, aid)
            # the public sees the published version, not the draft change
            assert maturity.score(s, who, aid).indicators["1"] == 3


def test_published_scores_do_not_move_when_the_framework_changes(demo_db):
    import json as _json

    from dho.maturity.models import Framework

    with demo_db.session() as s:
        focal, sec = P(s, "focal.ken"), P(s, "secretariat")
        aid = maturity.create_assessment(s, focal, "KEN", 2041).id
        for i, code in enumerate(maturity.structure(s, "gdhm-current").core_codes):
            maturity.save_answer(s, focal, aid, AnswerIn(code, 1 + i % 5, "why"))
        for step, who in (("submit", focal), ("start_review", sec), ("accept", sec), ("approve", focal),
                          ("publish", sec)):
            maturity.transition(s, who, aid, step)
        before = maturity.published_scores(s, country="KEN", year=2041)["KEN:2041"].as_dict()
        doc = _json.loads(s.get(Framework, "gdhm-current").document)
        doc["components"][0]["indicators"][0]["core"] = False  # indicator 1 no longer counts
        doc["components"][0]["indicators"][0]["parent"] = "2"
        maturity.add_framework(s, CLI_OPERATOR, doc)
    with demo_db.session() as s:
        assert maturity.published_scores(s, country="KEN", year=2041)["KEN:2041"].as_dict() == before


def test_subnational_units_are_assessed_apart_from_the_country(demo_db, client):
    with demo_db.session() as s:
        focal = P(s, "focal.pak")
        for bad in ("KE-30", "PK", "PK-TOOLONG", "../PK-PB", "pk pb", "PK-ZZ", "PK-99"):  # PK-ZZ: no such province
            with pytest.raises(ValidationFailed) as info:
                maturity.create_assessment(s, focal, "PAK", 2037, subdivision=bad)
            assert "PK-BA" in str(info.value.errors[0].message)  # the hint names a real code of the country
        assert s.execute(select(func.count()).select_from(Assessment).where(Assessment.year == 2037)).scalar() == 0
        with pytest.raises(Forbidden):
            maturity.create_assessment(s, P(s, "focal.ken"), "PAK", 2037, subdivision="PK-KP")
        national_before = maturity.latest_published(s)["PAK"]
        units = maturity.subnational_latest(s, "PAK")
        assert set(units) == {"PK-PB", "PK-SD"}  # the demo's provinces
        a = maturity.create_assessment(s, focal, "PAK", 2037, subdivision="pk-kp")
        assert a.subdivision == "PK-KP"
        with pytest.raises(Conflict):
            maturity.create_assessment(s, focal, "PAK", 2037, subdivision="PK-KP")
        maturity.create_assessment(s, focal, "PAK", 2037)  # the national one is another assessment
        s.commit()
    with demo_db.session() as s:
        # a province's published assessment never stands in for the country's
        assert maturity.latest_published(s)["PAK"] == national_before
        assert maturity.get_assessment(s, units["PK-PB"].assessment_id).subdivision == "PK-PB"
    page = client.get("/maturity/countries/PAK")
    assert page.status_code == 200 and "PK-PB" in page.text and "PK-SD" in page.text
    assert "</a> Punjab</td>" in page.text  # units are named (ISO 3166-2)

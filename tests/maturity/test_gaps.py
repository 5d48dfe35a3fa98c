"""Gap analysis and priorities against a hand-computed case."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR
from dho.errors import Forbidden, ValidationFailed
from dho.maturity import gaps, transfer
from tests.maturity.conftest import full_scores, gdhm_csv


def test_priorities_hand_computed(db):
    with db.session() as s:
        ken = full_scores(s, 5)
        ken.update({"16": 2, "15": 2, "19": 3, "7": None})  # standards 16 before architecture 15 before 19
        sen = full_scores(s, 5)
        data = gdhm_csv(s, [{"iso3": "KEN", "year": 2024, "scores": ken}, {"iso3": "SEN", "year": 2024,
                                                                           "scores": sen}])
        transfer.import_file(s, CLI_OPERATOR, data, published=True)
    with db.session() as s:
        result = gaps.priorities(s, "KEN")
        by_code = {g.code: g for g in result["gaps"]}
        assert set(by_code) == {"16", "15", "19", "7"}
        # 16: gap 1, unblocks 15 -> 1 x 1 x 1.5 ; 15: gap 1, unblocks 19 -> 1.5 ; 19: gap 1 -> 1 ;
        # 7: not available counts as 0 -> gap 1 to phase 1, unblocks nothing with a gap -> 1
        assert by_code["16"].priority == Decimal("1.5") and by_code["16"].dependents == ["15"]
        assert by_code["15"].priority == Decimal("1.5") and by_code["15"].dependents == ["19"]
        assert by_code["19"].priority == Decimal("1") and by_code["7"].priority == Decimal("1")
        assert [g.code for g in result["gaps"]][:2] == ["15", "16"]  # ties keep the framework's order
        assert [p.iso3 for p in by_code["16"].peers] == ["SEN"]
        assert by_code["16"].next_requirement  # the descriptor of phase 3
        # the country weighs standards and interoperability three times, and targets 5 for indicator 19
        gaps.set_weight(s, CLI_OPERATOR, "KEN", "5", "3")
        gaps.set_target(s, CLI_OPERATOR, "KEN", "19", 2025, 5)
    with db.session() as s:
        result = gaps.priorities(s, "KEN")
        by_code = {g.code: g for g in result["gaps"]}
        assert by_code["16"].priority == Decimal("4.5") and by_code["15"].priority == Decimal("4.5")
        assert by_code["19"].gap == 2 and by_code["19"].priority == Decimal("2")
        assert gaps.priorities_csv(result).splitlines()[1].startswith("1,15,5,")


@pytest.mark.parametrize(("kind", "args"), [
    ("weight", ("KEN", "9", "1")), ("weight", ("KEN", "5", "11")), ("weight", ("KEN", "5", "nan")),
    ("target", ("KEN", "99", 2025, 3)), ("target", ("KEN", "16", 2025, 6)), ("target", ("KEN", "16", 1999, 3)),
])
def test_bad_targets_and_weights(db, kind, args):
    with db.session() as s, pytest.raises(ValidationFailed):
        (gaps.set_weight if kind == "weight" else gaps.set_target)(s, CLI_OPERATOR, *args)


def test_only_the_country_sets_its_weights(demo_db):
    with demo_db.session() as s:
        sen = accounts.principal_for(accounts.find_user(s, "focal.sen@demo.example.org"), via="session")
        with pytest.raises(Forbidden):
            gaps.set_weight(s, sen, "KEN", "5", "2")


def test_priorities_api(client, demo_db):
    r = client.get("/api/maturity/countries/KEN/priorities")
    assert r.status_code == 200 and r.json()["year"] == 2025 and r.json()["gaps"]
    first = r.json()["gaps"][0]
    assert {"indicator", "priority", "next_phase_requires", "peers"} <= set(first)
    r = client.get("/api/maturity/countries/KEN/priorities", params={"format": "csv"})
    assert r.text.startswith("rank,indicator,")
    assert client.put("/api/maturity/countries/KEN/weights/5", json={"weight": "2"}).status_code == 401

"""GDHM CSV and JSON import/export: the round trip, the published import, the score contract,
and every kind of bad file refused with row-and-column errors and nothing written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR
from dho.audit.models import AuditEntry
from dho.cli import app
from dho.errors import ValidationFailed
from dho.maturity import transfer
from dho.maturity.models import Answer, Assessment
from tests.maturity.conftest import full_scores, gdhm_csv

runner = CliRunner()


def _counts(db) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return tuple(s.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (Assessment, Answer, AuditEntry))


def test_import_published_and_score_contract(db, tmp_path):
    with db.session() as s:
        scores = full_scores(s, 3)
        scores.update({"1": 1, "2": 2, "20": None})
        data = gdhm_csv(s, [{"iso3": "KEN", "year": 2023, "scores": scores},
                            {"iso3": "SEN", "year": 2023, "scores": full_scores(s, 5)}])
    f = tmp_path / "gdhm.csv"
    f.write_bytes(data)
    r = runner.invoke(app, ["maturity", "import", str(f), "--published", "--database", db.url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["maturity", "score", "--rule", "gdhm", "--json", "--database", db.url])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert set(body) == {"KEN:2023", "SEN:2023"}
    ken = body["KEN:2023"]
    # component 1 has core indicators 1, 2, 3, 4: (1 + 2 + 3 + 3) / 4 = 2.25 -> round half-even 2.2,
    # ceiling 3 under gdhm; components 2..7 = 3 (20 is not available and leaves component 7 at 3)
    assert ken["components"]["1"] == {"score": 2.25, "phase": 3}
    assert set(ken["components"]) == {"1", "2", "3", "4", "5", "6", "7"}
    assert ken["overall"]["score"] == round((2.25 + 3 * 6) / 7, 2) and ken["overall"]["phase"] == 3
    assert body["SEN:2023"]["overall"] == {"score": 5.0, "phase": 5}
    r = runner.invoke(app, ["maturity", "score", "--country", "KEN", "--year", "2023", "--rule", "nearest",
                            "--json", "--database", db.url])
    assert list(json.loads(r.stdout)) == ["KEN:2023"]
    assert json.loads(r.stdout)["KEN:2023"]["components"]["1"]["phase"] == 2  # 2.25 -> nearest 2
    with db.session() as s:
        entries = s.execute(select(AuditEntry.action).where(AuditEntry.action == "import-published")).all()
        assert len(entries) == 2


def test_round_trip_csv_and_json(db, tmp_path):
    with db.session() as s:
        data = gdhm_csv(s, [{"iso3": "PER", "year": 2024, "scores": full_scores(s, 4)}])
        transfer.import_file(s, CLI_OPERATOR, data, "gdhm-csv")
    with db.session() as s:
        exported = transfer.export_gdhm_csv(s, CLI_OPERATOR)
        assert exported.splitlines()[0] == data.decode().splitlines()[0]
        assert exported.splitlines()[1] == data.decode().splitlines()[1]
        as_json = transfer.export_json(s, CLI_OPERATOR)
    assert as_json["assessments"][0]["answers"]["1"] == {"phase": 4, "rationale": "because 1", "confidence": "medium"}
    with db.session() as s:  # importing the JSON again changes nothing but is accepted (draft)
        summary = transfer.import_file(s, CLI_OPERATOR, json.dumps(as_json).encode(), "json")
        assert summary == {"rows": 1, "created": 0, "updated": 1}


def _bad_cases(s):  # type: ignore[no-untyped-def]
    ok = {"iso3": "KEN", "year": 2023, "scores": full_scores(s, 3)}
    good = gdhm_csv(s, [ok])
    header, line = good.decode().splitlines()
    return [
        ("phase out of range", gdhm_csv(s, [{**ok, "scores": {**ok["scores"], "3": 7}}]), "Indicator 3 Score"),
        ("non-numeric", gdhm_csv(s, [{**ok, "scores": {**ok["scores"], "4": "high"}}]), "not a phase"),
        ("decimal", gdhm_csv(s, [{**ok, "scores": {**ok["scores"], "4": "3.5"}}]), "not a phase"),
        ("unknown indicator", (header + ",Indicator 99 Score\n" + line + ",3\n").encode(), "indicator 99"),
        ("duplicate rows", (header + "\n" + line + "\n" + line + "\n").encode(), "repeats KEN 2023"),
        ("wrong country", gdhm_csv(s, [{**ok, "iso3": "XKK"}]), "not a country code"),
        ("bad year", gdhm_csv(s, [{**ok, "year": "23"}]), "year"),
        ("semicolons", good.decode().replace(",", ";").encode(), "semicolons"),
        ("latin-1", (header + "\n" + line.replace("because 1", "raison: évaluée") + "\n").encode("latin-1"),
         "not UTF-8"),
        ("utf-16", good.decode().encode("utf-16"), "UTF-16"),
        ("rationale missing", (header + "\n" + line.replace("because 1", "") + "\n").encode(), "rationale"),
        ("short row", (header + "\n" + line.rsplit(",", 3)[0] + "\n").encode(), "values for"),
        ("duplicate column", (header + ",Year\n" + line + ",2023\n").encode(), "appears twice"),
        ("empty", b"", "empty"),
        ("binary", b"\x00\x01\x02PK\x03\x04" * 100, "NUL"),
        ("oversized", b"a" * (transfer.MAX_BYTES + 1), "larger than"),
        ("not the layout", b"name,value\nx,1\n", "not a column"),
    ]


def test_bad_files_are_refused_and_write_nothing(db):
    with db.session() as s:
        cases = _bad_cases(s)
    before = _counts(db)
    for name, data, message in cases:
        with db.session() as s, pytest.raises(ValidationFailed) as exc:
            transfer.import_file(s, CLI_OPERATOR, data, "gdhm-csv")
        text = exc.value.detail + " " + " ".join(f"{e.field}: {e.message}" for e in exc.value.errors)
        assert message in text, (name, text)
        assert _counts(db) == before, name


def test_bom_is_accepted(db):
    with db.session() as s:
        data = b"\xef\xbb\xbf" + gdhm_csv(s, [{"iso3": "KEN", "year": 2023, "scores": full_scores(s, 2)}])
        assert transfer.import_file(s, CLI_OPERATOR, data)["created"] == 1


def test_one_bad_row_among_good_ones_writes_nothing(db):
    with db.session() as s:
        rows = [{"iso3": iso3, "year": 2021, "scores": full_scores(s, 3)} for iso3 in ("KEN", "SEN", "GHA")]
        rows[2]["scores"] = {**rows[2]["scores"], "7": "9"}
        data = gdhm_csv(s, rows)
    before = _counts(db)
    with db.session() as s, pytest.raises(ValidationFailed) as exc:
        transfer.import_file(s, CLI_OPERATOR, data)
    assert [e.field for e in exc.value.errors] == ["row 4, Indicator 7 Score"]
    assert _counts(db) == before


def test_focal_point_cannot_import_another_country_nor_publish(demo_db):
    with demo_db.session() as s:
        focal = accounts.principal_for(accounts.find_user(s, "focal.ken@demo.example.org"), via="session")
        data = gdhm_csv(s, [{"iso3": "KEN", "year": 2020, "scores": full_scores(s, 3)},
                            {"iso3": "SEN", "year": 2020, "scores": full_scores(s, 3)}])
    before = _counts(demo_db)
    with demo_db.session() as s, pytest.raises(ValidationFailed) as exc:
        transfer.import_file(s, focal, data)
    assert [e.field for e in exc.value.errors] == ["row 3"]
    with demo_db.session() as s, pytest.raises(ValidationFailed):
        transfer.import_file(s, focal, data, published=True)
    assert _counts(demo_db) == before


def test_bad_json(db):
    cases = [(b"{", "not valid JSON"), (b"[]", "list of assessments"),
             (json.dumps({"assessments": [{"country": "KEN", "year": 2023, "answers": {"1": {"phase": 9,
                                                                                           "rationale": "x"}}}]}
                         ).encode(), "phase must be 1 to 5"),
             (json.dumps({"assessments": [{"country": "KEN", "year": 2023, "answers": {"1": {"phase": 3}}}]}
                         ).encode(), "rationale is required"),
             (json.dumps({"framework": "nope", "assessments": []}).encode(), "No maturity framework")]
    before = _counts(db)
    for data, message in cases:
        with db.session() as s, pytest.raises(Exception) as exc:
            transfer.import_file(s, CLI_OPERATOR, data, "json")
        text = getattr(exc.value, "detail", str(exc.value)) + " ".join(
            f"{e.field}: {e.message}" for e in getattr(exc.value, "errors", []))
        assert message in text, text
    assert _counts(db) == before


def test_cli_errors_are_one_line(db, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"name;value\n")
    r = runner.invoke(app, ["maturity", "import", str(bad), "--database", db.url])
    assert r.exit_code == 1 and len([x for x in r.output.splitlines() if x.strip()]) == 1
    r = runner.invoke(app, ["maturity", "score", "--rule", "ceiling", "--json", "--database", db.url])
    assert r.exit_code == 1
    r = runner.invoke(app, ["maturity", "lint"])
    assert r.exit_code == 0 and "indicator 17: the value 25 falls in no phase" in r.stdout
    assert "indicator 18: values 51-75 fall in no phase" in r.stdout
    assert "indicator 21: values 51-75 fall in no phase" in r.stdout
    r = runner.invoke(app, ["maturity", "lint", "--strict"])
    assert r.exit_code == 1

"""Atlas import and export: round trips in our layout (CSV, XLSX, JSON), the row-and-column error
report, all-or-nothing and valid-only imports, the Digital Health Atlas layout with its partner
review step, and hostile files and requests (nothing written each time)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select, text
from typer.testing import CliRunner

from dho.accounts import service as accounts
from dho.accounts.models import Organisation
from dho.accounts.permissions import CLI_OPERATOR
from dho.atlas import transfer
from dho.atlas.models import Classification, Implementation, ImplementationOrg
from dho.cli import app
from dho.errors import Forbidden, PayloadTooLarge, ValidationFailed

DATA = Path(__file__).parent / "data"
runner = CliRunner()
COUNTED = ("atlas_implementation", "atlas_stage_event", "atlas_coverage", "atlas_classification",
           "atlas_implementation_term", "atlas_implementation_org", "atlas_contact", "atlas_investment",
           "organisation", "audit_entry")


def orgs(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.engine.connect() as c:
        return {a: i for i, a in c.execute(text("SELECT id, acronym FROM organisation WHERE acronym IS NOT NULL"))}


def counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.engine.connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED}  # noqa: S608


def token(db, local: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        user = accounts.find_user(s, f"{local}@demo.example.org")
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "t", "scopes": ["read", "write"]}, user.id)
    return {"Authorization": f"Bearer {secret}"}


def own_csv(rows: list[dict[str, str]], delimiter: str = ",") -> bytes:
    header = ["name", "country_iso3", "stage", "owner_org_id", "start_date", "end_date", "classifications",
              "health_focus", "organisations", "stage_history", "contacts", "description"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, header, delimiter=delimiter, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def good_rows(o: dict[str, int]) -> list[dict[str, str]]:
    return [
        {"name": "=HYPERLINK(\"http://evil.example\")", "country_iso3": "KEN", "stage": "piloting",
         "owner_org_id": str(o["NHF"]), "start_date": "2021-02-01", "end_date": "2024-01-31",
         "classifications": "cdhi2018-dhi:2.1.1; cdisah2023-sat:A1", "health_focus": "maternal; hiv",
         "organisations": f"{o['MOH-KEN']}:implementer; {o['NHF']}:funder",
         "stage_history": json.dumps([{"stage": "preparation", "on_date": "2020-05-01", "note": "- kick-off"}]),
         "contacts": json.dumps([{"name": "Amina Test", "email": "amina@example.org", "role": "lead"}]),
         "description": "-starts with a dash"},
        {"name": "Roundtrip registry", "country_iso3": "SEN", "stage": "deploying", "owner_org_id": str(o["LHS"]),
         "start_date": "2019-01-01", "end_date": "", "classifications": "cdisah2023-dhi:2.1.1", "health_focus": "",
         "organisations": "", "stage_history": "", "contacts": "", "description": ""},
    ]


def our_rows(table: bytes, ids: set[int]) -> list[list[str]]:
    """The exported rows of these records, without the id column."""
    rows = list(csv.reader(io.StringIO(table.decode())))
    return [r[1:] for r in rows[1:] if int(r[0]) in ids]


def wipe(db, ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.execute(delete(Implementation).where(Implementation.id.in_(ids)))


def test_round_trip_csv_json_xlsx(demo_db, tmp_path):
    o = orgs(demo_db)
    with demo_db.session() as s:
        ids = set(transfer.import_file(s, CLI_OPERATOR, own_csv(good_rows(o))).created)
    assert len(ids) == 2
    with demo_db.session() as s:
        first = transfer.export(s, CLI_OPERATOR, "csv")
        as_json = [r for r in json.loads(transfer.export(s, CLI_OPERATOR, "json")) if r["id"] in ids]
        as_xlsx = transfer.export(s, CLI_OPERATOR, "xlsx")
    expected = our_rows(first, ids)
    assert len(expected) == 2
    # formula injection: the CSV cell starts with an apostrophe, the XLSX cell is text
    assert "'=HYPERLINK" in first.decode() and "'-starts with a dash" in first.decode()
    wb = load_workbook(io.BytesIO(as_xlsx))
    ws = wb.active
    cells = [c for row in ws.iter_rows() for c in row if c.value == '=HYPERLINK("http://evil.example")']
    assert cells and all(c.data_type == "s" for c in cells)
    # the 2018 code is exported as its original, and converts back to the same 2023 codes
    rec = next(r for r in as_json if r["country_iso3"] == "KEN")
    assert {"scheme": "cdhi2018-dhi", "code": "2.1.1"} in rec["classifications"]

    # CSV: wipe the two records, import the export of them, export again: the same rows
    wipe(demo_db, list(ids))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(next(csv.reader(io.StringIO(first.decode()))))
    for row in list(csv.reader(io.StringIO(first.decode())))[1:]:
        if int(row[0]) in ids:
            w.writerow(row)
    with demo_db.session() as s:
        ids2 = set(transfer.import_file(s, CLI_OPERATOR, buf.getvalue().encode(), "csv").created)
        again = transfer.export(s, CLI_OPERATOR, "csv")
    assert our_rows(again, ids2) == expected
    with demo_db.session() as s:
        kept = s.execute(select(Classification.code, Classification.original_code).where(
            Classification.implementation_id.in_(ids2), Classification.original_scheme == "cdhi2018-dhi")).all()
    assert ("2.1.1", "2.1.1") in kept

    # JSON
    wipe(demo_db, list(ids2))
    with demo_db.session() as s:
        ids3 = set(transfer.import_file(s, CLI_OPERATOR, json.dumps(as_json).encode(), "json").created)
        assert our_rows(transfer.export(s, CLI_OPERATOR, "csv"), ids3) == expected

    # XLSX (through the CLI): keep only our rows in the exported workbook, import it
    wipe(demo_db, list(ids3))
    for row in range(ws.max_row, 1, -1):
        if ws.cell(row, 1).value not in ids:
            ws.delete_rows(row)
    path = tmp_path / "atlas.xlsx"
    wb.save(path)
    r = runner.invoke(app, ["atlas", "import", str(path), "--database", demo_db.url])
    assert r.exit_code == 0, r.output
    assert "Imported 2 implementations" in r.output
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["atlas", "export", str(out), "--database", demo_db.url])
    assert r.exit_code == 0, r.output
    with demo_db.session() as s:
        ids4 = set(s.execute(select(Implementation.id).where(Implementation.name.in_(
            ['=HYPERLINK("http://evil.example")', "Roundtrip registry"]))).scalars())
    assert our_rows(out.read_bytes(), ids4) == expected


def bad_file(o: dict[str, int]) -> bytes:
    rows = good_rows(o)
    rows.append({**rows[1], "name": "Bad one", "country_iso3": "XXX", "owner_org_id": "999999"})
    rows.append({**rows[1], "name": "Out of order", "start_date": "2022-01-01", "end_date": "2020-01-01"})
    rows.append({**rows[1], "name": "Unknown codes", "classifications": "cdisah2023-dhi:9.9.9; cdhi2018-dhi:8.8",
                 "health_focus": "astrology"})
    rows.append({**rows[1], "name": "Flying", "stage": "flying"})
    return own_csv(rows)


def test_errors_by_row_and_column_and_nothing_written(demo_db):
    o = orgs(demo_db)
    before = counts(demo_db)
    with demo_db.session() as s, pytest.raises(ValidationFailed) as exc:
        transfer.import_file(s, CLI_OPERATOR, bad_file(o))
    errors = {(e.field, e.message) for e in exc.value.errors}
    fields = {f for f, _m in errors}
    assert "row 4, country_iso3" in fields and "row 4, owner_org_id" in fields
    assert any(f == "row 5, end_date" and "end_date is before start_date" in m for f, m in errors)
    assert any(f == "row 7, stage" and "flying" in m for f, m in errors)
    assert any(f == "row 6, classifications" and "9.9.9" in m for f, m in errors)
    assert any(f == "row 6, classifications" and "8.8" in m for f, m in errors)
    assert any(f == "row 6, health_focus" and "astrology" in m for f, m in errors)
    assert not any(f.startswith(("row 2", "row 3")) for f in fields)
    assert counts(demo_db) == before


def test_valid_only_returns_the_rejected_rows(demo_db, tmp_path):
    o = orgs(demo_db)
    with demo_db.session() as s:
        result = transfer.import_file(s, CLI_OPERATOR, bad_file(o), valid_only=True)
    assert len(result.created) == 2 and len(result.rejected) == 4
    rejected = list(csv.reader(io.StringIO(result.rejected_csv.decode())))
    assert rejected[0][-1] == "errors" and rejected[0][:-1] == next(csv.reader(io.StringIO(bad_file(o).decode())))
    assert [r[0] for r in rejected[1:]] == ["Bad one", "Out of order", "Unknown codes", "Flying"]
    assert "country_iso3" in rejected[1][-1] and "9.9.9" in rejected[3][-1]
    # the CLI writes the file
    path = tmp_path / "in.csv"
    path.write_bytes(bad_file(o).replace(b"Roundtrip registry", b"Other registry").replace(b"=HYPERLINK", b"=HL"))
    out = tmp_path / "rejected.csv"
    r = runner.invoke(app, ["atlas", "import", str(path), "--valid-only", "--rejected", str(out),
                            "--database", demo_db.url])
    assert r.exit_code == 0, r.output
    assert "Imported 2 implementations; 4 rows rejected." in r.output
    assert out.read_text().startswith("name,country_iso3,") and out.read_text().count("\n") == 5


def test_column_mapping_and_header_errors(demo_db):
    o = orgs(demo_db)
    data = own_csv(good_rows(o)[1:]).replace(b"name,country_iso3", b"Project title,Country code", 1)
    before = counts(demo_db)
    with demo_db.session() as s, pytest.raises(ValidationFailed) as exc:
        transfer.import_file(s, CLI_OPERATOR, data)
    assert {e.field for e in exc.value.errors} >= {"column 1 (Project title)", "header"}
    with demo_db.session() as s, pytest.raises(ValidationFailed) as exc:
        transfer.import_file(s, CLI_OPERATOR, data, mapping={"Project title": "name", "Country code": "planet"})
    assert any(e.field == "mapping" and "planet" in e.message for e in exc.value.errors)
    assert counts(demo_db) == before
    with demo_db.session() as s:
        result = transfer.import_file(s, CLI_OPERATOR, data, mapping={"Project title": "name",
                                                                        "Country code": "country_iso3"})
    assert len(result.created) == 1


def test_hostile_encodings_and_separators(demo_db):
    o = orgs(demo_db)
    rows = good_rows(o)[1:]
    rows[0]["description"] = "Santé numérique"
    before = counts(demo_db)
    for data, needle in ((own_csv(rows).decode().encode("latin-1"), "not UTF-8"),
                         (own_csv(rows).decode().encode("utf-16"), "UTF-16"),
                         (b"name,country_iso3\n\"unclosed,KEN\n", "not valid CSV"),
                         (b"\x00\x01\x02", "NUL"),
                         (b"PK\x03\x04garbage", "zip"),
                         (b"", "empty")):
        with demo_db.session() as s, pytest.raises(ValidationFailed) as exc:
            transfer.import_file(s, CLI_OPERATOR, data, "xlsx" if data.startswith(b"PK") else "csv")
        assert needle in exc.value.detail, (needle, exc.value.detail)
    with demo_db.session() as s, pytest.raises(PayloadTooLarge):
        transfer.import_file(s, CLI_OPERATOR, b"x" * (transfer.MAX_BYTES + 1))
    assert counts(demo_db) == before
    with demo_db.session() as s:  # a byte order mark and semicolons are fine
        assert len(transfer.import_file(s, CLI_OPERATOR, b"\xef\xbb\xbf" + own_csv(rows, ";")).created) == 1
        impl = s.execute(select(Implementation).where(Implementation.name == "Roundtrip registry")).scalar_one()
        assert impl.description == "Santé numérique"


def test_dha_layout_with_partner_review(demo_db, tmp_path):
    data = (DATA / "dha_sample.csv").read_bytes()
    before = counts(demo_db)
    with demo_db.session() as s:
        result = transfer.import_file(s, CLI_OPERATOR, data, "dha")
    assert result.status == "review" and counts(demo_db) == before
    review = {r.name: r for r in result.review}
    assert set(review) == {"Open Clinic Collective", "Acme Telehealth Ltd", "Meridian Development Bank"}
    o = orgs(demo_db)
    assert review["Open Clinic Collective"].candidates[0]["id"] == o["OCC"]
    assert review["Meridian Development Bank"].candidates[0]["id"] == o["MDB"]
    assert review["Acme Telehealth Ltd"].rows == [3]
    assert result.ignored_columns == ["Last Updated"]

    # at the CLI: without the choices it lists the names and writes nothing
    path = tmp_path / "dha.csv"
    path.write_bytes(data)
    r = runner.invoke(app, ["atlas", "import", str(path), "--format", "dha", "--database", demo_db.url])
    assert r.exit_code == 3 and "Open Clinic Collective" in r.output and "Open Clinic Collective (demo)" in r.output
    assert counts(demo_db) == before
    choices = tmp_path / "choices.json"
    choices.write_text(json.dumps({"Open Clinic Collective": o["OCC"], "Meridian Development Bank": str(o["MDB"]),
                                   "Acme Telehealth Ltd": "new"}))
    r = runner.invoke(app, ["atlas", "import", str(path), "--format", "dha", "--partners", str(choices),
                            "--database", demo_db.url])
    assert r.exit_code == 0, r.output
    assert "Imported 2 implementations" in r.output and "Added 1 organisations" in r.output
    with demo_db.session() as s:
        ken = s.execute(select(Implementation).where(Implementation.name == "MamaCare SMS reminders")).scalar_one()
        sen = s.execute(select(Implementation).where(Implementation.name == "Senegal client registry")).scalar_one()
        assert (ken.country_iso3, ken.stage, str(ken.start_date), str(ken.end_date)) == \
            ("KEN", "scaling_up", "2019-03-01", "2022-12-01")
        assert (sen.country_iso3, sen.stage, str(sen.start_date), str(sen.end_date)) == \
            ("SEN", "piloting", "2018-01-01", "2020-06-30")
        assert ken.owner_org_id == o["MOH-KEN"] and sen.owner_org_id == o["MOH-SEN"]
        codes = set(s.execute(select(Classification.scheme, Classification.code, Classification.original_code)
                              .where(Classification.implementation_id.in_([ken.id, sen.id]))).all())
        assert {("cdisah2023-dhi", "1.1.1", "1.1.1"), ("cdisah2023-sat", "A1", "D"), ("cdisah2023-sat", "A5", "H"),
                ("cdisah2023-dhi", "4.4.2", "4.4.1"), ("cdisah2023-dhi", "4.4.3", "4.4.1")} <= codes
        acme = s.execute(select(Organisation).where(Organisation.name == "Acme Telehealth Ltd")).scalar_one()
        roles = set(s.execute(select(ImplementationOrg.organisation_id, ImplementationOrg.role).where(
            ImplementationOrg.implementation_id.in_([ken.id, sen.id]))).all())
        assert {(o["NHF"], "funder"), (o["LHS"], "implementer"), (o["OCC"], "implementer"), (o["MDB"], "funder"),
                (acme.id, "implementer")} <= roles


def test_dha_row_errors(demo_db):
    bad = (b"Project Name,Country,Organisation,Start Date,End Date,Phase,Digital Health Interventions,"
           b"Health System Categories\n"
           b"A,Atlantis,NHF,sometime,2020-01,Piloting,2.1.1,D\n"
           b"B,KEN,NHF,03/04/2019,2020-01,Orbiting,none here,ZZ\n"
           b"C,KEN,NHF,2021,2019,Piloting,9.9.9,\n")
    before = counts(demo_db)
    with demo_db.session() as s, pytest.raises(ValidationFailed) as exc:
        transfer.import_file(s, CLI_OPERATOR, bad, "dha")
    fields = [e.field for e in exc.value.errors]
    assert "row 2, Country" in fields and "row 2, Start Date" in fields
    assert "row 3, Start Date" in fields and "row 3, Phase" in fields
    assert "row 3, Digital Health Interventions" in fields and "row 3, Health System Categories" in fields
    assert "row 4, End Date" in fields  # the end before the start
    assert "row 4, Digital Health Interventions" in fields
    assert counts(demo_db) == before


def test_parse_loose_date():
    p = transfer.parse_loose_date
    assert str(p("March 2019")) == "2019-03-01" and str(p("15 mars 2019")) == "2019-03-15"
    assert str(p("2019-03")) == "2019-03-01" and str(p("Mar 5, 2019")) == "2019-03-05"
    assert str(p("25/12/2020")) == "2020-12-25" and str(p("2020")) == "2020-01-01"
    for bad in ("03/04/2019", "2019-02-30", "soon", "13/2019"):
        with pytest.raises(ValueError):
            p(bad)


def test_api_import_permissions_and_limits(client, demo_db):
    o = orgs(demo_db)
    rows = good_rows(o)
    own = own_csv([{**rows[1], "owner_org_id": ""}])  # a partner's rows default to its organisation
    other = own_csv([{**rows[1], "owner_org_id": ""}, {**rows[1], "name": "Not mine"}])  # the second: LHS
    before = counts(demo_db)
    assert client.post("/api/atlas/import", content=own).status_code == 401
    assert client.post("/api/atlas/import", content=own, headers=token(demo_db, "viewer")).status_code == 403
    nhf = token(demo_db, "partner.northwind")
    r = client.post("/api/atlas/import", content=other, headers=nhf)
    assert r.status_code == 403 and "row 3" in json.dumps(r.json())
    assert counts(demo_db)["atlas_implementation"] == before["atlas_implementation"]
    r = client.post("/api/atlas/import", content=b"x" * 2_100_000, headers=nhf)
    assert r.status_code == 413
    r = client.post("/api/atlas/import?format=csv&valid_only=true", content=own, headers=nhf)
    assert r.status_code == 200, r.text
    assert len(r.json()["created"]) == 1
    with demo_db.session() as s:
        impl = s.get(Implementation, r.json()["created"][0])
        assert impl.owner_org_id == o["NHF"] and impl.status == "draft"
    r = client.post("/api/atlas/import?format=dha", content=(DATA / "dha_sample.csv").read_bytes(),
                    headers=token(demo_db, "admin"))
    assert r.status_code == 200 and r.json()["status"] == "review" and len(r.json()["partners"]) == 3
    r = client.post("/api/atlas/import?format=dha&partners=" + json.dumps({"Acme Telehealth Ltd": "new"}),
                    content=(DATA / "dha_sample.csv").read_bytes(), headers=nhf)
    assert r.status_code == 200 and r.json()["status"] == "review"  # two names still to choose
    r = client.post("/api/atlas/import?format=dha&partners=[1]", content=b"x", headers=nhf)
    assert r.status_code == 422


def test_api_export(client, demo_db):
    r = client.get("/api/atlas/export?format=json")
    assert r.status_code == 200
    public = r.json()
    assert public and all("contacts" in x and x["contacts"] == [] for x in public)
    r = client.get("/api/atlas/export?format=csv&entity=investments", headers=token(demo_db, "admin"))
    assert r.status_code == 200 and r.text.startswith("id,title,funder_org_id")
    r = client.get("/api/atlas/export?format=xlsx", headers=token(demo_db, "admin"))
    assert r.status_code == 200 and r.content.startswith(b"PK")
    assert len(json.loads(client.get("/api/atlas/export?format=json", headers=token(demo_db, "admin")).text)) \
        >= len(public)
    assert client.get("/api/atlas/export?format=exe").status_code == 422


def test_investments_round_trip(demo_db):
    with demo_db.session() as s:
        exported = json.loads(transfer.export(s, CLI_OPERATOR, "json", "investments"))
    assert exported
    sample = exported[:3]
    with demo_db.session() as s, pytest.raises(ValidationFailed) as exc:  # already registered
        transfer.import_file(s, CLI_OPERATOR, json.dumps(sample).encode(), "json", "investments")
    assert all("registered already" in e.message for e in exc.value.errors)
    renamed = [{**x, "title": x["title"] + " (copy)"} for x in sample]
    with demo_db.session() as s:
        created = transfer.import_file(s, CLI_OPERATOR, json.dumps(renamed).encode(), "json", "investments").created
    with demo_db.session() as s:
        again = {x["id"]: x for x in json.loads(transfer.export(s, CLI_OPERATOR, "json", "investments"))}
    for new_id, old in zip(created, renamed, strict=True):
        assert {k: v for k, v in again[new_id].items() if k != "id"} == {k: v for k, v in old.items() if k != "id"}


def test_partner_cannot_import_for_another_organisation_in_service(demo_db):
    o = orgs(demo_db)
    with demo_db.session() as s:
        lattice = accounts.principal_for(accounts.find_user(s, "partner.lattice@demo.example.org"), via="session")
    before = counts(demo_db)
    with demo_db.session() as s, pytest.raises(Forbidden):
        transfer.import_file(s, lattice, own_csv(good_rows(o)), valid_only=True)
    assert counts(demo_db) == before


def test_bad_json_records(demo_db):
    o = orgs(demo_db)
    before = counts(demo_db)
    for data, needle in ((b"{not json", "not valid JSON"), (b'{"a": 1}', "list of records")):
        with demo_db.session() as s, pytest.raises(ValidationFailed) as exc:
            transfer.import_file(s, CLI_OPERATOR, data, "json")
        assert needle in exc.value.detail
    items = [7, {"name": "X", "country_iso3": "KEN", "stage": "piloting", "owner_org_id": o["NHF"], "colour": "red"},
             {"name": "", "country_iso3": "KEN", "stage": "piloting", "owner_org_id": o["NHF"]}]
    with demo_db.session() as s, pytest.raises(ValidationFailed) as exc:
        transfer.import_file(s, CLI_OPERATOR, json.dumps(items).encode(), "json")
    assert [(e.field, e.message) for e in exc.value.errors] == [
        ("record 1", "is not an object"), ("record 2, colour", "is not a field of this form"),
        ("record 3, name", "must not be empty")]
    assert counts(demo_db) == before

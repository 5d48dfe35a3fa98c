"""XLSX import and export of the GDHM layout: the round trip, the same row-and-column validation as
the CSV, and hostile archives (zip bombs, lying sizes, path traversal, encryption, XML tricks)
refused quickly with a clear message and nothing written; over the API and the command line too."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select as io_select
import struct
import subprocess
import sys
import time
import warnings
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR
from dho.audit.models import AuditEntry
from dho.cli import app
from dho.errors import ValidationFailed
from dho.maturity import service as maturity
from dho.maturity import transfer, xlsx
from dho.maturity.models import Answer, Assessment
from tests.maturity.conftest import full_scores, gdhm_csv

runner = CliRunner()
WHEN = datetime(2025, 3, 4, 5, 6, 8)


def counts(db) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return tuple(s.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (Assessment, Answer, AuditEntry))


def answers_of(db) -> dict:  # type: ignore[no-untyped-def]
    with db.session() as s:
        rows = s.execute(select(Assessment.country_iso3, Assessment.year, Answer.indicator_code, Answer.phase,
                                Answer.not_available, Answer.rationale, Answer.confidence)
                         .join(Answer, Answer.assessment_id == Assessment.id)).all()
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows}


def workbook(rows: list[list], title: str = "Sheet1") -> bytes:
    """A workbook as a spreadsheet program would save it, made with openpyxl."""
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def header_of(s) -> list[str]:  # type: ignore[no-untyped-def]
    return ["Country ISO3", "Year", *[c for code in maturity.indicator_codes(s, "gdhm-current")
                                      for c in (f"Indicator {code} Score", f"Enter Indicator {code} justification")]]


def line(s, iso3: str, year, phase=3, **scores) -> list:  # type: ignore[no-untyped-def]
    out: list = [iso3, year]
    for code in maturity.indicator_codes(s, "gdhm-current"):
        p = scores.get(f"i{code}", phase)
        out += [p, f"because {code}"]
    return out


def raise_text(exc: ValidationFailed) -> str:
    return exc.detail + " " + " ".join(f"{e.field}: {e.message}" for e in exc.errors)


# ---------------------------------------------------------------- the round trip


def test_round_trip_export_then_import_gives_the_same_data(db):
    with db.session() as s:
        codes = maturity.indicator_codes(s, "gdhm-current")
    ken = {code: {"phase": 4, "rationale": f"evidence {code}"} for code in codes}
    ken["1"] = {"phase": 1, "rationale": "a policy draft\non two lines"}
    ken["2"] = {"phase": None, "rationale": "no data"}
    ken["4"] = {"phase": 5, "rationale": '=HYPERLINK("http://x") évaluée, "quoted"'}
    per = {code: {"phase": 2, "rationale": "2 ; 3,5"} for code in codes}
    doc = {"assessments": [{"country": "KEN", "year": 2023, "answers": ken},
                           {"country": "PER", "year": 2024, "answers": per}]}
    with db.session() as s:
        transfer.import_file(s, CLI_OPERATOR, json.dumps(doc).encode(), "json")
    original = answers_of(db)
    assert original[("KEN", 2023, "4")][2].startswith("=HYPERLINK")
    with db.session() as s:
        book = transfer.export_xlsx(s, CLI_OPERATOR, when=WHEN)
        again = transfer.export_xlsx(s, CLI_OPERATOR, when=WHEN)
        as_csv = transfer.export_gdhm_csv(s, CLI_OPERATOR)
    assert book == again  # deterministic for the same data and time
    header, records = xlsx.read_table(book)
    parsed = list(csv.reader(io.StringIO(as_csv)))
    assert header == parsed[0]
    assert [values for _n, values in records] == parsed[1:]
    assert [n for n, _v in records] == [2, 3]

    # the workbook is a real one: bold frozen header, widths, numbers as numbers, NA and formulas as text
    ws = load_workbook(io.BytesIO(book))["GDHM"]
    assert ws.freeze_panes == "C2" and ws["A1"].font.b and ws["C1"].value == "Indicator 1 Score"
    assert ws.column_dimensions["A"].width >= 12 and ws.column_dimensions["D"].width > 30
    ken = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "KEN")
    cells = {ws.cell(1, c.column).value: c for c in ken}
    assert cells["Year"].value == 2023 and cells["Year"].data_type == "n"
    assert cells["Indicator 1 Score"].value == 1 and cells["Indicator 1 Score"].data_type == "n"
    assert cells["Indicator 2 Score"].value == "NA" and cells["Indicator 2 Score"].data_type == "s"
    assert cells["Enter Indicator 4 justification"].data_type == "s"
    assert cells["Enter Indicator 4 justification"].value.startswith("=HYPERLINK")

    # change everything, then import the workbook: the data is back as it was
    with db.session() as s:
        transfer.import_file(s, CLI_OPERATOR, gdhm_csv(s, [{"iso3": "KEN", "year": 2023, "scores": full_scores(s, 5)},
                                                           {"iso3": "PER", "year": 2024,
                                                            "scores": full_scores(s, 5)}]))
    assert answers_of(db) != original
    with db.session() as s:
        assert transfer.import_file(s, CLI_OPERATOR, book, "xlsx") == {"rows": 2, "created": 0, "updated": 2}
    assert answers_of(db) == original


def test_cells_are_read_as_the_csv_parser_sees_them(db):
    with db.session() as s:
        header = header_of(s)
        rows = [header,
                line(s, "ken", 2023.0, phase=3.0),  # floats as Excel stores numbers; lower-case country
                [],  # blank rows are skipped and do not shift the numbering
                line(s, " SEN ", "2023", i1="NA", i2=None, i3="n/a"),
                [None, None, None]]
        book = workbook(rows, title="Data")
        assert transfer.import_file(s, CLI_OPERATOR, book, "xlsx") == {"rows": 2, "created": 2, "updated": 0}
    got = answers_of(db)
    assert got[("KEN", 2023, "1")][:2] == (3, False)
    assert got[("SEN", 2023, "1")][:2] == (None, True) and got[("SEN", 2023, "2")][:2] == (None, True)


def test_the_sheet_named_gdhm_is_preferred(db):
    wb = Workbook()
    wb.active.title = "Notes"
    wb.active.append(["This sheet is only notes"])
    with db.session() as s:
        ws = wb.create_sheet("gdhm")
        ws.append(header_of(s))
        ws.append(line(s, "GHA", 2022))
        buf = io.BytesIO()
        wb.save(buf)
        assert transfer.import_file(s, CLI_OPERATOR, buf.getvalue(), "xlsx")["created"] == 1


# ---------------------------------------------------------------- wrong values: row and column, nothing written


def test_wrong_values_are_reported_by_row_and_column_and_nothing_is_written(db):
    with db.session() as s:
        rows = [header_of(s),
                line(s, "KEN", 2023, i1=0),  # row 2
                line(s, "SEN", 2023, i2=6),  # row 3
                line(s, "GHA", 2023, i3="three"),  # row 4
                line(s, "XKK", 2023),  # row 5
                line(s, "PER", 2023),  # row 6
                line(s, "PER", 2023),  # row 7: the same country and year again
                line(s, "JAM", 2023, i4=date(2023, 5, 1)),  # row 8: a date in a score cell
                line(s, "NGA", datetime(1905, 7, 15)),  # row 9: a year cell formatted as a date
                line(s, "BRA", 2023, i5=3.5),  # row 10
                line(s, "IND", 2023, i6=3.0)]  # row 11: fine
        book = workbook(rows)
    before = counts(db)
    with db.session() as s, pytest.raises(ValidationFailed) as exc:
        transfer.import_file(s, CLI_OPERATOR, book, "xlsx")
    errors = {e.field: e.message for e in exc.value.errors}
    assert exc.value.detail == "Some rows are not valid; nothing was imported."
    assert set(errors) == {"row 2, Indicator 1 Score", "row 3, Indicator 2 Score", "row 4, Indicator 3 Score",
                           "row 5, Country ISO3", "row 7", "row 8, Indicator 4 Score", "row 9, Year",
                           "row 10, Indicator 5 Score"}
    assert errors["row 2, Indicator 1 Score"].startswith("0 is not a phase")
    assert errors["row 3, Indicator 2 Score"].startswith("6 is not a phase")
    assert errors["row 4, Indicator 3 Score"].startswith("three is not a phase")
    assert errors["row 5, Country ISO3"] == "XKK is not a country code (ISO alpha-3)"
    assert errors["row 7"] == "repeats PER 2023 of row 6"
    assert errors["row 8, Indicator 4 Score"] == "is a date (2023-05-01), not a phase: format the cell as a number"
    assert errors["row 9, Year"].startswith("is a date (1905-07-15)")
    assert errors["row 10, Indicator 5 Score"].startswith("3.5 is not a phase")
    assert counts(db) == before


def test_wrong_columns_are_reported_and_nothing_is_written(db):
    with db.session() as s:
        header = header_of(s)
        width = len(header)
        cases = [
            (workbook([[*header, "Indicator 99 Score"], [*line(s, "KEN", 2023), 3]]),
             f"column {width + 1} (Indicator 99 Score): names indicator 99, which this framework does not have"),
            (workbook([[h for h in header if h != "Year"], line(s, "KEN", 2023)[:1] + line(s, "KEN", 2023)[2:]]),
             "header: the column Year is missing"),
            (workbook([[*header, "Comment"], [*line(s, "KEN", 2023), "x"]]), "is not a column of the GDHM layout"),
            (workbook([header, [*line(s, "KEN", 2023), "beyond the header"]]),
             f"row 2: has {width + 1} values for {width} columns"),
            (workbook([]), "The sheet Sheet1 is empty"),
            (workbook([[None], header]), "The sheet Sheet1 is empty"),
        ]
    before = counts(db)
    for book, message in cases:
        with db.session() as s, pytest.raises(ValidationFailed) as exc:
            transfer.import_file(s, CLI_OPERATOR, book, "xlsx")
        assert message in raise_text(exc.value), raise_text(exc.value)
    assert counts(db) == before


# ---------------------------------------------------------------- hostile files


def zip_of(members: dict[str, bytes], level: int = 9) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, content in members.items():
            z.writestr(name, content)
    return buf.getvalue()


def members_of(book: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(book)) as z:
        return {name: z.read(name) for name in z.namelist()}


def patch_directory(data: bytes, fn) -> bytes:  # type: ignore[no-untyped-def]
    """Rewrite fields of every entry, in the central directory and in the local headers:
    fn(buf, central_offset, local_offset, name)."""
    buf = bytearray(data)
    end = buf.rfind(b"PK\x05\x06")
    count, _size, offset = struct.unpack_from("<HII", buf, end + 10)
    for _ in range(count):
        assert buf[offset:offset + 4] == b"PK\x01\x02"
        n, m, k = struct.unpack_from("<HHH", buf, offset + 28)
        local = struct.unpack_from("<I", buf, offset + 42)[0]
        fn(buf, offset, local, bytes(buf[offset + 46:offset + 46 + n]).decode())
        offset += 46 + n + m + k
    return bytes(buf)


def streamed_zeros(name: str, megabytes: int, extra: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for n, content in extra.items():
            z.writestr(n, content)
        with z.open(name, "w") as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(megabytes):
                f.write(chunk)
    return buf.getvalue()


@pytest.fixture(scope="module")
def hostile() -> list[tuple[str, bytes, str]]:
    return hostile_cases()


def hostile_cases() -> list[tuple[str, bytes, str]]:
    good = workbook([["Country ISO3", "Year"], ["KEN", 2023]])
    parts = members_of(good)
    content_types = parts["[Content_Types].xml"]

    def encrypted(buf, central, local, _name):  # type: ignore[no-untyped-def]
        struct.pack_into("<H", buf, central + 8, struct.unpack_from("<H", buf, central + 8)[0] | 1)
        struct.pack_into("<H", buf, local + 6, struct.unpack_from("<H", buf, local + 6)[0] | 1)

    def small_sizes(buf, central, local, name):  # type: ignore[no-untyped-def]
        if name == "xl/worksheets/sheet1.xml":  # declares 1 kB, holds 20 MB
            struct.pack_into("<I", buf, central + 24, 1000)
            struct.pack_into("<I", buf, local + 22, 1000)

    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    laughs = ('<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
              '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>' + sheet.split("?>", 1)[-1].replace("KEN", "&c;"))
    wide = sheet.replace("</row>", "<c/>" * 20_000 + "</row>", 1)
    return [
        ("bomb of 200 MB of zeros", streamed_zeros("xl/worksheets/sheet1.xml", 200, {
            k: v for k, v in parts.items() if k != "xl/worksheets/sheet1.xml"}), "unpack to more than 50 MB"),
        ("ratio of a zip bomb", streamed_zeros("xl/media/padding.bin", 5, parts), "compressed more than 100 to 1"),
        ("lying sizes", patch_directory(streamed_zeros("xl/worksheets/sheet1.xml", 20, {
            k: v for k, v in parts.items() if k != "xl/worksheets/sheet1.xml"}), small_sizes), "damaged"),
        ("path traversal", zip_of({**parts, "../evil": b"x"}), "unsafe name (../evil)"),
        ("deep path traversal", zip_of({**parts, "xl/../../evil": b"x"}), "unsafe name"),
        ("absolute path", zip_of({**parts, "/etc/evil": b"x"}), "unsafe name"),
        ("windows path", zip_of({**parts, "C:\\evil": b"x"}), "unsafe name"),
        ("encrypted members", patch_directory(good, encrypted), "encrypted"),
        ("password-protected workbook", xlsx.OLE_MAGIC + os.urandom(4000), "password-protected"),
        ("random bytes", os.urandom(10_000).replace(b"PK", b"pk"), "not an XLSX workbook"),
        ("a CSV sent as XLSX", b"Country ISO3,Year\nKEN,2023\n", "is text, not an XLSX workbook"),
        ("empty", b"", "The file is empty"),
        ("truncated", good[: len(good) // 2], "not a valid zip archive"),
        ("a zip but not a workbook", zip_of({"readme.txt": b"hello"}), "no [Content_Types].xml"),
        ("content types only", zip_of({"[Content_Types].xml": content_types}), "could not be read as an XLSX"),
        ("too many members", zip_of({**parts, **{f"x/{i}": b"" for i in range(1001)}}, level=0),
         "more than 1000 members"),
        ("entity expansion", zip_of({**parts, "xl/worksheets/sheet1.xml": laughs.encode()}), "document type"),
        ("over-wide row", zip_of({**parts, "xl/worksheets/sheet1.xml": wide.encode()}), "more than 16384 cells"),
        ("duplicate member", raw_zip([*parts.items(), ("xl/worksheets/sheet1.xml", b"<x/>")]), "two members"),
        ("not deflate", raw_zip(parts.items(), zipfile.ZIP_LZMA), "compression method"),
    ]


def raw_zip(members, method: int = zipfile.ZIP_DEFLATED) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", method) as z:
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name, and writes it
        for name, content in members:
            z.writestr(name, content)
    return buf.getvalue()


def test_hostile_files_are_refused_quickly_and_write_nothing(db, hostile):
    before = counts(db)
    for name, data, message in hostile:
        started = time.monotonic()
        with db.session() as s, pytest.raises(ValidationFailed) as exc:
            transfer.import_file(s, CLI_OPERATOR, data, "xlsx")
        elapsed = time.monotonic() - started
        assert message in raise_text(exc.value), (name, raise_text(exc.value))
        assert elapsed < 3, (name, elapsed)  # nothing big is ever unpacked
        assert counts(db) == before, name


def test_understated_sizes_are_caught(monkeypatch):
    """A member that holds more than the archive's directory declares is refused while it is unpacked."""
    monkeypatch.setattr(xlsx, "MAX_UNPACKED", 3_000_000)
    monkeypatch.setattr(xlsx, "RATIO_FROM", 10**9)
    book = workbook([["Country ISO3", "Year"]])
    parts = members_of(book)
    big = zip_of({**parts, "xl/media/a.bin": b"\0" * 1_000_000, "xl/media/b.bin": b"\0" * 1_000_000,
                  "xl/media/c.bin": b"\0" * 900_000})
    xlsx.check_archive(big)  # 2.9 MB: accepted

    def understate(buf, central, local, name):  # type: ignore[no-untyped-def]
        if name == "xl/media/c.bin":  # claims 10 bytes, so the declared total stays under the limit
            struct.pack_into("<I", buf, central + 24, 10)

    with pytest.raises(ValidationFailed) as exc:
        xlsx.check_archive(patch_directory(big, understate))
    assert "damaged" in exc.value.detail or "more than it declares" in exc.value.detail


# ---------------------------------------------------------------- the API


def token(demo_db, local: str, scopes=("read", "write")) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        user = accounts.find_user(s, f"{local}@demo.example.org")
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "t", "scopes": list(scopes)}, user.id)
    return {"Authorization": f"Bearer {secret}"}


def test_api_import_and_export_xlsx(client, demo_db, hostile):
    with demo_db.session() as s:
        book = workbook([header_of(s), line(s, "KEN", 2029, phase=2)])
    url = "/api/maturity/import"
    params = {"format": "xlsx"}
    viewer, read_only, focal = (token(demo_db, "viewer"), token(demo_db, "focal.ken", ("read",)),
                                token(demo_db, "focal.ken"))
    before = counts(demo_db)
    assert client.post(url, params=params, content=book).status_code == 401
    assert client.post(url, params=params, content=book, headers=viewer).status_code == 403
    assert client.post(url, params=params, content=book, headers=read_only).status_code == 403
    r = client.post(url, params=params, content=b"\0" * 2_000_001, headers=focal)
    assert r.status_code == 413
    for name, data, message in hostile:
        if len(data) > 2_000_000:
            continue  # refused at the door, as above
        r = client.post(url, params=params, content=data, headers=focal)
        assert r.status_code == 422 and message in r.text, (name, r.text)
    assert counts(demo_db) == before

    r = client.post(url, params=params, content=book, headers=focal)
    assert r.status_code == 200 and r.json() == {"rows": 1, "created": 1, "updated": 0}, r.text
    r = client.get("/api/maturity/export", params={"format": "xlsx", "country": "KEN"}, headers=focal)
    assert r.status_code == 200
    assert r.headers["content-type"] == xlsx.MEDIA_TYPE
    assert r.headers["content-disposition"] == 'attachment; filename="gdhm.xlsx"'
    header, records = xlsx.read_table(r.content)
    assert header[:3] == ["Country ISO3", "Year", "Indicator 1 Score"]
    assert ["KEN", "2029", "2", "because 1"] in [v[:4] for _n, v in records]
    assert client.get("/api/maturity/export", params={"format": "xls"}).status_code == 422


# ---------------------------------------------------------------- the command line


def test_cli_import_and_export_xlsx(db, tmp_path: Path):
    with db.session() as s:
        book = workbook([header_of(s), line(s, "SEN", 2026, phase=4)])
    f = tmp_path / "assessments.xlsx"
    f.write_bytes(book)
    r = runner.invoke(app, ["maturity", "import", str(f), "--database", db.url])  # the format from the extension
    assert r.exit_code == 0, r.output
    assert "Imported 1 assessments (1 new, 0 updated)." in r.output
    out = tmp_path / "out.xlsx"
    r = runner.invoke(app, ["maturity", "export", str(out), "--database", db.url])
    assert r.exit_code == 0, r.output
    _header, records = xlsx.read_table(out.read_bytes())
    assert [v[:3] for _n, v in records] == [["SEN", "2026", "4"]]
    r = runner.invoke(app, ["maturity", "export", "-", "--format", "xlsx", "--database", db.url])
    assert r.exit_code == 0 and r.stdout_bytes.startswith(b"PK\x03\x04")  # stdout is redirected here
    r = runner.invoke(app, ["maturity", "export", "-", "--format", "xls", "--database", db.url])
    assert r.exit_code == 1 and "format must be gdhm-csv, xlsx, json" in r.output

    before = counts(db)
    bad = tmp_path / "bad.xlsx"
    for content, message in ((os.urandom(5000).replace(b"PK", b"pk"), "not an XLSX workbook"),
                             (zip_of({"../evil": b"x", "[Content_Types].xml": b"<a/>"}), "unsafe name"),
                             (b"Country ISO3,Year\nKEN,2023\n", "is text")):
        bad.write_bytes(content)
        r = runner.invoke(app, ["maturity", "import", str(bad), "--database", db.url])
        assert r.exit_code == 1 and message in r.output, r.output
        assert len([x for x in r.output.splitlines() if x.strip()]) == 1
    # the same CSV with the right extension and an explicit format is fine
    csv_file = tmp_path / "bad.csv"
    with db.session() as s:
        csv_file.write_bytes(gdhm_csv(s, [{"iso3": "SEN", "year": 2026, "scores": full_scores(s, 4)}]))
    r = runner.invoke(app, ["maturity", "import", str(csv_file), "--database", db.url])
    assert r.exit_code == 0 and "(0 new, 1 updated)" in r.output, r.output
    assert counts(db)[:2] == before[:2]


def test_cli_refuses_to_write_xlsx_to_a_terminal(tmp_path: Path):
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "dho.cli", "maturity", "export", "-", "--format", "xlsx",
                               "--database", f"sqlite:///{tmp_path / 'none.sqlite3'}"],
                              stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE, timeout=120,
                              check=False)
        os.close(follower)
        follower = -1
        shown = b""
        while io_select.select([leader], [], [], 0.2)[0]:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert proc.returncode == 1
    assert b"XLSX workbook is binary" in proc.stderr
    assert b"PK" not in shown
    assert not (tmp_path / "none.sqlite3").exists()  # refused before the database is opened

"""Evidence behind answers: documents (checked uploads), links (checked, never inside our network)
and legal references; who may add them, what publication freezes, and hostile files."""

from __future__ import annotations

import http.server
import io
import threading
import zipfile

import pytest
from sqlalchemy import func, select

from dho import linkcheck
from dho.errors import PayloadTooLarge, ValidationFailed
from dho.maturity import service as maturity
from dho.maturity.models import Evidence, EvidenceFile
from dho.uploads import ZipLimits, check_upload
from tests.maturity.test_api import token

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


def docx(members: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", b"<Types/>")
        z.writestr("word/document.xml", b"<w:document/>")
        for name, data in (members or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def refused(name: str, data: bytes, declared: str = "", max_bytes: int = 1_000_000) -> str:
    with pytest.raises((ValidationFailed, PayloadTooLarge)) as info:
        check_upload(name, declared, data, max_bytes=max_bytes)
    exc = info.value
    return exc.detail + " " + " ".join(f"{e.field}: {e.message}" for e in exc.errors)


# ---------------------------------------------------------------- the upload checks


def test_good_files_pass_with_their_checksum():
    f = check_upload("Loi n° 2019-12.pdf", "application/pdf", PDF, max_bytes=1_000_000)
    assert f.media_type == "application/pdf" and f.size == len(PDF) and len(f.sha256) == 64
    assert check_upload("scan.PNG", "image/png", PNG, max_bytes=1_000_000).media_type == "image/png"
    assert check_upload("notes.txt", "", "Réunion du comité".encode(), max_bytes=1_000).media_type == "text/plain"
    assert check_upload("plan.docx", "application/octet-stream", docx(), max_bytes=1_000_000).media_type.endswith(
        "wordprocessingml.document")


@pytest.mark.parametrize("name", ["../etc/passwd.pdf", "a/b.pdf", "..\\boot.pdf", "C:report.pdf", ".hidden.pdf",
                                  "x\x00.pdf", "rapport\u202etxt.pdf", "", "a" * 300 + ".pdf"])
def test_hostile_file_names_are_refused(name):
    assert "filename" in refused(name, PDF)


def test_types_are_decided_by_content():
    assert "not accepted" in refused("tool.exe", b"MZ\x90\x00" + b"\x00" * 60)
    assert "does not contain what its name says" in refused("photo.png", PDF)
    assert "does not contain what its name says" in refused("report.pdf", b"just text, not a PDF")
    assert "does not contain what its name says" in refused("data.txt", b"bin\x00ary")
    assert "declared as image/png" in refused("report.pdf", PDF, declared="image/png")
    assert "not a valid zip archive" in refused("plan.docx", b"PK\x03\x04" + b"\x00" * 100)


def test_sizes_are_bounded():
    assert "larger than the limit" in refused("big.pdf", PDF + b"0" * 2_000, max_bytes=1_000)
    assert "empty" in refused("empty.pdf", b"")


def test_zip_bombs_and_hostile_archives_are_refused():
    bomb = docx({"word/media/zeros.bin": b"\x00" * 30_000_000})  # compresses about 1000:1
    assert len(bomb) < 200_000
    assert "zip bomb" in refused("bomb.docx", bomb)
    big = ZipLimits(max_unpacked=5_000_000)
    with pytest.raises(ValidationFailed, match="refused"):
        check_upload("big.docx", "", docx({"x.xml": b"<a/>" * 2_000_000}), max_bytes=10_000_000, zip_limits=big)
    assert "unsafe name" in refused("evil.docx", docx({"../../evil.sh": b"rm -rf /"}))
    assert "more than 2000 members" in refused("many.docx", docx({f"p{i}.xml": b"<a/>" for i in range(2_100)}),
                                       max_bytes=10_000_000)
    encrypted = bytearray(docx())
    at = encrypted.find(b"PK\x01\x02")  # central directory entry: set the "encrypted" flag
    encrypted[at + 8] |= 1
    assert "encrypted" in refused("locked.docx", bytes(encrypted))


def test_zip_whose_headers_understate_the_size_is_caught():
    data = bytearray(docx({"word/big.xml": b"<a>" + b"x" * 3_000_000 + b"</a>"}))
    real = (3_000_007).to_bytes(4, "little")
    small = (100).to_bytes(4, "little")
    data = bytearray(bytes(data).replace(real, small))  # lie in both the local and the central header
    message = refused("liar.docx", bytes(data), max_bytes=10_000_000)
    assert "damaged" in message or "more than it declares" in message


# ---------------------------------------------------------------- over HTTP


def _draft(client, demo_db, iso3="KEN", year=2040):  # type: ignore[no-untyped-def]
    r = client.post("/api/maturity/assessments", json={"country_iso3": iso3, "year": year},
                    headers=token(demo_db, f"focal.{iso3.lower()}"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _count(demo_db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        return (s.scalar(select(func.count()).select_from(Evidence)) or 0,
                s.scalar(select(func.count()).select_from(EvidenceFile)) or 0)


def test_focal_point_adds_each_kind_and_everything_is_listed(client, demo_db):
    focal = token(demo_db, "focal.ken")
    aid = _draft(client, demo_db)
    r = client.post(f"/api/maturity/assessments/{aid}/evidence", headers=focal,
                    data={"code": "1", "kind": "document", "title": "Strategy 2024-2028"},
                    files={"file": ("strategy.pdf", PDF, "application/pdf")})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["sha256"] and doc["size"] == len(PDF) and doc["filename"] == "strategy.pdf"
    r = client.post(f"/api/maturity/assessments/{aid}/evidence", headers=focal,
                    data={"code": "1", "kind": "link", "url": "https://health.go.ke/strategy"})
    assert r.status_code == 201 and r.json()["title"] == "https://health.go.ke/strategy"
    r = client.post(f"/api/maturity/assessments/{aid}/evidence", headers=focal,
                    data={"code": "3", "kind": "legal", "citation": "Data Protection Act 2019, s. 25"})
    assert r.status_code == 201 and r.json()["kind"] == "legal"
    items = client.get(f"/api/maturity/assessments/{aid}/evidence", headers=focal).json()
    assert [(i["indicator_code"], i["kind"]) for i in items] == [("1", "document"), ("1", "link"), ("3", "legal")]
    got = client.get(f"/api/maturity/assessments/{aid}/files/{doc['sha256']}", headers=focal)
    assert got.status_code == 200 and got.content == PDF and "attachment" in got.headers["content-disposition"]
    assert "sandbox" in got.headers["content-security-policy"]
    # not published: invisible to the public and to another country
    assert client.get(f"/api/maturity/assessments/{aid}/files/{doc['sha256']}").status_code == 404
    assert client.get(f"/api/maturity/assessments/{aid}/evidence",
                      headers=token(demo_db, "focal.sen")).status_code == 404


@pytest.mark.parametrize(("data", "field"), [
    ({"code": "1", "kind": "link", "url": "javascript:alert(1)"}, "url"),
    ({"code": "1", "kind": "link", "url": "ftp://example.org/x"}, "url"),
    ({"code": "1", "kind": "link", "url": "https://user:pw@example.org/"}, "url"),
    ({"code": "1", "kind": "link", "url": "https://exa mple.org/"}, "url"),
    ({"code": "1", "kind": "link", "url": ""}, "url"),
    ({"code": "1", "kind": "legal", "citation": "  "}, "citation"),
    ({"code": "1", "kind": "document"}, "file"),
    ({"code": "99", "kind": "legal", "citation": "Act"}, "code"),
])
def test_invalid_evidence_is_refused_and_nothing_written(client, demo_db, data, field):
    aid = _draft(client, demo_db)
    before = _count(demo_db)
    r = client.post(f"/api/maturity/assessments/{aid}/evidence", headers=token(demo_db, "focal.ken"), data=data)
    assert r.status_code == 422, r.text
    assert field in r.text
    assert _count(demo_db) == before


def test_hostile_uploads_over_http_change_nothing(client, demo_db):
    focal = token(demo_db, "focal.ken")
    aid = _draft(client, demo_db)
    before = _count(demo_db)
    url = f"/api/maturity/assessments/{aid}/evidence"
    for name, body, ctype in (("../../x.pdf", PDF, "application/pdf"), ("a.pdf", PNG, "application/pdf"),
                              ("bomb.docx", docx({"z.bin": b"\x00" * 30_000_000}), "application/octet-stream"),
                              ("run.sh", b"#!/bin/sh\n", "text/x-sh")):
        r = client.post(url, headers=focal, data={"code": "1", "kind": "document"}, files={"file": (name, body, ctype)})
        assert r.status_code == 422, (name, r.text)
        assert r.json()["type"] == "/problems/validation-failed"
    big = client.post(url, headers=focal, data={"code": "1", "kind": "document"},
                      files={"file": ("big.pdf", PDF + b"0" * 11_000_000, "application/pdf")})
    assert big.status_code == 413
    assert _count(demo_db) == before


def test_who_may_add_evidence(client, demo_db):
    aid = _draft(client, demo_db)
    url = f"/api/maturity/assessments/{aid}/evidence"
    legal = {"code": "1", "kind": "legal", "citation": "Health Act, art. 4"}
    before = _count(demo_db)
    assert client.post(url, data=legal).status_code == 401
    assert client.post(url, data=legal, headers=token(demo_db, "focal.sen")).status_code == 403
    assert client.post(url, data=legal, headers=token(demo_db, "viewer")).status_code == 403
    assert client.post(url, data=legal, headers=token(demo_db, "focal.ken", scopes=("read",))).status_code == 403
    # a respondent adds to their own answer, not to the country's
    resp = token(demo_db, "respondent.1.ken")
    assert client.post(url, data=legal, headers=resp).status_code == 403
    assert _count(demo_db) == before
    r = client.post(url, data={**legal, "own": "true"}, headers=resp)
    assert r.status_code == 201 and r.json()["respondent_id"] is not None
    # and may not remove the country's evidence, nor another respondent theirs
    country = client.post(url, data=legal, headers=token(demo_db, "focal.ken")).json()
    assert client.delete(f"/api/maturity/evidence/{country['id']}", headers=resp).status_code == 403
    assert client.delete(f"/api/maturity/evidence/{r.json()['id']}",
                         headers=token(demo_db, "respondent.2.ken")).status_code == 403
    assert client.delete(f"/api/maturity/evidence/{r.json()['id']}", headers=resp).status_code == 204


def test_consolidation_carries_evidence_and_publication_freezes_it(client, demo_db):
    focal, sec = token(demo_db, "focal.ken"), token(demo_db, "secretariat")
    r1, r2 = token(demo_db, "respondent.1.ken"), token(demo_db, "respondent.2.ken")
    aid = _draft(client, demo_db)
    files_before = _count(demo_db)[1]
    for who in (r1, r2):
        assert client.put(f"/api/maturity/assessments/{aid}/responses/1", json={"phase": 3, "rationale": "ok"},
                          headers=who).status_code == 200
    up = client.post(f"/api/maturity/assessments/{aid}/evidence", headers=r1, data={"code": "1", "kind": "document",
                     "own": "true"}, files={"file": ("minutes.pdf", PDF, "application/pdf")}).json()
    client.post(f"/api/maturity/assessments/{aid}/evidence", headers=r2,  # the same file twice: one copy
                data={"code": "1", "kind": "document", "own": "true"},
                files={"file": ("m.pdf", PDF, "application/pdf")})
    assert client.post(f"/api/maturity/assessments/{aid}/consolidate", headers=focal).status_code == 200
    country = [i for i in client.get(f"/api/maturity/assessments/{aid}/evidence", headers=focal).json()
               if i["respondent_id"] is None]
    assert [(i["indicator_code"], i["sha256"]) for i in country] == [("1", up["sha256"])]
    assert _count(demo_db)[1] == files_before + 1  # stored once
    with demo_db.session() as s:
        codes = maturity.structure(s, "gdhm-current").core_codes
    for code in codes:
        if code != "1":
            client.put(f"/api/maturity/assessments/{aid}/answers/{code}", json={"phase": 2, "rationale": "r"},
                       headers=focal)
    for action, who in (("submit", focal), ("start_review", sec), ("accept", sec), ("approve", focal),
                        ("publish", sec)):
        assert client.post(f"/api/maturity/assessments/{aid}/transitions", json={"action": action},
                           headers=who).status_code == 200
    # published: anyone downloads the frozen evidence; editing it is refused
    got = client.get(f"/api/maturity/assessments/{aid}/files/{up['sha256']}")
    assert got.status_code == 200 and got.content == PDF
    before = _count(demo_db)
    r = client.post(f"/api/maturity/assessments/{aid}/evidence", headers=focal,
                    data={"code": "1", "kind": "legal", "citation": "late"})
    assert r.status_code == 409
    assert client.delete(f"/api/maturity/evidence/{country[0]['id']}", headers=focal).status_code == 409
    assert _count(demo_db) == before
    page = client.get(f"/maturity/assessments/{aid}")
    assert "minutes.pdf" in page.text and up["sha256"] in page.text
    assert client.get(f"/api/maturity/assessments/{aid}/files/{'0' * 64}").status_code == 404
    assert client.get(f"/api/maturity/assessments/{aid}/files/..%2F..%2Fetc").status_code in (404, 422)


# ---------------------------------------------------------------- link checks


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        if self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/ok")
        elif self.path == "/no-head":
            self.send_response(405)
        else:
            self.send_response(200 if self.path == "/ok" else 404)
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def web_server():  # type: ignore[no-untyped-def]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_link_check_results(web_server):
    assert linkcheck.check(web_server + "/ok").status == "refused: not a public address"  # our own network
    assert linkcheck.check("http://10.1.2.3/").status == "refused: not a public address"
    assert linkcheck.check("http://[::1]/").ok is False
    ok = linkcheck.check(web_server + "/ok", allow_private=True)
    assert ok.ok and ok.status == "200"
    gone = linkcheck.check(web_server + "/gone", allow_private=True)
    assert not gone.ok and gone.status == "404"
    moved = linkcheck.check(web_server + "/moved", allow_private=True)
    assert moved.ok and moved.final_url.endswith("/ok")
    assert linkcheck.check(web_server + "/no-head", allow_private=True).status == "200"
    assert linkcheck.check("http://no-such-host.invalid/").status == "DNS failure"


def test_link_check_records_the_result(client, demo_db, web_server, monkeypatch):
    from dho.config import get_settings

    monkeypatch.setattr(get_settings(), "link_check_allow_private", True)
    focal = token(demo_db, "focal.ken")
    aid = _draft(client, demo_db)
    for path in ("/ok", "/gone"):
        client.post(f"/api/maturity/assessments/{aid}/evidence", headers=focal,
                    data={"code": "1", "kind": "link", "url": web_server + path})
    assert client.post(f"/api/maturity/assessments/{aid}/check-links",
                       headers=token(demo_db, "focal.sen")).status_code == 403
    checked = client.post(f"/api/maturity/assessments/{aid}/check-links", headers=focal).json()
    assert sorted((i["url"].rsplit("/", 1)[1], i["link_status"], i["link_ok"]) for i in checked) == [
        ("gone", "404", False), ("ok", "200", True)]
    assert all(i["link_checked_at"] for i in checked)


# ---------------------------------------------------------------- the questionnaire's forms


def test_questionnaire_forms_for_respondent_and_focal_point(client, demo_db):
    from tests.conftest import csrf_from, demo_email, login

    aid = _draft(client, demo_db)
    assert login(client, demo_email("respondent.1.ken")).status_code == 303
    page = client.get(f"/maturity/assessments/{aid}")
    assert page.status_code == 200 and 'name="mode" value="mine"' in page.text  # a respondent answers for themself
    csrf = csrf_from(page.text)
    r = client.post(f"/maturity/assessments/{aid}/answers/2", data={
        "csrf_token": csrf, "mode": "mine", "phase": "3", "rationale": "Policy adopted", "confidence": "high",
        "version": "0"}, follow_redirects=False)
    assert r.status_code == 303 and "mode=mine" in r.headers["location"]
    r = client.post(f"/maturity/assessments/{aid}/evidence", data={"csrf_token": csrf, "mode": "mine", "code": "2",
                    "kind": "document", "title": "Signed policy"},
                    files={"file": ("policy.pdf", PDF, "application/pdf")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    before = _count(demo_db)
    bad = client.post(f"/maturity/assessments/{aid}/evidence", data={"csrf_token": csrf, "mode": "mine", "code": "2",
                      "kind": "document"}, files={"file": ("../../policy.pdf", PDF, "application/pdf")})
    assert bad.status_code == 422 and "must be a plain file name" in bad.text
    no_csrf = client.post(f"/maturity/assessments/{aid}/evidence", data={"mode": "mine", "code": "2",
                          "kind": "legal", "citation": "Act"})
    assert no_csrf.status_code == 403
    assert _count(demo_db) == before
    mine = client.get(f"/maturity/assessments/{aid}")
    assert "Signed policy" in mine.text and "Policy adopted" in mine.text
    # the focal point sees the respondent's answer and evidence beside the country's answer
    client.cookies.clear()
    assert login(client, demo_email("focal.ken")).status_code == 303
    page = client.get(f"/maturity/assessments/{aid}")
    assert "respondent.1.ken@demo.example.org" in page.text and "Signed policy" in page.text
    assert 'name="mode" value="country"' in page.text and "?mode=mine" in page.text


"""The gateway API over HTTP (/api/trust): the journey with a country focal point's token, conditional
requests and paging, and hostile or unauthorised input on every write endpoint, which changes nothing."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR
from dho.config import get_settings
from dho.trust import service, testpki
from dho.trust.cms import sign_cms
from dho.trust.did import verify_did_document
from dho.trust.hcert import HcertVerifier
from dho.trust.models import BusinessRule, RevocationBatch, SignerCertificate
from dho.trust.trustlist import load_did_trustlist, load_gateway_trustlist, load_revocation
from tests.trust.network import Country, batch, issue, rule

ANCHOR = testpki.make_anchor()
CMS_TEXT = {"Content-Type": "application/cms-text"}


def token(demo_db, local: str, scopes=("read", "write")) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        user = accounts.find_user(s, f"{local}@demo.example.org")
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "t", "scopes": list(scopes)}, user.id)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def kenya(demo_db, tmp_path, monkeypatch):
    """The web process knows the anchor certificate (setting), Kenya is onboarded (SCA, UP)."""
    path = tmp_path / "anchor-cert.pem"
    path.write_bytes(ANCHOR.pem)
    monkeypatch.setattr(get_settings(), "trust_anchor_cert", str(path))
    ke = Country.make("KE")
    with demo_db.session() as s:
        for group, party in (("SCA", ke.sca), ("UP", ke.up)):
            service.onboard_participant(s, CLI_OPERATOR, country="KE", group=group, certificate=party.der,
                                        anchor_key=ANCHOR.key)
    return ke


def post(client, path: str, cms: bytes, headers: dict, method: str = "POST"):  # type: ignore[no-untyped-def]
    return client.request(method, f"/api/trust{path}", content=base64.b64encode(cms),
                          headers={**CMS_TEXT, **headers})


def test_journey_over_http(client, demo_db, kenya):
    ke, focal = kenya, token(demo_db, "focal.ken")
    dsc = ke.new_dsc()
    r = post(client, "/signerCertificate", ke.sign(dsc.der), focal)
    assert r.status_code == 201, r.text
    assert r.json()["kid"] == base64.b64encode(dsc.kid).decode() and r.json()["country"] == "KE"

    r = client.get("/api/trust/trustlist")
    assert r.status_code == 200 and "last-modified" in r.headers
    listed = r.json()
    assert {e["certificateType"] for e in listed} == {"DSC", "CSCA", "UPLOAD"}
    assert client.get("/api/trust/trustlist", headers={"If-Modified-Since": r.headers["last-modified"]}
                      ).status_code == 304
    only = client.get("/api/trust/trustlist/DSC/ke").json()
    assert [e["kid"] for e in only] == [base64.b64encode(dsc.kid).decode()]
    cert = issue(dsc, "KE")
    assert HcertVerifier(load_gateway_trustlist(listed)).verify(cert.text).valid

    r = post(client, "/revocation-list", ke.sign_json(batch("KE", [cert.hashes()["SIGNATURE"]], kid=dsc.kid)), focal)
    assert r.status_code == 201, r.text
    batch_id = r.json()["batchId"]
    changed = client.get("/api/trust/revocation-list", params={"since": "2020-01-01T00:00:00Z"}).json()
    assert changed == {"more": False, "batches": [{"batchId": batch_id, "country": "KE", "date": r.json()["date"],
                                                   "deleted": False}]}
    item = client.get(f"/api/trust/revocation-list/{batch_id}").json()
    assert item["batch"]["hashType"] == "SIGNATURE"
    index = load_revocation([item])
    assert HcertVerifier(load_gateway_trustlist(listed), revocation=index).verify(cert.text).failure.code == \
        "HC_REVOKED"

    r = post(client, "/rules", ke.sign_json(rule("KE")), focal)
    assert r.status_code == 201, r.text
    assert [x["identifier"] for x in client.get("/api/trust/rules/KE").json()] == ["VR-KE-0001"]

    with demo_db.session() as s:
        service.sign_did_document(s, CLI_OPERATOR, ANCHOR.key, did_base="did:web:example.org")
    r = client.get("/api/trust/did/DCC")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/did+json")
    assert verify_did_document(r.json(), ANCHOR.cert.public_key())
    assert HcertVerifier(load_did_trustlist(r.json(), ANCHOR.cert)).verify(cert.text).valid
    assert client.get("/api/trust/did/DCC", headers={"If-Modified-Since": r.headers["last-modified"]}
                      ).status_code == 304
    assert client.get("/api/trust/did/DCC/KE").status_code == 404

    r = post(client, "/signerCertificate", ke.sign(dsc.der), focal, method="DELETE")
    assert r.status_code == 204, r.text
    after = client.get("/api/trust/trustlist", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert after.status_code == 200
    assert HcertVerifier(load_gateway_trustlist(after.json())).verify(cert.text).failure.code == "HC_KID_UNKNOWN"
    changes = client.get("/api/trust/trustlist-changes", params={"since": listed[-1]["timestamp"]}).json()
    assert [g["reason"] for g in changes["deleted"]] == ["deleted"]

    r = post(client, "/revocation-list/delete", ke.sign_json({"batchId": batch_id}), focal)
    assert r.status_code == 204, r.text
    gone = client.get(f"/api/trust/revocation-list/{batch_id}")
    assert gone.status_code == 410 and gone.json()["errors"][0] == {"field": "code", "message": "TRUST_BATCH_DELETED"}


def _counts(demo_db) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        return tuple(s.execute(select(func.count()).select_from(m)).scalar() for m in
                     (SignerCertificate, RevocationBatch, BusinessRule))  # type: ignore[return-value]


def test_hostile_and_unauthorised_writes_change_nothing(client, demo_db, kenya):
    ke = kenya
    focal, other, viewer = token(demo_db, "focal.ken"), token(demo_db, "focal.sen"), token(demo_db, "viewer")
    read_only = token(demo_db, "focal.ken", scopes=("read",))
    dsc = ke.new_dsc()
    stranger = testpki.make_up("KE")
    batch_json = json.dumps(batch("KE", [b"x" * 16])).encode()
    bodies = {("POST", "/signerCertificate"): dsc.der, ("DELETE", "/signerCertificate"): dsc.der,
              ("POST", "/signerCertificate/delete"): dsc.der, ("POST", "/revocation-list"): batch_json,
              ("POST", "/rules"): json.dumps(rule("KE")).encode(),
              ("POST", "/revocation-list/delete"): b'{"batchId": "x"}',
              ("DELETE", "/revocation-list"): b'{"batchId": "x"}'}
    for (method, path), content in bodies.items():
        signed = ke.sign(content)
        cases = [
            ({}, signed, CMS_TEXT, 401),
            (viewer, signed, CMS_TEXT, 403),
            (read_only, signed, CMS_TEXT, 403),
            (other, signed, CMS_TEXT, 403),
            (focal, sign_cms(content, stranger.cert, stranger.key), CMS_TEXT, 403),
            (focal, signed, {"Content-Type": "application/json"}, 415),
            (focal, signed, {}, 415),
            (focal, b"A" * 400_000, CMS_TEXT, 413),
            (focal, b"%%% not base64 %%%", CMS_TEXT, 400),
            (focal, content, {"Content-Type": "application/octet-stream"}, 400),  # unsigned
            (focal, b"", CMS_TEXT, 400),
        ]
        for n, (auth, body, ctype, status) in enumerate(cases):
            data = body if body[:1] in (b"\x30", b"A", b"%", b"") else base64.b64encode(body)
            r = client.request(method, f"/api/trust{path}", content=data, headers={**ctype, **auth})
            assert r.status_code == status, (method, path, n, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json"), (path, n)
    r = client.request("DELETE", "/api/trust/signerCertificate", content=base64.b64encode(ke.sign(dsc.der)),
                       headers={**CMS_TEXT, **focal})
    assert r.status_code == 404 and r.json()["errors"][0]["message"] == "TRUST_DSC_UNKNOWN"
    # a tampered signed message and a DSC of another country name their codes
    tampered = bytearray(ke.sign(dsc.der))
    tampered[bytes(tampered).index(dsc.der) + 100] ^= 1
    r = post(client, "/signerCertificate", bytes(tampered), focal)
    assert r.status_code == 400 and r.json()["detail"].startswith("PKI_CMS_DIGEST: ")
    r = post(client, "/signerCertificate", ke.sign(ke.new_dsc(country="SN").der), focal)
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == "PKI_DSC_COUNTRY"
    r = post(client, "/revocation-list", ke.sign_json(batch("KE", [bytes([i % 256, i // 256]) * 8
                                                                     for i in range(1001)])), focal)
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == "REVOCATION_BATCH_TOO_LARGE"
    assert _counts(demo_db) == (0, 0, 0)
    assert [e for e in client.get("/api/trust/trustlist").json() if e["certificateType"] == "DSC"] == []


def test_read_endpoints_refuse_bad_parameters(client, demo_db, kenya):
    ke, focal = kenya, token(demo_db, "focal.ken")
    for _ in range(3):
        assert post(client, "/signerCertificate", ke.sign(ke.new_dsc().der), focal).status_code == 201
    everything = client.get("/api/trust/trustlist").json()
    pages = [client.get("/api/trust/trustlist", params={"page": p, "size": 2}).json() for p in range(3)]
    assert [e for p in pages for e in p] == everything and [len(p) for p in pages] == [2, 2, 1]
    for url, status in (("/api/trust/trustlist/SIGNER", 422), ("/api/trust/trustlist/DSC/K1", 422),
                        ("/api/trust/trustlist?size=0", 422), ("/api/trust/trustlist?size=1001", 422),
                        ("/api/trust/trustlist?page=-1", 422), ("/api/trust/trustlist?since=yesterday", 400),
                        ("/api/trust/trustlist?since=2024-01-01T00:00:00", 400),
                        ("/api/trust/trustlist?domain=%20", 422), ("/api/trust/revocation-list/not-a-uuid", 404),
                        ("/api/trust/revocation-list?since=" + "9" * 70, 422), ("/api/trust/rules/K", 422),
                        ("/api/trust/did/DCC/KE/XYZ", 422), ("/api/trust/trustlist-changes", 422)):
        r = client.get(url)
        assert r.status_code == status, (url, r.status_code, r.text)
    # an unreadable If-Modified-Since is ignored, as HTTP says
    assert client.get("/api/trust/trustlist", headers={"If-Modified-Since": "soon"}).status_code == 200
    assert client.get("/api/trust/trustlist/dsc", params={"since": "2100-01-01T00:00:00Z"}).json() == []


def test_without_an_anchor_certificate_reads_say_so(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "trust_anchor_cert", None)
    r = client.get("/api/trust/trustlist")
    assert r.status_code == 503 and r.json()["errors"][0]["message"] == "TRUST_ANCHOR_MISSING"

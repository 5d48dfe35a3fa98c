"""The trust pages and the verify API: the network page lists participants and keys, the verify page and
``POST /api/trust/verify`` accept pasted text or a QR image and give the right verdict; bad input gets a
clear answer and nothing is stored."""

from __future__ import annotations

import pytest

from dho.accounts.permissions import CLI_OPERATOR
from dho.config import get_settings
from dho.trust import service, testpki
from dho.trust.qr import encode_png
from tests.conftest import csrf_from
from tests.trust.network import Country, issue

ANCHOR = testpki.make_anchor()


@pytest.fixture
def network(demo_db, tmp_path, monkeypatch):
    path = tmp_path / "anchor-cert.pem"
    path.write_bytes(ANCHOR.pem)
    monkeypatch.setattr(get_settings(), "trust_anchor_cert", str(path))
    ke = Country.make("KE")
    dsc = ke.new_dsc()
    with demo_db.session() as s:
        for group, party in (("SCA", ke.sca), ("UP", ke.up)):
            service.onboard_participant(s, CLI_OPERATOR, country="KE", group=group, certificate=party.der,
                                        anchor_key=ANCHOR.key, name="Kenya")
        service.upload_dsc(s, CLI_OPERATOR, ke.sign(dsc.der))
    return ke, dsc


def _post(client, **fields):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/trust/verify").text)
    files = {"file": fields.pop("file")} if "file" in fields else None
    return client.post("/trust/verify", data={"csrf_token": token, **fields}, files=files)


def test_network_page_lists_participants_and_signers(client, network):
    _ke, dsc = network
    page = client.get("/trust")
    assert page.status_code == 200
    assert "Kenya" in page.text and "participant-DCC-KE" in page.text
    import base64

    assert base64.b64encode(dsc.kid).decode() in page.text
    assert "signed by the operator" in page.text and "integrity check failed" not in page.text


def test_verify_page_pasted_text_and_uploaded_image(client, network):
    _ke, dsc = network
    cert = issue(dsc, "KE")
    page = _post(client, text=cert.text)
    assert page.status_code == 200 and "Valid certificate" in page.text and "Musterfrau" in page.text
    page = _post(client, text="", file=("qr.png", encode_png(cert.text, error="Q"), "image/png"))
    assert "Valid certificate" in page.text
    tampered = cert.text[:-5] + ("0" if cert.text[-5] != "0" else "1") + cert.text[-4:]
    page = _post(client, text=tampered)
    assert "Not valid" in page.text and 'id="error-code"' in page.text


@pytest.mark.parametrize(("fields", "code"), [
    ({"text": ""}, "HC_INPUT_EMPTY"),
    ({"text": "hello"}, "HC_PREFIX_MISSING"),
    ({"text": "HC1:" + "A" * 20_000}, "HC_BASE45_LENGTH"),  # cut at 10,000 characters by the form
    ({"text": "", "file": ("x.png", b"not an image at all", "image/png")}, "QR_NOT_IMAGE"),
    ({"text": "", "file": ("blank.png", encode_png("x")[:40], "image/png")}, "QR_IMAGE_CORRUPT"),
])
def test_verify_page_bad_input(client, network, fields, code):
    page = _post(client, **fields)
    assert page.status_code == 200 and f'<code id="error-code">{code}</code>' in page.text


def test_verify_page_needs_the_csrf_token(client, network):
    r = client.post("/trust/verify", data={"text": "HC1:x"})
    assert r.status_code == 403


def test_verify_api(client, network):
    _ke, dsc = network
    cert = issue(dsc, "KE")
    r = client.post("/api/trust/verify", json={"text": cert.text})
    assert r.status_code == 200 and r.json()["valid"] is True and r.json()["signer"]["country"] == "KE"
    r = client.post("/api/trust/verify", files={"file": ("qr.png", encode_png(cert.text), "image/png")})
    assert r.status_code == 200 and r.json()["valid"] is True
    r = client.post("/api/trust/verify", json={"text": cert.text[:-3]}, headers={"Accept-Language": "fr"})
    body = r.json()
    assert body["valid"] is False and body["error"]["code"].startswith("HC_") and body["error"]["message_fr"]
    for bad in (b"{", b"[]", b'{"text": 5}', b"\xff"):
        r = client.post("/api/trust/verify", content=bad, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and "HC1" in r.json()["detail"]
    r = client.post("/api/trust/verify", json={"text": "HC1:" + "A" * 10_001})
    assert r.status_code == 422
    r = client.post("/api/trust/verify", files={"other": ("qr.png", b"x", "image/png")})
    assert r.status_code == 422


def test_without_an_anchor_the_pages_say_so(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "trust_anchor_cert", None)
    page = client.get("/trust")
    assert page.status_code == 503 and 'id="unavailable"' in page.text
    assert _post(client, text="HC1:ABC").status_code == 503
    client.cookies.clear()  # an API client without a session cookie needs no CSRF token
    assert client.post("/api/trust/verify", json={"text": "HC1:ABC"}).status_code == 503

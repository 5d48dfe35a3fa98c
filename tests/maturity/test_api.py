"""The maturity API over HTTP: the cycle by token, scores, aggregates, benchmarks, hostile input."""

from __future__ import annotations

import pytest

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR
from dho.maturity import service as maturity
from tests.maturity.conftest import full_scores, gdhm_csv


def token(demo_db, local: str, scopes=("read", "write")) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        user = accounts.find_user(s, f"{local}@demo.example.org")
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "t", "scopes": list(scopes)}, user.id)
    return {"Authorization": f"Bearer {secret}"}


def test_cycle_over_http(client, demo_db):
    focal, sec = token(demo_db, "focal.ken"), token(demo_db, "secretariat")
    r = client.post("/api/maturity/assessments", json={"country_iso3": "KEN", "year": 2030}, headers=focal)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    with demo_db.session() as s:
        codes = maturity.structure(s, "gdhm-current").core_codes
    for code in codes:
        r = client.put(f"/api/maturity/assessments/{aid}/answers/{code}",
                       json={"phase": 4, "rationale": f"evidence {code}"}, headers=focal)
        assert r.status_code == 200, r.text
    stale = client.put(f"/api/maturity/assessments/{aid}/answers/1", json={"phase": 2, "rationale": "x", "version": 7},
                       headers=focal)
    assert stale.status_code == 409 and stale.json()["type"] == "/problems/conflict"
    for action, who in (("submit", focal), ("start_review", sec), ("accept", sec), ("approve", focal),
                        ("publish", sec)):
        r = client.post(f"/api/maturity/assessments/{aid}/transitions", json={"action": action}, headers=who)
        assert r.status_code == 200, (action, r.text)
    assert r.json()["status"] == "published" and r.json()["published_version"] == 1
    # public reads: no credentials needed for published data
    body = client.get("/api/maturity/scores", params={"country": "KEN", "year": 2030, "rule": "gdhm"}).json()
    assert body["KEN:2030"]["overall"] == {"score": 4.0, "phase": 4}
    b = client.get("/api/maturity/countries/KEN/benchmarks").json()
    assert b["year"] == 2030 and b["world"]["overall"]["n"] >= 1 and "KEN" in b["region"]["overall"]["countries"]
    agg = client.get("/api/maturity/aggregates", params={"group": "region", "method": "pooled"}).json()
    assert any(g["group"] == "AFR" for g in agg)


def test_unpublished_is_invisible_and_writes_need_rights(client, demo_db):
    focal = token(demo_db, "focal.ken")
    aid = client.post("/api/maturity/assessments", json={"country_iso3": "KEN", "year": 2031},
                      headers=focal).json()["id"]
    assert client.get(f"/api/maturity/assessments/{aid}").status_code == 404  # public
    assert client.get(f"/api/maturity/assessments/{aid}", headers=token(demo_db, "focal.sen")).status_code == 404
    assert client.get(f"/api/maturity/assessments/{aid}", headers=token(demo_db, "regional.afr")).status_code == 200
    r = client.put(f"/api/maturity/assessments/{aid}/answers/1", json={"phase": 3, "rationale": "x"},
                   headers=token(demo_db, "focal.sen"))
    assert r.status_code == 403
    r = client.put(f"/api/maturity/assessments/{aid}/answers/1", json={"phase": 3, "rationale": "x"})
    assert r.status_code == 401
    r = client.put(f"/api/maturity/assessments/{aid}/answers/1", json={"phase": 3, "rationale": "x"},
                   headers=token(demo_db, "focal.ken", ("read",)))
    assert r.status_code == 403 and "write" in r.json()["detail"]


@pytest.mark.parametrize("body", [
    {"phase": 6, "rationale": "x"}, {"phase": "3", "rationale": "x"}, {"phase": 3}, {"phase": 3, "rationale": ""},
    {"phase": 3, "rationale": "x", "confidence": "sure"}, {"phase": 3, "rationale": "x", "extra": 1}, [1, 2], "x",
])
def test_bad_answers(client, demo_db, body):
    focal = token(demo_db, "focal.ken")
    aid = client.post("/api/maturity/assessments", json={"country_iso3": "KEN", "year": 2032},
                      headers=focal).json()["id"]
    r = client.put(f"/api/maturity/assessments/{aid}/answers/1", json=body, headers=focal)
    assert r.status_code == 422 and r.json()["errors"]
    r = client.put(f"/api/maturity/assessments/{aid}/answers/..%2F..%2Fetc", json={"phase": 3, "rationale": "x"},
                   headers=focal)
    assert r.status_code in (404, 422)
    assert client.get(f"/api/maturity/assessments/{aid}", headers=focal).json()["answers"] == []


def test_import_endpoint(client, demo_db):
    with demo_db.session() as s:
        data = gdhm_csv(s, [{"iso3": "JAM", "year": 2027, "scores": full_scores(s, 2)}])
    assert client.post("/api/maturity/import", content=data).status_code == 401
    focal = token(demo_db, "focal.ken")
    r = client.post("/api/maturity/import", content=data, headers={**focal, "Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "row 2"
    r = client.post("/api/maturity/import", params={"published": "true"}, content=data,
                    headers={**token(demo_db, "admin", ("read", "write", "admin")), "Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert "JAM:2027" in client.get("/api/maturity/scores", params={"country": "JAM"}).json()
    csv_text = client.get("/api/maturity/export", params={"country": "JAM"}).text
    assert csv_text.splitlines()[1].startswith("JAM,2027,2,")


def _framework_variant(change) -> dict:  # type: ignore[no-untyped-def]
    import copy
    import json
    from pathlib import Path

    doc = json.loads((Path(maturity.FRAMEWORK_DIR) / "gdhm-current.json").read_text())
    doc = copy.deepcopy(doc)
    doc["id"] = "api-variant"
    change(doc)
    return doc


def _indicator(doc, code):  # type: ignore[no-untyped-def]
    return next(i for c in doc["components"] for i in c["indicators"] if i["code"] == code)


@pytest.mark.parametrize("change", [
    lambda d: _indicator(d, "6")["bands"].update(range=[0.5, 100]),  # decimals are not kept
    lambda d: _indicator(d, "6")["bands"].update(range=[0, 10**12]),  # the linter would walk a trillion values
    lambda d: _indicator(d, "6")["bands"]["phases"].update({"3": 7}),  # a band that is not an object
    lambda d: _indicator(d, "6").update(code="6" * 40),  # longer than the column
    lambda d: d.update(id="../../etc"),
    lambda d: d["components"].append("not a component"),
], ids=["decimal", "huge-band", "band-not-object", "long-code", "bad-id", "malformed"])
def test_framework_upload_by_api_refuses_bad_documents(client, demo_db, change):
    admin = token(demo_db, "admin", scopes=("read", "write", "admin"))
    r = client.post("/api/maturity/frameworks", json=_framework_variant(change), headers=admin)
    assert r.status_code == 422, r.text
    assert client.get("/api/maturity/frameworks/api-variant").status_code == 404
    good = client.post("/api/maturity/frameworks", json=_framework_variant(lambda d: None), headers=admin)
    assert good.status_code == 201, good.text

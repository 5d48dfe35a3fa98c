"""API, pages, exports and CLI: reads are public, writes need indicators.manage, bad input changes nothing."""

from __future__ import annotations

import csv
import io
import json
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as DET
from sqlalchemy import func, select
from typer.testing import CliRunner

from dho.cli import app as cli
from dho.indicators.models import IndicatorDefinition, IndicatorTarget
from tests.conftest import csrf_from, demo_email, login

runner = CliRunner()
NEW = {"code": "NEW_ONE", "name_en": "Trainings held", "name_fr": "Formations tenues", "objective": "SO4",
       "spec": {"numerator": "count(trainings)", "unit": "number", "factor": 1, "time_aggregation": "sum"}}


def _rows(db, model=IndicatorDefinition) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _as(client, who: str) -> dict[str, str]:
    assert login(client, demo_email(who)).status_code == 303
    return {"X-CSRF-Token": csrf_from(client.get("/indicators").text)}


def test_reads_are_public_and_bad_queries_are_refused(client):
    body = client.get("/api/indicators").json()
    assert {"NDHS_COUNTRIES", "MS_ASSESSED", "OFFICIALS_TRAINED", "GDHCN_COUNTRIES", "GDHP_MS"} <= {
        d["code"] for d in body}
    one = client.get("/api/indicators/NDHS_APPROVED_PCT").json()
    assert one["unit"] == "percent" and one["versions"][0]["version"] == 1 and "Numerator" in one["method"]
    vals = client.get("/api/indicators/NDHS_COUNTRIES/values?geo=WORLD&period=2025").json()
    assert len(vals["values"]) == 1 and vals["values"][0]["value"] >= 1 and len(vals["snapshot"]) == 64
    rec = client.get("/api/indicators/NDHS_COUNTRIES/records?geo=WORLD&period=2025&limit=5").json()
    assert len(rec["records"]) == 5 and all(r["link"].startswith("/strategy/national/") for r in rec["records"])
    assert client.get("/api/indicators/NDHS_COUNTRIES/values?period=2025Q9").status_code == 422
    assert client.get("/api/indicators/NDHS_COUNTRIES/values?geo=<script>").status_code == 422
    assert client.get("/api/indicators/NOPE_NOPE").status_code == 404
    assert client.get("/api/indicators/export?format=xlsx").status_code == 422
    assert client.get("/api/indicators/export?year=99999").status_code == 422
    page = client.get("/indicators/NDHS_APPROVED_PCT")
    assert page.status_code == 200 and "Edit this indicator" not in page.text
    assert client.get("/indicators/NDHS_APPROVED_PCT/records?geo=AFR&period=2025").status_code == 200
    assert client.get("/indicators").status_code == 200


def test_writes_need_the_permission_and_bad_input_writes_nothing(client, demo_db):
    before = _rows(demo_db)
    assert client.post("/api/indicators", json=NEW).status_code == 401
    headers = _as(client, "viewer")
    assert client.post("/api/indicators", json=NEW, headers=headers).status_code == 403
    assert _rows(demo_db) == before
    client.post("/logout", headers=headers)
    headers = _as(client, "admin")
    bad = [
        {**NEW, "spec": {**NEW["spec"], "numerator": "count(trainings"}},
        {**NEW, "spec": {**NEW["spec"], "numerator": "count(trainings) / 0"}},
        {**NEW, "spec": {**NEW["spec"], "numerator": "#{NEW_ONE}"}},
        {**NEW, "spec": {**NEW["spec"], "rogue": 1}},
        {**NEW, "code": "bad code!"},
        {**NEW, "extra": "x"},
        {**NEW, "spec": {**NEW["spec"], "numerator": "count(x) + " * 400}},
        [1, 2, 3],
    ]
    for body in bad:
        r = client.post("/api/indicators", json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json") and r.json()["errors"]
    assert _rows(demo_db) == before
    r = client.post("/api/indicators", json=NEW, headers=headers)
    assert r.status_code == 201 and r.json()["version"] == 1
    r = client.put("/api/indicators/NEW_ONE", json={**NEW, "name_en": "Trainings held (all)"}, headers=headers)
    assert r.status_code == 200 and r.json()["version"] == 2
    versions = client.get("/api/indicators/NEW_ONE").json()["versions"]
    assert [(v["version"], v["current"]) for v in versions] == [(2, True), (1, False)]
    # targets: the unit must be the definition's
    targets = _rows(demo_db, IndicatorTarget)
    for body in ({"geo": "WORLD", "period": "2027", "value": 80, "unit": "percent"},
                 {"geo": "WORLD", "period": "2027Q1", "value": 80, "unit": "number"},
                 {"geo": "WORLD", "period": "2027", "value": "lots", "unit": "number"},
                 {"geo": "WORLD", "period": "2027", "value": 1e300, "unit": "number"}):
        assert client.put("/api/indicators/NEW_ONE/targets", json=body, headers=headers).status_code == 422
    assert _rows(demo_db, IndicatorTarget) == targets
    ok = client.put("/api/indicators/NEW_ONE/targets", json={"geo": "AFR", "period": "2027", "value": 12,
                                                            "unit": "number"}, headers=headers)
    assert ok.status_code == 200 and ok.json()["value"] == 12.0
    # a circular edit is refused: A -> NEW_ONE -> A
    two = {**NEW, "code": "NEW_TWO", "spec": {**NEW["spec"], "numerator": "#{NEW_ONE} * 2"}}
    assert client.post("/api/indicators", json=two, headers=headers).status_code == 201
    loop = {**NEW, "spec": {**NEW["spec"], "numerator": "#{NEW_TWO}"}}
    r = client.put("/api/indicators/NEW_ONE", json=loop, headers=headers)
    assert r.status_code == 422 and "circular" in r.text
    page = client.get("/indicators/NEW_ONE")
    assert "Edit this indicator" in page.text
    form = {"csrf_token": csrf_from(page.text), "name_en": "x", "name_fr": "x", "numerator": "count(", "unit": "number"}
    assert client.post("/indicators/NEW_ONE/edit", data=form).status_code == 422


def test_exports_parse_back(client):
    csv_text = client.get("/api/indicators/export?format=csv&year=2025&code=NDHS_COUNTRIES").text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    world = [r for r in rows if r["geo"] == "WORLD"]
    assert len(world) == 1 and world[0]["period"] == "2025" and int(world[0]["value"]) >= 1
    doc = client.get("/api/indicators/export?format=json&year=2025&code=NDHS_COUNTRIES").json()
    assert {v["geo"] for v in doc["values"]} >= {"WORLD", "AFR", "LIC"} and len(doc["snapshot"]) == 64
    adx = client.get("/api/indicators/export?format=adx&year=2025")
    root = DET.fromstring(adx.content)
    ns = "{urn:ihe:qrph:adx:2015}"
    assert root.tag == f"{ns}adx"
    groups = {(g.get("orgUnit"), g.get("period")): g for g in root.findall(f"{ns}group")}
    g = groups[("WORLD", "2025-01-01/P1Y")]
    values = {dv.get("dataElement"): dv.get("value") for dv in g.findall(f"{ns}dataValue")}
    assert values["NDHS_COUNTRIES"] == world[0]["value"]
    assert isinstance(root, ET.Element)
    dvs = client.get("/api/indicators/export?format=dvs&year=2025").json()
    found = [d for d in dvs["dataValues"] if d["dataElement"] == "NDHS_COUNTRIES" and d["orgUnit"] == "WORLD"]
    assert found == [{"dataElement": "NDHS_COUNTRIES", "period": "2025", "orgUnit": "WORLD",
                      "value": world[0]["value"]}]
    assert all(set(d) == {"dataElement", "period", "orgUnit", "value"} and isinstance(d["value"], str)
               for d in dvs["dataValues"])
    again = client.get("/api/indicators/export?format=adx&year=2025")
    assert again.content == adx.content  # same data, same bytes


def test_cli_list_compute_export_and_errors(demo_db, tmp_path):
    env = {"DHO_DATABASE_URL": demo_db.url}
    r = runner.invoke(cli, ["indicators", "list"], env=env)
    assert r.exit_code == 0 and "NDHS_APPROVED_PCT" in r.output
    r = runner.invoke(cli, ["indicators", "compute", "--code", "GDHP_MS", "--geo", "WORLD"], env=env)
    assert r.exit_code == 0 and "GDHP_MS\tWORLD\t2025" in r.output
    out = tmp_path / "v.dvs.json"
    r = runner.invoke(cli, ["indicators", "export", "--format", "dvs", "--out", str(out), "--year", "2025"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["dataValues"]
    for args in (["--format", "xls", "--out", str(tmp_path / "x")],
                 ["--format", "csv", "--out", str(tmp_path / "x"), "--year", "12"],
                 ["--format", "csv", "--out", str(tmp_path), "--code", "NDHS_COUNTRIES"],
                 ["--format", "csv", "--out", str(tmp_path / "x"), "--code", "NOPE"]):
        r = runner.invoke(cli, ["indicators", "export", *args], env=env)
        assert r.exit_code == 1 and r.output.count("\n") <= 2 and "error" in r.output, r.output
    assert not (tmp_path / "x").exists()
    r = runner.invoke(cli, ["indicators", "compute", "--geo", "../etc"], env=env)
    assert r.exit_code == 1

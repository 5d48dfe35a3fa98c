"""The global strategy catalogue: shipped data, strict validation of broken copies, lookups, page and API."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from dho.errors import NotFound, ValidationFailed
from dho.strategy import catalogue as cat

SHARED = Path(__file__).resolve().parents[3] / "shared"
SHARED_FRAMEWORK = SHARED / "reference" / "gsdh_framework.json"
SEED = SHARED / "seeds" / "004_be7f31e72b441991.txt"


def raw() -> dict[str, Any]:
    return json.loads(cat.DATA_PATH.read_text(encoding="utf-8"))


def framework() -> dict[str, Any]:
    return json.loads(cat.FRAMEWORK_PATH.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- shipped data


def test_shipped_catalogue_is_complete():
    c = cat.catalogue()
    assert [o.id for o in c.objectives] == ["SO1", "SO2", "SO3", "SO4"]
    assert sum(len(o.policy_options) for o in c.objectives) == 22
    assert sum(len(o.outputs) for o in c.objectives) == 13
    assert [f.id for f in c.framework] == ["FA1", "FA2", "FA3", "FA4"]
    assert len(c.actions) == 151
    ids = [x.id for x in c.index.values()]
    assert len(ids) == len(set(ids))
    for item in c.index.values():
        assert item.title_en.strip() and item.title_fr.strip()
        assert len(item.title_en) <= 200 and len(item.title_fr) <= 200
    # every objective x actor has proposed actions; every term is used somewhere
    for o in c.objectives:
        for actor in cat.ACTORS:
            assert cat.actions(objective=o.id, actor=actor)
    assert {a.term for a in c.actions} == set(cat.TERMS)
    # the French is not the English copied over
    assert sum(x.title_en == x.title_fr for x in c.actions) == 0


def test_ids_in_sync_with_gsdh_framework():
    fw = framework()
    c = cat.catalogue()
    for ref in fw["strategic_objectives"]:
        o = cat.objective(ref["id"])
        assert [p.id for p in o.policy_options] == ref["policy_option_ids"]
        assert [p.id for p in o.outputs] == ref["output_ids"]
    assert [f.id for f in c.framework] == [f["id"] for f in fw["framework_for_action"]]
    assert [o.id for o in c.objectives] == fw["annex_dimensions"]["strategic_objective"]
    assert len(fw["annex_dimensions"]["actor"]) == len(cat.ACTORS)
    assert len(fw["annex_dimensions"]["term"]) == len(cat.TERMS)
    for a in c.actions:
        m = cat.ACTION_ID.match(a.id)
        assert m and m[1] == a.objective
        assert m[2] == cat.ACTOR_CODES[a.actor] and m[3] == cat.TERM_CODES[a.term]
    # numbering has no gaps within a cell
    cells: dict[tuple[str, str, str], list[int]] = {}
    for a in c.actions:
        cells.setdefault((a.objective, a.actor, a.term), []).append(int(cat.ACTION_ID.match(a.id)[4]))
    assert all(v == list(range(1, len(v) + 1)) for v in cells.values())


@pytest.mark.skipif(not SHARED_FRAMEWORK.is_file(), reason="shared reference folder not available")
def test_packaged_framework_matches_shared_reference():
    assert json.loads(SHARED_FRAMEWORK.read_text(encoding="utf-8")) == framework()


@pytest.mark.skipif(not SEED.is_file(), reason="seed text not available")
def test_titles_are_paraphrased_not_copied_from_the_seed():
    """No catalogue title (other than the objectives' official names) shares a run of 10 words with the seed."""
    def words(s: str) -> list[str]:
        return re.findall(r"\w+", s.lower().replace("’", "'"))

    n = 10
    seed = words(SEED.read_text(encoding="utf-8"))
    grams = {tuple(seed[i:i + n]) for i in range(len(seed) - n + 1)}
    copied = []
    for item in cat.catalogue().index.values():
        if isinstance(item, cat.Objective):
            continue
        w = words(item.title_fr)
        if any(tuple(w[i:i + n]) in grams for i in range(len(w) - n + 1)):
            copied.append(item.id)
    assert copied == []


def test_lookups_and_labels():
    assert cat.objective("SO2").title("fr").startswith("Faire progresser")
    a = cat.annex_action("SO2.MS.S4")
    assert (a.objective, a.actor, a.term) == ("SO2", "member_states", "short")
    assert "national digital health strategy" in a.title_en
    assert cat.label("SO2.MS.S4", "en").startswith("SO2.MS.S4 — Develop")
    assert cat.label("SO2.MS.S4", "fr").startswith("SO2.MS.S4 — Élaborer")
    assert cat.label("SO1.PA2", "fr").startswith("SO1.PA2 — ")
    assert cat.label("SO9.XX.Z1") == "SO9.XX.Z1"
    assert cat.get("SO1.O1").kind == "output"
    assert cat.link("SO3.SEC.M8") == "/strategy/catalogue?objective=SO3#SO3.SEC.M8"
    assert cat.link("SO1") == "/strategy/catalogue?objective=SO1#SO1"
    assert cat.link("FA2") == "/strategy/catalogue#FA2"
    with pytest.raises(NotFound):
        cat.objective("SO1.MS.S1")  # an action is not an objective
    with pytest.raises(NotFound):
        cat.annex_action("SO1")
    with pytest.raises(NotFound):
        cat.annex_action(None)  # type: ignore[arg-type]
    short_sec = cat.actions(objective="SO1", actor="secretariat", term="short")
    assert [x.id for x in short_sec] == [f"SO1.SEC.S{i}" for i in range(1, 11)]
    assert len(cat.actions(term="long")) == sum(1 for x in cat.catalogue().actions if x.term == "long")
    assert len(cat.actions()) == 151


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"objective": "SO5"}, "objective"), ({"actor": "donors"}, "actor"), ({"term": "forever"}, "term"),
    ({"objective": "so1"}, "objective"), ({"actor": "<script>"}, "actor"),
])
def test_unknown_filters_are_refused(kwargs, field):
    with pytest.raises(ValidationFailed) as exc:
        cat.actions(**kwargs)
    assert [e.field for e in exc.value.errors] == [field]
    assert "use one of" in exc.value.errors[0].message


# ---------------------------------------------------------------- broken copies


def _drop_policy_option(d):
    d["objectives"][1]["policy_options"].pop(3)


def _extra_output(d):
    d["objectives"][0]["outputs"].append({"id": "SO1.O9", "title_en": "x", "title_fr": "x"})


def _duplicate_id(d):
    d["annex_actions"].append(copy.deepcopy(d["annex_actions"][0]))


def _set_action(key, value):
    def mutate(d):
        d["annex_actions"][5][key] = value
    return mutate


def _drop_objective(d):
    d["objectives"].pop()


def _empty_french_output(d):
    d["objectives"][2]["outputs"][0]["title_fr"] = "   "


def _unknown_field(d):
    d["objectives"][0]["colour"] = "red"


def _no_partner_actions_for_so3(d):
    d["annex_actions"] = [a for a in d["annex_actions"] if not a["id"].startswith("SO3.PAR.")]


def _bad_actor_list(d):
    d["actors"][2]["id"] = "donors"


def _no_citation(d):
    d["source"]["citation"] = ""


BROKEN = [
    (_drop_policy_option, "policy options of SO2 differ from the framework (missing: ['SO2.PA4']"),
    (_extra_output, "unknown: ['SO1.O9']"),
    (_duplicate_id, "duplicate id 'SO1.MS.S1'"),
    (_set_action("objective", "SO7"), "unknown objective 'SO7'"),
    (_set_action("actor", "donors"), "unknown actor 'donors'"),
    (_set_action("term", "eventually"), "unknown term 'eventually'"),
    (_set_action("title_fr", ""), "'title_fr' must be a non-empty string"),
    (_set_action("title_en", "x" * 201), "'title_en' is 201 characters long (at most 200)"),
    (_set_action("id", "SO1.MS.X1"), "id must look like SO1.MS.S1"),
    (_set_action("id", "SO1.SEC.L9"), "id does not match its objective/actor/term"),
    (_set_action("framework", ["FA9"]), "'framework' must list distinct framework-for-action ids"),
    (_set_action("framework", "FA1"), "'framework' must list distinct framework-for-action ids"),
    (_drop_objective, "objectives: missing SO4 from the strategy framework"),
    (_empty_french_output, "objectives[2].outputs[0]: 'title_fr' must be a non-empty string"),
    (_unknown_field, "objectives[0]: unknown field(s) colour"),
    (_no_partner_actions_for_so3, "SO3 has no proposed action for partners"),
    (_bad_actor_list, "actor 'donors' with code 'PAR' is not one of"),
    (_no_citation, "'source' must be an object of strings with a non-empty 'citation'"),
]


@pytest.mark.parametrize(("mutate", "message"), BROKEN, ids=[b[0].__name__ for b in BROKEN])
def test_broken_copy_is_refused_with_a_clear_error(tmp_path, mutate, message):
    data = raw()
    mutate(data)
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(cat.CatalogueError) as exc:
        cat.load_file(path)
    text = str(exc.value)
    assert message in text
    assert str(path) in text
    # the shipped catalogue in memory is untouched
    assert len(cat.catalogue().actions) == 151


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "not valid UTF-8 JSON"),
    (b"\xff\xfe\x00garbage", "not valid UTF-8 JSON"),
    (b"[1, 2, 3]", "the top level must be a JSON object"),
    (b"{}", "'actors' must be a list of objects"),
])
def test_malformed_files_are_refused(tmp_path, content, message):
    path = tmp_path / "catalogue.json"
    path.write_bytes(content)
    with pytest.raises(cat.CatalogueError, match=re.escape(message)):
        cat.load_file(path)


def test_missing_and_oversized_files_are_refused(tmp_path):
    with pytest.raises(cat.CatalogueError, match="file not found"):
        cat.load_file(tmp_path / "nope.json")
    big = tmp_path / "big.json"
    big.write_text('{"x": "' + "a" * (cat.MAX_FILE_BYTES + 10) + '"}', encoding="utf-8")
    with pytest.raises(cat.CatalogueError, match="larger than"):
        cat.load_file(big)


def test_every_problem_is_reported_at_once(tmp_path):
    data = raw()
    _set_action("actor", "donors")(data)
    _set_action("term", "eventually")(data)
    _drop_objective(data)
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(cat.CatalogueError) as exc:
        cat.load_file(path)
    assert len(exc.value.problems) >= 3


def test_valid_copy_loads(tmp_path):
    path = tmp_path / "catalogue.json"
    data = raw()
    data["annex_actions"][0]["framework"] = ["FA1", "FA2"]
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = cat.load_file(path)
    assert loaded.actions[0].framework == ("FA1", "FA2")


# ---------------------------------------------------------------- API and pages


def test_api(client):
    r = client.get("/api/strategy/catalogue")
    assert r.status_code == 200
    body = r.json()
    assert [o["id"] for o in body["objectives"]] == ["SO1", "SO2", "SO3", "SO4"]
    assert body["total_actions"] == 151 == len(body["annex_actions"])
    assert body["source"]["citation"].startswith("World Health Organization")
    r = client.get("/api/strategy/catalogue", params={"objective": "SO2", "actor": "partners", "term": "short",
                                                       "lang": "fr"})
    body = r.json()
    assert [a["id"] for a in body["annex_actions"]] == ["SO2.PAR.S1", "SO2.PAR.S2", "SO2.PAR.S3"]
    assert body["annex_actions"][0]["title"] == body["annex_actions"][0]["title_fr"]
    assert [o["id"] for o in body["objectives"]] == ["SO2"] and [t["id"] for t in body["terms"]] == ["short"]
    # empty filter values mean "all"
    assert client.get("/api/strategy/catalogue", params={"objective": "", "term": ""}).json()["total_actions"] == 151
    # the request's language is used when lang is not given
    r = client.get("/api/strategy/catalogue/SO1.MS.S1", headers={"accept-language": "fr"})
    assert r.status_code == 200
    item = r.json()
    assert item["kind"] == "annex_action" and item["title"] == item["title_fr"]
    assert item["objective"] == "SO1" and item["url"] == "/strategy/catalogue?objective=SO1#SO1.MS.S1"
    obj = client.get("/api/strategy/catalogue/SO4", params={"lang": "en"}).json()
    assert obj["kind"] == "objective" and len(obj["policy_options"]) == 7 and "SO4.PAR.L1" in obj["annex_actions"]
    assert client.get("/api/strategy/catalogue/SO3.O4").json()["objective_title"].startswith("Strengthen")
    assert client.get("/api/strategy/catalogue/FA3").json()["summary"]


@pytest.mark.parametrize(("url", "status", "fields"), [
    ("/api/strategy/catalogue?objective=SO5", 422, {"objective"}),
    ("/api/strategy/catalogue?actor=donors&term=soon", 422, {"actor", "term"}),
    ("/api/strategy/catalogue?actor=%3Cscript%3Ealert(1)%3C%2Fscript%3E", 422, {"actor"}),
    ("/api/strategy/catalogue?objective=" + "S" * 500, 422, None),
    ("/api/strategy/catalogue/SO9.MS.S1", 404, None),
    ("/api/strategy/catalogue/" + "A" * 100, 422, None),
])
def test_api_bad_input_is_problem_json(client, url, status, fields):
    r = client.get(url)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["detail"]
    if fields:
        assert {e["field"] for e in body["errors"]} == fields
        assert all("use one of" in e["message"] for e in body["errors"])


def test_page_in_both_languages(client):
    r = client.get("/strategy/catalogue")
    assert r.status_code == 200
    html = r.text
    assert "Global strategy catalogue" in html and "Policy options" in html
    assert 'id="SO3.SEC.M8"' in html and "Framework for action" in html
    assert html.count('<section class="card" id="SO') == 4
    assert "Member States" in html and "Medium term (2-4 years)" in html
    r = client.get("/strategy/catalogue", params={"lang": "fr"})
    assert r.status_code == 200
    assert cat.annex_action("SO2.MS.S4").title_fr.replace("'", "&#39;") in r.text
    assert "Court terme (1 à 2 ans)" in r.text and "Secrétariat" in r.text
    r = client.get("/strategy/catalogue", params={"objective": "SO4", "actor": "partners", "term": "long"})
    assert r.status_code == 200
    assert r.text.count('<section class="card" id="SO') == 1
    assert 'id="SO4.PAR.L1"' in r.text and 'id="SO4.PAR.S1"' not in r.text and 'id="SO1.MS.S1"' not in r.text
    assert "1 proposed action shown" in r.text
    # the /strategy page links here
    assert 'href="/strategy/catalogue"' in client.get("/strategy").text


def test_page_refuses_bad_filters_clearly(client):
    r = client.get("/strategy/catalogue", params={"objective": "SO5", "actor": "<script>alert(1)</script>"})
    assert r.status_code == 422
    assert "Some filters are not valid" in r.text and "Unknown objective SO5" in r.text
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    assert 'id="SO1.MS.S1"' not in r.text
    r = client.get("/strategy/catalogue", params={"term": "x" * 500})
    assert r.status_code == 422

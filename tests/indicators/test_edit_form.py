"""The indicator editor page: a structured form (no JSON to type) that saves a new version; every shipped
definition survives the form unchanged; bad, hostile and unauthorised input is refused and writes nothing."""

from __future__ import annotations

import re

import pytest

from dho.indicators import engine, service
from dho.indicators.spec import parse_spec
from dho.indicators.views import _form_to_spec, _spec_fields
from tests.conftest import csrf_from, demo_email, login

CODE = "MATURITY_MEDIAN_PHASE"  # a phase indicator with a five-band legend


def _versions(db, code: str = CODE) -> list[int]:
    with db.session() as s:
        return [r.version for r in service.versions(s, code)]


def _form(page: str) -> dict[str, str]:
    """The edit form's current values, as a browser would send them back."""
    form = page[page.index('action="/indicators/'):page.index("</form>", page.index('action="/indicators/'))]
    data = {m[0]: m[1] for m in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form)}
    data.update({m[0]: m[1].strip() for m in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', form)})
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body) or re.search(r"<option selected>([^<]*)<", body)
        data[name] = chosen.group(1) if chosen else ""
    return {k: v.replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&").replace("&#39;", "'")
            for k, v in data.items()}


def test_every_shipped_definition_survives_the_form_unchanged(demo_db):
    with demo_db.session() as s:
        defs = engine.definitions(s)
    assert len(defs) > 10
    for d in defs:
        assert parse_spec(_form_to_spec(_spec_fields(d.spec))) == d.spec, d.code


def test_the_form_shows_the_definition_and_saves_a_new_version(client, demo_db):
    assert login(client, demo_email("admin")).status_code == 303
    page = client.get(f"/indicators/{CODE}").text
    assert "Definition (JSON)" not in page and 'name="numerator"' in page and 'name="legend_colour_4"' in page
    form = _form(page)
    assert form["unit"] == "phase" and form["geo_aggregation"] == "median" and form["legend_colour_0"]
    with demo_db.session() as s:
        before = service.get(s, CODE).spec
    form.update(decimals="2", baseline_period="2020", baseline_value="2.5", legend_from_5="6", legend_to_5="7",
                legend_colour_5="#123456", legend_label_en_5="Beyond", legend_label_fr_5="Au-delà")
    r = client.post(f"/indicators/{CODE}/edit", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text[:400]
    assert _versions(demo_db) == [2, 1]
    with demo_db.session() as s:
        after = service.get(s, CODE).spec
    assert after.decimals == 2 and after.baseline is not None and after.baseline.value == 2.5
    assert len(after.legend) == len(before.legend) + 1 and after.legend[-1].label_fr == "Au-delà"
    assert after.model_copy(update={"decimals": 0, "baseline": None, "legend": before.legend}) == \
        before.model_copy(update={"decimals": 0})  # nothing else moved
    # the percent unit brings its factor with it
    form = _form(client.get(f"/indicators/{CODE}").text)
    form.update(numerator="count(assessments where member)", denominator="count(member_states)", unit="percent",
                legend_from_0="", legend_to_0="", legend_colour_0="", legend_label_en_0="", legend_label_fr_0="")
    form.update({f"legend_{p}_{i}": "" for p in ("from", "to", "colour", "label_en", "label_fr") for i in range(12)})
    form.update(baseline_period="", baseline_value="")
    assert client.post(f"/indicators/{CODE}/edit", data=form, follow_redirects=False).status_code == 303
    with demo_db.session() as s:
        spec = service.get(s, CODE).spec
    assert (spec.unit, spec.factor, spec.legend, spec.baseline) == ("percent", 100, [], None)


@pytest.mark.parametrize(("change", "label"), [
    ({"numerator": "count(countries where"}, "Numerator"),
    ({"numerator": ""}, "Numerator"),
    ({"numerator": "count(nothing_here)"}, "Numerator"),
    ({"numerator": "x" * 5000}, "Numerator"),
    ({"denominator": "count(countries) / 0"}, "Denominator"),
    ({"decimals": "abc"}, "Decimals"),
    ({"decimals": "9"}, "Decimals"),
    ({"unit": "bogus"}, "Unit"),
    ({"unit": "percent"}, "Denominator"),  # a percent needs a denominator
    ({"period_type": "decade"}, "Period type"),
    ({"fy_start_month": "13"}, "Financial years start in month"),
    ({"time_aggregation": "<script>alert(1)</script>"}, "Over time"),
    ({"baseline_period": "2025Q5", "baseline_value": "1"}, "Baseline"),
    ({"baseline_period": "2020", "baseline_value": "lots"}, "Baseline"),
    ({"baseline_period": "2020", "baseline_value": "inf"}, "Baseline"),
    ({"legend_from_0": "5", "legend_to_0": "1"}, "Colour legend, row 1"),
    ({"legend_colour_2": "red"}, "Colour legend, row 3"),
    ({"legend_from_1": "one"}, "Colour legend, row 2"),
    ({"legend_label_en_0": "L" * 200}, "Colour legend, row 1"),
    ({"name_en": ""}, "Name (English)"),
])
def test_bad_input_is_refused_by_field_and_writes_nothing(client, demo_db, change, label):
    assert login(client, demo_email("admin")).status_code == 303
    form = _form(client.get(f"/indicators/{CODE}").text)
    form.update(change)
    r = client.post(f"/indicators/{CODE}/edit", data=form)
    assert r.status_code == 422, r.text[:300]
    assert f"<strong>{label}" in r.text and "Traceback" not in r.text and "<script>alert" not in r.text
    assert _versions(demo_db) == [1]
    assert _form(r.text)["numerator"] == form["numerator"]  # what was typed comes back, to be corrected


def test_rows_past_the_legend_limit_are_ignored_and_labels_are_escaped(client, demo_db):
    assert login(client, demo_email("admin")).status_code == 303
    form = _form(client.get(f"/indicators/{CODE}").text)
    form.update(legend_from_50="1", legend_to_50="2", legend_colour_50="#000000",
                legend_label_en_0='<img src=x onerror="alert(1)">')
    assert client.post(f"/indicators/{CODE}/edit", data=form, follow_redirects=False).status_code == 303
    with demo_db.session() as s:
        spec = service.get(s, CODE).spec
    assert len(spec.legend) == 5 and spec.legend[0].label_en.startswith("<img")
    page = client.get(f"/indicators/{CODE}").text
    assert '<img src=x onerror="alert(1)">' not in page and "&lt;img src=x" in page


def test_only_indicator_managers_may_edit(client, demo_db):
    page = client.get(f"/indicators/{CODE}").text
    assert 'name="numerator"' not in page
    form = {"name_en": "x", "name_fr": "x", "numerator": "count(countries)", "unit": "number"}
    assert client.post(f"/indicators/{CODE}/edit", data=form).status_code in (401, 403)  # no session, no token
    assert login(client, demo_email("focal.pak")).status_code == 303
    page = client.get(f"/indicators/{CODE}").text
    assert 'name="numerator"' not in page
    r = client.post(f"/indicators/{CODE}/edit", data={**form, "csrf_token": csrf_from(page)})
    assert r.status_code == 403
    assert _versions(demo_db) == [1]

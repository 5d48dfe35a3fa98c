"""Loading reference releases: idempotent, diff-based, audited, never touching user data, and a
bad release changes nothing."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR, Principal
from dho.audit import chain
from dho.audit.models import AuditEntry
from dho.errors import Forbidden
from dho.reference import loader
from dho.reference import service as reference
from dho.reference.models import ClassificationCode, ClassificationMap, Country, IncomeGroup


def _rewrite_csv(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames
        rows = [r for r in (edit(dict(r)) for r in reader) if r is not None]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def release_dir(tmp_path: Path) -> Path:
    target = tmp_path / "release"
    shutil.copytree(loader.DATA_DIR, target)
    return target


def test_counts_of_the_shipped_release(db):
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Country).where(Country.who_member)).scalar_one() == 194
        assert s.execute(select(func.count()).select_from(Country)).scalar_one() == 249
        per_scheme = dict(s.execute(select(ClassificationCode.scheme, func.count())
                                    .group_by(ClassificationCode.scheme)).all())
    assert per_scheme == {"cdisah2023-dhi": 138, "cdisah2023-hsc": 52, "cdisah2023-sat": 43,
                          "cdhi2018-dhi": 119, "cdhi2018-sc": 25}


def test_facts_survive_loading(db):
    with db.session() as s:
        idn = reference.get_country(s, "IDN")
        assert (idn.who_region, idn.who_region_before_2025) == ("WPR", "SEAR")
        assert reference.get_country(s, "NAM").iso2 == "NA"  # restored, see SOURCES.md
        assert reference.income_group_in(s, "KEN", 2015) == "LIC"
        assert reference.income_group_in(s, "KEN", 2025) == "LMC"
        afg = reference.get_country(s, "AFG")
        assert afg.un_ldc and afg.un_lldc and not afg.un_sids
        assert reference.country_name(reference.get_country(s, "DEU"), "fr") == "Allemagne"
        # official WHO/UN French names where they differ in substance from CLDR's
        assert reference.country_name(reference.get_country(s, "PRK"), "fr") == \
            "République populaire démocratique de Corée"
        assert reference.country_name(reference.get_country(s, "TWN"), "fr") == "Chine, province de Taïwan"
        rows, _t = reference.search_countries(s, q="allemagne")
        assert [c.iso3 for c in rows] == ["DEU"]
        for q in ("Égypte", "égypte", "EGYPTE", "egy"):  # accents and case ignored on every database
            rows, _t = reference.search_countries(s, q=q)
            assert "EGY" in {c.iso3 for c in rows}, q
        rows, _t = reference.search_countries(s, q="coree")
        assert {"KOR", "PRK"} <= {c.iso3 for c in rows}


def test_loading_twice_changes_nothing(db):
    with db.session() as s:
        before = chain.head(s)
        summary = reference.load(s, CLI_OPERATOR)
    assert summary.unchanged
    with db.session() as s:
        assert chain.head(s) == before


def test_new_release_updates_rows_and_keeps_user_data(db, release_dir: Path):
    with db.session() as s:
        org = accounts.create_organisation(s, CLI_OPERATOR, {"name": "MoH", "kind": "ministry", "country_iso3": "KEN"})
        org_id = org.id

    def edit_country(r):  # type: ignore[no-untyped-def]
        if r["iso3"] == "KEN":
            r["name"] = "Republic of Kenya"
        return None if r["iso3"] == "ALA" else r

    _rewrite_csv(release_dir / "who_countries_and_areas.csv", edit_country)
    _rewrite_csv(release_dir / "cdisah_v2_hsc.csv", lambda r: None if r["code"] == "9.1" else r)
    with db.session() as s:
        summary = reference.load(s, CLI_OPERATOR, release_dir)
    assert not summary.unchanged
    assert summary.counts["ref_country"] == {"added": 0, "updated": 1, "removed": 1}
    assert summary.counts["ref_classification_code"]["removed"] == 1
    with db.session() as s:
        assert reference.get_country(s, "KEN").name == "Republic of Kenya"
        assert reference.get_country(s, "ALA").retired  # kept for references, hidden from lists
        rows, _t = reference.search_countries(s, q="Åland Islands")
        assert rows == []
        assert accounts.get_organisation(s, org_id).country_iso3 == "KEN"
        entries = s.execute(select(AuditEntry).where(AuditEntry.object_type == "ref_country",
                                                     AuditEntry.object_id == "KEN")).scalars().all()
        assert [e.action for e in entries] == ["update"]
        after = chain.parse_json(entries[0].after)
        assert set(after) == {"name", "search_text"} and after["name"] == "Republic of Kenya"
        assert chain.verify(s).ok


@pytest.mark.parametrize(("fname", "edit", "message"), [
    ("who_countries_and_areas.csv", lambda r: {**r, "who_region": "XYZ"} if r["iso3"] == "KEN" else r,
     "unknown WHO region"),
    ("who_countries_and_areas.csv", lambda r: {**r, "iso3": "K3N"} if r["iso3"] == "KEN" else r,
     "bad ISO alpha-3"),
    ("wb_income_history.csv", lambda r: {**r, "income_group": "RICH"} if r["iso3"] == "KEN" else r,
     "unknown income group"),
    ("cdisah_v2_dhi.csv", lambda r: {**r, "parent": "9.9"} if r["code"] == "1.1.1" else r, "unknown parent"),
    ("map_cdhi_v1_to_cdisah_v2.csv", lambda r: {**r, "v2_code": "8.8.8"} if r["v1_code"] == "1.1.1" else r,
     "unknown target code"),
    ("member_states.csv", lambda r: {**r, "un_ldc": "maybe"} if r["iso3"] == "KEN" else r, "boolean"),
])
def test_bad_release_is_refused_and_changes_nothing(db, release_dir: Path, fname, edit, message):
    _rewrite_csv(release_dir / fname, edit)
    with db.session() as s:
        before = chain.head(s)
    with pytest.raises(loader.ReferenceDataError, match=message), db.session() as s:
        reference.load(s, CLI_OPERATOR, release_dir)
    with db.session() as s:
        assert chain.head(s) == before
        assert reference.get_country(s, "KEN").who_region == "AFR"


def test_missing_file_is_refused(db, release_dir: Path):
    (release_dir / "cdisah_v2_hsc.csv").unlink()
    with pytest.raises(loader.ReferenceDataError, match="file missing"), db.session() as s:
        reference.load(s, CLI_OPERATOR, release_dir)


def test_only_admins_load_reference_data(db):
    focal = Principal(1, "f@example.org", (), None, "session")
    with pytest.raises(Forbidden), db.session() as s:
        reference.load(s, focal)


def test_crosswalk(db):
    with db.session() as s:
        unmapped = reference.get_code(s, "cdhi2018-dhi", "3.5.3")
        assert unmapped.maps_to == []
        assert unmapped.parent.code == "3.5"
        renamed = reference.get_code(s, "cdhi2018-dhi", "1.0")
        assert [(m.to_code, m.relationship) for m, _t in renamed.maps_to] == [("1.0", "equivalent")]
        target = reference.get_code(s, "cdisah2023-dhi", "1.1.4")
        assert any(m.from_code == "1.1.4" for m, _src in target.maps_from)
        assert s.execute(select(func.count()).select_from(ClassificationMap)).scalar_one() == 145
        assert s.execute(select(func.count()).select_from(IncomeGroup).where(IncomeGroup.iso3 == "KEN")
                         ).scalar_one() == 11


def test_search(db):
    with db.session() as s:
        rows, total = reference.search_countries(s, region="SEAR", members_only=True)
        assert total == 10 and all(c.who_region == "SEAR" for c in rows)
        rows, _t = reference.search_countries(s, q="fr")
        assert "FRA" in {c.iso3 for c in rows}
        rows, _t = reference.search_countries(s, q="'; DROP TABLE ref_country; --")
        assert rows == []
        _codes, total = reference.search_codes(s, "cdisah2023-dhi", level="user_group")
        assert total == 4
        children, _t = reference.search_codes(s, "cdisah2023-dhi", parent="1.1")
        assert [c.code for c in children][:3] == ["1.1.1", "1.1.2", "1.1.3"]

"""Read the reference data files into rows. Pure parsing: no database here."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale

from dho.jsonutil import canonical_json

DATA_DIR = Path(__file__).parent / "data"

SCHEMES = [
    # id, title, edition, axis, file, extra columns kept as attributes
    ("cdisah2023-dhi", "Digital health interventions", 2023, "interventions", "cdisah_v2_dhi.csv",
     ("user_group_code", "user_group", "fhir_code", "v1_codes", "new_in_v2")),
    ("cdisah2023-hsc", "Health system challenges", 2023, "challenges", "cdisah_v2_hsc.csv", ("category",)),
    ("cdisah2023-sat", "Services and application types", 2023, "services_applications",
     "cdisah_v2_services_applications.csv", ("v1_system_categories",)),
    ("cdhi2018-dhi", "Digital health interventions (2018)", 2018, "interventions", "cdhi_v1_dhi.csv",
     ("user_group", "note")),
    ("cdhi2018-sc", "System categories (2018)", 2018, "services_applications",
     "cdhi_v1_system_categories.csv", ("v2_service_application_type",)),
]
MAPS = [
    ("cdhi2018-dhi", "cdisah2023-dhi", "map_cdhi_v1_to_cdisah_v2.csv"),
    ("cdhi2018-sc", "cdisah2023-sat", "map_system_categories_v1_to_v2.csv"),
]
FILES = sorted({s[4] for s in SCHEMES} | {m[2] for m in MAPS} | {
    "member_states.csv", "who_countries_and_areas.csv", "wb_income_history.csv", "strategy.json",
    "regions.json", "country_names_fr.json",
})


class ReferenceDataError(ValueError):
    pass


def fold(text: str) -> str:
    """Lower case without accents, for search that ignores both on every database."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def sort_key(code: str) -> str:
    parts = re.findall(r"\d+|[A-Za-z]+", code)
    return ".".join(p.zfill(4) if p.isdigit() else p for p in parts)


def _bool(value: str, where: str) -> bool:
    if value in ("True", "true", "1", "yes"):
        return True
    if value in ("False", "false", "0", "no", ""):
        return False
    raise ReferenceDataError(f"{where}: expected a boolean, got {value!r}")


def _csv(directory: Path, name: str) -> list[dict[str, str]]:
    path = directory / name
    if not path.is_file():
        raise ReferenceDataError(f"{name}: file missing from the reference release")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def checksum(directory: Path = DATA_DIR) -> str:
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(name.encode())
        digest.update((directory / name).read_bytes())
    return digest.hexdigest()


@dataclass
class Release:
    regions: list[dict[str, Any]]
    income_names: list[dict[str, Any]]
    countries: list[dict[str, Any]]
    income: list[dict[str, Any]]
    schemes: list[dict[str, Any]]
    codes: list[dict[str, Any]]
    maps: list[dict[str, Any]]
    strategy: list[dict[str, Any]]
    checksum: str


def read_release(directory: Path = DATA_DIR) -> Release:
    regions_doc = json.loads((directory / "regions.json").read_text(encoding="utf-8"))
    regions = [{k: r[k] for k in ("code", "office", "name_en", "name_fr")} for r in regions_doc["regions"]]
    region_codes = {r["code"] for r in regions}
    income_names = [{k: r[k] for k in ("code", "name_en", "name_fr")} for r in regions_doc["income_groups"]]

    members = {r["iso3"]: r for r in _csv(directory, "member_states.csv")}
    official_fr = json.loads((directory / "country_names_fr.json").read_text(encoding="utf-8"))["names"]
    cldr_fr = dict(Locale.parse("fr").territories)
    countries = []
    for i, r in enumerate(_csv(directory, "who_countries_and_areas.csv"), start=2):
        where = f"who_countries_and_areas.csv line {i}"
        if not re.fullmatch(r"[A-Z]{3}", r["iso3"]):
            raise ReferenceDataError(f"{where}: bad ISO alpha-3 code {r['iso3']!r}")
        for col in ("who_region", "who_region_before_2025"):
            if r[col] and r[col] not in region_codes:
                raise ReferenceDataError(f"{where}: unknown WHO region {r[col]!r}")
        m = members.get(r["iso3"], {})
        countries.append({
            "iso3": r["iso3"],
            "iso2": r["iso2"] or None,
            "iso_numeric": int(float(r["iso_numeric"])) if r["iso_numeric"] else None,
            "who_code": r["who_code"] or None,
            "name": r["name"],
            "name_fr": (name_fr := official_fr.get(r["iso3"]) or cldr_fr.get(r["iso2"]) or r["name"]),
            "search_text": fold(" | ".join(filter(None, (r["name"], name_fr, r["iso3"], r["iso2"])))),
            "who_member": _bool(r["who_member"], where),
            "who_region": r["who_region"] or None,
            "who_region_before_2025": r["who_region_before_2025"] or None,
            "sovereign_iso3": r["sovereign_iso3"] or None,
            "wb_region": r["wb_region"] or None,
            "wb_income_group": r["wb_income_group_fy25"] or None,
            "wb_lending_category": m.get("wb_lending_category_fy25") or None,
            "un_ldc": _bool(m.get("un_ldc", ""), where),
            "un_lldc": _bool(m.get("un_lldc", ""), where),
            "un_sids": _bool(m.get("un_sids", ""), where),
            "status_note": m.get("status_note") or None,
            "retired": False,
        })
    missing = set(members) - {c["iso3"] for c in countries}
    if missing:
        raise ReferenceDataError(f"member_states.csv: not in the list of countries and areas: {sorted(missing)}")
    known = {c["iso3"] for c in countries}

    income = []
    for i, r in enumerate(_csv(directory, "wb_income_history.csv"), start=2):
        if r["iso3"] not in known:
            continue  # World Bank economies that are not WHO countries or areas (the Channel Islands)
        if r["income_group"] not in {"LIC", "LMC", "UMC", "HIC"}:
            raise ReferenceDataError(f"wb_income_history.csv line {i}: unknown income group {r['income_group']!r}")
        income.append({
            "iso3": r["iso3"], "fiscal_year": int(r["fiscal_year"]),
            "gni_data_year": int(r["gni_data_year"]), "income_group": r["income_group"],
        })

    schemes, codes = [], []
    for pos, (sid, title, edition, axis, fname, extras) in enumerate(SCHEMES):
        schemes.append({"id": sid, "title": title, "edition": edition, "axis": axis, "position": pos})
        seen = set()
        for i, r in enumerate(_csv(directory, fname), start=2):
            if r["code"] in seen:
                raise ReferenceDataError(f"{fname} line {i}: duplicate code {r['code']!r}")
            seen.add(r["code"])
            codes.append({
                "scheme": sid, "code": r["code"], "name": r["name"],
                "level": r.get("level") or "category",
                "parent_code": r.get("parent") or None, "sort_key": sort_key(r["code"]),
                "attributes": canonical_json({k: r[k] for k in extras if r.get(k)}),
                "retired": False,
            })
        for c in codes:
            if c["scheme"] == sid and c["parent_code"] and c["parent_code"] not in seen:
                raise ReferenceDataError(f"{fname}: code {c['code']} has unknown parent {c['parent_code']}")

    maps = []
    by_scheme = {(c["scheme"], c["code"]) for c in codes}
    for from_s, to_s, fname in MAPS:
        for i, r in enumerate(_csv(directory, fname), start=2):
            if (from_s, r["v1_code"]) not in by_scheme:
                raise ReferenceDataError(f"{fname} line {i}: unknown source code {r['v1_code']!r}")
            to_code = r["v2_code"] or None
            if to_code and (to_s, to_code) not in by_scheme:
                raise ReferenceDataError(f"{fname} line {i}: unknown target code {to_code!r}")
            maps.append({
                "from_scheme": from_s, "from_code": r["v1_code"], "to_scheme": to_s, "to_code": to_code,
                "relationship": r["relationship"], "comment": r.get("comment") or None,
            })

    strategy_doc = json.loads((directory / "strategy.json").read_text(encoding="utf-8"))
    strategy = [
        {"id": e["id"], "kind": e["kind"], "position": pos, "title_en": e["title_en"], "title_fr": e["title_fr"]}
        for pos, e in enumerate(strategy_doc["elements"])
    ]
    return Release(regions, income_names, countries, income, schemes, codes, maps, strategy, checksum(directory))

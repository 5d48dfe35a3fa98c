"""ISO 3166-2 subdivisions (dho.reference.subdivisions): what assessments and coverage areas may name."""

from __future__ import annotations

import pytest

from dho.reference import subdivisions


def test_known_codes_and_their_country():
    assert subdivisions.known("PK-PB") and subdivisions.known("pk-pb", "PK") and subdivisions.known("KE-30", "ke")
    assert not subdivisions.known("PK-PB", "IN")  # a real code, of another country
    assert subdivisions.name("PK-PB") == "Punjab" and subdivisions.name("ke-30") == "Nairobi City"


@pytest.mark.parametrize("bad", ["PK-ZZ", "KE-99", "PK", "", "PK-PB ", "XX-01", "PK-PBX1", "P" * 10_000, None, 7,
                                 "../PK-PB", "PK\x00PB"])
def test_anything_else_is_not_a_subdivision(bad):
    assert not subdivisions.known(bad)  # type: ignore[arg-type]
    assert not subdivisions.known(bad, "PK")  # type: ignore[arg-type]
    assert subdivisions.name(bad) is None  # type: ignore[arg-type]


def test_a_country_lists_its_own_subdivisions_in_code_order():
    kenya = subdivisions.of_country("KE")
    assert len(kenya) == 47 and kenya[0] == ("KE-01", "Baringo") and all(c.startswith("KE-") for c, _ in kenya)
    assert [c for c, _ in kenya] == sorted(c for c, _ in kenya)
    assert subdivisions.example("PK") == "PK-BA" and subdivisions.example("ZZ") == "ZZ-01"
    assert subdivisions.of_country("ZZ") == []

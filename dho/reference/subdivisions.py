"""ISO 3166-2 subdivisions: the subnational units that maturity assessments and atlas coverage areas
name. The list is pycountry's copy of the iso-codes data at the version pinned in pyproject.toml; a
country's new or renamed subdivisions arrive by raising that pin.

Names are the ISO short names, often in a local language ("Harjumaa", "Toshkent"); they are not
translated (the translations shipped with the data are uneven), and a name an atlas coverage row gives
for the same code is preferred where one exists (see dho.indicators.sources)."""

from __future__ import annotations

from functools import cache


@cache
def _names() -> dict[str, str]:
    import pycountry

    return {s.code.upper(): s.name for s in pycountry.subdivisions}


def known(code: str, country_iso2: str | None = None) -> bool:
    """True when ``code`` is an ISO 3166-2 subdivision (of the country ``country_iso2`` when given)."""
    if not isinstance(code, str) or len(code) > 6:
        return False
    code = code.upper()
    if country_iso2 is not None and code[:3] != f"{country_iso2.upper()}-":
        return False
    return code in _names()


def name(code: str) -> str | None:
    """The ISO short name of a subdivision, or None for a code that is not one."""
    return _names().get(code.upper()) if isinstance(code, str) else None


def example(country_iso2: str) -> str:
    """A subdivision code of the country to show in a hint (the first in code order), else "XX-01"."""
    first = of_country(country_iso2)[:1]
    return first[0][0] if first else f"{country_iso2.upper()}-01"


def of_country(country_iso2: str) -> list[tuple[str, str]]:
    """The country's subdivisions as (code, name), in code order."""
    prefix = f"{country_iso2.upper()}-"
    return sorted((c, n) for c, n in _names().items() if c.startswith(prefix))

"""Maturity scores and phases. Pure functions: no database, no I/O. docs/maturity-scoring.md states
every formula here in words.

- Indicator score: the phase a country answered (1-5), or nothing when "not available".
- Component score: mean of the component's available CORE indicators (sub-indicators are shown,
  never averaged).
- Overall score: mean of the available component scores.
- Completeness: answered core indicators / core indicators (and the same for sub-indicators).
- Phase of a score, by a named rule:
  * ``gdhm``: the Global Digital Health Monitor's rule, reproduced exactly: the score as a binary
    double, rounded half-even to one decimal, then the ceiling, clamped to 1-5. A score that rounds
    to more than a whole number goes up a phase (1.05 -> 1.1 -> 2; but 2.05, stored a hair below,
    rounds to 2.0 and stays): an upward bias.
  * ``nearest``: the nearest whole phase of the exact score, ties to the even phase (unbiased).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

RULES = ("nearest", "gdhm")
DEFAULT_RULE = "nearest"
MIN_PHASE, MAX_PHASE = 1, 5


class UnknownRule(ValueError):
    pass


def _clamp(phase: int) -> int:
    return max(MIN_PHASE, min(MAX_PHASE, phase))


def phase_gdhm(score: float | Fraction | None) -> int | None:
    if score is None:
        return None
    return _clamp(math.ceil(round(float(score), 1)))


def phase_nearest(score: float | Fraction | None) -> int | None:
    if score is None:
        return None
    exact = Fraction(score)
    whole = math.floor(exact)
    rest = exact - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1):
        whole += 1
    return _clamp(whole)


def phase_of(score: float | Fraction | None, rule: str) -> int | None:
    if rule == "gdhm":
        return phase_gdhm(score)
    if rule == "nearest":
        return phase_nearest(score)
    raise UnknownRule(f"unknown phase rule {rule!r}; use one of {', '.join(RULES)}")


def mean(values: Sequence[Fraction | float | int], rule: str) -> Fraction | float | None:
    """The mean, exact (Fraction) for our rule; a binary double summed in order for ``gdhm``, as the
    upstream service computes it, so its phases come out the same."""
    if not values:
        return None
    if rule == "gdhm":
        total = 0.0
        for v in values:
            total += float(v)
        return total / len(values)
    return sum((Fraction(v) for v in values), Fraction(0)) / len(values)


@dataclass(frozen=True)
class Component:
    id: str
    core: tuple[str, ...]
    sub: tuple[str, ...] = ()


@dataclass(frozen=True)
class Structure:
    """What scoring needs of a framework: its components and their core and sub-indicator codes."""

    components: tuple[Component, ...]

    @property
    def core_codes(self) -> tuple[str, ...]:
        return tuple(code for c in self.components for code in c.core)

    @property
    def sub_codes(self) -> tuple[str, ...]:
        return tuple(code for c in self.components for code in c.sub)


@dataclass(frozen=True)
class Score:
    score: Fraction | float | None
    phase: int | None
    rule: str
    answered: int
    total: int

    @property
    def completeness(self) -> float:
        return self.answered / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, object]:
        return {"score": None if self.score is None else round(float(self.score), 2), "phase": self.phase}


@dataclass(frozen=True)
class AssessmentScore:
    rule: str
    overall: Score
    components: dict[str, Score]
    indicators: dict[str, int | None]
    sub_answered: int = 0
    sub_total: int = 0
    missing: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {"overall": self.overall.as_dict(),
                "components": {cid: s.as_dict() for cid, s in self.components.items()}}


def score_assessment(structure: Structure, answers: Mapping[str, int | None], rule: str = DEFAULT_RULE
                     ) -> AssessmentScore:
    """Score one country's answers (indicator code -> phase 1-5, or None for not available)."""
    if rule not in RULES:
        raise UnknownRule(f"unknown phase rule {rule!r}; use one of {', '.join(RULES)}")
    components: dict[str, Score] = {}
    for comp in structure.components:
        values = [answers[c] for c in comp.core if answers.get(c) is not None]
        value = mean(values, rule)  # type: ignore[arg-type]
        components[comp.id] = Score(value, phase_of(value, rule), rule, len(values), len(comp.core))
    available = [s.score for s in components.values() if s.score is not None]
    overall_value = mean(available, rule)  # type: ignore[arg-type]
    core = structure.core_codes
    answered_core = sum(1 for c in core if answers.get(c) is not None)
    overall = Score(overall_value, phase_of(overall_value, rule), rule, answered_core, len(core))
    subs = structure.sub_codes
    return AssessmentScore(
        rule=rule, overall=overall, components=components,
        indicators={c: answers.get(c) for c in (*core, *subs)},
        sub_answered=sum(1 for c in subs if answers.get(c) is not None), sub_total=len(subs),
        missing=tuple(c for c in core if answers.get(c) is None),
    )


# ---------------------------------------------------------------- aggregates


@dataclass(frozen=True)
class Aggregate:
    """A group figure with its method, n and the countries behind it."""

    method: str  # "mean_of_countries" or "pooled"
    score: Fraction | float | None
    phase: int | None
    rule: str
    n: int
    countries: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"method": self.method, "score": None if self.score is None else round(float(self.score), 2),
                "phase": self.phase, "rule": self.rule, "n": self.n, "countries": list(self.countries)}


def aggregate_mean_of_countries(scores: Mapping[str, Score], rule: str = DEFAULT_RULE) -> Aggregate:
    """Our one method for every level (indicator, component, overall): the mean of the countries'
    own scores, each country counting once."""
    have = {iso3: s.score for iso3, s in sorted(scores.items()) if s.score is not None}
    value = mean(list(have.values()), rule)  # type: ignore[arg-type]
    return Aggregate("mean_of_countries", value, phase_of(value, rule), rule, len(have), tuple(have))


def aggregate_pooled_component(answers_by_country: Mapping[str, Mapping[str, int | None]], core: Iterable[str],
                               rule: str = DEFAULT_RULE) -> Aggregate:
    """GDHM's regional method (compatibility option): pool every country x core-indicator answer of
    the component and take one mean, so countries that answered more indicators weigh more."""
    pool: list[int] = []
    countries = []
    codes = tuple(core)
    for iso3, answers in sorted(answers_by_country.items()):
        vals = [answers[c] for c in codes if answers.get(c) is not None]
        if vals:
            countries.append(iso3)
            pool.extend(vals)  # type: ignore[arg-type]
    value = mean(pool, rule)  # type: ignore[arg-type]
    return Aggregate("pooled", value, phase_of(value, rule), rule, len(countries), tuple(countries))

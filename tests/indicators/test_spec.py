"""Definition specs and the expression language: every kind of bad input gets a clear error."""

from __future__ import annotations

import json

import pytest

from dho.indicators import expr as X
from dho.indicators import periods as P
from dho.indicators.spec import SpecError, check_references, find_cycle, parse_spec

GOOD = {"numerator": 'countries(strategies where status == "approved")', "denominator": "count(member_states)",
        "unit": "percent", "factor": 100, "decimals": 1}


def errors_of(raw: object) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    return info.value.errors


def test_a_good_spec_parses_and_is_canonical():
    spec = parse_spec(GOOD)
    assert spec.time_aggregation == "last" and spec.geo_aggregation == "pooled"
    assert parse_spec(spec.canonical()) == spec
    assert json.loads(spec.canonical())["numerator"] == GOOD["numerator"]


@pytest.mark.parametrize("text, fragment", [
    ("count(strategies", "expected ')'"),
    ("count(strategies where)", "expected a field name"),
    ("count(strategies) +", "expected a number"),
    ("count(strategies) count(trainings)", "unexpected"),
    ("__import__('os')", "unknown function '__import__'"),
    ("count(strategies where status = 'approved')", "unexpected character '='"),
    ("sum(investments)", "needs a field"),
    ("count(investments.usd)", "takes no field"),
    ("count(x) ; drop table", "unexpected character ';'"),
    ("", "at least 1 character"),
    ("((((((((((((((((((((((((((1))))))))))))))))))))))))))", "nests more than"),
])
def test_malformed_expressions_are_refused_with_the_place(text, fragment):
    errs = errors_of({**GOOD, "numerator": text})
    assert errs and errs[0][0].startswith("numerator")
    assert fragment in errs[0][1]


def test_unknown_source_field_and_value():
    assert "unknown source 'nations'" in errors_of({**GOOD, "numerator": "count(nations)"})[0][1]
    assert "unknown field 'colour'" in errors_of({**GOOD, "numerator": "count(strategies where colour == 'red')"})[0][1]
    msg = errors_of({**GOOD, "numerator": 'count(strategies where status == "aproved")'})[0][1]
    assert "unknown value 'aproved'" in msg and "approved" in msg
    assert "is text" in errors_of({**GOOD, "numerator": "sum(strategies.status)"})[0][1]
    assert "compares numbers" in errors_of({**GOOD, "numerator": "count(strategies where status > 'approved')"})[0][1]
    assert "is not true/false" in errors_of({**GOOD, "numerator": "count(strategies where status)"})[0][1]


def test_division_by_a_literal_zero_is_refused():
    for text in ("count(strategies) / 0", "count(strategies) / (2 - 2)", "1 / (0 * count(trainings))"):
        assert "division by zero" in errors_of({**GOOD, "numerator": text})[0][1]
    parse_spec({**GOOD, "numerator": "count(strategies) / count(trainings)"})  # zero at run time: no value


def test_unknown_fields_and_wrong_types_in_the_spec():
    errs = errors_of({**GOOD, "colour": "red"})
    assert ("colour", "unknown field") in errs
    assert any(f == "factor" for f, _ in errors_of({**GOOD, "factor": 7}))
    assert any(f == "decimals" for f, _ in errors_of({**GOOD, "decimals": "1"}))  # strict: no coercion
    assert any(f == "factor" for f, _ in errors_of({**GOOD, "factor": 1}))  # a percent uses 100
    assert any(f == "denominator" for f, _ in errors_of({**GOOD, "denominator": None}))
    assert any(f == "spec" for f, _ in errors_of("{not json"))
    assert any(f == "spec" for f, _ in errors_of([1, 2]))


def test_an_oversized_spec_is_refused():
    huge = {**GOOD, "numerator": "count(strategies) + " * 200 + "1"}
    assert errors_of(huge)[0] == ("numerator", "String should have at most 2000 characters")
    with pytest.raises(X.ExprError, match="too long"):
        X.parse("1 + " * 600 + "1")
    assert "too large" in errors_of(json.dumps({**GOOD, "pad": "x" * 30_000}))[0][1]


def test_bad_periods_are_refused():
    for bad in ("2025Q5", "2025-13", "FY25", "25", "2025W3", "1066", "x" * 40):
        with pytest.raises(P.BadPeriod):
            P.parse(bad)
    assert any("baseline" in f for f, _ in errors_of({**GOOD, "baseline": {"period": "2020Q9", "value": 1.0}}))
    msg = dict(errors_of({**GOOD, "baseline": {"period": "2020Q1", "value": 1.0}}))["baseline.period"]
    assert "quarter" in msg


def test_circular_references_are_found():
    a = parse_spec({"numerator": "#{B} + 1"})
    b = parse_spec({"numerator": "#{C}"})
    c = parse_spec({"numerator": "#{A} * 2"})
    with pytest.raises(SpecError) as info:
        check_references("A", a, {"B": b, "C": c})
    assert "circular reference: A -> B -> C -> A" in str(info.value)
    with pytest.raises(SpecError, match="circular"):
        check_references("A", parse_spec({"numerator": "#{A}"}), {})
    with pytest.raises(SpecError, match="unknown indicator"):
        check_references("A", parse_spec({"numerator": "#{NOPE}"}), {})
    assert find_cycle({"A": {"B"}, "B": set()}, "A") is None


def test_the_parser_builds_the_expected_tree():
    tree = X.parse('countries(assessments where member and year >= @year - 2) / count(member_states)')
    assert isinstance(tree, X.BinOp) and tree.op == "/"
    call = tree.left
    assert call.func == "countries" and call.source == "assessments"
    assert call.where == X.And((X.Truthy("member"), X.Cmp("year", ">=", X.YearRel(-2))))
    assert X.parse("-(1 + 2) * 3") == X.BinOp("*", X.Neg(X.BinOp("+", X.Num(1), X.Num(2))), X.Num(3))
    assert X.parse('count(participants where gender not in ["male", "other"])').where.negate


def test_periods_and_their_dhis2_and_adx_forms():
    fy = P.parse("FY2025", 7)
    assert (fy.start.isoformat(), fy.end.isoformat()) == ("2024-07-01", "2025-06-30")
    assert P.dhis2(fy) == "2024July" and P.iso_duration(fy) == "2024-07-01/P1Y"
    assert P.dhis2(P.parse("2025-07")) == "202507" and P.iso_duration(P.parse("2025Q3")) == "2025-07-01/P3M"
    assert [p.code for p in P.periods_of("quarter", [2025])] == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    assert len(P.month_ends(P.parse("2024"))) == 12

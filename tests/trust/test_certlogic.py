"""The CertLogic evaluator: every case of the CertLogic 1.3.3 specification suites (evaluation and
validation), the semantics the suites leave out (date-time arithmetic, truthiness, types), and hostile
expressions and data that must end in CertLogicError, never in another exception."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dho.trust import certlogic
from dho.trust.certlogic import MAX_DEPTH, MAX_NODES, CertLogicError, evaluate, issues, validate

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "certlogic-spec"
MISSING = "CertLogic specification test data not found at ../shared/testdata/certlogic-spec"


def _require_spec() -> None:
    if not SPEC.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)


def _suites(folder: str) -> list[tuple[str, dict[str, Any]]]:
    if not SPEC.is_dir():
        return []
    paths = sorted((SPEC / folder).glob("*.json"))
    return [(path.stem, json.loads(path.read_text(encoding="utf-8"))) for path in paths]


def _evaluation_cases() -> tuple[list[Any], list[Any]]:
    """(cases to run as the suite says, cases the suite itself marks "skip"), as pytest params."""
    run, skipped = [], []
    for stem, suite in _suites("testSuite"):
        for number, case in enumerate(suite["cases"], 1):
            for index, assertion in enumerate(case["assertions"], 1):
                expr = assertion.get("certLogicExpression", case.get("certLogicExpression"))
                label = f"{stem}/{number}:{case['name'].strip('# ')}/{index}"
                skip = "skip" in (suite.get("directive"), case.get("directive"), assertion.get("directive"))
                param = pytest.param(expr, assertion["data"], assertion["expected"], id=label)
                (skipped if skip else run).append(param)
    if not SPEC.is_dir():
        run = [pytest.param(None, None, None, id="spec-data-missing")]
    return run, skipped


RUN, SKIPPED = _evaluation_cases()


def _validation_cases() -> list[Any]:
    params = []
    for stem, suite in _suites("validation-testSuite"):
        for number, case in enumerate(suite["cases"], 1):
            label = f"{stem}/{number}:{case.get('name') or json.dumps(case['certLogicExpression'])}"
            params.append(pytest.param(case["certLogicExpression"], case["issues"], id=label))
    return params or [pytest.param(None, None, id="spec-data-missing")]


def _json(value: Any) -> str:
    """Type-exact comparison form: true and 1, 0 and false, {} and [] all differ."""
    return json.dumps(value, sort_keys=True)


# --------------------------------------------------------------------------------------------------------
# The specification suites


def test_suite_is_complete() -> None:
    _require_spec()
    files = {stem for stem, _ in _suites("testSuite")}
    assert len(files) == 14
    assert len(RUN) == 218
    assert len(_validation_cases()) == 23


@pytest.mark.parametrize(("expr", "data", "expected"), RUN)
def test_spec_case(expr: Any, data: Any, expected: Any) -> None:
    _require_spec()
    assert _json(evaluate(expr, data)) == _json(expected)


def test_upstream_skips_are_the_known_ones() -> None:
    """The suite marks 14 assertions "skip": 4 `in` with a null right-hand side and the 10 of the
    "patched reduce" suite. We run them too, against the behaviour the specification defines."""
    _require_spec()
    labels = sorted(p.id.split("/")[0] for p in SKIPPED)
    assert labels == ["ins-with-nulls"] * 4 + ["patched-reduce"] * 10


@pytest.mark.parametrize(("expr", "data", "expected"), [p for p in SKIPPED if p.id.startswith("ins-with-nulls")])
def test_in_needs_an_array(expr: Any, data: Any, expected: Any) -> None:
    """The right-hand side of `in` must evaluate to an array; null is an error, not false."""
    with pytest.raises(CertLogicError, match="must be an array"):
        evaluate(expr, data)


@pytest.mark.parametrize(("expr", "data", "expected"), [p for p in SKIPPED if p.id.startswith("patched-reduce")])
def test_reduce_lambda_sees_only_current_and_accumulator(expr: Any, data: Any, expected: Any) -> None:
    """In CertLogic 1.3.3 the reduce lambda's data is {current, accumulator}: `data.z` is null inside it,
    so the expression counts the null elements (the suite's "patched" expectations assume otherwise)."""
    items = (data or {}).get("x") or []
    assert evaluate(expr, data) == sum(1 for item in items if item is None)


@pytest.mark.parametrize(("expr", "expected_issues"), _validation_cases())
def test_spec_validation_case(expr: Any, expected_issues: list[dict[str, Any]] | None) -> None:
    _require_spec()
    assert [(i.expr, i.message) for i in issues(expr)] == [(i["expr"], i["message"]) for i in expected_issues]
    assert validate(expr) == [i["message"] for i in expected_issues]
    if expected_issues:
        with pytest.raises(CertLogicError) as caught:
            evaluate(expr, {})
        assert caught.value.issues
    else:
        evaluate(expr, {})


def test_every_suite_expression_is_valid_and_matches_the_schema() -> None:
    _require_spec()
    schema = json.loads((SPEC / "schemas" / "CertLogic-expression.json").read_text(encoding="utf-8"))
    checker = jsonschema_rs.Draft7Validator(schema)
    expressions = [p.values[0] for p in RUN + SKIPPED]
    assert len(expressions) == 232
    for expr in expressions:
        assert checker.is_valid(expr), expr
        assert validate(expr) == [], expr


# --------------------------------------------------------------------------------------------------------
# Semantics beyond the suites


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "amount", "unit", "expected"),
    [
        ("2021-01-31", 1, "month", "2021-03-03T00:00:00+00:00"),  # day 31 rolls over
        ("2020-02-29", 1, "year", "2021-03-01T00:00:00+00:00"),  # leap day rolls over
        ("2020-02-29", 4, "year", "2024-02-29T00:00:00+00:00"),
        ("2021-03-15T10:00:00", -3, "month", "2020-12-15T10:00:00+00:00"),  # no offset = UTC
        ("2021-03-27T12:00:00+01:00", 1, "day", "2021-03-28T11:00:00+00:00"),  # a day is 24 hours
        ("2021-06-01T00:00:00+0200", 2, "hour", "2021-06-01T00:00:00+00:00"),
        ("2021-06-01T00:00:00-05", 0, "hour", "2021-06-01T05:00:00+00:00"),
        ("2021-06-01T00:00:00.1234567Z", 0, "hour", "2021-06-01T00:00:00.123456+00:00"),
        ("2004", 18, "year", "2022-12-31T00:00:00+00:00"),  # partial dates: last possible day
        ("2004-02", 0, "day", "2004-02-29T00:00:00+00:00"),
    ],
)
def test_plus_time(start: str, amount: int, unit: str, expected: str) -> None:
    assert evaluate({"plusTime": [start, amount, unit]}, {}) == _at(expected)


@pytest.mark.parametrize(
    ("dob", "expected"),
    [("1999", "1999-12-31"), ("2000-02", "2000-02-29"), ("2001-02", "2001-02-28"), ("2001-11-05", "2001-11-05")],
)
def test_dcc_date_of_birth(dob: str, expected: str) -> None:
    assert evaluate({"dccDateOfBirth": [{"var": "dob"}]}, {"dob": dob}) == _at(expected + "T00:00:00+00:00")


@pytest.mark.parametrize(
    "bad",
    ["", "2021-02-30", "2021-13-01", "2021-06-01T25:00:00Z", "2021-06-01T10:00:00+24:00", "2021-06-01 10:00:00",
     "yesterday", "0000-01-01", "2021-6-1", "99999", None, 5, True, ["2021-01-01"]],
)
def test_plus_time_rejects_bad_dates(bad: Any) -> None:
    with pytest.raises(CertLogicError):
        evaluate({"plusTime": [{"var": "d"}, 0, "day"]}, {"d": bad})


@pytest.mark.parametrize("bad", ["", "2021-00", "2021-02-30", "21-01-01", "2021-01-01T00:00:00Z", None, 2004])
def test_dcc_date_of_birth_rejects_bad_values(bad: Any) -> None:
    with pytest.raises(CertLogicError):
        evaluate({"dccDateOfBirth": [{"var": "d"}]}, {"d": bad})


def test_truthiness_and_equality_rules() -> None:
    date = {"plusTime": ["2021-01-01", 0, "day"]}
    assert evaluate({"if": [{"var": ""}, 1, 2]}, {"a": 0}) == 1  # non-empty object is truthy
    assert evaluate({"!": [{"var": "x"}]}, {"x": 0.0}) is True
    assert evaluate({"and": [True, date]}, {}) == _at("2021-01-01T00:00:00+00:00")  # last operand not judged
    assert evaluate({"===": [True, 1]}, {}) is False
    assert evaluate({"===": [{"var": "a"}, 2]}, {"a": 2.0}) is True
    assert evaluate({"===": [{"var": "a"}, {"var": "a"}]}, {"a": [1]}) is True  # the same array
    assert evaluate({"===": [[1], [1]]}, {}) is False  # two arrays built apart (JavaScript semantics)
    assert evaluate({"in": [1, [True, 1.0]]}, {}) is True
    for expr in ({"if": [date, 1, 2]}, {"!": [date]}, {"and": [date, True]}, {"===": [date, date]}):
        with pytest.raises(CertLogicError):
            evaluate(expr, {})


@pytest.mark.parametrize(
    ("expr", "data", "message"),
    [
        ({"<": [{"var": "a"}, 1]}, {"a": "0"}, "must be integers"),
        ({"<": [{"var": "a"}, 1]}, {}, "must be integers"),
        ({">=": [{"var": "a"}, 1]}, {"a": True}, "must be integers"),
        ({"<": [{"var": "a"}, 1]}, {"a": 0.5}, "must be integers"),
        ({"before": ["2021-01-01", "2021-01-02"]}, {}, "must be date-times"),
        ({"after": [{"plusTime": ["2021-01-01", 0, "day"]}, 5]}, {}, "must be date-times"),
        ({"+": [{"var": "a"}, 1]}, {"a": "1"}, "must be integers"),
        ({"+": [{"var": "a"}, {"var": "a"}]}, {"a": 2**53 - 1}, "out of range"),
        ({"reduce": [{"var": "a"}, 0, 0]}, {"a": "abc"}, "array or null"),
        ({"extractFromUVCI": [{"var": "a"}, 0]}, {"a": 42}, "string or null"),
        ({"plusTime": ["2021-01-01", 10_000, "year"]}, {}, "out of range"),
        ({"plusTime": ["2021-01-01", 2**53 - 1, "hour"]}, {}, "out of range"),
        ({"plusTime": ["0001-01-01", -1, "day"]}, {}, "out of range"),
    ],
)
def test_run_time_type_errors(expr: Any, data: Any, message: str) -> None:
    with pytest.raises(CertLogicError, match=message):
        evaluate(expr, data)


# --------------------------------------------------------------------------------------------------------
# Hostile expressions and data


def _nested(levels: int) -> dict[str, Any]:
    expr: Any = True
    for _ in range(levels - 1):
        expr = {"!": [expr]}
    return expr


def test_depth_limit() -> None:
    assert evaluate(_nested(MAX_DEPTH), {}) is ((MAX_DEPTH - 1) % 2 == 0)  # 63 negations of true
    with pytest.raises(CertLogicError, match="nested deeper than 64"):
        evaluate(_nested(MAX_DEPTH + 1), {})


def test_very_deep_nesting_does_not_hit_python_recursion() -> None:
    expr: Any = 1
    for _ in range(200_000):
        expr = [expr]
    with pytest.raises(CertLogicError, match="nested deeper"):
        evaluate(expr, {})
    assert validate(expr) == [f"expression nested deeper than {MAX_DEPTH} levels"]


def test_cyclic_expression() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(CertLogicError, match="nested deeper"):
        evaluate(loop, {})


def test_size_limit() -> None:
    assert evaluate(list(range(MAX_NODES - 1)), {})[-1] == MAX_NODES - 2
    with pytest.raises(CertLogicError, match="too large"):
        evaluate(list(range(MAX_NODES)), {})
    with pytest.raises(CertLogicError, match="too large"):
        evaluate({"and": [True] * 50_000}, {})


def test_huge_data_arrays_exhaust_the_step_budget_quickly() -> None:
    started = time.perf_counter()
    add = {"reduce": [{"var": "x"}, {"+": [{"var": "accumulator"}, 1]}, 0]}
    assert evaluate(add, {"x": [0] * 1000}) == 1000
    with pytest.raises(CertLogicError, match="steps"):
        evaluate(add, {"x": [0] * 1_000_000})
    with pytest.raises(CertLogicError, match="steps"):
        evaluate({"in": [1, {"var": "x"}]}, {"x": [0] * 1_000_000})
    # a reduce inside a reduce multiplies the work: refused before it runs
    inner = {"reduce": [{"var": "current"}, {"+": [{"var": "accumulator"}, 1]}, {"var": "accumulator"}]}
    nested = {"reduce": [{"var": "x"}, inner, 0]}
    assert evaluate(nested, {"x": [[0] * 10] * 10}) == 100
    with pytest.raises(CertLogicError, match="steps"):
        evaluate(nested, {"x": [[0] * 2000] * 2000})
    assert time.perf_counter() - started < 10


def test_accumulator_doubling_is_bounded() -> None:
    doubling = {"reduce": [{"var": "x"}, {"+": [{"var": "accumulator"}, {"var": "accumulator"}]}, 1]}
    assert evaluate(doubling, {"x": [0] * 10}) == 1024
    with pytest.raises(CertLogicError, match="out of range"):
        evaluate(doubling, {"x": [0] * 5000})


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ({"or": [True, False]}, 'unrecognised operator: "or"'),
        ({"!==": [1, 2]}, 'unrecognised operator: "!=="'),
        ({"map": [[1], {"var": ""}]}, 'unrecognised operator: "map"'),
        ({"if": [True, 1]}, 'the "if" operation must have 3 operands, but it has 2'),
        ({"if": [True, 1, 2, 3]}, "must have 3 operands"),
        ({"===": [1]}, "must have 2 operands"),
        ({"in": [1, [1], [2]]}, "must have 2 operands"),
        ({"+": [1, 2, 3]}, "must have 2 operands"),
        ({"and": [True]}, "must have at least 2 operands"),
        ({"!": []}, "must have 1 operand,"),
        ({"<": [1]}, "must have 2 or 3 operands"),
        ({"not-after": [1, 2, 3, 4]}, "must have 2 or 3 operands"),
        ({"plusTime": ["2021-01-01", 1]}, "must have 3 operands"),
        ({"plusTime": ["2021-01-01", "1", "day"]}, "must be an integer literal"),
        ({"plusTime": ["2021-01-01", {"var": "n"}, "day"]}, "must be an integer literal"),
        ({"plusTime": ["2021-01-01", 1, "week"]}, "unit of"),
        ({"plusTime": ["2021-01-01", 1.5, "day"]}, "must be an integer literal"),
        ({"extractFromUVCI": [{"var": ""}, "1"]}, "must be an integer literal"),
        ({"reduce": [[], 0]}, "must have 3 operands"),
        ({"dccDateOfBirth": ["2000", "2001"]}, "must have 1 operand,"),
        ({"var": 0}, 'not of the form { "var": "<path>" }'),
        ({"var": ["x"]}, 'not of the form { "var": "<path>" }'),
        ({"var": None}, 'not of the form { "var": "<path>" }'),
        ({"var": "a..b"}, "doesn't have a valid format"),
        ({"var": ".a"}, "doesn't have a valid format"),
        ({"if": [True, None, 1]}, "invalid CertLogic expression"),
        (float("nan"), "nan is a non-integer number"),
        (float("inf"), "inf is a non-integer number"),
        ({"<": [float("-inf"), 1]}, "-inf is a non-integer number"),
        (2**53, "out of range"),
        (b"bytes", "invalid CertLogic expression"),
        ((1, 2), "invalid CertLogic expression"),
        ({1, 2}, "invalid CertLogic expression"),
        ({"and": [object(), True]}, "invalid CertLogic expression"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_invalid_expressions(expr: Any, message: str) -> None:
    assert any(message in m for m in validate(expr)), validate(expr)
    with pytest.raises(CertLogicError, match=re.escape(message)):
        evaluate(expr, {})


def test_issues_point_at_the_problem() -> None:
    found = issues({"and": [{"var": "ok"}, {"if": [1, 2]}, {"x": [1], "y": [2]}]})
    assert [(i.path, i.message) for i in found] == [
        ("/and/1", 'the "if" operation must have 3 operands, but it has 2'),
        ("/and/2", "expression object must have exactly one key, but it has 2"),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "neither truthy nor falsy"),
        (float("inf"), "must be integers"),
        (float("nan"), "must be integers"),
    ],
)
def test_non_finite_data(value: float, message: str) -> None:
    expr = {"if": [{"var": "x"}, 1, 0]} if "truthy" in message else {"<": [{"var": "x"}, 1]}
    with pytest.raises(CertLogicError, match=message):
        evaluate(expr, {"x": value})


def test_no_regex_compiled_while_evaluating(monkeypatch: pytest.MonkeyPatch) -> None:
    program = certlogic.compile_expression({"and": [
        {"extractFromUVCI": [{"var": "ci"}, 1]},
        {"after": [{"plusTime": [{"var": "d"}, 1, "day"]}, {"dccDateOfBirth": [{"var": "dob"}]}]},
    ]})

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("regular expression compiled at evaluation time")

    monkeypatch.setattr(re, "compile", refuse)
    monkeypatch.setattr(re, "_compile", refuse)
    assert program.evaluate({"ci": "URN:UVCI:01:NL:187/37512422923", "d": "2021-06-01T10:00:00+02:00",
                             "dob": "1980-04"}) is True


def test_program_is_reusable_and_independent_of_later_mutation() -> None:
    expr = {">=": [{"var": "n"}, 2]}
    program = certlogic.compile_expression(expr)
    expr[">="][1] = 100
    assert [program.evaluate({"n": n}) for n in (1, 2, 3)] == [False, True, True]
    assert program.size == 3  # the operation, the var and the literal


# Property test: whatever the expression and data, the outcome is a value or a CertLogicError.
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "a", "2021-06-01", "2004",
                     "URN:UVCI:01:NL:1#2", "2021-06-01T10:00:00Z"]), st.floats(allow_nan=True, allow_infinity=True))
_ops = st.sampled_from([*sorted(certlogic.OPERATORS - {"var"}), "or", "map"])
_paths = st.sampled_from(["", "a", "a.0", "b.c", "x.", "0", "current", "accumulator"])
_units = st.sampled_from(["day", "hour", "month", "year", "week"])


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.builds(lambda p: {"var": p}, _paths),
        st.builds(lambda op, args: {op: args}, _ops, st.lists(children, max_size=4)),
        st.builds(lambda e, n, u: {"plusTime": [e, n, u]}, children, st.integers(-5000, 5000), _units),
        st.builds(lambda e, n: {"extractFromUVCI": [e, n]}, children, st.integers(-1, 6)),
    )


_expressions = st.recursive(_scalars, _extend, max_leaves=25)
_data = st.recursive(_scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                  st.dictionaries(st.sampled_from(["a", "b", "c", "0"]), c)),
                     max_leaves=15)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_expressions, _data)
def test_arbitrary_input_gives_a_value_or_certlogic_error(expr: Any, data: Any) -> None:
    try:
        result = evaluate(expr, data)
    except CertLogicError as exc:
        assert str(exc)
    else:
        assert validate(expr) == []
        assert result is None or isinstance(result, bool | int | float | str | list | dict | datetime)

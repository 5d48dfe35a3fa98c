"""A CertLogic 1.3.3 evaluator, written from the specification's semantics.

CertLogic is the JsonLogic subset the EU DCC business rules are written in. An expression is a JSON
value: a literal (boolean, integer, string), an array of expressions, or an operation object with exactly
one key, the operator, whose value is the list of operands.

Two entry points:

* :func:`validate` checks an expression without data and lists its problems (empty when valid).
* :func:`evaluate` validates, then evaluates against a data object. Any problem, in the expression or at
  run time (wrong operand types, bad date-times), raises :class:`CertLogicError`.

Rules come from other countries and may be hostile, so every expression is first checked by an iterative
walk that bounds nesting depth (:data:`MAX_DEPTH`) and size (:data:`MAX_NODES`); evaluation then runs on
Python closures built once (:func:`compile_expression`), so its recursion is bounded by the depth already
checked. The only loop construct, ``reduce``, draws on a step budget (:data:`MAX_STEPS`) before it runs,
and so does ``in`` for its right-hand array: nested reductions over large arrays cannot take unbounded
time. Nothing here uses ``eval``; all regular expressions are compiled at import.
"""

from __future__ import annotations

import math
import operator
import re
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

SPEC_VERSION = "1.3.3"

MAX_DEPTH = 64  # nesting levels of operations and arrays
MAX_NODES = 10_000  # JSON values in one expression (EU rules have a few hundred)
MAX_STEPS = 200_000  # budget for reduce iterations (times the size of the lambda) and `in` scans
MAX_INT = 2**53 - 1  # integers beyond this are not exact in the JavaScript reference; we refuse them

TIME_UNITS = ("year", "month", "day", "hour")
UVCI_PREFIX = "URN:UVCI:"

_VAR_PATH = re.compile(r"[^.]+(?:\.[^.]+)*")
_UVCI_SEPARATORS = re.compile(r"[/#:]")
_DOB = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?)?"
)

# operator -> (minimum operands, maximum operands or None for no maximum)
_ARITY: dict[str, tuple[int, int | None]] = {
    "if": (3, 3),
    "===": (2, 2),
    "in": (2, 2),
    "+": (2, 2),
    "and": (2, None),
    "!": (1, 1),
    "<": (2, 3),
    ">": (2, 3),
    "<=": (2, 3),
    ">=": (2, 3),
    "before": (2, 3),
    "after": (2, 3),
    "not-before": (2, 3),
    "not-after": (2, 3),
    "plusTime": (3, 3),
    "reduce": (3, 3),
    "extractFromUVCI": (2, 2),
    "dccDateOfBirth": (1, 1),
}
OPERATORS = frozenset(_ARITY) | {"var"}

_COMPARE = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}
_DATE_COMPARE = {"before": operator.lt, "after": operator.gt, "not-after": operator.le, "not-before": operator.ge}
# operands that must be literals (not evaluated): operator -> {index: kind}
_LITERAL_OPERANDS = {"plusTime": {1: "integer", 2: "unit"}, "extractFromUVCI": {1: "integer"}}


class CertLogicError(ValueError):
    """An invalid expression, or an evaluation that cannot proceed. ``issues`` holds the validation
    problems when the expression itself is invalid (empty for run-time errors)."""

    def __init__(self, message: str, issues: list[Issue] | None = None):
        super().__init__(message)
        self.issues: list[Issue] = list(issues or [])


@dataclass(frozen=True)
class Issue:
    """One validation problem: where (a JSON pointer into the expression), the offending sub-expression,
    and a message."""

    path: str
    expr: Any
    message: str


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any, limit: int = 60) -> str:
    return _clip(repr(value), limit)


def _pointer(path: str, key: str | int) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _is_integer(value: Any) -> bool:
    """Integers as JSON (and JavaScript) see them: bool is not one, 2.0 is one."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def _check_operation(expr: dict[Any, Any], path: str) -> tuple[list[Issue], list[tuple[str, Any]]]:
    """Problems of one operation object (not of its operands) and the operands to check next."""
    if len(expr) != 1:
        return [Issue(path, expr, f"expression object must have exactly one key, but it has {len(expr)}")], []
    op, values = next(iter(expr.items()))
    if op == "var":
        if not isinstance(values, str):
            return [Issue(path, expr, 'not of the form { "var": "<path>" }')], []
        if values and not _VAR_PATH.fullmatch(values):
            return [Issue(path, expr, f"data access path doesn't have a valid format: {_clip(values)}")], []
        return [], []
    if not isinstance(values, list):
        return [Issue(path, expr, 'operation not of the form { "<operator>": [ <values...> ] }')], []
    if op not in _ARITY:
        return [Issue(path, expr, f'unrecognised operator: "{_clip(str(op))}"')], []
    low, high = _ARITY[op]
    if len(values) < low or (high is not None and len(values) > high):
        wanted = f"at least {low}" if high is None else str(low) if low == high else f"{low} or {high}"
        noun = "operand" if wanted == "1" else "operands"
        return [Issue(path, expr, f'the "{op}" operation must have {wanted} {noun}, but it has {len(values)}')], []
    here = _pointer(path, op)
    problems: list[Issue] = []
    operands: list[tuple[str, Any]] = []
    literal_kinds = _LITERAL_OPERANDS.get(op, {})
    for index, value in enumerate(values):
        kind = literal_kinds.get(index)
        if kind == "integer" and not (_is_integer(value) and abs(value) <= MAX_INT):
            message = f'operand {index} of "{op}" must be an integer literal'
            problems.append(Issue(_pointer(here, index), value, message))
        elif kind == "unit" and value not in TIME_UNITS:
            problems.append(Issue(_pointer(here, index), value,
                                  f'the unit of "plusTime" must be one of {", ".join(TIME_UNITS)}'))
        elif kind is None:
            operands.append((_pointer(here, index), value))
    return problems, operands


def issues(expr: Any) -> list[Issue]:
    """Every problem of ``expr`` as :class:`Issue` objects, in document order. The walk is iterative and
    stops at the first guard limit (depth or size), so hostile input cannot exhaust the stack."""
    found: list[Issue] = []
    stack: list[tuple[str, Any, int]] = [("", expr, 1)]
    nodes = 0
    while stack:
        path, node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            found.append(Issue(path, None, f"expression too large: more than {MAX_NODES} values"))
            break
        if depth > MAX_DEPTH:
            found.append(Issue(path, None, f"expression nested deeper than {MAX_DEPTH} levels"))
            break
        children: list[tuple[str, Any]] = []
        if isinstance(node, bool | str):
            continue
        if isinstance(node, int):
            if abs(node) > MAX_INT:
                found.append(Issue(path, node, f"integer {_show(node)} is out of range"))
        elif isinstance(node, float):
            if not _is_integer(node):
                found.append(Issue(path, node, f"{node} is a non-integer number"))
            elif abs(node) > MAX_INT:
                found.append(Issue(path, node, f"integer {_show(node)} is out of range"))
        elif isinstance(node, list):
            children = [(_pointer(path, i), v) for i, v in enumerate(node)]
        elif isinstance(node, dict):
            problems, children = _check_operation(node, path)
            found.extend(problems)
        else:
            found.append(Issue(path, node, "invalid CertLogic expression"))
        stack.extend((p, v, depth + 1) for p, v in reversed(children))
    return found


def validate(expr: Any) -> list[str]:
    """The problems of a CertLogic expression, as messages; an empty list means it is valid."""
    return [issue.message for issue in issues(expr)]


# ---------------------------------------------------------------------------------------------------------
# Evaluation


class _Budget:
    """Steps left for one evaluation; loops spend before they run."""

    __slots__ = ("left",)

    def __init__(self, left: int):
        self.left = left

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise CertLogicError(f"evaluation needs more than {MAX_STEPS} steps")


_Fn = Callable[[Any, _Budget], Any]


def _truthy(value: Any, where: str) -> bool:
    """CertLogic truthiness. Falsy: false, null, 0, "", [] and {}. Truthy: true, non-zero numbers,
    non-empty strings, arrays and objects. Anything else (a date-time, NaN) is neither: an error."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, str | list | dict):
        return len(value) > 0
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value != 0
    raise CertLogicError(f'"{where}": {_show(value)} is neither truthy nor falsy')


def _strict_equal(left: Any, right: Any, where: str) -> bool:
    """JavaScript ``===`` on JSON values: same type and value for null, booleans, numbers and strings;
    arrays and objects are equal only when they are the same value (as data access returns them).
    Date-times have no defined equality in CertLogic: comparing them is an error."""
    if isinstance(left, datetime) or isinstance(right, datetime):
        raise CertLogicError(f'"{where}" cannot compare date-times; use before, after, not-before or not-after')
    if left is None or right is None:
        return left is right
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return left is right


def _integer(value: Any, where: str) -> int:
    if not _is_integer(value):
        raise CertLogicError(f'all operands of "{where}" must be integers, got {_show(value)}')
    return int(value)


def _date_time(value: Any, where: str) -> datetime:
    if not isinstance(value, datetime):
        raise CertLogicError(
            f'all operands of "{where}" must be date-times (from plusTime or dccDateOfBirth), got {_show(value)}'
        )
    return value


def _day(year: int, month: int, day: int) -> datetime:
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError as exc:
        raise CertLogicError(f"invalid date {year:04d}-{month:02d}-{day:02d}") from exc


def dcc_date_of_birth(text: Any) -> datetime:
    """A DCC date of birth ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` as a UTC midnight. A partial date
    stands for its last possible day (31 December, or the month's last day), so that an age computed from
    it is never overstated."""
    if not isinstance(text, str):
        raise CertLogicError(f'"dccDateOfBirth" needs a string, got {_show(text)}')
    match = _DOB.fullmatch(text)
    if not match:
        raise CertLogicError(f"not a DCC date of birth (YYYY, YYYY-MM or YYYY-MM-DD): {_show(text)}")
    year = int(match[1])
    if match[2] is None:
        return _day(year, 12, 31)
    month = int(match[2])
    if match[3] is None:
        if not 1 <= month <= 12 or year < 1:
            raise CertLogicError(f"invalid date {text}")
        return _day(year, month, monthrange(year, month)[1])
    return _day(year, month, int(match[3]))


def parse_date_time(text: Any) -> datetime:
    """A date-time as ``plusTime`` reads it: ``YYYY-MM-DDThh:mm:ss[.fraction][Z|±hh[:mm]]`` (no offset
    means UTC), a date ``YYYY-MM-DD`` (UTC midnight), or a partial date ``YYYY`` / ``YYYY-MM`` read as
    :func:`dcc_date_of_birth` does. The result is an aware datetime in UTC."""
    if not isinstance(text, str):
        raise CertLogicError(f'"plusTime" needs a date or date-time string, got {_show(text)}')
    if len(text) <= 7 and _DOB.fullmatch(text):  # YYYY or YYYY-MM
        return dcc_date_of_birth(text)
    match = _DATE_TIME.fullmatch(text)
    if not match:
        raise CertLogicError(f"not a valid date or date-time: {_show(text)}")
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    if match[4] is None:
        return _day(year, month, day)
    hour, minute, second = int(match[4]), int(match[5]), int(match[6])
    micro = int((match[7] or "0")[:6].ljust(6, "0"))
    zone = UTC
    if match[8] and match[8] != "Z":
        sign = -1 if match[8][0] == "-" else 1
        digits = match[8][1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or "0")
        if hours > 23 or minutes > 59:
            raise CertLogicError(f"invalid timezone offset in {_show(text)}")
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise CertLogicError(f"invalid date-time {_show(text)}") from exc


def plus_time(moment: datetime, amount: int, unit: str) -> datetime:
    """Add an amount of a unit in UTC. Days are 24 hours (no daylight-saving effect). Months and years
    change the calendar fields; a day that does not exist in the target month rolls over into the next
    one, as the JavaScript reference does (31 January + 1 month = 3 March in 2021; 29 February 2020
    + 1 year = 1 March 2021)."""
    try:
        if unit == "hour":
            return moment + timedelta(hours=amount)
        if unit == "day":
            return moment + timedelta(days=amount)
        months = amount * 12 if unit == "year" else amount
        year, month0 = divmod(moment.year * 12 + moment.month - 1 + months, 12)
        first = moment.replace(year=year, month=month0 + 1, day=1)
        return first + timedelta(days=moment.day - 1)
    except (ValueError, OverflowError) as exc:
        raise CertLogicError(f"plusTime: date-time out of range ({amount} {unit})") from exc


def extract_from_uvci(uvci: Any, index: int) -> str | None:
    """The ``index``-th fragment of a UVCI (the ``URN:UVCI:`` prefix removed, split on ``/``, ``#`` and
    ``:``), or null when the UVCI is null or has no such fragment."""
    if uvci is None:
        return None
    if not isinstance(uvci, str):
        raise CertLogicError(f'"extractFromUVCI" needs a string or null, got {_show(uvci)}')
    if uvci.startswith(UVCI_PREFIX):
        uvci = uvci[len(UVCI_PREFIX):]
    fragments = _UVCI_SEPARATORS.split(uvci)
    return fragments[index] if 0 <= index < len(fragments) else None


def _var(path: str) -> _Fn:
    if path == "":
        return lambda data, budget: data
    steps = tuple((key, int(key) if key.isascii() and key.isdigit() else None) for key in path.split("."))

    def access(data: Any, budget: _Budget) -> Any:
        current = data
        for key, index in steps:
            if isinstance(current, dict):
                current = current.get(key)
            elif isinstance(current, list) and index is not None and index < len(current):
                current = current[index]
            else:
                return None
        return current

    return access


def _compile(expr: Any) -> tuple[_Fn, int]:
    """A closure evaluating a *validated* expression, and the expression's size in values."""
    if isinstance(expr, float):
        expr = int(expr)
    if not isinstance(expr, list | dict):
        return (lambda data, budget: expr), 1
    if isinstance(expr, list):
        parts = [_compile(item) for item in expr]
        fns = [fn for fn, _ in parts]
        return (lambda data, budget: [fn(data, budget) for fn in fns]), 1 + sum(size for _, size in parts)
    op, values = next(iter(expr.items()))
    if op == "var":
        return _var(values), 1
    literal_kinds = _LITERAL_OPERANDS.get(op, {})
    parts = [_compile(value) for i, value in enumerate(values) if i not in literal_kinds]
    size = 1 + len(literal_kinds) + sum(size for _, size in parts)
    return _BUILDERS[op](op, values, parts), size


def _build_if(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    guard, then, otherwise = fns
    return lambda data, budget: then(data, budget) if _truthy(guard(data, budget), op) else otherwise(data, budget)


def _build_not(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    (operand,) = fns
    return lambda data, budget: not _truthy(operand(data, budget), op)


def _build_and(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    *leading, last = fns

    def conjunction(data: Any, budget: _Budget) -> Any:
        for fn in leading:  # lazily: stop at the first falsy operand and return it
            value = fn(data, budget)
            if not _truthy(value, op):
                return value
        return last(data, budget)

    return conjunction


def _build_equal(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    left, right = fns
    return lambda data, budget: _strict_equal(left(data, budget), right(data, budget), op)


def _build_in(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    needle_fn, haystack_fn = fns

    def contains(data: Any, budget: _Budget) -> bool:
        needle, haystack = needle_fn(data, budget), haystack_fn(data, budget)
        if not isinstance(haystack, list):
            raise CertLogicError(f'the right-hand side of "in" must be an array, got {_show(haystack)}')
        budget.spend(len(haystack))
        return any(_strict_equal(needle, item, op) for item in haystack)

    return contains


def _build_plus(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    left, right = fns

    def plus(data: Any, budget: _Budget) -> int:
        total = _integer(left(data, budget), op) + _integer(right(data, budget), op)
        if abs(total) > MAX_INT:
            raise CertLogicError(f'"+": result {_show(total)} is out of range')
        return total

    return plus


def _build_compare(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    compare = _COMPARE.get(op) or _DATE_COMPARE[op]
    coerce = _integer if op in _COMPARE else _date_time

    def comparison(data: Any, budget: _Budget) -> bool:
        operands = [coerce(fn(data, budget), op) for fn in fns]
        return all(compare(a, b) for a, b in pairwise(operands))

    return comparison


def _build_plus_time(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    (operand,) = fns
    amount, unit = int(values[1]), values[2]
    return lambda data, budget: plus_time(parse_date_time(operand(data, budget)), amount, unit)


def _build_reduce(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    operand_fn, lambda_fn, initial_fn = fns
    lambda_size = parts[1][1]

    def reduction(data: Any, budget: _Budget) -> Any:
        operand = operand_fn(data, budget)
        if operand is None:
            return initial_fn(data, budget)
        if not isinstance(operand, list):
            raise CertLogicError(f'the first operand of "reduce" must be an array or null, got {_show(operand)}')
        accumulator = initial_fn(data, budget)
        budget.spend(len(operand) * lambda_size)
        for current in operand:
            accumulator = lambda_fn({"current": current, "accumulator": accumulator}, budget)
        return accumulator

    return reduction


def _build_extract(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    (operand,) = fns
    index = int(values[1])
    return lambda data, budget: extract_from_uvci(operand(data, budget), index)


def _build_dob(op: str, values: list[Any], parts: list[tuple[_Fn, int]]) -> _Fn:
    fns = [fn for fn, _ in parts]
    (operand,) = fns
    return lambda data, budget: dcc_date_of_birth(operand(data, budget))


_BUILDERS: dict[str, Callable[[str, list[Any], list[tuple[_Fn, int]]], _Fn]] = {
    "if": _build_if,
    "!": _build_not,
    "and": _build_and,
    "===": _build_equal,
    "in": _build_in,
    "+": _build_plus,
    **dict.fromkeys(list(_COMPARE) + list(_DATE_COMPARE), _build_compare),
    "plusTime": _build_plus_time,
    "reduce": _build_reduce,
    "extractFromUVCI": _build_extract,
    "dccDateOfBirth": _build_dob,
}


class Program:
    """A validated, compiled expression. Build it once (e.g. when a rule is stored or loaded) and call
    :meth:`evaluate` per verification."""

    __slots__ = ("_fn", "size")

    def __init__(self, expression: Any):
        problems = issues(expression)
        if problems:
            first = problems[0]
            where = f" at {first.path}" if first.path else ""
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise CertLogicError(f"invalid CertLogic expression: {first.message}{where}{more}", problems)
        self._fn, self.size = _compile(expression)

    def evaluate(self, data: Any) -> Any:
        """The value of the expression for ``data``; date-time results are aware UTC datetimes."""
        try:
            return self._fn(data, _Budget(MAX_STEPS))
        except RecursionError as exc:  # only if the caller is already near the stack limit
            raise CertLogicError("evaluation ran out of stack") from exc


def compile_expression(expr: Any) -> Program:
    """Validate and compile ``expr``; raises :class:`CertLogicError` listing the problems."""
    return Program(expr)


def evaluate(expr: Any, data: Any) -> Any:
    """Evaluate a CertLogic expression against ``data``. Raises :class:`CertLogicError` when the
    expression is invalid or cannot be evaluated on this data."""
    return Program(expr).evaluate(data)

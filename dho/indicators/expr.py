"""The indicator expression language: a small, safe parser (no eval) into a tree the engine runs.

    expr      := term (("+" | "-") term)*
    term      := unary (("*" | "/") unary)*
    unary     := "-" unary | atom
    atom      := NUMBER | "(" expr ")" | "#{" CODE "}" | call
    call      := FUNC "(" SOURCE ["." FIELD] ["where" cond] ")"
    FUNC      := count | countries | sum | mean | min | max | last
    cond      := conj ("or" conj)*
    conj      := neg ("and" neg)*
    neg       := "not" neg | "(" cond ")" | FIELD [op value | ["not"] "in" "[" value ("," value)* "]"]
    op        := == | != | < | <= | > | >=
    value     := NUMBER | STRING | true | false | "@year" [("+" | "-") NUMBER]

``@year`` is the year of the period being computed (the year it ends in), so "published in the last
three years" is ``year >= @year - 2``. docs/indicators.md documents the language for users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 2000
MAX_DEPTH = 24
MAX_CALLS = 24
FUNCS = ("count", "countries", "sum", "mean", "min", "max", "last")
FIELD_FUNCS = ("sum", "mean", "min", "max", "last")
KEYWORDS = {"where", "and", "or", "not", "in", "true", "false"}
OPS = ("==", "!=", "<=", ">=", "<", ">")

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<str>"[^"\\\n]{0,200}"|'[^'\\\n]{0,200}')
  | (?P<ref>\#\{[A-Za-z][A-Za-z0-9_.-]{0,39}\})
  | (?P<at>@year)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]{0,63})
  | (?P<op>==|!=|<=|>=|<|>|[-+*/()\[\],.])
""", re.VERBOSE)


class ExprError(ValueError):
    """A malformed expression, with the character position of the problem."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message if position is None else f"{message} (at character {position + 1})")
        self.position = position


# ---------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Ref:
    code: str


@dataclass(frozen=True)
class Neg:
    operand: Any


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class YearRel:
    offset: int  # @year + offset


@dataclass(frozen=True)
class Cmp:
    field: str
    op: str
    value: Any  # str, float, bool or YearRel


@dataclass(frozen=True)
class In:
    field: str
    values: tuple[Any, ...]
    negate: bool = False


@dataclass(frozen=True)
class Truthy:
    field: str


@dataclass(frozen=True)
class And:
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    operand: Any


@dataclass(frozen=True)
class Agg:
    func: str
    source: str
    field: str | None
    where: Any | None
    text: str  # the call as written, for the method in words and the drill-down


# ---------------------------------------------------------------- tokens and parser


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    if not isinstance(text, str):
        raise ExprError("an expression must be text")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the expression is too long ({len(text)} characters; at most {MAX_LENGTH})")
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExprError(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            tok = m.group()
            if kind == "ident" and tok in KEYWORDS:
                kind = tok
            out.append(Tok(kind, tok, pos))
        pos = m.end()
    out.append(Tok("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0
        self.calls = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def take(self, kind: str, text: str | None = None) -> Tok:
        t = self.tok
        if t.kind != kind or (text is not None and t.text != text):
            want = text or kind
            got = t.text or "the end"
            raise ExprError(f"expected {want!r} but found {got!r}", t.pos)
        self.i += 1
        return t

    def accept(self, kind: str, text: str | None = None) -> Tok | None:
        t = self.tok
        if t.kind == kind and (text is None or t.text == text):
            self.i += 1
            return t
        return None

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"the expression nests more than {MAX_DEPTH} levels", self.tok.pos)

    # arithmetic
    def expr(self) -> Any:
        self.deeper()
        node = self.term()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.take("op").text
            node = BinOp(op, node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Any:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            t = self.take("op")
            right = self.unary()
            if t.text == "/" and _literal_zero(right):
                raise ExprError("division by zero", t.pos)
            node = BinOp(t.text, node, right)
        return node

    def unary(self) -> Any:
        if self.accept("op", "-"):
            self.deeper()
            node = Neg(self.unary())
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Any:
        t = self.tok
        if t.kind == "num":
            self.i += 1
            return Num(float(t.text))
        if t.kind == "ref":
            self.i += 1
            return Ref(t.text[2:-1])
        if self.accept("op", "("):
            node = self.expr()
            self.take("op", ")")
            return node
        if t.kind == "ident":
            return self.call()
        raise ExprError(f"expected a number, a function such as count(...), or #{{CODE}}; found "
                        f"{t.text or 'the end'!r}", t.pos)

    def call(self) -> Agg:
        start = self.tok
        func = self.take("ident").text
        if func not in FUNCS:
            raise ExprError(f"unknown function {func!r}; use one of {', '.join(FUNCS)}", start.pos)
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise ExprError(f"too many functions in one expression (at most {MAX_CALLS})", start.pos)
        self.take("op", "(")
        source = self.take("ident").text
        field = None
        if self.accept("op", "."):
            field = self.take("ident").text
        if func in FIELD_FUNCS and field is None:
            raise ExprError(f"{func}() needs a field: {func}({source}.FIELD ...)", start.pos)
        if func not in FIELD_FUNCS and field is not None:
            raise ExprError(f"{func}() counts records; it takes no field", start.pos)
        where = None
        if self.accept("where"):
            where = self.cond()
        end = self.take("op", ")")
        return Agg(func, source, field, where, self.text[start.pos:end.pos + 1])

    # conditions
    def cond(self) -> Any:
        self.deeper()
        parts = [self.conj()]
        while self.accept("or"):
            parts.append(self.conj())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def conj(self) -> Any:
        parts = [self.neg()]
        while self.accept("and"):
            parts.append(self.neg())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def neg(self) -> Any:
        if self.accept("not"):
            self.deeper()
            node = Not(self.neg())
            self.depth -= 1
            return node
        if self.accept("op", "("):
            node = self.cond()
            self.take("op", ")")
            return node
        t = self.tok
        if t.kind != "ident":
            raise ExprError(f"expected a field name; found {t.text or 'the end'!r}", t.pos)
        field = self.take("ident").text
        if self.tok.kind == "op" and self.tok.text in OPS:
            op = self.take("op").text
            return Cmp(field, op, self.value())
        negate = False
        if self.tok.kind == "not" and self.toks[self.i + 1].kind == "in":
            self.i += 1
            negate = True
        if self.accept("in"):
            self.take("op", "[")
            values = [self.value()]
            while self.accept("op", ","):
                values.append(self.value())
            self.take("op", "]")
            if any(isinstance(v, YearRel) for v in values):
                raise ExprError("@year cannot be used inside a list", t.pos)
            return In(field, tuple(values), negate)
        return Truthy(field)

    def value(self) -> Any:
        t = self.tok
        if t.kind == "num":
            self.i += 1
            return float(t.text)
        if self.accept("op", "-"):
            n = self.take("num")
            return -float(n.text)
        if t.kind == "str":
            self.i += 1
            return t.text[1:-1]
        if t.kind in ("true", "false"):
            self.i += 1
            return t.kind == "true"
        if self.accept("at"):
            offset = 0
            if self.tok.kind == "op" and self.tok.text in "+-":
                sign = -1 if self.take("op").text == "-" else 1
                n = self.take("num")
                if "." in n.text:
                    raise ExprError("@year takes a whole number of years", n.pos)
                offset = sign * int(n.text)
            return YearRel(offset)
        raise ExprError(f"expected a value (number, \"text\", true, false or @year); found "
                        f"{t.text or 'the end'!r}", t.pos)


def _literal_zero(node: Any) -> bool:
    if isinstance(node, Num):
        return node.value == 0
    if isinstance(node, Neg):
        return _literal_zero(node.operand)
    if isinstance(node, BinOp) and node.op == "*":
        return _literal_zero(node.left) or _literal_zero(node.right)
    if isinstance(node, BinOp) and node.op in "+-" and isinstance(node.left, Num) and isinstance(node.right, Num):
        a, b = node.left.value, node.right.value
        return (a + b if node.op == "+" else a - b) == 0
    return False


def parse(text: str) -> Any:
    """Parse an expression; raise ExprError (with the position) if it is malformed."""
    p = _Parser(text)
    if p.tok.kind == "end":
        raise ExprError("the expression is empty")
    node = p.expr()
    if p.tok.kind != "end":
        raise ExprError(f"unexpected {p.tok.text!r} after the end of the expression", p.tok.pos)
    return node


# ---------------------------------------------------------------- walking


def calls(node: Any) -> list[Agg]:
    """Every aggregation in an expression, left to right."""
    if isinstance(node, Agg):
        return [node]
    if isinstance(node, BinOp):
        return calls(node.left) + calls(node.right)
    if isinstance(node, Neg):
        return calls(node.operand)
    return []


def refs(node: Any) -> list[str]:
    """Every #{CODE} an expression refers to."""
    if isinstance(node, Ref):
        return [node.code]
    if isinstance(node, BinOp):
        return refs(node.left) + refs(node.right)
    if isinstance(node, Neg):
        return refs(node.operand)
    return []


def cond_fields(node: Any) -> list[str]:
    if node is None:
        return []
    if isinstance(node, Cmp | In | Truthy):
        return [node.field]
    if isinstance(node, And | Or):
        return [f for p in node.parts for f in cond_fields(p)]
    if isinstance(node, Not):
        return cond_fields(node.operand)
    return []


def uses_year(node: Any) -> bool:
    if node is None:
        return False
    if isinstance(node, Cmp):
        return isinstance(node.value, YearRel)
    if isinstance(node, And | Or):
        return any(uses_year(p) for p in node.parts)
    if isinstance(node, Not):
        return uses_year(node.operand)
    return False

"""A definition's method in words, so a reader can follow a number back to the records."""

from __future__ import annotations

from typing import Any

from dho.i18n import _, reset_locale, set_locale
from dho.indicators import expr as X
from dho.indicators.spec import Spec


def _value(v: Any) -> str:
    if isinstance(v, X.YearRel):
        if v.offset == 0:
            return _("the period's year")
        return _("the period's year %(sign)s %(n)s", sign="+" if v.offset > 0 else "−", n=abs(v.offset))
    if isinstance(v, bool):
        return _("yes") if v else _("no")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"“{v}”" if isinstance(v, str) else str(v)


def _cond(node: Any) -> str:
    if isinstance(node, X.And):
        return _(" and ").join(_cond(p) for p in node.parts)
    if isinstance(node, X.Or):
        return "(" + _(" or ").join(_cond(p) for p in node.parts) + ")"
    if isinstance(node, X.Not):
        return _("not (%(cond)s)", cond=_cond(node.operand))
    if isinstance(node, X.Truthy):
        return _("%(field)s is yes", field=node.field)
    if isinstance(node, X.In):
        values = ", ".join(_value(v) for v in node.values)
        if node.negate:
            return _("%(field)s is none of %(values)s", field=node.field, values=values)
        return _("%(field)s is one of %(values)s", field=node.field, values=values)
    words = {"==": _("is"), "!=": _("is not"), "<": _("is below"), "<=": _("is at most"), ">": _("is above"),
             ">=": _("is at least")}
    return f"{node.field} {words[node.op]} {_value(node.value)}"


def call_words(call: X.Agg) -> str:
    what = {
        "count": _("the number of %(source)s records"),
        "countries": _("the number of countries with at least one %(source)s record"),
        "sum": _("the sum of %(field)s over %(source)s records"),
        "mean": _("the mean of %(field)s over %(source)s records"),
        "min": _("the lowest %(field)s of %(source)s records"),
        "max": _("the highest %(field)s of %(source)s records"),
        "last": _("the %(field)s of the latest %(source)s record"),
    }[call.func] % {"source": call.source, "field": call.field or ""}
    if call.where is not None:
        what += _(" where %(cond)s", cond=_cond(call.where))
    return what


def _tree(node: Any) -> str:
    if isinstance(node, X.Agg):
        return call_words(node)
    if isinstance(node, X.Num):
        return _value(node.value)
    if isinstance(node, X.Ref):
        return _("the value of indicator %(code)s", code=node.code)
    if isinstance(node, X.Neg):
        return "−(" + _tree(node.operand) + ")"
    sym = {"+": "+", "-": "−", "*": "×", "/": "÷"}[node.op]
    return f"({_tree(node.left)} {sym} {_tree(node.right)})"


def describe(spec: Spec, locale: str | None = None) -> str:
    token = set_locale(locale) if locale else None
    try:
        num, den = spec.trees()
        parts = [_("Numerator: %(text)s.", text=_tree(num))]
        if den is not None:
            parts.append(_("Denominator: %(text)s.", text=_tree(den)))
            parts.append(_("Value: numerator ÷ denominator × %(factor)s.", factor=spec.factor))
        elif spec.factor != 1:
            parts.append(_("Value: numerator × %(factor)s.", factor=spec.factor))
        time = {"sum": _("records dated within the period are counted"),
                "last": _("records that exist at the end of the period are counted"),
                "mean": _("the mean of the values at each month end of the period"),
                "max": _("the highest of the values at each month end of the period")}[spec.time_aggregation]
        geo = {"pooled": _("regions, income groups and the world add up numerators and denominators of their "
                           "countries, then divide"),
               "sum": _("regions, income groups and the world add up their countries' values"),
               "mean": _("regions, income groups and the world take the mean of their countries' values"),
               "median": _("regions, income groups and the world take the median of their countries' values")
               }[spec.geo_aggregation]
        parts.append(_("Over time: %(time)s; over geography: %(geo)s.", time=time, geo=geo))
        return " ".join(parts)
    finally:
        if token is not None:
            reset_locale(token)

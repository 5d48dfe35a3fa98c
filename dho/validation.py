"""Turn pydantic validation errors into the domain's field errors."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dho.errors import FieldError, ValidationFailed
from dho.i18n import _

M = TypeVar("M", bound=BaseModel)


def message_for(err: Any) -> str:
    """A short, translated message for one pydantic error (our own validators' messages are
    already translated when they are raised)."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", err.get("msg", ""))).removeprefix("Value error, ")
    if kind == "missing":
        return _("is required")
    if kind == "extra_forbidden":
        return _("is not a field of this form")
    if kind == "string_too_short":
        return _("must not be empty") if ctx.get("min_length") == 1 else \
            _("is too short (at least %(n)s characters)", n=ctx.get("min_length"))
    if kind == "string_too_long":
        return _("is too long (at most %(n)s characters)", n=ctx.get("max_length"))
    if kind == "string_pattern_mismatch":
        return _("has the wrong format")
    if kind == "literal_error":
        return _("must be one of: %(choices)s", choices=ctx.get("expected", ""))
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("must be a whole number")
    if kind in ("greater_than_equal", "greater_than"):
        return _("must be at least %(n)s", n=ctx.get("ge", ctx.get("gt")))
    if kind in ("less_than_equal", "less_than"):
        return _("must be at most %(n)s", n=ctx.get("le", ctx.get("lt")))
    if kind in ("string_type", "bool_type", "list_type", "dict_type", "model_type", "bool_parsing"):
        return _("has the wrong type")
    if kind in ("too_short", "too_long"):
        return _("has the wrong number of items")
    return str(err.get("msg", _("is not valid")))


def field_errors(exc: ValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        out.append(FieldError(where, message_for(err)))
    return out


def parse(model: type[M], data: Any) -> M:
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(_("Some values are not valid."), errors=field_errors(exc)) from None

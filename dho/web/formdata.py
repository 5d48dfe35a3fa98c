"""Submitted HTML forms, read with bounds: every field name, value and repeat count is capped, and
file parts are skipped, so a hostile form cannot make a page hold or echo unbounded text."""

from __future__ import annotations

from typing import Any


def form_lists(form: Any, *, max_repeats: int = 200, max_item: int = 300, max_value: int = 10_000
               ) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The submitted form: the first value of each field as a string (capped at ``max_value``) and
    every value of repeated fields (at most ``max_repeats`` per field, each capped at ``max_item``)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            continue
        key = key[:100]
        single.setdefault(key, value[:max_value])
        if len(multi.setdefault(key, [])) < max_repeats:
            multi[key].append(value[:max_item])
    return single, multi

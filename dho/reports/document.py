"""Render a collected report (see :mod:`dho.reports.builder`) to a self-contained HTML document, in the
report's language. The stylesheet is inlined and nothing depends on the request or the clock, so the
same report data give byte-identical HTML."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from dho import i18n

CSS = Path(__file__).with_name("report.css")


@lru_cache(maxsize=1)
def stylesheet() -> Markup:
    return Markup(CSS.read_text(encoding="utf-8"))  # noqa: S704 (our own file)


def render_html(report: dict[str, Any]) -> str:
    from dho.web.templating import env

    token = i18n.set_locale(report["lang"])
    try:
        return env.get_template("reports/report.html").render(r=report, css=stylesheet())
    finally:
        i18n.reset_locale(token)


def filename(report: dict[str, Any], fmt: str) -> str:
    """A download name such as dho-report-global-2025-en.pdf."""
    code = f"-{report['code'].lower()}" if report["code"] else ""
    return f"dho-report-{report['scope']}{code}-{report['year']}-{report['lang']}.{fmt}"

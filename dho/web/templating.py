"""One Jinja2 environment for all domains: each domain's ``templates/`` folder plus the shell's."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from jinja2 import ChoiceLoader, FileSystemLoader
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup

from dho import i18n
from dho.accounts.permissions import can, can_somewhere
from dho.web.deps import csrf_token_for

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = ("web", "reference", "accounts", "audit", "maturity", "atlas", "trust", "strategy", "indicators", "reports")

templates = Jinja2Blocks(directory=str(ROOT / "web" / "templates"))
env = templates.env
env.loader = ChoiceLoader([FileSystemLoader(str(ROOT / d / "templates")) for d in DOMAINS])
env.add_extension("jinja2.ext.i18n")
env.install_gettext_callables(  # type: ignore[attr-defined]
    lambda s, **kw: i18n.gettext(s, **kw), lambda s, p, n, **kw: i18n.ngettext(s, p, n, **kw), newstyle=True)
env.globals.update(
    fmt_date=i18n.fmt_date, fmt_datetime=i18n.fmt_datetime, fmt_number=i18n.fmt_number, fmt_score=i18n.fmt_score,
    fmt_size=i18n.fmt_size,
    LOCALES=i18n.LOCALES, language_name=i18n.language_name,
)


def _nav(request: Request) -> list[dict[str, Any]]:
    """The sections that exist. A section appears here when its domain is built."""
    principal = request.state.principal
    items = [
        {"href": "/dashboard", "label": i18n._("Dashboards"), "key": "dashboard"},
        {"href": "/maturity", "label": i18n._("Maturity"), "key": "maturity"},
        {"href": "/atlas", "label": i18n._("Atlas"), "key": "atlas"},
        {"href": "/plans", "label": i18n._("Action plans"), "key": "plans"},
        {"href": "/reports", "label": i18n._("Reports"), "key": "reports"},
        {"href": "/trust", "label": i18n._("Trust network"), "key": "trust"},
        {"href": "/strategy", "label": i18n._("Global strategy"), "key": "strategy"},
        {"href": "/countries", "label": i18n._("Countries"), "key": "countries"},
        {"href": "/organisations", "label": i18n._("Organisations"), "key": "organisations"},
        {"href": "/classifications", "label": i18n._("Classifications"), "key": "classifications"},
    ]
    if can(principal, "user.read"):
        items.append({"href": "/admin/users", "label": i18n._("Users"), "key": "users"})
    if can(principal, "audit.read"):
        items.append({"href": "/audit", "label": i18n._("Audit log"), "key": "audit"})
    return items


def query(request: Request, **changes: Any) -> str:
    """The current query string with some parameters changed (for pagination and filters)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + urlencode(params) if params else "?"


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           block_name: str | None = None) -> Any:
    ctx = dict(context or {})
    principal = request.state.principal
    locale = i18n.get_locale()
    ctx.update(
        request=request, principal=principal, user=getattr(request.state, "user", None), locale=locale,
        dir=i18n.direction(locale), nav=_nav(request), csrf_token=csrf_token_for(request),
        can=lambda action, target=None: can(principal, action, target),
        can_somewhere=lambda action: can_somewhere(principal, action),
        query=lambda **kw: query(request, **kw),
        csrf_field=Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf_token_for(request)),
    )
    if request.headers.get("hx-request") and block_name:
        return templates.TemplateResponse(request, name, ctx, status_code=status_code, block_name=block_name)
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)

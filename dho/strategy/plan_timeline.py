"""The plan's Gantt-style timeline, drawn on the server as SVG: one bar per activity from its start to
its due date, coloured by its computed RAG, the share done drawn inside the bar, milestones as
diamonds (filled when done, red outline when late), month grid lines and a line at today.

SVG presentation attributes (not inline styles), so it renders under the site's content security
policy, without JavaScript, offline and in print. Every bar carries a ``<title>`` (a tooltip and
what screen readers announce); the page adds a text version beside it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup, escape

from dho import i18n
from dho.strategy.plans import ActivityView

COLOURS = {"red": "#a3222b", "amber": "#b45f06", "green": "#1d6b3a", "done": "#44546a", "cancelled": "#9aa5b1",
           "not_started": "#6b7c93"}
LABEL_W = 330
CHART_W = 760
ROW_H = 30
HEAD_H = 34
MAX_LABEL = 44


def state_labels() -> dict[str, str]:
    return {"red": i18n._("Red"), "amber": i18n._("Amber"), "green": i18n._("Green"), "done": i18n._("Done"),
            "cancelled": i18n._("Cancelled"), "not_started": i18n._("Not started yet")}


def reason_labels() -> dict[str, str]:
    return {"late": i18n._("past its due date"), "over_budget": i18n._("spending over budget"),
            "no_update": i18n._("no update for over 90 days"), "milestone_late": i18n._("a milestone is late"),
            "behind_schedule": i18n._("progress behind the time elapsed")}


def _month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _next_month(d: dt.date) -> dt.date:
    return (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def bounds(views: Sequence[ActivityView], starts_on: dt.date, ends_on: dt.date, today: dt.date
           ) -> tuple[dt.date, dt.date]:
    """The span drawn: the plan's period widened to every activity and to today, in whole months."""
    first = min([starts_on, today, *(v.activity.starts_on for v in views)])
    last = max([ends_on, today, *(v.activity.due_on for v in views)])
    return _month_start(first), _next_month(last)


def timeline_svg(views: Sequence[ActivityView], starts_on: dt.date, ends_on: dt.date, today: dt.date,
                 *, link_base: str = "", title: str = "", marker: str = "") -> Markup:
    if not views:
        return Markup("")
    first, last = bounds(views, starts_on, ends_on, today)
    span = max(1, (last - first).days)
    width = LABEL_W + CHART_W + 10
    height = HEAD_H + ROW_H * len(views) + 10

    def x(d: dt.date) -> float:
        return LABEL_W + CHART_W * (d - first).days / span

    labels, reasons = state_labels(), reason_labels()
    out = [f'<svg class="plan-timeline" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-labelledby="tl-title" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">',
           f'<title id="tl-title">{escape(title)}</title>',
           f'<rect x="{LABEL_W}" y="{HEAD_H - 4}" width="{CHART_W}" height="{height - HEAD_H - 6}" fill="#f7f9fb"/>']
    month = first
    months = []
    while month < last:
        months.append(month)
        month = _next_month(month)
    step = 1 if len(months) <= 14 else (2 if len(months) <= 28 else 3)
    for n, m in enumerate(months):
        mx = x(m)
        out.append(f'<line x1="{mx:.1f}" y1="{HEAD_H - 8}" x2="{mx:.1f}" y2="{height - 10}" stroke="#d5dbe1" '
                   f'stroke-width="1"/>')
        if n % step == 0:
            label = i18n.fmt_date(m, "MMM yy") if m.month != 1 or n == 0 else i18n.fmt_date(m, "MMM yyyy")
            out.append(f'<text x="{mx + 3:.1f}" y="{HEAD_H - 14}" fill="#44546a">{escape(label)}</text>')
    for n, v in enumerate(views):
        a = v.activity
        y = HEAD_H + n * ROW_H
        colour = COLOURS.get(v.rag, "#6b7c93")
        name = a.title if len(a.title) <= MAX_LABEL else a.title[:MAX_LABEL - 1] + "…"
        why = "; ".join(reasons.get(r, r) for r in v.reasons)
        tip = (f"{a.title} — {labels.get(v.rag, v.rag)}{f' ({why})' if why else ''}; "
               f"{i18n.fmt_date(a.starts_on)} – {i18n.fmt_date(a.due_on)}; {a.progress} %")
        if n % 2:
            out.append(f'<rect x="0" y="{y}" width="{width}" height="{ROW_H}" fill="#000" fill-opacity="0.025"/>')
        href = f"{link_base}/activities/{a.id}"
        out.append(f'<a href="{escape(href)}"><text x="6" y="{y + 19}" fill="#1b2631">{escape(name)}</text></a>')
        x0, x1 = x(a.starts_on), x(a.due_on + dt.timedelta(days=1))
        bar_w = max(3.0, x1 - x0)
        hollow = v.rag == "not_started"
        out.append(f'<g class="bar rag-{escape(v.rag)}" data-activity="{a.id}" data-rag="{escape(v.rag)}">'
                   f'<title>{escape(tip)}</title>'
                   f'<rect x="{x0:.1f}" y="{y + 7}" width="{bar_w:.1f}" height="{ROW_H - 14}" rx="3" '
                   f'fill="{colour}" fill-opacity="{0.15 if hollow else 0.35}" stroke="{colour}" stroke-width="1.5"/>')
        if a.progress and not hollow:
            out.append(f'<rect x="{x0:.1f}" y="{y + 7}" width="{bar_w * min(a.progress, 100) / 100:.1f}" '
                       f'height="{ROW_H - 14}" rx="3" fill="{colour}"/>')
        out.append("</g>")
        for m in v.milestones:
            mx, my = x(m.due_on), y + ROW_H / 2
            late = m.done_on is None and m.due_on < today
            state = i18n._("done") if m.done_on else (i18n._("late") if late else i18n._("due"))
            out.append(f'<polygon class="milestone" points="{mx:.1f},{my - 7:.1f} {mx + 7:.1f},{my:.1f} '
                       f'{mx:.1f},{my + 7:.1f} {mx - 7:.1f},{my:.1f}" fill="{"#1b2631" if m.done_on else "#fff"}" '
                       f'stroke="{"#a3222b" if late else "#1b2631"}" stroke-width="{2.5 if late else 1.5}">'
                       f'<title>{escape(m.title)} — {escape(i18n.fmt_date(m.due_on))} ({escape(state)})</title>'
                       f'</polygon>')
    if first <= today <= last:
        tx = x(today)
        out.append(f'<line class="today" x1="{tx:.1f}" y1="{HEAD_H - 8}" x2="{tx:.1f}" y2="{height - 6}" '
                   f'stroke="#c0392b" stroke-width="2" stroke-dasharray="5 3"/>'
                   f'<text x="{tx + 3:.1f}" y="{HEAD_H - 1}" fill="#c0392b" font-weight="bold">'
                   f'{escape(marker or i18n._("Today"))}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text above is escaped)


def legend_items() -> list[tuple[str, str, str]]:
    """(state, colour, label) for the legend under the timeline and the board."""
    labels = state_labels()
    return [(k, COLOURS[k], labels[k]) for k in ("red", "amber", "green", "not_started", "done", "cancelled")]


def swatch(colour: str, shape: str = "bar") -> Markup:
    """A small SVG swatch (inline styles are not allowed by the site's policy)."""
    if shape == "diamond":
        return Markup('<svg width="14" height="14" aria-hidden="true"><polygon points="7,1 13,7 7,13 1,7" '
                      'fill="{}" stroke="#1b2631"/></svg>').format(colour)
    return Markup('<svg width="18" height="12" aria-hidden="true"><rect width="18" height="12" rx="2" '
                  'fill="{}"/></svg>').format(colour)

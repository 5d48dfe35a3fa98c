"""Small server-drawn SVG charts: they work without JavaScript and offline, and print."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape


def radar(axes: Sequence[str], series: Sequence[tuple[str, str, Sequence[float | None]]], *, size: int = 360,
          title: str = "") -> Markup:
    """A radar chart over phases 1-5. ``series`` is (label, css class, values per axis); a missing
    value is drawn at the centre and marked with a hollow point."""
    n = len(axes)
    if n < 3:
        return Markup("")
    width = size + 320  # room for the axis labels on both sides
    cx, cy = width / 2, size / 2
    radius = size / 2 - 40
    parts = [f'<svg class="radar" viewBox="0 0 {width} {size}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]

    def point(i: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / n
        r = radius * value / 5
        return cx + r * math.cos(angle), cy + r * math.sin(angle)

    for ring in range(1, 6):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, ring) for i in range(n)))
        parts.append(f'<polygon class="ring" points="{pts}"/>')
        x, y = point(0, ring)
        parts.append(f'<text class="ring-label" x="{x + 4:.1f}" y="{y:.1f}">{ring}</text>')
    for i, label in enumerate(axes):
        x, y = point(i, 5)
        parts.append(f'<line class="spoke" x1="{cx}" y1="{cy}" x2="{x:.1f}" y2="{y:.1f}"/>')
        lx, ly = point(i, 6.1)
        anchor = "middle" if abs(lx - cx) < 10 else ("start" if lx > cx else "end")
        parts.append(f'<text class="axis-label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}">'
                     f"{escape(label)}</text>")
    for label, css, values in series:
        pts = [point(i, v if v is not None else 0) for i, v in enumerate(values)]
        poly = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        parts.append(f'<polygon class="series {escape(css)}" points="{poly}"><title>{escape(label)}</title></polygon>')
        for (x, y), v in zip(pts, values, strict=True):
            hollow = " missing" if v is None else ""
            parts.append(f'<circle class="dot {escape(css)}{hollow}" cx="{x:.1f}" cy="{y:.1f}" r="3"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text above is escaped)

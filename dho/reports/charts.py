"""Report charts: Altair specifications rendered to SVG by vl-convert, on the server, with no network.

The output is deterministic: the data are passed inline and sorted, no selection or parameter is
used (Altair numbers those per process), and vl-convert draws the same SVG for the same spec, so a
report rebuilt from the same data has the same bytes. Charts are cached by their spec."""

from __future__ import annotations

import base64
import json
import re
from functools import lru_cache
from typing import Any

import altair as alt
from markupsafe import Markup, escape

FONT = "DejaVu Sans, Arial, sans-serif"
PALETTE = ["#1f5f99", "#c2552b", "#2e8b57", "#8a5cb8", "#b8860b", "#4a7f8c", "#a0456e", "#666666"]


def _config(chart: alt.Chart | alt.LayerChart) -> alt.Chart | alt.LayerChart:
    return chart.configure(font=FONT, background="white").configure_view(stroke=None).configure_axis(
        labelFontSize=10, titleFontSize=10, grid=True, gridColor="#e5e5e5").configure_legend(
        labelFontSize=10, titleFontSize=10, orient="bottom", columns=4)


@lru_cache(maxsize=256)
def _svg(spec_json: str) -> str:
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(json.loads(spec_json))
    # the SVG carries no size of its own in print: let CSS size it, keep the aspect from the viewBox
    return re.sub(r'^<svg([^>]*?) width="([\d.]+)" height="([\d.]+)"',
                  lambda m: f'<svg{m.group(1)} width="{m.group(2)}" height="{m.group(3)}" class="chart"',
                  svg, count=1)


@lru_cache(maxsize=256)
def _png(spec_json: str) -> str:
    import vl_convert as vlc

    return base64.b64encode(vlc.vegalite_to_png(json.loads(spec_json), scale=2)).decode()


def to_svg(chart: Any, *, label: str, raster: bool = False) -> Markup:
    """Render an Altair chart to an inline SVG with an accessible name; with ``raster``, to a PNG
    image instead (for the PDF: WeasyPrint lays out a picture far faster than a chart's SVG)."""
    spec = _config(chart).to_dict()
    key = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if raster:
        width = int(spec.get("width", 400)) + 120
        return Markup('<img class="chart" alt="{}" style="width:{}px;max-width:100%" src="data:image/png;base64,{}">'
                      ).format(label, width, _png(key))
    svg = _svg(key).replace("<svg", f'<svg role="img" aria-label="{escape(label)}"', 1)
    return Markup(svg)  # noqa: S704 (vl-convert output from our own numbers; the label is escaped)


MAP_STYLE = (".wm-ocean{fill:#eef3f7}.wm-c{stroke:#fff;stroke-width:.6}.wm-nodata{fill:#d9d9d9}"
             ".wm-hatched{fill:#e3e3e3}.wm-outside{fill:#f2f2f2}.wm-other{fill:#e6e6e6;stroke:#aaa;stroke-width:.5}"
             ".wm-hatch-bg{fill:#ececec}.wm-hatch-line{stroke:#c8c8c8;stroke-width:2}")


def raster_map(figure: Markup, extra_css: str, label: str) -> Markup:
    """Replace the world map's inline SVG by a PNG of it (legend and disclaimer stay text)."""
    html = str(figure)
    start, end = html.find("<svg"), html.find("</svg>")
    if start < 0 or end < 0:
        return figure
    svg = html[start:end + 6]
    head_end = svg.find(">") + 1
    styled = (svg[:head_end].replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="780"', 1)
              + f"<style>{MAP_STYLE}{extra_css}</style>" + svg[head_end:])
    png = base64.b64encode(_svg_png(styled)).decode()
    img = Markup('<img class="wm-map" alt="{}" src="data:image/png;base64,{}">').format(label, png)
    legend = _flat_swatches(html[end + 6:], MAP_STYLE + extra_css)
    return Markup(html[:start] + str(img) + legend)  # noqa: S704 (our own map markup)


_FILL = re.compile(r"\.([A-Za-z0-9_-]+)\{fill:(#[0-9a-fA-F]{3,8})[;}]")
_SWATCH = re.compile(r'<svg class="wm-swatch"[^>]*><rect class="([A-Za-z0-9_ -]+)"[^>]*/></svg>')


def _flat_swatches(html: str, css: str) -> str:
    """The legend's little SVG squares take their fill from the page's CSS, which the PDF renderer
    does not apply inside inline SVG: draw them as plain coloured boxes instead."""
    fills = dict(_FILL.findall(css))

    def box(m: re.Match[str]) -> str:
        colour = next((fills[c] for c in m.group(1).split() if c in fills), "#ffffff")
        return f'<span class="swatch" style="background:{colour}"></span>'

    return _SWATCH.sub(box, html)


@lru_cache(maxsize=64)
def _svg_png(svg: str) -> bytes:
    import vl_convert as vlc

    return bytes(vlc.svg_to_png(svg, scale=1))


def trend_chart(series: dict[str, list[tuple[str, float | None]]], *, y_title: str, x_title: str,
                label: str, width: int = 430, height: int = 150, raster: bool = False) -> Markup:
    """Lines over periods, one per named series (e.g. the world and each region)."""
    rows = [{"period": p, "value": v, "series": name}
            for name, points in series.items() for p, v in points if v is not None]
    if not rows:
        return Markup("")
    order = list(series)
    colours = PALETTE[:len(order)] if len(order) <= len(PALETTE) else None
    colour = alt.Color("series:N", title=None, sort=order,
                       scale=alt.Scale(domain=order, range=colours) if colours else alt.Undefined)
    chart = alt.Chart(alt.Data(values=rows)).mark_line(point=True, strokeWidth=1.8).encode(
        x=alt.X("period:O", title=x_title, sort=sorted({r["period"] for r in rows}), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=y_title),
        color=colour,
    ).properties(width=width, height=height)
    return to_svg(chart, label=label, raster=raster)


def bar_chart(bars: list[tuple[str, float | None]], *, x_title: str, label: str, highlight: str | None = None,
              width: int = 380) -> Markup:
    """Horizontal bars, one per labelled value, in the given order (no data: no bar)."""
    rows = [{"label": k, "value": v, "own": k == highlight} for k, v in bars if v is not None]
    if not rows:
        return Markup("")
    chart = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        y=alt.Y("label:N", title=None, sort=[r["label"] for r in rows]),
        x=alt.X("value:Q", title=x_title),
        color=alt.Color("own:N", legend=None, scale=alt.Scale(domain=[False, True], range=["#1f5f99", "#c2552b"])),
    ).properties(width=width, height=max(40, 18 * len(rows)))
    return to_svg(chart, label=label)

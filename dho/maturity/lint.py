"""The framework linter: structural errors make a framework unusable; warnings name defects a
reviewer should see (such as numeric bands that leave values with no phase). Pure function."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

LANGS = ("en", "fr")


@dataclass(frozen=True)
class Finding:
    level: str  # "error" or "warning"
    where: str  # e.g. "indicator 17"
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


def _text(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(lang), str) and value[lang].strip()
                                           for lang in LANGS)


def lint(doc: Any) -> list[Finding]:
    out: list[Finding] = []
    if not isinstance(doc, dict):
        return [Finding("error", "framework", "is not a JSON object")]
    fid = doc.get("id")
    if not isinstance(fid, str) or not fid.strip():
        out.append(Finding("error", "framework", "has no id"))
    phases = doc.get("phases")
    if phases != [1, 2, 3, 4, 5]:
        out.append(Finding("error", "framework", "phases must be [1, 2, 3, 4, 5]"))
        phases = [1, 2, 3, 4, 5]
    if not _text(doc.get("title")):
        out.append(Finding("error", "framework", "needs a title in English and French"))
    components = doc.get("components")
    if not isinstance(components, list) or not components:
        out.append(Finding("error", "framework", "has no components"))
        return out
    seen_components: set[str] = set()
    seen_codes: set[str] = set()
    parents: dict[str, str | None] = {}
    core_codes: set[str] = set()
    core_by_component: dict[str, int] = {}
    for comp in components:
        cid = str(comp.get("id", "")) if isinstance(comp, dict) else ""
        where = f"component {cid or '?'}"
        if not cid:
            out.append(Finding("error", where, "has no id"))
            continue
        if cid in seen_components:
            out.append(Finding("error", where, "id is used twice"))
        seen_components.add(cid)
        if not _text(comp.get("title")):
            out.append(Finding("error", where, "needs a title in English and French"))
        indicators = comp.get("indicators")
        if not isinstance(indicators, list) or not indicators:
            out.append(Finding("error", where, "has no indicators"))
            continue
        core_by_component[cid] = 0
        for ind in indicators:
            code = str(ind.get("code", "")) if isinstance(ind, dict) else ""
            iw = f"indicator {code or '?'}"
            if not code:
                out.append(Finding("error", iw, "has no code"))
                continue
            if code in seen_codes:
                out.append(Finding("error", iw, "code is used twice"))
            seen_codes.add(code)
            parents[code] = ind.get("parent")
            if ind.get("core") is True:
                core_by_component[cid] += 1
                core_codes.add(code)
            elif ind.get("core") is not False:
                out.append(Finding("error", iw, "must say core true or false"))
            if not _text(ind.get("title")):
                out.append(Finding("error", iw, "needs a title in English and French"))
            descriptors = ind.get("descriptors")
            if not isinstance(descriptors, dict):
                out.append(Finding("error", iw, "has no phase descriptors"))
            else:
                keys = set(descriptors)
                want = {str(p) for p in phases}
                for p in sorted(want - keys):
                    out.append(Finding("error", iw, f"has no descriptor for phase {p}"))
                for p in sorted(keys - want):
                    out.append(Finding("error", iw, f"has a descriptor for unknown phase {p}"))
                for p in sorted(keys & want):
                    if not _text(descriptors[p]):
                        out.append(Finding("error", iw, f"descriptor of phase {p} needs English and French"))
            out.extend(_lint_bands(iw, ind.get("bands")))
    for code, parent in parents.items():
        if parent is not None and parent not in parents:
            out.append(Finding("error", f"indicator {code}", f"parent {parent} does not exist"))
        if parent is not None and (parents.get(parent) is not None or parent not in core_codes):
            out.append(Finding("error", f"indicator {code}", "a sub-indicator's parent must be a core indicator"))
    for cid, n in core_by_component.items():
        if n == 0:
            out.append(Finding("error", f"component {cid}", "has no core indicator, so it can never be scored"))
    return out


def _lint_bands(where: str, bands: Any) -> list[Finding]:
    """Numeric thresholds per phase must cover the declared range once: no value without a phase
    (a gap) and no value with two (an overlap). Integer bands are checked value by value."""
    if bands is None:
        return []
    out: list[Finding] = []
    if not isinstance(bands, dict) or not isinstance(bands.get("phases"), dict):
        return [Finding("error", where, "bands must be an object with phases")]
    rng = bands.get("range")
    if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, int | float) for v in rng)
            and rng[0] <= rng[1]):
        return [Finding("error", where, "bands need a range [low, high]")]
    intervals = []
    for phase, band in sorted(bands["phases"].items()):
        lo, hi = (band or {}).get("min"), (band or {}).get("max")
        if not isinstance(lo, int | float) or not isinstance(hi, int | float) or lo > hi:
            out.append(Finding("error", where, f"band of phase {phase} needs min <= max"))
            continue
        if lo < rng[0] or hi > rng[1]:
            out.append(Finding("warning", where, f"band of phase {phase} ({lo}-{hi}) leaves the range {rng}"))
        intervals.append((lo, hi, phase))
    if out or not intervals:
        return out
    intervals.sort()
    low_covered = intervals[0][0]
    if not bands.get("integer"):
        # continuous values: only overlaps are decidable from inclusive bounds
        for (_a, hi1, p1), (lo2, _b, p2) in itertools.pairwise(intervals):
            if lo2 < hi1:
                out.append(Finding("warning", where, f"phases {p1} and {p2} overlap between {lo2} and {hi1}"))
        return out
    covered: dict[int, list[str]] = {}
    for lo, hi, phase in intervals:
        for v in range(int(lo), int(hi) + 1):
            covered.setdefault(v, []).append(phase)
    start = int(low_covered)
    for lo, hi in _runs([v for v in range(start, int(rng[1]) + 1) if v not in covered]):
        what = f"the value {lo} falls" if lo == hi else f"values {lo}-{hi} fall"
        out.append(Finding("warning", where, f"{what} in no phase (a gap in the bands)"))
    for lo, hi in _runs([v for v, ps in covered.items() if len(ps) > 1]):
        what = f"the value {lo} falls" if lo == hi else f"values {lo}-{hi} fall"
        out.append(Finding("warning", where, f"{what} in phases {' and '.join(covered[lo])} (an overlap)"))
    return out


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in sorted(values):
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs

"""The small rules that shape a report and its maps: which year a report shows when none is asked for,
legend bands with round edges (one band per value for yes/no counts), and legend boxes in the PDF."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from dho.indicators.engine import Value
from dho.reports import builder, charts, figures


@dataclass(frozen=True)
class Defn:
    code: str
    unit: str
    decimals: int = 0
    legend: list[dict[str, Any]] = field(default_factory=list)


class Results:
    """Country values per period, the two questions ``_with_legend`` asks of the engine's results."""

    def __init__(self, values: dict[str, dict[str, float]]) -> None:
        self._values = values

    def periods(self, code: str) -> list[str]:
        return sorted(self._values)

    def by_country(self, code: str, period: str) -> dict[str, Value]:
        return {iso3: Value(None, None, v, 1) for iso3, v in self._values[period].items()}


def test_the_default_year_is_the_latest_complete_one() -> None:
    cut = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    assert builder.default_year([2019, 2024, 2025, 2026], cut) == 2025
    # only the running year has data: show it rather than an empty report
    assert builder.default_year([2026], cut) == 2026
    assert builder.default_year([], cut) == 2026
    assert builder.default_year([], None) == builder.FALLBACK_YEAR
    assert builder.default_year([2023], None) == 2023


@pytest.mark.parametrize(("raw", "step"), [(0.2, 0.2), (1704000, 2000000), (3, 5), (24, 25), (7.3, 10), (0, 1)])
def test_legend_steps_are_round(raw: float, step: float) -> None:
    assert figures.nice_step(raw) == pytest.approx(step)


def test_a_yes_no_count_gets_one_band_per_value() -> None:
    defn = figures._with_legend(Defn("GDHP_MS", "number"), Results({"2025": {"KEN": 1, "PER": 0, "GHA": 1}}))
    assert [(b["from"], b["to"]) for b in defn.legend] == [(0, 1), (1, 2)]
    assert [b["label"]["en"] for b in defn.legend] == ["0", "1"]
    assert figures.legend_index(defn, Value(1, None, 1.0, 1)) == 1
    assert figures.legend_index(defn, Value(0, None, 0.0, 1)) == 0


def test_large_values_get_five_round_bands_covering_the_largest() -> None:
    defn = figures._with_legend(Defn("INVESTMENT_USD", "currency_usd"),
                                Results({"2024": {"KEN": 8_520_000.0}, "2025": {"PER": 120_000.0}}))
    edges = [(b["from"], b["to"]) for b in defn.legend]
    assert edges[0] == (0, 2_000_000) and edges[-1] == (8_000_000, 10_000_000) and len(edges) == 5
    assert figures.legend_index(defn, Value(None, None, 8_520_000.0, 1)) == 4
    # nothing but zeros: no bands (the map shows "no data" rather than a meaningless scale)
    assert figures._with_legend(Defn("X", "number"), Results({"2025": {"KEN": 0.0}})).legend == []


def test_pdf_legend_boxes_take_the_band_colour() -> None:
    html = ('<figcaption><ul><li><svg class="wm-swatch" viewBox="0 0 20 14" aria-hidden="true">'
            '<rect class="ind-GDHP_MS-1" width="20" height="14"/></svg><span>1</span></li>'
            '<li><svg class="wm-swatch" viewBox="0 0 20 14" aria-hidden="true">'
            '<rect class="wm-nodata" width="20" height="14"/></svg><span>No data</span></li></ul></figcaption>')
    flat = charts._flat_swatches(html, charts.MAP_STYLE + ".ind-GDHP_MS-1{fill:#08519c}")
    assert "<svg" not in flat
    assert 'style="background:#08519c"' in flat and 'style="background:#d9d9d9"' in flat

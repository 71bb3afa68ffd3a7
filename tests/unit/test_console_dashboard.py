"""The dashboard's expiry chart geometry: bars scaled to the busiest month, labels by month."""

from __future__ import annotations

import datetime as dt

from openacm.console.dashboard import CHART_HEIGHT, _bars


def test_bars_scale_to_the_busiest_month_and_start_this_month() -> None:
    now = dt.datetime(2026, 12, 4, tzinfo=dt.UTC).timestamp()
    chart = _bars([4, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1], now)
    bars = chart["bars"]
    assert [b["height"] for b in bars][:3] == [CHART_HEIGHT, 0, CHART_HEIGHT // 2]
    assert all(b["y"] + b["height"] == CHART_HEIGHT + 16 for b in bars)  # one baseline
    assert bars[0]["label"] == "Dec 26" and bars[11]["label"] == "Nov 27"
    assert chart["total"] == 7


def test_an_empty_year_draws_no_bar() -> None:
    chart = _bars([0] * 12, 0.0)
    assert all(b["height"] == 0 for b in chart["bars"]) and chart["total"] == 0

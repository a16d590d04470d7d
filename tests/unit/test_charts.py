"""Terminal charts of a timeline: sparklines, squeezing to a width, the tables' rows."""

from __future__ import annotations

import pytest
from rich.console import Console

from kiln.charts import drift_table, sparkline, squeeze, traffic_table
from kiln.services.monitoring.timeline import (
    FeatureTimeline,
    MetricSeries,
    Timeline,
    TimePoint,
    VariantTimeline,
)


@pytest.mark.parametrize(
    ("values", "chart"),
    [
        ([0, 7], "▁█"),
        ([0, 1, 2, 3, 4, 5, 6, 7], "▁▂▃▄▅▆▇█"),
        ([7, 7], "██"),  # from zero, not from the smallest
        ([2, None, 4], "▅ █"),  # 2/4 of 7 steps rounds to 4 (▅)
        ([0, 0], "▁▁"),
        ([None, None], "  "),
        ([], ""),
    ],
)
def test_sparkline_draws_each_value_from_zero_to_the_largest(
    values: list[float | None], chart: str
) -> None:
    assert sparkline(values) == chart


@pytest.mark.parametrize(
    ("values", "width", "squeezed"),
    [
        ([1, 2, 3], 5, [1, 2, 3]),
        ([1, 5, 2, 3], 2, [5, 3]),
        ([None, None, 3, 1], 2, [None, 3]),  # groups of 2: [–, –] stays a gap
        ([1, 9, 2, 3, 4], 2, [9, 4]),  # groups of 3: [1, 9, 2] and [3, 4]
    ],
)
def test_squeeze_keeps_each_group_s_largest_value(
    values: list[float | None], width: int, squeezed: list[float | None]
) -> None:
    assert squeeze(values, width) == squeezed


def _series(metric: str, statistic: str, unit: str, values: list[float | None]) -> MetricSeries:
    points = tuple(TimePoint(1_700_000_000 + 60 * i, v) for i, v in enumerate(values))
    return MetricSeries(metric, statistic, unit, points)


def _render(table: object) -> str:
    console = Console(record=True, width=160)
    console.print(table)
    return console.export_text()


def test_the_traffic_table_sums_counts_and_shows_latency_in_ms() -> None:
    variant = VariantTimeline("A", (
        _series("Invocations", "Sum", "None", [3, 0, 5]),
        _series("ModelLatency", "p99", "Microseconds", [2500, None, 4000]),
        _series("Invocation5XXErrors", "Sum", "None", [0, 0, 1]),
    ))  # fmt: skip
    text = _render(traffic_table(Timeline("churn", 1.7e9, 1.7e9 + 180, 60, (variant,), ())))
    title = "churn traffic: 2023-11-14 22:13 – 2023-11-14 22:16 UTC, one point per 1 min"
    assert title in " ".join(text.split())
    rows = {cells[1]: cells[2:] for cells in _rows(text)}
    assert rows["invocations"] == ["▅▁█", "8", "5"]  # 8 in all, 5 at most
    assert rows["latency p99 ms"] == ["▅ █", "4", "4"]  # the last, the peak
    assert rows["5xx errors"] == ["▁▁█", "1", "1"]


def _rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines()
            if line.startswith("│")]  # fmt: skip


def test_the_drift_table_has_a_row_per_feature_and_measure() -> None:
    feature = FeatureTimeline("age", "hourly", (
        _series("feature_baseline_drift", "Average", "None", [0.1, 0.4]),
        _series("kiln_feature_psi", "Average", "None", [None, 0.25]),
    ))  # fmt: skip
    text = _render(drift_table(Timeline("churn", 1.7e9, 1.7e9 + 7200, 3600, (), (feature,))))
    assert "one point per 1h" in " ".join(text.split())
    assert _rows(text) == [
        ["age (hourly)", "feature_baseline_drift", "▃█", "0.4", "0.4"],
        ["age (hourly)", "kiln_feature_psi", "█", "0.25", "0.25"],
    ]


def test_a_narrow_terminal_narrows_the_chart_not_the_labels() -> None:
    variant = VariantTimeline("AllTraffic", (_series("Invocations", "Sum", "None", [1.0] * 60),))
    timeline = Timeline("churn", 1.7e9, 1.7e9 + 3600, 60, (variant,), ())
    console = Console(record=True, width=80)
    console.print(traffic_table(timeline, console.width))
    [row] = _rows(console.export_text())
    assert row[:2] == ["AllTraffic", "invocations"]
    assert len(row[2]) == 80 - len("AllTraffic") - len("latency p99 ms") - 20 - 16

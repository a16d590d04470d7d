"""Terminal charts of an endpoint's timeline: a sparkline per series, in rich tables.

``kiln monitor traffic`` shows each variant's invocations, model latency and errors;
``kiln monitor drift`` each feature's drift measures. Each row's chart starts at zero, so bar
heights compare within a row; gaps (periods without data) are blanks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table

from kiln.services.monitoring.timeline.points import MetricSeries, Timeline

BLOCKS = "▁▂▃▄▅▆▇█"
CHART_WIDTH = 60
# (metric, statistic) → row label and whether the row sums (counts) or shows the last value.
_TRAFFIC_ROWS = (
    ("Invocations", "Sum", "invocations", True),
    ("ModelLatency", "Average", "latency avg ms", False),
    ("ModelLatency", "p50", "latency p50 ms", False),
    ("ModelLatency", "p90", "latency p90 ms", False),
    ("ModelLatency", "p99", "latency p99 ms", False),
    ("Invocation4XXErrors", "Sum", "4xx errors", True),
    ("Invocation5XXErrors", "Sum", "5xx errors", True),
    ("InvocationModelErrors", "Sum", "model errors", True),
)


def sparkline(values: Sequence[float | None]) -> str:
    """One block per value, from zero (▁) to the largest (█); a blank for a gap."""
    present = [v for v in values if v is not None]
    low = min(0.0, *present) if present else 0.0
    high = max(present, default=0.0)
    if high <= low:
        return "".join(" " if v is None else BLOCKS[0] for v in values)
    top = len(BLOCKS) - 1
    return "".join(
        " " if v is None else BLOCKS[round((v - low) / (high - low) * top)] for v in values
    )


def squeeze(values: Sequence[float | None], width: int) -> list[float | None]:
    """At most ``width`` values: consecutive ones merged by their largest (a gap if all are)."""
    if len(values) <= width:
        return list(values)
    size = math.ceil(len(values) / width)
    groups = [values[i : i + size] for i in range(0, len(values), size)]
    return [max((v for v in g if v is not None), default=None) for g in groups]


def traffic_table(timeline: Timeline) -> Table:
    """Each variant's invocations, latency and errors over the timeline, one row per series."""
    table = _table(timeline, "traffic", ("variant", "series", "chart", "total/last", "peak"))
    for variant in timeline.variants:
        for metric, statistic, label, is_count in _TRAFFIC_ROWS:
            series = variant.find(metric, statistic)
            if series is not None:
                scale = 1000.0 if series.unit == "Microseconds" else 1.0
                table.add_row(variant.variant, label, *_cells(series, scale, is_count))
    return table


def drift_table(timeline: Timeline) -> Table:
    """Each feature's drift measures over the timeline, one row per measure."""
    table = _table(timeline, "drift", ("feature", "metric", "chart", "last", "peak"))
    for feature in timeline.features:
        name = (
            feature.feature if not feature.schedule else f"{feature.feature} ({feature.schedule})"
        )
        for series in feature.series:
            table.add_row(name, series.metric, *_cells(series, 1.0, False))
    return table


def _table(timeline: Timeline, what: str, columns: tuple[str, ...]) -> Table:
    span = f"{_when(timeline.start)} – {_when(timeline.end)} UTC"
    table = Table(title=f"{timeline.endpoint} {what}: {span}, one point per {_period(timeline)}")
    for column in columns:
        table.add_column(column, justify="right" if column in ("total/last", "last", "peak")
                         else "left", no_wrap=column == "chart")  # fmt: skip
    return table


def _cells(series: MetricSeries, scale: float, is_count: bool) -> tuple[str, str, str]:
    values = [None if v is None else v / scale for v in series.values()]
    present = [v for v in values if v is not None]
    summary = sum(present) if is_count else (present[-1] if present else None)
    chart = sparkline(squeeze(values, CHART_WIDTH))
    return chart, _number(summary), _number(max(present, default=None))


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value == int(value) and abs(value) >= 1 else f"{value:.3g}"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _period(timeline: Timeline) -> str:
    seconds = timeline.period
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60} min"

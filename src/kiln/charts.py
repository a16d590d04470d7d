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

from kiln.services.monitoring.timeline.points import FeatureTimeline, MetricSeries, Timeline

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


def traffic_table(timeline: Timeline, width: int | None = None) -> Table:
    """Each variant's invocations, latency and errors over the timeline, one row per series;
    the charts narrowed to fit ``width`` columns where given."""
    names = max((len(v.variant) for v in timeline.variants), default=0)
    chart_width = _chart_width(width, names + len("latency p99 ms") + 20)
    table = _table(timeline, "traffic", ("variant", "series", "chart", "total/last", "peak"))
    for variant in timeline.variants:
        for metric, statistic, label, is_count in _TRAFFIC_ROWS:
            series = variant.find(metric, statistic)
            if series is not None:
                scale = 1000.0 if series.unit == "Microseconds" else 1.0
                cells = _cells(series, scale, is_count, chart_width)
                table.add_row(variant.variant, label, *cells)
    return table


def drift_table(timeline: Timeline, width: int | None = None) -> Table:
    """Each feature's drift measures over the timeline, one row per measure; the charts narrowed
    to fit ``width`` columns where given."""
    table = _table(timeline, "drift", ("feature", "metric", "chart", "last", "peak"))
    names = [_feature_label(f) for f in timeline.features]
    metrics = max((len(s.metric) for f in timeline.features for s in f.series), default=0)
    chart_width = _chart_width(width, max(map(len, names), default=0) + metrics + 12)
    for feature, name in zip(timeline.features, names, strict=True):
        for series in feature.series:
            table.add_row(name, series.metric, *_cells(series, 1.0, False, chart_width))
    return table


def _feature_label(feature: FeatureTimeline) -> str:
    return f"{feature.feature} ({feature.schedule})" if feature.schedule else feature.feature


def _chart_width(width: int | None, text: int) -> int:
    """The chart's width: ``CHART_WIDTH``, narrowed (to 10 at least) to leave ``text`` columns
    and the table's rules and padding (16) within ``width``."""
    if width is None:
        return CHART_WIDTH
    return max(10, min(CHART_WIDTH, width - text - 16))


def _table(timeline: Timeline, what: str, columns: tuple[str, ...]) -> Table:
    span = f"{_when(timeline.start)} – {_when(timeline.end)} UTC"
    table = Table(title=f"{timeline.endpoint} {what}: {span}, one point per {_period(timeline)}")
    for column in columns:
        is_number = column in ("total/last", "last", "peak")
        table.add_column(column, justify="right" if is_number else "left", no_wrap=True)
    return table


def _cells(series: MetricSeries, scale: float, is_count: bool, width: int) -> tuple[str, str, str]:
    values = [None if v is None else v / scale for v in series.values()]
    present = [v for v in values if v is not None]
    summary = sum(present) if is_count else (present[-1] if present else None)
    chart = sparkline(squeeze(values, max(1, width)))
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

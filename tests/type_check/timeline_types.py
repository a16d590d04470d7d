"""Read by mypy only: the timeline as SDK users and a web UI's backend read it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, assert_type

import kiln
from kiln.services.monitoring.timeline import MetricSeries, Timeline


def plot(session: kiln.Session) -> None:
    """Read an endpoint's timeline, then its points and JSON."""
    timeline = kiln.endpoint_timeline("churn", 6 * 3600, period=300, session=session)
    assert_type(timeline, Timeline)
    kiln.endpoint_timeline("churn", start=datetime(2024, 5, 1, tzinfo=UTC), end=1.7e9)
    for variant in timeline.variants:
        latency = variant.find("ModelLatency", "p99")
        assert_type(latency, MetricSeries | None)
        if latency is not None:
            assert_type(latency.values(), list[float | None])
            assert_type([(p.t, p.value) for p in latency.points], list[tuple[float, float | None]])
    for feature in timeline.features:
        assert_type(feature.feature, str)
    assert_type(timeline.to_document(), dict[str, Any])

"""The metrics store's rows: 1-minute points in, points out; no CloudWatch shapes here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import Engine, delete, insert, select

from kiln.db.tables import metric_points


@dataclass(frozen=True)
class MetricRow:
    """One stored point: a series (namespace, metric, dimensions) over one minute."""

    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    minute: int
    count: float
    total: float
    low: float
    high: float
    unit: str
    buckets: dict[int, int]


class MetricRows:
    """The ``metric_points`` table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, rows: Sequence[MetricRow]) -> None:
        """Store ``rows`` in one transaction."""
        if not rows:
            return
        with self._engine.begin() as connection:
            connection.execute(insert(metric_points), [_values(row) for row in rows])

    def read(
        self,
        namespace: str,
        metric: str | None,
        start: int,
        end: int,
        dimensions: tuple[tuple[str, str], ...] | None = None,
    ) -> list[MetricRow]:
        """Rows of ``namespace`` (and ``metric``, ``dimensions`` when given) with
        ``start <= minute < end``."""
        query = select(metric_points).where(
            metric_points.c.namespace == namespace,
            metric_points.c.minute >= start,
            metric_points.c.minute < end,
        )
        if metric is not None:
            query = query.where(metric_points.c.metric == metric)
        if dimensions is not None:
            query = query.where(metric_points.c.dimensions == _dimensions_text(dimensions))
        with self._engine.connect() as connection:
            return [_row(found) for found in connection.execute(query)]

    def series(self, since: int) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
        """Every (namespace, metric, dimensions) with a row at or after ``since``."""
        query = (
            select(metric_points.c.namespace, metric_points.c.metric, metric_points.c.dimensions)
            .where(metric_points.c.minute >= since)
            .distinct()
        )
        with self._engine.connect() as connection:
            return {
                (namespace, metric, _dimensions_of(text))
                for namespace, metric, text in connection.execute(query)
            }

    def trim(self, before: int) -> int:
        """Delete rows older than ``before``; how many."""
        with self._engine.begin() as connection:
            return connection.execute(
                delete(metric_points).where(metric_points.c.minute < before)
            ).rowcount


def _dimensions_text(dimensions: tuple[tuple[str, str], ...]) -> str:
    return orjson.dumps([list(pair) for pair in dimensions]).decode()


def _dimensions_of(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(value)) for name, value in orjson.loads(text))


def _values(row: MetricRow) -> dict[str, object]:
    return {
        "namespace": row.namespace,
        "metric": row.metric,
        "dimensions": _dimensions_text(row.dimensions),
        "minute": row.minute,
        "count": row.count,
        "total": row.total,
        "low": row.low,
        "high": row.high,
        "unit": row.unit,
        "buckets": {str(bucket): times for bucket, times in row.buckets.items()},
    }


def _row(found: object) -> MetricRow:
    mapping = found._mapping  # type: ignore[attr-defined]
    return MetricRow(
        namespace=mapping["namespace"],
        metric=mapping["metric"],
        dimensions=_dimensions_of(mapping["dimensions"]),
        minute=int(mapping["minute"]),
        count=float(mapping["count"]),
        total=float(mapping["total"]),
        low=float(mapping["low"]),
        high=float(mapping["high"]),
        unit=mapping["unit"],
        buckets={int(bucket): int(times) for bucket, times in mapping["buckets"].items()},
    )

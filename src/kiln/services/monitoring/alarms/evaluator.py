"""The alarm evaluator: a thread that judges every alarm about once a second.

Each round reads every alarm's last N complete periods (10 s and 30 s periods from the metrics
store's 10-second ``InvocationSlots``, longer ones from the ``MetricsStore``, whose unflushed
minutes are in memory), calls the pure ``evaluate`` and, when the state changes, stores it and
tells the listeners
(through ``CloudWatchAlarms.change``). So a Kiln alarm reacts within one period plus about a
second; CloudWatch's own evaluation runs once a minute, a few minutes behind the data.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from kiln.services.monitoring.alarms.definition import AlarmDefinition
from kiln.services.monitoring.alarms.evaluation import Datapoint, evaluate
from kiln.services.monitoring.alarms.service import CloudWatchAlarms
from kiln.services.monitoring.metrics.fine import InvocationSlots
from kiln.services.monitoring.metrics.series import Aggregate
from kiln.services.monitoring.metrics.statistics import statistic
from kiln.services.monitoring.metrics.store import MetricsStore

log = logging.getLogger(__name__)


class AlarmEvaluator:
    """Evaluates every alarm every ``interval`` seconds on its own thread."""

    def __init__(
        self,
        alarms: CloudWatchAlarms,
        store: MetricsStore,
        fine: InvocationSlots,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._alarms = alarms
        self._store = store
        self._fine = fine
        self._interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start evaluating."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kiln-alarms", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop evaluating."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def evaluate_all(self) -> None:
        """One round: judge every alarm, store and announce each change."""
        now = self._clock()
        for alarm, state in self._alarms.definitions():
            points = self.datapoints(alarm, now)
            verdict = evaluate(alarm.rule, points, state)
            if verdict.state != state:
                data = reason_data(alarm, points, now)
                newest = next((p.value for p in points if p.value is not None), None)
                breach = None if newest is None else newest - alarm.rule.threshold
                self._alarms.change(alarm.name, verdict.state, verdict.reason, data, breach)

    def datapoints(self, alarm: AlarmDefinition, now: float) -> list[Datapoint]:
        """The alarm's last N complete periods at ``now``, newest first."""
        period = alarm.period
        end = int(now) // period * period
        start = end - period * alarm.rule.evaluation_periods
        # The invocation metrics of the last minutes come from the 10 s slots, the rest from
        # the store's minutes (a 10 s alarm on a per-minute metric sees one point a minute).
        if self._fine.covers(alarm.series, start, now):
            buckets = self._fine.slots(alarm.series, start, end)
        else:
            buckets = self._store.minutes(alarm.series, start, end)
        found = []
        for at in range(end - period, start - 1, -period):
            aggregate = Aggregate()
            for bucket, part in buckets.items():
                if at <= bucket < at + period:
                    aggregate.merge(part)
            found.append(Datapoint(at, statistic(alarm.statistic, aggregate), aggregate.count))
        return found

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.evaluate_all()
            except SQLAlchemyError:
                log.warning("alarms: could not evaluate; will retry", exc_info=True)


MAX_REASON_DATA = 4000
"""``StateReasonData``'s limit in CloudWatch's model, and the column's."""


def reason_data(alarm: AlarmDefinition, points: list[Datapoint], now: float) -> str:
    """CloudWatch's ``StateReasonData`` JSON, with as many of the newest datapoints as fit."""
    present = [p for p in points if p.value is not None]  # newest first
    while True:
        text = json.dumps(
            {
                "version": "1.0",
                "queryDate": _iso(now),
                "startDate": _iso(points[-1].at) if points else _iso(now),
                "statistic": alarm.statistic,
                "period": alarm.period,
                "recentDatapoints": [p.value for p in reversed(present)],
                "threshold": alarm.rule.threshold,
                "evaluatedDatapoints": [
                    {"timestamp": _iso(p.at), "sampleCount": p.samples, "value": p.value}
                    for p in present
                ],
            }
        )
        if len(text) <= MAX_REASON_DATA or not present:
            return text
        present = present[: len(present) // 2]


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(at))

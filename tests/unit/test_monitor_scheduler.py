"""The monitor scheduler: each due window runs once, restarts resume, stopped schedules rest.

``MemoryBook`` is a test double of the ``ScheduleBook`` protocol (the real store is the schedules
API's, helper B1's); the executions are plain functions standing in for ``ExecutionRunner.run``
(its own tests run it over a real store). The scheduler itself runs for real: its thread, its
pool and its clock (a settable one).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from conftest import wait_until
from kiln.services.monitoring.outcomes import ExecutionStatus, MonitoringOutcome
from kiln.services.monitoring.schedules.execution import ExecutionResult
from kiln.services.monitoring.schedules.expressions import parse_expression
from kiln.services.monitoring.schedules.model import (
    ExecutionRecord,
    JobDefinition,
    MonitoringType,
    Schedule,
    ScheduleStatus,
    Window,
)
from kiln.services.monitoring.schedules.scheduler import ABANDONED, MonitorScheduler

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def schedule(name: str = "s", expression: str = "rate(10 seconds)") -> Schedule:
    definition = JobDefinition(
        name="dq",
        arn="arn:aws:sagemaker:us-east-1:000000000000:data-quality-job-definition/dq",
        monitoring_type=MonitoringType.DATA_QUALITY,
        endpoint_name="ep",
        output_s3_uri="s3://out/reports",
    )
    return Schedule(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:000000000000:monitoring-schedule/{name}",
        status=ScheduleStatus.SCHEDULED,
        expression=parse_expression(expression),
        definition=definition,
        created=T0 - timedelta(hours=1),
    )


@dataclass
class MemoryBook:
    """The ScheduleBook protocol over dicts, with the one-execution-per-window rule."""

    schedules: dict[str, Schedule] = field(default_factory=dict)
    executions: dict[tuple[str, datetime], ExecutionRecord] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def scheduled(self) -> list[Schedule]:
        return [s for s in self.schedules.values() if s.status is ScheduleStatus.SCHEDULED]

    def last_scheduled_time(self, schedule_name: str) -> datetime | None:
        times = [t for (name, t) in self.executions if name == schedule_name]
        return max(times, default=None)

    def begin(self, schedule_name: str, window: Window, processing_job_name: str) -> bool:
        with self.lock:
            key = (schedule_name, window.scheduled_time)
            if key in self.executions:
                return False
            self.executions[key] = ExecutionRecord(
                schedule_name=schedule_name,
                scheduled_time=window.scheduled_time,
                processing_job_name=processing_job_name,
                status=ExecutionStatus.IN_PROGRESS,
                created=T0,
                last_modified=T0,
                monitoring_type=MonitoringType.DATA_QUALITY,
                endpoint_name="ep",
                job_definition_name="dq",
            )
            return True

    def finish(
        self,
        schedule_name: str,
        scheduled_time: datetime,
        status: ExecutionStatus,
        failure_reason: str | None,
        report_uri: str | None,
    ) -> None:
        with self.lock:
            key = (schedule_name, scheduled_time)
            self.executions[key] = replace(
                self.executions[key],
                status=status,
                failure_reason=failure_reason,
                report_uri=report_uri,
            )

    def unfinished(self) -> list[ExecutionRecord]:
        ended = {ExecutionStatus.PENDING, ExecutionStatus.IN_PROGRESS}
        return [e for e in self.executions.values() if e.status in ended]

    def statuses(self) -> dict[datetime, ExecutionStatus]:
        with self.lock:
            return {t: e.status for (_, t), e in self.executions.items()}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


class Outcomes:
    def __init__(self) -> None:
        self.heard: list[MonitoringOutcome] = []

    def outcome(self, outcome: MonitoringOutcome) -> None:
        self.heard.append(outcome)


def completed(_schedule: Schedule, window: Window, job: str) -> ExecutionResult:
    return ExecutionResult(ExecutionStatus.COMPLETED, None, f"s3://out/{job}")


def test_each_due_window_runs_once_however_often_it_ticks() -> None:
    book, clock, ran = MemoryBook({"s": schedule()}), Clock(T0 + timedelta(seconds=5)), []
    scheduler = MonitorScheduler(
        book, lambda s, w, j: ran.append(w.scheduled_time) or completed(s, w, j), clock=clock
    )
    scheduler.start()
    try:
        for _ in range(5):
            scheduler.tick()
        wait_until(lambda: book.statuses() == {T0: ExecutionStatus.COMPLETED}, "the 12:00:00 run")
        scheduler.tick()
        clock.at = T0 + timedelta(seconds=12)
        scheduler.tick()
        wait_until(lambda: len(ran) == 2, "the 12:00:10 run")
    finally:
        scheduler.stop()
    assert ran == [T0, T0 + timedelta(seconds=10)]


def test_after_downtime_only_the_latest_missed_window_runs() -> None:
    book = MemoryBook({"s": schedule()})
    book.begin("s", Window(T0, T0 - timedelta(seconds=10), T0), "job")
    book.finish("s", T0, ExecutionStatus.COMPLETED, None, None)
    clock = Clock(T0 + timedelta(minutes=5, seconds=3))  # 29 windows missed
    scheduler = MonitorScheduler(book, completed, clock=clock)
    scheduler.start()
    try:
        scheduler.tick()
        wait_until(lambda: len(book.statuses()) == 2, "one more execution")
    finally:
        scheduler.stop()
    assert sorted(book.statuses()) == [T0, T0 + timedelta(minutes=5)]


def test_a_restart_runs_the_unfinished_execution_again_with_its_job_name() -> None:
    book = MemoryBook({"s": schedule()})
    book.begin("s", Window(T0, T0 - timedelta(seconds=10), T0), "model-monitoring-left")
    reran: list[tuple[datetime, str]] = []

    def run(s: Schedule, w: Window, job: str) -> ExecutionResult:
        reran.append((w.scheduled_time, job))
        return completed(s, w, job)

    scheduler = MonitorScheduler(
        book, run, tick_seconds=0.05, clock=Clock(T0 + timedelta(seconds=1))
    )
    scheduler.start()
    try:
        wait_until(lambda: book.statuses() == {T0: ExecutionStatus.COMPLETED}, "the rerun")
    finally:
        scheduler.stop()
    assert reran == [(T0, "model-monitoring-left")]


def test_an_unfinished_execution_of_a_stopped_schedule_is_closed_as_stopped() -> None:
    book = MemoryBook({"s": replace(schedule(), status=ScheduleStatus.STOPPED)})
    book.begin("s", Window(T0, T0 - timedelta(seconds=10), T0), "job")
    scheduler = MonitorScheduler(book, completed, clock=Clock(T0))
    scheduler.start()
    try:
        scheduler.resume()
    finally:
        scheduler.stop()
    assert book.executions[("s", T0)].status is ExecutionStatus.STOPPED
    assert book.executions[("s", T0)].failure_reason == ABANDONED


def test_a_stopped_schedule_produces_no_executions() -> None:
    book = MemoryBook({"s": replace(schedule(), status=ScheduleStatus.STOPPED)})
    scheduler = MonitorScheduler(book, completed, clock=Clock(T0 + timedelta(seconds=5)))
    scheduler.start()
    try:
        scheduler.tick()
    finally:
        scheduler.stop()
    assert book.executions == {}


def test_an_execution_that_raises_ends_failed_and_is_announced() -> None:
    book, outcomes = MemoryBook({"s": schedule()}), Outcomes()

    def broken(_s: Schedule, _w: Window, _j: str) -> ExecutionResult:
        raise RuntimeError("boom")

    scheduler = MonitorScheduler(book, broken, clock=Clock(T0 + timedelta(seconds=1)))
    scheduler.add_listener(outcomes)
    scheduler.start()
    try:
        scheduler.tick()
        wait_until(lambda: outcomes.heard, "the outcome")
    finally:
        scheduler.stop()
    assert book.executions[("s", T0)].failure_reason == "Internal error: boom"
    assert (outcomes.heard[0].status, outcomes.heard[0].schedule_name) == (
        ExecutionStatus.FAILED,
        "s",
    )


def test_a_schedule_runs_one_execution_at_a_time() -> None:
    book, clock, release = (
        MemoryBook({"s": schedule()}),
        Clock(T0 + timedelta(seconds=1)),
        threading.Event(),
    )

    def slow(s: Schedule, w: Window, job: str) -> ExecutionResult:
        release.wait(10)
        return completed(s, w, job)

    scheduler = MonitorScheduler(book, slow, clock=clock)
    scheduler.start()
    try:
        scheduler.tick()
        clock.at += timedelta(seconds=10)
        scheduler.tick()  # 12:00:10 is due, but 12:00:00 still runs
        assert list(book.statuses()) == [T0]
        release.set()
        wait_until(lambda: book.statuses() == {T0: ExecutionStatus.COMPLETED}, "the first run")
        scheduler.tick()
        wait_until(lambda: len(book.statuses()) == 2, "the second run")
    finally:
        release.set()
        scheduler.stop()

"""The monitor scheduler: a controller that runs each schedule's due window exactly once.

Every tick it asks the book for the ``Scheduled`` schedules, decides each one's due window
(``windows.due_window``, pure), records the execution with ``book.begin`` (which refuses a
window that already has one, so two ticks or two servers never run it twice) and hands it to a
small bounded pool of workers; a schedule runs at most one execution at a time. When an execution
ends, the book records it (``book.finish``) and every ``OutcomeListener`` hears of it.

On start, executions a dead server left ``Pending`` or ``InProgress`` run again (same job name,
same window); those whose schedule is no longer ``Scheduled`` are closed as ``Stopped``. A
stopped or deleted schedule is no longer in ``book.scheduled()``, so it produces nothing more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from kiln.services.monitoring.outcomes import ExecutionStatus, MonitoringOutcome, OutcomeListener
from kiln.services.monitoring.schedules.execution import ExecutionResult
from kiln.services.monitoring.schedules.model import Schedule, ScheduleBook, Window
from kiln.services.monitoring.schedules.naming import processing_job_name
from kiln.services.monitoring.schedules.windows import due_window, window_at

log = logging.getLogger(__name__)

RunExecution = Callable[[Schedule, Window, str], ExecutionResult]
ABANDONED = "The monitoring schedule was stopped or deleted while Kiln was down"


class MonitorScheduler:
    """Starts each schedule's due execution on a bounded pool, once per scheduled time."""

    def __init__(
        self,
        book: ScheduleBook,
        run: RunExecution,
        *,
        tick_seconds: float = 1.0,
        workers: int = 2,
        settle: timedelta = timedelta(0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._book = book
        self._run = run
        self._tick = tick_seconds
        self._workers = workers
        self._settle = settle
        self._clock = clock
        self._listeners: list[OutcomeListener] = []
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def add_listener(self, listener: OutcomeListener) -> None:
        """Tell ``listener`` of every execution that ends from now on."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Resume what a dead server left, then start ticking."""
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="kiln-monitor-run")
        self._thread = threading.Thread(target=self._loop, name="kiln-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking and wait for the executions in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def resume(self) -> None:
        """Run again the executions a dead server left unfinished."""
        schedules = {s.name: s for s in self._book.scheduled()}
        for record in self._book.unfinished():
            schedule = schedules.get(record.schedule_name)
            if schedule is None:
                self._book.finish(
                    record.schedule_name,
                    record.scheduled_time,
                    ExecutionStatus.STOPPED,
                    ABANDONED,
                    None,
                )
                continue
            window = window_at(schedule, record.scheduled_time)
            self._submit(schedule, window, record.processing_job_name)

    def tick(self) -> None:
        """One round: begin and submit every schedule's due window."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        for schedule in self._book.scheduled():
            with self._lock:
                if schedule.name in self._running:
                    continue
            window = self._due(schedule, now)
            if window is None:
                continue
            job = processing_job_name(schedule, window.scheduled_time)
            if self._book.begin(schedule.name, window, job):
                self._submit(schedule, window, job)

    def _due(self, schedule: Schedule, now: datetime) -> Window | None:
        last = self._book.last_scheduled_time(schedule.name)
        try:
            return due_window(schedule, last, now, self._settle)
        except ValueError:
            log.warning("monitoring schedule %s: no window", schedule.name, exc_info=True)
            return None

    def _submit(self, schedule: Schedule, window: Window, job: str) -> None:
        with self._lock:
            self._running.add(schedule.name)
        assert self._pool is not None, "submit before start"
        self._pool.submit(self._execute, schedule, window, job)

    def _execute(self, schedule: Schedule, window: Window, job: str) -> None:
        try:
            result = self._run_guarded(schedule, window, job)
            self._book.finish(
                schedule.name,
                window.scheduled_time,
                result.status,
                result.failure_reason,
                result.report_uri,
            )
            self._announce(schedule, window, result)
        except SQLAlchemyError:  # left InProgress: the next start runs it again
            log.warning("monitoring execution %s: could not record its end", job, exc_info=True)
        finally:
            with self._lock:
                self._running.discard(schedule.name)

    def _run_guarded(self, schedule: Schedule, window: Window, job: str) -> ExecutionResult:
        try:
            return self._run(schedule, window, job)
        except Exception as e:  # a controller outlives any one execution's bug
            log.exception("monitoring execution %s of %s failed", job, schedule.name)
            return ExecutionResult(ExecutionStatus.FAILED, f"Internal error: {e}"[:1024])

    def _announce(self, schedule: Schedule, window: Window, result: ExecutionResult) -> None:
        outcome = MonitoringOutcome(
            schedule_name=schedule.name,
            endpoint_name=schedule.definition.endpoint_name,
            status=result.status,
            scheduled_time=window.scheduled_time,
            violations=result.violations,
            drift=result.drift,
            report_uri=result.report_uri,
            failure_reason=result.failure_reason,
        )
        for listener in self._listeners:
            try:
                listener.outcome(outcome)
            except Exception:  # one listener's bug must not keep the others from hearing
                log.exception("monitoring outcome listener %r failed", listener)

    def _loop(self) -> None:
        try:
            self.resume()
        except SQLAlchemyError:
            log.warning("monitoring: could not resume unfinished executions", exc_info=True)
        while not self._stop.wait(self._tick):
            try:
                self.tick()
            except SQLAlchemyError:
                log.warning("monitoring: could not read schedules; will retry", exc_info=True)

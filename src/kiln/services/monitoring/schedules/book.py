"""``StoredScheduleBook``: the scheduler's ``ScheduleBook`` over Model Monitor's rows.

Rows become the typed ``Schedule``/``ExecutionRecord`` here; the exactly-once rule for a window is
the database's (``MonitoringRows.begin_execution``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from kiln.db.monitoring import ExecutionRow, MonitoringRows, ScheduleRow
from kiln.errors import ValidationError
from kiln.services.monitoring.outcomes import ExecutionStatus
from kiln.services.monitoring.schedules.definitions import job_definition
from kiln.services.monitoring.schedules.model import (
    ExecutionRecord,
    MonitoringType,
    Schedule,
    ScheduleStatus,
    Window,
)
from kiln.services.monitoring.schedules.schedule_config import parse_schedule_config

log = logging.getLogger(__name__)


class StoredScheduleBook:
    """What runs, what ran, exactly once: a ``ScheduleBook`` on the metadata store."""

    def __init__(self, rows: MonitoringRows, clock: Callable[[], float] = time.time) -> None:
        self._rows = rows
        self._clock = clock

    def scheduled(self) -> list[Schedule]:
        """Every schedule in status ``Scheduled``."""
        found = []
        for row in self._rows.schedules(ScheduleStatus.SCHEDULED):
            try:
                found.append(schedule_of(row))
            except (
                ValueError,
                KeyError,
                ValidationError,
            ) as e:  # stored by a Kiln whose rules were looser
                log.warning("monitoring schedule %s cannot run: %s", row.name, e)
        return found

    def last_scheduled_time(self, schedule_name: str) -> datetime | None:
        """The scheduled time of the newest execution the schedule has (any status)."""
        newest = self._rows.last_scheduled_time(schedule_name)
        return None if newest is None else datetime.fromtimestamp(newest, UTC)

    def begin(self, schedule_name: str, window: Window, processing_job_name: str) -> bool:
        """Record an execution ``InProgress``; False when that window already has one, or the
        schedule is gone or no longer ``Scheduled``."""
        return self._rows.begin_execution(
            schedule_name,
            epoch(window.scheduled_time),
            (epoch(window.start), epoch(window.end)),
            processing_job_name,
            self._clock(),
        )

    def finish(
        self,
        schedule_name: str,
        scheduled_time: datetime,
        status: ExecutionStatus,
        failure_reason: str | None,
        report_uri: str | None,
    ) -> None:
        """Record how an execution ended."""
        found = self._rows.finish_execution(
            schedule_name,
            epoch(scheduled_time),
            status.value,
            failure_reason,
            report_uri,
            self._clock(),
        )
        if not found:
            log.warning(
                "no unfinished execution of %s at %s to finish", schedule_name, scheduled_time
            )

    def unfinished(self) -> list[ExecutionRecord]:
        """Executions still ``Pending``, ``InProgress`` or ``Stopping``."""
        return [execution_record(row) for row in self._rows.executions()]


def epoch(at: datetime) -> float:
    """Epoch seconds of ``at`` (a naive time is taken as UTC, never as local time)."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


def schedule_of(row: ScheduleRow) -> Schedule:
    """The typed schedule of a stored one."""
    config = parse_schedule_config(row.spec["MonitoringScheduleConfig"]["ScheduleConfig"])
    kind = MonitoringType(row.monitoring_type)
    definition = job_definition(
        row.spec["Definition"],
        kind,
        row.job_definition_name or row.name,
        row.spec.get("DefinitionArn") or row.arn,
    )
    return Schedule(
        name=row.name,
        arn=row.arn,
        status=ScheduleStatus(row.status),
        expression=config.expression,
        definition=definition,
        created=datetime.fromtimestamp(row.creation_time, UTC),
        data_analysis_start=config.data_analysis_start,
        data_analysis_end=config.data_analysis_end,
    )


def execution_record(row: ExecutionRow) -> ExecutionRecord:
    """The typed record of a stored execution."""
    return ExecutionRecord(
        schedule_name=row.schedule_name,
        scheduled_time=datetime.fromtimestamp(row.scheduled_time, UTC),
        processing_job_name=row.name,
        status=ExecutionStatus(row.status),
        created=datetime.fromtimestamp(row.creation_time, UTC),
        last_modified=datetime.fromtimestamp(row.last_modified_time, UTC),
        monitoring_type=MonitoringType(row.monitoring_type),
        endpoint_name=row.endpoint_name,
        job_definition_name=row.job_definition_name or "",
        failure_reason=row.failure_reason,
        report_uri=row.report_uri,
    )

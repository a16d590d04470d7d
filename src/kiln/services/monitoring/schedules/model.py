"""The typed state monitoring schedules share: the API's store writes it, the scheduler reads it.

AWS's field names stay at the API's edge; these are what travels between Kiln's modules.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from kiln.services.monitoring.baselines.formats import DatasetFormat, DatasetKind
from kiln.services.monitoring.model_quality.config import ModelQualityConfig
from kiln.services.monitoring.outcomes import ExecutionStatus
from kiln.services.monitoring.schedules.expressions import ScheduleExpression


class MonitoringType(enum.StrEnum):
    """SageMaker's ``MonitoringType`` values Kiln runs."""

    DATA_QUALITY = "DataQuality"
    MODEL_QUALITY = "ModelQuality"


class ScheduleStatus(enum.StrEnum):
    """SageMaker's ``ScheduleStatus``."""

    PENDING = "Pending"
    FAILED = "Failed"
    SCHEDULED = "Scheduled"
    STOPPED = "Stopped"


@dataclass(frozen=True)
class JobDefinition:
    """What one execution analyzes and where it writes (a Create…JobDefinition request)."""

    name: str
    arn: str
    monitoring_type: MonitoringType
    endpoint_name: str
    output_s3_uri: str
    baseline_statistics_uri: str | None = None
    baseline_constraints_uri: str | None = None
    dataset_format: DatasetFormat = DatasetFormat(DatasetKind.CAPTURE)
    # ISO 8601 durations relative to the scheduled time (EndpointInput.StartTimeOffset), e.g.
    # "-PT1H"; None takes the whole period since the previous scheduled time.
    start_time_offset: str | None = None
    end_time_offset: str | None = None
    model_quality: ModelQualityConfig | None = None
    ground_truth_s3_uri: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    max_runtime: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class Schedule:
    """One monitoring schedule and the job definition it runs."""

    name: str
    arn: str
    status: ScheduleStatus
    expression: ScheduleExpression
    definition: JobDefinition
    created: datetime
    # ``NOW`` schedules: the data window as absolute offsets from the creation time.
    data_analysis_start: str | None = None
    data_analysis_end: str | None = None


@dataclass(frozen=True)
class Window:
    """The data one execution analyzes: captures with ``start <= inferenceTime < end``."""

    scheduled_time: datetime
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ExecutionRecord:
    """One execution as ListMonitoringExecutions shows it."""

    schedule_name: str
    scheduled_time: datetime
    processing_job_name: str
    status: ExecutionStatus
    created: datetime
    last_modified: datetime
    monitoring_type: MonitoringType
    endpoint_name: str
    job_definition_name: str
    failure_reason: str | None = None
    report_uri: str | None = None


class ScheduleBook(Protocol):
    """The scheduler's view of the store: what runs, what ran, exactly once."""

    def scheduled(self) -> list[Schedule]:
        """Every schedule in status ``Scheduled``."""

    def last_scheduled_time(self, schedule_name: str) -> datetime | None:
        """The scheduled time of the newest execution the schedule has (any status)."""

    def begin(self, schedule_name: str, window: Window, processing_job_name: str) -> bool:
        """Record an execution ``InProgress``; False when that window already has one."""

    def finish(
        self,
        schedule_name: str,
        scheduled_time: datetime,
        status: ExecutionStatus,
        failure_reason: str | None,
        report_uri: str | None,
    ) -> None:
        """Record how an execution ended."""

    def unfinished(self) -> list[ExecutionRecord]:
        """Executions still ``Pending`` or ``InProgress`` (after a restart: to run again)."""

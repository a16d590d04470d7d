"""SageMaker's Model Monitor operations: job definitions, monitoring schedules, executions.

    Create/Describe/List/Delete DataQualityJobDefinition, … ModelQualityJobDefinition
    Create/Describe/List/Update/Delete/Stop/Start MonitoringSchedule
    ListMonitoringExecutions, DescribeProcessingJob (of a monitoring execution)

Errors as AWS answers them: a missing definition, schedule or processing job is
``ResourceNotFound``; a taken name is ``ResourceInUse``; a schedule on an endpoint that does not
capture data, or a second schedule of one type on one endpoint, is a ``ValidationException``.
Nothing is written until every check has passed. The scheduler (a separate part) reads the
schedules through ``StoredScheduleBook``; ``on_change`` tells it one changed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from kiln.config import Settings
from kiln.db import DuplicateNameError, ResourceRecord
from kiln.db.listing import ListQuery
from kiln.db.monitoring import (
    DefinitionInUseError,
    DefinitionRow,
    ExecutionFilter,
    MonitoringRows,
    ScheduleFilter,
    ScheduleOverlapError,
    ScheduleRow,
)
from kiln.errors import NotFoundError, ResourceInUseError, ResourceNotFoundError, ValidationError
from kiln.services.hosting.service import endpoint_state
from kiln.services.listing import list_query
from kiln.services.monitoring.schedules import answers
from kiln.services.monitoring.schedules.definitions import (
    check_definition,
    endpoint_of,
    inline_to_stored,
    monitoring_type,
    stored_form,
)
from kiln.services.monitoring.schedules.model import MonitoringType, ScheduleStatus
from kiln.services.monitoring.schedules.schedule_config import parse_schedule_config
from kiln.services.tags import check_tags, merged_tags

_EXECUTION_SORT = {
    "CreationTime": "creation_time",
    "ScheduledTime": "scheduled_time",
    "Status": "status",
}


class EndpointRecords(Protocol):
    """What the service reads of hosting's endpoint store."""

    def get(self, name: str) -> ResourceRecord | None:
        """The endpoint called ``name``, or None."""


class MonitoringSchedules:
    """Model Monitor's control plane over ``MonitoringRows``."""

    def __init__(
        self,
        settings: Settings,
        rows: MonitoringRows,
        endpoints: EndpointRecords,
        on_change: Callable[[str], None] = lambda schedule: None,
    ) -> None:
        self._settings = settings
        self._rows = rows
        self._endpoints = endpoints
        self._on_change = on_change

    # -- job definitions -------------------------------------------------------------------

    def create_data_quality_job_definition(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Store a data-quality job definition."""
        return self._create_definition(request, MonitoringType.DATA_QUALITY)

    def create_model_quality_job_definition(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Store a model-quality job definition."""
        return self._create_definition(request, MonitoringType.MODEL_QUALITY)

    def describe_data_quality_job_definition(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """A data-quality job definition."""
        return answers.describe_definition(self._definition(request, MonitoringType.DATA_QUALITY))

    def describe_model_quality_job_definition(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """A model-quality job definition."""
        row = self._definition(request, MonitoringType.MODEL_QUALITY)
        return answers.describe_definition(row)

    def list_data_quality_job_definitions(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of data-quality job definitions."""
        return self._list_definitions(request, MonitoringType.DATA_QUALITY)

    def list_model_quality_job_definitions(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of model-quality job definitions."""
        return self._list_definitions(request, MonitoringType.MODEL_QUALITY)

    def delete_data_quality_job_definition(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Delete a data-quality job definition no schedule runs."""
        return self._delete_definition(request, MonitoringType.DATA_QUALITY)

    def delete_model_quality_job_definition(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Delete a model-quality job definition no schedule runs."""
        return self._delete_definition(request, MonitoringType.MODEL_QUALITY)

    def _create_definition(
        self, request: Mapping[str, Any], kind: MonitoringType
    ) -> dict[str, Any]:
        name = request["JobDefinitionName"]
        check_definition(request, kind)
        check_tags(request.get("Tags", []))
        stored = stored_form(request, kind)
        arn = self._settings.arn(answers.definition_arn_kind(kind), name)
        spec = {**stored, "Tags": merged_tags([], request.get("Tags", []))}
        row = DefinitionRow(kind.value, name, arn, endpoint_of(stored, kind), time.time(), spec)
        try:
            self._rows.add_definition(row)
        except DuplicateNameError:
            raise ResourceInUseError(f"Job definition {arn} already exists.") from None
        return {"JobDefinitionArn": arn}

    def _definition(self, request: Mapping[str, Any], kind: MonitoringType) -> DefinitionRow:
        return self._named_definition(request["JobDefinitionName"], kind)

    def _named_definition(self, name: str, kind: MonitoringType) -> DefinitionRow:
        row = self._rows.definition(kind.value, name)
        if row is None:
            arn = self._settings.arn(answers.definition_arn_kind(kind), name)
            raise ResourceNotFoundError(f"Could not find job definition {arn}.")
        return row

    def _list_definitions(self, request: Mapping[str, Any], kind: MonitoringType) -> dict[str, Any]:
        query = list_query(request, default_descending=True)
        rows, token = self._rows.definitions_page(kind.value, query, request.get("EndpointName"))
        return _page("JobDefinitionSummaries", map(answers.definition_summary, rows), token)

    def _delete_definition(
        self, request: Mapping[str, Any], kind: MonitoringType
    ) -> dict[str, Any]:
        name = request["JobDefinitionName"]
        try:
            removed = self._rows.remove_definition(kind.value, name)
        except DefinitionInUseError as e:
            raise ResourceInUseError(
                f"Job definition {name!r} is used by monitoring schedule {e}; delete the "
                "schedule first."
            ) from None
        if not removed:
            self._named_definition(name, kind)  # raises the not-found error
        return {}

    # -- schedules -------------------------------------------------------------------------

    def create_monitoring_schedule(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Create a schedule (``Scheduled`` at once: the scheduler picks it up)."""
        name = request["MonitoringScheduleName"]
        arn = self._settings.arn("monitoring-schedule", name)
        tags = request.get("Tags", [])
        check_tags(tags)
        job = self._job(request["MonitoringScheduleConfig"])
        now = time.time()
        row = ScheduleRow(
            name=name,
            arn=arn,
            generation=uuid.uuid4().hex,
            status=ScheduleStatus.SCHEDULED,
            monitoring_type=job.monitoring_type,
            endpoint_name=job.endpoint_name,
            job_definition_name=job.job_definition_name,
            creation_time=now,
            last_modified_time=now,
            failure_reason=None,
            spec={**job.spec, "Tags": merged_tags([], tags)},
        )
        try:
            self._rows.add_schedule(row)
        except DuplicateNameError:
            raise ResourceInUseError(f"Monitoring schedule {arn} already exists.") from None
        except ScheduleOverlapError as e:
            raise _overlap(row.endpoint_name, row.monitoring_type, str(e)) from None
        self._on_change(name)
        return {"MonitoringScheduleArn": arn}

    def describe_monitoring_schedule(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """A schedule and the summary of its newest execution."""
        row = self._schedule(request["MonitoringScheduleName"])
        last = self._rows.last_execution(row)
        return answers.describe_schedule(row, last, self._settings.arn)

    def list_monitoring_schedules(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of schedule summaries."""
        having = ScheduleFilter(
            endpoint_name=request.get("EndpointName"),
            job_definition_name=request.get("MonitoringJobDefinitionName"),
            monitoring_type=request.get("MonitoringTypeEquals"),
        )
        query = list_query(request, default_descending=True)
        rows, token = self._rows.schedules_page(query, having)
        return _page("MonitoringScheduleSummaries", map(answers.schedule_summary, rows), token)

    def update_monitoring_schedule(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Replace a schedule's configuration (its status, tags and history stay)."""
        name = request["MonitoringScheduleName"]
        self._schedule(name)
        job = self._job(request["MonitoringScheduleConfig"])

        def change(row: ScheduleRow) -> ScheduleRow:
            return replace(
                row,
                monitoring_type=job.monitoring_type,
                endpoint_name=job.endpoint_name,
                job_definition_name=job.job_definition_name,
                last_modified_time=time.time(),
                failure_reason=None,
                spec={**job.spec, "Tags": row.spec.get("Tags", [])},
            )

        try:
            changed = self._rows.change_schedule(name, change)
        except ScheduleOverlapError as e:
            raise _overlap(job.endpoint_name, job.monitoring_type, str(e)) from None
        if changed is None:
            raise self._schedule_not_found(name)
        self._on_change(name)
        return {"MonitoringScheduleArn": changed.arn}

    def delete_monitoring_schedule(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Delete a schedule; its executions stay listed (as on AWS)."""
        name = request["MonitoringScheduleName"]
        if not self._rows.remove_schedule(name):
            raise self._schedule_not_found(name)
        self._on_change(name)
        return {}

    def stop_monitoring_schedule(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Stop starting executions (one under way runs to its end)."""
        return self._set_status(request["MonitoringScheduleName"], ScheduleStatus.STOPPED)

    def start_monitoring_schedule(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Start a stopped schedule again."""
        return self._set_status(request["MonitoringScheduleName"], ScheduleStatus.SCHEDULED)

    def _set_status(self, name: str, status: ScheduleStatus) -> dict[str, Any]:
        def change(row: ScheduleRow) -> ScheduleRow:
            if row.status == status:
                return row
            return replace(row, status=status.value, last_modified_time=time.time())

        if self._rows.change_schedule(name, change) is None:
            raise self._schedule_not_found(name)
        self._on_change(name)
        return {}

    def _schedule(self, name: str) -> ScheduleRow:
        row = self._rows.schedule(name)
        if row is None:
            raise self._schedule_not_found(name)
        return row

    def _schedule_not_found(self, name: str) -> ResourceNotFoundError:
        arn = self._settings.arn("monitoring-schedule", name)
        return ResourceNotFoundError(f"Could not find monitoring schedule {arn}.")

    def _job(self, config: Mapping[str, Any]) -> _Job:
        """What a ``MonitoringScheduleConfig`` runs, checked against its endpoint."""
        parse_schedule_config(config.get("ScheduleConfig"))
        named = config.get("MonitoringJobDefinitionName")
        inline = config.get("MonitoringJobDefinition")
        if bool(named) == bool(inline):
            raise ValidationError(
                "MonitoringScheduleConfig needs exactly one of MonitoringJobDefinitionName "
                "and MonitoringJobDefinition"
            )
        kind = monitoring_type(config.get("MonitoringType"))
        if inline:
            if kind is not MonitoringType.DATA_QUALITY:
                raise ValidationError(
                    "An inline MonitoringJobDefinition is a DataQuality job; for "
                    f"{kind.value}, name a job definition (MonitoringJobDefinitionName)"
                )
            stored, arn = inline_to_stored(inline), None
        else:
            definition = self._named_definition(str(named), kind)
            stored, arn = dict(definition.spec), definition.arn
            stored.pop("Tags", None)
        endpoint = endpoint_of(stored, kind)
        self._check_capture(endpoint, kind)
        spec = {
            "MonitoringScheduleConfig": {**config, "MonitoringType": kind.value},
            "Definition": stored,
            "DefinitionArn": arn,
        }
        return _Job(kind.value, endpoint, named or None, spec)

    def _check_capture(self, endpoint: str, kind: MonitoringType) -> None:
        """The endpoint exists and captures what ``kind`` reads (inputs; outputs for quality)."""
        record = self._endpoints.get(endpoint)
        if record is None:
            raise NotFoundError(
                f'Could not find endpoint "{self._settings.arn("endpoint", endpoint)}".'
            )
        capture = endpoint_state(record).deployment.capture
        if capture is None or not capture.enabled:
            raise ValidationError(
                f"Endpoint {endpoint!r} does not capture data: Model Monitor reads captured "
                "requests. Update it to an endpoint config whose DataCaptureConfig has "
                "EnableCapture true."
            )
        wanted = "Output" if kind is MonitoringType.MODEL_QUALITY else "Input"
        captured = (
            capture.config.capture_output if wanted == "Output" else capture.config.capture_input
        )
        if not captured:
            raise ValidationError(
                f"Endpoint {endpoint!r} does not capture its {wanted.lower()}s, which a "
                f"{kind.value} schedule reads: add CaptureMode {wanted!r} to its "
                "DataCaptureConfig.CaptureOptions."
            )

    # -- executions ------------------------------------------------------------------------

    def list_monitoring_executions(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of execution summaries."""
        order = request.get("SortOrder", "Descending")
        query = ListQuery(
            sort_by=_EXECUTION_SORT[request.get("SortBy", "CreationTime")],
            descending=order == "Descending",
            max_results=int(request.get("MaxResults", 10)),
            next_token=request.get("NextToken"),
            status_equals=request.get("StatusEquals"),
            created_after=request.get("CreationTimeAfter"),
            created_before=request.get("CreationTimeBefore"),
            modified_after=request.get("LastModifiedTimeAfter"),
            modified_before=request.get("LastModifiedTimeBefore"),
        )
        having = ExecutionFilter(
            schedule_name=request.get("MonitoringScheduleName"),
            endpoint_name=request.get("EndpointName"),
            job_definition_name=request.get("MonitoringJobDefinitionName"),
            monitoring_type=request.get("MonitoringTypeEquals"),
            scheduled_after=request.get("ScheduledTimeAfter"),
            scheduled_before=request.get("ScheduledTimeBefore"),
        )
        rows, token = self._rows.executions_page(query, having)
        arn = self._settings.arn
        summaries = (answers.execution_summary(row, arn) for row in rows)
        return _page("MonitoringExecutionSummaries", summaries, token)

    def describe_processing_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """A monitoring execution as the processing job AWS would have run for it."""
        name = request["ProcessingJobName"]
        row = self._rows.execution(name)
        if row is None:
            arn = self._settings.arn("processing-job", name)
            raise ResourceNotFoundError(f"Could not find processing job {arn}.")
        return answers.describe_processing_job(
            row, self._settings.arn, capture_destination(self._endpoints, row.endpoint_name)
        )


def capture_destination(endpoints: EndpointRecords, endpoint: str) -> str | None:
    """Where ``endpoint`` captures to now; None when it is gone or captures nothing."""
    record = endpoints.get(endpoint)
    capture = None if record is None else endpoint_state(record).deployment.capture
    return capture.config.destination if capture is not None and capture.enabled else None


@dataclass(frozen=True)
class _Job:
    """A schedule's job as resolved from its ``MonitoringScheduleConfig``."""

    monitoring_type: str
    endpoint_name: str
    job_definition_name: str | None
    spec: dict[str, Any]


def _overlap(endpoint: str, kind: str, holder: str) -> ValidationError:
    return ValidationError(
        f"Endpoint {endpoint!r} already has a {kind} monitoring schedule ({holder!r}): an "
        "endpoint can have one monitoring schedule of each monitoring type."
    )


def _page(key: str, items: Iterable[dict[str, Any]], token: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = {key: list(items)}
    if token:
        answer["NextToken"] = token
    return answer

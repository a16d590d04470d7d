"""Stored Model Monitor rows → SageMaker's answers (pure): Describe…JobDefinition,
DescribeMonitoringSchedule, the List… summaries, and DescribeProcessingJob of an execution.

A monitoring execution is a processing job on AWS; the SDK's ``MonitoringExecution`` reads its
results through ``DescribeProcessingJob`` (``ProcessingInputs``, read into the SDK's
``ProcessingInput``s; ``ProcessingOutputConfig.Outputs[0].S3Output.S3Uri``;
``ProcessingJobStatus``, ``ExitMessage``), so Kiln answers it for executions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kiln.db.monitoring import DefinitionRow, ExecutionRow, ScheduleRow
from kiln.services.monitoring.outcomes import ExecutionStatus
from kiln.services.monitoring.schedules.definitions import (
    DEFAULT_MAX_RUNTIME_SECONDS,
    member,
)
from kiln.services.monitoring.schedules.model import MonitoringType
from kiln.services.monitoring.schedules.naming import report_uri
from kiln.shapes.aws import output_shape, project, with_defaults

Arn = Callable[[str, str], str]  # Settings.arn: (resource type, name) → ARN

# A processing job has fewer states than a monitoring execution: a run with violations is a
# Completed job whose ExitMessage says so (as on AWS).
_JOB_STATUS = {
    ExecutionStatus.PENDING: "InProgress",
    ExecutionStatus.IN_PROGRESS: "InProgress",
    ExecutionStatus.STOPPING: "Stopping",
    ExecutionStatus.COMPLETED: "Completed",
    ExecutionStatus.COMPLETED_WITH_VIOLATIONS: "Completed",
    ExecutionStatus.FAILED: "Failed",
    ExecutionStatus.STOPPED: "Stopped",
}
_EXIT_MESSAGES = {
    ExecutionStatus.COMPLETED: "Completed: Job completed successfully with no violations.",
    ExecutionStatus.COMPLETED_WITH_VIOLATIONS: (
        "CompletedWithViolations: Job completed successfully with violations."
    ),
}
# Where SageMaker's analyzer container finds its inputs and writes its results.
_OUTPUT_PATH = "/opt/ml/processing/resultdata"
_BASELINE_PATHS = {  # input name → (baseline resource, where the analyzer reads it)
    "baseline": ("StatisticsResource", "/opt/ml/processing/baseline/stats"),
    "constraints": ("ConstraintsResource", "/opt/ml/processing/baseline/constraints"),
}
_GROUND_TRUTH_PATH = "/opt/ml/processing/groundtruth"
_CAPTURE_FORMAT = {
    "sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}
}


def definition_arn_kind(kind: MonitoringType) -> str:
    """The resource type in a job definition's ARN (``data-quality-job-definition``)."""
    return {
        MonitoringType.DATA_QUALITY: "data-quality-job-definition",
        MonitoringType.MODEL_QUALITY: "model-quality-job-definition",
    }[kind]


def describe_definition(row: DefinitionRow) -> dict[str, Any]:
    """``Describe<Type>JobDefinition``'s answer."""
    kind = MonitoringType(row.monitoring_type)
    answer = {
        "JobDefinitionArn": row.arn,
        "JobDefinitionName": row.name,
        "CreationTime": row.creation_time,
        "StoppingCondition": {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME_SECONDS},
        **row.spec,
    }
    operation = f"Describe{kind.value}JobDefinition"
    shaped = project(answer, output_shape("sagemaker", operation))
    endpoint_defaults = {"S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}
    return with_defaults(shaped, {member(kind, "JobInput"): {"EndpointInput": endpoint_defaults}})


def definition_summary(row: DefinitionRow) -> dict[str, Any]:
    """One entry of ``List<Type>JobDefinitions``."""
    return {
        "MonitoringJobDefinitionName": row.name,
        "MonitoringJobDefinitionArn": row.arn,
        "CreationTime": row.creation_time,
        "EndpointName": row.endpoint_name,
    }


def describe_schedule(row: ScheduleRow, last: ExecutionRow | None, arn: Arn) -> dict[str, Any]:
    """``DescribeMonitoringSchedule``'s answer."""
    answer: dict[str, Any] = {
        **schedule_summary(row),
        "MonitoringScheduleConfig": row.spec["MonitoringScheduleConfig"],
    }
    if row.failure_reason:
        answer["FailureReason"] = row.failure_reason
    if last is not None:
        answer["LastMonitoringExecutionSummary"] = execution_summary(last, arn)
    return dict(project(answer, output_shape("sagemaker", "DescribeMonitoringSchedule")))


def schedule_summary(row: ScheduleRow) -> dict[str, Any]:
    """One entry of ``ListMonitoringSchedules``."""
    summary = {
        "MonitoringScheduleName": row.name,
        "MonitoringScheduleArn": row.arn,
        "CreationTime": row.creation_time,
        "LastModifiedTime": row.last_modified_time,
        "MonitoringScheduleStatus": row.status,
        "EndpointName": row.endpoint_name,
        "MonitoringType": row.monitoring_type,
    }
    if row.job_definition_name:
        summary["MonitoringJobDefinitionName"] = row.job_definition_name
    return summary


def execution_summary(row: ExecutionRow, arn: Arn) -> dict[str, Any]:
    """One ``MonitoringExecutionSummary``."""
    summary = {
        "MonitoringScheduleName": row.schedule_name,
        "ScheduledTime": row.scheduled_time,
        "CreationTime": row.creation_time,
        "LastModifiedTime": row.last_modified_time,
        "MonitoringExecutionStatus": row.status,
        "ProcessingJobArn": arn("processing-job", row.name),
        "EndpointName": row.endpoint_name,
        "MonitoringType": row.monitoring_type,
    }
    if row.job_definition_name:
        summary["MonitoringJobDefinitionName"] = row.job_definition_name
    if row.failure_reason:
        summary["FailureReason"] = row.failure_reason
    return summary


def describe_processing_job(
    row: ExecutionRow, arn: Arn, capture_destination: str | None = None
) -> dict[str, Any]:
    """``DescribeProcessingJob``'s answer for a monitoring execution (``capture_destination``:
    the endpoint's ``DataCaptureConfig.DestinationS3Uri``, None once it captures no more)."""
    kind = MonitoringType(row.monitoring_type)
    job = row.job
    status = ExecutionStatus(row.status)
    output = job[member(kind, "JobOutputConfig")]["MonitoringOutputs"][0]["S3Output"]
    scheduled = datetime.fromtimestamp(row.scheduled_time, UTC)
    # Named from the start, as AWS names it when it creates the processing job: the SDK keeps
    # the ProcessingOutput of the execution it listed while running and reads reports there.
    uri = str(report_uri(output["S3Uri"], row.endpoint_name, row.schedule_name, scheduled))
    app = job.get(member(kind, "AppSpecification")) or {}
    runtime = (job.get("StoppingCondition") or {}).get(
        "MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS
    )
    answer: dict[str, Any] = {
        "ProcessingJobName": row.name,
        "ProcessingJobArn": arn("processing-job", row.name),
        "ProcessingJobStatus": _JOB_STATUS[status],
        "ProcessingInputs": processing_inputs(row.endpoint_name, job, kind, capture_destination),
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "result",
                    "S3Output": {
                        "S3Uri": uri,
                        "LocalPath": _OUTPUT_PATH,
                        "S3UploadMode": output.get("S3UploadMode", "Continuous"),
                    },
                }
            ]
        },  # fmt: skip
        "ProcessingResources": {"ClusterConfig": job["JobResources"]["ClusterConfig"]},
        "StoppingCondition": {"MaxRuntimeInSeconds": runtime},
        "AppSpecification": app,
        "Environment": _environment(row, job, kind, scheduled),
        "RoleArn": job.get("RoleArn"),
        "CreationTime": row.creation_time,
        "LastModifiedTime": row.last_modified_time,
        "ProcessingStartTime": row.creation_time,
        "MonitoringScheduleArn": arn("monitoring-schedule", row.schedule_name),
    }
    if status in _EXIT_MESSAGES:
        answer["ExitMessage"] = _EXIT_MESSAGES[status]
    elif row.failure_reason:
        answer["ExitMessage"] = answer["FailureReason"] = row.failure_reason
    if _JOB_STATUS[status] in ("Completed", "Failed", "Stopped"):
        answer["ProcessingEndTime"] = row.last_modified_time
    return dict(project(answer, output_shape("sagemaker", "DescribeProcessingJob")))


def processing_inputs(
    endpoint: str, job: Mapping[str, Any], kind: MonitoringType, capture_destination: str | None
) -> list[dict[str, Any]]:
    """An execution's ``ProcessingInputs`` as AWS names them: ``input_1`` (the endpoint's
    captures: Kiln reads every variant and hour of the window under one prefix), the ground
    truth for model quality, then ``baseline`` and ``constraints`` where the job has them."""

    def s3_input(name: str, uri: str, local_path: str) -> dict[str, Any]:
        return {
            "InputName": name,
            "AppManaged": False,
            "S3Input": {"S3Uri": uri, "LocalPath": local_path, "S3DataType": "S3Prefix",
                        "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
                        "S3CompressionType": "None"},
        }  # fmt: skip

    job_input = job.get(member(kind, "JobInput")) or {}
    inputs = []
    if capture_destination:
        local = (job_input.get("EndpointInput") or {}).get("LocalPath", "/opt/ml/processing/input")
        capture = f"{capture_destination.rstrip('/')}/{endpoint}"
        inputs.append(s3_input("input_1", capture, f"{local.rstrip('/')}/{endpoint}"))
    ground_truth = (job_input.get("GroundTruthS3Input") or {}).get("S3Uri")
    if ground_truth:
        inputs.append(s3_input("ground_truth_input_1", ground_truth, _GROUND_TRUTH_PATH))
    baseline = job.get(member(kind, "BaselineConfig")) or {}
    for name, (resource, local_path) in _BASELINE_PATHS.items():
        uri = (baseline.get(resource) or {}).get("S3Uri")
        if uri:
            inputs.append(s3_input(name, uri, local_path))
    return inputs


def _environment(
    row: ExecutionRow, job: Mapping[str, Any], kind: MonitoringType, scheduled: datetime
) -> dict[str, str]:
    """The variables SageMaker's analyzer gets, then the definition's own."""

    def iso(epoch: float) -> str:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    baseline = job.get(member(kind, "BaselineConfig")) or {}
    environment = {
        "sagemaker_endpoint_name": row.endpoint_name,
        "sagemaker_monitoring_schedule_name": row.schedule_name,
        "dataset_format": json.dumps(_CAPTURE_FORMAT),
        "start_time": iso(row.window_start),
        "end_time": iso(row.window_end),
        "metric_time": scheduled.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "output_path": _OUTPUT_PATH,
        "publish_cloudwatch_metrics": "Enabled",
    }
    for key, resource in (("baseline_statistics", "StatisticsResource"),
                          ("baseline_constraints", "ConstraintsResource")):  # fmt: skip
        uri = (baseline.get(resource) or {}).get("S3Uri")
        if uri:
            environment[key] = uri
    app = job.get(member(kind, "AppSpecification")) or {}
    environment.update(app.get("Environment") or {})
    return environment

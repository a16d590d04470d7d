"""Model Monitor's schedules API through a real server and real boto3 clients: job definitions,
schedules on an endpoint that captures data, their lifecycle, executions and bad input.

No scheduler runs here (it is its own part): executions are written through the server's
``ScheduleBook``, exactly as the scheduler writes them, and read back through the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import (
    ROLE,
    Kiln,
    make_settings,
    sklearn_model_files,
    start_kiln,
    upload_model,
    wait_in_service,
)
from kiln.services.monitoring.outcomes import ExecutionStatus
from kiln.services.monitoring.schedules.model import Window
from kiln.services.monitoring.schedules.naming import processing_job_name

WATCHED, BLIND = "watched", "blind"
OUTPUT = "s3://monitoring/reports"
BASELINE = "s3://monitoring/baseline"
HOURLY = {"ScheduleExpression": "cron(0 * ? * * *)"}
RESOURCES = {
    "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}
}
SCHEDULED = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    """One server; endpoint ``watched`` captures inputs and outputs, ``blind`` captures nothing
    (schedules read only its record, so it is not waited for)."""
    home: Path = tmp_path_factory.mktemp("monitoring")
    settings = make_settings(home / "kiln-home", f"sqlite:///{home / 'kiln.db'}")
    with start_kiln(settings) as server:
        sm = server.sagemaker
        model = upload_model(server, sklearn_model_files())
        container = {"Image": "kiln/python", "ModelDataUrl": model}
        sm.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer=container)
        capture = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://capture/data",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
        for name, extra in ((WATCHED, {"DataCaptureConfig": capture}), (BLIND, {})):
            sm.create_endpoint_config(
                EndpointConfigName=name,
                ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m",
                                     "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
                **extra,
            )  # fmt: skip
            sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        wait_in_service(server, WATCHED)
        yield server


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _data_quality(name: str, endpoint: str = WATCHED, **extra: Any) -> dict[str, Any]:
    return {
        "JobDefinitionName": name,
        "DataQualityAppSpecification": {"ImageUri": "kiln/model-monitor"},
        "DataQualityBaselineConfig": {
            "StatisticsResource": {"S3Uri": f"{BASELINE}/statistics.json"},
            "ConstraintsResource": {"S3Uri": f"{BASELINE}/constraints.json"},
        },
        "DataQualityJobInput": {
            "EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}
        },
        "DataQualityJobOutputConfig": {
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": OUTPUT, "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        "JobResources": RESOURCES,
        "RoleArn": ROLE,
        **extra,
    }


def _model_quality(name: str) -> dict[str, Any]:
    return {
        "JobDefinitionName": name,
        "ModelQualityAppSpecification": {
            "ImageUri": "kiln/model-monitor",
            "ProblemType": "BinaryClassification",
        },
        "ModelQualityJobInput": {
            "EndpointInput": {
                "EndpointName": WATCHED,
                "LocalPath": "/opt/ml/processing/input",
                "InferenceAttribute": "0",
                "StartTimeOffset": "-PT2H",
                "EndTimeOffset": "-PT1H",
            },
            "GroundTruthS3Input": {"S3Uri": "s3://truth/watched"},
        },
        "ModelQualityJobOutputConfig": {
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": OUTPUT, "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        "JobResources": RESOURCES,
        "RoleArn": ROLE,
    }


def _schedule(
    kiln: Kiln, name: str, definition: str, kind: str = "DataQuality", **schedule: str
) -> dict[str, Any]:
    return dict(
        kiln.sagemaker.create_monitoring_schedule(
            MonitoringScheduleName=name,
            MonitoringScheduleConfig={
                "ScheduleConfig": schedule or HOURLY,
                "MonitoringJobDefinitionName": definition,
                "MonitoringType": kind,
            },
        )
    )


@pytest.fixture
def scheduled(kiln: Kiln) -> Iterator[str]:
    """An hourly DataQuality schedule on ``watched`` (its definition has its name); deleted after
    the test, since the endpoint may have one schedule of each type."""
    name = f"dq-{uuid.uuid4().hex[:8]}"
    kiln.sagemaker.create_data_quality_job_definition(**_data_quality(name))
    _schedule(kiln, name, name)
    yield name
    left = kiln.sagemaker.list_monitoring_schedules(NameContains=name)
    if left["MonitoringScheduleSummaries"]:  # the test did not delete it itself
        kiln.sagemaker.delete_monitoring_schedule(MonitoringScheduleName=name)


def test_job_definitions_are_created_described_listed_and_deleted(kiln: Kiln) -> None:
    sm = kiln.sagemaker
    arn = sm.create_data_quality_job_definition(**_data_quality("dq-life"))["JobDefinitionArn"]
    assert arn.endswith(":data-quality-job-definition/dq-life")
    described = sm.describe_data_quality_job_definition(JobDefinitionName="dq-life")
    assert described["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == WATCHED
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    sm.create_model_quality_job_definition(**_model_quality("mq-life"))
    described = sm.describe_model_quality_job_definition(JobDefinitionName="mq-life")
    assert described["ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"
    listed = sm.list_data_quality_job_definitions(EndpointName=WATCHED, NameContains="life")
    assert [d["MonitoringJobDefinitionName"] for d in listed["JobDefinitionSummaries"]] == [
        "dq-life"
    ]  # the model-quality one is another type's
    sm.delete_data_quality_job_definition(JobDefinitionName="dq-life")
    with pytest.raises(ClientError) as error:
        sm.describe_data_quality_job_definition(JobDefinitionName="dq-life")
    assert _code(error) == "ResourceNotFound"


def test_a_taken_job_definition_name_is_resource_in_use(kiln: Kiln) -> None:
    kiln.sagemaker.create_data_quality_job_definition(**_data_quality("dq-taken"))
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_data_quality_job_definition(**_data_quality("dq-taken"))
    assert _code(error) == "ResourceInUse"


def test_a_schedule_runs_a_named_definition_and_says_so(kiln: Kiln, scheduled: str) -> None:
    sm = kiln.sagemaker
    described = sm.describe_monitoring_schedule(MonitoringScheduleName=scheduled)
    assert described["MonitoringScheduleArn"].endswith(f":monitoring-schedule/{scheduled}")
    assert described["MonitoringScheduleStatus"] == "Scheduled"
    assert (described["EndpointName"], described["MonitoringType"]) == (WATCHED, "DataQuality")
    config = described["MonitoringScheduleConfig"]
    assert config["MonitoringJobDefinitionName"] == scheduled
    assert config["ScheduleConfig"]["ScheduleExpression"] == "cron(0 * ? * * *)"
    assert "LastMonitoringExecutionSummary" not in described
    with pytest.raises(ClientError) as error:  # a schedule runs it
        sm.delete_data_quality_job_definition(JobDefinitionName=scheduled)
    assert _code(error) == "ResourceInUse"


def test_one_schedule_per_monitoring_type_per_endpoint(kiln: Kiln, scheduled: str) -> None:
    sm = kiln.sagemaker
    sm.create_data_quality_job_definition(**_data_quality("dq-second"))
    with pytest.raises(ClientError) as error:
        _schedule(kiln, "dq-second", "dq-second")
    assert _code(error) == "ValidationException"
    assert f"already has a DataQuality monitoring schedule ('{scheduled}')" in str(error.value)
    sm.create_model_quality_job_definition(**_model_quality("mq-other-type"))
    _schedule(kiln, "mq-other-type", "mq-other-type", "ModelQuality")  # another type: allowed
    sm.delete_monitoring_schedule(MonitoringScheduleName="mq-other-type")


@pytest.mark.parametrize(
    ("definition", "config", "code", "message"),
    [
        ("no-such", {}, "ResourceNotFound", "Could not find job definition"),
        ("dq-blind", {}, "ValidationException", "does not capture data"),
        ("dq-known", {"MonitoringType": "ModelBias"}, "ValidationException", "not supported"),
        ("dq-known", {"ScheduleConfig": {"ScheduleExpression": "NOW"}}, "ValidationException",
         "DataAnalysisStartTime and DataAnalysisEndTime are both required"),
        ("dq-known", {"ScheduleConfig": {"ScheduleExpression": "cron(15 * ? * * *)"}},
         "ValidationException", "minute 0"),
    ],
)  # fmt: skip
def test_schedules_aws_refuses(
    kiln: Kiln, definition: str, config: dict[str, Any], code: str, message: str
) -> None:
    sm = kiln.sagemaker
    if definition != "no-such":
        endpoint = BLIND if definition == "dq-blind" else WATCHED
        definition = f"{definition}-{uuid.uuid4().hex[:8]}"
        sm.create_data_quality_job_definition(**_data_quality(definition, endpoint))
    request = {"ScheduleConfig": HOURLY, "MonitoringJobDefinitionName": definition,
               "MonitoringType": "DataQuality", **config}  # fmt: skip
    with pytest.raises(ClientError) as error:
        sm.create_monitoring_schedule(
            MonitoringScheduleName="refused", MonitoringScheduleConfig=request
        )
    assert _code(error) == code
    assert message in str(error.value)
    with pytest.raises(ClientError):
        sm.describe_monitoring_schedule(MonitoringScheduleName="refused")  # nothing written


def test_a_schedule_stops_starts_updates_and_deletes(kiln: Kiln, scheduled: str) -> None:
    sm = kiln.sagemaker
    sm.stop_monitoring_schedule(MonitoringScheduleName=scheduled)
    described = sm.describe_monitoring_schedule(MonitoringScheduleName=scheduled)
    assert described["MonitoringScheduleStatus"] == "Stopped"
    sm.start_monitoring_schedule(MonitoringScheduleName=scheduled)
    sm.update_monitoring_schedule(
        MonitoringScheduleName=scheduled,
        MonitoringScheduleConfig={
            "ScheduleConfig": {"ScheduleExpression": "cron(0 6/12 ? * * *)"},
            "MonitoringJobDefinitionName": scheduled,
            "MonitoringType": "DataQuality",
        },
    )
    described = sm.describe_monitoring_schedule(MonitoringScheduleName=scheduled)
    assert described["MonitoringScheduleStatus"] == "Scheduled"
    expression = described["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"]
    assert expression == "cron(0 6/12 ? * * *)"
    assert described["LastModifiedTime"] > described["CreationTime"]
    sm.delete_monitoring_schedule(MonitoringScheduleName=scheduled)
    for call in (sm.describe_monitoring_schedule, sm.stop_monitoring_schedule,
                 sm.delete_monitoring_schedule):  # fmt: skip
        with pytest.raises(ClientError) as error:
            call(MonitoringScheduleName=scheduled)
        assert _code(error) == "ResourceNotFound"


def test_a_one_time_schedule_with_an_inline_definition(kiln: Kiln) -> None:
    sm = kiln.sagemaker
    definition = _data_quality("unused")
    window = {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
              "DataAnalysisEndTime": "-PT0H"}  # fmt: skip
    sm.create_monitoring_schedule(
        MonitoringScheduleName="once",
        MonitoringScheduleConfig={
            "ScheduleConfig": window,
            "MonitoringJobDefinition": {
                "BaselineConfig": definition["DataQualityBaselineConfig"],
                "MonitoringInputs": [definition["DataQualityJobInput"]],
                "MonitoringOutputConfig": definition["DataQualityJobOutputConfig"],
                "MonitoringResources": RESOURCES,
                "MonitoringAppSpecification": {"ImageUri": "kiln/model-monitor"},
                "RoleArn": ROLE,
            },
        },
    )
    described = sm.describe_monitoring_schedule(MonitoringScheduleName="once")
    assert described["MonitoringType"] == "DataQuality"
    assert described["MonitoringScheduleConfig"]["ScheduleConfig"] == window
    [schedule] = [
        s for s in kiln.thread.kiln.monitoring.schedule_book.scheduled() if s.name == "once"
    ]
    assert schedule.expression.is_now
    assert schedule.definition.baseline_constraints_uri == f"{BASELINE}/constraints.json"
    sm.delete_monitoring_schedule(MonitoringScheduleName="once")


def test_schedules_are_listed_by_filter_and_page(kiln: Kiln, scheduled: str) -> None:
    sm = kiln.sagemaker
    sm.create_model_quality_job_definition(**_model_quality("mq-listed"))
    _schedule(kiln, "mq-listed", "mq-listed", "ModelQuality")
    sm.stop_monitoring_schedule(MonitoringScheduleName="mq-listed")

    def names(**filters: Any) -> list[str]:
        found = sm.list_monitoring_schedules(**filters)["MonitoringScheduleSummaries"]
        return [s["MonitoringScheduleName"] for s in found]

    assert names(EndpointName=WATCHED, SortBy="Name", SortOrder="Ascending") == sorted(
        [scheduled, "mq-listed"]
    )
    assert names(MonitoringTypeEquals="ModelQuality") == ["mq-listed"]
    assert names(StatusEquals="Stopped") == ["mq-listed"]
    assert names(MonitoringJobDefinitionName=scheduled) == [scheduled]
    assert names(NameContains="listed") == ["mq-listed"]
    assert names(EndpointName=BLIND) == []
    first = sm.list_monitoring_schedules(MaxResults=1, SortBy="Name", SortOrder="Descending")
    second = sm.list_monitoring_schedules(
        MaxResults=1, SortBy="Name", SortOrder="Descending", NextToken=first["NextToken"]
    )
    pages = [first, second]
    assert [p["MonitoringScheduleSummaries"][0]["MonitoringScheduleName"] for p in pages] == [
        "mq-listed",
        scheduled,
    ]
    assert "NextToken" not in second
    sm.delete_monitoring_schedule(MonitoringScheduleName="mq-listed")


def test_executions_are_listed_and_described_as_processing_jobs(kiln: Kiln, scheduled: str) -> None:
    sm, book = kiln.sagemaker, kiln.thread.kiln.monitoring.schedule_book
    [schedule] = [s for s in book.scheduled() if s.name == scheduled]
    jobs = {}
    for hours in (0, 1, 2):
        at = SCHEDULED + timedelta(hours=hours)
        jobs[hours] = processing_job_name(schedule, at)
        assert book.begin(scheduled, Window(at, at - timedelta(hours=1), at), jobs[hours])
    report = f"{OUTPUT}/{WATCHED}/{scheduled}/2026/03/01/13"
    book.finish(scheduled, SCHEDULED, ExecutionStatus.COMPLETED, None, f"{OUTPUT}/x")
    book.finish(scheduled, SCHEDULED + timedelta(hours=1),
                ExecutionStatus.COMPLETED_WITH_VIOLATIONS, None, report)  # fmt: skip

    def listed(**filters: Any) -> list[str]:
        found = sm.list_monitoring_executions(MonitoringScheduleName=scheduled, **filters)
        return [
            e["ProcessingJobArn"].rsplit("/", 1)[1] for e in found["MonitoringExecutionSummaries"]
        ]

    assert listed(SortBy="ScheduledTime", SortOrder="Ascending") == [jobs[0], jobs[1], jobs[2]]
    assert listed(StatusEquals="CompletedWithViolations") == [jobs[1]]
    assert listed(ScheduledTimeAfter=SCHEDULED + timedelta(minutes=30), SortBy="ScheduledTime",
                  SortOrder="Ascending") == [jobs[1], jobs[2]]  # fmt: skip
    page = sm.list_monitoring_executions(MonitoringScheduleName=scheduled, MaxResults=2)
    rest = sm.list_monitoring_executions(
        MonitoringScheduleName=scheduled, MaxResults=2, NextToken=page["NextToken"]
    )
    assert (
        len(page["MonitoringExecutionSummaries"]) + len(rest["MonitoringExecutionSummaries"]) == 3
    )

    last = sm.describe_monitoring_schedule(MonitoringScheduleName=scheduled)[
        "LastMonitoringExecutionSummary"
    ]
    assert (last["ScheduledTime"], last["MonitoringExecutionStatus"]) == (
        SCHEDULED + timedelta(hours=2),
        "InProgress",
    )
    job = sm.describe_processing_job(ProcessingJobName=jobs[1])
    assert job["ProcessingJobStatus"] == "Completed"
    assert job["ExitMessage"].startswith("CompletedWithViolations")
    assert job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == report
    assert job["Environment"]["sagemaker_endpoint_name"] == WATCHED
    assert job["Environment"]["baseline_constraints"] == f"{BASELINE}/constraints.json"
    assert job["MonitoringScheduleArn"].endswith(f"/{scheduled}")
    with pytest.raises(ClientError) as error:
        sm.describe_processing_job(ProcessingJobName="no-such-job")
    assert _code(error) == "ResourceNotFound"

    sm.delete_monitoring_schedule(MonitoringScheduleName=scheduled)
    kept = sm.list_monitoring_executions(EndpointName=WATCHED, MaxResults=100)
    assert {jobs[0], jobs[1], jobs[2]} <= {
        e["ProcessingJobArn"].rsplit("/", 1)[1] for e in kept["MonitoringExecutionSummaries"]
    }  # the history outlives the schedule, as on AWS


def test_schedules_and_definitions_take_tags(kiln: Kiln, scheduled: str) -> None:
    sm = kiln.sagemaker
    for arn in (
        sm.describe_monitoring_schedule(MonitoringScheduleName=scheduled)["MonitoringScheduleArn"],
        sm.describe_data_quality_job_definition(JobDefinitionName=scheduled)["JobDefinitionArn"],
    ):
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "risk"}])
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "risk"}]

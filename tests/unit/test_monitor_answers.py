"""A monitoring execution answered as the processing job AWS runs for it (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kiln.db.monitoring import ExecutionRow
from kiln.services.monitoring.schedules.answers import describe_processing_job

JOB = {
    "DataQualityAppSpecification": {"ImageUri": "img", "Environment": {"extra": "1"}},
    "DataQualityJobOutputConfig": {
        "MonitoringOutputs": [{"S3Output": {"S3Uri": "s3://out/reports", "LocalPath": "/o"}}]
    },
    "JobResources": {
        "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
    },
    "RoleArn": "arn:aws:iam::000000000000:role/kiln",
}
ROW = ExecutionRow(
    name="model-monitoring-202603011200-abc",
    schedule_name="s",
    schedule_generation="g",
    scheduled_time=1772366400.0,  # 2026-03-01T12:00:00Z
    window_start=1772362800.0,
    window_end=1772366400.0,
    status="InProgress",
    monitoring_type="DataQuality",
    endpoint_name="ep",
    job_definition_name="dq",
    creation_time=1772366410.0,
    last_modified_time=1772366470.0,
    failure_reason=None,
    report_uri=None,
    job=JOB,
)


def arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:000000000000:{kind}/{name}"


@pytest.mark.parametrize(
    ("status", "reason", "job_status", "exit_message", "ended"),
    [
        ("InProgress", None, "InProgress", None, False),
        ("Completed", None, "Completed", "Completed: Job completed successfully with no "
         "violations.", True),
        ("CompletedWithViolations", None, "Completed", "CompletedWithViolations: Job completed "
         "successfully with violations.", True),
        ("Failed", "Job inputs had no data", "Failed", "Job inputs had no data", True),
        ("Stopped", None, "Stopped", None, True),
    ],
)  # fmt: skip
def test_an_execution_status_as_a_processing_job_status(
    status: str, reason: str | None, job_status: str, exit_message: str | None, ended: bool
) -> None:
    answer = describe_processing_job(replace(ROW, status=status, failure_reason=reason), arn)
    assert answer["ProcessingJobStatus"] == job_status
    assert answer.get("ExitMessage") == exit_message
    assert ("ProcessingEndTime" in answer) is ended


@pytest.mark.parametrize("status", ["InProgress", "CompletedWithViolations", "Failed"])
def test_the_output_is_the_report_folder_from_the_start(status: str) -> None:
    # The SDK reads reports under the output of the execution it listed, often while it ran.
    answer = describe_processing_job(replace(ROW, status=status), arn)
    output = answer["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert output == "s3://out/reports/ep/s/2026/03/01/12"


def test_the_environment_names_the_window_and_keeps_the_definitions_own() -> None:
    environment = describe_processing_job(ROW, arn)["Environment"]
    assert (environment["start_time"], environment["end_time"]) == (
        "2026-03-01T11:00:00Z",
        "2026-03-01T12:00:00Z",
    )
    assert (environment["sagemaker_monitoring_schedule_name"], environment["extra"]) == ("s", "1")


BASELINE = {
    "StatisticsResource": {"S3Uri": "s3://b/statistics.json"},
    "ConstraintsResource": {"S3Uri": "s3://b/constraints.json"},
}
ENDPOINT_INPUT = {"EndpointInput": {"EndpointName": "ep", "LocalPath": "/opt/ml/processing/in"}}


@pytest.mark.parametrize(
    ("job", "capture", "inputs"),
    [
        ({**JOB, "DataQualityJobInput": ENDPOINT_INPUT, "DataQualityBaselineConfig": BASELINE},
         "s3://capture/data/",
         [("input_1", "s3://capture/data/ep", "/opt/ml/processing/in/ep"),
          ("baseline", "s3://b/statistics.json", "/opt/ml/processing/baseline/stats"),
          ("constraints", "s3://b/constraints.json", "/opt/ml/processing/baseline/constraints")]),
        ({**JOB, "DataQualityJobInput": ENDPOINT_INPUT}, "s3://capture/data",
         [("input_1", "s3://capture/data/ep", "/opt/ml/processing/in/ep")]),
        ({**JOB, "DataQualityJobInput": ENDPOINT_INPUT}, None, []),  # the endpoint is gone
    ],
)  # fmt: skip
def test_the_inputs_are_the_captures_and_baselines_as_the_sdk_reads_them(
    job: dict[str, object], capture: str | None, inputs: list[tuple[str, str, str]]
) -> None:
    answer = describe_processing_job(replace(ROW, job=job), arn, capture)
    found = answer["ProcessingInputs"]
    assert [(i["InputName"], i["S3Input"]["S3Uri"], i["S3Input"]["LocalPath"]) for i in found] == (
        inputs
    )
    assert all(i["S3Input"]["S3DataType"] == "S3Prefix" for i in found)


def test_a_model_quality_execution_reads_its_ground_truth() -> None:
    job = {
        "ModelQualityAppSpecification": {"ImageUri": "img"},
        "ModelQualityJobOutputConfig": JOB["DataQualityJobOutputConfig"],
        "ModelQualityJobInput": {**ENDPOINT_INPUT, "GroundTruthS3Input": {"S3Uri": "s3://gt/ep"}},
        "JobResources": JOB["JobResources"],
    }
    row = replace(ROW, monitoring_type="ModelQuality", job=job)
    names = [
        i["InputName"] for i in describe_processing_job(row, arn, "s3://c")["ProcessingInputs"]
    ]
    assert names == ["input_1", "ground_truth_input_1"]

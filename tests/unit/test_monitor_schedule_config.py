"""ScheduleConfig and job definitions as SageMaker validates them (pure)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from kiln.errors import UnsupportedError, ValidationError
from kiln.services.monitoring.model_quality import ProblemType
from kiln.services.monitoring.schedules.definitions import (
    check_definition,
    inline_to_stored,
    job_definition,
    monitoring_type,
)
from kiln.services.monitoring.schedules.model import MonitoringType
from kiln.services.monitoring.schedules.schedule_config import parse_schedule_config

OUTPUT = {"MonitoringOutputs": [{"S3Output": {"S3Uri": "s3://out/r", "LocalPath": "/o"}}]}
RESOURCES = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                               "VolumeSizeInGB": 1}}  # fmt: skip
ROLE = "arn:aws:iam::000000000000:role/kiln"


def data_quality(**endpoint_input: Any) -> dict[str, Any]:
    return {
        "DataQualityAppSpecification": {"ImageUri": "img", "Environment": {"a": "1"}},
        "DataQualityJobInput": {
            "EndpointInput": {"EndpointName": "ep", "LocalPath": "/i", **endpoint_input}
        },
        "DataQualityJobOutputConfig": OUTPUT,
        "DataQualityBaselineConfig": {
            "StatisticsResource": {"S3Uri": "s3://baselines/statistics.json"},
            "ConstraintsResource": {"S3Uri": "s3://baselines/constraints.json"},
        },
        "JobResources": RESOURCES,
        "RoleArn": ROLE,
    }


def model_quality() -> dict[str, Any]:
    return {
        "ModelQualityAppSpecification": {"ImageUri": "img", "ProblemType": "BinaryClassification"},
        "ModelQualityJobInput": {
            "EndpointInput": {
                "EndpointName": "ep",
                "LocalPath": "/i",
                "InferenceAttribute": "0",
                "ProbabilityThresholdAttribute": 0.5,
                "StartTimeOffset": "-P8D",
                "EndTimeOffset": "-P1D",
            },
            "GroundTruthS3Input": {"S3Uri": "s3://truth/ep"},
        },
        "ModelQualityJobOutputConfig": OUTPUT,
        "JobResources": RESOURCES,
        "RoleArn": ROLE,
    }


@pytest.mark.parametrize(
    ("config", "period", "window"),
    [
        ({"ScheduleExpression": "cron(0 * ? * * *)"}, timedelta(hours=1), (None, None)),
        ({"ScheduleExpression": "rate(10 seconds)"}, timedelta(seconds=10), (None, None)),
        (
            {
                "ScheduleExpression": "NOW",
                "DataAnalysisStartTime": "-PT1H",
                "DataAnalysisEndTime": "-PT0H",
            },
            None,
            ("-PT1H", "-PT0H"),
        ),  # fmt: skip
        (
            {
                "ScheduleExpression": "cron(0 0 ? * * *)",
                "DataAnalysisStartTime": "-PT24H",
                "DataAnalysisEndTime": "PT0H",
            },
            timedelta(hours=24),
            ("-PT24H", "PT0H"),
        ),  # fmt: skip  a window of exactly 24 hours is allowed
    ],
)
def test_schedule_configs_sagemaker_accepts(
    config: dict[str, str], period: timedelta | None, window: tuple[str | None, str | None]
) -> None:
    parsed = parse_schedule_config(config)
    assert parsed.expression.period == period
    assert (parsed.data_analysis_start, parsed.data_analysis_end) == window


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (None, "ScheduleConfig is required"),
        ({"ScheduleExpression": "cron(0 12 * * ? *)"}, "Invalid ScheduleExpression"),
        ({"ScheduleExpression": "NOW"}, "both required"),
        ({"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H"}, "both required"),
        (
            {
                "ScheduleExpression": "NOW",
                "DataAnalysisStartTime": "-PT1H",
                "DataAnalysisEndTime": "-PT2H",
            },
            "must come before",
        ),  # fmt: skip
        (
            {
                "ScheduleExpression": "NOW",
                "DataAnalysisStartTime": "-PT25H",
                "DataAnalysisEndTime": "PT0H",
            },
            "more than 24 hours",
        ),  # fmt: skip
        (
            {
                "ScheduleExpression": "NOW",
                "DataAnalysisStartTime": "an hour ago",
                "DataAnalysisEndTime": "PT0H",
            },
            "DataAnalysisStartTime: Invalid time offset 'an hour ago'",
        ),  # fmt: skip
    ],
)
def test_schedule_configs_sagemaker_refuses(config: dict[str, str] | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_schedule_config(config)


def test_a_data_quality_definition_reads_into_the_typed_job() -> None:
    job = job_definition(data_quality(), MonitoringType.DATA_QUALITY, "dq", "arn:dq")
    assert (job.endpoint_name, job.output_s3_uri) == ("ep", "s3://out/r")
    assert job.baseline_statistics_uri == "s3://baselines/statistics.json"
    assert job.baseline_constraints_uri == "s3://baselines/constraints.json"
    assert (job.environment, job.max_runtime) == ({"a": "1"}, timedelta(hours=1))


def test_a_model_quality_definition_reads_into_the_typed_job() -> None:
    check_definition(model_quality(), MonitoringType.MODEL_QUALITY)
    job = job_definition(model_quality(), MonitoringType.MODEL_QUALITY, "mq", "arn:mq")
    assert job.model_quality is not None
    assert job.model_quality.problem_type is ProblemType.BINARY_CLASSIFICATION
    assert (job.model_quality.inference_attribute, job.model_quality.probability_threshold) == (
        "0",
        0.5,
    )
    assert (job.ground_truth_s3_uri, job.start_time_offset) == ("s3://truth/ep", "-P8D")


def _without(request: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(request)
    place = changed
    for key in path[:-1]:
        place = place[key]
    del place[path[-1]]
    return changed


def _with(request: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(request)
    place = changed
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("request_", "kind", "error", "message"),
    [
        (_with(data_quality(), {"BatchTransformInput": {"LocalPath": "/i"}}, "DataQualityJobInput"),
         MonitoringType.DATA_QUALITY, UnsupportedError, "BatchTransformInput"),
        (_with(data_quality(), {"MonitoringOutputs": [{"S3Output": {"S3Uri": "out/r"}}]},
               "DataQualityJobOutputConfig"),
         MonitoringType.DATA_QUALITY, ValidationError, "Invalid S3 URI 'out/r'"),
        (_with(data_quality(), {"StatisticsResource": {"S3Uri": "s3:/baselines"}},
               "DataQualityBaselineConfig"),
         MonitoringType.DATA_QUALITY, ValidationError, "Invalid S3 URI 's3:/baselines'"),
        (data_quality(StartTimeOffset="-PT1H", EndTimeOffset="-PT2H"),
         MonitoringType.DATA_QUALITY, ValidationError, "must come before"),
        (_without(model_quality(), "ModelQualityAppSpecification", "ProblemType"),
         MonitoringType.MODEL_QUALITY, ValidationError, "ProblemType is required"),
        (_without(model_quality(), "ModelQualityJobInput", "GroundTruthS3Input"),
         MonitoringType.MODEL_QUALITY, ValidationError, "GroundTruthS3Input.S3Uri is required"),
        (_with(model_quality(), 1.5, "ModelQualityJobInput", "EndpointInput",
               "ProbabilityThresholdAttribute"),
         MonitoringType.MODEL_QUALITY, ValidationError, "from 0 to 1"),
    ],
)  # fmt: skip
def test_definitions_kiln_refuses(
    request_: dict[str, Any], kind: MonitoringType, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        check_definition(request_, kind)


def test_baselines_are_optional() -> None:
    check_definition(_without(data_quality(), "DataQualityBaselineConfig"),
                     MonitoringType.DATA_QUALITY)  # fmt: skip


def test_an_inline_definition_is_stored_as_a_data_quality_definition() -> None:
    stored = inline_to_stored(
        {
            "BaselineConfig": {"ConstraintsResource": {"S3Uri": "s3://baselines/constraints.json"}},
            "MonitoringInputs": [{"EndpointInput": {"EndpointName": "ep", "LocalPath": "/i"}}],
            "MonitoringOutputConfig": OUTPUT,
            "MonitoringResources": RESOURCES,
            "MonitoringAppSpecification": {"ImageUri": "img"},
            "Environment": {"a": "1"},
            "RoleArn": ROLE,
        }
    )
    job = job_definition(stored, MonitoringType.DATA_QUALITY, "s", "arn:s")
    assert (job.endpoint_name, job.environment) == ("ep", {"a": "1"})
    assert job.baseline_constraints_uri == "s3://baselines/constraints.json"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, MonitoringType.DATA_QUALITY), ("ModelQuality", MonitoringType.MODEL_QUALITY)],
)
def test_monitoring_type_defaults_to_data_quality(
    value: str | None, expected: MonitoringType
) -> None:
    assert monitoring_type(value) is expected


def test_clarify_monitoring_types_are_not_supported_yet() -> None:
    with pytest.raises(UnsupportedError, match="ModelBias"):
        monitoring_type("ModelBias")

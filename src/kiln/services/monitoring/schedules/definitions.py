"""Monitoring job definitions: ``Create{DataQuality,ModelQuality}JobDefinition`` requests and a
schedule's inline ``MonitoringJobDefinition``, validated and read into the typed ``JobDefinition``.

Every definition is stored in one form, the ``Create<Type>JobDefinition`` request's (members
``<Type>AppSpecification``, ``<Type>JobInput``, ``<Type>JobOutputConfig``,
``<Type>BaselineConfig``, ``JobResources``, ``RoleArn``, ``StoppingCondition``): an inline
definition is rewritten into it (``to_stored``), so the scheduler reads one shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from kiln.errors import UnsupportedError, ValidationError
from kiln.services.monitoring.model_quality.config import ModelQualityConfig, ProblemType
from kiln.services.monitoring.schedules.model import JobDefinition, MonitoringType
from kiln.services.monitoring.schedules.schedule_config import check_window
from kiln.storage import S3Uri

DEFAULT_MAX_RUNTIME_SECONDS = 3600  # SageMaker's default MonitoringStoppingCondition
_KEYS = ("AppSpecification", "JobInput", "JobOutputConfig", "BaselineConfig")


def monitoring_type(value: str | None) -> MonitoringType:
    """The ``MonitoringType`` a request names (DataQuality when absent, as AWS defaults it)."""
    if value is None:
        return MonitoringType.DATA_QUALITY
    try:
        return MonitoringType(value)
    except ValueError:
        raise UnsupportedError(
            f"MonitoringType {value!r} is not supported by Kiln yet (it runs "
            f"{', '.join(t.value for t in MonitoringType)}; not Clarify's ModelBias or "
            "ModelExplainability)"
        ) from None


def member(kind: MonitoringType, key: str) -> str:
    """A request member's name for ``kind``: ``member(DATA_QUALITY, "JobInput")`` →
    ``DataQualityJobInput``."""
    return f"{kind.value}{key}"


def check_definition(request: Mapping[str, Any], kind: MonitoringType) -> None:
    """``ValidationError`` for what SageMaker, or Kiln's analyzer, cannot run."""
    job_input = request.get(member(kind, "JobInput")) or {}
    if job_input.get("BatchTransformInput"):
        raise UnsupportedError(
            "BatchTransformInput is not supported by Kiln yet: monitor an endpoint's captured "
            "data with EndpointInput"
        )
    endpoint_input = job_input.get("EndpointInput")
    if not endpoint_input:
        raise ValidationError(f"{member(kind, 'JobInput')}.EndpointInput is required")
    check_window(
        endpoint_input.get("StartTimeOffset"),
        endpoint_input.get("EndTimeOffset"),
        ("EndpointInput.StartTimeOffset", "EndpointInput.EndTimeOffset"),
    )
    outputs = (request.get(member(kind, "JobOutputConfig")) or {}).get("MonitoringOutputs") or []
    if len(outputs) != 1:
        raise ValidationError(
            f"{member(kind, 'JobOutputConfig')}.MonitoringOutputs must hold exactly one output"
        )
    S3Uri.parse(outputs[0]["S3Output"]["S3Uri"])
    for uri in _baseline_uris(request, kind):
        S3Uri.parse(uri)
    if kind is MonitoringType.MODEL_QUALITY:
        _check_model_quality(request, endpoint_input)


def _check_model_quality(request: Mapping[str, Any], endpoint_input: Mapping[str, Any]) -> None:
    app = request.get("ModelQualityAppSpecification") or {}
    if not app.get("ProblemType"):
        raise ValidationError(
            "ModelQualityAppSpecification.ProblemType is required: BinaryClassification, "
            "MulticlassClassification or Regression"
        )
    truth = (request.get("ModelQualityJobInput") or {}).get("GroundTruthS3Input") or {}
    if not truth.get("S3Uri"):
        raise ValidationError("ModelQualityJobInput.GroundTruthS3Input.S3Uri is required")
    S3Uri.parse(truth["S3Uri"])
    threshold = endpoint_input.get("ProbabilityThresholdAttribute")
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise ValidationError(
            f"EndpointInput.ProbabilityThresholdAttribute must be from 0 to 1, not {threshold!r}"
        )


def _baseline_uris(request: Mapping[str, Any], kind: MonitoringType) -> list[str]:
    baseline = request.get(member(kind, "BaselineConfig")) or {}
    resources = (baseline.get("StatisticsResource"), baseline.get("ConstraintsResource"))
    return [r["S3Uri"] for r in resources if r and r.get("S3Uri")]


def stored_form(request: Mapping[str, Any], kind: MonitoringType) -> dict[str, Any]:
    """A ``Create<Type>JobDefinition`` request's job (no name, no tags): what is stored."""
    keys = [member(kind, k) for k in _KEYS]
    keys += ["JobResources", "NetworkConfig", "RoleArn", "StoppingCondition"]
    return {k: request[k] for k in keys if k in request}


def inline_to_stored(inline: Mapping[str, Any]) -> dict[str, Any]:
    """A schedule's inline ``MonitoringJobDefinition`` (always DataQuality on AWS) rewritten as a
    ``CreateDataQualityJobDefinition`` request's job."""
    inputs = inline.get("MonitoringInputs") or []
    if len(inputs) != 1:
        raise ValidationError(
            "MonitoringJobDefinition.MonitoringInputs must hold exactly one input"
        )
    app = dict(inline["MonitoringAppSpecification"])
    if inline.get("Environment"):
        app["Environment"] = dict(inline["Environment"])
    stored: dict[str, Any] = {
        "DataQualityAppSpecification": app,
        "DataQualityJobInput": dict(inputs[0]),
        "DataQualityJobOutputConfig": inline["MonitoringOutputConfig"],
        "JobResources": inline["MonitoringResources"],
        "RoleArn": inline["RoleArn"],
    }
    optional = {
        "BaselineConfig": "DataQualityBaselineConfig",
        "NetworkConfig": "NetworkConfig",
        "StoppingCondition": "StoppingCondition",
    }
    stored.update({to: inline[key] for key, to in optional.items() if inline.get(key)})
    check_definition(stored, MonitoringType.DATA_QUALITY)
    return stored


def endpoint_of(stored: Mapping[str, Any], kind: MonitoringType) -> str:
    """The endpoint a stored definition monitors."""
    return str(stored[member(kind, "JobInput")]["EndpointInput"]["EndpointName"])


def job_definition(
    stored: Mapping[str, Any], kind: MonitoringType, name: str, arn: str
) -> JobDefinition:
    """The typed ``JobDefinition`` of a stored definition."""
    job_input = stored[member(kind, "JobInput")]
    endpoint_input = job_input["EndpointInput"]
    app = stored.get(member(kind, "AppSpecification")) or {}
    baseline = stored.get(member(kind, "BaselineConfig")) or {}
    output = stored[member(kind, "JobOutputConfig")]["MonitoringOutputs"][0]["S3Output"]
    runtime = (stored.get("StoppingCondition") or {}).get(
        "MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS
    )
    quality = None
    if kind is MonitoringType.MODEL_QUALITY:
        threshold = endpoint_input.get("ProbabilityThresholdAttribute")
        quality = ModelQualityConfig(
            problem_type=ProblemType(app["ProblemType"]),
            inference_attribute=endpoint_input.get("InferenceAttribute"),
            probability_attribute=endpoint_input.get("ProbabilityAttribute"),
            probability_threshold=None if threshold is None else float(threshold),
        )
    return JobDefinition(
        name=name,
        arn=arn,
        monitoring_type=kind,
        endpoint_name=endpoint_input["EndpointName"],
        output_s3_uri=output["S3Uri"],
        baseline_statistics_uri=(baseline.get("StatisticsResource") or {}).get("S3Uri"),
        baseline_constraints_uri=(baseline.get("ConstraintsResource") or {}).get("S3Uri"),
        start_time_offset=endpoint_input.get("StartTimeOffset"),
        end_time_offset=endpoint_input.get("EndTimeOffset"),
        model_quality=quality,
        ground_truth_s3_uri=(job_input.get("GroundTruthS3Input") or {}).get("S3Uri"),
        environment=dict(app.get("Environment") or {}),
        max_runtime=timedelta(seconds=int(runtime)),
    )

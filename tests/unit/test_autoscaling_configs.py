"""Reading scalable targets and scaling policies' settings: what Kiln follows, what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.errors import ValidationError
from kiln.services.autoscaling.configs import (
    AdjustmentType,
    StepAdjustment,
    step_config,
    tracking_config,
)
from kiln.services.autoscaling.targets import VariantRef, check_capacities, check_scope

PER_INSTANCE = {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}


def test_a_resource_id_names_an_endpoint_variant() -> None:
    ref = VariantRef.parse("endpoint/my-ep/variant/AllTraffic")
    assert (ref.endpoint, ref.variant) == ("my-ep", "AllTraffic")
    assert ref.resource_id == "endpoint/my-ep/variant/AllTraffic"


@pytest.mark.parametrize(
    "resource_id",
    ["service/cluster/svc", "endpoint/e/variant/", "endpoint/e", "endpoint/e/variant/v/x",
     "inference-component/ic"],
)  # fmt: skip
def test_other_resource_ids_are_refused_as_not_sagemaker_variants(resource_id: str) -> None:
    with pytest.raises(ValidationError, match="Kiln scales only SageMaker variants"):
        VariantRef.parse(resource_id)


@pytest.mark.parametrize(
    ("namespace", "dimension"),
    [("ecs", None), ("sagemaker", "sagemaker:inference-component:DesiredCopyCount")],
)
def test_other_namespaces_and_dimensions_are_refused(namespace: str, dimension: str | None) -> None:
    with pytest.raises(ValidationError, match="Kiln scales only SageMaker variants"):
        check_scope(namespace, dimension)


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [(3, 2, "cannot be greater"), (-1, 2, "0 or more"), (0, 0, "at least 1"),
     (1, 5000, "limit of 1000")],
)  # fmt: skip
def test_capacities_out_of_range_are_refused(low: int, high: int, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        check_capacities(low, high)


def test_min_capacity_zero_is_allowed() -> None:
    check_capacities(0, 3)


def test_target_tracking_defaults_to_aws_cooldowns() -> None:
    config = tracking_config({"TargetValue": 70.0, "PredefinedMetricSpecification": PER_INSTANCE})
    assert (config.scale_out_cooldown, config.scale_in_cooldown) == (300, 300)
    assert config.disable_scale_in is False


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"TargetValue": 1.0}, "Exactly one of"),
        ({"TargetValue": 1.0, "PredefinedMetricSpecification": PER_INSTANCE,
          "CustomizedMetricSpecification": {}}, "Exactly one of"),
        ({"TargetValue": -1.0, "PredefinedMetricSpecification": PER_INSTANCE}, "greater than 0"),
        ({"TargetValue": 1.0, "CustomizedMetricSpecification": {
            "MetricName": "GPUUtilization", "Namespace": "/aws/sagemaker/Endpoints",
            "Statistic": "Average"}}, "Unknown metric 'GPUUtilization'"),
        ({"TargetValue": 1.0, "CustomizedMetricSpecification": {
            "MetricName": "Invocations", "Namespace": "AWS/SageMaker", "Statistic": "p99"}},
         "Unsupported Statistic"),
        ({"TargetValue": 1.0, "CustomizedMetricSpecification": {"Metrics": [{"Id": "m"}]}},
         "Metric math"),
    ],
)  # fmt: skip
def test_tracking_configs_kiln_cannot_follow_are_refused(
    config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        tracking_config(config)


def test_a_users_own_namespace_may_name_any_metric() -> None:
    spec = {"MetricName": "QueueDepth", "Namespace": "MyApp", "Statistic": "Maximum",
            "Dimensions": [{"Name": "Queue", "Value": "q"}]}  # fmt: skip
    config = tracking_config({"TargetValue": 10.0, "CustomizedMetricSpecification": spec})
    assert config.custom is not None
    assert config.custom.dimensions == (("Queue", "q"),)


def test_step_configs_are_read_in_full() -> None:
    config = step_config(
        {"AdjustmentType": "PercentChangeInCapacity", "MinAdjustmentMagnitude": 2, "Cooldown": 30,
         "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 50}]}
    )  # fmt: skip
    assert config.adjustment_type is AdjustmentType.PERCENT
    assert config.steps == (StepAdjustment(0.0, None, 50),)
    assert (config.cooldown, config.min_magnitude) == (30, 2)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"AdjustmentType": "Double", "StepAdjustments": [{"ScalingAdjustment": 1}]},
         "AdjustmentType 'Double'"),
        ({"AdjustmentType": "ChangeInCapacity", "StepAdjustments": []}, "at least one"),
        ({"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [
            {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1},
            {"MetricIntervalLowerBound": 5.0, "ScalingAdjustment": 2}]}, "overlap"),
        ({"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [
            {"MetricIntervalLowerBound": 5.0, "MetricIntervalUpperBound": 5.0,
             "ScalingAdjustment": 1}]}, "is empty"),
        ({"AdjustmentType": "ChangeInCapacity", "MinAdjustmentMagnitude": 1,
          "StepAdjustments": [{"ScalingAdjustment": 1}]}, "only to AdjustmentType"),
    ],
)  # fmt: skip
def test_step_configs_kiln_cannot_follow_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        step_config(config)

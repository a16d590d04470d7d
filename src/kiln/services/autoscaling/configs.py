"""Scaling policies' settings, typed: target tracking and step scaling, read from AWS's shapes.

``tracking_config`` and ``step_config`` read ``TargetTrackingScalingPolicyConfiguration`` and
``StepScalingPolicyConfiguration`` (already checked against botocore's model) and refuse what
Kiln cannot follow with a ``ValidationError`` that quotes the input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kiln.errors import ValidationError
from kiln.services.monitoring.metrics.published import unpublished
from kiln.services.monitoring.metrics.statistics import STATISTICS

DEFAULT_COOLDOWN = 300
"""Application Auto Scaling's default cooldown for SageMaker variants, seconds."""

INVOCATIONS_PER_INSTANCE = "SageMakerVariantInvocationsPerInstance"
CONCURRENT_REQUESTS = "SageMakerVariantConcurrentRequestsPerModelHighResolution"
PREDEFINED = (INVOCATIONS_PER_INSTANCE, CONCURRENT_REQUESTS)


class AdjustmentType(StrEnum):
    """How a step's ``ScalingAdjustment`` reads."""

    CHANGE = "ChangeInCapacity"
    EXACT = "ExactCapacity"
    PERCENT = "PercentChangeInCapacity"


@dataclass(frozen=True, slots=True)
class CustomMetric:
    """A CloudWatch series the policy tracks (``CustomizedMetricSpecification``)."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str


@dataclass(frozen=True, slots=True)
class TargetTracking:
    """A target tracking policy: keep ``metric`` near ``target_value``."""

    target_value: float
    predefined: str | None
    """One of ``PREDEFINED``, or None when ``custom`` is set."""
    custom: CustomMetric | None
    scale_out_cooldown: float
    scale_in_cooldown: float
    disable_scale_in: bool


@dataclass(frozen=True, slots=True)
class StepAdjustment:
    """Adjust by ``adjustment`` when the breach (metric − threshold) is in [lower, upper)."""

    lower: float | None
    upper: float | None
    adjustment: int


@dataclass(frozen=True, slots=True)
class StepScaling:
    """A step scaling policy: run by an alarm, adjusts capacity by the step the breach is in."""

    adjustment_type: AdjustmentType
    steps: tuple[StepAdjustment, ...]
    cooldown: float
    aggregation: str
    min_magnitude: int | None


def tracking_config(config: Mapping[str, Any]) -> TargetTracking:
    """The target tracking settings in ``TargetTrackingScalingPolicyConfiguration``."""
    target = float(config["TargetValue"])
    if not 0 < target < math.inf:
        raise ValidationError(f"TargetValue {target} must be a number greater than 0")
    predefined = config.get("PredefinedMetricSpecification")
    customised = config.get("CustomizedMetricSpecification")
    if (predefined is None) == (customised is None):
        raise ValidationError(
            "Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification "
            "must be given"
        )
    kind = None if predefined is None else str(predefined["PredefinedMetricType"])
    if kind is not None and kind not in PREDEFINED:
        raise ValidationError(
            f"Unsupported PredefinedMetricType {kind!r} for a SageMaker variant; Kiln tracks "
            + " and ".join(PREDEFINED)
        )
    return TargetTracking(
        target_value=target,
        predefined=kind,
        custom=None if customised is None else custom_metric(customised),
        scale_out_cooldown=float(config.get("ScaleOutCooldown", DEFAULT_COOLDOWN)),
        scale_in_cooldown=float(config.get("ScaleInCooldown", DEFAULT_COOLDOWN)),
        disable_scale_in=bool(config.get("DisableScaleIn", False)),
    )


def custom_metric(spec: Mapping[str, Any]) -> CustomMetric:
    """The series a ``CustomizedMetricSpecification`` names."""
    if spec.get("Metrics"):
        raise ValidationError(
            "Metric math (CustomizedMetricSpecification.Metrics) is not supported"
        )
    name, namespace = spec.get("MetricName"), spec.get("Namespace")
    statistic = spec.get("Statistic")
    if not name or not namespace or not statistic:
        raise ValidationError(
            "CustomizedMetricSpecification needs MetricName, Namespace and Statistic"
        )
    known = unpublished(str(namespace), str(name))
    if known is not None:
        raise ValidationError(
            f"Unknown metric {name!r} in namespace {namespace!r}; Kiln publishes "
            + ", ".join(sorted(known))
        )
    if statistic not in STATISTICS:
        raise ValidationError(
            f"Unsupported Statistic {statistic!r}; one of {', '.join(STATISTICS)}"
        )
    dimensions = tuple(sorted((d["Name"], d["Value"]) for d in spec.get("Dimensions", [])))
    return CustomMetric(str(namespace), str(name), dimensions, str(statistic))


def step_config(config: Mapping[str, Any]) -> StepScaling:
    """The step scaling settings in ``StepScalingPolicyConfiguration``."""
    raw_type = str(config.get("AdjustmentType"))
    try:
        adjustment_type = AdjustmentType(raw_type)
    except ValueError:
        raise ValidationError(
            f"AdjustmentType {raw_type!r} must be one of "
            + ", ".join(kind.value for kind in AdjustmentType)
        ) from None
    steps = tuple(
        StepAdjustment(s.get("MetricIntervalLowerBound"), s.get("MetricIntervalUpperBound"),
                       int(s["ScalingAdjustment"]))
        for s in config.get("StepAdjustments", [])
    )  # fmt: skip
    check_steps(steps)
    magnitude = config.get("MinAdjustmentMagnitude")
    if magnitude is not None and adjustment_type is not AdjustmentType.PERCENT:
        raise ValidationError(
            "MinAdjustmentMagnitude applies only to AdjustmentType PercentChangeInCapacity"
        )
    return StepScaling(
        adjustment_type=adjustment_type,
        steps=steps,
        cooldown=float(config.get("Cooldown", DEFAULT_COOLDOWN)),
        aggregation=str(config.get("MetricAggregationType", "Average")),
        min_magnitude=None if magnitude is None else int(magnitude),
    )


def check_steps(steps: tuple[StepAdjustment, ...]) -> None:
    """``ValidationError`` unless the steps are non-empty, ordered and do not overlap."""
    if not steps:
        raise ValidationError("StepScalingPolicyConfiguration needs at least one StepAdjustment")
    ordered = sorted(steps, key=lambda s: -float("inf") if s.lower is None else s.lower)
    for step in ordered:
        if any(b is not None and not math.isfinite(b) for b in (step.lower, step.upper)):
            raise ValidationError(
                f"Step adjustment bounds [{step.lower}, {step.upper}) must be finite numbers"
            )
        if step.lower is not None and step.upper is not None and step.lower >= step.upper:
            raise ValidationError(
                f"Step adjustment interval [{step.lower}, {step.upper}) is empty: "
                "MetricIntervalLowerBound must be below MetricIntervalUpperBound"
            )
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.upper is None or after.lower is None or before.upper > after.lower:
            raise ValidationError(
                f"Step adjustments overlap: [{before.lower}, {before.upper}) and "
                f"[{after.lower}, {after.upper})"
            )


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """A stored policy, typed: exactly one of ``tracking`` and ``stepping`` is set."""

    resource_id: str
    name: str
    arn: str
    tracking: TargetTracking | None
    stepping: StepScaling | None
    alarms: tuple[str, ...]
    """Names of the alarms answered for it (target tracking: high, then low)."""

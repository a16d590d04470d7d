"""What a finished monitoring execution tells whoever acts on it (webhooks, retraining).

Drift metrics are published in the metrics store under SageMaker's data-quality namespace, with
the ``Endpoint`` and ``MonitoringSchedule`` dimensions SageMaker uses; the names below are the
one place they are spelled.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the analyzer loads numpy, which the server only needs once a monitor runs
    from kiln.services.monitoring.baselines.drift import FeatureDrift
    from kiln.services.monitoring.baselines.violations import Violation

DATA_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
MODEL_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"


class DriftMetric(enum.StrEnum):
    """The per-feature drift metrics a data-quality execution publishes."""

    BASELINE_DRIFT = "feature_baseline_drift"  # SageMaker's own
    PSI = "kiln_feature_psi"
    KS = "kiln_feature_ks"
    JS = "kiln_feature_js"


def drift_metric_name(metric: DriftMetric, feature_name: str) -> str:
    """The CloudWatch metric name of ``metric`` for one feature (SageMaker's pattern)."""
    return f"{metric}_{feature_name}"


class ExecutionStatus(enum.StrEnum):
    """A monitoring execution's state (SageMaker's ``MonitoringExecutionStatus``)."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    STOPPING = "Stopping"
    COMPLETED = "Completed"
    COMPLETED_WITH_VIOLATIONS = "CompletedWithViolations"
    FAILED = "Failed"
    STOPPED = "Stopped"


@dataclass(frozen=True)
class MonitoringOutcome:
    """One finished execution of a monitoring schedule."""

    schedule_name: str
    endpoint_name: str
    status: ExecutionStatus
    scheduled_time: datetime
    violations: tuple[Violation, ...]
    drift: tuple[FeatureDrift, ...]
    report_uri: str | None
    failure_reason: str | None = None


class OutcomeListener(Protocol):
    """Hears each finished monitoring execution; must return quickly (queue slow work)."""

    def outcome(self, outcome: MonitoringOutcome) -> None:
        """Take note of ``outcome``."""

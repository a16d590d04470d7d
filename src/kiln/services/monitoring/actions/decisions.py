"""The retraining rules' decisions, pure: does this outcome fire a rule, is there enough new
data, what training request a firing starts, and how long to wait before a webhook's next try."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiln.services.monitoring.actions.rules import NewDataTrigger, ScheduleTrigger
from kiln.services.monitoring.outcomes import DriftMetric, ExecutionStatus, MonitoringOutcome
from kiln.storage import S3Uri

if TYPE_CHECKING:  # the analyzer loads numpy, which the server only needs once a monitor runs
    from kiln.services.monitoring.baselines.drift import FeatureDrift
    from kiln.services.monitoring.baselines.violations import Violation

# The channel a data rule points at its watched prefix (SageMaker's conventional name).
TRAIN_CHANNEL = "train"
# <prefix>-YYYYmmdd-HHMMSS-mmm: 20 characters after the prefix, within SageMaker's 63.
_STAMP_LENGTH = 20
MAX_PREFIX_LENGTH = 63 - _STAMP_LENGTH
# What a firing's evidence lists at most, so a record stays small; counts cover the rest.
MAX_LISTED = 100


@dataclass(frozen=True)
class StoredObject:
    """One object under a watched prefix, as a listing shows it."""

    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class MetricPast:
    """One feature's drift metric past the rule's threshold."""

    feature_name: str
    metric: DriftMetric
    value: float
    threshold: float


@dataclass(frozen=True)
class DriftEvidence:
    """Why a monitoring outcome fired a rule."""

    schedule_name: str
    endpoint_name: str
    status: ExecutionStatus
    scheduled_time: datetime
    violations: tuple[Violation, ...]
    metrics_past: tuple[MetricPast, ...]
    report_uri: str | None

    @property
    def event_key(self) -> str:
        """One per execution: a redelivered outcome fires nothing twice."""
        return f"{self.schedule_name}@{self.scheduled_time.isoformat()}"

    def to_document(self) -> dict[str, Any]:
        """The evidence as firings and webhooks show it."""
        return {
            "MonitoringScheduleName": self.schedule_name,
            "EndpointName": self.endpoint_name,
            "MonitoringExecutionStatus": str(self.status),
            "ScheduledTime": self.scheduled_time.isoformat(),
            "ViolationCount": len(self.violations),
            "Violations": [v.to_document() for v in self.violations[:MAX_LISTED]],
            "DriftMetrics": [
                {
                    "FeatureName": m.feature_name,
                    "Metric": str(m.metric),
                    "Value": m.value,
                    "Threshold": m.threshold,
                }
                for m in self.metrics_past[:MAX_LISTED]
            ],  # fmt: skip
            "ReportUri": self.report_uri,
        }


@dataclass(frozen=True)
class NewDataEvidence:
    """The new objects that fired a data rule."""

    s3_uri: S3Uri
    objects: tuple[StoredObject, ...]

    @property
    def total_bytes(self) -> int:
        """The new objects' size together."""
        return sum(o.size for o in self.objects)

    def to_document(self) -> dict[str, Any]:
        """The evidence as firings and webhooks show it."""
        listed = sorted(self.objects, key=lambda o: o.key)[:MAX_LISTED]
        return {
            "S3Uri": str(self.s3_uri),
            "NewObjectCount": len(self.objects),
            "NewBytes": self.total_bytes,
            "NewObjects": [{"Key": o.key, "Size": o.size} for o in listed],
        }


Evidence = DriftEvidence | NewDataEvidence


def drift_evidence(trigger: ScheduleTrigger, outcome: MonitoringOutcome) -> DriftEvidence | None:
    """The evidence if ``outcome`` fires a rule with ``trigger``; None if it does not."""
    if outcome.schedule_name != trigger.schedule_name or outcome.status not in (
        ExecutionStatus.COMPLETED,
        ExecutionStatus.COMPLETED_WITH_VIOLATIONS,
    ):
        return None
    is_violated = outcome.status is ExecutionStatus.COMPLETED_WITH_VIOLATIONS
    past = () if trigger.drift_metric is None else metrics_past(trigger, outcome.drift)
    if not (trigger.on_violations and is_violated) and not past:
        return None
    return DriftEvidence(
        outcome.schedule_name,
        outcome.endpoint_name,
        outcome.status,
        outcome.scheduled_time,
        outcome.violations if trigger.on_violations else (),
        past,
        outcome.report_uri,
    )


def metrics_past(trigger: ScheduleTrigger, drift: Iterable[FeatureDrift]) -> tuple[MetricPast, ...]:
    """Each feature whose named drift metric is strictly above the rule's threshold."""
    if trigger.drift_metric is None:
        return ()
    metric, threshold = trigger.drift_metric.metric, trigger.drift_metric.threshold
    found = ((f.feature_name, metric_value(f, metric)) for f in drift)
    return tuple(MetricPast(n, metric, v, threshold) for n, v in found if v > threshold)


def metric_value(drift: FeatureDrift, metric: DriftMetric) -> float:
    """One feature's value of ``metric``."""
    match metric:
        case DriftMetric.BASELINE_DRIFT:
            return drift.baseline_drift
        case DriftMetric.PSI:
            return drift.psi
        case DriftMetric.KS:
            return drift.ks
        case DriftMetric.JS:
            return drift.js


def new_objects(
    seen: Mapping[str, str], listing: Iterable[StoredObject]
) -> tuple[StoredObject, ...]:
    """Objects not seen before, or rewritten since (``seen``: key → ``version_of`` it)."""
    return tuple(o for o in listing if seen.get(o.key) != version_of(o))


def version_of(stored: StoredObject) -> str:
    """What tells one write of a key from another: its ETag and size."""
    return f"{stored.etag}:{stored.size}"


def has_enough_new_data(trigger: NewDataTrigger, new: Sequence[StoredObject]) -> bool:
    """Whether ``new`` meets either of the rule's thresholds (objects or bytes)."""
    if not new:
        return False
    enough_objects = trigger.min_objects is not None and len(new) >= trigger.min_objects
    enough_bytes = trigger.min_bytes is not None and sum(o.size for o in new) >= trigger.min_bytes
    return enough_objects or enough_bytes


def training_job_name(prefix: str, at: datetime) -> str:
    """``<prefix>-YYYYmmdd-HHMMSS-mmm`` in UTC: a fresh name per firing."""
    moment = at.astimezone(UTC)
    return f"{prefix}-{moment:%Y%m%d-%H%M%S}-{moment.microsecond // 1000:03d}"


def training_request(
    template: Mapping[str, Any], job_name: str, data_uri: S3Uri | None
) -> dict[str, Any]:
    """The CreateTrainingJob request a firing sends: the template, renamed, and for data rules
    with its ``train`` channel reading the whole watched prefix (kept as is for drift rules)."""
    request = {**template, "TrainingJobName": job_name}
    if data_uri is not None:
        request["InputDataConfig"] = [
            _pointed_at(channel, data_uri) for channel in template.get("InputDataConfig", [])
        ]
    return request


def _pointed_at(channel: Mapping[str, Any], uri: S3Uri) -> dict[str, Any]:
    if channel.get("ChannelName") != TRAIN_CHANNEL:
        return dict(channel)
    source = {**channel["DataSource"]["S3DataSource"], "S3Uri": str(uri), "S3DataType": "S3Prefix"}
    return {**channel, "DataSource": {"S3DataSource": source}}


def has_train_channel(template: Mapping[str, Any]) -> bool:
    """Whether the template reads a ``train`` channel from S3 (what a data rule replaces)."""
    return any(
        c.get("ChannelName") == TRAIN_CHANNEL and "S3DataSource" in c.get("DataSource", {})
        for c in template.get("InputDataConfig", [])
    )


def retry_delay(attempt: int, attempts: int, backoff: float) -> float | None:
    """Seconds to wait after failed try ``attempt`` (1-based) before the next; None: give up."""
    if attempt >= attempts:
        return None
    return float(backoff * 2 ** (attempt - 1))

"""Retraining rules: what fires them (a monitoring outcome, or new data) and what they do.

A rule as ``POST /kiln/v1/retraining-rules`` takes it (the only place AWS-style names are read)::

    {"RuleName": "churn-drift",
     "Trigger": {"MonitoringSchedule": {"ScheduleName": "churn-hourly", "OnViolations": true,
                                        "DriftMetric": {"Metric": "kiln_feature_psi",
                                                        "Threshold": 0.2}}}
              | {"NewData": {"S3Uri": "s3://data/churn/", "MinObjects": 1, "MinBytes": 0}},
     "Actions": {"Webhook": {"Url": "https://hooks.example.com/kiln"},
                 "TrainingJob": {"Template": {…a CreateTrainingJob request…}}}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kiln.errors import ValidationError
from kiln.services.monitoring.outcomes import DriftMetric
from kiln.storage import S3Uri

# SageMaker's resource names: letters, digits and single hyphens, at most 63.
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@dataclass(frozen=True)
class DriftMetricThreshold:
    """Fire when any feature's ``metric`` exceeds ``threshold``."""

    metric: DriftMetric
    threshold: float


@dataclass(frozen=True)
class ScheduleTrigger:
    """Fires on a monitoring schedule's outcome: its violations, or a drift metric's value."""

    schedule_name: str
    on_violations: bool
    drift_metric: DriftMetricThreshold | None


@dataclass(frozen=True)
class NewDataTrigger:
    """Fires when enough new data lies under ``s3_uri`` since the last firing."""

    s3_uri: S3Uri
    min_objects: int | None
    min_bytes: int | None


Trigger = ScheduleTrigger | NewDataTrigger


@dataclass(frozen=True)
class RetrainingRule:
    """A rule: its trigger, and its actions (a webhook, a training job template, or both)."""

    name: str
    trigger: Trigger
    webhook_url: str | None
    training_template: Mapping[str, Any] | None
    creation_time: float

    @property
    def kind(self) -> str:
        """``MonitoringSchedule`` or ``NewData``: which trigger it has."""
        return "MonitoringSchedule" if isinstance(self.trigger, ScheduleTrigger) else "NewData"

    def to_document(self) -> dict[str, Any]:
        """The rule as the API answers it."""
        actions: dict[str, Any] = {}
        if self.webhook_url is not None:
            actions["Webhook"] = {"Url": self.webhook_url}
        if self.training_template is not None:
            actions["TrainingJob"] = {"Template": dict(self.training_template)}
        return {
            "RuleName": self.name,
            "Trigger": {self.kind: _trigger_document(self.trigger)},
            "Actions": actions,
            "CreationTime": self.creation_time,
        }


def parse_rule(document: Mapping[str, Any], now: float) -> RetrainingRule:
    """Read a rule from its API document; ``ValidationError`` naming the bad member."""
    name = _string(document, "RuleName")
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"RuleName {name!r} must be 1-63 letters, digits or single hyphens, starting and "
            "ending with a letter or digit"
        )
    _only(document, {"RuleName", "Trigger", "Actions"}, "")
    trigger = _trigger(_mapping(document, "Trigger"))
    actions = _mapping(document, "Actions")
    _only(actions, {"Webhook", "TrainingJob"}, "Actions.")
    webhook = _webhook(actions["Webhook"]) if "Webhook" in actions else None
    template = None
    if "TrainingJob" in actions:
        job = _mapping(actions, "TrainingJob", "Actions.")
        _only(job, {"Template"}, "Actions.TrainingJob.")
        template = dict(_mapping(job, "Template", "Actions.TrainingJob."))
    if webhook is None and template is None:
        raise ValidationError("Actions must name a Webhook, a TrainingJob, or both")
    return RetrainingRule(name, trigger, webhook, template, now)


def _trigger(document: Mapping[str, Any]) -> Trigger:
    if len(document) != 1 or next(iter(document)) not in ("MonitoringSchedule", "NewData"):
        raise ValidationError(
            "Trigger must hold exactly one of MonitoringSchedule or NewData, "
            f"not {sorted(document)!r}"
        )
    if "NewData" in document:
        return _new_data(_mapping(document, "NewData", "Trigger."))
    return _schedule(_mapping(document, "MonitoringSchedule", "Trigger."))


def _schedule(document: Mapping[str, Any]) -> ScheduleTrigger:
    where = "Trigger.MonitoringSchedule."
    _only(document, {"ScheduleName", "OnViolations", "DriftMetric"}, where)
    on_violations = document.get("OnViolations", True)
    if not isinstance(on_violations, bool):
        raise ValidationError(f"{where}OnViolations must be true or false")
    metric = None
    if "DriftMetric" in document:
        metric = _drift_metric(_mapping(document, "DriftMetric", where))
    if not on_violations and metric is None:
        raise ValidationError(f"{where}: with OnViolations false, name a DriftMetric")
    return ScheduleTrigger(_string(document, "ScheduleName", where), on_violations, metric)


def _drift_metric(document: Mapping[str, Any]) -> DriftMetricThreshold:
    where = "Trigger.MonitoringSchedule.DriftMetric."
    _only(document, {"Metric", "Threshold"}, where)
    name = _string(document, "Metric", where)
    try:
        metric = DriftMetric(name)
    except ValueError:
        choices = ", ".join(m.value for m in DriftMetric)
        raise ValidationError(f"{where}Metric {name!r} is not one of {choices}") from None
    threshold = document.get("Threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
        raise ValidationError(f"{where}Threshold must be a number, 0 or more, not {threshold!r}")
    return DriftMetricThreshold(metric, float(threshold))


def _new_data(document: Mapping[str, Any]) -> NewDataTrigger:
    where = "Trigger.NewData."
    _only(document, {"S3Uri", "MinObjects", "MinBytes"}, where)
    uri = S3Uri.parse(_string(document, "S3Uri", where))
    counts = {key: document.get(key) for key in ("MinObjects", "MinBytes")}
    for key, value in counts.items():
        if value is not None and not _is_count(value):
            raise ValidationError(f"{where}{key} must be a whole number, 1 or more, not {value!r}")
    if counts["MinObjects"] is None and counts["MinBytes"] is None:
        counts["MinObjects"] = 1
    return NewDataTrigger(uri, counts["MinObjects"], counts["MinBytes"])


def _webhook(document: Any) -> str:
    if not isinstance(document, Mapping):
        raise ValidationError("Actions.Webhook must be an object with a Url")
    _only(document, {"Url"}, "Actions.Webhook.")
    url = _string(document, "Url", "Actions.Webhook.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"Actions.Webhook.Url {url!r} must be an http:// or https:// URL")
    return url


def _trigger_document(trigger: Trigger) -> dict[str, Any]:
    if isinstance(trigger, NewDataTrigger):
        found: dict[str, Any] = {"S3Uri": str(trigger.s3_uri)}
        if trigger.min_objects is not None:
            found["MinObjects"] = trigger.min_objects
        if trigger.min_bytes is not None:
            found["MinBytes"] = trigger.min_bytes
        return found
    document: dict[str, Any] = {
        "ScheduleName": trigger.schedule_name,
        "OnViolations": trigger.on_violations,
    }
    if trigger.drift_metric is not None:
        document["DriftMetric"] = {
            "Metric": str(trigger.drift_metric.metric),
            "Threshold": trigger.drift_metric.threshold,
        }
    return document


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _only(document: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise ValidationError(
            f"Unknown member {where}{unknown[0]}: expected one of {', '.join(sorted(allowed))}"
        )


def _mapping(document: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = document.get(key)
    if not isinstance(value, Mapping):
        raise ValidationError(f"{where}{key} is required and must be an object")
    return value


def _string(document: Mapping[str, Any], key: str, where: str = "") -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{where}{key} is required and must be a non-empty string")
    return value

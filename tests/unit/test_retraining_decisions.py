"""The retraining rules' pure decisions, as tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kiln.services.monitoring.actions.decisions import (
    StoredObject,
    drift_evidence,
    has_enough_new_data,
    new_objects,
    retry_delay,
    training_job_name,
    training_request,
)
from kiln.services.monitoring.actions.rules import (
    DriftMetricThreshold,
    NewDataTrigger,
    ScheduleTrigger,
)
from kiln.services.monitoring.baselines.drift import FeatureDrift
from kiln.services.monitoring.baselines.violations import CheckType, Violation
from kiln.services.monitoring.outcomes import DriftMetric, ExecutionStatus, MonitoringOutcome
from kiln.storage import S3Uri

WHEN = datetime(2024, 5, 1, 12, 30, 5, 123456, tzinfo=UTC)
VIOLATION = Violation("age", CheckType.BASELINE_DRIFT, "drifted")
PSI = DriftMetricThreshold(DriftMetric.PSI, 0.2)


def _outcome(
    status: ExecutionStatus, psi: float = 0.0, schedule: str = "hourly"
) -> MonitoringOutcome:
    violations = (VIOLATION,) if status is ExecutionStatus.COMPLETED_WITH_VIOLATIONS else ()
    drift = (FeatureDrift("age", 0.1, psi, 0.0, 0.0), FeatureDrift("income", 0.1, 0.05, 0, 0))
    return MonitoringOutcome(schedule, "churn", status, WHEN, violations, drift, None)


S = ExecutionStatus


@pytest.mark.parametrize(
    ("on_violations", "metric", "outcome", "fires"),
    [
        (True, None, _outcome(S.COMPLETED_WITH_VIOLATIONS), True),
        (True, None, _outcome(S.COMPLETED), False),
        (True, None, _outcome(S.FAILED), False),  # a failed execution is no evidence
        (True, None, _outcome(S.COMPLETED_WITH_VIOLATIONS, schedule="other"), False),
        (False, PSI, _outcome(S.COMPLETED, psi=0.3), True),  # 0.3 > 0.2
        (False, PSI, _outcome(S.COMPLETED, psi=0.2), False),  # at the threshold: not past it
        (False, PSI, _outcome(S.COMPLETED_WITH_VIOLATIONS, psi=0.1), False),
        (True, PSI, _outcome(S.COMPLETED, psi=0.25), True),  # either suffices
        (True, PSI, _outcome(S.COMPLETED_WITH_VIOLATIONS, psi=0.0), True),
    ],
)
def test_drift_rules_fire_on_violations_or_a_metric_past_its_threshold(
    on_violations: bool,
    metric: DriftMetricThreshold | None,
    outcome: MonitoringOutcome,
    fires: bool,
) -> None:
    trigger = ScheduleTrigger("hourly", on_violations, metric)
    assert (drift_evidence(trigger, outcome) is not None) is fires


def test_drift_evidence_names_only_the_features_past_the_threshold() -> None:
    evidence = drift_evidence(ScheduleTrigger("hourly", False, PSI), _outcome(S.COMPLETED, psi=0.3))
    assert evidence is not None
    assert evidence.to_document()["DriftMetrics"] == [
        {"FeatureName": "age", "Metric": "kiln_feature_psi", "Value": 0.3, "Threshold": 0.2}
    ]
    assert evidence.event_key == "hourly@2024-05-01T12:30:05.123456+00:00"


A, B = StoredObject("p/a", "e1", 10), StoredObject("p/b", "e2", 20)


@pytest.mark.parametrize(
    ("seen", "listing", "new"),
    [
        ({}, [A, B], [A, B]),
        ({"p/a": "e1:10"}, [A, B], [B]),
        ({"p/a": "e1:10", "p/b": "e2:20"}, [A, B], []),
        ({"p/a": "old:10"}, [A], [A]),  # rewritten in place: new data too
        ({"p/gone": "e:1"}, [A], [A]),  # deleted objects are not new
    ],
)
def test_new_objects_are_those_not_seen_in_this_version(
    seen: dict[str, str], listing: list[StoredObject], new: list[StoredObject]
) -> None:
    assert list(new_objects(seen, listing)) == new


URI = S3Uri("data", "stream/")


@pytest.mark.parametrize(
    ("min_objects", "min_bytes", "new", "fires"),
    [
        (1, None, [], False),
        (1, None, [A], True),
        (2, None, [A], False),
        (None, 30, [A, B], True),  # 10 + 20 bytes
        (None, 31, [A, B], False),
        (5, 15, [B], True),  # bytes suffice when objects do not
    ],
)
def test_data_rules_fire_on_either_threshold(
    min_objects: int | None, min_bytes: int | None, new: list[StoredObject], fires: bool
) -> None:
    assert has_enough_new_data(NewDataTrigger(URI, min_objects, min_bytes), new) is fires


def test_job_names_are_the_prefix_and_the_utc_time_to_the_millisecond() -> None:
    assert training_job_name("churn", WHEN) == "churn-20240501-123005-123"


def _channel(name: str, uri: str) -> dict[str, Any]:
    source = {
        "S3DataType": "ManifestFile",
        "S3Uri": uri,
        "S3DataDistributionType": "FullyReplicated",
    }
    return {"ChannelName": name, "DataSource": {"S3DataSource": source}}


def test_data_rules_point_the_train_channel_at_the_watched_prefix_only() -> None:
    template = {"TrainingJobName": "churn", "InputDataConfig": [
        _channel("train", "s3://old/train"), _channel("validation", "s3://old/val"),
    ]}  # fmt: skip
    request = training_request(template, "churn-1", URI)
    train, validation = request["InputDataConfig"]
    assert train["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix", "S3Uri": "s3://data/stream/",
        "S3DataDistributionType": "FullyReplicated",
    }  # fmt: skip
    assert validation == _channel("validation", "s3://old/val")
    assert request["TrainingJobName"] == "churn-1"
    assert template["InputDataConfig"][0] == _channel("train", "s3://old/train")  # untouched


def test_drift_rules_keep_the_templates_channels() -> None:
    template = {"TrainingJobName": "churn", "InputDataConfig": [_channel("train", "s3://x/t")]}
    assert training_request(template, "churn-1", None)["InputDataConfig"] == [
        _channel("train", "s3://x/t")
    ]


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, None)],  # 4 tries: waits of 1, 2, 4 s, then give up
)
def test_webhook_retries_back_off_exponentially_then_give_up(
    attempt: int, delay: float | None
) -> None:
    assert retry_delay(attempt, attempts=4, backoff=1.0) == delay

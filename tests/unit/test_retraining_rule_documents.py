"""Retraining rules as the API takes them: what is accepted, and what is refused and why."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.errors import ValidationError
from kiln.services.monitoring.actions.rules import (
    NewDataTrigger,
    ScheduleTrigger,
    parse_rule,
)

HOOK = {"Webhook": {"Url": "https://hooks.example.com/kiln"}}


def _rule(trigger: dict[str, Any], actions: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "RuleName": "churn",
        "Trigger": trigger,
        "Actions": HOOK if actions is None else actions,
    }


def test_a_data_rule_without_thresholds_fires_on_one_new_object() -> None:
    rule = parse_rule(_rule({"NewData": {"S3Uri": "s3://data/x/"}}), 0.0)
    assert rule.trigger == NewDataTrigger(rule.trigger.s3_uri, 1, None)  # type: ignore[union-attr]


def test_a_rule_reads_back_from_its_own_document() -> None:
    document = _rule({"MonitoringSchedule": {"ScheduleName": "hourly", "OnViolations": False,
                      "DriftMetric": {"Metric": "kiln_feature_ks", "Threshold": 0.1}}})  # fmt: skip
    rule = parse_rule(document, 5.0)
    assert isinstance(rule.trigger, ScheduleTrigger)
    again = parse_rule({k: v for k, v in rule.to_document().items() if k != "CreationTime"}, 5.0)
    assert again == rule


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**_rule({"NewData": {"S3Uri": "s3://data/"}}), "RuleName": "no_underscores"}, "RuleName"),
        (_rule({"NewData": {"S3Uri": "s3://data/"}}, {}), "Actions must name"),
        (_rule({"NewData": {"S3Uri": "/local/path"}}), "Invalid S3 URI"),
        (_rule({"NewData": {"S3Uri": "s3://data/", "MinObjects": 0}}), "MinObjects"),
        (_rule({"NewData": {"S3Uri": "s3://data/", "MinRows": 5}}), "Unknown member"),
        (_rule({"NewData": {"S3Uri": "s3://data/"}, "MonitoringSchedule": {}}), "exactly one"),
        (
            _rule({"MonitoringSchedule": {"ScheduleName": "s", "OnViolations": False}}),
            "DriftMetric",
        ),
        (
            _rule(
                {
                    "MonitoringSchedule": {
                        "ScheduleName": "s",
                        "DriftMetric": {"Metric": "accuracy", "Threshold": 1},
                    }
                }
            ),
            "kiln_feature_psi",
        ),  # fmt: skip
        (
            _rule(
                {
                    "MonitoringSchedule": {
                        "ScheduleName": "s",
                        "DriftMetric": {"Metric": "kiln_feature_psi", "Threshold": "high"},
                    }
                }
            ),
            "Threshold",
        ),  # fmt: skip
        (_rule({"NewData": {"S3Uri": "s3://data/"}}, {"Webhook": {"Url": "ftp://h/"}}), "http"),
    ],
)
def test_bad_rules_are_refused_naming_the_member(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_rule(document, 0.0)

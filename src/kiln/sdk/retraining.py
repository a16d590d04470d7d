"""Retraining rules from Python: retrain (or call a webhook) on drift or on new data.

from kiln.sdk.retraining import create_retraining_rule, on_new_data, list_retraining_firings
create_retraining_rule("churn-new-data", on_new_data("s3://data/churn/", min_objects=10),
                       training_job_template=estimator_request)
for firing in list_retraining_firings("churn-new-data"):
    print(firing["TriggerTime"], firing["TrainingJob"]["TrainingJobName"])
"""

from __future__ import annotations

import urllib.error
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from kiln.sdk.session import Session, client_error
from kiln.sdk.signing import call_native

_PATH = "/kiln/v1/retraining-rules"


def on_schedule(
    schedule_name: str,
    *,
    on_violations: bool = True,
    metric: str | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """A trigger on a monitoring schedule's outcome: its violations and/or a drift metric
    (``kiln_feature_psi``, ``kiln_feature_ks``, ``kiln_feature_js``, ``feature_baseline_drift``)
    of any feature above ``threshold``."""
    trigger: dict[str, Any] = {"ScheduleName": schedule_name, "OnViolations": on_violations}
    if metric is not None:
        trigger["DriftMetric"] = {"Metric": metric, "Threshold": threshold}
    return {"MonitoringSchedule": trigger}


def on_new_data(
    s3_uri: str, *, min_objects: int | None = None, min_bytes: int | None = None
) -> dict[str, Any]:
    """A trigger on new objects under ``s3_uri`` since the last firing (1 object by default)."""
    trigger: dict[str, Any] = {"S3Uri": s3_uri}
    if min_objects is not None:
        trigger["MinObjects"] = min_objects
    if min_bytes is not None:
        trigger["MinBytes"] = min_bytes
    return {"NewData": trigger}


def create_retraining_rule(
    name: str,
    trigger: Mapping[str, Any],
    *,
    webhook_url: str | None = None,
    training_job_template: Mapping[str, Any] | None = None,
    session: Session | None = None,
) -> str:
    """Create a rule that, when ``trigger`` fires, POSTs ``webhook_url`` and/or starts a
    training job from ``training_job_template`` (a CreateTrainingJob request); its ARN."""
    actions: dict[str, Any] = {}
    if webhook_url is not None:
        actions["Webhook"] = {"Url": webhook_url}
    if training_job_template is not None:
        actions["TrainingJob"] = {"Template": dict(training_job_template)}
    document = {"RuleName": name, "Trigger": dict(trigger), "Actions": actions}
    answer = _call(session, "POST", _PATH, document, "CreateRetrainingRule")
    return str(answer["RuleArn"])


def describe_retraining_rule(name: str, session: Session | None = None) -> dict[str, Any]:
    """The rule as created, with its ARN and last firing."""
    return dict(_call(session, "GET", _rule_path(name), None, "DescribeRetrainingRule"))


def list_retraining_rules(session: Session | None = None) -> list[dict[str, Any]]:
    """Every rule: name, ARN, trigger kind, creation time."""
    return list(_call(session, "GET", _PATH, None, "ListRetrainingRules")["Rules"])


def delete_retraining_rule(name: str, session: Session | None = None) -> None:
    """Delete a rule (the training jobs it started stay)."""
    _call(session, "DELETE", _rule_path(name), None, "DeleteRetrainingRule")


def list_retraining_firings(name: str, session: Session | None = None) -> list[dict[str, Any]]:
    """A rule's firings, newest first: evidence, the training job, the webhook's tries."""
    path = _rule_path(name) + "/firings"
    return list(_call(session, "GET", path, None, "ListRetrainingRuleFirings")["Firings"])


def _rule_path(name: str) -> str:
    return f"{_PATH}/{quote(name, safe='')}"


def _call(
    session: Session | None,
    method: str,
    path: str,
    document: Mapping[str, Any] | None,
    operation: str,
) -> Any:
    settings = (session or Session()).settings
    try:
        return call_native(settings, method, path, document)
    except urllib.error.HTTPError as e:
        raise client_error(e, operation) from None

"""What a firing is to do, fixed when it is recorded (pure): the training request with its
fresh name, the webhook's address, and the body the webhook is sent.

A firing carries its plan, so carrying it out needs neither the rule (which may be deleted
meanwhile) nor the clock: a restart resumes it with the same job name and the same body.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kiln.services.monitoring.actions.decisions import (
    Evidence,
    NewDataEvidence,
    training_job_name,
    training_request,
)
from kiln.services.monitoring.actions.rules import RetrainingRule

PENDING, STARTED, DELIVERED, FAILED = "Pending", "Started", "Delivered", "Failed"
# A firing's status: InProgress while its actions run (a restart resumes it); Completed when
# every action succeeded; Failed when one did not (its entry says why).
IN_PROGRESS, COMPLETED = "InProgress", "Completed"
# The tag that names, on each training job a firing starts, the rule that started it.
RULE_TAG = "kiln:retraining-rule"


def firing_plan(rule: RetrainingRule, evidence: Evidence, at: float) -> dict[str, Any]:
    """What a firing of ``rule`` on ``evidence`` at ``at`` will do."""
    plan: dict[str, Any] = {"Trigger": rule.kind}
    if rule.training_template is not None:
        template = rule.training_template
        name = training_job_name(template["TrainingJobName"], datetime.fromtimestamp(at, UTC))
        data = evidence.s3_uri if isinstance(evidence, NewDataEvidence) else None
        request = training_request(template, name, data)
        request["Tags"] = [*template.get("Tags", []), {"Key": RULE_TAG, "Value": rule.name}]
        plan["TrainingJobRequest"] = request
    if rule.webhook_url is not None:
        plan["WebhookUrl"] = rule.webhook_url
    return plan


def first_actions(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The actions' record before any has run."""
    actions: dict[str, Any] = {}
    if "TrainingJobRequest" in plan:
        name = plan["TrainingJobRequest"]["TrainingJobName"]
        actions["TrainingJob"] = {"TrainingJobName": name, "Status": PENDING}
    if "WebhookUrl" in plan:
        actions["Webhook"] = {"Url": plan["WebhookUrl"], "Status": PENDING, "Attempts": []}
    return actions


def final_status(actions: Mapping[str, Any]) -> str:
    """``Failed`` if an action failed, else ``Completed``."""
    failed = any(entry.get("Status") == FAILED for entry in actions.values())
    return FAILED if failed else COMPLETED


def webhook_body(
    rule_name: str,
    firing_id: int,
    trigger_time: float,
    plan: Mapping[str, Any],
    evidence: Mapping[str, Any],
    actions: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON a webhook is POSTed: the rule, the trigger and its evidence, the job started."""
    body: dict[str, Any] = {
        "RuleName": rule_name,
        "FiringId": firing_id,
        "TriggerTime": datetime.fromtimestamp(trigger_time, UTC).isoformat(),
        "Trigger": plan["Trigger"],
        "Evidence": dict(evidence),
    }
    if "TrainingJob" in actions:
        body["TrainingJob"] = {
            key: actions["TrainingJob"][key]
            for key in ("TrainingJobName", "Status", "Error")
            if key in actions["TrainingJob"]
        }
    return body

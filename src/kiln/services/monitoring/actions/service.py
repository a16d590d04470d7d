"""Retraining rules' API: create, describe, list, delete, and each rule's firings.

Documents in and out are the ``/kiln/v1/retraining-rules`` shapes (``api/retraining.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kiln.db.retraining import FiringRow, RetrainingRows, RuleRow, RuleTakenError
from kiln.errors import ResourceInUseError, ResourceNotFoundError, ValidationError
from kiln.services.monitoring.actions.decisions import (
    MAX_PREFIX_LENGTH,
    has_train_channel,
    training_job_name,
    training_request,
    version_of,
)
from kiln.services.monitoring.actions.firings import TrainingJobs
from kiln.services.monitoring.actions.rules import NewDataTrigger, RetrainingRule, parse_rule
from kiln.services.monitoring.actions.watcher import Listing


class RetrainingRules:
    """The rules' store behind the API: validates, records, answers."""

    def __init__(
        self,
        rows: RetrainingRows,
        training: TrainingJobs,
        listing: Listing,
        arn: Callable[[str], str],
        now: Callable[[], float],
    ) -> None:
        self._rows = rows
        self._training = training
        self._listing = listing
        self._arn = arn
        self._now = now

    def create(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and store a rule; a data rule counts what its prefix holds now as seen."""
        rule = parse_rule(document, self._now())
        if rule.training_template is not None:
            self._check_template(rule, rule.training_template)
        seen: dict[str, str] = {}
        if isinstance(rule.trigger, NewDataTrigger):
            seen = {o.key: version_of(o) for o in self._listing(rule.trigger.s3_uri)}
        definition = {k: v for k, v in rule.to_document().items() if k != "CreationTime"}
        try:
            self._rows.add_rule(RuleRow(rule.name, rule.kind, definition, rule.creation_time), seen)
        except RuleTakenError:
            raise ResourceInUseError(f"Retraining rule {rule.name!r} already exists") from None
        return {"RuleName": rule.name, "RuleArn": self._arn(rule.name)}

    def _check_template(self, rule: RetrainingRule, template: Mapping[str, Any]) -> None:
        prefix = template.get("TrainingJobName")
        where = "Actions.TrainingJob.Template"
        if not isinstance(prefix, str) or not 1 <= len(prefix) <= MAX_PREFIX_LENGTH:
            raise ValidationError(
                f"{where}.TrainingJobName is the prefix of each job's name "
                f"(<prefix>-YYYYmmdd-HHMMSS-mmm): 1 to {MAX_PREFIX_LENGTH} characters, "
                f"not {prefix!r}"
            )
        is_data = isinstance(rule.trigger, NewDataTrigger)
        if is_data and not has_train_channel(template):
            raise ValidationError(
                f"{where}: a NewData rule points the template's 'train' channel at the watched "
                "prefix, and this template has no 'train' channel with an S3DataSource"
            )
        data = rule.trigger.s3_uri if isinstance(rule.trigger, NewDataTrigger) else None
        name = training_job_name(prefix, datetime.fromtimestamp(self._now(), UTC))
        try:
            self._training.check(training_request(template, name, data))
        except ValidationError as e:
            raise ValidationError(f"{where}: {e.message}") from None

    def describe(self, name: str) -> dict[str, Any]:
        """The rule as created, with its ARN and its last firing's time and status."""
        row = self._row(name)
        rule = rule_of(row)
        answer = {**rule.to_document(), "RuleArn": self._arn(name)}
        firings = self._rows.firings(name)
        if firings:
            answer["LastFiring"] = {
                "FiringId": firings[0].id,
                "TriggerTime": firings[0].trigger_time,
                "Status": firings[0].status,
            }
        return answer

    def list_rules(self) -> dict[str, Any]:
        """Every rule, by name: its trigger kind and creation time."""
        summaries = [
            {"RuleName": r.name, "RuleArn": self._arn(r.name), "TriggerKind": r.kind,
             "CreationTime": r.creation_time}
            for r in self._rows.rules()
        ]  # fmt: skip
        return {"Rules": summaries}

    def delete(self, name: str) -> None:
        """Delete a rule and its firings' records (the jobs they started stay)."""
        if not self._rows.remove_rule(name):
            raise _not_found(name)

    def firings(self, name: str) -> dict[str, Any]:
        """A rule's firings, newest first."""
        self._row(name)
        return {"Firings": [firing_document(f) for f in self._rows.firings(name)]}

    def rules(self) -> list[RetrainingRule]:
        """Every rule, typed (what the watcher and the outcome listener read)."""
        return [rule_of(row) for row in self._rows.rules()]

    def _row(self, name: str) -> RuleRow:
        row = self._rows.rule(name)
        if row is None:
            raise _not_found(name)
        return row


def rule_of(row: RuleRow) -> RetrainingRule:
    """The typed rule a stored definition holds."""
    return parse_rule(row.definition, row.creation_time)


def firing_document(row: FiringRow) -> dict[str, Any]:
    """A firing as the API answers it."""
    return {
        "FiringId": row.id,
        "RuleName": row.rule_name,
        "TriggerTime": row.trigger_time,
        "Trigger": row.plan.get("Trigger"),
        "Status": row.status,
        "Evidence": dict(row.evidence),
        **{key: dict(value) for key, value in row.actions.items()},
    }


def _not_found(name: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"Retraining rule {name!r} does not exist")

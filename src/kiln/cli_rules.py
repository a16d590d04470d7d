"""``kiln monitor rules``: retraining rules from the command line (docs/retraining.md).

    kiln monitor rules create NAME (--schedule S [--metric M --threshold T] [--no-on-violations]
                                    | --s3-uri URI [--min-objects N] [--min-bytes B])
                                   [--webhook URL] [--template FILE]
    kiln monitor rules list | describe NAME | delete NAME | firings NAME

Built by ``rules_app`` from what ``kiln.cli`` shares with every command (its error reporting,
session and table printing), and registered there under ``kiln monitor``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from kiln.errors import ValidationError
from kiln.sdk.retraining import (
    create_retraining_rule,
    delete_retraining_rule,
    describe_retraining_rule,
    list_retraining_firings,
    list_retraining_rules,
    on_new_data,
    on_schedule,
)
from kiln.sdk.session import Session

Command = Callable[..., None]
PrintRows = Callable[[tuple[str, ...], Sequence[tuple[str, ...]]], None]


def rules_app(
    reports_errors: Callable[[Command], Command],
    session: Callable[[], Session],
    print_rows: PrintRows,
) -> typer.Typer:
    """The ``rules`` command group."""
    rules = typer.Typer(no_args_is_help=True, help="Retrain or call a webhook on drift or data.")

    @rules.command("create")
    @reports_errors
    def create(
        name: Annotated[str, typer.Argument(help="Rule name.")],
        schedule: Annotated[
            str | None, typer.Option(help="Fire on this schedule's outcome.")
        ] = None,
        on_violations: Annotated[bool, typer.Option(help="Fire on violations.")] = True,
        metric: Annotated[str | None, typer.Option(help="e.g. kiln_feature_psi.")] = None,
        threshold: Annotated[float | None, typer.Option(help="Fire above this value.")] = None,
        s3_uri: Annotated[str | None, typer.Option(help="Fire on new data under it.")] = None,
        min_objects: Annotated[int | None, typer.Option(help="New objects needed.")] = None,
        min_bytes: Annotated[int | None, typer.Option(help="New bytes needed.")] = None,
        webhook: Annotated[str | None, typer.Option(help="POST each firing here.")] = None,
        template: Annotated[
            Path | None,
            typer.Option(
                exists=True, dir_okay=False, help="CreateTrainingJob request (JSON/YAML)."
            ),
        ] = None,
    ) -> None:
        """Create a rule: a trigger (--schedule or --s3-uri) and actions (--webhook, --template)."""
        if (schedule is None) == (s3_uri is None):
            raise ValidationError("Give exactly one of --schedule or --s3-uri")
        trigger = (
            on_schedule(schedule, on_violations=on_violations, metric=metric, threshold=threshold)
            if schedule is not None
            else on_new_data(str(s3_uri), min_objects=min_objects, min_bytes=min_bytes)
        )
        arn = create_retraining_rule(
            name, trigger, webhook_url=webhook,
            training_job_template=None if template is None else _request(template),
            session=session(),
        )  # fmt: skip
        typer.echo(arn)

    @rules.command("list")
    @reports_errors
    def list_rules() -> None:
        """List the rules."""
        rows = [
            (r["RuleName"], r["TriggerKind"], _when(r["CreationTime"]))
            for r in list_retraining_rules(session())
        ]
        print_rows(("rule", "trigger", "created"), rows)

    @rules.command("describe")
    @reports_errors
    def describe(name: Annotated[str, typer.Argument(help="Rule name.")]) -> None:
        """Print the rule as JSON."""
        typer.echo(json.dumps(describe_retraining_rule(name, session()), indent=2))

    @rules.command("delete")
    @reports_errors
    def delete(name: Annotated[str, typer.Argument(help="Rule name.")]) -> None:
        """Delete a rule (the training jobs it started stay)."""
        delete_retraining_rule(name, session())
        typer.echo(f"Deleted retraining rule {name}", err=True)

    @rules.command("firings")
    @reports_errors
    def firings(name: Annotated[str, typer.Argument(help="Rule name.")]) -> None:
        """List a rule's firings, newest first: status, training job, webhook."""
        rows = [_firing_row(f) for f in list_retraining_firings(name, session())]
        print_rows(("id", "fired", "status", "evidence", "training job", "webhook"), rows)

    return rules


def _firing_row(firing: dict[str, Any]) -> tuple[str, ...]:
    job = firing.get("TrainingJob", {})
    hook = firing.get("Webhook", {})
    return (
        str(firing["FiringId"]),
        _when(firing["TriggerTime"]),
        firing["Status"],
        _evidence(firing["Evidence"]),
        f"{job['TrainingJobName']} ({job['Status']})" if job else "–",
        f"{hook['Status']} after {len(hook['Attempts'])} tries" if hook else "–",
    )


def _evidence(evidence: dict[str, Any]) -> str:
    if "NewObjectCount" in evidence:
        return f"{evidence['NewObjectCount']} new objects, {evidence['NewBytes']} bytes"
    metrics = evidence.get("DriftMetrics", [])
    return f"{evidence.get('ViolationCount', 0)} violations, {len(metrics)} metrics past"


def _when(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds).astimezone():%Y-%m-%d %H:%M:%S}"


def _request(path: Path) -> dict[str, Any]:
    try:
        request = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValidationError(f"{path}: not JSON or YAML ({e})") from None
    if not isinstance(request, dict):
        raise ValidationError(f"{path}: expected a CreateTrainingJob request")
    return request

"""Retraining rules through a real server: webhooks on monitoring outcomes, retries, and a real
training job started by new data under a watched prefix.

Until the monitor scheduler (issue 10, part B2) is merged, the tests hand ``MonitoringOutcome``s
to the server's own listener (``KilnServer.retraining_listener.outcome``), the call the
scheduler makes after each execution. The webhook receiver is a real HTTP server on loopback.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from conftest import (
    Kiln,
    make_settings,
    model_files,
    script_job,
    start_kiln,
    upload_source,
    wait_until,
)
from kiln.cli import app
from kiln.sdk import Session
from kiln.sdk.retraining import (
    create_retraining_rule,
    delete_retraining_rule,
    describe_retraining_rule,
    list_retraining_firings,
    list_retraining_rules,
    on_new_data,
    on_schedule,
)
from kiln.sdk.signing import call_native
from kiln.services.monitoring.baselines.drift import FeatureDrift
from kiln.services.monitoring.baselines.violations import CheckType, Violation
from kiln.services.monitoring.outcomes import ExecutionStatus, MonitoringOutcome

pytestmark = pytest.mark.slow

# Lists what the train channel holds into the model, so the test can see the data it read.
TRAIN_SCRIPT = """
import json, os
root = os.environ["SM_CHANNEL_TRAIN"]
files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as f:
    json.dump(files, f)
"""


class Receiver:
    """A webhook receiver on 127.0.0.1: records every POST; ``/fail`` answers 500."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(500 if self.path.startswith("/fail") else 204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """The bodies POSTed to ``path``."""
        return [body for p, body in self.posts if p == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    """One server: the data watcher ticks every 0.2 s; webhooks try 3 times, 50 ms apart."""
    home: Path = tmp_path_factory.mktemp("retraining")
    settings = make_settings(
        home / "kiln-home",
        f"sqlite:///{home / 'kiln.db'}",
        KILN_DATA_WATCH_SECONDS="0.2",
        KILN_WEBHOOK_ATTEMPTS="3",
        KILN_WEBHOOK_BACKOFF_SECONDS="0.05",
    )
    with start_kiln(settings) as server:
        yield server


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """The module's webhook receiver."""
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(scope="module")
def source(kiln: Kiln) -> str:
    """The training script's source tarball."""
    return upload_source(kiln, {"train.py": TRAIN_SCRIPT})


def _outcome(schedule: str, status: ExecutionStatus, psi: float = 0.0) -> MonitoringOutcome:
    return MonitoringOutcome(
        schedule_name=schedule,
        endpoint_name="churn",
        status=status,
        scheduled_time=datetime.now(UTC),
        violations=(Violation("age", CheckType.BASELINE_DRIFT, "age drifted: 0.4 > 0.1"),),
        drift=(FeatureDrift("age", 0.4, psi, 0.3, 0.2),),
        report_uri="s3://monitoring/churn/report",
    )


def _firings(name: str, session: Session, count: int = 1) -> list[dict[str, Any]]:
    """The rule's firings once ``count`` of them are done (not InProgress)."""
    found: list[dict[str, Any]] = []

    def done() -> bool:
        found[:] = list_retraining_firings(name, session)
        return len(found) >= count and all(f["Status"] != "InProgress" for f in found)

    wait_until(done, f"{count} finished firing(s) of {name}", timeout=30)
    return found


def test_violations_post_the_webhook_and_start_the_template(
    kiln: Kiln, session: Session, receiver: Receiver, source: str
) -> None:
    schedule = f"s-{uuid.uuid4().hex[:6]}"
    template = script_job("drift-retrain", source, channels={"train": "s3://data/drift/"})
    create_retraining_rule(
        "on-violations", on_schedule(schedule), webhook_url=receiver.url + "/hook",
        training_job_template=template, session=session,
    )  # fmt: skip
    kiln.thread.kiln.monitoring.retraining_listener.outcome(
        _outcome(schedule, ExecutionStatus.COMPLETED_WITH_VIOLATIONS)
    )
    [firing] = _firings("on-violations", session)
    assert firing["Status"] == "Completed"
    assert firing["Webhook"]["Status"] == "Delivered"
    job = firing["TrainingJob"]["TrainingJobName"]
    assert job.startswith("drift-retrain-")
    [body] = receiver.bodies("/hook")
    assert body["RuleName"] == "on-violations"
    assert body["TrainingJob"] == {"TrainingJobName": job, "Status": "Started"}
    assert body["Evidence"]["Violations"][0]["feature_name"] == "age"
    tags = kiln.sagemaker.list_tags(ResourceArn=kiln.settings.arn("training-job", job))["Tags"]
    assert {"Key": "kiln:retraining-rule", "Value": "on-violations"} in tags


def test_psi_under_the_threshold_fires_nothing_and_over_it_fires(
    kiln: Kiln, session: Session, receiver: Receiver
) -> None:
    schedule = f"s-{uuid.uuid4().hex[:6]}"
    trigger = on_schedule(schedule, on_violations=False, metric="kiln_feature_psi", threshold=0.2)
    create_retraining_rule("on-psi", trigger, webhook_url=receiver.url + "/psi", session=session)
    listener = kiln.thread.kiln.monitoring.retraining_listener
    assert listener.fire_for(_outcome(schedule, ExecutionStatus.COMPLETED, psi=0.1)) == []
    listener.outcome(_outcome(schedule, ExecutionStatus.COMPLETED, psi=0.3))
    [firing] = _firings("on-psi", session)
    assert firing["Evidence"]["DriftMetrics"] == [
        {"FeatureName": "age", "Metric": "kiln_feature_psi", "Value": 0.3, "Threshold": 0.2}
    ]


def test_a_failing_webhook_is_retried_then_recorded_failed(
    kiln: Kiln, session: Session, receiver: Receiver
) -> None:
    schedule = f"s-{uuid.uuid4().hex[:6]}"
    create_retraining_rule(
        "failing-hook", on_schedule(schedule), webhook_url=receiver.url + "/fail",
        session=session,
    )  # fmt: skip
    kiln.thread.kiln.monitoring.retraining_listener.outcome(
        _outcome(schedule, ExecutionStatus.COMPLETED_WITH_VIOLATIONS)
    )
    [firing] = _firings("failing-hook", session)
    assert firing["Status"] == "Failed"
    assert firing["Webhook"]["Status"] == "Failed"
    assert [a["StatusCode"] for a in firing["Webhook"]["Attempts"]] == [500, 500, 500]
    assert len(receiver.bodies("/fail")) == 3


def test_new_objects_under_a_watched_prefix_start_a_training_job(
    kiln: Kiln, session: Session, source: str
) -> None:
    kiln.thread.kiln.objects.ensure_bucket("data")
    kiln.s3.put_object(Bucket="data", Key="stream/old.csv", Body=b"1,2\n")
    template = script_job("fresh-data", source, channels={"train": "s3://data/elsewhere/"})
    create_retraining_rule(
        "on-new-data", on_new_data("s3://data/stream/", min_objects=2),
        training_job_template=template, session=session,
    )  # fmt: skip
    kiln.s3.put_object(Bucket="data", Key="stream/day-1.csv", Body=b"3,4\n")
    kiln.s3.put_object(Bucket="data", Key="stream/day-2.csv", Body=b"5,6\n")
    [firing] = _firings("on-new-data", session)
    evidence = firing["Evidence"]
    assert (evidence["NewObjectCount"], [o["Key"] for o in evidence["NewObjects"]]) == (
        2,
        ["stream/day-1.csv", "stream/day-2.csv"],
    )  # fmt: skip: old.csv was there before the rule
    job = kiln.wait(firing["TrainingJob"]["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    seen = json.loads(model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])["seen.json"])
    assert seen == ["day-1.csv", "day-2.csv", "old.csv"]  # the whole prefix, newest data in


def test_rules_are_listed_described_and_deleted(kiln: Kiln, session: Session) -> None:
    create_retraining_rule(
        "short-lived", on_schedule("any"), webhook_url="http://127.0.0.1:9/x", session=session
    )
    assert "short-lived" in [r["RuleName"] for r in list_retraining_rules(session)]
    rule = describe_retraining_rule("short-lived", session)
    assert rule["Trigger"] == {"MonitoringSchedule": {"ScheduleName": "any", "OnViolations": True}}
    delete_retraining_rule("short-lived", session)
    with pytest.raises(ClientError, match="ResourceNotFound"):
        describe_retraining_rule("short-lived", session)


def test_a_taken_name_is_resource_in_use(kiln: Kiln, session: Session) -> None:
    create_retraining_rule("taken", on_schedule("x"), webhook_url="http://h/", session=session)
    with pytest.raises(ClientError, match="ResourceInUse"):
        create_retraining_rule("taken", on_schedule("x"), webhook_url="http://h/", session=session)


def test_a_template_botocore_refuses_is_a_validation_exception(
    kiln: Kiln, session: Session
) -> None:
    template = script_job("bad", "s3://code/x.tar.gz", channels={"train": "s3://data/t/"})
    template["AlgorithmSpecification"]["TrainingInputMode"] = "Sideways"
    with pytest.raises(ClientError, match="ValidationException.*Sideways"):
        create_retraining_rule(
            "bad-template", on_schedule("x"), training_job_template=template, session=session
        )
    assert "bad-template" not in [r["RuleName"] for r in list_retraining_rules(session)]


def test_unsigned_requests_are_refused_by_the_gate(kiln: Kiln) -> None:
    request = urllib.request.Request(kiln.endpoint + "/kiln/v1/retraining-rules")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 403


def test_the_cli_lists_rules_and_firings(session: Session, cli_env: dict[str, str]) -> None:
    call_native(session.settings, "POST", "/kiln/v1/retraining-rules", {
        "RuleName": "cli-rule", "Trigger": {"NewData": {"S3Uri": "s3://data/cli/"}},
        "Actions": {"Webhook": {"Url": "http://127.0.0.1:9/"}},
    })  # fmt: skip

    listed = CliRunner().invoke(app, ["monitor", "rules", "list"], env=cli_env)
    assert listed.exit_code == 0, listed.output
    assert "cli-rule\tNewData" in listed.output
    firings = CliRunner().invoke(app, ["monitor", "rules", "firings", "cli-rule"], env=cli_env)
    assert firings.exit_code == 0, firings.output

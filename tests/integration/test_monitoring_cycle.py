"""The seed's cycle end to end on one real server: a training job writes its baseline, two
endpoints capture traffic, one-time monitoring schedules compare each window with the baseline,
and the drifted window's violations post a webhook and start a retraining job.

Everything is Kiln's own and real (server, replicas, store, boto3, a webhook receiver on
127.0.0.1); nothing is mocked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from conftest import (
    ROLE,
    Kiln,
    make_settings,
    script_job,
    sklearn_model_files,
    start_kiln,
    upload_model,
    upload_source,
    wait_in_service,
    wait_until,
)
from kiln import Session
from kiln.sdk.retraining import create_retraining_rule, list_retraining_firings, on_schedule

pytestmark = pytest.mark.slow

TRAIN = """
import os
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("trained")
"""
BASELINE_JOB = "cycle-baseline"
STEADY, DRIFTED = "steady", "drifted"
SHIFTED = (3, 7)  # columns of the inputs (features _c4 and _c8 of the labelled training file)
OUTPUT = "s3://monitoring/reports"
ROWS = 300


class Webhook:
    """A real HTTP receiver on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/drift"


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    """The receiver the retraining rule posts to."""
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory, webhook: Webhook) -> Iterator[Kiln]:
    """One server (captures flushed every second); a completed training job with its baseline;
    endpoints ``steady`` and ``drifted`` capturing their inputs; a retraining rule on the
    drifted endpoint's schedule."""
    home: Path = tmp_path_factory.mktemp("cycle")
    cancer = load_breast_cancer()
    data = home / "train.csv"
    np.savetxt(data, np.column_stack([cancer.target, cancer.data]), delimiter=",", fmt="%.10g")
    settings = make_settings(
        home / "kiln-home", f"sqlite:///{home / 'kiln.db'}", KILN_CAPTURE_FLUSH_SECONDS="1"
    )
    with start_kiln(settings) as server:
        for bucket in ("data", "capture", "monitoring"):
            server.thread.kiln.objects.ensure_bucket(bucket)
        server.s3.put_object(Bucket="data", Key="cancer/train.csv", Body=data.read_bytes())
        source = upload_source(server, {"train.py": TRAIN})
        job = script_job(BASELINE_JOB, source, channels={"train": "s3://data/cancer/"})
        server.sagemaker.create_training_job(**job)
        model_uri = upload_model(server, sklearn_model_files())
        for endpoint in (STEADY, DRIFTED):
            _deploy_with_capture(server, endpoint, model_uri)
        assert server.wait(BASELINE_JOB)["TrainingJobStatus"] == "Completed"
        wait_until(lambda: _tags(server).get("kiln:baseline-status") == "Completed", "baseline")
        for endpoint in (STEADY, DRIFTED):
            wait_in_service(server, endpoint)
        create_retraining_rule(
            "cycle-retrain",
            on_schedule(f"{DRIFTED}-dq"),
            webhook_url=webhook.url,
            training_job_template={**job, "TrainingJobName": "cycle-retrained"},
            session=Session(replace(server.settings, endpoint=server.endpoint)),
        )
        yield server


def _deploy_with_capture(kiln: Kiln, endpoint: str, model_uri: str) -> None:
    sm = kiln.sagemaker
    container = {"Image": "kiln/python", "ModelDataUrl": model_uri}
    sm.create_model(ModelName=endpoint, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sm.create_endpoint_config(
        EndpointConfigName=endpoint,
        ProductionVariants=[
            {"VariantName": "main", "ModelName": endpoint, "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}
        ],
        DataCaptureConfig={
            "EnableCapture": True, "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://capture/data", "CaptureOptions": [{"CaptureMode": "Input"}],
        },
    )  # fmt: skip
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)


def _tags(kiln: Kiln) -> dict[str, str]:
    arn = kiln.sagemaker.describe_training_job(TrainingJobName=BASELINE_JOB)["TrainingJobArn"]
    return {t["Key"]: t["Value"] for t in kiln.sagemaker.list_tags(ResourceArn=arn)["Tags"]}


def _read(kiln: Kiln, uri: str) -> Any:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(kiln.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _send(kiln: Kiln, endpoint: str, rows: np.ndarray) -> None:
    runtime = kiln.client("sagemaker-runtime")
    for chunk in np.array_split(rows, 30):  # several CSV rows per request, as batch clients send
        body = "\n".join(",".join(f"{v:.10g}" for v in row) for row in chunk)
        runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv")


def _monitor_now(kiln: Kiln, endpoint: str) -> dict[str, Any]:
    """A one-time (NOW) data-quality run over the last hour against the training baseline; its
    finished execution."""
    tags, sm = _tags(kiln), kiln.sagemaker
    schedule = f"{endpoint}-dq"
    sm.create_data_quality_job_definition(
        JobDefinitionName=schedule,
        DataQualityAppSpecification={"ImageUri": "kiln/model-monitor"},
        DataQualityBaselineConfig={
            "StatisticsResource": {"S3Uri": tags["kiln:baseline-statistics"]},
            "ConstraintsResource": {"S3Uri": tags["kiln:baseline-constraints"]},
        },
        DataQualityJobInput={
            "EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}
        },
        DataQualityJobOutputConfig={"MonitoringOutputs": [
            {"S3Output": {"S3Uri": OUTPUT, "LocalPath": "/opt/ml/processing/output"}}]},
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                        "VolumeSizeInGB": 1}},
        RoleArn=ROLE,
    )  # fmt: skip
    sm.create_monitoring_schedule(
        MonitoringScheduleName=schedule,
        MonitoringScheduleConfig={
            "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                               "DataAnalysisEndTime": "PT0H"},
            "MonitoringJobDefinitionName": schedule,
            "MonitoringType": "DataQuality",
        },
    )  # fmt: skip

    def finished() -> dict[str, Any] | None:
        runs = sm.list_monitoring_executions(MonitoringScheduleName=schedule)
        done = [
            r for r in runs["MonitoringExecutionSummaries"]
            if r["MonitoringExecutionStatus"] not in ("Pending", "InProgress")
        ]  # fmt: skip
        return done[0] if done else None

    wait_until(finished, f"an execution of {schedule}", timeout=60)
    run = finished()
    assert run is not None
    return run


def _report(kiln: Kiln, run: dict[str, Any], name: str) -> Any:
    """One report file of an execution, found as the SDK finds it (DescribeProcessingJob)."""
    job = run["ProcessingJobArn"].split("/")[-1]
    answer = kiln.sagemaker.describe_processing_job(ProcessingJobName=job)
    folder = answer["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    return _read(kiln, f"{folder}/{name}")


def _violations(kiln: Kiln, run: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_report(kiln, run, "constraint_violations.json")["violations"])


# The members SageMaker's "Schema for Statistics" and "Schema for Violations" document.
NUMERICAL = {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
KLL = {"buckets", "sketch"}
VIOLATION = {"feature_name", "constraint_check_type", "description"}


def test_the_training_job_wrote_its_baseline_without_the_label(kiln: Kiln) -> None:
    statistics = _read(kiln, _tags(kiln)["kiln:baseline-statistics"])
    assert statistics["dataset"]["item_count"] == 569
    names = [f["name"] for f in statistics["features"]]
    assert names == [f"_c{i}" for i in range(1, 31)]  # _c0, the label, left out


def test_traffic_like_the_training_data_completes_without_drift(kiln: Kiln) -> None:
    rows = np.random.default_rng(1).choice(load_breast_cancer().data, ROWS)
    _send(kiln, STEADY, rows)
    run = _monitor_now(kiln, STEADY)
    assert run["MonitoringExecutionStatus"] == "Completed", run.get("FailureReason")


@pytest.fixture(scope="module")
def drifted_run(kiln: Kiln) -> dict[str, Any]:
    """Traffic with two features shifted by one standard deviation, monitored once."""
    data = load_breast_cancer().data
    rows = np.random.default_rng(2).choice(data, ROWS)
    for column in SHIFTED:
        rows[:, column] += data[:, column].std()
    _send(kiln, DRIFTED, rows)
    return _monitor_now(kiln, DRIFTED)


def test_two_features_shifted_by_one_sd_are_exactly_the_drift_violations(
    kiln: Kiln, drifted_run: dict[str, Any]
) -> None:
    assert drifted_run["MonitoringExecutionStatus"] == "CompletedWithViolations"
    drifted = {
        v["feature_name"]
        for v in _violations(kiln, drifted_run)
        if v["constraint_check_type"] == "baseline_drift_check"
    }
    assert drifted == {f"_c{column + 1}" for column in SHIFTED}


def test_the_reports_have_the_shapes_sagemaker_documents(
    kiln: Kiln, drifted_run: dict[str, Any]
) -> None:
    statistics = _report(kiln, drifted_run, "statistics.json")
    assert {"version", "dataset", "features"} <= statistics.keys()
    assert statistics["dataset"]["item_count"] == ROWS
    for feature in statistics["features"]:
        assert feature["inferred_type"] == "Fractional"
        numerical = feature["numerical_statistics"]
        assert NUMERICAL <= numerical.keys()
        assert numerical["common"].keys() == {"num_present", "num_missing"}
        kll = numerical["distribution"]["kll"]
        assert kll.keys() == KLL
        assert all(b.keys() == {"lower_bound", "upper_bound", "count"} for b in kll["buckets"])
        assert kll["sketch"]["parameters"].keys() == {"c", "k"}
    assert all(v.keys() == VIOLATION for v in _violations(kiln, drifted_run))


def test_the_violations_post_the_webhook_and_start_a_retraining_job(
    kiln: Kiln, webhook: Webhook, drifted_run: dict[str, Any]
) -> None:
    session = Session(replace(kiln.settings, endpoint=kiln.endpoint))
    wait_until(lambda: webhook.bodies, "the webhook's POST", timeout=60)
    assert webhook.bodies[0]["RuleName"] == "cycle-retrain"
    [firing] = list_retraining_firings("cycle-retrain", session)
    job = firing["TrainingJob"]["TrainingJobName"]
    assert job.startswith("cycle-retrained-")
    assert kiln.wait(job)["TrainingJobStatus"] == "Completed"

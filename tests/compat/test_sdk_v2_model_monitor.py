"""The sagemaker SDK v2's DefaultModelMonitor, unchanged, in its own virtualenv, against Kiln.

The test deploys an endpoint that captures its inputs (boto3), writes a baseline of the
breast-cancer features with Kiln's analyzer and uploads it; the script then drives
``DefaultModelMonitor`` through an hourly schedule's life and a one-time run over drifted
traffic whose results it reads back (``scripts/model_monitor_v2.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from conftest import ROLE, sklearn_model_files, upload_model, wait_in_service
from kiln.services.monitoring.baselines import DatasetFormat, DatasetKind
from kiln.services.monitoring.baselining.suggest import suggest_baseline

from .conftest import Clients, running_clients
from .harness import SCRIPTS, ClientVenv

ENDPOINT = "sdk-monitored"
BUCKET = "monitoring"
OUTPUT = f"s3://{BUCKET}/reports"
SHIFTED = 3  # the one feature (_c3) the traffic moves by one standard deviation
ROWS = 300


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clients]:
    """A Kiln flushing captures every second, with ``ENDPOINT`` capturing its inputs in service."""
    with running_clients(tmp_path_factory.mktemp("monitor"), KILN_CAPTURE_FLUSH_SECONDS="1") as c:
        kiln, sm = c.kiln, c.kiln.sagemaker
        for bucket in (BUCKET, "capture"):
            kiln.thread.kiln.objects.ensure_bucket(bucket)
        model_uri = upload_model(kiln, sklearn_model_files())
        container = {"Image": "kiln/python", "ModelDataUrl": model_uri}
        sm.create_model(ModelName=ENDPOINT, ExecutionRoleArn=ROLE, PrimaryContainer=container)
        sm.create_endpoint_config(
            EndpointConfigName=ENDPOINT,
            ProductionVariants=[
                {"VariantName": "main", "ModelName": ENDPOINT, "InitialInstanceCount": 1,
                 "InstanceType": "ml.m5.large"}
            ],
            DataCaptureConfig={
                "EnableCapture": True, "InitialSamplingPercentage": 100,
                "DestinationS3Uri": "s3://capture/data",
                "CaptureOptions": [{"CaptureMode": "Input"}],
            },
        )  # fmt: skip
        sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
        assert wait_in_service(kiln, ENDPOINT)["EndpointStatus"] == "InService"
        yield c


def _baseline_uris(clients: Clients) -> tuple[str, str]:
    """Kiln's baseline of the breast-cancer features (headerless CSV), uploaded; its two URIs."""
    data = clients.workdir / "features.csv"
    np.savetxt(data, load_breast_cancer().data, delimiter=",", fmt="%.10g")
    baseline = suggest_baseline([data], DatasetFormat(DatasetKind.CSV, header=False))
    uris = []
    for name, body in baseline.files().items():
        clients.kiln.s3.put_object(Bucket=BUCKET, Key=f"baseline/{name}", Body=body)
        uris.append(f"s3://{BUCKET}/baseline/{name}")
    statistics, constraints = uris
    return statistics, constraints


def _drifted_rows(folder: Path) -> Path:
    """ROWS rows drawn from the training data, feature SHIFTED moved by one standard deviation."""
    data = load_breast_cancer().data
    rows = np.random.default_rng(3).choice(data, ROWS)
    rows[:, SHIFTED] += data[:, SHIFTED].std()
    path = folder / "drifted.csv"
    np.savetxt(path, rows, delimiter=",", fmt="%.10g")
    return path


@pytest.fixture(scope="module")
def result(monitored: Clients, sdk_v2: ClientVenv) -> dict[str, Any]:
    """The script's RESULT: what the unchanged SDK saw at each step."""
    statistics, constraints = _baseline_uris(monitored)
    rows = _drifted_rows(monitored.workdir)
    argv = [sdk_v2.python, SCRIPTS / "model_monitor_v2.py", ENDPOINT, ROLE, statistics,
            constraints, OUTPUT, rows]  # fmt: skip
    answer, output = monitored.run_script(argv, timeout=300)
    return {**answer, "output": output}


def test_an_hourly_schedule_is_created_with_the_baseline_files_and_described(
    result: dict[str, Any],
) -> None:
    hourly = result["hourly"]
    assert hourly["status"] == "Scheduled"
    assert hourly["expression"] == "cron(0 * ? * * *)"
    assert (hourly["type"], hourly["endpoint"]) == ("DataQuality", ENDPOINT)
    assert hourly["definition"] == hourly["sdk_definition"]
    assert hourly["input_endpoint"] == ENDPOINT
    assert hourly["baseline"] == {
        "StatisticsResource": {"S3Uri": f"s3://{BUCKET}/baseline/statistics.json"},
        "ConstraintsResource": {"S3Uri": f"s3://{BUCKET}/baseline/constraints.json"},
    }
    assert hourly["executions"] == 0


def test_the_schedule_stops_starts_and_deletes_with_its_job_definition(
    result: dict[str, Any],
) -> None:
    hourly = result["hourly"]
    assert (hourly["stopped"], hourly["started"]) == ("Stopped", "Scheduled")
    assert hourly["schedule_gone"]
    assert hourly["definition_gone"]


def test_a_one_time_run_over_drifted_traffic_completes_with_violations(
    result: dict[str, Any],
) -> None:
    once = result["once"]
    assert once["job_status"] == "Completed"
    assert once["exit_message"].startswith("CompletedWithViolations")
    assert once["output"].startswith(f"{OUTPUT}/{ENDPOINT}/")


def test_latest_statistics_and_violations_are_the_executions_files(
    result: dict[str, Any],
) -> None:
    statistics = result["statistics"]
    assert statistics["dataset"]["item_count"] == result["sent"] == ROWS
    assert [f["name"] for f in statistics["features"]] == [f"_c{i}" for i in range(30)]
    drifted = {
        v["feature_name"]
        for v in result["violations"]["violations"]
        if v["constraint_check_type"] == "baseline_drift_check"
    }
    assert drifted == {f"_c{SHIFTED}"}


def test_the_latest_executions_log_is_printed_by_the_sdk(result: dict[str, Any]) -> None:
    logs = result["output"].split("get_latest_execution_logs()", 1)[1]
    assert f"Analyzed {ROWS} records, 30 features" in logs

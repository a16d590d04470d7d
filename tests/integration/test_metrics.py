"""Metrics through a real server: invocations counted per variant, read back through real
``cloudwatch`` clients and ``/metrics``; users' own metrics; CloudWatch's errors; a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from botocore.exceptions import ClientError

from conftest import (
    Kiln,
    deploy,
    script_job,
    signed_headers,
    sklearn_model_files,
    start_kiln,
    upload_model,
    upload_source,
    wait_until,
)
from kiln.config import Settings
from kiln.sdk import Session
from kiln.sdk.metrics import endpoint_metrics
from kiln.sdk.signing import call_native

ROW = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095,
       0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38,
       17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]  # fmt: skip
BODY = ("[[" + ",".join(map(str, ROW)) + "]]").encode()


def _window() -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {"StartTime": now - timedelta(minutes=10), "EndTime": now + timedelta(minutes=2)}


def _invocations(kiln: Kiln, endpoint: str, variant: str) -> float:
    answer = kiln.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": variant},
        ],
        Period=60,
        Statistics=["Sum"],
        **_window(),
    )
    return float(sum(point["Sum"] for point in answer["Datapoints"]))


def _scrape(kiln: Kiln) -> str:
    settings = replace(kiln.settings, endpoint=kiln.endpoint)
    key = call_native(
        settings, "POST", "/kiln/v1/keys", {"User": "scraper", "Policy": "viewer", "Kind": "bearer"}
    )["ApiKey"]
    answer = httpx.get(f"{kiln.endpoint}/metrics", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    return answer.text


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


@pytest.mark.slow
def test_invocations_per_variant_are_counted_in_cloudwatch_and_prometheus(
    kiln: Kiln, session: Session, cli_env: dict[str, str]
) -> None:
    model = upload_model(kiln, sklearn_model_files())
    deploy(kiln, "m-ab", {"A": (model, 1, 1.0), "B": (model, 1, 1.0)})
    runtime = kiln.client("sagemaker-runtime")
    sent = {"A": 7, "B": 4}
    for variant, count in sent.items():
        for _ in range(count):
            runtime.invoke_endpoint(
                EndpointName="m-ab", Body=BODY, ContentType="application/json",
                TargetVariant=variant,
            )  # fmt: skip
    # The data plane counts an invocation just after its answer is sent: poll, do not race.
    wait_until(
        lambda: {v: _invocations(kiln, "m-ab", v) for v in sent} == {"A": 7.0, "B": 4.0},
        "every invocation counted",
        10,
    )
    text = _scrape(kiln)
    for variant, count in sent.items():
        assert f'kiln_invocations_total{{endpoint="m-ab",variant="{variant}"}} {count}.0' in text
        assert f'kiln_endpoint_instances{{endpoint="m-ab",variant="{variant}"}} 1.0' in text
        assert (
            f'kiln_model_latency_seconds_count{{endpoint="m-ab",variant="{variant}"}} {count}.0'
            in text
        )
    assert "process_cpu_seconds_total" in text
    read = {v.variant: v for v in endpoint_metrics("m-ab", session, minutes=5)}
    assert {name: v.invocations_per_minute * 5 for name, v in read.items()} == {"A": 7, "B": 4}
    assert read["A"].instances == 1
    assert read["A"].latency_p99_ms is not None
    shown = subprocess.run(
        [sys.executable, "-m", "kiln.cli", "endpoints", "metrics", "m-ab", "--once"],
        env={**os.environ, **cli_env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in shown.stdout.splitlines()}
    # not a terminal: tab-separated rows of variant, instances, invocations/min, …
    assert rows["A"][1:3] == ["1", "1.4"]
    assert rows["B"][1:3] == ["1", "0.8"]


@pytest.mark.slow
def test_model_errors_count_as_4xx_and_model_errors(kiln: Kiln) -> None:
    deploy(kiln, "m-err", {"AllTraffic": (upload_model(kiln, sklearn_model_files()), 1, 1.0)})
    runtime = kiln.client("sagemaker-runtime")
    for _ in range(3):
        with pytest.raises(ClientError):
            runtime.invoke_endpoint(EndpointName="m-err", Body=b"<x/>", ContentType="text/xml")
    dimensions = [
        {"Name": "EndpointName", "Value": "m-err"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    cw = kiln.client("cloudwatch")
    queries = [
        {"Id": name.lower(), "MetricStat": {
            "Metric": {"Namespace": "AWS/SageMaker", "MetricName": name, "Dimensions": dimensions},
            "Period": 60, "Stat": "Sum"}}
        for name in ("Invocation4XXErrors", "InvocationModelErrors", "Invocation5XXErrors")
    ]  # fmt: skip
    results = cw.get_metric_data(MetricDataQueries=queries, **_window())["MetricDataResults"]
    assert {r["Id"]: sum(r["Values"]) for r in results} == {
        "invocation4xxerrors": 3.0,
        "invocationmodelerrors": 3.0,
        "invocation5xxerrors": 0.0,
    }


def test_put_metric_data_is_read_back_by_get_metric_data_and_list_metrics(kiln: Kiln) -> None:
    cw = kiln.client("cloudwatch")
    dims = [{"Name": "Model", "Value": "m1"}]
    cw.put_metric_data(
        Namespace="MyApp",
        MetricData=[
            {"MetricName": "Latency", "Dimensions": dims, "Value": 10.0, "Unit": "Milliseconds"},
            {"MetricName": "Latency", "Dimensions": dims, "Values": [20.0, 30.0],
             "Counts": [1.0, 2.0], "Unit": "Milliseconds"},
        ],
    )  # fmt: skip
    stat = {"Metric": {"Namespace": "MyApp", "MetricName": "Latency", "Dimensions": dims},
            "Period": 300}  # fmt: skip
    results = cw.get_metric_data(
        MetricDataQueries=[
            {"Id": "total", "MetricStat": {**stat, "Stat": "Sum"}},
            {"Id": "count", "MetricStat": {**stat, "Stat": "SampleCount"}},
            {"Id": "top", "MetricStat": {**stat, "Stat": "Maximum"}},
        ],
        **_window(),
    )["MetricDataResults"]
    # 10 + 20 + 30 × 2
    assert {r["Id"]: r["Values"] for r in results} == {
        "total": [90.0],
        "count": [4.0],
        "top": [30.0],
    }
    listed = cw.list_metrics(Namespace="MyApp")["Metrics"]
    assert listed == [{"Namespace": "MyApp", "MetricName": "Latency", "Dimensions": dims}]


def test_percentiles_come_back_as_extended_statistics(kiln: Kiln) -> None:
    cw = kiln.client("cloudwatch")
    cw.put_metric_data(
        Namespace="MyApp",
        MetricData=[{"MetricName": "Score", "Values": [float(v) for v in range(1, 101)]}],
    )
    answer = cw.get_metric_statistics(
        Namespace="MyApp", MetricName="Score", Period=3600, ExtendedStatistics=["p50", "p99"],
        **_window(),
    )  # fmt: skip
    [point] = answer["Datapoints"]
    assert point["ExtendedStatistics"]["p50"] == pytest.approx(50, rel=0.03)
    assert point["ExtendedStatistics"]["p99"] == pytest.approx(99, rel=0.03)


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"Period": 45, "Statistics": ["Sum"]}, "InvalidParameterValue"),
        # two days by the minute: 2,880 points
        ({"Period": 60, "Statistics": ["Sum"],
          "StartTime": datetime.now(UTC) - timedelta(days=2)}, "InvalidParameterCombination"),
        ({"Period": 60, "Statistics": ["Sum"], "ExtendedStatistics": ["p99"]},
         "InvalidParameterCombination"),
        ({"Period": 60}, "MissingParameter"),
        ({"Period": 60, "ExtendedStatistics": ["median"]}, "InvalidParameterValue"),
    ],
)  # fmt: skip
def test_bad_statistics_requests_get_cloudwatchs_errors(
    kiln: Kiln, request_: dict[str, Any], code: str
) -> None:
    with pytest.raises(ClientError) as error:
        kiln.client("cloudwatch").get_metric_statistics(
            Namespace="MyApp", MetricName="Score", **{**_window(), **request_}
        )
    assert _code(error) == code
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_put_metric_data_refuses_aws_namespaces_and_stores_nothing_of_a_bad_batch(
    kiln: Kiln,
) -> None:
    cw = kiln.client("cloudwatch")
    with pytest.raises(ClientError) as reserved:
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{"MetricName": "X", "Value": 1}])
    assert _code(reserved) == "InvalidParameterValue"
    with pytest.raises(ClientError) as mixed:
        cw.put_metric_data(
            Namespace="Batch",
            MetricData=[
                {"MetricName": "Good", "Value": 1.0},
                {"MetricName": "Bad", "Value": 1.0, "Values": [2.0]},
            ],
        )
    assert _code(mixed) == "InvalidParameterCombination"
    assert cw.list_metrics(Namespace="Batch")["Metrics"] == []


def test_metrics_refuse_a_caller_without_credentials(kiln: Kiln) -> None:
    assert httpx.get(f"{kiln.endpoint}/metrics").status_code == 403


def test_points_survive_a_server_restart(kiln_settings: Settings) -> None:
    with start_kiln(kiln_settings) as kiln:
        kiln.client("cloudwatch").put_metric_data(
            Namespace="MyApp", MetricData=[{"MetricName": "Kept", "Value": 42.0}]
        )
    with start_kiln(kiln_settings) as kiln:
        answer = kiln.client("cloudwatch").get_metric_statistics(
            Namespace="MyApp", MetricName="Kept", Period=60, Statistics=["Sum"], **_window()
        )
        assert [point["Sum"] for point in answer["Datapoints"]] == [42.0]


def test_older_clients_query_protocol_reads_the_same_store(kiln: Kiln) -> None:
    cw = kiln.client("cloudwatch")
    cw.put_metric_data(Namespace="Old", MetricData=[{"MetricName": "Hits", "Value": 3.0}])
    now = time.time()
    form = {
        "Action": "GetMetricStatistics",
        "Version": "2010-08-01",
        "Namespace": "Old",
        "MetricName": "Hits",
        "StartTime": datetime.fromtimestamp(now - 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EndTime": datetime.fromtimestamp(now + 120, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Period": "60",
        "Statistics.member.1": "Sum",
    }
    answer = _query(kiln, form)
    assert answer.status_code == 200, answer.text
    assert "<Sum>3.0</Sum>" in answer.text
    refused = _query(kiln, {**form, "Period": "45"})
    assert refused.status_code == 400
    assert "<Code>InvalidParameterValue</Code>" in refused.text


def _query(kiln: Kiln, form: dict[str, str]) -> httpx.Response:
    """A query-protocol request, signed as older botocore signs CloudWatch's (``monitoring``)."""
    body = urlencode(form).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    signed = signed_headers(
        kiln.settings, "POST", f"{kiln.endpoint}/", body, headers, service="monitoring"
    )
    return httpx.post(f"{kiln.endpoint}/", content=body, headers=signed)


_TRAIN_WITH_LOSS = """
import os
for epoch, loss in enumerate([0.9, 0.5, 0.25]):
    print(f"epoch {epoch} loss={loss}", flush=True)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("ok")
"""


@pytest.mark.slow
def test_training_metric_definitions_become_series_per_host(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": _TRAIN_WITH_LOSS})
    job = script_job("m-train", source)
    job["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "train:loss", "Regex": "loss=([0-9.]+)"}
    ]
    kiln.sagemaker.create_training_job(**job)
    assert kiln.wait("m-train")["TrainingJobStatus"] == "Completed"
    cw = kiln.client("cloudwatch")
    host = [{"Name": "Host", "Value": "m-train/algo-1"}]
    listed = cw.list_metrics(Namespace="/aws/sagemaker/TrainingJobs")["Metrics"]
    assert listed == [
        {"Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "train:loss", "Dimensions": host}
    ]
    answer = cw.get_metric_statistics(
        Namespace="/aws/sagemaker/TrainingJobs", MetricName="train:loss", Dimensions=host,
        Period=3600, Statistics=["SampleCount", "Minimum", "Maximum"], **_window(),
    )  # fmt: skip
    [point] = answer["Datapoints"]
    assert (point["SampleCount"], point["Minimum"], point["Maximum"]) == (3.0, 0.25, 0.9)


def test_query_maps_are_read_and_bad_form_members_are_a_400(kiln: Kiln) -> None:
    form = {
        "Action": "PutMetricData",
        "Version": "2010-08-01",
        "Namespace": "Old",
        "EntityMetricData.member.1.Entity.KeyAttributes.entry.1.key": "Type",
        "EntityMetricData.member.1.Entity.KeyAttributes.entry.1.value": "Service",
        "EntityMetricData.member.1.Entity.KeyAttributes.entry.2.key": "Type",
        "EntityMetricData.member.1.Entity.KeyAttributes.entry.2.value": "Again",
        "MetricData.member.1.MetricName": "Hits",
        "MetricData.member.1.Value": "1",
    }
    assert _query(kiln, form).status_code == 200
    refused = _query(kiln, {**form, "MetricData.member.1.Value": "many"})
    assert refused.status_code == 400
    assert "<Code>ValidationError</Code>" in refused.text

"""Safe rollouts and CloudWatch alarms through a real server, real replicas and real boto3.

One server and one endpoint for the module: the tests run in order (bad input leaves it as it
was; a canary to a failing model rolls back by itself; a linear update to a good one succeeds),
each under load from client threads that count every answer by the fleet that gave it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Kiln, make_settings, start_kiln, upload_model, wait_until
from kiln.db import ResourceRecord, ResourceStore, connect
from kiln.db.tables import endpoints

pytestmark = pytest.mark.slow

ENDPOINT = "rollout"
ALARM = "rollout-model-errors"

GOOD_CODE = """
import json
def model_fn(model_dir):
    return open(model_dir + "/name.txt").read()
def transform_fn(model, data, content_type, accept):
    return json.dumps({"from": model}), "application/json"
"""
FAILING_CODE = """
def model_fn(model_dir):
    return "broken"
def transform_fn(model, data, content_type, accept):
    raise ValueError("green broke")
"""


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    """One server for the module, with the endpoint serving config ``blue``."""
    home: Path = tmp_path_factory.mktemp("rollouts")
    settings = make_settings(home / "kiln-home", f"sqlite:///{home / 'kiln.db'}")
    with start_kiln(settings) as server:
        _config(server, "blue", {"code/inference.py": GOOD_CODE, "name.txt": "blue"})
        _config(server, "broken", {"code/inference.py": FAILING_CODE})
        _config(server, "green", {"code/inference.py": GOOD_CODE, "name.txt": "green"})
        server.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="blue")
        _wait_settled(server)
        server.client("cloudwatch").put_metric_alarm(
            AlarmName=ALARM,
            Namespace="AWS/SageMaker",
            MetricName="InvocationModelErrors",
            Dimensions=[
                {"Name": "EndpointName", "Value": ENDPOINT},
                {"Name": "VariantName", "Value": "A"},
            ],
            Statistic="Sum",
            Period=10,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        )
        yield server


def _config(kiln: Kiln, name: str, files: dict[str, str]) -> None:
    uri = upload_model(kiln, files)
    kiln.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "kiln/python", "ModelDataUrl": uri},
    )
    kiln.sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "A", "ModelName": name, "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}
        ],
    )  # fmt: skip


def _describe(kiln: Kiln) -> dict[str, Any]:
    return dict(kiln.sagemaker.describe_endpoint(EndpointName=ENDPOINT))


def _wait_settled(kiln: Kiln) -> dict[str, Any]:
    wait_until(lambda: _describe(kiln)["EndpointStatus"] == "InService", "InService", 120)
    return _describe(kiln)


def _alarm_state(kiln: Kiln) -> str:
    alarms = kiln.client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    return str(alarms[0]["StateValue"])


class Load:
    """Client threads invoking the endpoint until stopped; answers counted by who gave them."""

    def __init__(self, kiln: Kiln, threads: int = 3) -> None:
        self._runtime = kiln.client("sagemaker-runtime")
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                body = self._runtime.invoke_endpoint(
                    EndpointName=ENDPOINT, Body=b"[1]", ContentType="application/json"
                )["Body"].read()
                with self._lock:
                    self.answers[json.loads(body)["from"]] += 1
            except ClientError as e:
                with self._lock:
                    self.failures.append(str(e))


def _canary(alarm: str = ALARM, percent: int = 50, wait: int = 60) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": wait,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": percent},
            },
            "TerminationWaitInSeconds": 0,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]},
    }


def test_alarms_round_trip_through_cloudwatch(kiln: Kiln) -> None:
    cloudwatch = kiln.client("cloudwatch")
    common = {
        "Namespace": "Mine",
        "MetricName": "Queue",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 5,
        "ComparisonOperator": "GreaterThanThreshold",
        "Statistic": "Average",
    }
    for name in ("queue-1", "queue-2"):
        cloudwatch.put_metric_alarm(AlarmName=name, **common)

    first = cloudwatch.describe_alarms(AlarmNamePrefix="queue-", MaxRecords=1)
    second = cloudwatch.describe_alarms(AlarmNamePrefix="queue-", NextToken=first["NextToken"])
    cloudwatch.set_alarm_state(AlarmName="queue-2", StateValue="ALARM", StateReason="testing")
    alarmed = cloudwatch.describe_alarms(StateValue="ALARM")["MetricAlarms"]
    cloudwatch.delete_alarms(AlarmNames=["queue-1", "queue-2"])

    (one,) = first["MetricAlarms"]
    assert (one["AlarmName"], one["StateValue"]) == ("queue-1", "INSUFFICIENT_DATA")
    assert one["StateReason"] == "Unchecked: Initial alarm creation"
    assert one["AlarmArn"].endswith(":alarm:queue-1")
    assert [a["AlarmName"] for a in second["MetricAlarms"]] == ["queue-2"]
    assert [(a["AlarmName"], a["StateReason"]) for a in alarmed] == [("queue-2", "testing")]
    assert cloudwatch.describe_alarms(AlarmNamePrefix="queue-")["MetricAlarms"] == []


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"MetricName": "Invocation5xxErrors"}, "InvalidParameterValue", "publishes no metric"),
        ({"Period": 15}, "InvalidParameterValue", "10, 30 or a multiple of 60"),
        ({"DatapointsToAlarm": 2}, "InvalidParameterCombination", "DatapointsToAlarm"),
        ({"ComparisonOperator": "LessThanLowerThreshold"}, "InvalidParameterValue", "anomaly"),
    ],
)
def test_bad_alarms_are_refused_in_cloudwatchs_words(
    kiln: Kiln, change: dict[str, Any], code: str, message: str
) -> None:
    request = {"AlarmName": "bad", "Namespace": "AWS/SageMaker", "MetricName": "Invocations",
               "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
               "ComparisonOperator": "GreaterThanThreshold", **change}  # fmt: skip

    with pytest.raises(ClientError) as error:
        kiln.client("cloudwatch").put_metric_alarm(**request)

    assert error.value.response["Error"]["Code"] == code
    assert message in error.value.response["Error"]["Message"]
    assert kiln.client("cloudwatch").describe_alarms(AlarmNames=["bad"])["MetricAlarms"] == []


def test_deleting_an_unknown_alarm_is_resource_not_found(kiln: Kiln) -> None:
    with pytest.raises(ClientError) as error:
        kiln.client("cloudwatch").delete_alarms(AlarmNames=[ALARM, "nope"])

    assert error.value.response["Error"]["Code"] == "ResourceNotFound"
    assert _alarm_state(kiln)  # the other one is still there


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (_canary(percent=60), "CanarySize (60 CAPACITY_PERCENT) must be 50%"),
        (_canary(alarm="nope"), "alarm(s) ['nope'] do not exist"),
        ({**_canary(), "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 1}},
         "either BlueGreenUpdatePolicy or RollingUpdatePolicy"),
    ],
)  # fmt: skip
def test_a_bad_deployment_config_changes_nothing(
    kiln: Kiln, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.update_endpoint(
            EndpointName=ENDPOINT, EndpointConfigName="green", DeploymentConfig=config
        )

    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert message in error.value.response["Error"]["Message"]
    described = _describe(kiln)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "blue")


def test_a_failing_canary_trips_its_alarm_and_rolls_back_by_itself(kiln: Kiln) -> None:
    config = _canary()
    with Load(kiln) as load:
        wait_until(lambda: load.answers["blue"] > 5, "blue serving", 30)
        kiln.sagemaker.update_endpoint(
            EndpointName=ENDPOINT, EndpointConfigName="broken", DeploymentConfig=config
        )
        wait_until(lambda: "PendingDeploymentSummary" in _describe(kiln)
                   and _describe(kiln)["PendingDeploymentSummary"]["ProductionVariants"][0]
                   ["VariantStatus"][0]["Status"] == "Baking", "the canary baking", 60)  # fmt: skip
        baking = _describe(kiln)["PendingDeploymentSummary"]
        wait_until(lambda: _alarm_state(kiln) == "ALARM", "the alarm in ALARM", 40)
        after = _wait_settled(kiln)

    assert baking["EndpointConfigName"] == "broken"
    assert baking["ProductionVariants"][0]["CurrentWeight"] == pytest.approx(0.5)
    assert after["EndpointConfigName"] == "blue"
    assert "tripped CloudWatch alarm(s) [rollout-model-errors]" in after["FailureReason"]
    assert after["LastDeploymentConfig"] == config
    assert "PendingDeploymentSummary" not in after
    assert load.failures, "the canary took some of the traffic"
    assert [f for f in load.failures if "green broke" not in f] == []
    assert set(load.answers) == {"blue"}
    # no more errors: the next 10 s period has none, and the alarm goes back to OK
    wait_until(lambda: _alarm_state(kiln) == "OK", "the alarm back to OK", 40)


def test_a_linear_update_shifts_in_steps_with_no_failed_request(kiln: Kiln) -> None:
    config = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR",
                "WaitIntervalInSeconds": 3,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            },
            "TerminationWaitInSeconds": 1,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]},
    }
    with Load(kiln) as load:
        wait_until(lambda: load.answers["blue"] > 5, "blue serving", 30)
        kiln.sagemaker.update_endpoint(
            EndpointName=ENDPOINT, EndpointConfigName="green", DeploymentConfig=config
        )
        wait_until(lambda: load.answers["green"] > 0 and load.answers["blue"] > 0, "a split", 60)
        halfway = (load.answers["blue"], load.answers["green"])
        after = _wait_settled(kiln)
        before_end = load.answers["blue"]
        wait_until(lambda: load.answers["green"] > halfway[1] + 10, "green serving alone", 30)

    assert load.failures == []
    assert after["EndpointConfigName"] == "green"
    assert "FailureReason" not in after
    assert after["LastDeploymentConfig"] == config
    assert load.answers["blue"] == before_end  # after the switch, green alone answers


def test_a_restart_mid_rollout_leaves_the_old_config_serving(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "kiln-home", f"sqlite:///{tmp_path / 'kiln.db'}")
    with start_kiln(settings) as first:
        _config(first, "blue", {"code/inference.py": GOOD_CODE, "name.txt": "blue"})
        _config(first, "green", {"code/inference.py": GOOD_CODE, "name.txt": "green"})
        first.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="blue")
        _wait_settled(first)
        first.sagemaker.update_endpoint(
            EndpointName=ENDPOINT,
            EndpointConfigName="green",
            DeploymentConfig={
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "ALL_AT_ONCE",
                        "WaitIntervalInSeconds": 600,
                    }
                }
            },
        )
        wait_until(lambda: "Baking" in str(_describe(first)), "the rollout baking", 60)
        baking = first.thread.kiln.hosting_stores.endpoints.get(ENDPOINT)
    assert baking is not None
    assert baking.status == "Updating"
    # A graceful stop rolls back in the rollout's own loop; what kill -9 leaves is this row.
    _restore(settings, baking)
    with start_kiln(settings) as second:
        after = _wait_settled(second)
        answer = second.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=ENDPOINT, Body=b"[1]", ContentType="application/json"
        )

    assert after["EndpointConfigName"] == "blue"
    assert "the server restarted during the deployment" in after["FailureReason"]
    assert json.loads(answer["Body"].read()) == {"from": "blue"}


def _restore(settings: Any, record: ResourceRecord) -> None:
    """Write ``record``'s status and state back, as a server killed mid-rollout leaves them."""
    engine = connect(settings.database_url)
    try:

        def back(found: ResourceRecord) -> None:
            found.status, found.state = record.status, record.state

        ResourceStore(engine, endpoints).modify(record.name, back)
    finally:
        engine.dispose()

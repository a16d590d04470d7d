"""Application Auto Scaling through a real server and real boto3 clients: a step load scales a
variant out and back in with no failed request, step scaling on an alarm, bad input refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import (
    Kiln,
    deploy,
    make_settings,
    sklearn_model_files,
    start_kiln,
    upload_model,
    wait_until,
)

ROW = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095,
       0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38,
       17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]  # fmt: skip
BODY = ("[[" + ",".join(map(str, ROW)) + "]]").encode()
SCOPE = {
    "ServiceNamespace": "sagemaker",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    """One server for the module, with endpoints ``loaded``, ``stepped`` and ``idle`` of one
    instance; a variant at MinCapacity 0 goes to zero after 2 quiet seconds."""
    home: Path = tmp_path_factory.mktemp("autoscaling")
    settings = make_settings(
        home / "kiln-home",
        f"sqlite:///{home / 'kiln.db'}",
        KILN_SCALE_TO_ZERO_AFTER_SECONDS="2",
    )
    with start_kiln(settings) as server:
        model = upload_model(server, sklearn_model_files())
        deploy(server, "loaded", {"AllTraffic": (model, 1, 1.0)})
        deploy(server, "stepped", {"AllTraffic": (model, 1, 1.0)})
        deploy(server, "idle", {"AllTraffic": (model, 1, 1.0)})
        yield server


def _target(endpoint: str, variant: str = "AllTraffic") -> dict[str, str]:
    return {**SCOPE, "ResourceId": f"endpoint/{endpoint}/variant/{variant}"}


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _counts(kiln: Kiln, endpoint: str) -> tuple[int, int]:
    variant = kiln.sagemaker.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]
    return variant["DesiredInstanceCount"], variant.get("CurrentInstanceCount", 0)


class _Load:
    """Threads invoking an endpoint until stopped, each pausing ``pause`` s between requests."""

    def __init__(self, kiln: Kiln, endpoint: str, threads: int, pause: float) -> None:
        self._runtime = kiln.client("sagemaker-runtime")
        self._endpoint, self._pause = endpoint, pause
        self._stop = threading.Event()
        self.sent = 0
        self.failures: list[str] = []
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._runtime.invoke_endpoint(
                    EndpointName=self._endpoint, Body=BODY, ContentType="application/json"
                )
                self.sent += 1
            except ClientError as e:
                self.failures.append(str(e))
            self._stop.wait(self._pause)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def test_a_step_load_scales_out_and_back_in_with_no_failed_request(kiln: Kiln) -> None:
    scaling = kiln.client("application-autoscaling")
    scaling.register_scalable_target(**_target("loaded"), MinCapacity=1, MaxCapacity=3)
    alarms = scaling.put_scaling_policy(
        PolicyName="per-instance",
        **_target("loaded"),
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            # 60 a minute: one request a second per instance; the load sends far more.
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleOutCooldown": 5,
            "ScaleInCooldown": 4,
        },
    )["Alarms"]
    heavy = _Load(kiln, "loaded", threads=4, pause=0.05)
    try:
        wait_until(lambda: _counts(kiln, "loaded") == (3, 3), "scaled out to 3", timeout=40)
    finally:
        heavy.stop()
    # A trickle (well under the target) goes on while replicas drain and stop.
    light = _Load(kiln, "loaded", threads=1, pause=2.0)
    try:
        wait_until(lambda: _counts(kiln, "loaded") == (1, 1), "scaled back in to 1", timeout=60)
    finally:
        light.stop()
    assert heavy.failures == []
    assert light.failures == []
    assert heavy.sent > 0
    assert light.sent > 0
    resource = _target("loaded")["ResourceId"]

    def activities() -> list[dict[str, Any]]:
        answer = scaling.describe_scaling_activities(
            ServiceNamespace="sagemaker", ResourceId=resource
        )
        return list(answer["ScalingActivities"])

    # The scaler ends an activity on the tick after the variant reaches its count.
    wait_until(lambda: activities()[0]["StatusCode"] == "Successful", "the scale-in ended", 10)
    described = [(a["Description"], a["StatusCode"]) for a in activities()]
    assert described[0] == ("Setting desired instance count to 1.", "Successful")
    assert ("Setting desired instance count to 3.", "Successful") in described
    out = next(a for a in activities() if a["Description"].endswith(" 3."))
    high = next(a["AlarmName"] for a in alarms if "-AlarmHigh-" in a["AlarmName"])
    assert out["Cause"] == f"monitor alarm {high} in state ALARM triggered policy per-instance"
    assert out["StatusMessage"] == (
        "Successfully set desired instance count to 3. Change successfully fulfilled by sagemaker."
    )


def test_a_step_policy_runs_while_its_alarm_stays_in_alarm_once_per_cooldown(kiln: Kiln) -> None:
    scaling = kiln.client("application-autoscaling")
    scaling.register_scalable_target(**_target("stepped"), MinCapacity=1, MaxCapacity=3)
    arn = scaling.put_scaling_policy(
        PolicyName="add-one",
        **_target("stepped"),
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
            "Cooldown": 1,
        },
    )["PolicyARN"]
    cloudwatch = kiln.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="busy",
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Statistic="Sum",
        Dimensions=[
            {"Name": "EndpointName", "Value": "stepped"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Period=60,
        EvaluationPeriods=1,
        Threshold=1e9,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="breaching",
        AlarmActions=[arn],
    )  # with no traffic the evaluator finds it breaching (missing data) and keeps it in ALARM
    try:
        wait_until(lambda: _counts(kiln, "stepped") == (3, 3), "stepped out to 3", timeout=60)
    finally:
        cloudwatch.delete_alarms(AlarmNames=["busy"])
    activities = scaling.describe_scaling_activities(
        **SCOPE, ResourceId=_target("stepped")["ResourceId"]
    )["ScalingActivities"]
    assert [(a["Description"], a["Cause"]) for a in activities] == [
        (f"Setting desired instance count to {n}.",
         "monitor alarm busy in state ALARM triggered policy add-one")
        for n in (3, 2)
    ]  # fmt: skip


def test_an_idle_variant_with_min_capacity_0_scales_to_zero_after_the_quiet_period(
    kiln: Kiln,
) -> None:
    scaling = kiln.client("application-autoscaling")
    scaling.register_scalable_target(**_target("idle"), MinCapacity=0, MaxCapacity=2)
    scaling.put_scaling_policy(
        PolicyName="per-instance",
        **_target("idle"),
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 100.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
        },
    )
    wait_until(lambda: _counts(kiln, "idle") == (0, 0), "scaled to zero", timeout=30)
    activity = scaling.describe_scaling_activities(
        **SCOPE, ResourceId=_target("idle")["ResourceId"]
    )
    assert activity["ScalingActivities"][0]["Cause"] == (
        "no invocations for 2 seconds (minimum capacity is 0)"
    )


def test_registering_again_updates_the_target_and_deregistering_drops_its_policies(
    kiln: Kiln,
) -> None:
    scaling = kiln.client("application-autoscaling")
    target = _target("stepped")
    first = scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    again = scaling.register_scalable_target(
        **target, MaxCapacity=4, SuspendedState={"DynamicScalingInSuspended": True}
    )
    assert again["ScalableTargetARN"] == first["ScalableTargetARN"]
    found = scaling.describe_scalable_targets(ServiceNamespace="sagemaker",
                                              ResourceIds=[target["ResourceId"]])  # fmt: skip
    described = found["ScalableTargets"][0]
    assert (described["MinCapacity"], described["MaxCapacity"]) == (1, 4)
    assert described["SuspendedState"]["DynamicScalingInSuspended"] is True
    policy = scaling.put_scaling_policy(
        PolicyName="cpu",
        **target,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "CustomizedMetricSpecification": {
                "MetricName": "CPUUtilization",
                "Namespace": "/aws/sagemaker/Endpoints",
                "Dimensions": [{"Name": "EndpointName", "Value": "stepped"},
                               {"Name": "VariantName", "Value": "AllTraffic"}],
                "Statistic": "Average",
            },
        },
    )  # fmt: skip
    assert policy["PolicyARN"].endswith(
        ":resource/sagemaker/endpoint/stepped/variant/AllTraffic:policyName/cpu"
    )
    assert [a["AlarmName"].split("-Alarm")[1][:4] for a in policy["Alarms"]] == ["High", "Low-"]
    names = {p["PolicyName"] for p in scaling.describe_scaling_policies(**SCOPE)["ScalingPolicies"]}
    assert "cpu" in names
    scaling.deregister_scalable_target(**target)
    left = scaling.describe_scaling_policies(ServiceNamespace="sagemaker",
                                             ResourceId=target["ResourceId"])  # fmt: skip
    assert left["ScalingPolicies"] == []


@pytest.mark.parametrize(
    ("call", "arguments", "code"),
    [
        ("register_scalable_target",
         {**_target("loaded"), "ServiceNamespace": "ecs", "MinCapacity": 1, "MaxCapacity": 2},
         "ValidationException"),
        ("register_scalable_target",
         {**_target("loaded"), "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1,
          "MaxCapacity": 2}, "ValidationException"),
        ("register_scalable_target", {**_target("nowhere"), "MinCapacity": 1, "MaxCapacity": 2},
         "ValidationException"),
        ("register_scalable_target", {**_target("loaded", "Other"), "MinCapacity": 1,
                                      "MaxCapacity": 2}, "ValidationException"),
        ("register_scalable_target", {**_target("loaded"), "MinCapacity": 3, "MaxCapacity": 2},
         "ValidationException"),
        ("register_scalable_target", {**{**_target("x"), "ResourceId": "service/c/s"},
                                      "MinCapacity": 1, "MaxCapacity": 2}, "ValidationException"),
        ("deregister_scalable_target", _target("nowhere"), "ObjectNotFoundException"),
        ("put_scaling_policy", {**_target("nowhere"), "PolicyName": "p",
                                "PolicyType": "TargetTrackingScaling",
                                "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 1.0,
          "PredefinedMetricSpecification": {"PredefinedMetricType":
                                            "SageMakerVariantInvocationsPerInstance"}}},
         "ObjectNotFoundException"),
        ("delete_scaling_policy", {**_target("loaded"), "PolicyName": "none"},
         "ObjectNotFoundException"),
        ("describe_scalable_targets", {"ServiceNamespace": "sagemaker", "NextToken": "junk"},
         "InvalidNextTokenException"),
    ],
)  # fmt: skip
def test_bad_requests_get_aws_error_codes(
    kiln: Kiln, call: str, arguments: dict[str, Any], code: str
) -> None:
    with pytest.raises(ClientError) as error:
        getattr(kiln.client("application-autoscaling"), call)(**arguments)
    assert _code(error) == code


@pytest.mark.parametrize(
    "configuration",
    [
        {"TargetValue": 1.0,
         "PredefinedMetricSpecification": {
             "PredefinedMetricType": "ECSServiceAverageCPUUtilization"}},
        {"TargetValue": 1.0,
         "CustomizedMetricSpecification": {"MetricName": "NoSuchMetric",
                                           "Namespace": "/aws/sagemaker/Endpoints",
                                           "Statistic": "Average"}},
        {"TargetValue": 0.0,
         "PredefinedMetricSpecification": {"PredefinedMetricType":
                                           "SageMakerVariantInvocationsPerInstance"}},
    ],
)  # fmt: skip
def test_policies_kiln_cannot_track_are_refused_and_not_stored(
    kiln: Kiln, configuration: dict[str, Any]
) -> None:
    scaling = kiln.client("application-autoscaling")
    scaling.register_scalable_target(**_target("loaded"), MinCapacity=1, MaxCapacity=3)
    with pytest.raises(ClientError) as error:
        scaling.put_scaling_policy(
            PolicyName="refused",
            **_target("loaded"),
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=configuration,
        )
    assert _code(error) == "ValidationException"
    found = scaling.describe_scaling_policies(**SCOPE, PolicyNames=["refused"])
    assert found["ScalingPolicies"] == []

"""Every operation Kiln serves, called for real; the server checks each answer against botocore's
output shape (``KILN_CHECK_RESPONSES``, on in tests), so an incomplete answer fails here."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conftest import (
    ROLE,
    Kiln,
    script_job,
    sklearn_model_files,
    upload_model,
    upload_source,
    wait_in_service,
)
from kiln.sdk.signing import signed_headers
from kiln.services.monitoring.outcomes import ExecutionStatus
from kiln.services.monitoring.schedules.model import Window

pytestmark = pytest.mark.slow

_TRAIN = """
import os, time
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("ok")
time.sleep(float(os.environ.get("SLEEP", "0")))
"""


def _client(kiln: Kiln, service: str, called: set[tuple[str, str]]) -> Any:
    """The test server's client for ``service``, recording each operation it calls."""
    client = kiln.client(service)

    def record(model: Any, **_: Any) -> None:
        called.add((service, model.name))

    client.meta.events.register("after-call", record)
    return client


def _exercise_training(kiln: Kiln, sm: Any) -> None:
    source = upload_source(kiln, {"train.py": _TRAIN})
    sm.create_training_job(**script_job("walk-job", source, Tags=[{"Key": "team", "Value": "ml"}]))
    sm.describe_training_job(TrainingJobName="walk-job")
    sm.list_training_jobs(NameContains="walk")
    kiln.wait("walk-job")
    assert sm.describe_training_job(TrainingJobName="walk-job")["TrainingJobStatus"] == "Completed"
    sm.create_training_job(**script_job("walk-stop", source, Environment={"SLEEP": "60"}))
    sm.stop_training_job(TrainingJobName="walk-stop")
    kiln.wait("walk-stop")


def _exercise_hosting(kiln: Kiln, sm: Any) -> None:
    model_uri = upload_model(kiln, sklearn_model_files())
    container = {"Image": "kiln/python", "ModelDataUrl": model_uri}
    sm.create_model(ModelName="walk-model", ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sm.describe_model(ModelName="walk-model")
    sm.list_models()
    variant = {
        "VariantName": "a",
        "ModelName": "walk-model",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://walk-capture/data",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    sm.create_endpoint_config(EndpointConfigName="walk-config", ProductionVariants=[variant])
    sm.create_endpoint_config(
        EndpointConfigName="walk-config-2", ProductionVariants=[variant], DataCaptureConfig=capture
    )
    sm.describe_endpoint_config(EndpointConfigName="walk-config")
    sm.list_endpoint_configs()
    sm.create_endpoint(EndpointName="walk-ep", EndpointConfigName="walk-config")
    sm.describe_endpoint(EndpointName="walk-ep")
    wait_in_service(kiln, "walk-ep")
    sm.list_endpoints()
    sm.update_endpoint_weights_and_capacities(
        EndpointName="walk-ep",
        DesiredWeightsAndCapacities=[{"VariantName": "a", "DesiredWeight": 2.0}],
    )
    assert wait_in_service(kiln, "walk-ep")["EndpointStatus"] == "InService"
    sm.update_endpoint(EndpointName="walk-ep", EndpointConfigName="walk-config-2")
    assert wait_in_service(kiln, "walk-ep")["EndpointStatus"] == "InService"


_OUTPUT = {
    "MonitoringOutputs": [
        {"S3Output": {"S3Uri": "s3://walk-monitor/out", "LocalPath": "/opt/ml/processing/output"}}
    ]
}
_RESOURCES = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                "VolumeSizeInGB": 1}}  # fmt: skip


def _exercise_monitoring(kiln: Kiln, sm: Any) -> None:
    """Model Monitor's operations on ``walk-ep`` (which captures since its update)."""
    endpoint_input = {"EndpointName": "walk-ep", "LocalPath": "/opt/ml/processing/input"}
    sm.create_data_quality_job_definition(
        JobDefinitionName="walk-dq", RoleArn=ROLE, JobResources=_RESOURCES,
        DataQualityAppSpecification={"ImageUri": "kiln/model-monitor"},
        DataQualityJobInput={"EndpointInput": endpoint_input},
        DataQualityJobOutputConfig=_OUTPUT,
    )  # fmt: skip
    sm.describe_data_quality_job_definition(JobDefinitionName="walk-dq")
    sm.list_data_quality_job_definitions()
    sm.create_model_quality_job_definition(
        JobDefinitionName="walk-mq", RoleArn=ROLE, JobResources=_RESOURCES,
        ModelQualityAppSpecification={"ImageUri": "kiln/model-monitor",
                                      "ProblemType": "BinaryClassification"},
        ModelQualityJobInput={"EndpointInput": {**endpoint_input, "InferenceAttribute": "0"},
                              "GroundTruthS3Input": {"S3Uri": "s3://walk-truth/walk-ep"}},
        ModelQualityJobOutputConfig=_OUTPUT,
    )  # fmt: skip
    sm.describe_model_quality_job_definition(JobDefinitionName="walk-mq")
    sm.list_model_quality_job_definitions()
    config = {
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        "MonitoringJobDefinitionName": "walk-dq",
        "MonitoringType": "DataQuality",
    }
    sm.create_monitoring_schedule(
        MonitoringScheduleName="walk-mon", MonitoringScheduleConfig=config
    )
    sm.describe_monitoring_schedule(MonitoringScheduleName="walk-mon")
    sm.list_monitoring_schedules(EndpointName="walk-ep")
    sm.stop_monitoring_schedule(MonitoringScheduleName="walk-mon")
    sm.start_monitoring_schedule(MonitoringScheduleName="walk-mon")
    sm.update_monitoring_schedule(MonitoringScheduleName="walk-mon", MonitoringScheduleConfig={
        **config, "ScheduleConfig": {"ScheduleExpression": "cron(0 0 ? * * *)"}})  # fmt: skip
    _execution_of(kiln, "walk-mon")
    [run] = sm.list_monitoring_executions(MonitoringScheduleName="walk-mon")[
        "MonitoringExecutionSummaries"
    ]
    sm.describe_processing_job(ProcessingJobName=run["ProcessingJobArn"].split("/")[-1])
    sm.delete_monitoring_schedule(MonitoringScheduleName="walk-mon")
    sm.delete_model_quality_job_definition(JobDefinitionName="walk-mq")
    sm.delete_data_quality_job_definition(JobDefinitionName="walk-dq")


def _execution_of(kiln: Kiln, name: str) -> None:
    """One finished execution in the store, as the monitor scheduler records it (a real one
    waits for the next hour)."""
    book = kiln.thread.kiln.monitoring.schedule_book
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert book.begin(name, Window(at, at - timedelta(hours=1), at), "walk-execution")
    book.finish(name, at, ExecutionStatus.COMPLETED, None, "s3://walk-monitor/out/x")


def _exercise_tags(sm: Any) -> None:
    for arn in (
        sm.describe_training_job(TrainingJobName="walk-job")["TrainingJobArn"],
        sm.describe_model(ModelName="walk-model")["ModelArn"],
        sm.describe_endpoint_config(EndpointConfigName="walk-config")["EndpointConfigArn"],
        sm.describe_endpoint(EndpointName="walk-ep")["EndpointArn"],
    ):
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "test"}])
        assert {"Key": "stage", "Value": "test"} in sm.list_tags(ResourceArn=arn)["Tags"]
        sm.delete_tags(ResourceArn=arn, TagKeys=["stage"])


def _tear_down(sm: Any) -> None:
    sm.delete_endpoint(EndpointName="walk-ep")
    sm.get_waiter("endpoint_deleted").wait(
        EndpointName="walk-ep", WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
    )
    for config in ("walk-config", "walk-config-2"):
        sm.delete_endpoint_config(EndpointConfigName=config)
    sm.delete_model(ModelName="walk-model")


def _exercise_autoscaling(aas: Any) -> None:
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/walk-ep/variant/a",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    aas.describe_scalable_targets(ServiceNamespace="sagemaker")
    tracking = {
        "TargetValue": 1000.0,
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
        },
    }
    aas.put_scaling_policy(
        PolicyName="walk", **target, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=tracking,
    )  # fmt: skip
    aas.describe_scaling_policies(ServiceNamespace="sagemaker")
    aas.describe_scaling_activities(ServiceNamespace="sagemaker")
    aas.delete_scaling_policy(PolicyName="walk", **target)
    aas.deregister_scalable_target(**target)


def _exercise_cloudwatch(cw: Any) -> None:
    now = time.time()
    window = {"StartTime": now - 600, "EndTime": now + 60}
    dims = [{"Name": "EndpointName", "Value": "walk-ep"}, {"Name": "VariantName", "Value": "a"}]
    cw.put_metric_data(Namespace="Walk", MetricData=[{"MetricName": "M", "Value": 1.0}])
    cw.list_metrics(Namespace="AWS/SageMaker")
    cw.get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName="ModelLatency", Dimensions=dims, Period=60,
        Statistics=["Sum", "Average"], **window,
    )  # fmt: skip
    cw.get_metric_statistics(
        Namespace="Walk", MetricName="M", Period=60, ExtendedStatistics=["p99"], **window
    )
    stat = {"Metric": {"Namespace": "Walk", "MetricName": "M"}, "Period": 60, "Stat": "p50"}
    cw.get_metric_data(MetricDataQueries=[{"Id": "m", "MetricStat": stat}], **window)
    cw.put_metric_alarm(
        AlarmName="walk-alarm", Namespace="Walk", MetricName="M", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=5.0, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cw.set_alarm_state(AlarmName="walk-alarm", StateValue="ALARM", StateReason="walk")
    cw.describe_alarms(AlarmNames=["walk-alarm"])
    cw.delete_alarms(AlarmNames=["walk-alarm"])


def test_every_served_operation_answers_within_its_output_shape(kiln: Kiln) -> None:
    called: set[tuple[str, str]] = set()
    sm = _client(kiln, "sagemaker", called)
    _exercise_training(kiln, sm)
    _exercise_hosting(kiln, sm)
    _exercise_tags(sm)
    _exercise_monitoring(kiln, sm)
    _exercise_autoscaling(_client(kiln, "application-autoscaling", called))
    _tear_down(sm)
    logs = _client(kiln, "logs", called)
    group = "/aws/sagemaker/TrainingJobs"
    logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker")
    stream = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="walk-job/")
    name = stream["logStreams"][0]["logStreamName"]
    logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True)
    logs.filter_log_events(logGroupName=group, logStreamNamePrefix="walk-job/")
    _exercise_cloudwatch(_client(kiln, "cloudwatch", called))
    _client(kiln, "sts", called).get_caller_identity()
    iam = _client(kiln, "iam", called)
    iam.get_role(RoleName="SageMakerRole")
    iam.simulate_principal_policy(PolicySourceArn=ROLE, ActionNames=["s3:GetObject"])

    served = {
        (service, operation)
        for service, operations in kiln.thread.kiln.apis.operations.items()
        for operation in operations
    }
    assert served - called == set(), "served operations this test does not call"


def test_describe_training_job_fills_the_members_aws_fills(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": _TRAIN})
    kiln.sagemaker.create_training_job(**script_job("filled", source))
    answer = kiln.sagemaker.describe_training_job(TrainingJobName="filled")
    assert answer["OutputDataConfig"]["KmsKeyId"] == ""
    assert answer["EnableNetworkIsolation"] is False
    assert answer["EnableManagedSpotTraining"] is False
    assert answer["RoleArn"] == ROLE
    assert answer["ModelArtifacts"]["S3ModelArtifacts"] == (
        "s3://output/jobs/filled/output/model.tar.gz"
    )
    assert "Tags" not in answer
    done = kiln.wait("filled")
    assert done["TrainingTimeInSeconds"] >= 1
    assert done["BillableTimeInSeconds"] >= 1


@pytest.mark.parametrize(
    "params",
    [{"CreationTimeAfter": 1e300}, {"MaxResults": 100_000_000}, {"CreationTimeBefore": -5}],
)
def test_out_of_range_list_members_are_a_400_not_a_500(kiln: Kiln, params: dict[str, Any]) -> None:
    # Raw JSON: boto3 itself would refuse some of these before sending.
    body = json.dumps(params).encode()
    headers = {"X-Amz-Target": "SageMaker.ListTrainingJobs",
               "Content-Type": "application/x-amz-json-1.1"}  # fmt: skip
    response = httpx.post(
        kiln.endpoint,
        content=body,
        headers=signed_headers(kiln.settings, "POST", kiln.endpoint, body, headers),
    )
    assert response.status_code == 400
    assert response.json()["__type"] == "ValidationException"

"""Bad input to the training API: SageMaker's error shapes, and nothing half-made behind."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request

import orjson
import pytest
from botocore.exceptions import ClientError, WaiterError

from conftest import Kiln, script_job, upload_source
from kiln.sdk.signing import signed_headers


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _raw(kiln: Kiln, target: str, body: bytes) -> tuple[int, dict[str, str]]:
    url = kiln.endpoint + "/"
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    request = urllib.request.Request(
        url, data=body, headers=signed_headers(kiln.settings, "POST", url, body, headers)
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


def test_unknown_job_is_a_validation_exception(kiln: Kiln) -> None:
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.describe_training_job(TrainingJobName="no-such-job")
    assert _code(error) == "ValidationException"
    assert error.value.response["Error"]["Message"] == "Requested resource not found."


def test_stopping_an_unknown_job_is_a_validation_exception(kiln: Kiln) -> None:
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.stop_training_job(TrainingJobName="no-such-job")
    assert _code(error) == "ValidationException"


def test_name_outside_the_pattern_is_refused(kiln: Kiln) -> None:
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_training_job(**script_job("under_score", "s3://code/x.tar.gz"))
    assert _code(error) == "ValidationException"
    assert "'under_score' at 'trainingJobName'" in error.value.response["Error"]["Message"]


def test_duplicate_name_is_resource_in_use(kiln: Kiln) -> None:
    request = script_job("dup-1", "s3://code/missing.tar.gz")
    kiln.sagemaker.create_training_job(**request)
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_training_job(**request)
    assert _code(error) == "ResourceInUse"


def test_unknown_instance_type_is_refused_before_anything_is_stored(kiln: Kiln) -> None:
    request = script_job("odd-type", "s3://code/x.tar.gz")
    request["ResourceConfig"]["InstanceType"] = "ml.m5.99xlarge"  # not in botocore's enum
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_training_job(**request)
    assert _code(error) == "ValidationException"
    assert kiln.sagemaker.list_training_jobs()["TrainingJobSummaries"] == []


def test_job_without_anything_to_run_is_refused(kiln: Kiln) -> None:
    request = script_job("nothing-1", "s3://code/x.tar.gz")
    request["HyperParameters"] = {}
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_training_job(**request)
    assert "ContainerEntrypoint" in error.value.response["Error"]["Message"]


def test_bad_s3_uri_is_refused(kiln: Kiln) -> None:
    request = script_job("bad-uri", "s3://code/x.tar.gz", output="https://example.com/out")
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_training_job(**request)
    assert "https://example.com/out" in error.value.response["Error"]["Message"]


def test_unsupported_image_is_refused(kiln: Kiln) -> None:
    request = script_job("img-1", "s3://code/x.tar.gz")
    request["AlgorithmSpecification"]["TrainingImage"] = "my-registry/my-image:1"
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_training_job(**request)
    assert "container backend" in error.value.response["Error"]["Message"]


def test_malformed_json_is_a_serialization_exception(kiln: Kiln) -> None:
    status, body = _raw(kiln, "SageMaker.ListTrainingJobs", b"{not json")
    assert status == 400
    assert body["__type"] == "SerializationException"


def test_oversized_body_is_refused_before_it_is_read(kiln: Kiln) -> None:
    host, port = kiln.endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/")
    connection.putheader("X-Amz-Target", "SageMaker.ListTrainingJobs")
    connection.putheader("Content-Length", str(3_000_000))
    connection.endheaders()  # no body follows: the server must answer from the header alone
    response = connection.getresponse()
    assert response.status == 413
    assert orjson.loads(response.read())["__type"] == "ValidationException"
    connection.close()


def test_missing_required_member_is_named(kiln: Kiln) -> None:
    status, body = _raw(kiln, "SageMaker.DescribeTrainingJob", b"{}")
    assert status == 400
    assert body["__type"] == "ValidationException"
    assert "TrainingJobName" in body["message"]


def test_unknown_operation_is_refused(kiln: Kiln) -> None:
    status, body = _raw(kiln, "SageMaker.CreateFlyingCar", b"{}")
    assert status == 400
    assert body["__type"] == "UnknownOperationException"


def test_waiter_fails_on_unknown_job(kiln: Kiln) -> None:
    waiter = kiln.sagemaker.get_waiter("training_job_completed_or_stopped")
    with pytest.raises(WaiterError, match="ValidationException"):
        waiter.wait(TrainingJobName="ghost", WaiterConfig={"Delay": 0.1, "MaxAttempts": 2})


def test_an_instance_count_past_the_quota_is_resource_limit_exceeded(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": "print('never runs')\n"})
    request = script_job("huge", source)
    request["ResourceConfig"]["InstanceCount"] = 2**31 - 1
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_training_job(**request)
    assert _code(error) == "ResourceLimitExceeded"
    assert "is 100 Instances" in error.value.response["Error"]["Message"]

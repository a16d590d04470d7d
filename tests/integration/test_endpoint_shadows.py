"""Shadow variants and data capture through a real server, real replicas and real boto3.

The test observer is wired with ``KilnServer.data_plane.add_observer``: the seam the metrics,
capture and inference-log parts use too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Kiln, upload_model, wait_in_service
from kiln.services.hosting.invocations import InvocationRecord, Outcome

pytestmark = pytest.mark.slow

PRODUCTION_CODE = """
import json
def model_fn(model_dir):
    return "prod"
def transform_fn(model, data, content_type, accept, context):
    return json.dumps({"from": model, "id": context.inference_id}), "application/json"
"""
SLOW_SHADOW_CODE = """
import time
def model_fn(model_dir):
    return "shadow"
def transform_fn(model, data, content_type, accept):
    time.sleep(2)
    return b'"shadow"', "application/json"
"""
FAILING_SHADOW_CODE = """
def model_fn(model_dir):
    return "shadow"
def transform_fn(model, data, content_type, accept):
    raise ValueError("shadow broke")
"""
CAPTURE = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 100,
    "DestinationS3Uri": "s3://capture/endpoints",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
}


class Seen:
    """An observer that keeps every record (called on the server's event loop)."""

    def __init__(self) -> None:
        self.records: list[InvocationRecord] = []
        self._lock = threading.Lock()

    def observe(self, record: InvocationRecord) -> None:
        with self._lock:
            self.records.append(record)

    def shadows(self) -> list[InvocationRecord]:
        with self._lock:
            return [r for r in self.records if r.is_shadow]


def _eventually(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _model(kiln: Kiln, name: str, code: str) -> str:
    uri = upload_model(kiln, {"code/inference.py": code})
    kiln.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "kiln/python", "ModelDataUrl": uri},
    )
    return name


def _variant(name: str, model: str, weight: float = 1.0) -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "InitialVariantWeight": weight,
    }


def _shadowed_endpoint(kiln: Kiln, name: str, shadow_code: str, **config: Any) -> Seen:
    production = _model(kiln, f"{name}-prod", PRODUCTION_CODE)
    shadow = _model(kiln, f"{name}-shadow", shadow_code)
    kiln.sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[_variant("Production", production)],
        ShadowProductionVariants=[_variant("Shadow", shadow)],
        **config,
    )
    seen = Seen()
    kiln.thread.kiln.data_plane.add_observer(seen)
    kiln.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    assert wait_in_service(kiln, name)["EndpointStatus"] == "InService"
    return seen


def _invoke(kiln: Kiln, endpoint: str, inference_id: str = "i-1") -> dict[str, Any]:
    answer = kiln.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, Body=b"{}", ContentType="application/json", InferenceId=inference_id
    )
    answer["Body"] = answer["Body"].read()
    return dict(answer)


def test_slow_shadow_leaves_clients_the_production_answers(kiln: Kiln) -> None:
    seen = _shadowed_endpoint(kiln, "shadow-slow", SLOW_SHADOW_CODE)
    answers = [_invoke(kiln, "shadow-slow", f"i-{n}") for n in range(5)]
    # Every client has its answer while the shadow (2 s a request) has answered none yet.
    assert seen.shadows() == []
    assert [a["Body"] for a in answers] == [
        f'{{"from": "prod", "id": "i-{n}"}}'.encode() for n in range(5)
    ]
    assert {a["InvokedProductionVariant"] for a in answers} == {"Production"}
    _eventually(lambda: len(seen.shadows()) >= 1)
    shadow = seen.shadows()[0]
    assert (shadow.variant, shadow.outcome, shadow.response_body) == (
        "Shadow", Outcome.ANSWERED, b'"shadow"',
    )  # fmt: skip
    assert shadow.inference_id == "i-0"
    assert shadow.model_latency_us >= 2_000_000


def test_failing_shadow_never_fails_a_client(kiln: Kiln) -> None:
    seen = _shadowed_endpoint(kiln, "shadow-fail", FAILING_SHADOW_CODE, DataCaptureConfig=CAPTURE)
    for n in range(3):
        assert _invoke(kiln, "shadow-fail", f"i-{n}")["InvokedProductionVariant"] == "Production"
    _eventually(lambda: len(seen.shadows()) == 3)
    assert {(r.variant, r.outcome, r.model_status) for r in seen.shadows()} == {
        ("Shadow", Outcome.MODEL_ERROR, 500)
    }
    # Sampled at 100 %: production and shadow records alike carry the capture config.
    assert all(r.capture is not None for r in seen.records)
    production = [r for r in seen.records if not r.is_shadow]
    assert [r.variant for r in production] == ["Production"] * 3


def test_shadow_variants_are_described_as_aws_does(kiln: Kiln) -> None:
    _shadowed_endpoint(kiln, "shadow-desc", FAILING_SHADOW_CODE, DataCaptureConfig=CAPTURE)
    config = kiln.sagemaker.describe_endpoint_config(EndpointConfigName="shadow-desc")
    assert [v["VariantName"] for v in config["ShadowProductionVariants"]] == ["Shadow"]
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 100
    endpoint = kiln.sagemaker.describe_endpoint(EndpointName="shadow-desc")
    assert [v["VariantName"] for v in endpoint["ProductionVariants"]] == ["Production"]
    (shadow,) = endpoint["ShadowProductionVariants"]
    assert (shadow["VariantName"], shadow["CurrentInstanceCount"]) == ("Shadow", 1)
    assert endpoint["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": "s3://capture/endpoints",
        "KmsKeyId": "",
    }


def test_update_endpoint_turns_capture_off(kiln: Kiln) -> None:
    model = _model(kiln, "cap-prod", PRODUCTION_CODE)
    sm = kiln.sagemaker
    sm.create_endpoint_config(
        EndpointConfigName="cap-on",
        ProductionVariants=[_variant("AllTraffic", model)],
        DataCaptureConfig=CAPTURE,
    )
    sm.create_endpoint_config(
        EndpointConfigName="cap-off",
        ProductionVariants=[_variant("AllTraffic", model)],
        DataCaptureConfig={**CAPTURE, "EnableCapture": False},
    )
    seen = Seen()
    kiln.thread.kiln.data_plane.add_observer(seen)
    sm.create_endpoint(EndpointName="cap-1", EndpointConfigName="cap-on")
    wait_in_service(kiln, "cap-1")
    _invoke(kiln, "cap-1")
    # Observers hear of an invocation just after its answer is sent: wait for the record.
    _eventually(lambda: len(seen.records) == 1)
    sm.update_endpoint(EndpointName="cap-1", EndpointConfigName="cap-off")
    _eventually(
        lambda: sm.describe_endpoint(EndpointName="cap-1")["EndpointConfigName"] == "cap-off"
    )
    wait_in_service(kiln, "cap-1")
    _invoke(kiln, "cap-1")
    _eventually(lambda: len(seen.records) == 2)
    assert [r.capture is not None for r in seen.records] == [True, False]
    summary = sm.describe_endpoint(EndpointName="cap-1")["DataCaptureConfig"]
    assert (summary["EnableCapture"], summary["CaptureStatus"]) == (False, "Stopped")


def _refused(kiln: Kiln, **config: Any) -> str:
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_endpoint_config(EndpointConfigName="bad", **config)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert kiln.sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    return str(error.value.response["Error"]["Message"])


def test_bad_shadow_and_capture_configs_are_refused_and_write_nothing(kiln: Kiln) -> None:
    model = _model(kiln, "m", PRODUCTION_CODE)
    one = [_variant("A", model)]
    message = _refused(
        kiln, ProductionVariants=one, ShadowProductionVariants=[_variant("A", model)]
    )
    assert "unique" in message
    message = _refused(
        kiln,
        ProductionVariants=[*one, _variant("B", model)],
        ShadowProductionVariants=[_variant("S", model)],
    )
    assert "exactly one" in message
    message = _refused(
        kiln, ProductionVariants=one, ShadowProductionVariants=[_variant("S", "no-such-model")]
    )
    assert "Could not find model" in message
    message = _refused(
        kiln,
        ProductionVariants=one,
        DataCaptureConfig={**CAPTURE, "DestinationS3Uri": "https://b/x"},
    )
    assert "DestinationS3Uri" in message

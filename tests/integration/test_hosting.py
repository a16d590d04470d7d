"""Models, endpoints and invocations through a real server, real replicas and real boto3."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from conftest import (
    ANY_STORE,
    ROLE,
    Kiln,
    deploy,
    make_settings,
    signed_headers,
    sklearn_model_files,
    start_kiln,
    upload_model,
    wait_in_service,
)
from kiln.config import Settings

pytestmark = pytest.mark.slow

VERSION_CODE = """
import json, os
def model_fn(model_dir):
    return os.environ.get("VERSION", "v1")
def transform_fn(model, data, content_type, accept):
    return json.dumps({"version": model}), "application/json"
"""

ROW = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095,
       0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38,
       17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]  # fmt: skip


def _invoke(kiln: Kiln, endpoint: str, body: bytes = b"{}", **kwargs: Any) -> dict[str, Any]:
    runtime = kiln.client("sagemaker-runtime")
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=body, ContentType=kwargs.pop("ContentType", "application/json"),
        **kwargs,
    )  # fmt: skip
    answer["Body"] = answer["Body"].read()
    return dict(answer)


def _version_model(kiln: Kiln) -> str:
    return upload_model(kiln, {"code/inference.py": VERSION_CODE})


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _eventually(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class _Traffic:
    """Invokes an endpoint from a thread until stopped; keeps every answer and failure."""

    def __init__(self, kiln: Kiln, endpoint: str) -> None:
        self._runtime = kiln.client("sagemaker-runtime")
        self._endpoint = endpoint
        self.answers: list[bytes] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self._runtime.invoke_endpoint(
                    EndpointName=self._endpoint, Body=b"{}", ContentType="application/json"
                )
                self.answers.append(answer["Body"].read())
            except ClientError as e:
                self.failures.append(str(e))


@ANY_STORE
def test_sklearn_model_serves_predictions_without_code(kiln: Kiln) -> None:
    deploy(kiln, "sk-1", {"AllTraffic": (upload_model(kiln, sklearn_model_files()), 1, 1.0)})
    answer = _invoke(kiln, "sk-1", json.dumps({"inputs": [ROW]}).encode())
    assert json.loads(answer["Body"]) == {"predictions": [0]}
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    described = kiln.sagemaker.describe_endpoint(EndpointName="sk-1")
    assert described["EndpointStatus"] == "InService"
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 1


def test_code_repacked_into_the_model_serves_as_the_sdk_deploys_it(kiln: Kiln) -> None:
    # sagemaker.model.Model(entry_point=…) repacks code/ into model.tar.gz and says where.
    model = upload_model(
        kiln,
        {
            **sklearn_model_files(),
            "code/serve.py": "def output_fn(p, accept):\n    return b'repacked'\n",
        },
    )
    environment = {
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_PROGRAM": "serve.py",
    }
    deploy(kiln, "repack-1", {"AllTraffic": (model, 1, 1.0)}, environment=environment)
    answer = kiln.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="repack-1",
        Body=b"[[" + b",".join([b"1.0"] * 30) + b"]]",
        ContentType="application/json",
    )
    assert answer["Body"].read() == b"repacked"


def test_submit_directory_outside_the_model_is_refused_at_create(kiln: Kiln) -> None:
    with pytest.raises(ClientError, match="SAGEMAKER_SUBMIT_DIRECTORY"):
        kiln.sagemaker.create_model(
            ModelName="bad-code",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={
                "Image": "kiln/python",
                "Environment": {"SAGEMAKER_SUBMIT_DIRECTORY": "/etc/code"},
            },
        )


def test_traffic_splits_by_variant_weight(kiln: Kiln) -> None:
    model = _version_model(kiln)
    deploy(kiln, "split-1", {"A": (model, 1, 3.0), "B": (model, 1, 1.0)})
    runtime = kiln.client("sagemaker-runtime")
    counts = Counter(
        runtime.invoke_endpoint(EndpointName="split-1", Body=b"{}")["InvokedProductionVariant"]
        for _ in range(400)
    )
    # Binomial(400, 0.75): mean 300, sd 8.7; 4 sd either side is 265..335.
    assert 265 <= counts["A"] <= 335, counts


def test_target_variant_header_picks_the_variant(kiln: Kiln) -> None:
    model = _version_model(kiln)
    deploy(kiln, "target-1", {"A": (model, 1, 1.0), "B": (model, 1, 0.0)})
    answer = _invoke(kiln, "target-1", TargetVariant="B")
    assert answer["InvokedProductionVariant"] == "B"


def test_unknown_variant_is_a_validation_error(kiln: Kiln) -> None:
    deploy(kiln, "target-2", {"A": (_version_model(kiln), 1, 1.0)})
    with pytest.raises(ClientError) as error:
        _invoke(kiln, "target-2", TargetVariant="Nope")
    assert _code(error) == "ValidationError"


def test_target_variant_header_that_is_not_utf8_is_a_validation_error(kiln: Kiln) -> None:
    # The header's bytes b"caf\xe9" (latin-1): the router decoded them as UTF-8 and raised, a 500
    # (found by fuzzing).
    deploy(kiln, "target-3", {"A": (_version_model(kiln), 1, 1.0)})
    url = f"{kiln.endpoint}/endpoints/target-3/invocations"
    variant = {"X-Amzn-SageMaker-Target-Variant": "café"}
    response = httpx.post(
        url, content=b"{}", headers=signed_headers(kiln.settings, "POST", url, b"{}", variant)
    )
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationError"


def test_update_endpoint_under_traffic_fails_no_request(kiln: Kiln) -> None:
    model = _version_model(kiln)
    deploy(kiln, "blue-green", {"AllTraffic": (model, 1, 1.0)})
    sm = kiln.sagemaker
    sm.create_model(
        ModelName="green",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": "kiln/python",
            "ModelDataUrl": model,
            "Environment": {"VERSION": "v2"},
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="green",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "green", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}
        ],
    )  # fmt: skip
    with _Traffic(kiln, "blue-green") as traffic:
        sm.update_endpoint(EndpointName="blue-green", EndpointConfigName="green")
        assert sm.describe_endpoint(EndpointName="blue-green")["EndpointStatus"] == "Updating"
        described = wait_in_service(kiln, "blue-green")
        after = len(traffic.answers)
        _eventually(lambda: len(traffic.answers) >= after + 20)
    assert described["EndpointConfigName"] == "green"
    assert traffic.failures == []
    assert json.loads(traffic.answers[0]) == {"version": "v1"}
    assert json.loads(traffic.answers[-1]) == {"version": "v2"}


def test_killed_replica_is_replaced_under_traffic(kiln: Kiln) -> None:
    deploy(kiln, "heal-1", {"AllTraffic": (_version_model(kiln), 2, 1.0)})
    fleet = kiln.thread.kiln.endpoints.fleet("heal-1")
    assert fleet is not None
    victim = fleet.replicas["AllTraffic"][0]
    with _Traffic(kiln, "heal-1") as traffic:
        victim.process.stop(grace=0)
        # The controller swaps the replacement in once it answers /ping.
        _eventually(lambda: victim not in fleet.replicas["AllTraffic"])
        served = len(traffic.answers)
        _eventually(lambda: len(traffic.answers) >= served + 20)
    assert traffic.failures == []
    assert kiln.sagemaker.describe_endpoint(EndpointName="heal-1")["EndpointStatus"] == "InService"
    assert len(fleet.replicas["AllTraffic"]) == 2


def test_weights_and_capacities_change_in_place(kiln: Kiln) -> None:
    model = _version_model(kiln)
    deploy(kiln, "scale-1", {"A": (model, 1, 1.0), "B": (model, 1, 1.0)})
    kiln.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="scale-1",
        DesiredWeightsAndCapacities=[
            {"VariantName": "A", "DesiredWeight": 0.0},
            {"VariantName": "B", "DesiredInstanceCount": 2},
        ],
    )
    described = wait_in_service(kiln, "scale-1")
    variants = {v["VariantName"]: v for v in described["ProductionVariants"]}
    assert variants["A"]["CurrentWeight"] == 0.0
    assert variants["B"]["CurrentInstanceCount"] == 2
    assert {_invoke(kiln, "scale-1")["InvokedProductionVariant"] for _ in range(20)} == {"B"}


def test_model_errors_carry_the_original_status(kiln: Kiln) -> None:
    code = (
        "def model_fn(d):\n    return 1\ndef predict_fn(x, m):\n    raise ValueError('bad row')\n"
    )
    deploy(kiln, "err-1", {"AllTraffic": (upload_model(kiln, {"code/inference.py": code}), 1, 1.0)})
    with pytest.raises(ClientError) as error:
        _invoke(kiln, "err-1", b"[[1, 2]]")
    response = error.value.response
    assert _code(error) == "ModelError"
    assert response["OriginalStatusCode"] == 500
    assert "bad row" in response["OriginalMessage"]
    assert "Traceback" not in response["OriginalMessage"]


def test_wrong_content_type_is_a_415_model_error(kiln: Kiln) -> None:
    deploy(kiln, "ct-1", {"AllTraffic": (upload_model(kiln, sklearn_model_files()), 1, 1.0)})
    with pytest.raises(ClientError) as error:
        _invoke(kiln, "ct-1", b"<xml/>", ContentType="application/xml")
    assert _code(error) == "ModelError"
    assert error.value.response["OriginalStatusCode"] == 415


def test_payload_over_six_megabytes_is_refused(kiln: Kiln) -> None:
    deploy(kiln, "big-1", {"AllTraffic": (_version_model(kiln), 1, 1.0)})
    with pytest.raises(ClientError) as error:
        _invoke(kiln, "big-1", b"[" + b"1," * (3 * 1024 * 1024) + b"1]")
    assert _code(error) == "ValidationError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_unknown_endpoint_is_a_validation_error(kiln: Kiln) -> None:
    with pytest.raises(ClientError) as error:
        _invoke(kiln, "ghost")
    assert _code(error) == "ValidationError"
    assert "Endpoint ghost of account" in error.value.response["Error"]["Message"]


def test_artifact_that_is_not_a_tarball_fails_the_endpoint(kiln: Kiln) -> None:
    kiln.thread.kiln.objects.ensure_bucket("models")
    kiln.s3.put_object(Bucket="models", Key="junk/model.tar.gz", Body=b"not a tarball")
    deploy(kiln, "junk-1", {"AllTraffic": ("s3://models/junk/model.tar.gz", 1, 1.0)}, wait=False)
    described = wait_in_service(kiln, "junk-1")
    assert described["EndpointStatus"] == "Failed"
    assert "not a readable tar archive" in described["FailureReason"]


def test_artifact_with_traversal_fails_the_endpoint(kiln: Kiln) -> None:
    model = upload_model(kiln, {"../escape.py": "x"})
    deploy(kiln, "evil-1", {"AllTraffic": (model, 1, 1.0)}, wait=False)
    described = wait_in_service(kiln, "evil-1")
    assert described["EndpointStatus"] == "Failed"
    assert "refusing archive member" in described["FailureReason"]


def test_import_error_in_inference_code_fails_the_endpoint(kiln: Kiln) -> None:
    model = upload_model(kiln, {"code/inference.py": "import no_such_module_xyz\n"})
    deploy(kiln, "imp-1", {"AllTraffic": (model, 1, 1.0)}, wait=False)
    described = wait_in_service(kiln, "imp-1")
    assert described["EndpointStatus"] == "Failed"
    assert "no_such_module_xyz" in described["FailureReason"]


def test_missing_resources_answer_could_not_find(kiln: Kiln) -> None:
    sm = kiln.sagemaker
    for call, kwargs in [
        (sm.describe_model, {"ModelName": "nope"}),
        (sm.describe_endpoint_config, {"EndpointConfigName": "nope"}),
        (sm.describe_endpoint, {"EndpointName": "nope"}),
    ]:
        with pytest.raises(ClientError) as error:
            call(**kwargs)
        assert _code(error) == "ValidationException"
        assert error.value.response["Error"]["Message"].startswith("Could not find")


def test_config_naming_a_missing_model_is_refused(kiln: Kiln) -> None:
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_endpoint_config(
            EndpointConfigName="c1",
            ProductionVariants=[{"VariantName": "A", "ModelName": "nope", "InitialInstanceCount": 1,
                                 "InstanceType": "ml.m5.large"}],
        )  # fmt: skip
    assert "Could not find model" in error.value.response["Error"]["Message"]


def test_endpoint_outlives_its_deleted_config_and_model(kiln: Kiln) -> None:
    deploy(kiln, "inuse-1", {"AllTraffic": (_version_model(kiln), 1, 1.0)})
    # The sagemaker SDK's predictor.delete_endpoint() deletes the config first, as AWS allows.
    kiln.sagemaker.delete_endpoint_config(EndpointConfigName="inuse-1")
    kiln.sagemaker.delete_model(ModelName="inuse-1-alltraffic")
    assert json.loads(_invoke(kiln, "inuse-1")["Body"]) == {"version": "v1"}
    kiln.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="inuse-1",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}],
    )
    described = wait_in_service(kiln, "inuse-1")
    assert described["EndpointConfigName"] == "inuse-1"
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2


def test_deleted_endpoint_disappears_and_stops_its_replicas(kiln: Kiln) -> None:
    deploy(kiln, "del-1", {"AllTraffic": (_version_model(kiln), 1, 1.0)})
    fleet = kiln.thread.kiln.endpoints.fleet("del-1")
    assert fleet is not None
    process = fleet.all()[0].process
    kiln.sagemaker.delete_endpoint(EndpointName="del-1")
    kiln.sagemaker.get_waiter("endpoint_deleted").wait(
        EndpointName="del-1", WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
    )
    assert process.poll() is not None
    with pytest.raises(ClientError):
        _invoke(kiln, "del-1")


def test_a_late_adopt_of_a_serving_endpoint_keeps_its_route(kiln: Kiln) -> None:
    deploy(kiln, "adopt-1", {"AllTraffic": (_version_model(kiln), 1, 1.0)})
    # The endpoint sync adopts an owned row its last read had not noted yet; the fleet is up.
    kiln.thread.kiln.endpoints.adopt("adopt-1")
    assert json.loads(_invoke(kiln, "adopt-1")["Body"]) == {"version": "v1"}


def test_restart_brings_endpoints_back(kiln_settings: Settings) -> None:
    first = start_kiln(kiln_settings)
    deploy(first, "again-1", {"AllTraffic": (_version_model(first), 1, 1.0)})
    first.thread.stop()
    with start_kiln(replace(kiln_settings, port=0)) as second:
        # While its replicas start, the endpoint exists but cannot serve yet: 503, not 400.
        route = second.thread.kiln.routing.get("again-1")
        assert route is not None
        assert [v.name for v in route.variants] == ["AllTraffic"]
        _eventually(lambda: second.thread.kiln.endpoints.fleet("again-1") is not None)
        assert json.loads(_invoke(second, "again-1")["Body"]) == {"version": "v1"}
        assert wait_in_service(second, "again-1")["EndpointStatus"] == "InService"


def test_a_clean_stop_leaves_no_run_dir_behind(kiln_settings: Settings) -> None:
    first = start_kiln(kiln_settings)
    deploy(first, "tidy-1", {"AllTraffic": (_version_model(first), 1, 1.0)})
    assert kiln_settings.run_dir.is_dir()
    first.thread.stop()
    assert not kiln_settings.run_dir.exists()


def test_unsandboxed_replica_serves_from_its_workspace(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path / "home", database_url, KILN_SANDBOX="off")
    with start_kiln(settings) as kiln:
        deploy(kiln, "plain-1", {"AllTraffic": (upload_model(kiln, sklearn_model_files()), 1, 1.0)})
        answer = _invoke(kiln, "plain-1", json.dumps({"inputs": [ROW]}).encode())
        assert json.loads(answer["Body"]) == {"predictions": [0]}


def test_a_variant_past_the_instance_quota_is_resource_limit_exceeded(kiln: Kiln) -> None:
    sm = kiln.sagemaker
    model = upload_model(kiln, {"code/inference.py": VERSION_CODE})
    sm.create_model(ModelName="many", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": "kiln/python", "ModelDataUrl": model})  # fmt: skip
    variant = {"VariantName": "AllTraffic", "ModelName": "many", "InstanceType": "ml.m5.large",
               "InitialInstanceCount": 2**31 - 1}  # fmt: skip
    with pytest.raises(ClientError) as refused:
        sm.create_endpoint_config(EndpointConfigName="many", ProductionVariants=[variant])
    assert refused.value.response["Error"]["Code"] == "ResourceLimitExceeded"

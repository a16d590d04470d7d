"""Micro-batching through a real server, real replicas and real boto3 (docs/batching.md).

One server for the module, four endpoints deployed together: the built-in handlers on a forest
(batched by default), a custom ``predict_fn`` that answers each row with the number of rows in
its call (once without and once with ``KILN_BATCH_CUSTOM_PREDICT``), and a ``transform_fn``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from botocore.exceptions import ClientError
from sklearn.datasets import load_breast_cancer

from conftest import (
    ROLE,
    Kiln,
    deploy,
    make_settings,
    sklearn_model_files,
    start_kiln,
    upload_model,
    wait_in_service,
)

pytestmark = pytest.mark.slow

CONCURRENCY = 48
COUNTING_CODE = """
import time
import numpy as np
def model_fn(model_dir):
    return None
def predict_fn(data, model):
    time.sleep(0.05)  # long enough that concurrent requests queue behind each call
    return np.full(len(data), len(data))
"""
ECHO_CODE = """
def model_fn(model_dir):
    return None
def transform_fn(model, data, content_type, accept):
    return data, "application/json"
"""


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    """One server with room for the module's four endpoints."""
    home = tmp_path_factory.mktemp("batching")
    settings = make_settings(
        home / "kiln-home", f"sqlite:///{home / 'kiln.db'}", KILN_CAPACITY_VCPUS="16"
    )
    with start_kiln(settings) as server:
        yield server


@pytest.fixture(scope="module")
def endpoints(kiln: Kiln) -> dict[str, str]:
    """The four endpoints, started together and InService."""
    forest = upload_model(kiln, sklearn_model_files())
    counting = upload_model(kiln, {"code/inference.py": COUNTING_CODE})
    echo = upload_model(kiln, {"code/inference.py": ECHO_CODE})
    opt_in = {"KILN_BATCH_CUSTOM_PREDICT": "true"}
    plan: dict[str, tuple[str, dict[str, str]]] = {
        "forest": (forest, {}),
        "custom": (counting, {}),
        "custom-opted-in": (counting, opt_in),
        "transform": (echo, opt_in),
    }
    for name, (uri, environment) in plan.items():
        deploy(kiln, name, {"main": (uri, 1, 1.0)}, environment=environment, wait=False)
    for name in plan:
        assert wait_in_service(kiln, name)["EndpointStatus"] == "InService"
    return {name: name for name in plan}


def invoke(kiln: Kiln, endpoint: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    """InvokeEndpoint with boto3: status and body (a ModelError's status is 424)."""
    try:
        answer = kiln.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, Body=body, ContentType=content_type, Accept=content_type
        )
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], b""
    return 200, answer["Body"].read()


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` on as many threads, released together; their results in order."""
    results: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        start.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def forest_requests() -> list[tuple[bytes, str]]:
    """Bodies of 1–3 rows of the breast-cancer data, JSON and CSV mixed."""
    x = load_breast_cancer().data
    requests = []
    for i in range(CONCURRENCY):
        rows = x[i : i + 1 + i % 3]
        if i % 4 == 3:
            csv = "\n".join(",".join(str(v) for v in row) for row in rows)
            requests.append((csv.encode(), "text/csv"))
        else:
            requests.append((orjson.dumps({"inputs": rows.tolist()}), "application/json"))
    return requests


def test_concurrent_requests_get_exactly_the_answers_sent_one_by_one(
    kiln: Kiln, endpoints: dict[str, str]
) -> None:
    requests = forest_requests()
    alone = [invoke(kiln, "forest", body, kind) for body, kind in requests]
    together = at_once(
        [lambda body=body, kind=kind: invoke(kiln, "forest", body, kind) for body, kind in requests]
    )
    assert together == alone
    assert all(status == 200 for status, _ in alone)


def test_a_request_the_model_refuses_fails_alone_among_concurrent_ones(
    kiln: Kiln, endpoints: dict[str, str]
) -> None:
    requests = forest_requests()[:16]
    bad = np.full((1, 30), 1e39).tolist()  # float32 infinity: the forest refuses it
    requests[5] = (orjson.dumps({"inputs": bad}), "application/json")
    together = at_once(
        [lambda body=body, kind=kind: invoke(kiln, "forest", body, kind) for body, kind in requests]
    )
    assert [status for status, _ in together] == [424 if i == 5 else 200 for i in range(16)]
    good = [r for i, r in enumerate(requests) if i != 5]
    assert [a for i, a in enumerate(together) if i != 5] == [
        invoke(kiln, "forest", *r) for r in good
    ]


def _row_counts(kiln: Kiln, endpoint: str) -> list[int]:
    body = orjson.dumps({"inputs": [[1.0, 2.0]]})
    answers = at_once([lambda: invoke(kiln, endpoint, body, "application/json")] * CONCURRENCY)
    return [orjson.loads(answer)["predictions"][0] for _, answer in answers]


def test_a_custom_predict_fn_is_not_batched_without_opting_in(
    kiln: Kiln, endpoints: dict[str, str]
) -> None:
    assert set(_row_counts(kiln, "custom")) == {1}


def test_a_custom_predict_fn_is_batched_when_opted_in(
    kiln: Kiln, endpoints: dict[str, str]
) -> None:
    # The first burst opens the router's connections to the replica, which accepts about one
    # a loop turn (one predict call each); the second arrives on pooled ones, as steady load.
    _row_counts(kiln, "custom-opted-in")
    assert max(_row_counts(kiln, "custom-opted-in")) > 1


def test_transform_fn_sees_each_request_alone_even_when_opted_in(
    kiln: Kiln, endpoints: dict[str, str]
) -> None:
    bodies = [orjson.dumps({"inputs": [[float(i)]]}) for i in range(CONCURRENCY)]
    answers = at_once(
        [lambda body=body: invoke(kiln, "transform", body, "application/json") for body in bodies]
    )
    assert answers == [(200, body) for body in bodies]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KILN_MAX_BATCH_SIZE", "0"),
        ("KILN_MAX_BATCH_SIZE", "lots"),
        ("KILN_MAX_BATCH_DELAY_MS", "5000"),
        ("KILN_BATCHING", "sometimes"),
    ],
)
def test_create_model_refuses_batching_settings_out_of_range(
    kiln: Kiln, tmp_path: Path, name: str, value: str
) -> None:
    model = f"bad-{name.lower().replace('_', '-')}-{len(value)}"
    container = {
        "Image": "kiln/python",
        "ModelDataUrl": "s3://models/none/model.tar.gz",
        "Environment": {name: value},
    }
    with pytest.raises(ClientError) as raised:
        kiln.sagemaker.create_model(
            ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer=container
        )
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert name in error["Message"]
    assert repr(value) in error["Message"]
    with pytest.raises(ClientError):
        kiln.sagemaker.describe_model(ModelName=model)

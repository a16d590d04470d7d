"""Scale to zero and warm starts through a real server, real replicas and real boto3 clients."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (
    LOCAL_BACKEND_ONLY,
    Kiln,
    deploy,
    make_settings,
    sklearn_model_files,
    source_tarball,
    start_kiln,
    upload_model,
    wait_in_service,
    wait_until,
)

pytestmark = pytest.mark.slow

ROW = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095,
       0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38,
       17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]  # fmt: skip
QUEUE = 6

# A replica that reports what it holds: its first random draws and its open descriptors.
STATE_CODE = """
import json, os, random
import numpy
DRAWS = (random.random(), float(numpy.random.random()))
def model_fn(model_dir):
    return None
def transform_fn(model, data, content_type, accept):
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return json.dumps({"draws": DRAWS, "fds": fds}), "application/json"
"""


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    """One server for the module: warm spares on, a small cold-start queue and timeout."""
    home = tmp_path_factory.mktemp("zero") / "home"
    settings = make_settings(
        home,
        f"sqlite:///{home.parent / 'kiln.db'}",
        KILN_WARM_SPARES="1",
        KILN_COLD_START_QUEUE=str(QUEUE),
        KILN_COLD_START_TIMEOUT_SECONDS="8",
    )
    with start_kiln(settings) as server:
        yield server


def _runtime(kiln: Kiln) -> Any:
    """A runtime client that does not retry 503s (botocore would, hiding them)."""
    creds = kiln.settings.credentials
    return boto3.session.Session().client(
        "sagemaker-runtime",
        endpoint_url=kiln.endpoint,
        region_name=kiln.settings.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=Config(retries={"max_attempts": 0, "mode": "standard"}, read_timeout=60),
    )


def _invoke(runtime: Any, endpoint: str, body: Any) -> Any:
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=json.dumps(body), ContentType="application/json"
    )
    return json.loads(answer["Body"].read())


def _scale(kiln: Kiln, endpoint: str, count: int) -> dict[str, Any]:
    kiln.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": count}],
    )
    return wait_in_service(kiln, endpoint)


def _spares(kiln: Kiln) -> Any:
    return kiln.thread.kiln.spares


def test_a_variant_at_zero_holds_concurrent_requests_and_answers_them_all(kiln: Kiln) -> None:
    deploy(kiln, "zero", {"AllTraffic": (upload_model(kiln, sklearn_model_files()), 1, 1.0)})
    (variant,) = _scale(kiln, "zero", 0)["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (0, 0)
    assert variant["VariantStatus"][0]["Status"] == "ActivatingTraffic"
    # From a warm spare, as in production: a cold start on this loaded box can outlast 8 s.
    # (On Ray there are none: a replica starts on a node.)
    if _spares(kiln) is not None:
        wait_until(lambda: _spares(kiln).count() == 1, "a warm spare")
    runtime = _runtime(kiln)
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: _invoke(runtime, "zero", {"inputs": [ROW]}), range(5)))
    assert answers == [{"predictions": [0]}] * 5
    (variant,) = kiln.sagemaker.describe_endpoint(EndpointName="zero")["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (1, 1)
    assert "VariantStatus" not in variant


def test_a_full_queue_and_the_timeout_answer_503_naming_the_scaled_variant(kiln: Kiln) -> None:
    bucket, key = "models", "broken/model.tar.gz"
    kiln.thread.kiln.objects.ensure_bucket(bucket)
    kiln.s3.put_object(Bucket=bucket, Key=key, Body=source_tarball(sklearn_model_files()))
    deploy(kiln, "broken", {"AllTraffic": (f"s3://{bucket}/{key}", 1, 1.0)})
    _scale(kiln, "broken", 0)
    kiln.s3.delete_object(Bucket=bucket, Key=key)  # so its start from zero never succeeds
    runtime = _runtime(kiln)
    with ThreadPoolExecutor(QUEUE) as pool:
        held = [pool.submit(_refusal, runtime, "broken") for _ in range(QUEUE)]
        wait_until(lambda: kiln.thread.kiln.data_plane.held == QUEUE, "requests held")
        full = _refusal(runtime, "broken")
        timed_out = [future.result() for future in held]
    assert full[0] == "ServiceUnavailable"
    assert f"is scaled to zero and starting an instance; its queue of {QUEUE}" in full[1]
    for code, message in timed_out:
        assert code == "ServiceUnavailable"
        assert "is scaled to zero and its instance did not start within 8 s" in message


@LOCAL_BACKEND_ONLY  # warm spares are forked on the server's machine
def test_a_replica_from_a_warm_spare_serves_and_the_spare_is_replaced(kiln: Kiln) -> None:
    wait_until(lambda: _spares(kiln).count() == 1, "a warm spare")
    deploy(kiln, "warm", {"AllTraffic": (upload_model(kiln, sklearn_model_files()), 1, 1.0)})
    assert _invoke(_runtime(kiln), "warm", {"inputs": [ROW]}) == {"predictions": [0]}
    fleet = kiln.thread.kiln.endpoints.fleet("warm")
    assert fleet is not None
    (replica,) = fleet.all()
    assert replica.is_from_spare
    wait_until(lambda: _spares(kiln).count() == 1, "a replacement spare")


@LOCAL_BACKEND_ONLY  # warm spares are forked on the server's machine
def test_replicas_from_spares_share_no_random_state_or_descriptors(kiln: Kiln) -> None:
    model = upload_model(kiln, {"code/inference.py": STATE_CODE})
    seen = []
    for name in ("state-a", "state-b"):
        wait_until(lambda: _spares(kiln).count() == 1, "a warm spare")
        deploy(kiln, name, {"AllTraffic": (model, 1, 1.0)})
        seen.append(_invoke(_runtime(kiln), name, {}))
    assert seen[0]["draws"][0] != seen[1]["draws"][0]
    assert seen[0]["draws"][1] != seen[1]["draws"][1]
    home = str(kiln.settings.home)
    for answer in seen:
        targets = list(answer["fds"].values())
        assert not [t for t in targets if home in t or t.endswith(".db")]
        # Besides stdout and stderr, only pipes it made itself (both ends: uvloop's wakeups);
        # one end alone would be inherited (the spare's control pipe is closed after the go).
        pipes = Counter(t for fd, t in answer["fds"].items() if fd not in ("1", "2"))
        assert [t for t, n in pipes.items() if t.startswith("pipe:") and n != 2] == []


@LOCAL_BACKEND_ONLY  # warm spares are forked on the server's machine
def test_a_spare_that_dies_after_it_is_taken_does_not_break_a_start(
    kiln: Kiln, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait_until(lambda: _spares(kiln).count() == 1, "a warm spare")
    spares = _spares(kiln)
    take = spares.take

    def take_then_die(key: Any) -> Any:
        # The crash lands between take and the go: the one window the keeper cannot cover.
        spare = take(key)
        if spare is not None:
            spare.process.stop(0)
        return spare

    monkeypatch.setattr(spares, "take", take_then_die)
    deploy(kiln, "after-dead", {"AllTraffic": (upload_model(kiln, sklearn_model_files()), 1, 1.0)})
    monkeypatch.undo()
    assert _invoke(_runtime(kiln), "after-dead", {"inputs": [ROW]}) == {"predictions": [0]}
    fleet = kiln.thread.kiln.endpoints.fleet("after-dead")
    assert fleet is not None
    assert [r.is_from_spare for r in fleet.all()] == [False]  # started cold in its place
    wait_until(lambda: _spares(kiln).count() == 1, "a replacement spare")


@LOCAL_BACKEND_ONLY  # warm spares are forked on the server's machine
def test_server_stop_leaves_no_spare_process(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path / "home", database_url, KILN_WARM_SPARES="1")
    with start_kiln(settings) as server:
        wait_until(lambda: server.thread.kiln.spares.count() == 1, "a warm spare")
        pids = [s.process.pid for slot in server.thread.kiln.spares._slots.values()
                for s in slot.spares]  # fmt: skip
    assert pids
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert not list((settings.pids_dir / "replicas").glob("*.json"))


def _refusal(runtime: Any, endpoint: str) -> tuple[str, str]:
    with pytest.raises(ClientError) as refused:
        _invoke(runtime, endpoint, {"inputs": [ROW]})
    error = refused.value.response["Error"]
    return str(error["Code"]), str(error["Message"])

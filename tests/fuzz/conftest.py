"""Fixtures of the fuzz suite: hypothesis profiles, the operations Kiln serves, one Kiln for the
package, boto3 clients that let anything through, signed raw requests, and the answer checks.

``HYPOTHESIS_PROFILE=ci`` (the default, what ``make test`` and CI run: a few dozen examples per
operation, the same ones on every run) or ``long`` (``make fuzz``: many more, new ones each run).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import boto3
import httpx
import orjson
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from hypothesis import HealthCheck, event, reject, settings

from conftest import ROLE, make_settings, signed_headers, sklearn_model_files, source_tarball
from kiln.config import Settings
from kiln.ports import free_port
from kiln.server import KilnServer
from kiln.storage import terminate, wait_for_port

from .strategies import LIVE, NAMES, REGION, operation_model, signing_name

HERE = Path(__file__).resolve().parent

# The suite drives a live server: examples are slow by unit-test standards (no deadline), and
# the autouse clean_environ fixture runs once per test, not per example, which is what we want.
_COMMON = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
    print_blob=True,
)
# ci: the same examples on every run (derandomize), so a red CI is always this change's doing;
# new inputs are the long profile's job.
settings.register_profile("ci", _COMMON, max_examples=25, derandomize=True, database=None)
settings.register_profile("long", _COMMON, max_examples=1000)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "long"):
    raise pytest.UsageError(f"HYPOTHESIS_PROFILE={PROFILE!r}: expected 'ci' or 'long'")
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/fuzz carries the ``fuzz`` marker."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.fuzz)


def served_operations() -> list[tuple[str, str]]:
    """(botocore service, operation) for every operation a Kiln server serves, as it lists them."""
    with tempfile.TemporaryDirectory() as home:
        server = KilnServer(make_settings(Path(home), f"sqlite:///{home}/kiln.db"))
        try:
            served = server.apis.operations
        finally:
            server.engine.dispose()
    every = [(service, name) for service, names in sorted(served.items()) for name in names]
    return sorted(every, key=lambda op: (_PHASES.get(xform_name(op[1]).split("_")[0], 1), op))


# Creates run first and deletes last, so that the operations between find resources to act on.
_PHASES = {"create": 0, "add": 0, "delete": 2, "stop": 2}


OPERATIONS = served_operations()


def _speaks(operation: tuple[str, str], protocol: str) -> bool:
    """Whether botocore may send ``operation`` in ``protocol`` (CloudWatch: CBOR, JSON 1.0,
    query; Kiln serves the last two)."""
    metadata = operation_model(*operation).metadata
    return protocol in metadata.get("protocols", [metadata["protocol"]])


JSON_OPERATIONS = [op for op in OPERATIONS if _speaks(op, "json")]
QUERY_OPERATIONS = [op for op in OPERATIONS if _speaks(op, "query")]


def operation_id(operation: tuple[str, str]) -> str:
    """``sagemaker.CreateModel``: a test id."""
    return ".".join(operation)


class Target:
    """A ``kiln server`` process under fuzz: where it listens, its keys, its log, clients."""

    def __init__(self, process: subprocess.Popen[bytes], settings: Settings, log: Path) -> None:
        self.process = process
        self.settings = settings
        self.log = log
        self._clients: dict[str, Any] = {}
        self._http = httpx.Client(timeout=60)

    def __repr__(self) -> str:  # what hypothesis prints of the fixture in a failing example
        return f"Target({self.endpoint}, pid {self.process.pid})"

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint

    def client(self, service: str) -> Any:
        """A boto3 client that skips its own validation and never retries."""
        if service not in self._clients:
            is_s3 = service == "s3"
            creds = self.settings.s3_credentials if is_s3 else self.settings.credentials
            self._clients[service] = boto3.session.Session().client(
                service,
                endpoint_url=self.settings.s3_endpoint_url if is_s3 else self.endpoint,
                region_name=self.settings.region,
                aws_access_key_id=creds.access_key_id,
                aws_secret_access_key=creds.secret_access_key,
                # total_max_attempts: legacy retry mode reads max_attempts as retries, not attempts.
                config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
            )
        return self._clients[service]

    def signed(
        self, service: str, path: str, body: bytes, headers: Mapping[str, str], method: str = "POST"
    ) -> httpx.Response:
        """Send a raw request to botocore's ``service``, signed as botocore signs it (SigV4)."""
        url = self.endpoint + path
        # HTTP has no header value that starts or ends in whitespace (h11 refuses to send one).
        stripped = {name: value.strip(" \t") for name, value in headers.items()}
        signed = signed_headers(self.settings, method, url, body, stripped, signing_name(service))
        try:
            return self._http.request(method, url, content=body, headers=signed)
        except httpx.LocalProtocolError:
            reject()  # h11 would not send it (a control character in a header): draw another

    def close(self) -> None:
        """Close the clients' connections."""
        self._http.close()
        for client in self._clients.values():
            client.close()

    def rss_kib(self) -> int:
        """The server process's resident set (VmRSS), in KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(
            next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
        )

    def deploy(self, name: str, variant_name: str) -> None:
        """Serve a small random forest at endpoint ``name`` (model and config ``name`` too)."""
        s3, sagemaker = self.client("s3"), self.client("sagemaker")
        s3.create_bucket(Bucket="fuzz-models")
        s3.put_object(
            Bucket="fuzz-models", Key="model.tar.gz", Body=source_tarball(sklearn_model_files())
        )
        container = {"Image": "kiln/python", "ModelDataUrl": "s3://fuzz-models/model.tar.gz"}
        sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
        variant = {"VariantName": variant_name, "ModelName": name, "InstanceType": "ml.m5.large"}
        variant["InitialInstanceCount"] = 1
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600}
        )


@contextmanager
def kiln_process(home: Path) -> Iterator[Target]:
    """``kiln server`` in its own session (its store and replicas in its process group), as
    ``make_settings`` configures the test servers; stopped and reaped on exit."""
    env = {
        "KILN_HOME": str(home),
        "KILN_PORT": str(free_port()),
        "KILN_S3_PORT": str(free_port()),
        "KILN_STOP_GRACE_SECONDS": "3",
        "KILN_CAPACITY_VCPUS": "4",
        "KILN_CAPACITY_MEMORY_MIB": "16384",
        "KILN_CAPACITY_GPUS": "0",
        "KILN_CHECK_RESPONSES": "1",
    }
    settings = Settings.from_env(env)  # writes the key pair the server will read
    outside = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "AWS_"))}
    log = home.parent / f"{home.name}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "kiln.cli", "server"],
            env={**outside, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(settings.host, settings.port, 60, process)
        target = Target(process, settings, log)
        try:
            yield target
        finally:
            target.close()
    finally:
        terminate(process, grace=10)


@pytest.fixture(scope="package")
def fuzz_kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """One ``kiln server`` for the package, endpoint LIVE serving a model (variant NAMES[0]);
    after the package, its log must hold no traceback: a controller that died counts too."""
    with kiln_process(tmp_path_factory.mktemp("fuzz") / "kiln-home") as target:
        assert target.settings.region == REGION
        target.deploy(LIVE, NAMES[0])
        yield target
    assert "Traceback" not in target.log.read_text(errors="replace")


def check_answer(response: httpx.Response) -> None:
    """Kiln's answer to an AWS API request: below 500, no traceback, its protocol's shape."""
    check_no_traceback(response.status_code, response.content)
    check_shape(response.status_code, response.headers.get("content-type", ""), response.content)
    count_answer(response.status_code, response.content)


def count_answer(status: int, body: bytes) -> None:
    """Tell hypothesis what came back (``--hypothesis-show-statistics`` shows how often)."""
    code = re.search(rb'"__type":"(\w+)"|<Code>(\w+)</Code>', body) if status >= 300 else None
    event(f"{status} {(code.group(1) or code.group(2)).decode() if code else ''}".strip())


def check_no_traceback(status: int, body: bytes) -> None:
    """No 5xx, and no Python traceback in the body."""
    assert status < 500, f"{status}: {body[:2000]!r}"
    assert b"Traceback" not in body, body[:2000]
    assert b'File "' not in body, body[:2000]


def check_shape(status: int, content_type: str, body: bytes) -> None:
    """JSON 1.1 and 1.0 answers are objects, errors with ``__type`` and ``message``; query answers
    are XML, errors an ``<ErrorResponse>`` with a code and a message."""
    if content_type.startswith(("application/x-amz-json-1.1", "application/x-amz-json-1.0")):
        document = orjson.loads(body)
        assert isinstance(document, dict), body[:2000]
        if status >= 300:
            assert isinstance(document.get("__type"), str), document
            assert isinstance(document.get("message"), str), document
    elif content_type.startswith("text/xml"):
        root = ElementTree.fromstring(body)
        if status >= 300:
            texts = {_local(e.tag): e.text for e in root.iter()}
            assert _local(root.tag) == "ErrorResponse", body[:2000]
            assert texts.get("Code"), body[:2000]
            assert "Message" in texts, body[:2000]
    else:
        raise AssertionError(f"{status} answer of type {content_type!r}: {body[:2000]!r}")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# uvicorn's parser refuses what is not HTTP, such as a control character in a header value
# (RFC 9110 §5.5), before any app sees it: a plain 400, which is right.
NOT_HTTP = (400, b"Invalid HTTP request received.")


def check_invocation_parts(status: int, headers: Mapping[str, str], body: bytes) -> None:
    """The runtime's answer: below 500, no traceback; errors name their type and say why."""
    check_no_traceback(status, body)
    if (status, body) == NOT_HTTP:
        event("400 not HTTP")
        return
    if status >= 400:
        assert headers.get("x-amzn-errortype"), headers
        document = orjson.loads(body)
        assert isinstance(document.get("message") or document.get("Message"), str), document
    count_answer(status, body)


def call_boto3(kiln: Target, service: str, operation: str, params: dict[str, Any]) -> None:
    """Call ``operation`` through boto3 and check the answer Kiln sent."""
    status, headers, body = boto3_answer(kiln.client(service), operation, params)
    check_no_traceback(status, body)
    check_shape(status, headers.get("content-type", ""), body)
    count_answer(status, body)


def boto3_answer(
    client: Any, operation: str, params: dict[str, Any]
) -> tuple[int, dict[str, str], bytes]:
    """Call ``operation`` through ``client``; the status, headers and body Kiln answered.
    What boto3's serializer refuses to send is rejected (hypothesis draws another)."""
    answers: list[dict[str, Any]] = []

    def record(response_dict: dict[str, Any] | None, **_: Any) -> None:
        if response_dict is not None:
            answers.append(response_dict)

    client.meta.events.register("response-received", record)
    try:
        getattr(client, xform_name(operation))(**params)
    except ClientError:
        pass
    except (TypeError, ValueError, KeyError, AttributeError, UnicodeError, OverflowError):
        if not answers:
            reject()  # a member the serializer cannot write, or one the URI needs, missing
        raise
    except HTTPClientError as e:
        if not answers and isinstance(e.kwargs.get("error"), ValueError):
            reject()  # http.client refused a header value (a CR in it)
        raise
    finally:
        client.meta.events.unregister("response-received", record)
    (answer,) = answers
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    return answer["status_code"], headers, answer["body"]


def json_target(service: str, operation: str) -> str:
    """The ``X-Amz-Target`` of a JSON 1.1 operation."""
    prefix = operation_model(service, operation).service_model.metadata["targetPrefix"]
    return f"{prefix}.{operation}"

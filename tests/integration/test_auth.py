"""The auth gate, driven through real boto3 clients and raw HTTP against a live server."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import boto3
import botocore.auth
import httpx
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError

from conftest import NO_RETRIES, Kiln, make_settings, start_kiln
from kiln.config import Credentials
from kiln.sdk.signing import call_native, signed_headers

# One cheap call per API Kiln serves, and the error code each protocol gives for each refusal.
CALLS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "sagemaker": ("json", lambda c: c.list_models()),
    "logs": ("json", lambda c: c.describe_log_groups()),
    "sagemaker-runtime": ("rest", lambda c: c.invoke_endpoint(EndpointName="e", Body=b"1")),
    "sts": ("query", lambda c: c.get_caller_identity()),
    "iam": ("query", lambda c: c.get_role(RoleName="r")),
}
_MISSING = "MissingAuthenticationTokenException"
CODES = {
    "missing": {"json": _MISSING, "rest": _MISSING, "query": "MissingAuthenticationToken"},
    "signature": {"json": "InvalidSignatureException", "rest": "InvalidSignatureException",
                  "query": "SignatureDoesNotMatch"},
    "unknown": {"json": "UnrecognizedClientException", "rest": "UnrecognizedClientException",
                "query": "InvalidClientTokenId"},
}  # fmt: skip


def _client(kiln: Kiln, service: str, creds: Credentials | None, token: str | None = None) -> Any:
    """A boto3 client signing with ``creds`` (unsigned when None)."""
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=kiln.endpoint,
        region_name=kiln.settings.region,
        aws_access_key_id=creds.access_key_id if creds else "unused",
        aws_secret_access_key=creds.secret_access_key if creds else "unused",
        aws_session_token=token,
        config=NO_RETRIES.merge(Config(signature_version=UNSIGNED))
        if creds is None
        else NO_RETRIES,
    )


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


@pytest.mark.parametrize("service", list(CALLS))
def test_unsigned_requests_are_refused_on_every_api(kiln: Kiln, service: str) -> None:
    protocol, call = CALLS[service]
    assert _code(lambda: call(_client(kiln, service, None))) == CODES["missing"][protocol]


@pytest.mark.parametrize("service", list(CALLS))
def test_a_wrong_secret_is_an_invalid_signature_on_every_api(kiln: Kiln, service: str) -> None:
    protocol, call = CALLS[service]
    wrong = Credentials(kiln.settings.credentials.access_key_id, "x" * 40)
    assert _code(lambda: call(_client(kiln, service, wrong))) == CODES["signature"][protocol]


@pytest.mark.parametrize("service", list(CALLS))
def test_an_unknown_key_is_unrecognized_on_every_api(kiln: Kiln, service: str) -> None:
    protocol, call = CALLS[service]
    stranger = Credentials("AKIKNOBODY0000000000", "y" * 40)
    assert _code(lambda: call(_client(kiln, service, stranger))) == CODES["unknown"][protocol]


@pytest.mark.parametrize("service", list(CALLS))
def test_a_request_signed_sixteen_minutes_ago_is_refused(
    kiln: Kiln, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Replaying a captured request after the skew window is the same request, signed earlier.
    earlier = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        minutes=16
    )
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: earlier)
    protocol, call = CALLS[service]
    client = _client(kiln, service, kiln.settings.credentials)
    with pytest.raises(ClientError) as refused:
        call(client)
    error = refused.value.response["Error"]
    assert error["Code"] == CODES["signature"][protocol]
    assert "Signature expired" in error["Message"]


def test_native_paths_refuse_unsigned_requests(kiln: Kiln) -> None:
    response = httpx.get(f"{kiln.endpoint}/kiln/v1/endpoints/e/replicas")
    assert response.status_code == 403
    assert response.json()["__type"] == "MissingAuthenticationTokenException"


def test_ping_is_open(kiln: Kiln) -> None:
    assert httpx.get(f"{kiln.endpoint}/ping").status_code == 200


def test_a_presigned_native_url_is_let_in_and_a_zero_expiry_is_refused(kiln: Kiln) -> None:
    creds = kiln.settings.credentials
    url = f"{kiln.endpoint}/kiln/v1/endpoints/e/replicas"

    def presigned(expires: int) -> str:
        request = AWSRequest(method="GET", url=url)
        SigV4QueryAuth(
            BotoCredentials(creds.access_key_id, creds.secret_access_key),
            "sagemaker", kiln.settings.region, expires=expires,
        ).add_auth(request)  # fmt: skip
        return str(request.url)

    assert httpx.get(presigned(60)).json()["__type"] == "ValidationException"  # let in: no such
    # expires=1 and a clock one minute on would be the same; a negative expiry is refused outright
    assert httpx.get(presigned(0)).json()["__type"] == "IncompleteSignatureException"


def test_a_changed_body_fails_the_signature(kiln: Kiln) -> None:
    url, body = kiln.endpoint + "/", b"{}"
    target = {"X-Amz-Target": "SageMaker.ListModels", "Content-Type": "application/x-amz-json-1.1"}
    headers = signed_headers(kiln.settings, "POST", url, body, target)
    assert httpx.post(url, content=body, headers=headers).status_code == 200
    tampered = httpx.post(url, content=b'{"MaxResults": 1}', headers=headers)
    assert tampered.json()["__type"] == "InvalidSignatureException"


def _create_key(kiln: Kiln, user: str, policy: str, kind: str = "access") -> dict[str, Any]:
    settings = replace(kiln.settings, endpoint=kiln.endpoint)
    answer: dict[str, Any] = call_native(
        settings, "POST", "/kiln/v1/keys", {"User": user, "Policy": policy, "Kind": kind}
    )
    return answer


def _pair(answer: dict[str, Any]) -> Credentials:
    return Credentials(answer["AccessKeyId"], answer["SecretAccessKey"])


def test_a_viewer_may_list_but_not_create(kiln: Kiln) -> None:
    viewer = _client(kiln, "sagemaker", _pair(_create_key(kiln, "val", "viewer")))
    assert viewer.list_models()["Models"] == []
    with pytest.raises(ClientError) as refused:
        viewer.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                            PrimaryContainer={"Image": "x"})  # fmt: skip
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        "User: arn:aws:iam::000000000000:user/val is not authorized to perform: "
        "sagemaker:CreateModel on resource: arn:aws:sagemaker:us-east-1:000000000000:model/m "
        "because no identity-based policy allows the sagemaker:CreateModel action"
    )


def test_an_invoker_may_invoke_only_its_endpoints(kiln: Kiln) -> None:
    runtime = _client(kiln, "sagemaker-runtime", _pair(_create_key(kiln, "ivy", "invoker:mine")))
    # Let in, then told there is no such endpoint; the other endpoint is not its to call.
    assert _code(lambda: runtime.invoke_endpoint(EndpointName="mine", Body=b"1")) == (
        "ValidationError"
    )
    assert _code(lambda: runtime.invoke_endpoint(EndpointName="theirs", Body=b"1")) == (
        "AccessDeniedException"
    )
    sagemaker = _client(kiln, "sagemaker", _pair(_create_key(kiln, "ivy", "invoker:mine")))
    assert _code(lambda: sagemaker.list_endpoints()) == "AccessDeniedException"


def test_a_bearer_key_calls_native_paths_and_invocations(kiln: Kiln) -> None:
    key = _create_key(kiln, "loadgen", "admin", kind="bearer")["ApiKey"]
    auth = {"Authorization": f"Bearer {key}"}
    replicas = httpx.get(f"{kiln.endpoint}/kiln/v1/endpoints/none/replicas", headers=auth)
    assert replicas.json()["__type"] == "ValidationException"  # let in: there is no such endpoint
    invoked = httpx.post(f"{kiln.endpoint}/endpoints/none/invocations", content=b"1", headers=auth)
    assert invoked.headers["x-amzn-errortype"] == "ValidationError"


def test_an_unknown_bearer_key_is_unrecognized(kiln: Kiln) -> None:
    auth = {"Authorization": "Bearer kiln_kb000000000000_nope"}
    invoked = httpx.post(f"{kiln.endpoint}/endpoints/e/invocations", content=b"1", headers=auth)
    assert invoked.status_code == 403
    assert invoked.headers["x-amzn-errortype"] == "UnrecognizedClientException"


def test_a_revoked_key_is_refused_at_once(kiln: Kiln) -> None:
    answer = _create_key(kiln, "rex", "viewer")
    client = _client(kiln, "sagemaker", _pair(answer))
    client.list_models()
    kiln.thread.kiln.keys.revoke(answer["AccessKeyId"])
    assert _code(lambda: client.list_models()) == "UnrecognizedClientException"


def test_session_credentials_carry_their_role_and_need_their_token(kiln: Kiln) -> None:
    session = kiln.thread.kiln.keys.create_session("kiln", "job-7", seconds=600)
    pair = Credentials(session.access_key_id, session.secret_access_key)
    sts = _client(kiln, "sts", pair, token=session.session_token)
    assert sts.get_caller_identity()["Arn"] == "arn:aws:sts::000000000000:assumed-role/kiln/job-7"
    assert _code(lambda: _client(kiln, "sts", pair).get_caller_identity()) == "InvalidClientTokenId"
    # The default role may use the store, and nothing on the control plane.
    control = _client(kiln, "sagemaker", pair, token=session.session_token)
    assert _code(lambda: control.list_training_jobs()) == "AccessDeniedException"


def test_expired_session_credentials_are_an_expired_token(kiln: Kiln) -> None:
    session = kiln.thread.kiln.keys.create_session("kiln", "job-8", seconds=-1)
    pair = Credentials(session.access_key_id, session.secret_access_key)
    sagemaker = _client(kiln, "sagemaker", pair, token=session.session_token)
    assert _code(lambda: sagemaker.list_models()) == "ExpiredTokenException"


def test_an_ml_engineer_cannot_manage_keys(kiln: Kiln) -> None:
    engineer = _pair(_create_key(kiln, "eve", "ml-engineer"))
    settings = replace(kiln.settings, credentials=engineer, endpoint=kiln.endpoint)
    with pytest.raises(urllib.error.HTTPError) as refused:
        call_native(settings, "GET", "/kiln/v1/keys")
    assert json.loads(refused.value.read())["__type"] == "AccessDeniedException"


def test_auth_off_accepts_unsigned_requests_on_loopback(tmp_path: Any, database_url: str) -> None:
    with start_kiln(make_settings(tmp_path / "home", database_url, KILN_AUTH="0")) as server:
        unsigned = _client(server, "sagemaker", None)
        assert unsigned.list_models()["Models"] == []


def test_cli_creates_lists_and_revokes_keys(cli_env: dict[str, str]) -> None:
    env = {**os.environ, **cli_env}

    def kiln_cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "kiln.cli", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    created = kiln_cli("keys", "create", "--user", "ci", "--policy", "viewer")
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
    assert key_id in kiln_cli("keys", "ls").stdout
    assert kiln_cli("keys", "revoke", key_id).returncode == 0
    assert key_id not in kiln_cli("keys", "ls").stdout
    refused = kiln_cli("keys", "create", "--user", "ci", "--policy", "superuser")
    assert refused.returncode == 1
    assert "Unknown policy" in refused.stderr


def test_creating_a_job_needs_pass_role_on_its_role(kiln: Kiln) -> None:
    policy = json.dumps({"Statement": [
        {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/mine"},
    ]})  # fmt: skip
    sagemaker = _client(kiln, "sagemaker", _pair(_create_key(kiln, "pat", policy)))
    model = {"ModelName": "m", "PrimaryContainer": {"Image": "kiln/python"}}
    with pytest.raises(ClientError) as refused:
        sagemaker.create_model(**model, ExecutionRoleArn="arn:aws:iam::000000000000:role/admin")
    assert "iam:PassRole" in refused.value.response["Error"]["Message"]
    sagemaker.create_model(**model, ExecutionRoleArn="arn:aws:iam::000000000000:role/mine")


def test_a_role_cannot_take_a_users_name(kiln: Kiln) -> None:
    settings = replace(kiln.settings, endpoint=kiln.endpoint)
    with pytest.raises(urllib.error.HTTPError) as refused:
        call_native(settings, "PUT", "/kiln/v1/roles/admin", {"Policy": "admin"})
    assert "a role cannot take its name" in json.loads(refused.value.read())["message"]

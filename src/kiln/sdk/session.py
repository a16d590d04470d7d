"""``kiln.Session``: the SDK's connection to a Kiln server, named as in sagemaker SDK v2.

Everything goes through boto3 (``sagemaker``, ``sagemaker-runtime`` and ``logs`` on
``Settings.endpoint``, ``s3`` on the store); the SDK never touches the server's files.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError

from kiln.config import Settings
from kiln.errors import ValidationError
from kiln.sdk.errors import UnexpectedStatusError
from kiln.sdk.logs import POLL_SECONDS, TERMINAL, JobFollower, job_log
from kiln.sdk.progress import transfer_progress
from kiln.sdk.signing import call_native
from kiln.storage import ObjectStore, S3Uri

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import (
        DescribeEndpointOutputTypeDef,
        DescribeTrainingJobResponseTypeDef,
        WaiterConfigTypeDef,
    )
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

DEFAULT_BUCKET = "kiln-default"
# Kiln endpoints start in seconds: poll often (SageMaker's own waiter waits 30 s between looks).
ENDPOINT_POLL_SECONDS = 0.1
# As long as SageMaker's EndpointInService waiter waits (30 s x 120); replicas fail sooner.
ENDPOINT_WAIT_SECONDS = 3600.0
_TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack")


class Session:
    """Clients for one Kiln server: the SageMaker API, the object store and job logs."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = Settings.for_client() if settings is None else settings
        self.sagemaker_client: SageMakerClient = sagemaker_client(self.settings)
        self.s3 = ObjectStore.from_settings(self.settings)

    @cached_property
    def sagemaker_runtime_client(self) -> SageMakerRuntimeClient:
        """A boto3 ``sagemaker-runtime`` client (InvokeEndpoint) for the same server."""
        return runtime_client(self.settings)

    @cached_property
    def logs_client(self) -> CloudWatchLogsClient:
        """A boto3 ``logs`` client (CloudWatch Logs: job and endpoint logs) for the same server."""
        return logs_client(self.settings)

    @cached_property
    def cloudwatch_client(self) -> Any:
        """A boto3 ``cloudwatch`` client (metrics) for the same server."""
        return _server_client(self.settings, "cloudwatch")

    @cached_property
    def autoscaling_client(self) -> Any:
        """A boto3 ``application-autoscaling`` client (endpoint autoscaling) for the same server."""
        return _server_client(self.settings, "application-autoscaling")

    def default_bucket(self) -> str:
        """The bucket the SDK puts code, data and models in by default (created if absent)."""
        self.s3.ensure_bucket(DEFAULT_BUCKET)
        return DEFAULT_BUCKET

    def upload_data(
        self, path: str | Path, bucket: str | None = None, key_prefix: str = "data"
    ) -> str:
        """Upload a file or a folder; the ``s3://`` URI of the file or of the folder's prefix."""
        source = Path(path)
        prefix = S3Uri(bucket or self.default_bucket(), key_prefix.strip("/"))
        if source.is_file():
            target = prefix.join(source.name)
            with transfer_progress(f"Uploading {source.name}", source.stat().st_size) as progress:
                self.s3.upload_file(source, target, progress)
            return str(target)
        if not source.is_dir():
            raise ValidationError(f"upload_data: {str(path)!r} is neither a file nor a folder")
        total = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
        with transfer_progress(f"Uploading {source.name}/", total) as progress:
            self.s3.upload_dir(source, prefix, progress)
        return str(prefix)

    def describe_training_job(self, job_name: str) -> DescribeTrainingJobResponseTypeDef:
        """``DescribeTrainingJob`` for ``job_name``."""
        return self.sagemaker_client.describe_training_job(TrainingJobName=job_name)

    def wait_for_job(
        self, job_name: str, logs: bool = False, out: TextIO | None = None
    ) -> DescribeTrainingJobResponseTypeDef:
        """Block until the job ends, printing its log if ``logs``; raise if it failed."""
        if not logs:
            job = self.describe_training_job(job_name)
            while job["TrainingJobStatus"] not in TERMINAL:
                time.sleep(POLL_SECONDS)
                job = self.describe_training_job(job_name)
            return check_job_status(job)
        stream = sys.stdout if out is None else out
        job = JobFollower(
            lambda: self.describe_training_job(job_name), self.logs_client, job_name, stream
        ).follow()
        if "TrainingTimeInSeconds" in job:
            stream.write(f"Training seconds: {job['TrainingTimeInSeconds']}\n")
        if "BillableTimeInSeconds" in job:
            stream.write(f"Billable seconds: {job['BillableTimeInSeconds']}\n")
        return check_job_status(job)

    def wait_for_endpoint(
        self, endpoint: str, poll: float = ENDPOINT_POLL_SECONDS
    ) -> DescribeEndpointOutputTypeDef:
        """Block until ``endpoint`` is InService; UnexpectedStatusError with its reason if not."""
        waiter = self.sagemaker_client.get_waiter("endpoint_in_service")
        # botocore sleeps any number of seconds; the stubs type Delay as int.
        config = cast("WaiterConfigTypeDef", {"Delay": poll, "MaxAttempts": _attempts(poll)})
        try:
            waiter.wait(EndpointName=endpoint, WaiterConfig=config)
        except WaiterError as e:
            described = self.sagemaker_client.describe_endpoint(EndpointName=endpoint)
            status = described["EndpointStatus"]
            if status in _TRANSITIONAL:
                raise  # still starting after the whole wait: the waiter's timeout says so
            raise UnexpectedStatusError(
                endpoint, status, described.get("FailureReason"), action="hosting endpoint"
            ) from e
        return self.sagemaker_client.describe_endpoint(EndpointName=endpoint)

    def describe_endpoint_replicas(self, endpoint: str) -> list[dict[str, Any]]:
        """Each replica's variant, id and start phases in seconds (Kiln's native endpoint).

        ``GET {endpoint}/kiln/v1/endpoints/{name}/replicas`` → ``{"Replicas": [{"VariantName",
        "ReplicaId", "Phases": {"download_model": …, "import": …, "load": …, "first_ping": …}}]}``
        """
        path = f"/kiln/v1/endpoints/{quote(endpoint, safe='')}/replicas"
        try:
            return list(call_native(self.settings, "GET", path)["Replicas"])
        except urllib.error.HTTPError as e:
            raise client_error(e, "DescribeEndpointReplicas") from None

    def logs_for_job(self, job_name: str, wait: bool = True, out: TextIO | None = None) -> None:
        """Print the job's log (to stdout); with ``wait``, follow it and its status to the end."""
        if wait:
            self.wait_for_job(job_name, logs=True, out=out)
            return
        stream = sys.stdout if out is None else out
        hosts = self.describe_training_job(job_name)["ResourceConfig"]["InstanceCount"]
        job_log(self.logs_client, job_name, stream.write, hosts=hosts).read()


def _server_client(settings: Settings, service: str, config: Config | None = None) -> Any:
    """A boto3 client for one of the APIs the Kiln server of ``settings`` answers."""
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]  # one of the literal names below
        endpoint_url=settings.endpoint,
        region_name=settings.region,
        aws_access_key_id=settings.credentials.access_key_id,
        aws_secret_access_key=settings.credentials.secret_access_key,
        config=config,
    )


def sagemaker_client(settings: Settings) -> SageMakerClient:
    """A boto3 SageMaker client for the Kiln server of ``settings``."""
    config = Config(retries={"max_attempts": 3, "mode": "standard"})
    return cast("SageMakerClient", _server_client(settings, "sagemaker", config))


def logs_client(settings: Settings) -> CloudWatchLogsClient:
    """A boto3 CloudWatch Logs client for the Kiln server of ``settings``."""
    return cast("CloudWatchLogsClient", _server_client(settings, "logs"))


def runtime_client(settings: Settings) -> SageMakerRuntimeClient:
    """A boto3 ``sagemaker-runtime`` client for the Kiln server of ``settings``."""
    # As SDK v2 builds it: reads outlast SageMaker's 60 s limit on one invocation.
    config = Config(read_timeout=80)
    return cast("SageMakerRuntimeClient", _server_client(settings, "sagemaker-runtime", config))


def _attempts(poll: float) -> int:
    return max(1, int(ENDPOINT_WAIT_SECONDS / poll))


def client_error(error: urllib.error.HTTPError, operation: str) -> ClientError:
    """A native endpoint's JSON error as the ``ClientError`` boto3 raises for the same answer."""
    try:
        body = json.loads(error.read())
        code, message = str(body["__type"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        code, message = f"HTTP{error.code}", str(error.reason)
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def check_job_status(job: DescribeTrainingJobResponseTypeDef) -> DescribeTrainingJobResponseTypeDef:
    """``job`` if it completed or was stopped; UnexpectedStatusError with its reason otherwise."""
    status = job["TrainingJobStatus"]
    if status not in ("Completed", "Stopped"):
        raise UnexpectedStatusError(job["TrainingJobName"], status, job.get("FailureReason"))
    return job

"""Shared fixtures: a clean environment per test, and a real ``kiln server`` on loopback."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import struct
import tarfile
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import WaiterError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kiln.config import Settings
from kiln.db import connect
from kiln.ports import free_port as free_port  # tests import it from here
from kiln.sdk import Session
from kiln.sdk.signing import signed_headers as sdk_signed_headers
from kiln.server import ServerThread
from kiln.services.hosting.invocations import InvocationRecord, Outcome
from kiln.services.logs import FileLogStore, LogStore
from kiln.services.logs.database import DatabaseLogStore
from kiln.services.logs.following import JobLogCursor
from support.needs import require
from support.ray_cluster import NodeSpec, RayCluster, RayLab, TcpWatch
from support.seaweedfs import HOW_TO_GET, SeaweedFS, running_seaweedfs, weed_binary

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ROLE = "arn:aws:iam::000000000000:role/kiln"

# Read before clean_environ wipes the environment: the CI's PostgreSQL, when there is one.
POSTGRES_URL = os.environ.get("KILN_TEST_DATABASE_URL") or None  # empty: unset
# ``ray``: every test server runs its jobs and replicas on one Ray cluster started for the
# session (the long profile's "the same checks pass on Ray", docs/scale-out.md).
TEST_BACKEND = os.environ.get("KILN_TEST_BACKEND") or "local"
# What only the local backend does (warm spares forked here, KILN_CAPACITY_* sizing the queue).
LOCAL_BACKEND_ONLY = pytest.mark.skipif(
    TEST_BACKEND == "ray", reason="KILN_TEST_BACKEND=ray: a local backend behaviour"
)


@pytest.fixture(autouse=True)
def clean_environ(tmp_path: Path) -> Iterator[None]:
    """Every test starts with no KILN_*/AWS_* variables and its own KILN_HOME."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(("KILN_", "AWS_")):
            del os.environ[key]
    os.environ["KILN_HOME"] = str(tmp_path / "kiln-home")
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(params=["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"])
def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite always, PostgreSQL too when KILN_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kiln.db'}"
        return
    with postgres_database() as url:
        yield url


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database on KILN_TEST_DATABASE_URL's server, dropped afterwards."""
    assert POSTGRES_URL is not None
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"kiln_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The server tests' database: SQLite (the stores run on PostgreSQL in test_stores.py)."""
    return f"sqlite:///{tmp_path / 'kiln.db'}"


# One attempt, for real: botocore's ``max_attempts`` counts retries, not attempts.
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def env_pythons(kiln: Kiln) -> list[Path]:
    """The cached job environments' interpreters: the server's, or on Ray the nodes' (each
    builds them under its work dir, the path of KILN_HOME/envs there)."""
    settings = kiln.settings
    envs = settings.ray_work_dir / "envs" if settings.backend == "ray" else settings.envs_dir
    return list(envs.glob("*/bin/python"))


def make_settings(home: Path, database_url: str, **overrides: str) -> Settings:
    """Settings for a test server: free ports, short grace, room for a few small jobs."""
    env = {
        "KILN_HOME": str(home),
        "KILN_DATABASE_URL": database_url,
        "KILN_PORT": "0",
        "KILN_S3_PORT": str(free_port()),
        "KILN_STOP_GRACE_SECONDS": "3",
        "KILN_CAPACITY_VCPUS": "4",
        "KILN_CAPACITY_MEMORY_MIB": "16384",
        "KILN_CAPACITY_GPUS": "0",
        "KILN_CHECK_RESPONSES": "1",
        # No warm spare per test server (2 cores shared); test_scale_to_zero turns them on.
        "KILN_WARM_SPARES": "0",
        **backend_settings(home),
        **overrides,
    }
    return Settings.from_env(env)


@dataclass
class Kiln:
    """A running server and boto3 clients pointed at it."""

    settings: Settings
    thread: ServerThread
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.thread.endpoint

    def __enter__(self) -> Kiln:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.thread.stop()

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` (sagemaker, sagemaker-runtime, s3) against this Kiln."""
        if service not in self._clients:
            # An external store knows its own keys only (the embedded front knows Kiln's).
            is_s3 = service == "s3"
            creds = self.settings.s3_credentials if is_s3 else self.settings.credentials
            endpoint = self.settings.s3_endpoint_url if is_s3 else self.endpoint
            self._clients[service] = boto3.session.Session().client(
                service,  # type: ignore[call-overload]  # any service name the caller gives
                endpoint_url=endpoint,
                region_name=self.settings.region,
                aws_access_key_id=creds.access_key_id,
                aws_secret_access_key=creds.secret_access_key,
            )
        return self._clients[service]

    @property
    def sagemaker(self) -> Any:
        return self.client("sagemaker")

    @property
    def s3(self) -> Any:
        return self.client("s3")

    def wait(self, job: str, timeout: float = 120) -> dict[str, Any]:
        """Wait with boto3's own waiter until ``job`` ends; its description."""
        try:
            self.sagemaker.get_waiter("training_job_completed_or_stopped").wait(
                TrainingJobName=job,
                WaiterConfig={"Delay": 0.2, "MaxAttempts": int(timeout / 0.2)},
            )
        except WaiterError as e:
            if "terminal failure state" not in str(e):  # Failed is an end too
                raise
        return dict(self.sagemaker.describe_training_job(TrainingJobName=job))


def start_kiln(settings: Settings) -> Kiln:
    """Start a server for ``settings``; ``with start_kiln(…) as kiln:`` stops it at the end."""
    return Kiln(settings, ServerThread(settings).start())


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """SeaweedFS on loopback, once per test session (per xdist worker)."""
    weed = weed_binary()
    require("SeaweedFS", weed is not None, HOW_TO_GET)
    assert weed is not None
    with running_seaweedfs(weed, tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


@pytest.fixture
def store_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The ``KILN_S3_*`` settings of the test's S3 store: none (the embedded rclone) unless the
    test is parametrized with ``ANY_STORE``."""
    if getattr(request, "param", "embedded") == "embedded":
        yield {}
        return
    store: SeaweedFS = request.getfixturevalue("seaweedfs")
    yield store.kiln_env()
    store.empty()  # the next test starts on an empty store, as with a fresh embedded one


# Issue 11: a test marked so runs against the embedded store and against SeaweedFS.
ANY_STORE = pytest.mark.parametrize("store_env", ["embedded", "seaweedfs"], indirect=True)


@pytest.fixture
def kiln_settings(tmp_path: Path, database_url: str, store_env: dict[str, str]) -> Settings:
    """Settings for this test's server (and its store: ``ANY_STORE``)."""
    return make_settings(tmp_path / "kiln-home", database_url, **store_env)


@pytest.fixture
def kiln(kiln_settings: Settings) -> Iterator[Kiln]:
    """A real ``kiln server`` on 127.0.0.1 with its embedded S3 store."""
    with start_kiln(kiln_settings) as server:
        yield server


def source_tarball(files: Mapping[str, str | bytes]) -> bytes:
    """A ``sourcedir.tar.gz`` holding ``files`` (name → content) at its root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_bomb(size: int, name: str = "zeros.bin") -> bytes:
    """A ``.tar.gz`` of one file of ``size`` zero bytes, about a thousandth of its size.

    Built from one compressed 16 MiB block of zeros repeated (full flushes make each block stand
    alone), so even a GiB-sized bomb takes a second, not the minute gzip would.
    """
    info = tarfile.TarInfo(name)
    info.size = size
    header, chunk = info.tobuf(format=tarfile.GNU_FORMAT), bytes(1 << 24)
    end = bytes(-size % 512 + 1024)  # the member's padding and tar's two empty blocks
    if size % len(chunk):
        raise ValueError(f"tar_bomb size {size} is not a whole number of 16 MiB blocks")
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.compress(end) + deflate.flush()
    crc = zlib.crc32(header)
    for _ in range(size // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(end, crc)
    length = (len(header) + size + len(end)) & 0xFFFFFFFF
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    body = head + block * (size // len(chunk)) + tail
    return gzip_header + body + struct.pack("<II", crc, length)


def upload_source(kiln: Kiln, files: Mapping[str, str | bytes], bucket: str = "code") -> str:
    """Upload a source tarball; its ``s3://`` URI."""
    s3 = kiln.s3
    kiln.thread.kiln.objects.ensure_bucket(bucket)
    key = f"{uuid.uuid4().hex}/sourcedir.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=source_tarball(files))
    return f"s3://{bucket}/{key}"


VOLUME_FILLER = r"""
import os, time
with open(os.path.join(os.environ["SM_MODEL_DIR"], "huge.bin"), "wb") as f:
    os.posix_fallocate(f.fileno(), 0, 1200 << 20)
print("filled", flush=True)
time.sleep(300)
"""
"""A training script that takes 1.2 GiB of its volume and waits to be stopped."""


def script_job(
    name: str,
    source_uri: str,
    program: str = "train.py",
    *,
    hyperparameters: Mapping[str, str] | None = None,
    channels: Mapping[str, str] | None = None,
    output: str = "s3://output/jobs",
    max_runtime: int = 300,
    **extra: Any,
) -> dict[str, Any]:
    """A CreateTrainingJob request in script mode, as the sagemaker SDK v2 sends it."""
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": "kiln/python", "TrainingInputMode": "File"},
        "HyperParameters": {
            "sagemaker_program": f'"{program}"',
            "sagemaker_submit_directory": f'"{source_uri}"',
            **(hyperparameters or {}),
        },
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
        **extra,
    }
    if channels:
        request["InputDataConfig"] = [
            {
                "ChannelName": channel,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
            }
            for channel, uri in channels.items()
        ]
    return request


def model_files(kiln: Kiln, uri: str) -> dict[str, bytes]:
    """The files in the ``model.tar.gz`` at ``uri`` (name → content)."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    body = kiln.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        return {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]


def upload_model(kiln: Kiln, files: Mapping[str, str | bytes], bucket: str = "models") -> str:
    """Upload a ``model.tar.gz`` holding ``files``; its ``s3://`` URI."""
    kiln.thread.kiln.objects.ensure_bucket(bucket)
    key = f"{uuid.uuid4().hex}/model.tar.gz"
    kiln.s3.put_object(Bucket=bucket, Key=key, Body=source_tarball(files))
    return f"s3://{bucket}/{key}"


def deploy(
    kiln: Kiln,
    endpoint: str,
    variants: Mapping[str, tuple[str, int, float]],
    *,
    environment: Mapping[str, str] | None = None,
    wait: bool = True,
    volume_size_gb: int | None = None,
) -> None:
    """Create a model per variant (variant → (model URI, instances, weight)) and an endpoint."""
    sm = kiln.sagemaker
    production = []
    for variant, (model_uri, count, weight) in variants.items():
        model = f"{endpoint}-{variant}".lower()
        sm.create_model(
            ModelName=model,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={
                "Image": "kiln/python",
                "ModelDataUrl": model_uri,
                "Environment": dict(environment or {}),
            },
        )
        production.append(
            {
                "VariantName": variant,
                "ModelName": model,
                "InitialInstanceCount": count,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
                **({"VolumeSizeInGB": volume_size_gb} if volume_size_gb else {}),
            }
        )
    sm.create_endpoint_config(EndpointConfigName=endpoint, ProductionVariants=production)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    if wait:
        wait_in_service(kiln, endpoint)


def signed_headers(
    settings: Settings,
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    service: str = "sagemaker",
) -> list[tuple[str, bytes]]:
    """``kiln.sdk.signing.signed_headers`` with values as latin-1 bytes, as HTTP carries them
    and httpx takes them (the fuzz sends header text no str-only client would)."""
    signed = sdk_signed_headers(settings, method, url, body, headers, service=service)
    return [(name, value.encode("latin-1")) for name, value in signed.items()]


def wait_in_service(kiln: Kiln, endpoint: str, timeout: float = 120) -> dict[str, Any]:
    """Wait with boto3's endpoint_in_service waiter; the description (Failed too)."""
    try:
        kiln.sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint,
            WaiterConfig={"Delay": 0.1, "MaxAttempts": int(timeout / 0.1)},
        )
    except WaiterError as e:
        if "terminal failure state" not in str(e):
            raise
    return dict(kiln.sagemaker.describe_endpoint(EndpointName=endpoint))


def sklearn_model_files(n_estimators: int = 5) -> dict[str, bytes]:
    """A small RandomForest on the breast-cancer data, as a joblib file."""
    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    x, y = load_breast_cancer(return_X_y=True)
    model = RandomForestClassifier(n_estimators=n_estimators, max_depth=4, random_state=0)
    model.fit(x, y)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return {"model.joblib": buffer.getvalue()}


def job_log_text(settings: Settings, job: str) -> str:
    """A training job's log as the native endpoint renders it, read from the server's store."""
    if settings.log_store == "files":
        store: LogStore = FileLogStore(settings.log_groups_dir)
        return JobLogCursor(store, job, is_multi_host=False).read_new()
    engine = connect(settings.database_url)
    database = DatabaseLogStore(engine)
    try:
        return JobLogCursor(database, job, is_multi_host=False).read_new()
    finally:
        database.close()
        engine.dispose()


def wait_until(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Poll ``condition`` until it holds; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.05)


def wait_for_log(settings: Settings, job: str, text: str, timeout: float = 60) -> None:
    """Poll a training job's log until ``text`` appears."""
    wait_until(
        lambda: text in job_log_text(settings, job), f"{text!r} in the log of {job}", timeout
    )


@pytest.fixture
def session(kiln: Kiln) -> Session:
    """An SDK session for the test's server (its port was picked at start)."""
    return Session(replace(kiln.settings, endpoint=kiln.endpoint))


@pytest.fixture
def cli_env(kiln: Kiln) -> dict[str, str]:
    """The variables that point the CLI at the test's server."""
    return {
        "KILN_HOME": str(kiln.settings.home),
        "KILN_ENDPOINT": kiln.endpoint,
        "KILN_S3_PORT": str(kiln.settings.s3_port),
    }


@pytest.fixture
def model_tarball(tmp_path: Path) -> Path:
    """The breast-cancer random forest as ``model.tar.gz`` on local disk."""
    path = tmp_path / "model.tar.gz"
    path.write_bytes(source_tarball(sklearn_model_files()))
    return path


@pytest.fixture
def cancer_data(tmp_path: Path) -> Path:
    """A folder holding the breast-cancer data as the sklearn example reads it (label first)."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer()
    folder = tmp_path / "data"
    folder.mkdir()
    rows = np.column_stack([cancer.target, cancer.data])
    np.savetxt(folder / "train.csv", rows, delimiter=",", fmt="%.10g")
    return folder


def invocation_record(
    outcome: Outcome = Outcome.ANSWERED,
    status: int = 200,
    model_us: int = 1500,
    overhead_us: int = 100,
    variant: str = "A",
    at: float = 1_000_000.0,
    endpoint: str = "ep",
) -> InvocationRecord:
    """An invocation as the data plane reports it, with what the metrics read."""
    return InvocationRecord(
        endpoint=endpoint, variant=variant, is_shadow=False, replica="r", event_id="e",
        inference_id=None, arrived_at=at, outcome=outcome, model_status=status,
        model_latency_us=model_us, overhead_latency_us=overhead_us, request_body=b"",
        request_content_type="application/json", request_accept=None, response_body=b"",
        response_content_type=None, capture=None,
    )  # fmt: skip


# -- Ray (tests/ray_backend): one loopback cluster per session -----------------------------------

RAY_GUARD = Path(__file__).resolve().parent / "ray_backend" / "guard"

# Tests only: a dead node is declared dead after ~3 missed 1-second health checks, not Ray's
# default ~15 s.
RAY_FAST_NODE_DEATH = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


# The session's cluster under KILN_TEST_BACKEND=ray; None on the local backend.
_EVERY_SERVER_ON: RayCluster | None = None


def backend_settings(home: Path) -> dict[str, str]:
    """The settings that put a test server on the session's Ray cluster, if there is one."""
    if _EVERY_SERVER_ON is None:
        return {}
    return {
        "KILN_BACKEND": "ray",
        "KILN_RAY_ADDRESS": _EVERY_SERVER_ON.address,
        "KILN_RAY_WORK_DIR": str(home / "ray-work"),
    }


@pytest.fixture(scope="session", autouse=True)
def every_server_on_ray() -> Iterator[None]:
    """Under KILN_TEST_BACKEND=ray, a two-node cluster that every test server runs on."""
    global _EVERY_SERVER_ON
    if TEST_BACKEND != "ray":
        yield
        return
    require("Ray", importlib.util.find_spec("ray") is not None, "uv pip install -e '.[ray]'")
    root = Path(tempfile.mkdtemp(prefix="kiln-ray-all-"))
    # Logical sizes, not this machine's: room for the suites' replicas and hosts at once.
    big = {"cpus": 16, "memory_bytes": 64 * 1024**3}
    cluster = RayCluster.start(
        root, [NodeSpec("head", **big), NodeSpec("w1", **big)], RAY_FAST_NODE_DEATH
    )
    os.environ.update(cluster.client_env)
    _EVERY_SERVER_ON = cluster
    try:
        yield
    finally:
        _EVERY_SERVER_ON = None
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


# Module-scoped: one file uses it, and its ~0.9 GB and a dozen processes end with that file
# rather than weighing on the rest of the session's 2 cores.
@pytest.fixture(scope="module")
def ray_lab() -> Iterator[RayLab]:
    """``head``, ``w1`` and ``spare`` (2 CPUs each: room for a replica replaced after a node
    dies), and ``doomed`` (3 CPUs: only a process asking for 3 runs there; a test kills it),
    started together once per module."""
    require("Ray", importlib.util.find_spec("ray") is not None, "uv pip install -e '.[ray]'")
    # Short: Ray's Unix sockets live under it (107 bytes at most).
    root = Path(tempfile.mkdtemp(prefix="kiln-ray-"))
    netlog, guarded = root / "netlog", root / "guarded"
    extra = {
        "PYTHONPATH": str(RAY_GUARD),
        "KILN_COMPAT_NETLOG": str(netlog),
        "KILN_RAY_GUARDED": str(guarded),
        **RAY_FAST_NODE_DEATH,
    }
    cluster = RayCluster.start(
        root,
        [NodeSpec("head"), NodeSpec("w1"), NodeSpec("spare"), NodeSpec("doomed", cpus=3)],
        extra,
    )
    watch = TcpWatch(cluster)
    # The test runner is a Ray client too (RayBackend in-process): it authenticates as one.
    saved = {key: os.environ.get(key) for key in cluster.client_env}
    os.environ.update(cluster.client_env)
    try:
        yield RayLab(cluster, watch, netlog, guarded)
    finally:
        leaked = _leave_ray()
        watch.stop()
        cluster.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)
    # Ray ends a driver ~60 s after its cluster is gone: one left connected would take this
    # xdist worker down later, in another module's test.
    assert not leaked, "a RayBackend was left open: close every one a test makes"


def _leave_ray() -> bool:
    """Whether this process was still a Ray driver (it is not any more)."""
    import ray

    if not ray.is_initialized():
        return False
    ray.shutdown()
    return True

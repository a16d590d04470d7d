"""Kiln's settings: the one place that reads ``KILN_*`` variables.

``Settings.from_env()`` is called once by each entry point (server, CLI, SDK) and the object is
passed down. Every other module takes what it needs from that object.

| variable | default | meaning |
|---|---|---|
| ``KILN_HOME`` | ``~/.kiln`` | database, storage, workspaces, logs, credentials |
| ``KILN_DATABASE_URL`` | ``sqlite:///$KILN_HOME/kiln.db`` | SQLAlchemy URL of the metadata store |
| ``KILN_S3_ENDPOINT_URL`` | embedded rclone on ``KILN_S3_PORT`` | an external S3-compatible store |
| ``KILN_S3_ACCESS_KEY_ID`` / ``..._SECRET_ACCESS_KEY`` | Kiln's keys | the external store's |
| ``KILN_ACCESS_KEY_ID`` / ``KILN_SECRET_ACCESS_KEY`` | generated once | Kiln's own key pair |
| ``KILN_HOST`` / ``KILN_PORT`` / ``KILN_S3_PORT`` | ``127.0.0.1`` / 8080 / 9000 | listeners |
| ``KILN_ENDPOINT`` | ``http://127.0.0.1:8080`` | where clients find the server |
| ``KILN_REGION`` | ``us-east-1`` | region in ARNs and client configs |
| ``KILN_CAPACITY_VCPUS`` / ``KILN_CAPACITY_MEMORY_MIB`` | this machine's | what jobs may occupy |
| ``KILN_STOP_GRACE_SECONDS`` | 120 | SIGTERM → SIGKILL grace, as SageMaker gives |
| ``KILN_SANDBOX`` | ``auto`` | ``auto`` (bwrap where present) or ``off`` |
| ``KILN_REPLICA_STARTUP_TIMEOUT_SECONDS`` | 300 | how long a replica may take to pass /ping |
| ``KILN_CHECK_RESPONSES`` | off | check every API answer against botocore's output shape (tests) |
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import string
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

ACCOUNT_ID = "000000000000"


@dataclass(frozen=True)
class InstanceType:
    """What one instance of a SageMaker instance type occupies on this machine."""

    vcpus: int
    memory_mib: int
    gpus: int = 0


def _gib(n: float) -> int:
    return int(n * 1024)


# A subset of SageMaker's instance types with their published vCPU and memory sizes.
INSTANCE_TYPES: dict[str, InstanceType] = {
    "ml.t3.medium": InstanceType(2, _gib(4)),
    "ml.t3.large": InstanceType(2, _gib(8)),
    "ml.t3.xlarge": InstanceType(4, _gib(16)),
    "ml.m5.large": InstanceType(2, _gib(8)),
    "ml.m5.xlarge": InstanceType(4, _gib(16)),
    "ml.m5.2xlarge": InstanceType(8, _gib(32)),
    "ml.m5.4xlarge": InstanceType(16, _gib(64)),
    "ml.c5.large": InstanceType(2, _gib(4)),
    "ml.c5.xlarge": InstanceType(4, _gib(8)),
    "ml.c5.2xlarge": InstanceType(8, _gib(16)),
    "ml.c5.4xlarge": InstanceType(16, _gib(32)),
    "ml.m6i.large": InstanceType(2, _gib(8)),
    "ml.m6i.xlarge": InstanceType(4, _gib(16)),
    "ml.g4dn.xlarge": InstanceType(4, _gib(16), gpus=1),
    "ml.g5.xlarge": InstanceType(4, _gib(16), gpus=1),
    "ml.p3.2xlarge": InstanceType(8, _gib(61), gpus=1),
}


@dataclass(frozen=True)
class Credentials:
    """An access key pair."""

    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class Settings:
    """Everything Kiln is configured with, read once."""

    home: Path
    database_url: str
    credentials: Credentials
    s3_credentials: Credentials
    external_s3_endpoint_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    s3_port: int = 9000
    endpoint: str = "http://127.0.0.1:8080"
    region: str = "us-east-1"
    capacity_vcpus: int = 1
    capacity_memory_mib: int = 1024
    stop_grace_seconds: float = 120.0
    sandbox: str = "auto"
    replica_startup_timeout_seconds: float = 300.0
    check_responses: bool = False
    instance_types: Mapping[str, InstanceType] = field(default_factory=lambda: INSTANCE_TYPES)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``KILN_*`` variables (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        home = Path(env.get("KILN_HOME") or Path.home() / ".kiln").expanduser().resolve()
        credentials = _kiln_credentials(env, home)
        s3_credentials = Credentials(
            env.get("KILN_S3_ACCESS_KEY_ID") or credentials.access_key_id,
            env.get("KILN_S3_SECRET_ACCESS_KEY") or credentials.secret_access_key,
        )
        host = env.get("KILN_HOST", "127.0.0.1")
        port = _int(env, "KILN_PORT", 8080)
        return cls(
            home=home,
            database_url=env.get("KILN_DATABASE_URL") or f"sqlite:///{home / 'kiln.db'}",
            credentials=credentials,
            s3_credentials=s3_credentials,
            external_s3_endpoint_url=env.get("KILN_S3_ENDPOINT_URL") or None,
            host=host,
            port=port,
            s3_port=_int(env, "KILN_S3_PORT", 9000),
            endpoint=env.get("KILN_ENDPOINT") or f"http://127.0.0.1:{port}",
            region=env.get("KILN_REGION", "us-east-1"),
            capacity_vcpus=_int(env, "KILN_CAPACITY_VCPUS", os.cpu_count() or 1),
            capacity_memory_mib=_int(env, "KILN_CAPACITY_MEMORY_MIB", _machine_memory_mib()),
            stop_grace_seconds=float(env.get("KILN_STOP_GRACE_SECONDS", "120")),
            sandbox=env.get("KILN_SANDBOX", "auto"),
            replica_startup_timeout_seconds=float(
                env.get("KILN_REPLICA_STARTUP_TIMEOUT_SECONDS", "300")
            ),
            check_responses=env.get("KILN_CHECK_RESPONSES", "") in ("1", "true", "yes"),
        )

    def with_ports(self, *, port: int | None = None, s3_port: int | None = None) -> Settings:
        """A copy listening on other ports (``kiln server --port``); the endpoint follows."""
        new_port = self.port if port is None else port
        endpoint = self.endpoint
        if endpoint == f"http://127.0.0.1:{self.port}":
            endpoint = f"http://127.0.0.1:{new_port}"
        return replace(
            self,
            port=new_port,
            s3_port=self.s3_port if s3_port is None else s3_port,
            endpoint=endpoint,
        )

    @property
    def is_embedded_s3(self) -> bool:
        """Whether Kiln runs its own S3 server over ``storage_dir``."""
        return self.external_s3_endpoint_url is None

    @property
    def s3_endpoint_url(self) -> str:
        """The S3 endpoint every client (server, SDK, jobs) talks to."""
        if self.external_s3_endpoint_url:
            return self.external_s3_endpoint_url
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def storage_dir(self) -> Path:
        """The folder the embedded S3 server serves: ``<bucket>/<key>``."""
        return self.home / "storage"

    @property
    def workspaces_dir(self) -> Path:
        """Per-job ``/opt/ml`` folders while jobs run."""
        return self.home / "workspaces"

    @property
    def logs_dir(self) -> Path:
        """Logs: the log store's groups, the embedded S3 server's log."""
        return self.home / "logs"

    @property
    def log_groups_dir(self) -> Path:
        """The log store: a folder per log group, a file per stream (``services/logs/files.py``)."""
        return self.logs_dir / "groups"

    @property
    def run_dir(self) -> Path:
        """Short-lived files with short paths (replica sockets: Unix paths max 107 bytes)."""
        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"kiln-{digest}"

    @property
    def envs_dir(self) -> Path:
        """Cached job virtualenvs, keyed by the hash of ``requirements.txt``."""
        return self.home / "envs"

    def arn(self, resource: str, name: str) -> str:
        """The ARN of a SageMaker resource, e.g. ``arn(training-job, my-job)``."""
        return f"arn:aws:sagemaker:{self.region}:{ACCOUNT_ID}:{resource}/{name.lower()}"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None


def _machine_memory_mib() -> int:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 4096
    return int(pages * page_size // (1024 * 1024))


def _kiln_credentials(env: Mapping[str, str], home: Path) -> Credentials:
    key_id, secret = env.get("KILN_ACCESS_KEY_ID"), env.get("KILN_SECRET_ACCESS_KEY")
    if key_id and secret:
        return Credentials(key_id, secret)
    return _stored_credentials(home / "credentials.json")


def _stored_credentials(path: Path) -> Credentials:
    """The key pair kept in ``KILN_HOME``, generated on first use."""
    if path.exists():
        data = json.loads(path.read_text())
        return Credentials(data["access_key_id"], data["secret_access_key"])
    alphabet = string.ascii_uppercase + string.digits
    # rclone refuses short keys; these have AWS's lengths (20 and 40 characters).
    credentials = Credentials(
        "AKIK" + "".join(secrets.choice(alphabet) for _ in range(16)),
        secrets.token_urlsafe(30)[:40],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(
            {
                "access_key_id": credentials.access_key_id,
                "secret_access_key": credentials.secret_access_key,
            },
            f,
        )
    try:
        # A concurrent first start may have won: keep its pair, not ours.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _stored_credentials(path)

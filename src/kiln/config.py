"""Kiln's settings: the one place that reads ``KILN_*`` variables.

``Settings.from_env()`` is called once by each entry point (server, CLI, SDK) and the object is
passed down. Every other module takes what it needs from that object. Clients (the CLI, the SDK)
also read where a running server listens (``KILN_HOME/server.json``, written by the server once
it has bound its ports) unless ``KILN_ENDPOINT``/``KILN_PORT``, ``KILN_S3_*`` or ``KILN_REGION``
say otherwise.

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
| ``KILN_CAPACITY_GPUS`` | this machine's (``/dev/nvidiaN``) | GPUs jobs may occupy |
| ``KILN_STRICT_CAPACITY`` | ``0`` | ``1``: refuse what exceeds capacity, not run it on less |
| ``KILN_STOP_GRACE_SECONDS`` | 120 | SIGTERM → SIGKILL grace, as SageMaker gives |
| ``KILN_SANDBOX`` | ``auto`` | ``auto`` (bwrap where it works), ``required`` (or refuse), ``off`` |
| ``KILN_STAGING`` | ``server`` | ``node``: job hosts stage their own files through S3 (as on Ray) |
| ``KILN_PIDS_MAX`` | 4096 | processes + threads one job host or replica may have (cgroup) |
| ``KILN_REPLICA_STARTUP_TIMEOUT_SECONDS`` | 300 | how long a replica may take to pass /ping |
| ``KILN_FAILED_UPLOAD_KEEP_HOURS`` | 24 | how long a job whose upload failed keeps its files |
| ``KILN_CHECK_RESPONSES`` | off | check every API answer against botocore's output shape (tests) |
| ``KILN_AUTH`` | ``1`` | ``0`` turns the auth gate off; refused unless the server binds loopback |
| ``KILN_SERVER_KEY_FILE`` | ``$KILN_HOME/server.key`` | the key that seals stored secrets |
| ``KILN_CAPTURE_FLUSH_SECONDS`` | 60 | capture: a file is written this long after its first line |
| ``KILN_CAPTURE_FILE_KIB`` | 1024 | capture: a file is written once it holds this much |
| ``KILN_CAPTURE_BUFFER_RECORDS`` | 10000 | capture: records an endpoint may hold unwritten |
| ``KILN_CAPTURE_BUFFER_MIB`` | 64 | capture: body bytes an endpoint may hold unwritten |
| ``KILN_CAPTURE_CLOSE_SECONDS`` | 10 | capture: how long a stopping server keeps writing |
| ``KILN_MONITOR_TICK_SECONDS`` | 1 | how often the monitor scheduler looks for due windows |
| ``KILN_MONITOR_WORKERS`` | 2 | monitoring executions run at once |
| ``KILN_GROUND_TRUTH_S3_URI`` | ``s3://kiln-default/model-monitor/ground-truth`` | labels |
| ``KILN_INFERENCE_LOG_RETENTION_DAYS`` | 7 | how long predictions and labels are kept |
| ``KILN_METRICS_RETENTION_HOURS`` | 72 | how long the metrics store keeps 1-minute points |
| ``KILN_INVOCATION_METRICS`` | ``1`` | ``0``: invocation metrics unpublished (still counted) |
| ``KILN_COLD_START_QUEUE`` | 100 | requests a variant with no replica may hold (0: none) |
| ``KILN_COLD_START_TIMEOUT_SECONDS`` | 30 | how long a held request waits for a replica |
| ``KILN_WARM_SPARES`` | 1 | warm model servers kept per environment and size (0: off) |
| ``KILN_WARM_INSTANCE_TYPES`` | ``ml.m5.large`` | sizes warmed at start (default Python) |
| ``KILN_LEASE_SECONDS`` | 15 | a server's lease on its work; renewed every third of it |
| ``KILN_BACKEND`` | ``local`` | where jobs and replicas run: ``local`` (here) or ``ray`` |
| ``KILN_RAY_ADDRESS`` | (none) | ``host:port`` of the Ray head's GCS; needed for ``ray`` |
| ``KILN_RAY_WORK_DIR`` | ``$TMPDIR/kiln-ray`` | where workspaces go on Ray nodes |
| ``KILN_LOG_STORE`` | ``database`` on PostgreSQL, else ``files`` | where logs are kept |
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

from kiln.instance_types import INSTANCE_TYPES, InstanceType

__all__ = ["ACCOUNT_ID", "Credentials", "InstanceType", "Settings"]

ACCOUNT_ID = "000000000000"
SANDBOX_MODES = ("auto", "required", "off")
STAGING_MODES = ("server", "node")
BACKENDS = ("local", "ray")
LOG_STORES = ("files", "database")


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
    capacity_gpus: int = 0
    strict_capacity: bool = False
    stop_grace_seconds: float = 120.0
    sandbox: str = "auto"
    pids_max: int = 4096
    replica_startup_timeout_seconds: float = 300.0
    failed_upload_keep_hours: float = 24.0
    check_responses: bool = False
    auth: bool = True
    server_key_file: Path | None = None
    capture_flush_seconds: float = 60.0
    capture_file_kib: int = 1024
    capture_buffer_records: int = 10_000
    capture_buffer_mib: int = 64
    capture_close_seconds: float = 10.0
    ground_truth_s3_uri: str = "s3://kiln-default/model-monitor/ground-truth"
    inference_log_retention_days: float = 7.0
    metrics_retention_hours: float = 72.0
    invocation_metrics: bool = True
    cold_start_queue: int = 100
    cold_start_timeout_seconds: float = 30.0
    warm_spares: int = 1
    warm_instance_types: tuple[str, ...] = ("ml.m5.large",)
    scale_to_zero_after_seconds: float = 300.0
    # Issue 10: a data-quality baseline of each completed job's train channel (baselines.md).
    training_baselines: bool = True
    autoscale_tick_seconds: float = 1.0
    # Retraining rules (docs/retraining.md): the new-data watcher's tick, webhook retries.
    data_watch_seconds: float = 30.0
    webhook_attempts: int = 4
    webhook_backoff_seconds: float = 1.0
    webhook_timeout_seconds: float = 10.0
    monitor_tick_seconds: float = 1.0
    monitor_workers: int = 2
    # Several servers on one database (docs/scale-out-servers.md).
    lease_seconds: float = 15.0
    staging: str = "server"
    # The log store (docs/logs.md): "files" under KILN_HOME/logs, or "database" for every server.
    log_store: str = "files"
    instance_types: Mapping[str, InstanceType] = field(default_factory=lambda: INSTANCE_TYPES)
    # Issue 11: where processes run (kiln.compute.ray for ``ray``; docs/scale-out.md).
    backend: str = "local"
    ray_address: str | None = None
    ray_work_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "kiln-ray")

    @classmethod
    def for_client(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """A client's settings: ``KILN_*`` first, then where the running server listens."""
        env = os.environ if environ is None else environ
        settings = cls.from_env(env)
        address = read_server_address(settings.home)
        if address is None:
            return settings
        if not {"KILN_ENDPOINT", "KILN_PORT"} & env.keys():
            settings = replace(settings, endpoint=address.endpoint)
        if not {"KILN_S3_ENDPOINT_URL", "KILN_S3_PORT"} & env.keys():
            settings = replace(
                settings,
                s3_port=address.s3_port,
                external_s3_endpoint_url=address.external_s3_endpoint_url,
            )
        if "KILN_REGION" not in env:
            settings = replace(settings, region=address.region)
        return settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``KILN_*`` variables (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        home = Path(env.get("KILN_HOME") or Path.home() / ".kiln").expanduser().resolve()
        credentials = _kiln_credentials(env, home)
        external_s3 = env.get("KILN_S3_ENDPOINT_URL") or None
        # The embedded store's front knows Kiln's keys only: KILN_S3_* keys are an external's.
        s3_credentials = credentials
        if external_s3 is not None:
            s3_credentials = Credentials(
                env.get("KILN_S3_ACCESS_KEY_ID") or credentials.access_key_id,
                env.get("KILN_S3_SECRET_ACCESS_KEY") or credentials.secret_access_key,
            )
        host = env.get("KILN_HOST", "127.0.0.1")
        port = _int(env, "KILN_PORT", 8080)
        backend, ray_address, ray_work_dir = _compute(env)
        database_url = env.get("KILN_DATABASE_URL") or f"sqlite:///{home / 'kiln.db'}"
        return cls(
            home=home,
            database_url=database_url,
            credentials=credentials,
            s3_credentials=s3_credentials,
            external_s3_endpoint_url=external_s3,
            host=host,
            port=port,
            s3_port=_int(env, "KILN_S3_PORT", 9000),
            endpoint=env.get("KILN_ENDPOINT") or f"http://127.0.0.1:{port}",
            region=env.get("KILN_REGION", "us-east-1"),
            capacity_vcpus=_int(env, "KILN_CAPACITY_VCPUS", os.cpu_count() or 1),
            capacity_memory_mib=_int(env, "KILN_CAPACITY_MEMORY_MIB", _machine_memory_mib()),
            capacity_gpus=_int(env, "KILN_CAPACITY_GPUS", _machine_gpus()),
            strict_capacity=_flag(env, "KILN_STRICT_CAPACITY"),
            stop_grace_seconds=float(env.get("KILN_STOP_GRACE_SECONDS", "120")),
            sandbox=_choice(env, "KILN_SANDBOX", SANDBOX_MODES),
            pids_max=_positive(env, "KILN_PIDS_MAX", 4096),
            replica_startup_timeout_seconds=float(
                env.get("KILN_REPLICA_STARTUP_TIMEOUT_SECONDS", "300")
            ),
            failed_upload_keep_hours=_number(env, "KILN_FAILED_UPLOAD_KEEP_HOURS", 24.0),
            check_responses=env.get("KILN_CHECK_RESPONSES", "") in ("1", "true", "yes"),
            auth=not _flag_off(env, "KILN_AUTH"),
            server_key_file=Path(env["KILN_SERVER_KEY_FILE"]).expanduser()
            if env.get("KILN_SERVER_KEY_FILE")
            else None,
            capture_flush_seconds=_above_zero(env, "KILN_CAPTURE_FLUSH_SECONDS", 60.0),
            capture_file_kib=_positive(env, "KILN_CAPTURE_FILE_KIB", 1024),
            capture_buffer_records=_positive(env, "KILN_CAPTURE_BUFFER_RECORDS", 10_000),
            capture_buffer_mib=_positive(env, "KILN_CAPTURE_BUFFER_MIB", 64),
            capture_close_seconds=_number(env, "KILN_CAPTURE_CLOSE_SECONDS", 10.0),
            ground_truth_s3_uri=env.get("KILN_GROUND_TRUTH_S3_URI")
            or "s3://kiln-default/model-monitor/ground-truth",
            inference_log_retention_days=_number(env, "KILN_INFERENCE_LOG_RETENTION_DAYS", 7.0),
            metrics_retention_hours=_number(env, "KILN_METRICS_RETENTION_HOURS", 72.0),
            invocation_metrics=not _flag_off(env, "KILN_INVOCATION_METRICS"),
            training_baselines=not _flag_off(env, "KILN_TRAINING_BASELINES"),
            cold_start_queue=_int_at_least(env, "KILN_COLD_START_QUEUE", 100, 0),
            cold_start_timeout_seconds=_above_zero(env, "KILN_COLD_START_TIMEOUT_SECONDS", 30.0),
            warm_spares=_int_at_least(env, "KILN_WARM_SPARES", 1, 0),
            warm_instance_types=_instance_types(env, "KILN_WARM_INSTANCE_TYPES", "ml.m5.large"),
            scale_to_zero_after_seconds=_above_zero(env, "KILN_SCALE_TO_ZERO_AFTER_SECONDS", 300.0),
            autoscale_tick_seconds=_above_zero(env, "KILN_AUTOSCALE_TICK_SECONDS", 1.0),
            data_watch_seconds=_above_zero(env, "KILN_DATA_WATCH_SECONDS", 30.0),
            webhook_attempts=_positive(env, "KILN_WEBHOOK_ATTEMPTS", 4),
            webhook_backoff_seconds=_number(env, "KILN_WEBHOOK_BACKOFF_SECONDS", 1.0),
            webhook_timeout_seconds=_above_zero(env, "KILN_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            monitor_tick_seconds=_above_zero(env, "KILN_MONITOR_TICK_SECONDS", 1.0),
            monitor_workers=_int_at_least(env, "KILN_MONITOR_WORKERS", 2, 1),
            lease_seconds=_above_zero(env, "KILN_LEASE_SECONDS", 15.0),
            staging=_choice(env, "KILN_STAGING", STAGING_MODES),
            backend=backend,
            ray_address=ray_address,
            ray_work_dir=ray_work_dir,
            log_store=_log_store(env, database_url),
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
    def sealing_key_file(self) -> Path:
        """The server key that seals stored secrets (0600, created on first start)."""
        return self.server_key_file or self.home / "server.key"

    @property
    def stages_on_nodes(self) -> bool:
        """Whether jobs and replicas stage their own files through S3 where they run (on Ray
        always; locally with ``KILN_STAGING=node``) instead of the server staging them."""
        return self.backend == "ray" or self.staging == "node"

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
    def baselines_dir(self) -> Path:
        """Completed jobs' training data waiting for its baseline (hard links)."""
        return self.home / "baselines"

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
    def private_paths(self) -> tuple[Path, ...]:
        """What no job or replica may see: ``KILN_HOME`` and the SQLite database's folder."""
        url = self.database_url
        if not url.startswith("sqlite:///"):
            return (self.home,)
        return (self.home, Path(url[len("sqlite:///") :]).resolve().parent)

    @property
    def pids_dir(self) -> Path:
        """Pid files of the processes the server starts, for the next server to reap."""
        return self.home / "pids"

    @property
    def envs_dir(self) -> Path:
        """Cached job virtualenvs, keyed by the hash of ``requirements.txt``."""
        return self.home / "envs"

    def arn(self, resource: str, name: str) -> str:
        """The ARN of a SageMaker resource, e.g. ``arn(training-job, my-job)``."""
        return f"arn:aws:sagemaker:{self.region}:{ACCOUNT_ID}:{resource}/{name.lower()}"


@dataclass(frozen=True)
class ServerAddress:
    """Where a running ``kiln server`` listens: written at start, removed at stop."""

    endpoint: str
    s3_port: int
    external_s3_endpoint_url: str | None
    region: str
    pid: int

    @classmethod
    def of(cls, settings: Settings, endpoint: str) -> ServerAddress:
        """This process's address for ``settings``, answering on ``endpoint``."""
        return cls(
            endpoint,
            settings.s3_port,
            settings.external_s3_endpoint_url,
            settings.region,
            os.getpid(),
        )


_ADDRESS_FILE = "server.json"


def write_server_address(home: Path, address: ServerAddress) -> None:
    """Record where the server listens, atomically."""
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".{_ADDRESS_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(address.__dict__))
    os.replace(tmp, home / _ADDRESS_FILE)


def remove_server_address(home: Path) -> None:
    """Forget the address, if it is still this process's."""
    address = read_server_address(home)
    if address is not None and address.pid == os.getpid():
        (home / _ADDRESS_FILE).unlink(missing_ok=True)


def read_server_address(home: Path) -> ServerAddress | None:
    """The running server's address; None if none was recorded or its process is gone."""
    try:
        address = ServerAddress(**json.loads((home / _ADDRESS_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(address.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return address


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None


def _int_at_least(env: Mapping[str, str], name: str, default: int, least: int) -> int:
    value = _int(env, name, default)
    if value < least:
        raise ValueError(f"{name}={value} must be at least {least}")
    return value


def _instance_types(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    raw = env.get(name, default)
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in INSTANCE_TYPES]
    if unknown:
        raise ValueError(f"{name}: {', '.join(unknown)} is not a SageMaker instance type")
    return names


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    return _int_at_least(env, name, default, 1)


def _compute(env: Mapping[str, str]) -> tuple[str, str | None, Path]:
    """``KILN_BACKEND`` and, for ``ray``, the cluster's address and the nodes' work folder."""
    backend = _choice(env, "KILN_BACKEND", BACKENDS)
    address = env.get("KILN_RAY_ADDRESS") or None
    if address is not None:
        _host_port(address, "KILN_RAY_ADDRESS")
    elif backend == "ray":
        raise ValueError("KILN_BACKEND=ray needs KILN_RAY_ADDRESS=host:port (the Ray head's)")
    work_dir = env.get("KILN_RAY_WORK_DIR")
    if work_dir is not None and not Path(work_dir).is_absolute():
        raise ValueError(f"KILN_RAY_WORK_DIR={work_dir!r} must be an absolute path")
    return backend, address, Path(work_dir or Path(tempfile.gettempdir()) / "kiln-ray")


def _host_port(raw: str, name: str) -> None:
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name}={raw!r} is not host:port (e.g. 10.0.0.5:6379)")


def default_log_store(database_url: str) -> str:
    """``database`` where several servers may share the database (PostgreSQL), else ``files``."""
    dialect = database_url.split(":", 1)[0].split("+", 1)[0]
    return "database" if dialect in ("postgresql", "postgres") else "files"


def _log_store(env: Mapping[str, str], database_url: str) -> str:
    raw = env.get("KILN_LOG_STORE") or default_log_store(database_url)
    if raw not in LOG_STORES:
        raise ValueError(f"KILN_LOG_STORE={raw!r} is not one of {', '.join(LOG_STORES)}")
    return raw


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name) or choices[0]
    if raw not in choices:
        raise ValueError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


def _above_zero(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if value == 0:
        raise ValueError(f"{name}=0 must be more than 0")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not value >= 0:  # also refuses nan
        raise ValueError(f"{name}={raw!r} must be 0 or more")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={env[name]!r} is not a flag: use 1 or 0")


def _flag_off(env: Mapping[str, str], name: str) -> bool:
    """Whether a default-on flag is turned off."""
    return env.get(name, "").strip() != "" and not _flag(env, name)


def _machine_gpus() -> int:
    # One /dev/nvidiaN device node per NVIDIA GPU the driver exposes (nvidiactl etc. do not count).
    return sum(1 for p in Path("/dev").glob("nvidia*") if p.name[len("nvidia") :].isdigit())


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

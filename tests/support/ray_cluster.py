"""A real Ray cluster on this machine's loopback, for tests and benchmarks.

``RayCluster.start(root, nodes)`` runs ``ray start --head`` and one ``ray start --address`` per
further node, each with its own ``--temp-dir`` under ``root``, its own CPUs and a custom resource
naming it (``kiln-node-<name>``). ``stop()`` ends only the processes this cluster started: those
whose command line names one of its temp dirs, and their descendants (raylet's workers rename
themselves ``ray::…`` and lose the temp dir from their command line). Never ``ray stop``: it ends
every Ray process on the machine, other people's too.

Loopback: ``--node-ip-address`` is Ray's supported way to say where a node is reachable, but
``ray start`` replaces the literal loopback names (``127.0.0.1``, ``localhost``, ``::1``:
``ray._common.network_utils.is_localhost``) with the machine's interface address
(``services.resolve_ip_for_localhost``), because a node that announced 127.0.0.1 could not be
reached from another machine; only ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` stops that, and it
also makes ``ray start --address`` refuse every node but the head. Any other address in
127.0.0.0/8 is taken as given, and Linux routes the whole /8 to ``lo``. So each node gets its
own loopback address (head 127.0.0.2, the next 127.0.0.3, …): nothing leaves the machine, and
each node has a distinct address, as real hosts do (``SM_HOSTS``, a replica's ``tcp://`` address).

Outbound probes, all off. Seen with strace on Ray 2.60: even with usage stats disabled, the head's
API server (``dashboard.py``, started even with ``--include-dashboard=false``, then loading only
``UsageStatsHead``) (1) posts a "usage stats disabled" report to ``RAY_USAGE_STATS_REPORT_URL``
(https://usage-stats.ray.io/ by default) and (2) reads ``~/ray_bootstrap_config.yaml`` and, when
it is missing, asks Azure's, GCP's and AWS's metadata servers which cloud it runs on
(169.254.169.254, a DNS query for metadata.google.internal). So: ``RAY_USAGE_STATS_ENABLED=0``
and ``--disable-usage-stats``, the report URL pointed at a closed loopback port, and ``HOME``
pointed at a folder of the cluster's own whose ``ray_bootstrap_config.yaml`` says
``provider: {type: local}`` (the file ``ray up`` leaves on the head nodes it launches), which
answers the cloud question without asking. TPU metadata lookups (``accelerators/tpu.py``) happen
only where ``/dev/accel*`` or ``/dev/vfio`` exist. What remains is Ray's "which interface
reaches 8.8.8.8" in ``ray start`` and the runtime-env agent: a UDP ``connect()`` that sends no
packet (no other ``--node-ip-address`` would avoid it).

Token auth as Ray 2.60 sets it up: ``RAY_AUTH_MODE=token`` with the token in a file named by
``RAY_AUTH_TOKEN_PATH`` (a fresh random token per cluster, never ``~/.ray/auth_token``), in the
environment of every ``ray start`` and of every client (``client_env``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kiln.ports import free_port

_BIN = Path(sys.executable).parent
HEAD_IP = "127.0.0.2"
# 75 MiB: the smallest object store Ray accepts; the backend passes lines and exit codes only.
OBJECT_STORE_BYTES = 78_643_200
NODE_MEMORY_BYTES = 2 * 1024**3

PROBES_OFF = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # Port 9 (discard) on loopback: a report, were one ever sent, would go nowhere.
    "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
}


@dataclass(frozen=True)
class NodeSpec:
    """One node to start: its name (a custom resource ``kiln-node-<name>``) and CPUs."""

    name: str
    cpus: int = 2
    memory_bytes: int = NODE_MEMORY_BYTES


@dataclass
class RayNode:
    """A started node: its name, loopback address and temp dir."""

    name: str
    ip: str
    temp_dir: Path

    @property
    def resource(self) -> str:
        """The custom resource only this node has."""
        return f"kiln-node-{self.name}"

    def pids(self) -> set[int]:
        """The processes of this node still alive (found by its temp dir, then by descent)."""
        return _with_descendants(_pids_naming(str(self.temp_dir)))

    def kill(self) -> None:
        """Kill every process of this node at once (SIGKILL), as a machine that dies."""
        _kill_all(self.pids(), grace=0.0)


@dataclass
class RayCluster:
    """A running cluster: where its head is, how clients authenticate, its nodes."""

    root: Path
    address: str
    client_env: Mapping[str, str]
    nodes: list[RayNode] = field(default_factory=list)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    starters: list[int] = field(default_factory=list)
    """The pids the ``ray start`` commands ran as (they exit once their node runs)."""
    """Added to every ``ray start``'s environment (a test's ``PYTHONPATH`` recorder)."""

    @classmethod
    def start(
        cls, root: Path, nodes: Iterable[NodeSpec], extra_env: Mapping[str, str] | None = None
    ) -> RayCluster:
        """Start the head (the first of ``nodes``) and the others on loopback."""
        root.mkdir(parents=True, exist_ok=True)
        token = root / "auth_token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        home = root / "home"
        home.mkdir(exist_ok=True)
        (home / "ray_bootstrap_config.yaml").write_text("provider:\n  type: local\n")
        client_env = {
            **PROBES_OFF,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token),
        }
        specs = list(nodes)
        cluster = cls(root, f"{HEAD_IP}:{free_port()}", client_env, extra_env=dict(extra_env or {}))
        try:
            cluster._start_all(specs)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start_all(self, specs: list[NodeSpec]) -> None:
        """The head and the other nodes at once: a node waits for the head's GCS by itself."""
        nodes = [
            RayNode(spec.name, f"127.0.0.{2 + i}", self.root / spec.name)
            for i, spec in enumerate(specs)
        ]
        self.nodes.extend(nodes)
        with ThreadPoolExecutor(len(specs)) as pool:
            started = [pool.submit(self._start_head, nodes[0], specs[0])]
            started += [
                pool.submit(self._ray_start, node, spec, ["--address", self.address])
                for node, spec in zip(nodes[1:], specs[1:], strict=True)
            ]
            for future in started:
                future.result()

    def add_node(self, spec: NodeSpec) -> RayNode:
        """Start one more node, on the next loopback address."""
        ip = f"127.0.0.{2 + len(self.nodes)}"
        node = RayNode(spec.name, ip, self.root / spec.name)
        self.nodes.append(node)
        self._ray_start(node, spec, ["--address", self.address])
        return node

    def node(self, name: str) -> RayNode:
        """The node called ``name``."""
        return next(node for node in self.nodes if node.name == name)

    def pids(self) -> set[int]:
        """Every live process of this cluster."""
        return set().union(*(node.pids() for node in self.nodes)) if self.nodes else set()

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM this cluster's processes, SIGKILL what is left after ``grace``."""
        _kill_all(self.pids(), grace)

    def _start_head(self, node: RayNode, spec: NodeSpec) -> None:
        # Fixed defaults (8265; the autoscaler's metrics on 44217, below) would collide with
        # any other Ray on the machine.
        port = self.address.rsplit(":", 1)[1]
        role = ["--head", "--port", port, "--include-dashboard=false"]
        self._ray_start(node, spec, [*role, "--dashboard-port", str(free_port())])

    def _ray_start(self, node: RayNode, spec: NodeSpec, role: list[str]) -> None:
        argv = [
            str(_BIN / "ray"),
            "start",
            *role,
            "--node-ip-address",
            node.ip,
            "--temp-dir",
            str(node.temp_dir),
            "--num-cpus",
            str(spec.cpus),
            "--num-gpus",
            "0",
            "--memory",
            str(spec.memory_bytes),
            "--object-store-memory",
            str(OBJECT_STORE_BYTES),
            "--resources",
            json.dumps({node.resource: 1}),
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--include-log-monitor=false",
            "--disable-usage-stats",
        ]
        own = {"HOME": str(self.root / "home"), "AUTOSCALER_METRIC_PORT": str(free_port())}
        env = {**os.environ, **self.client_env, **self.extra_env, **own}
        # Its own session: nothing it leaves running shares the test runner's process group.
        with subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        ) as starter:
            self.starters.append(starter.pid)
            _, stderr = starter.communicate(timeout=180)
        if starter.returncode != 0:
            raise RuntimeError(
                f"ray start for node {node.name} failed ({starter.returncode}):\n"
                + stderr.decode(errors="replace")[-4000:]
            )


def _proc_ids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _pids_naming(text: str) -> set[int]:
    found = set()
    needle = text.encode()
    # A shell or runner whose own command line happens to quote the folder is not the cluster.
    for pid in set(_proc_ids()) - _ancestry():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.add(pid)
    return found


def _ancestry() -> set[int]:
    parents = _parents()
    pid, found = os.getpid(), set()
    while pid > 1 and pid not in found:
        found.add(pid)
        pid = parents.get(pid, 0)
    return found


def _parents() -> dict[int, int]:
    parents = {}
    for pid in _proc_ids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # The name field may hold spaces and parentheses: the ppid follows the last ")".
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _with_descendants(roots: set[int]) -> set[int]:
    parents = _parents()
    found = set(roots)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found and pid not in found}
        found |= more
        grew = bool(more)
    return found


def _kill_all(pids: set[int], grace: float) -> None:
    if grace > 0:
        _signal_each(pids, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.1)
    _signal_each({pid for pid in pids if _alive(pid)}, signal.SIGKILL)


def _signal_each(pids: set[int], signum: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def remove(cluster: RayCluster) -> None:
    """Stop ``cluster`` and delete its folder."""
    cluster.stop()
    shutil.rmtree(cluster.root, ignore_errors=True)


def foreign_tcp(pids: set[int]) -> list[str]:
    """The TCP connections of ``pids`` whose far end is not loopback (a listener has none)."""
    inodes = {}
    for pid in pids:
        for link in _fd_links(pid):
            if link.startswith("socket:["):
                inodes[link[8:-1]] = pid
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            remote, inode = fields[2], fields[9]
            if inode in inodes and not _is_loopback_or_none(remote):
                found.append(f"pid {inodes[inode]} {table} {fields[1]} -> {remote}")
    return found


def _fd_links(pid: int) -> list[str]:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    links = []
    for fd in fds:
        try:  # one may close meanwhile (the listing's own, to begin with)
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return links


def _is_loopback_or_none(hex_address: str) -> bool:
    """``/proc/net/tcp{,6}``'s ``ADDR:PORT`` (hex, host byte order per 32-bit word)."""
    address = bytes.fromhex(hex_address.split(":")[0])
    words = [address[i : i + 4][::-1] for i in range(0, len(address), 4)]
    raw = b"".join(words)
    if len(raw) == 16 and raw[:12] == b"\0" * 10 + b"\xff\xff":
        raw = raw[12:]  # an IPv4 address mapped into IPv6
    ip = ipaddress.ip_address(raw)
    return ip.is_loopback or ip.is_unspecified


class TcpWatch:
    """Samples the cluster's TCP connections in the background, keeping the foreign ones."""

    def __init__(self, cluster: RayCluster, every: float = 0.25) -> None:
        self.found: list[str] = []
        self._cluster = cluster
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.found.extend(foreign_tcp(self._cluster.pids()))
            if self._stop.wait(self._every):
                self.found.extend(foreign_tcp(self._cluster.pids()))
                return


@dataclass
class RayLab:
    """A test session's cluster, its connection watcher, its processes' network log and the
    log of the Python processes that loaded the recorder."""

    cluster: RayCluster
    watch: TcpWatch
    netlog: Path
    guarded: Path


def python_pids(pids: set[int]) -> set[int]:
    """Those of ``pids`` that run Python (Ray's workers rename themselves ``ray::…``)."""
    found = set()
    for pid in pids:
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if "python" in Path(exe).name:
            found.add(pid)
    return found

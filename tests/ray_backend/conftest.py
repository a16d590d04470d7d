"""The Ray tests' cluster: a head and a second node on loopback, started once per session, with
a recorder of every connection that leaves 127.0.0.0/8 (``RayLab.outbound``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.needs import require
from support.ray_cluster import NodeSpec, RayCluster, RayLab, TcpWatch

GUARD = Path(__file__).resolve().parent / "guard"

# Tests only: a dead node is declared dead after ~3 missed 1-second health checks, not Ray's
# default ~15 s.
FAST_NODE_DEATH = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


@pytest.fixture(scope="session")
def ray_lab() -> Iterator[RayLab]:
    """``head`` and ``w1`` (2 CPUs each), and ``doomed`` (3 CPUs: only a process asking for 3
    runs there; a test kills it), started together once per session."""
    require("Ray", importlib.util.find_spec("ray") is not None, "uv pip install -e '.[ray]'")
    # Short: Ray's Unix sockets live under it (107 bytes at most).
    root = Path(tempfile.mkdtemp(prefix="kiln-ray-"))
    netlog, guarded = root / "netlog", root / "guarded"
    extra = {
        "PYTHONPATH": str(GUARD),
        "KILN_COMPAT_NETLOG": str(netlog),
        "KILN_RAY_GUARDED": str(guarded),
        **FAST_NODE_DEATH,
    }
    cluster = RayCluster.start(
        root, [NodeSpec("head"), NodeSpec("w1"), NodeSpec("doomed", cpus=3)], extra
    )
    watch = TcpWatch(cluster)
    # The test runner is a Ray client too (RayBackend in-process): it authenticates as one.
    saved = {key: os.environ.get(key) for key in cluster.client_env}
    os.environ.update(cluster.client_env)
    try:
        yield RayLab(cluster, watch, netlog, guarded)
    finally:
        watch.stop()
        cluster.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)

"""Pieces every benchmark script shares."""

from __future__ import annotations

import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kiln.config import Settings
from kiln.ports import free_port


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every server and folder is cleaned up."""

    def _raise(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_header(benchmark: str) -> dict[str, object]:
    """What every results file starts with: which benchmark, when, on what."""
    return {
        "benchmark": benchmark,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "python": sys.version.split()[0],
    }


def server_environment(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``kiln server`` subprocess: this one's without any ``KILN_*`` or
    ``AWS_*`` the caller set (they would change what is measured), its own home, free ports."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "AWS_"))}
    ports = {"KILN_PORT": str(free_port()), "KILN_S3_PORT": str(free_port())}
    return {**kept, "KILN_HOME": str(home), **ports, **settings}


def bench_settings(home: Path) -> Settings:
    """A benchmark server's settings: its own home, free ports, room for a few jobs."""
    return Settings.from_env(
        {
            "KILN_HOME": str(home),
            "KILN_DATABASE_URL": f"sqlite:///{home / 'kiln.db'}",
            "KILN_PORT": "0",
            "KILN_S3_PORT": str(free_port()),
            "KILN_STOP_GRACE_SECONDS": "3",
            "KILN_CAPACITY_VCPUS": "4",
            "KILN_CAPACITY_MEMORY_MIB": "16384",
        }
    )


def per_call_seconds(call: Callable[[], object], calls: int) -> float:
    """Median wall time of ``call`` over ``calls`` runs, after a tenth as many to warm up."""
    for _ in range(max(calls // 10, 5)):
        call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)

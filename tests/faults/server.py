"""A ``kiln server`` subprocess that faults kill -9 and start again on the same home and ports.

The server runs as ``python -m kiln.cli server`` in its own session with a fixed API port and
S3 port, so a restart answers where the old one did and clients built once keep working. Every
process it ever started is remembered (``known``), so whatever a crash leaves behind can be
found, counted and, at the end, killed by pid — never by name.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from kiln.config import Settings
from kiln.ports import free_port

from .procs import Proc, alive, descendants, proc

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0


class ServerStartError(Exception):
    """The server exited or did not answer /ping in time; the message ends with its log."""


def server_environment(home: Path, overrides: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: ours without KILN_*/AWS_*, a home, fixed ports, test sizes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "AWS_"))}
    env.update(
        {
            "KILN_HOME": str(home),
            "KILN_PORT": str(free_port()),
            "KILN_S3_PORT": str(free_port()),
            "KILN_STOP_GRACE_SECONDS": "3",
            # Room for several ml.m5.large jobs at once; each is still held to its own limits.
            "KILN_CAPACITY_VCPUS": "16",
            "KILN_CAPACITY_MEMORY_MIB": "65536",
            "KILN_CAPACITY_GPUS": "0",
            "KILN_CHECK_RESPONSES": "1",
            **overrides,
        }
    )
    return env


class KilnServer:
    """Start, kill -9, restart and stop one ``kiln server`` on one KILN_HOME."""

    def __init__(self, home: Path, log_path: Path, overrides: Mapping[str, str]) -> None:
        self.env = server_environment(home, overrides)
        self.settings = Settings.from_env(self.env)  # writes the key pair the server reads
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.known: list[Proc] = []
        self.starts = 0
        self.killed_at = 0.0  # time.monotonic() of the last kill -9

    @property
    def url(self) -> str:
        """Where the API answers."""
        return f"http://127.0.0.1:{self.settings.port}"

    def start(self, timeout: float = START_TIMEOUT_S) -> float:
        """Start the server and wait for /ping; seconds it took (ServerStartError if it fails)."""
        self.starts += 1
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== faults: start {self.starts} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kiln.cli", "server"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._remember(self.process.pid)
        deadline = started + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ServerStartError(f"kiln server exited with {code}:\n{self.log_tail()}")
            if self.ping(2.0) is not None:
                self.snapshot()
                return time.monotonic() - started
            time.sleep(0.05)
        raise ServerStartError(
            f"kiln server did not answer /ping within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def is_running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def ping(self, timeout: float) -> float | None:
        """Seconds ``GET /ping`` took, or None if it did not answer 200."""
        connection = http.client.HTTPConnection("127.0.0.1", self.settings.port, timeout=timeout)
        started = time.monotonic()
        try:
            connection.request("GET", "/ping")
            ok = connection.getresponse().status == 200
        except OSError:
            return None
        finally:
            connection.close()
        return time.monotonic() - started if ok else None

    def snapshot(self) -> list[Proc]:
        """The server's process tree now (remembered for the final sweep)."""
        if self.process is None:
            return []
        tree = descendants(self.process.pid)
        for p in tree:
            if p not in self.known:
                self.known.append(p)
        return tree

    def kill9(self) -> list[Proc]:
        """SIGKILL the server process alone, as a crash would; the children it left running."""
        assert self.process is not None, "start the server first"
        children = self.snapshot()
        self.process.send_signal(signal.SIGKILL)
        self.killed_at = time.monotonic()
        self.process.wait()
        time.sleep(0.2)  # let children that die with their parent do so
        return alive(children)

    def stop(self) -> list[Proc]:
        """SIGTERM and wait for a clean exit; the processes of its tree still alive after."""
        if not self.is_running():
            return []
        assert self.process is not None
        tree = self.snapshot()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 3.0
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        return alive(tree)

    def leftovers(self) -> list[Proc]:
        """Every process any generation of this server started that still runs, but the server's
        current tree (what a crash left behind and nobody reaped)."""
        current = set(self.snapshot()) if self.is_running() else set()
        return [p for p in alive(self.known) if p not in current and not self._is_server(p)]

    def _is_server(self, p: Proc) -> bool:
        return self.process is not None and p.pid == self.process.pid and self.is_running()

    def sweep(self) -> list[Proc]:
        """Kill, by pid, every process this server ever started that still runs; those killed."""
        if self.is_running():
            self.snapshot()
        extra = [child for p in alive(self.known) for child in descendants(p.pid)]
        killed = [p for p in [*self.known, *extra] if p.kill()]
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()
        return killed

    def _remember(self, pid: int) -> None:
        found = proc(pid)
        if found is not None:
            self.known.append(found)

    def log_tail(self, lines: int = 12) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

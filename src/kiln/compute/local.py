"""The local backend: job processes on this machine, sandboxed with bwrap where present."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from kiln.compute.base import ProcessSpec
from kiln.compute.cgroups import CgroupLimits, Cgroups, joining_argv
from kiln.compute.sandbox import CONTAINER_ROOT, bwrap_argv, bwrap_binary

log = logging.getLogger(__name__)


class LocalProcess:
    """A process group started by ``LocalBackend``."""

    def __init__(self, popen: subprocess.Popen[bytes], limits: CgroupLimits | None) -> None:
        self._popen = popen
        self._limits = limits

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def stdout(self) -> IO[bytes]:
        assert self._popen.stdout is not None  # started with PIPE
        return self._popen.stdout

    @property
    def stderr(self) -> IO[bytes]:
        assert self._popen.stderr is not None  # started with PIPE
        return self._popen.stderr

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self._popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code."""
        return self._popen.wait(timeout)

    def terminate(self, grace: float) -> int:
        """SIGTERM the user's processes, SIGKILL the group after ``grace`` seconds, reap."""
        signal_group(self.pid, signal.SIGTERM, spare_sandbox=True)
        try:
            return self._popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        finally:
            kill_group(self.pid)
        return self._popen.wait()

    def release(self) -> None:
        """Kill stragglers left in the group and free the cgroups."""
        kill_group(self.pid)
        if self._limits is not None:
            self._limits.release()


class LocalBackend:
    """Runs processes here; in a bwrap sandbox unless ``sandbox`` is ``off`` or bwrap is absent."""

    def __init__(self, *, hidden: Path, sandbox: str = "auto") -> None:
        self._hidden = hidden
        self._bwrap = None if sandbox == "off" else bwrap_binary()
        self._cgroups = Cgroups()
        # bwrap's --die-with-parent fires when the *thread* that spawned it ends, so every
        # process is spawned from this one thread, which lives as long as the backend.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiln-spawn")
        if self._bwrap is None:
            log.warning(
                "bubblewrap (bwrap) not found: jobs run unsandboxed in their workspace folders, "
                "and SM_* variables point there instead of /opt/ml"
            )

    @property
    def is_sandboxed(self) -> bool:
        """Whether processes see their workspace at ``/opt/ml``."""
        return self._bwrap is not None

    def container_path(self, workspace: Path) -> Path:
        """Where a process sees ``workspace``."""
        return CONTAINER_ROOT if self.is_sandboxed else workspace

    def start(self, spec: ProcessSpec) -> LocalProcess:
        """Start ``spec``'s process in a new process group with piped output."""
        argv = list(spec.argv)
        if self._bwrap is not None:
            argv = bwrap_argv(
                self._bwrap,
                workspace=spec.workspace,
                hidden=self._hidden,
                read_only=spec.read_only_paths,
                cwd=spec.cwd,
                argv=argv,
            )
        limits = self._cgroups.create(spec.name, spec.vcpus, spec.memory_mib)
        popen = self._spawner.submit(
            subprocess.Popen,
            joining_argv(limits, argv),
            env=dict(spec.env),
            cwd=None if self.is_sandboxed else spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ).result()
        return LocalProcess(popen, limits)

    def close(self) -> None:
        """Stop the spawning thread (after every process has been stopped)."""
        self._spawner.shutdown(wait=True)


def group_members(pgid: int) -> list[tuple[int, str]]:
    """``(pid, command name)`` of every live process in process group ``pgid``."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append((int(entry.name), name))
    return members


def signal_group(pgid: int, sig: int, *, spare_sandbox: bool = False) -> None:
    """Send ``sig`` to the group; with ``spare_sandbox``, not to bwrap itself.

    bwrap dies of SIGTERM and takes its child with it (--die-with-parent), which would rob the
    user's script of SageMaker's grace period; so SIGTERM goes to the script, and bwrap exits
    when the script does.
    """
    if not spare_sandbox:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        return
    for pid, name in group_members(pgid):
        if name != "bwrap":
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def kill_group(pgid: int, timeout: float = 5.0) -> None:
    """SIGKILL every process of group ``pgid`` and wait until none is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if not group_members(pgid):
            return
        time.sleep(0.01)

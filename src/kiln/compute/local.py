"""The local backend: job processes on this machine, sealed in bwrap sandboxes where possible.

Every process is spawned from one long-lived thread: bwrap's ``--die-with-parent`` fires when
the *thread* that spawned it ends. A process's tree is found by its cgroup membership, so a
``setsid`` grandchild is signalled and killed with the rest; where cgroups are unavailable, by
descent from the spawned process (and in a sandbox the pid namespace dies with bwrap's init).
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import IO

from kiln.compute.base import LISTEN, ProcessSpec, Stream
from kiln.compute.cgroups import CgroupLimits, Cgroups, joining_argv
from kiln.compute.leftovers import group_processes
from kiln.compute.processes import Members, kill_all, signal_members, tree_members
from kiln.compute.sandbox import (
    CONTAINER_ROOT,
    INSTALL_HINT,
    Exposure,
    bwrap_argv,
    bwrap_binary,
    bwrap_problem,
    plan_mounts,
    require_sandbox,
    root_only_paths,
    survey,
    system_paths,
    unsandboxed_reason,
)
from kiln.compute.sockets import bound_unix_socket
from kiln.pidfiles import PidRecord, is_ours, process_info

log = logging.getLogger(__name__)

_LOOPBACK = "127.0.0.1"
# What an attached process (started by a server before this one) exited with: unknowable.
UNKNOWN_EXIT = 255

# Where the kiln package lives: site-packages, or a checkout's src/ for an editable install.
_KILN_DIR = Path(__file__).resolve().parents[2]

_UNSANDBOXED = (
    "{reason}: jobs and replicas run UNSANDBOXED, with the server's user and file system: they "
    "can read and write all of KILN_HOME (the database, the credentials, every job's "
    "workspace), read the server's environment, signal its processes, and see the whole "
    "machine. cgroups still limit memory, CPU and processes where they can. SM_* variables "
    "point at workspace folders, not /opt/ml. To isolate jobs, {hint}; KILN_SANDBOX=required "
    "refuses to start without it."
)


@dataclass(frozen=True)
class LocalRef:
    """What a local process is known by: its pid and start time, its workspace, its socket."""

    pid: int
    started: int | None
    workspace: str
    address: str | None = None

    def dump(self) -> str:
        """The stored form."""
        return json.dumps({"backend": "local", **asdict(self)})

    @classmethod
    def load(cls, ref: str) -> LocalRef | None:
        """The ref ``dump`` wrote; None for another backend's or a malformed one."""
        try:
            fields = json.loads(ref)
            if "marker" in fields:  # a pid file (kiln.pidfiles) names the same process
                fields = {"pid": fields["pid"], "started": fields["started"],
                          "workspace": fields["marker"], "backend": "local"}  # fmt: skip
            if fields.pop("backend") != "local":
                return None
            return cls(**fields)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def is_ours(self) -> bool:
        """Whether its process group still holds this process, or one in its workspace."""
        members = group_processes(self.pid)
        record = PidRecord(self.pid, self.started, self.workspace)
        return bool(members) and is_ours(record, members)


class _OnThisMachine:
    """What a local process is known by, whoever started it."""

    _ref: LocalRef

    @property
    def ref(self) -> str:
        """Its pid, start time and workspace: what ``LocalBackend.attach`` checks."""
        return self._ref.dump()

    @property
    def address(self) -> str | None:
        """The Unix socket a replica listens on."""
        return self._ref.address

    @property
    def host(self) -> str:
        """This machine."""
        return _LOOPBACK

    @property
    def local_pid(self) -> int:
        """Its pid."""
        return self._ref.pid

    def lost_reason(self) -> None:
        """A process on this machine never ends without an exit code."""
        return None


class LocalProcess(_OnThisMachine):
    """A process tree started by ``LocalBackend``."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        limits: CgroupLimits | None,
        workspace: Path,
        address: str | None = None,
    ) -> None:
        self._popen = popen
        self._limits = limits
        self._oom_killed: bool | None = None
        info = process_info(popen.pid)
        started = None if info is None else info.started
        self._ref = LocalRef(popen.pid, started, str(workspace), address)

    @property
    def pid(self) -> int:
        """Its pid (the leader of its process group)."""
        return self._popen.pid

    @property
    def stdout(self) -> IO[bytes]:
        """Its standard output pipe."""
        assert self._popen.stdout is not None  # started with PIPE
        return self._popen.stdout

    @property
    def stderr(self) -> IO[bytes]:
        """Its standard error pipe."""
        assert self._popen.stderr is not None  # started with PIPE
        return self._popen.stderr

    def lines(self, stream: Stream) -> Iterator[bytes]:
        """``stream``'s lines until the process closes it."""
        pipe = self.stdout if stream is Stream.STDOUT else self.stderr
        with pipe:
            yield from iter(pipe.readline, b"")

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self._popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code."""
        return self._popen.wait(timeout)

    def members(self) -> Members:
        """Every live process of the tree: its cgroup's, else the spawned one's descendants."""
        if self._limits is not None:
            return self._limits.members()
        return tree_members(self.pid)

    def stop(self, grace: float) -> int:
        """SIGTERM the user's processes, SIGKILL all after ``grace`` seconds, reap."""
        signal_members(self.members(), signal.SIGTERM, spare_sandbox=True)
        try:
            return self._popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        finally:
            self._kill()
        return self._popen.wait()

    def was_oom_killed(self) -> bool:
        """Whether the kernel killed one of its processes for going over its memory limit."""
        if self._oom_killed is not None:
            return self._oom_killed
        return self._limits is not None and self._limits.was_oom_killed()

    def release(self) -> None:
        """Kill whatever is left of the tree and free the cgroups (their OOM count is kept)."""
        self._kill()
        if self._limits is not None:
            self._oom_killed = self._limits.was_oom_killed()
            self._limits.release()

    def _kill(self) -> None:
        if self._limits is not None:
            self._limits.kill()
        else:
            kill_all(self.members)


class LocalBackend:
    """Runs processes here; in a bwrap sandbox unless ``sandbox`` is ``off`` or bwrap fails.

    ``private`` are paths no process may see (``KILN_HOME``, the database's folder);
    ``scope`` keeps this server's cgroups apart from another's on the same machine.
    """

    def __init__(
        self,
        *,
        private: Sequence[Path],
        sandbox: str = "auto",
        pids_max: int = 4096,
        scope: str = "default",
        stage_remotely: bool = False,
    ) -> None:
        self._stage_remotely = stage_remotely
        bwrap = None if sandbox == "off" else bwrap_binary()
        problem = bwrap_problem(bwrap) if bwrap is not None else None
        reason = unsandboxed_reason(sandbox, bwrap, problem)
        require_sandbox(sandbox, reason)
        self._bwrap = bwrap if reason is None else None
        self._private = tuple(private)
        self._pids_max = pids_max
        self._root_only = root_only_paths() if self._bwrap else []
        self._cgroups = Cgroups(scope)
        # bwrap's --die-with-parent fires when the *thread* that spawned it ends, so every
        # process is spawned from this one thread, which lives as long as the backend.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiln-spawn")
        if reason is not None:
            log.warning(_UNSANDBOXED.format(reason=reason, hint=INSTALL_HINT))

    @property
    def name(self) -> str:
        """``local``."""
        return "local"

    @property
    def is_sandboxed(self) -> bool:
        """Whether processes see their workspace at ``/opt/ml``."""
        return self._bwrap is not None

    @property
    def stages_remotely(self) -> bool:
        """Whether job hosts stage their own files through S3, as on a cluster's nodes
        (``KILN_STAGING=node``); by default the server stages them, here, with no copies."""
        return self._stage_remotely

    def place(self, group: str, count: int, vcpus: int, memory_mib: int, gpus: int) -> list[str]:
        """Every host runs on this machine (the scheduler has checked that they fit)."""
        return [_LOOPBACK] * count

    def container_path(self, workspace: Path) -> Path:
        """Where a process sees ``workspace``."""
        return CONTAINER_ROOT if self.is_sandboxed else workspace

    def start(self, spec: ProcessSpec) -> LocalProcess:
        """Start ``spec``'s process in a new process group with piped output; a replica gets
        a Unix socket bound at ``spec.socket_path``, inherited as ``--fd N``."""
        with ExitStack() as stack:
            argv, pass_fds = list(spec.argv), spec.pass_fds
            if spec.socket_path is not None:
                listener = stack.enter_context(bound_unix_socket(spec.socket_path))
                argv = _listening(argv, listener.fileno())
                pass_fds = (*pass_fds, listener.fileno())
            if self._bwrap is not None:
                argv = bwrap_argv(self._bwrap, self._mounts(spec), spec.cwd, argv)
            limits = self._cgroups.create(spec.name, spec.vcpus, spec.memory_mib, self._pids_max)
            popen = self._spawner.submit(
                subprocess.Popen,
                joining_argv(limits, argv),
                env=dict(spec.env),
                cwd=None if self.is_sandboxed else spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                pass_fds=pass_fds,
            ).result()
        address = None if spec.socket_path is None else str(spec.socket_path)
        return LocalProcess(popen, limits, spec.workspace, address)

    def attach(self, ref: str) -> AttachedProcess | None:
        """The process a server of this home started, if it still runs (a crash left it)."""
        found = LocalRef.load(ref)
        if found is None or not found.is_ours():
            return None
        return AttachedProcess(found)

    def clear_leftovers(self) -> list[Path]:
        """Kill and remove the cgroups a dead server of this home left; those removed."""
        return self._cgroups.clear_leftovers()

    def stop_left_by(self, servers: frozenset[str]) -> int:
        """0: another server's processes ran on its own machine, out of this one's reach."""
        return 0

    def close(self) -> None:
        """Stop the spawning thread (after every process has been stopped)."""
        self._spawner.shutdown(wait=True)
        self._cgroups.close()

    def _mounts(self, spec: ProcessSpec) -> list[tuple[str, ...]]:
        python = [Path(sys.prefix), Path(sys.base_prefix), _KILN_DIR, *spec.read_only_paths]
        # A symlinked prefix is recreated as a link: its target must be there too.
        environment = list(dict.fromkeys([*python, *(p.resolve() for p in python)]))
        exposure = Exposure(system_paths(), environment, self._private, self._root_only)
        paths = [*exposure.system, *environment, *self._private, *self._root_only]
        return plan_mounts(survey(paths), exposure, spec.workspace)


class AttachedProcess(_OnThisMachine):
    """A process an earlier server started: it can be watched and stopped, not read."""

    def __init__(self, ref: LocalRef) -> None:
        self._ref = ref
        self._exit: int | None = None

    def lines(self, stream: Stream) -> Iterator[bytes]:
        """Nothing: its pipes went with the server that started it."""
        return iter(())

    def poll(self) -> int | None:
        """None while its group lives; then :data:`UNKNOWN_EXIT`."""
        if self._exit is None and not self._ref.is_ours():
            self._exit = UNKNOWN_EXIT
        return self._exit

    def wait(self, timeout: float | None = None) -> int:
        """Wait until its group is gone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self._ref.pid), timeout or 0.0)
            time.sleep(0.05)
        return code

    def stop(self, grace: float) -> int:
        """SIGTERM its tree, SIGKILL what is left after ``grace``."""
        members = partial(tree_members, self._ref.pid)
        signal_members(members(), signal.SIGTERM, spare_sandbox=True)
        try:
            return self.wait(grace)
        except subprocess.TimeoutExpired:
            kill_all(members)
            self._exit = -signal.SIGKILL
            return self._exit

    def was_oom_killed(self) -> bool:
        """Unknown for a process another server started."""
        return False

    def release(self) -> None:
        """Kill what is left of its tree."""
        kill_all(partial(tree_members, self._ref.pid))


def _listening(argv: list[str], fd: int) -> list[str]:
    """``argv`` with :data:`LISTEN` replaced by ``--fd`` and the bound socket's number."""
    at = argv.index(LISTEN)
    return [*argv[:at], "--fd", str(fd), *argv[at + 1 :]]

"""The compute seam: start a job's host or a model replica from a spec, get a handle back.

A backend runs processes somewhere: on this machine (``local.py``), or on a Ray cluster's nodes
(``kiln.compute.ray``). What the rest of Kiln holds of a process is a :class:`ProcessHandle`: an
opaque reference it can store and re-attach to after a restart (:meth:`Backend.attach`), the
process's output as lines, its exit, its address when it serves (a Unix socket path here,
``tcp://host:port`` on a cluster), and a stop with grace. Which backend runs is configuration
(``KILN_BACKEND=local|ray``).

Staging: the local backend runs where the server is, so the server stages a job's inputs into
the workspace itself (hard links from the embedded store, no copies); a backend whose processes
run elsewhere says so with :attr:`Backend.stages_remotely`, and its processes stage their own
inputs and outputs through S3 where they run (``kiln.compute.agent``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Protocol

LISTEN = "{kiln-listen}"
"""An ``argv`` item the backend replaces by where a replica listens (``--fd N`` for a socket it
bound, ``--port P --host H`` on a cluster node)."""

NODE_ENVS_VARIABLE = "KILN_NODE_ENVS_DIR"
"""Where a node builds and caches the environments of the processes it runs (the host agent
reads it; a backend whose processes stage remotely sets it)."""


class Stream(Enum):
    """A process's output streams."""

    STDOUT = "stdout"
    STDERR = "stderr"


@dataclass(frozen=True)
class ProcessSpec:
    """One process to run: a job's host or a model replica."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    workspace: Path
    cwd: Path
    vcpus: int
    memory_mib: int
    gpus: int = 0
    read_only_paths: Sequence[Path] = field(default_factory=tuple)
    # Open file descriptors the process inherits at the same numbers (a warm spare's socket).
    pass_fds: tuple[int, ...] = ()
    socket_path: Path | None = None
    """A replica's: where a backend that serves through Unix sockets binds one for it (``argv``
    then holds :data:`LISTEN`)."""
    group: str | None = None
    """The hosts of one job share a group: a cluster backend places them together."""
    group_size: int = 1


class ProcessHandle(Protocol):
    """A started process, as jobs and endpoints see it."""

    @property
    def ref(self) -> str:
        """An opaque reference to store; :meth:`Backend.attach` turns it back into a handle."""

    @property
    def address(self) -> str | None:
        """Where a replica listens (a socket path, or ``tcp://host:port``); None for a job."""

    @property
    def host(self) -> str:
        """The address of the machine it runs on (``127.0.0.1`` here)."""

    @property
    def local_pid(self) -> int | None:
        """Its pid when it runs on this machine, for ``/proc`` readings; else None."""

    def lines(self, stream: Stream) -> Iterator[bytes]:
        """``stream``'s lines as the process writes them, until it closes (each read once)."""

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code (``subprocess.TimeoutExpired`` after ``timeout``)."""

    def stop(self, grace: float) -> int:
        """SIGTERM the user's processes, SIGKILL all after ``grace`` seconds, reap; exit code."""

    def was_oom_killed(self) -> bool:
        """Whether the kernel killed one of its processes for going over its memory limit."""

    def lost_reason(self) -> str | None:
        """Why it ended without exiting (its node died), naming the node; None if it exited."""

    def release(self) -> None:
        """Kill what is left of its process tree and free what the backend holds for it;
        after it has exited. ``was_oom_killed`` still answers afterwards."""


class Backend(Protocol):
    """Starts processes for jobs and replicas."""

    @property
    def name(self) -> str:
        """``local`` or ``ray``: what ``KILN_BACKEND`` chose."""

    @property
    def is_sandboxed(self) -> bool:
        """Whether processes see their workspace at ``/opt/ml``."""

    @property
    def stages_remotely(self) -> bool:
        """Whether processes run elsewhere and stage their own files through S3."""

    def container_path(self, workspace: Path) -> Path:
        """Where a process sees ``workspace``."""

    def place(self, group: str, count: int, vcpus: int, memory_mib: int, gpus: int) -> list[str]:
        """Reserve room for ``count`` hosts of one job (``ProcessSpec.group``); the address of
        the machine each will run on, so that they can be told of each other before they start."""

    def start(self, spec: ProcessSpec) -> ProcessHandle:
        """Start ``spec``'s process."""

    def attach(self, ref: str) -> ProcessHandle | None:
        """The process ``ref`` names, if it still runs and is this backend's; else None."""

    def clear_leftovers(self) -> list[Path]:
        """Free what a dead server of this home left behind (cgroups); what was freed."""

    def stop_left_by(self, servers: frozenset[str]) -> int:
        """Stop what other servers, gone now (their leases ran out), started and left running
        where this server reaches it; how many processes."""

    def close(self) -> None:
        """Release the backend (after every process has been stopped)."""

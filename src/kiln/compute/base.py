"""The compute-backend protocol: start one host's process of a job, signal it, reap it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol


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
    read_only_paths: Sequence[Path] = field(default_factory=tuple)
    # Open file descriptors the process inherits at the same numbers (a replica's socket).
    pass_fds: tuple[int, ...] = ()


class RunningProcess(Protocol):
    """A started process, as the job runner sees it."""

    @property
    def pid(self) -> int: ...

    @property
    def stdout(self) -> IO[bytes]: ...

    @property
    def stderr(self) -> IO[bytes]: ...

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code (``subprocess.TimeoutExpired`` after ``timeout``)."""

    def terminate(self, grace: float) -> int:
        """SIGTERM the user's processes, SIGKILL all after ``grace`` seconds, reap; exit code."""

    def was_oom_killed(self) -> bool:
        """Whether the kernel killed one of its processes for going over its memory limit."""

    def release(self) -> None:
        """Kill what is left of its process tree and free what the backend holds for it
        (cgroups); after it has exited. ``was_oom_killed`` still answers afterwards."""


class Backend(Protocol):
    """Starts processes for jobs and replicas."""

    @property
    def is_sandboxed(self) -> bool:
        """Whether processes see their workspace at ``/opt/ml``."""

    def container_path(self, workspace: Path) -> Path:
        """Where a process sees ``workspace``."""

    def start(self, spec: ProcessSpec) -> RunningProcess:
        """Start ``spec``'s process with piped stdout and stderr."""

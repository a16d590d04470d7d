"""Memory and CPU limits through cgroups, where the machine lets Kiln create them.

cgroup v1 (one hierarchy per controller) and v2 (one unified hierarchy) are both handled. Where
neither is writable the limits are skipped and Kiln says so once.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_ROOT = Path("/sys/fs/cgroup")
_BASH = shutil.which("bash") or "/bin/bash"
_CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class CgroupLimits:
    """The cgroup folders limiting one process tree; ``procs_files`` receive its pid."""

    folders: tuple[Path, ...]

    @property
    def procs_files(self) -> list[Path]:
        """The files a process writes its pid into to join."""
        return [folder / "cgroup.procs" for folder in self.folders]

    def release(self) -> None:
        """Remove the cgroup folders (the processes have exited)."""
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError as e:
                log.debug("cgroup %s not removed: %s", folder, e)


class Cgroups:
    """Creates per-process cgroups under ``kiln/`` in whichever hierarchy is writable."""

    def __init__(self, root: Path = _ROOT) -> None:
        self._root = root
        self._warned = False

    def create(self, name: str, vcpus: int, memory_mib: int) -> CgroupLimits | None:
        """A cgroup limiting to ``vcpus`` and ``memory_mib``; None where not permitted."""
        try:
            if (self._root / "cgroup.controllers").exists():
                return self._create_v2(name, vcpus, memory_mib)
            return self._create_v1(name, vcpus, memory_mib)
        except OSError as e:
            if not self._warned:
                log.warning("cgroup limits are off: cannot create cgroups here (%s)", e)
                self._warned = True
            return None

    def _create_v1(self, name: str, vcpus: int, memory_mib: int) -> CgroupLimits:
        memory = self._root / "memory" / "kiln" / name
        cpu = self._root / "cpu" / "kiln" / name
        for folder in (memory, cpu):
            folder.mkdir(parents=True, exist_ok=True)
        (memory / "memory.limit_in_bytes").write_text(str(memory_mib * 1024 * 1024))
        (cpu / "cpu.cfs_period_us").write_text(str(_CPU_PERIOD_US))
        (cpu / "cpu.cfs_quota_us").write_text(str(vcpus * _CPU_PERIOD_US))
        return CgroupLimits((memory, cpu))

    def _create_v2(self, name: str, vcpus: int, memory_mib: int) -> CgroupLimits:
        parent = self._root / "kiln"
        parent.mkdir(exist_ok=True)
        controllers = (self._root / "cgroup.subtree_control").read_text().split()
        if not {"cpu", "memory"} <= set(controllers):
            raise OSError("the cpu and memory controllers are not delegated to this cgroup")
        (parent / "cgroup.subtree_control").write_text("+cpu +memory")
        folder = parent / name
        folder.mkdir(exist_ok=True)
        (folder / "memory.max").write_text(str(memory_mib * 1024 * 1024))
        (folder / "cpu.max").write_text(f"{vcpus * _CPU_PERIOD_US} {_CPU_PERIOD_US}")
        return CgroupLimits((folder,))


def joining_argv(limits: CgroupLimits | None, argv: list[str]) -> list[str]:
    """``argv`` behind a shell that moves itself into the cgroups, then execs.

    Joining before exec (not after spawn) means no child the job forks can escape the limits.
    bash, not sh: dash drops variables such as ``SM_HP_LEARNING-RATE`` whose names are not
    shell identifiers, and the toolkit's contract has them.
    """
    if limits is None:
        return argv
    script = 'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'
    return [_BASH, "-c", script, "bash", *map(os.fspath, limits.procs_files), "--", *argv]

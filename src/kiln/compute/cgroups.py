"""Memory, CPU and process-count limits through cgroups, where the machine lets Kiln create them.

cgroup v1 (one hierarchy per controller) and v2 (one unified hierarchy) are both handled. Each
server keeps its cgroups under ``kiln/<scope>/`` (the scope names its ``KILN_HOME``), so two
servers on one machine never share, or kill, each other's. Where no hierarchy is writable the
limits are skipped and Kiln says so once; where the ``pids`` controller is missing, only that one.

A cgroup is also how Kiln finds a process tree: every process a job starts, ``setsid`` or not,
stays in its cgroup; and when it has ended, the cgroup's ``oom_kill`` count says whether the
kernel killed one of them for going over the memory limit.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kiln.compute.processes import Members, kill_all, names_of

log = logging.getLogger(__name__)

_ROOT = Path("/sys/fs/cgroup")
_BASH = shutil.which("bash") or "/bin/bash"
_CPU_PERIOD_US = 100_000
_MIB = 1024 * 1024


@dataclass(frozen=True)
class CgroupLimits:
    """The cgroup folders limiting one process tree; ``procs_files`` receive its pid."""

    folders: tuple[Path, ...]
    memory: Path | None = None
    """The folder whose ``memory.*`` files count OOM kills."""
    version: int = 1

    @property
    def procs_files(self) -> list[Path]:
        """The files a process writes its pid into to join."""
        return [folder / "cgroup.procs" for folder in self.folders]

    def members(self) -> Members:
        """Every live process in the cgroups."""
        pids: set[int] = set()
        for procs in self.procs_files:
            try:
                pids.update(int(line) for line in procs.read_text().split())
            except OSError:
                continue
        return names_of(sorted(pids))

    def kill(self, timeout: float = 5.0) -> bool:
        """SIGKILL every member until none is left; whether that happened within ``timeout``."""
        if self.version == 2:
            try:
                (self.folders[0] / "cgroup.kill").write_text("1")  # Linux 5.14+: atomic
            except OSError:
                pass
        return kill_all(self.members, timeout)

    def was_oom_killed(self) -> bool:
        """Whether the kernel killed a member for going over the memory limit."""
        if self.memory is None:
            return False
        if self.version == 2:
            events, peak, limit = "memory.events", "memory.peak", "memory.max"
        else:
            events, peak = "memory.oom_control", "memory.max_usage_in_bytes"
            limit = "memory.limit_in_bytes"
        return oom_killed(
            parse_counters(_read(self.memory / events)),
            _read_int(self.memory / peak),
            _read_int(self.memory / limit),
        )

    def release(self) -> None:
        """Remove the cgroup folders (the processes have exited)."""
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError as e:
                log.debug("cgroup %s not removed: %s", folder, e)


def parse_counters(text: str) -> dict[str, int]:
    """A flat-keyed cgroup file (``oom_kill 1`` per line) as a dict; other lines skipped."""
    counters = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            counters[key] = int(value)
    return counters


def oom_killed(counters: Mapping[str, int], peak: int | None, limit: int | None) -> bool:
    """Whether a cgroup's memory files say the OOM killer struck.

    ``oom_kill`` (Linux 4.13+, v1's ``memory.oom_control`` and v2's ``memory.events``) counts
    it; older kernels only show that usage reached the limit.
    """
    if "oom_kill" in counters:
        return counters["oom_kill"] > 0
    return peak is not None and limit is not None and peak >= limit


class Cgroups:
    """Creates per-process cgroups under ``kiln/<scope>/`` in whichever hierarchy is writable."""

    def __init__(self, scope: str, root: Path = _ROOT) -> None:
        self._scope = scope
        self._root = root
        self._warned: set[str] = set()

    def create(self, name: str, vcpus: int, memory_mib: int, pids_max: int) -> CgroupLimits | None:
        """A cgroup limiting to ``vcpus``, ``memory_mib`` and ``pids_max`` processes and
        threads; None where not permitted."""
        try:
            if (self._root / "cgroup.controllers").exists():
                limits = self._create_v2(name, vcpus, memory_mib, pids_max)
            else:
                limits = self._create_v1(name, vcpus, memory_mib, pids_max)
        except OSError as e:
            self._warn_once("all", f"cgroup limits are off: cannot create cgroups here ({e})")
            return None
        # A cgroup a crashed server left still holds that run's processes: they go first.
        limits.kill()
        return limits

    def close(self) -> None:
        """Remove this server's (empty) scope folders."""
        for scope in self._scope_folders():
            try:
                scope.rmdir()
            except OSError:
                continue

    def clear_leftovers(self) -> list[Path]:
        """Kill the members of every cgroup in this home's scope and remove them; those removed.

        Called at start, under the home's lock: whatever is in the scope, a dead server of this
        ``KILN_HOME`` left. No other home's cgroups are touched.
        """
        removed = []
        for scope in self._scope_folders():
            for folder in sorted(p for p in scope.iterdir() if p.is_dir()):
                CgroupLimits((folder,)).kill()
                if _rmdir(folder, wait=5.0):
                    removed.append(folder)
        return removed

    def _scope_folders(self) -> list[Path]:
        parents = (self._root, *(self._root / c for c in _V1))
        return [scope for p in parents if (scope := p / "kiln" / self._scope).is_dir()]

    def _create_v1(self, name: str, vcpus: int, memory_mib: int, pids_max: int) -> CgroupLimits:
        memory, cpu, pids = (self._root / c / "kiln" / self._scope / name for c in _V1)
        folders = [memory, cpu]
        if (self._root / "pids").is_dir():
            folders.append(pids)
        else:
            self._warn_once("pids", "process limits are off: no cgroup v1 pids controller")
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        limit = str(memory_mib * _MIB)
        swap = memory / "memory.memsw.limit_in_bytes"
        # With swap accounting, memory + swap may not exceed the limit either (no swapping
        # instead of an OOM kill); memsw may never be below the limit, hence -1 first.
        _write_if_present(swap, "-1")
        (memory / "memory.limit_in_bytes").write_text(limit)
        _write_if_present(swap, limit)
        (cpu / "cpu.cfs_period_us").write_text(str(_CPU_PERIOD_US))
        (cpu / "cpu.cfs_quota_us").write_text(str(vcpus * _CPU_PERIOD_US))
        if pids in folders:
            (pids / "pids.max").write_text(str(pids_max))
        return CgroupLimits(tuple(folders), memory, version=1)

    def _create_v2(self, name: str, vcpus: int, memory_mib: int, pids_max: int) -> CgroupLimits:
        available = set((self._root / "cgroup.subtree_control").read_text().split())
        if not {"cpu", "memory"} <= available:
            raise OSError("the cpu and memory controllers are not delegated to this cgroup")
        controllers = ["cpu", "memory"]
        if "pids" in available:
            controllers.append("pids")
        else:
            self._warn_once("pids", "process limits are off: the pids controller is not delegated")
        enable = " ".join(f"+{c}" for c in controllers)
        for parent in (self._root / "kiln", self._root / "kiln" / self._scope):
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text(enable)
        folder = self._root / "kiln" / self._scope / name
        folder.mkdir(exist_ok=True)
        (folder / "memory.max").write_text(str(memory_mib * _MIB))
        _write_if_present(folder / "memory.swap.max", "0")
        (folder / "cpu.max").write_text(f"{vcpus * _CPU_PERIOD_US} {_CPU_PERIOD_US}")
        if "pids" in controllers:
            (folder / "pids.max").write_text(str(pids_max))
        return CgroupLimits((folder,), folder, version=2)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)


_V1 = ("memory", "cpu", "pids")


def _rmdir(folder: Path, wait: float) -> bool:
    """Remove a cgroup folder once empty; killed members count until init reaps them."""
    deadline = time.monotonic() + wait
    while True:
        try:
            folder.rmdir()  # a cgroup folder goes with rmdir alone, and only when it is empty
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() >= deadline:
                log.debug("cgroup %s not removed: %s", folder, e)
                return False
            time.sleep(0.02)
        else:
            return True


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


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _read_int(path: Path) -> int | None:
    text = _read(path).strip()
    return int(text) if text.isdigit() else None


def _write_if_present(path: Path, value: str) -> None:
    if path.exists():
        path.write_text(value)

"""What a dead server leaves running, and how Kiln keeps it from lasting: processes tied to the
server's life (``die_with_parent``), process groups and the cgroups they ran in reaped at the
next start (``reap_group``), idle cgroups swept (``sweep_cgroups``).

``reap_group`` kills a process group only if ``is_ours`` says so of its members (see
``kiln.pidfiles``), with their descendants that left the group (``setsid``), then removes the
kiln cgroups they ran in once empty. Only the group and its descendants are killed, never a
cgroup's other members: cgroups are named after jobs and replicas, and a job of the same name
in another ``KILN_HOME`` shares the folder.

``sweep_cgroups`` removes the empty cgroups under ``kiln/`` that nothing has touched for a while:
any server's, since they are shared by every Kiln on the machine, but never a young one (another
server creates a cgroup a moment before its process joins it). A cgroup with processes is never
removed there.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from kiln.compute.processes import group_members, kill_group
from kiln.pidfiles import ProcessInfo, process_info

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Old enough that no server is still between creating the cgroup and moving its process in.
CGROUP_MIN_AGE_SECONDS = 60.0


# prctl(2) option: the signal this process gets when the thread that forked it ends.
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when its parent thread ends.

    Even ``kill -9`` of the server then takes the child along. The signal fires when the
    *thread* that spawned the child ends, so spawn from a thread that lives as long as the child.
    """
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here, before the fork
    parent = os.getpid()

    def set_death_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return set_death_signal


def group_processes(pgid: int) -> list[ProcessInfo]:
    """The live members of process group ``pgid``."""
    found = (process_info(pid) for pid, _name in group_members(pgid))
    return [info for info in found if info is not None]


def reap_group(pgid: int, is_ours: Callable[[Sequence[ProcessInfo]], bool]) -> bool:
    """Kill group ``pgid`` and empty its kiln cgroups if ``is_ours``; whether it was."""
    members = group_processes(pgid)
    if not members or not is_ours(members):
        return False
    doomed = descendants({m.pid for m in members})
    folders = {folder for pid in doomed for folder in kiln_cgroups(pid)}
    log.warning("killing processes a previous server left: group %d %s", pgid, members[0].args)
    kill_group(pgid)
    _kill_all(doomed)
    for folder in folders:
        # Only once empty: another home's job of the same name may use it. Our killed ones
        # count until their new parent (init) reaps them, hence the wait.
        _remove(folder, wait=5.0)
    return True


def descendants(pids: set[int]) -> set[int]:
    """``pids`` and every live process below them (by parent pid)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (parent := _parent_of(int(entry.name))) is not None:
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = set(pids), list(pids)
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in found:
                found.add(child)
                queue.append(child)
    return found


def kiln_cgroups(pid: int, root: Path = CGROUP_ROOT) -> list[Path]:
    """The folders of the ``kiln/…`` cgroups process ``pid`` is in (v1 and v2)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return []
    folders = []
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if not path.startswith("/kiln/"):
            continue
        # v1: a hierarchy per controller set ("cpu,cpuacct", linked as "cpu"); v2: one, unified.
        for base in (controllers, *controllers.split(","), "", "unified"):
            folder = root / base / path.lstrip("/")
            if folder.is_dir():
                folders.append(folder)
                break
    return folders


def sweep_cgroups(
    root: Path = CGROUP_ROOT, min_age: float = CGROUP_MIN_AGE_SECONDS, now: float | None = None
) -> list[Path]:
    """Remove empty ``kiln/`` cgroups untouched for ``min_age`` seconds; those removed."""
    now = time.time() if now is None else now
    removed = []
    for folder in [*root.glob("*/kiln/*"), *root.glob("kiln/*")]:
        try:
            is_idle = now - folder.stat().st_mtime >= min_age
            is_empty = not (folder / "cgroup.procs").read_text().strip()
        except OSError:
            continue  # not a cgroup, or removed meanwhile
        if is_idle and is_empty and folder.is_dir() and _remove(folder):
            removed.append(folder)
    return removed


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])  # field 4, ppid


def _kill_all(pids: set[int], timeout: float = 5.0) -> None:
    """SIGKILL ``pids`` and wait until none is alive (or a zombie)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(process_info(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


def _remove(folder: Path, wait: float = 0.0) -> bool:
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

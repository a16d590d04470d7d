"""Finding and signalling the processes of one job or replica through ``/proc``.

Where cgroups are available a process tree is found by cgroup membership (``cgroups.py``);
these helpers are the fallback: a process group, and every descendant of the spawned process
(a ``setsid`` child leaves its group but stays a descendant until its parent exits, and inside
a bwrap pid namespace orphans are re-parented to the sandbox's init, still a descendant).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Members = list[tuple[int, str]]
"""``(pid, command name)`` of live processes."""

# bwrap dies of SIGTERM and takes the sandbox with it, which would rob the user's script of
# SageMaker's grace period; so SIGTERM goes to the script, and bwrap exits when it does.
SANDBOX_PROCESS = "bwrap"


@dataclass(frozen=True)
class _Stat:
    pid: int
    name: str
    ppid: int
    pgrp: int


def group_members(pgid: int) -> Members:
    """Every live process in process group ``pgid``."""
    return [(s.pid, s.name) for s in _live() if s.pgrp == pgid]


def tree_members(root: int) -> Members:
    """``root`` and every live descendant of it, plus the rest of ``root``'s process group."""
    stats = _live()
    children: dict[int, list[_Stat]] = {}
    for s in stats:
        children.setdefault(s.ppid, []).append(s)
    found = {s.pid: s.name for s in stats if s.pid == root or s.pgrp == root}
    pending = [root, *found]
    while pending:
        for child in children.get(pending.pop(), []):
            if child.pid not in found:
                found[child.pid] = child.name
                pending.append(child.pid)
    return sorted(found.items())


def names_of(pids: Iterable[int]) -> Members:
    """``(pid, command name)`` of those of ``pids`` still alive."""
    found = []
    for pid in pids:
        s = _stat(pid)
        if s is not None:
            found.append((s.pid, s.name))
    return found


def signal_members(members: Members, sig: int, *, spare_sandbox: bool = False) -> None:
    """Send ``sig`` to each member; with ``spare_sandbox``, not to bwrap."""
    for pid, name in members:
        if spare_sandbox and name == SANDBOX_PROCESS:
            continue
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_all(find: Callable[[], Members], timeout: float = 5.0) -> bool:
    """SIGKILL what ``find`` returns until it returns nothing; whether that happened in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        members = find()
        if not members:
            return True
        signal_members(members, signal.SIGKILL)
        time.sleep(0.01)  # the kernel needs a moment to tear the killed processes down
    return not find()


def kill_group(pgid: int, timeout: float = 5.0) -> None:
    """SIGKILL every process of group ``pgid`` and wait until none is left."""
    kill_all(lambda: group_members(pgid), timeout)


def _live() -> list[_Stat]:
    stats = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            s = _stat(int(entry.name))
            if s is not None:
                stats.append(s)
    return stats


def _stat(pid: int) -> _Stat | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name: state, ppid, pgrp, ...
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return _Stat(pid, name, int(fields[1]), int(fields[2]))

"""What a dead server leaves running, and how Kiln keeps it from lasting: processes tied to the
server's life (``die_with_parent``), and process groups reaped at the next start
(``reap_group``): only if ``is_ours`` says so of their members (see ``kiln.pidfiles``), with
their descendants that left the group (``setsid``). The cgroups they ran in are this home's,
and ``Cgroups.clear_leftovers`` removes them at start.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
from collections.abc import Callable, Sequence

from kiln.compute.processes import group_members, kill_all, tree_members
from kiln.pidfiles import ProcessInfo, process_info

log = logging.getLogger(__name__)

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
    """Kill group ``pgid`` and its descendants if ``is_ours`` says so of its members."""
    members = group_processes(pgid)
    if not members or not is_ours(members):
        return False
    log.warning("killing processes a previous server left: group %d %s", pgid, members[0].args)
    kill_all(lambda: tree_members(pgid))
    return True

"""CPU time and resident memory of a process tree, read from ``/proc``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from kiln.compute.processes import tree_members

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Usage:
    """CPU seconds used so far and bytes resident now, summed over processes."""

    cpu_seconds: float
    rss_bytes: int


def tree_usage(root: int) -> Usage:
    """The usage of ``root`` and its descendants."""
    return usage(pid for pid, _ in tree_members(root))


def usage(pids: Iterable[int]) -> Usage:
    """The summed usage of ``pids`` (those that have exited count nothing)."""
    ticks, pages = 0, 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/statm") as f:
                statm = f.read()
        except OSError:
            continue
        # After the parenthesised name: state … utime (12th) and stime (13th), in clock ticks.
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])
        pages += int(statm.split()[1])
    return Usage(ticks / _TICKS, pages * _PAGE)

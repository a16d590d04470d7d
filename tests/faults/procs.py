"""Processes as /proc shows them, pinned by start time so a reused pid is never mistaken."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Proc:
    """One process: its pid, its start time (clock ticks after boot) and its command line."""

    pid: int
    started: int
    cmdline: str

    @property
    def name(self) -> str:
        """The program's base name (``python3``, ``rclone``, ``bwrap``)."""
        return Path(self.cmdline.split(" ", 1)[0]).name

    def is_alive(self) -> bool:
        """Whether this very process still runs (a zombie or a reused pid is not it)."""
        stat = _stat(self.pid)
        return stat is not None and stat[0] != "Z" and int(stat[19]) == self.started

    def signal(self, sig: int) -> bool:
        """Send ``sig`` if this very process still runs; whether it was sent."""
        if not self.is_alive():
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> bool:
        """SIGKILL it if it still runs; whether it did."""
        return self.signal(signal.SIGKILL)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def proc(pid: int) -> Proc | None:
    """The process ``pid`` now, or None if it is gone or a zombie."""
    stat = _stat(pid)
    if stat is None or stat[0] == "Z":
        return None
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return Proc(pid, int(stat[19]), raw.replace(b"\0", b" ").decode(errors="replace").strip())


def every_process() -> list[Proc]:
    """Every live process visible here."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (p := proc(int(entry.name))) is not None:
            found.append(p)
    return found


def _parents() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            tree.setdefault(int(stat[1]), []).append(int(entry.name))
    return tree


def descendants(*roots: int) -> list[Proc]:
    """Every live process below ``roots`` (not the roots themselves)."""
    tree, found = _parents(), []
    todo = [child for root in roots for child in tree.get(root, [])]
    while todo:
        pid = todo.pop()
        if (p := proc(pid)) is not None:
            found.append(p)
        todo.extend(tree.get(pid, []))
    return found


def alive(procs: list[Proc]) -> list[Proc]:
    """Those of ``procs`` still running."""
    return [p for p in procs if p.is_alive()]


def with_text(procs: list[Proc], text: str) -> list[Proc]:
    """Those of ``procs`` whose command line holds ``text``."""
    return [p for p in procs if text in p.cmdline]

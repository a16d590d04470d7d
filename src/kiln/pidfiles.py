"""Pid files: the processes a server starts, written down so that the next server can reap what a
crash (``kill -9``, a power cut) left running.

    <KILN_HOME>/pids/<kind>/<name>.json   {"pid": 1234, "started": 98765, "marker": "/a/path"}

``started`` is the process's start time (clock ticks after boot, field 22 of
``/proc/<pid>/stat``): pid numbers are reused, a pid with the same start time is the same
process. ``marker`` is a path only that process's command line or working folder names (its
workspace, the storage folder). A process is *ours* only while one of the two still matches;
nothing else is ever killed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PidRecord:
    """A recorded process: its pid, its start time, and the path it is known by."""

    pid: int
    started: int | None
    marker: str


@dataclass(frozen=True)
class ProcessInfo:
    """What ``/proc`` tells of a live process."""

    pid: int
    started: int
    args: tuple[str, ...]
    cwd: str


def process_info(pid: int) -> ProcessInfo | None:
    """The live process ``pid`` (None if it is gone, a zombie, or not ours to read)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        args = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
    # The fields after the parenthesised command name start at field 3 (state).
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return ProcessInfo(pid, int(fields[19]), tuple(a.decode(errors="replace") for a in args), cwd)


def is_ours(record: PidRecord, processes: Sequence[ProcessInfo]) -> bool:
    """Whether any of ``processes`` is the recorded one, or runs from its marker's path."""
    for process in processes:
        if process.pid == record.pid and process.started == record.started:
            return True
        if any(_names(value, record.marker) for value in (process.cwd, *process.args)):
            return True
    return False


def _names(value: str, marker: str) -> bool:
    return bool(marker) and (value == marker or value.startswith(marker.rstrip("/") + "/"))


def write_pid_file(path: Path, pid: int, marker: str) -> None:
    """Record process ``pid`` (known by ``marker``) at ``path``, atomically."""
    info = process_info(pid)
    record = {"pid": pid, "started": None if info is None else info.started, "marker": marker}
    write_text_atomically(path, json.dumps(record))


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the new, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_pid_file(path: Path) -> PidRecord | None:
    """The record at ``path``; None if there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text())
        started = data.get("started")
        return PidRecord(
            int(data["pid"]), None if started is None else int(started), str(data["marker"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None

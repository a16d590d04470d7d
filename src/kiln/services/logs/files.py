"""The log store on local disk: one append-only file per stream.

    <root>/<group, %-encoded>/group.json              {"creationTime": ms}
    <root>/<group, %-encoded>/<stream, %-encoded>.log  one line per event (``records``)

Names are %-encoded into one path component each (``/`` and ``.`` included), so any group or
stream name maps to one file and back, and no name can climb out of ``root``. A write is one
``os.write`` on an ``O_APPEND`` descriptor under the stream's lock: no database, no buffering
to lose. What DescribeLogStreams reports (first and last timestamps, bytes) is kept in memory
and rebuilt from the files' first and last lines at start.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote

from kiln.errors import ResourceNotFoundError
from kiln.services.logs.records import LogEvent, decode, encode, timestamp_of
from kiln.services.logs.store import GroupInfo, StoredEvent, StreamInfo

_SUFFIX = ".log"
_GROUP_FILE = "group.json"
_READ_BYTES = 1024 * 1024
_BLOCK = 64 * 1024
GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."


def now_ms() -> int:
    """The time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def encode_name(name: str) -> str:
    """``name`` as one safe path component."""
    return quote(name, safe="").replace(".", "%2E")


@dataclass
class _Stream:
    path: Path
    creation_time: int
    first: int | None = None
    last: int | None = None
    last_ingestion: int | None = None
    size: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def info(self, name: str) -> StreamInfo:
        return StreamInfo(
            name, self.creation_time, self.first, self.last, self.last_ingestion, self.size
        )


@dataclass
class _Group:
    path: Path
    creation_time: int
    streams: dict[str, _Stream] = field(default_factory=dict)


class FileWriter:
    """Appends to one stream file."""

    def __init__(self, state: _Stream) -> None:
        self._state = state
        self._fd: int | None = os.open(state.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, message: str) -> None:
        """Append ``message`` stamped now (never before the last event); OSError if not written."""
        state = self._state
        with state.lock:
            if self._fd is None:
                raise ValueError(f"write to closed log stream {state.path.name!r}")
            now = now_ms()
            # Readers find times by bisection and the SageMaker SDK resumes by timestamp: a
            # stream's times must never go back, even if the clock does.
            stamp = now if state.last is None else max(now, state.last)
            record = encode(LogEvent(stamp, message, now))
            self._append(record)
            state.size += len(record)
            state.first = stamp if state.first is None else state.first
            state.last = stamp
            state.last_ingestion = now

    def _append(self, record: bytes) -> None:
        """Write all of ``record`` or, if the disk refuses the rest, none of it."""
        assert self._fd is not None
        written = os.write(self._fd, record)
        while written < len(record):  # a short write: the disk filled (or a quota) mid-record
            try:
                written += os.write(self._fd, record[written:])
            except OSError:
                # Cut the torn line: the next event must start on a line of its own.
                os.ftruncate(self._fd, self._state.size)
                raise

    def close(self) -> None:
        """Release the descriptor; the stream stays."""
        with self._state.lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class FileLogStore:
    """Log groups as folders, streams as files, under ``root``."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._root = root
        self._lock = threading.Lock()
        self._groups = {unquote(p.name): _load_group(p) for p in root.iterdir() if p.is_dir()}

    # -- writing ---------------------------------------------------------------------------

    def open_stream(self, group: str, stream: str) -> FileWriter:
        """A writer for ``stream`` in ``group``, creating both if needed."""
        with self._lock:
            found = self._groups.get(group)
            if found is None:
                found = self._groups[group] = _create_group(self._root / encode_name(group))
            state = found.streams.get(stream)
            if state is None:
                path = found.path / (encode_name(stream) + _SUFFIX)
                state = found.streams[stream] = _Stream(path, now_ms())
            return FileWriter(state)

    def close(self) -> None:
        """Nothing to release: every write is on disk when ``write`` returns."""

    # -- describing ------------------------------------------------------------------------

    def groups(self) -> list[GroupInfo]:
        """Every group, by name."""
        with self._lock:
            return [
                GroupInfo(name, g.creation_time, sum(s.size for s in g.streams.values()))
                for name, g in sorted(self._groups.items())
            ]

    def streams(self, group: str) -> list[StreamInfo]:
        """Every stream of ``group``, by name."""
        with self._lock:
            found = sorted(self._group(group).streams.items())
        return [state.info(name) for name, state in found]

    def stream(self, group: str, stream: str) -> StreamInfo:
        """One stream."""
        return self._stream(group, stream).info(stream)

    # -- reading ---------------------------------------------------------------------------

    def read(self, group: str, stream: str, start: int, max_events: int) -> list[StoredEvent]:
        """Up to ``max_events`` events from offset ``start`` on (about 1 MB at most)."""
        state = self._stream(group, stream)
        try:
            with open(state.path, "rb") as f:
                f.seek(start)
                data = f.read(_READ_BYTES)
                if data and b"\n" not in data:  # one event larger than a read
                    data += f.readline()
        except FileNotFoundError:
            return []
        return _parse(data, start, max_events)

    def read_before(self, group: str, stream: str, end: int, max_events: int) -> list[StoredEvent]:
        """The last ``max_events`` events before offset ``end``, in time order."""
        state = self._stream(group, stream)
        start = max(0, end - _READ_BYTES)
        try:
            with open(state.path, "rb") as f:
                f.seek(start)
                data = f.read(end - start)
        except FileNotFoundError:
            return []
        if start > 0:  # the first line is cut: begin at the next whole one
            cut = data.find(b"\n") + 1
            data, start = data[cut:], start + cut
        events = _parse(data, start, len(data))
        return events[-max_events:]

    def offset_of_time(self, group: str, stream: str, timestamp: int) -> int:
        """The offset of the first event at or after ``timestamp`` (the end if none)."""
        state = self._stream(group, stream)
        try:
            with open(state.path, "rb") as f:
                return _bisect(f, os.fstat(f.fileno()).st_size, timestamp)
        except FileNotFoundError:
            return 0

    def is_position(self, group: str, stream: str, offset: int) -> bool:
        """Whether ``offset`` is where an event starts, or the stream's end."""
        state = self._stream(group, stream)
        if offset == 0:
            return True
        if offset > state.size:
            return False
        with open(state.path, "rb") as f:
            f.seek(offset - 1)
            return f.read(1) == b"\n"

    def _group(self, group: str) -> _Group:
        found = self._groups.get(group)
        if found is None:
            raise ResourceNotFoundError(GROUP_NOT_FOUND)
        return found

    def _stream(self, group: str, stream: str) -> _Stream:
        with self._lock:
            state = self._group(group).streams.get(stream)
        if state is None:
            raise ResourceNotFoundError(STREAM_NOT_FOUND)
        return state


def _parse(data: bytes, start: int, max_events: int) -> list[StoredEvent]:
    """The whole lines of ``data`` (read from offset ``start``) as events; a torn tail waits."""
    events: list[StoredEvent] = []
    position = 0
    while len(events) < max_events:
        newline = data.find(b"\n", position)
        if newline < 0:
            break
        event = decode(data[position : newline + 1])
        if event is not None:
            events.append(StoredEvent(start + position, start + newline + 1, event))
        position = newline + 1
    return events


def _bisect(f: BinaryIO, size: int, timestamp: int) -> int:
    """Binary search over a file of time-ordered lines, then a short scan."""
    low, high = 0, size  # low: a line start before the answer; high: a line start at or after it
    while high - low > _BLOCK:
        f.seek((low + high) // 2)
        f.readline()
        start = f.tell()
        if start >= high:
            break
        line = f.readline()
        stamp = timestamp_of(line)
        if stamp is not None and stamp < timestamp:
            low = start + len(line)
        else:
            high = start
    f.seek(low)
    position = low
    while position < high:
        line = f.readline()
        if not line.endswith(b"\n"):
            break
        stamp = timestamp_of(line)
        if stamp is not None and stamp >= timestamp:
            return position
        position += len(line)
    return position


def _create_group(path: Path) -> _Group:
    path.mkdir(parents=True, exist_ok=True)
    created = now_ms()
    (path / _GROUP_FILE).write_text(json.dumps({"creationTime": created}))
    return _Group(path, created)


def _load_group(path: Path) -> _Group:
    try:
        created = int(json.loads((path / _GROUP_FILE).read_text())["creationTime"])
    except (OSError, ValueError, KeyError, TypeError):
        created = int(path.stat().st_mtime * 1000)
    group = _Group(path, created)
    for file in path.glob(f"*{_SUFFIX}"):
        group.streams[unquote(file.name[: -len(_SUFFIX)])] = _load_stream(file)
    return group


def _load_stream(path: Path) -> _Stream:
    """A stream's metadata from its first and last whole lines."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        first = decode(f.readline())
        f.seek(max(0, size - _BLOCK))
        lines = f.read().splitlines(keepends=True)
    tail = [decode(line) for line in (lines[1:] if size > _BLOCK else lines)]
    last = next((event for event in reversed(tail) if event is not None), None)
    created = first.timestamp if first else int(path.stat().st_mtime * 1000)
    return _Stream(
        path,
        created,
        first.timestamp if first else None,
        last.timestamp if last else None,
        last.ingestion_time if last else None,
        size,
    )

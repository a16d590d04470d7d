"""The log store in the database: every server on one database sees every stream.

A write only stamps the line and appends it to the stream's buffer in memory; one background
thread per store inserts each buffer as one batch every ``flush_seconds`` (100 ms), or at once
when a buffer holds ``batch_lines``. Closing a writer inserts what it left. A read in this
process first inserts that stream's buffer, so a process reads its own writes at once; another
server sees a line within about ``flush_seconds`` plus one insert.

While the database cannot take a batch, lines wait in the buffer, up to ``max_pending_lines``
per stream; past that a write raises ``OSError`` like a full disk does, so
``tolerant.TolerantWriter`` drops and counts them instead of blocking the process it pumps.
"""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kiln.db.log_events import LogRows
from kiln.errors import ResourceNotFoundError
from kiln.services.logs.files import GROUP_NOT_FOUND, STREAM_NOT_FOUND, now_ms
from kiln.services.logs.records import LogEvent
from kiln.services.logs.store import GroupInfo, StoredEvent, StreamInfo

log = logging.getLogger(__name__)

_READ_BYTES = 1024 * 1024  # what one read covers, as the files store reads


@dataclass
class _Buffer:
    """One stream's lines written in this process and not yet inserted."""

    stream_id: int
    pending: list[LogEvent] = field(default_factory=list)
    last: int | None = None
    writers: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Held across take-and-insert, so this process inserts a stream's batches in write order.
    flush_lock: threading.Lock = field(default_factory=threading.Lock)


class DatabaseWriter:
    """Appends to one stream's buffer; the store inserts it in batches."""

    def __init__(self, store: DatabaseLogStore, buffer: _Buffer, name: str) -> None:
        self._store = store
        self._buffer = buffer
        self._name = name
        self._closed = False

    def write(self, message: str) -> None:
        """Buffer ``message`` stamped now (never before the last); OSError if the buffer is full."""
        buffer = self._buffer
        with buffer.lock:
            if self._closed:
                raise ValueError(f"write to closed log stream {self._name!r}")
            if len(buffer.pending) >= self._store.max_pending_lines:
                raise OSError(errno.ENOBUFS, "Log database unreachable: buffer full")
            now = now_ms()
            stamp = now if buffer.last is None else max(now, buffer.last)
            buffer.pending.append(LogEvent(stamp, message, now))
            buffer.last = stamp
            is_full = len(buffer.pending) >= self._store.batch_lines
        if is_full:
            self._store.wake()

    def close(self) -> None:
        """Insert what this stream still holds; the stream stays."""
        with self._buffer.lock:
            if self._closed:
                return
            self._closed = True
        self._store.release(self._buffer)


class DatabaseLogStore:
    """Log groups, streams and events as rows of the database every server shares."""

    def __init__(
        self,
        engine: Engine,
        *,
        flush_seconds: float = 0.1,
        batch_lines: int = 1000,
        max_pending_lines: int = 100_000,
    ) -> None:
        self._rows = LogRows(engine)
        self.batch_lines = batch_lines
        self.max_pending_lines = max_pending_lines
        self._flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        self._buffers: dict[int, _Buffer] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="log-flusher", daemon=True)
        self._thread.start()

    # -- writing ---------------------------------------------------------------------------

    def open_stream(self, group: str, stream: str) -> DatabaseWriter:
        """A writer for ``stream`` in ``group``, creating both if needed."""
        stream_id = self._ids.get((group, stream))
        if stream_id is None:
            try:
                stream_id = self._rows.ensure_stream(group, stream, now_ms())
            except SQLAlchemyError as e:  # as a disk that refuses: callers drop and count
                raise OSError(errno.EIO, f"Log database unreachable: {e.__class__.__name__}") from e
            self._ids[(group, stream)] = stream_id
        with self._lock:
            buffer = self._buffers.setdefault(stream_id, _Buffer(stream_id))
            buffer.writers += 1
        return DatabaseWriter(self, buffer, stream)

    def wake(self) -> None:
        """Insert the buffers now rather than at the next tick."""
        self._wake.set()

    def release(self, buffer: _Buffer) -> None:
        """A writer closed: insert its stream's lines, and forget an idle stream."""
        try:
            self._flush(buffer)
        except SQLAlchemyError as e:  # the flusher keeps trying
            log.warning("log stream %d: insert at close failed: %s", buffer.stream_id, e)
        with self._lock:
            buffer.writers -= 1
            if buffer.writers == 0 and not buffer.pending:
                self._buffers.pop(buffer.stream_id, None)

    def close(self) -> None:
        """Stop the flusher and insert what every buffer still holds."""
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        self._flush_all()

    # -- describing ------------------------------------------------------------------------

    def groups(self) -> list[GroupInfo]:
        """Every group, by name."""
        self._flush_all()
        return self._rows.groups()

    def streams(self, group: str) -> list[StreamInfo]:
        """Every stream of ``group``, by name."""
        self._flush_all()
        found = self._rows.streams(group)
        if not found and not self._rows.has_group(group):
            raise ResourceNotFoundError(GROUP_NOT_FOUND)
        return found

    def stream(self, group: str, stream: str) -> StreamInfo:
        """One stream."""
        return self._rows.stream(self._stream_id(group, stream))

    # -- reading ---------------------------------------------------------------------------

    def read(self, group: str, stream: str, start: int, max_events: int) -> list[StoredEvent]:
        """Up to ``max_events`` events from offset ``start`` on (about 1 MB at most)."""
        stream_id = self._stream_id(group, stream)
        return self._rows.events_from(stream_id, start, max_events, _READ_BYTES)

    def read_before(self, group: str, stream: str, end: int, max_events: int) -> list[StoredEvent]:
        """The last ``max_events`` events before offset ``end``, in time order."""
        stream_id = self._stream_id(group, stream)
        return self._rows.events_before(stream_id, end, max_events, _READ_BYTES)

    def offset_of_time(self, group: str, stream: str, timestamp: int) -> int:
        """The offset of the first event at or after ``timestamp`` (the end if none)."""
        stream_id = self._stream_id(group, stream)
        found = self._rows.offset_of_time(stream_id, timestamp)
        return self._rows.stream(stream_id).stored_bytes if found is None else found

    def is_position(self, group: str, stream: str, offset: int) -> bool:
        """Whether ``offset`` is where an event starts, or the stream's end."""
        stream_id = self._stream_id(group, stream)
        if offset == 0:
            return True
        end = self._rows.stream(stream_id).stored_bytes
        return offset == end or (offset < end and self._rows.starts_event(stream_id, offset))

    def _stream_id(self, group: str, stream: str) -> int:
        """The stream's id, its lines from this process inserted; not found in AWS's words."""
        stream_id = self._ids.get((group, stream))
        if stream_id is None:
            stream_id = self._rows.stream_id(group, stream)
            if stream_id is None:
                found = self._rows.has_group(group)
                raise ResourceNotFoundError(STREAM_NOT_FOUND if found else GROUP_NOT_FOUND)
            self._ids[(group, stream)] = stream_id
        with self._lock:
            buffer = self._buffers.get(stream_id)
        if buffer is not None:
            self._flush_quietly(buffer)
        return stream_id

    # -- flushing --------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            self._flush_all()

    def _flush_all(self) -> None:
        with self._lock:
            buffers = [b for b in self._buffers.values() if b.pending]
        for buffer in buffers:
            self._flush_quietly(buffer)
        with self._lock:  # streams whose writers closed while the database refused their lines
            for buffer in buffers:
                if buffer.writers == 0 and not buffer.pending:
                    self._buffers.pop(buffer.stream_id, None)

    def _flush_quietly(self, buffer: _Buffer) -> None:
        """Insert ``buffer``; a failure is logged once per outage and retried next tick."""
        try:
            self._flush(buffer)
        except SQLAlchemyError as e:
            if not self._failing:
                log.warning("log lines wait in memory: the database refused them: %s", e)
            self._failing = True
            return
        if self._failing:
            log.info("log lines reach the database again")
        self._failing = False

    def _flush(self, buffer: _Buffer) -> None:
        with buffer.flush_lock:
            with buffer.lock:
                batch, buffer.pending = buffer.pending, []
            if not batch:
                return
            try:
                self._rows.append(buffer.stream_id, batch)
            except SQLAlchemyError:
                with buffer.lock:  # back in front of what was written meanwhile
                    buffer.pending[:0] = batch
                raise

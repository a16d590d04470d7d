"""The log store port: log groups hold streams, streams hold events in time order.

One store serves every reader (CloudWatch Logs API, the native log endpoint, ``kiln logs``) and
every writer (training hosts, model replicas, Kiln's own notes). Positions in a stream are byte
offsets that never move, so paging tokens built on them stay valid while the stream grows.
``files.FileLogStore`` keeps them on this server's disk; ``database.DatabaseLogStore`` in the
database every server shares (``KILN_LOG_STORE``, chosen by ``stores.open_log_store``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kiln.services.logs.records import LogEvent


@dataclass(frozen=True)
class StoredEvent:
    """An event and where it sits: its record starts at ``offset``, the next one at ``end``."""

    offset: int
    end: int
    event: LogEvent


@dataclass(frozen=True)
class StreamInfo:
    """What DescribeLogStreams reports of a stream (times in epoch ms)."""

    name: str
    creation_time: int
    first_event_timestamp: int | None
    last_event_timestamp: int | None
    last_ingestion_time: int | None
    stored_bytes: int


@dataclass(frozen=True)
class GroupInfo:
    """What DescribeLogGroups reports of a group."""

    name: str
    creation_time: int
    stored_bytes: int


class StreamWriter(Protocol):
    """Appends to one stream; safe to share between threads."""

    def write(self, message: str) -> None:
        """Append ``message``, stamped now (never earlier than the stream's last event)."""

    def close(self) -> None:
        """Release the writer; the stream stays."""


class LogStore(Protocol):
    """Groups → streams → events. Missing groups or streams raise ``ResourceNotFoundError``."""

    def open_stream(self, group: str, stream: str) -> StreamWriter:
        """A writer for ``stream`` in ``group``, creating both if needed."""

    def groups(self) -> list[GroupInfo]:
        """Every group, by name."""

    def streams(self, group: str) -> list[StreamInfo]:
        """Every stream of ``group``, by name."""

    def stream(self, group: str, stream: str) -> StreamInfo:
        """One stream."""

    def read(self, group: str, stream: str, start: int, max_events: int) -> list[StoredEvent]:
        """Up to ``max_events`` events from offset ``start`` on (about 1 MB at most)."""

    def read_before(self, group: str, stream: str, end: int, max_events: int) -> list[StoredEvent]:
        """The last ``max_events`` events before offset ``end``, in time order."""

    def offset_of_time(self, group: str, stream: str, timestamp: int) -> int:
        """The offset of the first event at or after ``timestamp`` (the end if none)."""

    def is_position(self, group: str, stream: str, offset: int) -> bool:
        """Whether ``offset`` is where an event starts, or the stream's end."""

"""FilterLogEvents: matching events of many streams, interleaved by time, resumable by token."""

from __future__ import annotations

import heapq
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Any

from kiln.errors import ResourceNotFoundError, ValidationError
from kiln.services.logs.files import STREAM_NOT_FOUND
from kiln.services.logs.filter_pattern import parse_filter_pattern
from kiln.services.logs.paging import filter_token, invalid_token, limit, parse_filter_token
from kiln.services.logs.store import LogStore, StoredEvent

_BATCH = 1000
_MAX_EVENTS = 10_000
_PAGE_BYTES = 1024 * 1024
_EVENT_OVERHEAD_BYTES = 26


class _Cursor:
    """One stream's events from an offset, read in batches."""

    def __init__(self, store: LogStore, group: str, stream: str, offset: int) -> None:
        self.stream = stream
        self.offset = offset
        self._store = store
        self._group = group
        self._buffer: deque[StoredEvent] = deque()
        self.is_done = False

    def peek(self) -> StoredEvent | None:
        """The next event, or None at the end."""
        if not self._buffer and not self.is_done:
            self._buffer.extend(self._store.read(self._group, self.stream, self.offset, _BATCH))
            self.is_done = not self._buffer
        return self._buffer[0] if self._buffer else None

    def take(self) -> StoredEvent:
        """Consume the next event."""
        stored = self._buffer.popleft()
        self.offset = stored.end
        return stored


def filter_events(store: LogStore, group: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """FilterLogEvents' answer for ``group``."""
    pattern = parse_filter_pattern(request.get("filterPattern", ""))
    count = limit(request, _MAX_EVENTS)
    start, end = request.get("startTime"), request.get("endTime")
    positions = parse_filter_token(request.get("nextToken"))
    cursors = [
        _Cursor(store, group, name, _resume(store, group, name, positions, request, start))
        for name in _selected(store, group, request)
    ]
    heap = [(e.event.timestamp, i) for i, c in enumerate(cursors) if (e := c.peek()) is not None]
    heapq.heapify(heap)
    events: list[dict[str, Any]] = []
    budget = _PAGE_BYTES
    stopped_early = False
    while heap:
        timestamp, index = heap[0]
        cursor = cursors[index]
        if end is not None and timestamp >= end:
            heapq.heappop(heap)
            cursor.is_done = True
            continue
        if len(events) >= count or budget <= 0:
            stopped_early = True
            break
        stored = cursor.take()
        if (start is None or timestamp >= start) and pattern.matches(stored.event.message):
            events.append(_filtered(cursor.stream, stored))
            budget -= len(stored.event.message.encode()) + _EVENT_OVERHEAD_BYTES
        following = cursor.peek()
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following.event.timestamp, index))
    answer: dict[str, Any] = {
        "events": events,
        "searchedLogStreams": [
            {"logStreamName": c.stream, "searchedCompletely": c.is_done} for c in cursors
        ],
    }
    if stopped_early:
        answer["nextToken"] = filter_token({c.stream: c.offset for c in cursors})
    return answer


def _selected(store: LogStore, group: str, request: Mapping[str, Any]) -> list[str]:
    names, prefix = request.get("logStreamNames"), request.get("logStreamNamePrefix")
    if names is not None and prefix is not None:
        raise ValidationError(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
        )
    existing = [s.name for s in store.streams(group)]
    if names is None:
        return [name for name in existing if name.startswith(prefix or "")]
    missing = sorted(set(names) - set(existing))
    if missing:
        raise ResourceNotFoundError(f"{STREAM_NOT_FOUND} {missing[0]!r}")
    return sorted(set(names))


def _start(store: LogStore, group: str, stream: str, start: int | None) -> int:
    return 0 if start is None else store.offset_of_time(group, stream, start)


def _resume(
    store: LogStore,
    group: str,
    stream: str,
    positions: Mapping[str, int],
    request: Mapping[str, Any],
    start: int | None,
) -> int:
    """Where the token says to go on in ``stream`` (an event's start or the end), else ``start``."""
    offset = positions.get(stream)
    if offset is None:
        return _start(store, group, stream, start)
    if not store.is_position(group, stream, offset):
        raise invalid_token(str(request["nextToken"]))
    return offset


def _filtered(stream: str, stored: StoredEvent) -> dict[str, Any]:
    event = stored.event
    return {
        "logStreamName": stream,
        "timestamp": event.timestamp,
        "message": event.message,
        "ingestionTime": event.ingestion_time,
        "eventId": f"{zlib.crc32(stream.encode()):010d}{stored.offset:020d}",
    }

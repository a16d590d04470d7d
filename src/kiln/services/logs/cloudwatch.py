"""The CloudWatch Logs operations Kiln serves, over the log store (CONTRACTS.md §3.10, §5.2).

DescribeLogGroups, DescribeLogStreams, GetLogEvents and FilterLogEvents, with AWS's paging
rules: Describe answers carry ``nextToken`` only when more remains (SDK v2 loops on its mere
presence), and GetLogEvents hands back the same forward token when nothing new exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiln.config import ACCOUNT_ID
from kiln.errors import ValidationError
from kiln.services.logs.filtering import filter_events
from kiln.services.logs.paging import (
    EventToken,
    event_token,
    invalid_token,
    limit,
    page_token,
    parse_event_token,
    parse_page_token,
)
from kiln.services.logs.store import GroupInfo, LogStore, StoredEvent, StreamInfo

# AWS counts each event's message plus 26 bytes against a page's 1 MB.
EVENT_OVERHEAD_BYTES = 26
PAGE_BYTES = 1024 * 1024
MAX_EVENTS = 10_000
MAX_DESCRIBED = 50


@dataclass(frozen=True)
class TimeWindow:
    """Events with ``start <= timestamp < end`` (either side open when None)."""

    start: int | None = None
    end: int | None = None

    def is_before(self, timestamp: int) -> bool:
        """Whether ``timestamp`` comes before the window."""
        return self.start is not None and timestamp < self.start

    def is_after(self, timestamp: int) -> bool:
        """Whether ``timestamp`` comes after the window."""
        return self.end is not None and timestamp >= self.end


class CloudWatchLogs:
    """CloudWatch Logs' read operations over ``store``; each takes and answers the wire shape."""

    def __init__(self, store: LogStore, region: str) -> None:
        self._store = store
        self._region = region

    def describe_log_groups(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of groups, by name."""
        prefix = request.get("logGroupNamePrefix")
        pattern = request.get("logGroupNamePattern")
        if prefix is not None and pattern is not None:
            raise ValidationError(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
            )
        groups = [g for g in self._store.groups() if _group_matches(g.name, prefix, pattern)]
        page, token = _page(groups, request)
        answer: dict[str, Any] = {"logGroups": [self._group(g) for g in page]}
        if token is not None:
            answer["nextToken"] = token
        return answer

    def describe_log_streams(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of a group's streams, by name or by last event time."""
        group = group_name(request)
        prefix = request.get("logStreamNamePrefix")
        by_time = request.get("orderBy") == "LastEventTime"
        if by_time and prefix is not None:
            raise ValidationError("Cannot order by LastEventTime with a logStreamNamePrefix.")
        streams = [s for s in self._store.streams(group) if s.name.startswith(prefix or "")]
        if by_time:
            streams.sort(key=lambda s: (s.last_event_timestamp or 0, s.name))
        if request.get("descending"):
            streams.reverse()
        page, token = _page(streams, request)
        answer: dict[str, Any] = {"logStreams": [self._stream(group, s) for s in page]}
        if token is not None:
            answer["nextToken"] = token
        return answer

    def get_log_events(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of a stream's events, forward or backward, with both tokens."""
        group, stream = group_name(request), request["logStreamName"]
        count = limit(request, MAX_EVENTS)
        window = TimeWindow(request.get("startTime"), request.get("endTime"))
        info = self._store.stream(group, stream)
        position = self._position(group, stream, info, request, window)
        if position.is_forward:
            events, end = self._forward(group, stream, position.offset, count, window)
            first = events[0].offset if events else position.offset
            forward, backward = end, first
        else:
            events, first = self._backward(group, stream, position.offset, count, window)
            forward, backward = position.offset, first
        return {
            "events": [_event(e) for e in events],
            "nextForwardToken": event_token(EventToken(True, forward)),
            "nextBackwardToken": event_token(EventToken(False, backward)),
        }

    def filter_log_events(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Matching events of a group's streams, interleaved by time."""
        return filter_events(self._store, group_name(request), request)

    # -- GetLogEvents ------------------------------------------------------------------------

    def _position(
        self,
        group: str,
        stream: str,
        info: StreamInfo,
        request: Mapping[str, Any],
        window: TimeWindow,
    ) -> EventToken:
        token = request.get("nextToken")
        if token is not None:
            position = parse_event_token(token)
            if not self._store.is_position(group, stream, position.offset):
                raise invalid_token(token)
            return position
        if request.get("startFromHead"):
            start = window.start
            offset = 0 if start is None else self._store.offset_of_time(group, stream, start)
            return EventToken(True, offset)
        end = window.end
        offset = (
            info.stored_bytes if end is None else self._store.offset_of_time(group, stream, end)
        )
        return EventToken(False, offset)

    def _forward(
        self, group: str, stream: str, offset: int, count: int, window: TimeWindow
    ) -> tuple[list[StoredEvent], int]:
        events: list[StoredEvent] = []
        budget = PAGE_BYTES
        while len(events) < count:
            batch = self._store.read(group, stream, offset, count - len(events))
            if not batch:
                break
            for stored in batch:
                size = _size(stored)
                if window.is_after(stored.event.timestamp) or (events and size > budget):
                    return events, offset
                offset = stored.end
                if not window.is_before(stored.event.timestamp):
                    events.append(stored)
                    budget -= size
        return events, offset

    def _backward(
        self, group: str, stream: str, offset: int, count: int, window: TimeWindow
    ) -> tuple[list[StoredEvent], int]:
        newest_first: list[StoredEvent] = []
        budget = PAGE_BYTES
        while len(newest_first) < count:
            batch = self._store.read_before(group, stream, offset, count - len(newest_first))
            if not batch:
                break
            for stored in reversed(batch):
                size = _size(stored)
                if window.is_before(stored.event.timestamp) or (newest_first and size > budget):
                    return newest_first[::-1], offset
                offset = stored.offset
                if not window.is_after(stored.event.timestamp):
                    newest_first.append(stored)
                    budget -= size
        return newest_first[::-1], offset

    # -- answers -----------------------------------------------------------------------------

    def _group(self, group: GroupInfo) -> dict[str, Any]:
        arn = f"arn:aws:logs:{self._region}:{ACCOUNT_ID}:log-group:{group.name}"
        return {
            "logGroupName": group.name,
            "creationTime": group.creation_time,
            "metricFilterCount": 0,
            "arn": f"{arn}:*",
            "logGroupArn": arn,
            "storedBytes": group.stored_bytes,
            "logGroupClass": "STANDARD",
        }

    def _stream(self, group: str, stream: StreamInfo) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "logStreamName": stream.name,
            "creationTime": stream.creation_time,
            "arn": (
                f"arn:aws:logs:{self._region}:{ACCOUNT_ID}:log-group:{group}"
                f":log-stream:{stream.name}"
            ),
            "storedBytes": stream.stored_bytes,
        }
        if stream.first_event_timestamp is not None:
            answer["firstEventTimestamp"] = stream.first_event_timestamp
        if stream.last_event_timestamp is not None:
            answer["lastEventTimestamp"] = stream.last_event_timestamp
        if stream.last_ingestion_time is not None:
            answer["lastIngestionTime"] = stream.last_ingestion_time
        return answer


def group_name(request: Mapping[str, Any]) -> str:
    """The group a request names, by ``logGroupName`` or ``logGroupIdentifier`` (name or ARN)."""
    name, identifier = request.get("logGroupName"), request.get("logGroupIdentifier")
    if name is not None and identifier is not None:
        raise ValidationError(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters: "
            f"logGroupName={name!r}, logGroupIdentifier={identifier!r}"
        )
    if name is not None:
        return str(name)
    if identifier is None:
        raise ValidationError("Either logGroupName or logGroupIdentifier must be specified.")
    text = str(identifier)
    if text.startswith("arn:"):
        _, found, rest = text.partition(":log-group:")
        if not found:
            raise ValidationError(f"logGroupIdentifier {text!r} is not a log group ARN")
        return rest.removesuffix(":*")
    return text


def _group_matches(name: str, prefix: str | None, pattern: str | None) -> bool:
    if prefix is not None:
        return name.startswith(prefix)
    return pattern is None or pattern.lower() in name.lower()


def _page(items: list[Any], request: Mapping[str, Any]) -> tuple[list[Any], str | None]:
    start = parse_page_token(request.get("nextToken"))
    count = limit(request, MAX_DESCRIBED)
    end = start + count
    return items[start:end], page_token(end) if end < len(items) else None


def _event(stored: StoredEvent) -> dict[str, Any]:
    event = stored.event
    return {
        "timestamp": event.timestamp,
        "message": event.message,
        "ingestionTime": event.ingestion_time,
    }


def _size(stored: StoredEvent) -> int:
    return len(stored.event.message.encode()) + EVENT_OVERHEAD_BYTES

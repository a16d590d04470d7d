"""The shared log store's rows: groups, streams, and events keyed by their byte offsets.

An event's offsets are those the files store would give it (its record's length in
``records``' framing), so paging tokens, ``storedBytes`` and positions mean the same in both
stores. A batch is appended in one transaction that first moves the stream's end
(``stored_bytes``): that update holds the stream's row (PostgreSQL) or the database (SQLite)
until commit, so two servers appending to one stream get disjoint offsets, commit in offset
order, and a reader never sees a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from kiln.db.tables import log_events, log_groups, log_streams
from kiln.services.logs.records import HEADER_BYTES, LogEvent
from kiln.services.logs.store import GroupInfo, StoredEvent, StreamInfo

# The largest offset or time a BIGINT holds; anything past it is past every event.
_MAX_INT = 2**63 - 1
_UNNEST_TYPES = {
    "stream_id": "integer",
    "start_byte": "bigint",
    "end_byte": "bigint",
    "timestamp": "bigint",
    "ingestion_time": "bigint",
    "message": "text",
}
_UNNEST = text(
    'INSERT INTO log_events (stream_id, start_byte, end_byte, "timestamp", ingestion_time, '
    "message) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _UNNEST_TYPES.items())
    + ")"
)


def stored_form(message: str) -> tuple[str, int]:
    """``message`` as a database column holds it, and the byte size of its record."""
    try:
        data = message.encode()
    except UnicodeEncodeError:  # a lone surrogate: the files store writes "?" for it too
        data = message.encode(errors="replace")
        message = data.decode()
    if "\x00" in message:  # PostgreSQL's text cannot hold NUL
        message = message.replace("\x00", "\ufffd")
    # records.encode escapes a backslash and a newline as two bytes each, and ends with "\n".
    return message, HEADER_BYTES + len(data) + data.count(b"\\") + data.count(b"\n") + 1


class LogRows:
    """Reads and writes ``log_groups``, ``log_streams`` and ``log_events``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- groups and streams ----------------------------------------------------------------

    def ensure_stream(self, group: str, stream: str, now: int) -> int:
        """The id of ``stream`` in ``group``, creating both (as of ``now``) if needed."""
        found = self.stream_id(group, stream)
        if found is not None:
            return found
        if not self.has_group(group):
            self._insert_once(insert(log_groups).values(name=group, creation_time=now))
        row = {"group_name": group, "name": stream, "creation_time": now, "stored_bytes": 0}
        self._insert_once(insert(log_streams).values(**row))
        found = self.stream_id(group, stream)
        if found is None:
            raise LookupError(f"log stream {group!r} {stream!r} vanished as it was created")
        return found

    def stream_id(self, group: str, stream: str) -> int | None:
        """The id of ``stream`` in ``group``, if it exists."""
        statement = select(log_streams.c.id).where(
            log_streams.c.group_name == group, log_streams.c.name == stream
        )
        with self._engine.connect() as connection:
            found = connection.execute(statement).scalar()
        return None if found is None else int(found)

    def has_group(self, group: str) -> bool:
        """Whether ``group`` exists."""
        statement = select(log_groups.c.name).where(log_groups.c.name == group)
        with self._engine.connect() as connection:
            return connection.execute(statement).first() is not None

    def groups(self) -> list[GroupInfo]:
        """Every group, by name, with its streams' bytes."""
        sizes = (
            select(log_streams.c.group_name, func.sum(log_streams.c.stored_bytes).label("size"))
            .group_by(log_streams.c.group_name)
            .subquery()
        )
        statement = (
            select(log_groups.c.name, log_groups.c.creation_time, sizes.c.size)
            .outerjoin(sizes, sizes.c.group_name == log_groups.c.name)
            .order_by(log_groups.c.name)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [GroupInfo(r.name, int(r.creation_time), int(r.size or 0)) for r in rows]

    def streams(self, group: str) -> list[StreamInfo]:
        """Every stream of ``group``, by name."""
        statement = select(log_streams).where(log_streams.c.group_name == group)
        statement = statement.order_by(log_streams.c.name)
        with self._engine.connect() as connection:
            return [_stream_info(row) for row in connection.execute(statement)]

    def stream(self, stream_id: int) -> StreamInfo:
        """One stream, by id."""
        statement = select(log_streams).where(log_streams.c.id == stream_id)
        with self._engine.connect() as connection:
            return _stream_info(connection.execute(statement).one())

    # -- events ----------------------------------------------------------------------------

    def append(self, stream_id: int, batch: Sequence[LogEvent]) -> None:
        """Append ``batch`` (in order) at the stream's end; times never go back."""
        stored = [stored_form(event.message) for event in batch]
        total = sum(size for _, size in stored)
        with self._engine.begin() as connection:
            # First statement, a write: it takes the lock that orders concurrent appenders.
            moved = connection.execute(
                update(log_streams)
                .where(log_streams.c.id == stream_id)
                .values(stored_bytes=log_streams.c.stored_bytes + total)
                .returning(log_streams.c.stored_bytes, log_streams.c.last_event_timestamp)
            ).one()
            offset, last = int(moved.stored_bytes) - total, moved.last_event_timestamp
            rows: list[dict[str, Any]] = []
            for event, (message, size) in zip(batch, stored, strict=True):
                stamp = event.timestamp if last is None else max(event.timestamp, last)
                rows.append(
                    {
                        "stream_id": stream_id,
                        "start_byte": offset,
                        "end_byte": offset + size,
                        "timestamp": stamp,
                        "ingestion_time": event.ingestion_time,
                        "message": message,
                    }
                )
                offset, last = offset + size, stamp
            _insert_rows(connection, rows)
            connection.execute(
                update(log_streams)
                .where(log_streams.c.id == stream_id)
                .values(
                    first_event_timestamp=func.coalesce(
                        log_streams.c.first_event_timestamp, rows[0]["timestamp"]
                    ),
                    last_event_timestamp=last,
                    last_ingestion_time=batch[-1].ingestion_time,
                )
            )

    def events_from(self, stream_id: int, start: int, limit: int, window: int) -> list[StoredEvent]:
        """Up to ``limit`` events from ``start`` on that end within ``window`` bytes of it
        (the first one even if larger)."""
        if start > _MAX_INT - window:
            return []
        statement = (
            select(log_events)
            .where(
                log_events.c.stream_id == stream_id,
                log_events.c.start_byte >= start,
                log_events.c.start_byte < start + window,
            )
            .order_by(log_events.c.start_byte)
            .limit(limit)
        )
        with self._engine.connect() as connection:
            events = [_stored(row) for row in connection.execute(statement)]
        return [e for i, e in enumerate(events) if i == 0 or e.end <= start + window]

    def events_before(self, stream_id: int, end: int, limit: int, window: int) -> list[StoredEvent]:
        """The last ``limit`` events that end by ``end`` and start within ``window`` before it."""
        statement = (
            select(log_events)
            .where(
                log_events.c.stream_id == stream_id,
                log_events.c.start_byte >= max(0, end - window),
                log_events.c.start_byte < min(end, _MAX_INT),  # bounds the index scan
                log_events.c.end_byte <= min(end, _MAX_INT),
            )
            .order_by(log_events.c.start_byte.desc())
            .limit(limit)
        )
        with self._engine.connect() as connection:
            events = [_stored(row) for row in connection.execute(statement)]
        return events[::-1]

    def offset_of_time(self, stream_id: int, timestamp: int) -> int | None:
        """Where the first event at or after ``timestamp`` starts; None if there is none."""
        statement = (
            select(log_events.c.start_byte)
            .where(
                log_events.c.stream_id == stream_id,
                log_events.c.timestamp >= min(max(timestamp, 0), _MAX_INT),
            )
            .order_by(log_events.c.timestamp, log_events.c.start_byte)
            .limit(1)
        )
        with self._engine.connect() as connection:
            found = connection.execute(statement).scalar()
        return None if found is None else int(found)

    def starts_event(self, stream_id: int, offset: int) -> bool:
        """Whether an event of the stream starts at ``offset``."""
        if not 0 <= offset <= _MAX_INT:
            return False
        statement = select(log_events.c.start_byte).where(
            log_events.c.stream_id == stream_id, log_events.c.start_byte == offset
        )
        with self._engine.connect() as connection:
            return connection.execute(statement).first() is not None

    def _insert_once(self, statement: Any) -> None:
        """Run an INSERT; a row another server inserted first is as good."""
        try:
            with self._engine.begin() as connection:
                connection.execute(statement)
        except IntegrityError:
            pass


def _insert_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in one round trip."""
    if connection.dialect.name != "postgresql":  # SQLite's executemany stays in C: fast there
        connection.execute(insert(log_events), rows)
        return
    # psycopg runs an executemany as one statement per row; one array per column is ~10x faster.
    columns = {name: [row[name] for row in rows] for name in _UNNEST_TYPES}
    connection.execute(_UNNEST, columns)


def _stream_info(row: Row[Any]) -> StreamInfo:
    return StreamInfo(
        row.name,
        int(row.creation_time),
        row.first_event_timestamp,
        row.last_event_timestamp,
        row.last_ingestion_time,
        int(row.stored_bytes),
    )


def _stored(row: Row[Any]) -> StoredEvent:
    event = LogEvent(int(row.timestamp), row.message, int(row.ingestion_time))
    return StoredEvent(int(row.start_byte), int(row.end_byte), event)

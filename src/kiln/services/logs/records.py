"""How one log event is framed on disk: one line, a fixed-width header, the message escaped.

    <timestamp ms, 13 digits> <ingestion ms, 13 digits> <message>\\n

A newline inside a message is written ``\\n`` and a backslash ``\\\\``, so every event is exactly
one line: a reader finds the event at any byte offset by its line, and ``tail -f`` on a stream
file shows the log as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER_BYTES = 28
_DIGITS = 13
_MAX_MS = 10**_DIGITS - 1
_ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class LogEvent:
    """One event: when it happened, what was said, when the store took it (epoch ms)."""

    timestamp: int
    message: str
    ingestion_time: int


def encode(event: LogEvent) -> bytes:
    """The event's line."""
    message = event.message
    if "\\" in message or "\n" in message:
        message = message.replace("\\", "\\\\").replace("\n", "\\n")
    timestamp = min(max(event.timestamp, 0), _MAX_MS)
    ingestion = min(max(event.ingestion_time, 0), _MAX_MS)
    return f"{timestamp:013d} {ingestion:013d} {message}\n".encode(errors="replace")


def decode(line: bytes) -> LogEvent | None:
    """The event a complete line holds; None for a line that is not one (a torn write)."""
    head = line[:HEADER_BYTES]
    if len(head) < HEADER_BYTES or head[13:14] != b" " or head[27:28] != b" ":
        return None
    if not (head[:13].isdigit() and head[14:27].isdigit()):
        return None
    message = line[HEADER_BYTES:].rstrip(b"\n").decode(errors="replace")
    if "\\" in message:
        message = _ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), message)
    return LogEvent(int(head[:13]), message, int(head[14:27]))


def timestamp_of(line: bytes) -> int | None:
    """Just the timestamp of a line, without decoding its message."""
    head = line[:_DIGITS]
    return int(head) if len(head) == _DIGITS and head.isdigit() else None

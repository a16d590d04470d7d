"""One log store for every log Kiln keeps, and the protocols that read it."""

from kiln.services.logs.files import FileLogStore
from kiln.services.logs.records import LogEvent
from kiln.services.logs.store import GroupInfo, LogStore, StoredEvent, StreamInfo, StreamWriter

__all__ = [
    "FileLogStore",
    "GroupInfo",
    "LogEvent",
    "LogStore",
    "StoredEvent",
    "StreamInfo",
    "StreamWriter",
]

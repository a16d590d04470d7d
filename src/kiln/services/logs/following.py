"""A training job's streams read as one text, merged by time, continuing where it stopped.

This is the view of the native log endpoint: each host's lines as written, prefixed with the
host (``[algo-2] …``) when the job has more than one.
"""

from __future__ import annotations

from kiln.errors import ResourceNotFoundError
from kiln.services.logs.names import TRAINING_JOBS_GROUP, host_of
from kiln.services.logs.store import LogStore

_BATCH = 1000


class JobLogCursor:
    """Remembers how far each of a job's streams has been read."""

    def __init__(self, store: LogStore, job: str, *, is_multi_host: bool) -> None:
        self._store = store
        self._prefix = f"{job}/"
        self._is_multi_host = is_multi_host
        self._offsets: dict[str, int] = {}

    def read_new(self) -> str:
        """Every line written since the last call, merged by time."""
        lines: list[tuple[int, str, str]] = []
        for stream in self._streams():
            offset = self._offsets.get(stream, 0)
            while batch := self._store.read(TRAINING_JOBS_GROUP, stream, offset, _BATCH):
                for stored in batch:
                    lines.append((stored.event.timestamp, stream, stored.event.message))
                offset = batch[-1].end
            self._offsets[stream] = offset
        lines.sort(key=lambda line: (line[0], line[1]))
        return "".join(self._render(stream, message) for _, stream, message in lines)

    def _streams(self) -> list[str]:
        try:
            streams = self._store.streams(TRAINING_JOBS_GROUP)
        except ResourceNotFoundError:
            return []
        return [s.name for s in streams if s.name.startswith(self._prefix)]

    def _render(self, stream: str, message: str) -> str:
        if self._is_multi_host:
            return f"[{host_of(stream)}] {message}\n"
        return f"{message}\n"

"""A process's output lines, buffered where it runs until the server reads them."""

from __future__ import annotations

import threading
from collections import deque
from typing import IO

MAX_LINES = 10_000
"""Lines kept unread per stream: a reader that falls further behind loses the oldest."""


class LineBuffer:
    """One stream's lines, numbered from 0; readers ask from a cursor and may wait for more."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self._lines: deque[bytes] = deque(maxlen=max_lines)
        self._end = 0
        self._closed = False
        self._changed = threading.Condition()

    def append(self, line: bytes) -> None:
        """Add a line."""
        with self._changed:
            self._lines.append(line)
            self._end += 1
            self._changed.notify_all()

    def close(self) -> None:
        """The stream ended: readers get what is left, then the end."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def read(self, cursor: int, timeout: float) -> tuple[list[bytes], int, bool]:
        """Lines from ``cursor`` on (waiting up to ``timeout`` for one), the next cursor, and
        whether the stream has ended with nothing more to read."""
        with self._changed:
            self._changed.wait_for(lambda: self._end > cursor or self._closed, timeout)
            first = self._end - len(self._lines)
            start = max(cursor, first)
            lines = list(self._lines)[start - first :]
            return lines, self._end, self._closed and not lines

    def pump(self, stream: IO[bytes]) -> None:
        """Append ``stream``'s lines until it closes, then close."""
        try:
            for line in stream:
                self.append(line)
        finally:
            stream.close()
            self.close()

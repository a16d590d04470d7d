"""A stream writer that outlasts a full disk: lines the disk refuses are counted, never fatal.

A log pump that dies on ENOSPC stops reading its process's pipe, and the process then blocks on
its next ``print``: one full disk would freeze every job and replica. So when a write fails
with any ``OSError`` the line is dropped and counted, and the first line that fits again is
preceded by one note saying how many were lost and why::

    [kiln] 123 log lines dropped: no space left on device

The stream is opened on first use, and again after a failed open: a stream whose file cannot
even be created yet still loses only lines.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kiln.services.logs.store import StreamWriter

log = logging.getLogger(__name__)


def dropped_note(count: int, reason: str) -> str:
    """The line that stands for ``count`` lines lost because of ``reason`` (an OS message)."""
    lines = "log line" if count == 1 else "log lines"
    return f"[kiln] {count} {lines} dropped: {reason[:1].lower()}{reason[1:]}"


class TolerantWriter:
    """Writes through the writer ``open_stream`` returns; drops and counts what fails."""

    def __init__(self, open_stream: Callable[[], StreamWriter], name: str) -> None:
        self._open_stream = open_stream
        self._name = name
        self._writer: StreamWriter | None = None
        self._lock = threading.Lock()
        self._dropped = 0
        self._reason = ""

    @property
    def dropped(self) -> int:
        """Lines dropped since the last one that was written."""
        return self._dropped

    def write(self, message: str) -> None:
        """Append ``message``, or count it as dropped if the disk refuses it."""
        with self._lock:
            try:
                if self._writer is None:
                    self._writer = self._open_stream()
                if self._dropped:
                    self._writer.write(dropped_note(self._dropped, self._reason))
                    log.info("log stream %s: writing again (%d lost)", self._name, self._dropped)
                    self._dropped = 0
                self._writer.write(message)
            except OSError as e:
                if not self._dropped:
                    log.warning("log stream %s: dropping lines: %s", self._name, e)
                self._dropped += 1
                self._reason = e.strerror or str(e)

    def close(self) -> None:
        """Release the underlying writer, if one was opened."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except OSError as e:
                log.warning("log stream %s: closing failed: %s", self._name, e)

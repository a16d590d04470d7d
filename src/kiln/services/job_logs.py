"""A job's log: every host's stdout and stderr in one file, scanned for metrics as it grows."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from kiln.shapes.training import MetricDefinition

_TAIL_LINES = 20


class JobLog:
    """Writes lines to the job's log file and keeps what the runner reads back from them."""

    def __init__(
        self, path: Path, metric_definitions: Sequence[MetricDefinition], *, multi_host: bool
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self._metrics = [(m.name, re.compile(m.regex)) for m in metric_definitions]
        self._multi_host = multi_host
        self._stderr: dict[str, deque[str]] = {}
        self.final_metrics: dict[str, tuple[float, float]] = {}
        self.first_line_at: float | None = None

    def note(self, message: str) -> None:
        """A line from Kiln itself (environment builds, uploads)."""
        self._write(f"[kiln] {message}")

    def pump(self, stream: IO[bytes], host: str, *, is_stderr: bool) -> threading.Thread:
        """Copy ``stream`` into the log on a thread until it closes; the thread."""
        tail = self._stderr.setdefault(host, deque(maxlen=_TAIL_LINES))

        def copy() -> None:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                if is_stderr:
                    tail.append(line)
                self._scan(line)
                self._write(f"[{host}] {line}" if self._multi_host else line)
            stream.close()

        thread = threading.Thread(target=copy, name=f"kiln-log-{host}", daemon=True)
        thread.start()
        return thread

    def stderr_tail(self, host: str) -> str:
        """The last lines ``host`` wrote to stderr."""
        return "\n".join(self._stderr.get(host, ()))

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()

    def _scan(self, line: str) -> None:
        if self.first_line_at is None:
            self.first_line_at = time.time()
        for name, pattern in self._metrics:
            match = pattern.search(line)
            if match is None:
                continue
            try:
                value = float(match.group(1) if pattern.groups else match.group(0))
            except ValueError:
                continue
            self.final_metrics[name] = (value, time.time())

    def _write(self, line: str) -> None:
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

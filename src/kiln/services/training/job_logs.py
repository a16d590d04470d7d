"""A training job's log: one stream per host in the log store, scanned for metrics as it grows.

Streams are named as SageMaker names them (``<job>/algo-<n>-<epoch>`` in
``/aws/sagemaker/TrainingJobs``); Kiln's own notes (``[kiln] …``) go to algo-1's stream.
Writing never fails: a line the disk refuses is dropped and counted (``logs.tolerant``), so a
full disk neither kills a pump (and blocks the job on its pipe) nor stops a note.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from kiln.services.logs import LogStore
from kiln.services.logs.names import TRAINING_JOBS_GROUP, training_stream
from kiln.services.logs.tolerant import TolerantWriter
from kiln.shapes.training import MetricDefinition

_TAIL_LINES = 20

# (host, metric name, value, epoch seconds): each MetricDefinitions match, as it is found.
MetricSink = Callable[[str, str, float, float], None]
_NOTES_HOST = "algo-1"


class JobLog:
    """Writes each host's lines to its stream and keeps what the runner reads back from them."""

    def __init__(
        self,
        store: LogStore,
        job: str,
        metric_definitions: Sequence[MetricDefinition],
        *,
        started: int,
        on_metric: MetricSink | None = None,
    ) -> None:
        self._store = store
        self._on_metric = on_metric
        self._job = job
        self._started = started
        self._writers: dict[str, TolerantWriter] = {}
        self._lock = threading.Lock()
        self._metrics = [(m.name, re.compile(m.regex)) for m in metric_definitions]
        self._stderr: dict[str, deque[str]] = {}
        self.final_metrics: dict[str, tuple[float, float]] = {}
        self.first_line_at: float | None = None

    def note(self, message: str, host: str = _NOTES_HOST) -> None:
        """A line from Kiln itself (environment builds, uploads), to ``host``'s stream."""
        self._writer(host).write(f"[kiln] {message}")

    def pump(self, lines: Iterator[bytes], host: str, is_stderr: bool = False) -> threading.Thread:
        """Copy ``lines`` into ``host``'s log stream on a thread until they end; the thread."""
        tail = self._stderr.setdefault(host, deque(maxlen=_TAIL_LINES))
        writer = self._writer(host)

        def copy() -> None:
            for raw in lines:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                if is_stderr:
                    tail.append(line)
                self._scan(line, host)
                writer.write(line)

        thread = threading.Thread(target=copy, name=f"kiln-log-{host}", daemon=True)
        thread.start()
        return thread

    def stderr_tail(self, host: str) -> str:
        """The last lines ``host`` wrote to stderr."""
        return "\n".join(self._stderr.get(host, ()))

    def close(self) -> None:
        """Release the streams' writers."""
        with self._lock:
            writers, self._writers = list(self._writers.values()), {}
        for writer in writers:
            writer.close()

    def _writer(self, host: str) -> TolerantWriter:
        with self._lock:
            writer = self._writers.get(host)
            if writer is None:
                name = training_stream(self._job, host, self._started)
                writer = self._writers[host] = TolerantWriter(
                    lambda: self._store.open_stream(TRAINING_JOBS_GROUP, name), name
                )
            return writer

    def _scan(self, line: str, host: str) -> None:
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
            at = time.time()
            self.final_metrics[name] = (value, at)
            if self._on_metric is not None:
                self._on_metric(host, name, value, at)

"""The capture writer: sampled invocations to capture files in the store, off the request path.

``observe`` (on the event loop) only counts the record against its endpoint's bound and appends
it to a queue; past the bound it drops the record and counts the drop. A thread turns queued
records into lines, gathers them into one open file per destination, endpoint, variant and UTC
hour, and writes a file when it is full (``file_bytes``), old (``flush_seconds``), asked for
(``flush(endpoint)``: the endpoint is updated or deleted) or the writer closes. A write that
fails keeps its file and is tried again after a growing delay, per destination; meanwhile new
records fill the bound and are dropped. ``problem(endpoint)`` says why the last write failed
until one succeeds. What a ``kill -9`` can lose is what is held: at most ``buffer_records``
records and ``buffer_bytes`` of bodies per endpoint.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from kiln.errors import ValidationError
from kiln.services.hosting.invocations import InvocationRecord
from kiln.services.monitoring.capture.keys import FileGroup, capture_file_uri, hour_of
from kiln.services.monitoring.capture.policy import (
    CapturePolicy,
    Held,
    has_room,
    is_due,
    is_full,
    retry_delay,
)
from kiln.services.monitoring.capture.records import capture_line
from kiln.storage import S3Uri

log = logging.getLogger(__name__)


class BytesStore(Protocol):
    """Where capture files are written (``kiln.storage.ObjectStore``)."""

    def put_bytes(self, uri: S3Uri, body: bytes) -> None:
        """Write ``body`` as the object at ``uri``."""


@dataclass(frozen=True)
class CaptureCounters:
    """One endpoint's capture so far."""

    captured: int
    """Records written to the destination."""
    dropped: int
    """Sampled records not written: the bound was full, or the writer had to give up."""
    failed_writes: int
    """File writes that failed (each is tried again)."""
    pending: int
    """Records held, not yet written."""


@dataclass
class _EndpointState:
    held_records: int = 0
    held_bytes: int = 0
    captured: int = 0
    dropped: int = 0
    failed_writes: int = 0
    problem: str | None = None


@dataclass
class _OpenFile:
    group: FileGroup
    opened_at: float
    first_inference: float
    lines: list[bytes] = field(default_factory=list)
    size: int = 0
    held_bytes: int = 0


@dataclass
class _ReadyFile:
    group: FileGroup
    uri: S3Uri
    body: bytes
    records: int
    held_bytes: int


@dataclass
class _Retry:
    failures: int = 0
    not_before: float = 0.0


def _held_size(record: InvocationRecord) -> int:
    return len(record.request_body) + len(record.response_body)


def describe_failure(error: BaseException) -> str:
    """A short reason for a failed write: S3's error code and message when it gave them."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code, message = details.get("Code", "?"), details.get("Message", "")
        return f"{code}: {message}" if message else str(code)
    return f"{type(error).__name__}: {error}"


class CaptureWriter:
    """An ``InvocationObserver`` and the controller's ``CaptureSink``: sampled invocations in
    SageMaker's capture format (``records.py``) and layout (``keys.py``)."""

    def __init__(
        self, store: BytesStore, policy: CapturePolicy, *, close_seconds: float = 10.0
    ) -> None:
        self._store = store
        self._policy = policy
        self._close_seconds = close_seconds
        self._lock = threading.Lock()
        self._queue: deque[InvocationRecord] = deque()
        self._endpoints: dict[str, _EndpointState] = {}
        self._flush_asked: set[str] = set()
        self._is_closed = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        # Only the writer thread touches these.
        self._open: dict[FileGroup, _OpenFile] = {}
        self._ready: list[_ReadyFile] = []
        self._retries: dict[str, _Retry] = {}
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)

    def start(self) -> CaptureWriter:
        """Start the writer thread."""
        self._thread.start()
        return self

    def observe(self, record: InvocationRecord) -> None:
        """Hold ``record`` for writing if it was sampled and its endpoint has room; else count."""
        if record.capture is None:
            return
        size = _held_size(record)
        with self._lock:
            state = self._endpoints.get(record.endpoint)
            if state is None:
                state = self._endpoints[record.endpoint] = _EndpointState()
            held = Held(state.held_records, state.held_bytes)
            if self._is_closed or not has_room(held, size, self._policy):
                state.dropped += 1
                return
            state.held_records += 1
            state.held_bytes += size
            self._queue.append(record)

    def flush(self, endpoint: str) -> None:
        """Ask the thread to write what ``endpoint`` holds now; returns at once."""
        with self._lock:
            self._flush_asked.add(endpoint)
        self._wake.set()

    def close(self) -> None:
        """Take no more records, write what is held (for at most ``close_seconds``), stop."""
        with self._lock:
            self._is_closed = True
        self._stop.set()
        self._wake.set()
        if self._thread.ident is None:
            self._run()  # never started: write what is held here, once
        else:
            self._thread.join()

    def counters(self, endpoint: str) -> CaptureCounters:
        """``endpoint``'s counters (all zero for one never captured)."""
        with self._lock:
            state = self._endpoints.get(endpoint) or _EndpointState()
            return CaptureCounters(
                state.captured, state.dropped, state.failed_writes, state.held_records
            )

    def problem(self, endpoint: str) -> str | None:
        """Why ``endpoint``'s captured data cannot be written now; None when it can."""
        with self._lock:
            state = self._endpoints.get(endpoint)
            return None if state is None else state.problem

    def _run(self) -> None:
        tick = max(min(1.0, self._policy.flush_seconds / 4), 0.01)
        while not self._stop.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            self._step(is_closing=False)
        self._finish()

    def _finish(self) -> None:
        deadline = time.monotonic() + self._close_seconds
        self._step(is_closing=True)
        while self._ready and time.monotonic() < deadline:
            soonest = min(self._retry(f.group.destination).not_before for f in self._ready)
            time.sleep(max(0.0, min(soonest, deadline) - time.monotonic()))
            self._step(is_closing=True)
        for ready in self._ready:
            log.error(
                "data capture: %d record(s) of %s not written at stop (%s)",
                ready.records,
                ready.group.endpoint,
                self.problem(ready.group.endpoint),
            )
            self._forget(ready, dropped=True)
        self._ready.clear()

    def _step(self, *, is_closing: bool) -> None:
        # The thread must outlive any one bad record or store error, or capture would stop
        # silently for every endpoint; whatever escaped is logged and the next tick goes on.
        try:
            # Asks first: whatever was observed before flush(endpoint) is then taken below.
            with self._lock:
                asked, self._flush_asked = self._flush_asked, set()
            self._take_queued()
            self._seal_due(asked, is_closing)
            self._write_ready()
        except Exception:
            log.exception("data capture writer step failed")

    def _take_queued(self) -> None:
        with self._lock:
            queued, self._queue = self._queue, deque()
        for record in queued:
            config = record.capture
            assert config is not None  # observe queues sampled records only
            try:
                line = capture_line(record, config)
            except orjson.JSONEncodeError as e:  # e.g. an InferenceId with a lone surrogate
                self._set_problem(record.endpoint, f"a record could not be written as JSON: {e}")
                self._forget_held(record.endpoint, 1, _held_size(record), dropped=True)
                continue
            group = FileGroup(
                config.destination,
                record.endpoint,
                record.variant,
                hour_of(record.arrived_at),
            )
            self._append(group, record.arrived_at, line, _held_size(record))

    def _append(self, group: FileGroup, inference: float, line: bytes, held: int) -> None:
        current = self._open.get(group)
        if current is not None and current.size + len(line) > self._policy.file_bytes:
            self._seal(current)
            current = None
        if current is None:
            current = self._open[group] = _OpenFile(group, time.monotonic(), inference)
        current.lines.append(line)
        current.size += len(line)
        current.held_bytes += held
        if is_full(current.size, self._policy):
            self._seal(current)

    def _seal_due(self, asked: set[str], is_closing: bool) -> None:
        now = time.monotonic()
        for current in list(self._open.values()):
            if (
                is_closing
                or current.group.endpoint in asked
                or is_due(current.opened_at, now, self._policy)
            ):
                self._seal(current)

    def _seal(self, current: _OpenFile) -> None:
        del self._open[current.group]
        records = len(current.lines)
        try:
            uri = capture_file_uri(current.group, current.first_inference, uuid.uuid4())
        except ValidationError as e:
            self._set_problem(current.group.endpoint, f"bad DestinationS3Uri: {e}")
            self._forget_held(current.group.endpoint, records, current.held_bytes, dropped=True)
            return
        body = b"".join(current.lines)
        self._ready.append(_ReadyFile(current.group, uri, body, records, current.held_bytes))

    def _write_ready(self) -> None:
        failing: set[str] = set()
        remaining: list[_ReadyFile] = []
        for ready in self._ready:
            destination = ready.group.destination
            if destination in failing or self._retry(destination).not_before > time.monotonic():
                remaining.append(ready)
                continue
            if self._put(ready):
                self._forget(ready, dropped=False)
            else:
                failing.add(destination)
                remaining.append(ready)
        self._ready = remaining

    def _put(self, ready: _ReadyFile) -> bool:
        destination = ready.group.destination
        try:
            self._store.put_bytes(ready.uri, ready.body)
        except (BotoCoreError, ClientError, OSError) as e:
            retry = self._retry(destination)
            retry.failures += 1
            retry.not_before = time.monotonic() + retry_delay(retry.failures, self._policy)
            reason = f"cannot write captured data to {destination}: {describe_failure(e)}"
            log.warning("data capture of %s: %s", ready.group.endpoint, reason)
            with self._lock:
                state = self._endpoints[ready.group.endpoint]
                state.failed_writes += 1
                state.problem = reason
            return False
        self._retries.pop(destination, None)
        return True

    def _retry(self, destination: str) -> _Retry:
        retry = self._retries.get(destination)
        if retry is None:
            retry = self._retries[destination] = _Retry()
        return retry

    def _forget(self, ready: _ReadyFile, *, dropped: bool) -> None:
        self._forget_held(ready.group.endpoint, ready.records, ready.held_bytes, dropped=dropped)

    def _forget_held(self, endpoint: str, records: int, held_bytes: int, *, dropped: bool) -> None:
        with self._lock:
            state = self._endpoints[endpoint]
            state.held_records -= records
            state.held_bytes -= held_bytes
            if dropped:
                state.dropped += records
            else:
                state.captured += records
                state.problem = None

    def _set_problem(self, endpoint: str, problem: str) -> None:
        with self._lock:
            self._endpoints[endpoint].problem = problem

"""The inference log: an ``InvocationObserver`` that keeps what feedback and the A/B report need.

``observe`` runs on the event loop: it drops invocations without an InferenceId, and puts the
rest on a bounded queue (when the queue is full the record is counted and dropped, never
waited for). One writer thread decodes each answer into one prediction, inserts batches into
the database and, once an hour, forgets rows older than the retention window.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from kiln.db.inferences import InferenceStore, LoggedInference
from kiln.errors import KilnError
from kiln.services.hosting.invocations import InvocationRecord
from kiln.services.monitoring.predictions import MAX_BODY_BYTES, decode_prediction

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 7.0
QUEUE_CAPACITY = 4096
"""Each waiting entry keeps at most a 16 KiB answer (never the request): at most about 64 MiB."""
BATCH_SIZE = 512
PRUNE_EVERY_SECONDS = 3600.0
_STOP = None


class InferenceLog:
    """Notes invocations that carry an InferenceId; a thread writes them to the store."""

    def __init__(
        self,
        store: InferenceStore,
        *,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        capacity: int = QUEUE_CAPACITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._retention_seconds = retention_days * 86400
        self._queue: queue.Queue[_Noted | None] = queue.Queue(maxsize=capacity)
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._next_prune = 0.0
        # One counter per thread that writes it: += is not atomic across threads.
        self._dropped_full = 0
        self._dropped_unwritten = 0

    @property
    def dropped(self) -> int:
        """Invocations not logged: the queue was full, or the database refused a batch."""
        return self._dropped_full + self._dropped_unwritten

    def observe(self, record: InvocationRecord) -> None:
        """Queue ``record`` if it carries an InferenceId; never blocks or raises."""
        if record.inference_id is None:
            return
        try:
            self._queue.put_nowait(_noted(record))
        except queue.Full:
            self._dropped_full += 1

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="kiln-inference-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("inference log: the writer is stuck; %d invocation(s) not logged",
                        self._queue.qsize())  # fmt: skip
        self._thread.join(timeout)
        self._thread = None

    def flush(self) -> None:
        """Wait until everything observed so far is written (or dropped)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while first is not _STOP and len(batch) < BATCH_SIZE:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [r for r in batch if r is not None]
            self._write(records)
            self._prune_when_due()
            for _ in batch:
                self._queue.task_done()
            if len(records) < len(batch):
                return

    def _write(self, records: list[_Noted]) -> None:
        try:
            self.store.add([r.logged() for r in records])
        except (KilnError, SQLAlchemyError) as e:
            self._dropped_unwritten += len(records)
            log.warning("inference log: %d invocation(s) not logged: %s", len(records), e)

    def _prune_when_due(self) -> None:
        now = self._clock()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY_SECONDS
        try:
            self.store.prune(now - self._retention_seconds)
        except (KilnError, SQLAlchemyError) as e:
            log.warning("inference log: could not forget old rows: %s", e)


@dataclass(slots=True)
class _Noted:
    """An invocation waiting to be logged: only what the log keeps, not the request's body."""

    endpoint: str
    inference_id: str
    variant: str
    is_shadow: bool
    response_body: bytes
    response_content_type: str | None
    arrived_at: float

    def logged(self) -> LoggedInference:
        """The row: the answer decoded into one prediction (on the writer's thread)."""
        return LoggedInference(
            endpoint=self.endpoint,
            inference_id=self.inference_id,
            variant=self.variant,
            is_shadow=self.is_shadow,
            prediction=decode_prediction(self.response_body, self.response_content_type),
            arrived_at=self.arrived_at,
        )


def _noted(record: InvocationRecord) -> _Noted:
    body = record.response_body if len(record.response_body) <= MAX_BODY_BYTES else b""
    return _Noted(
        record.endpoint,
        record.inference_id or "",
        record.variant,
        record.is_shadow,
        body,
        record.response_content_type,
        record.arrived_at,
    )


def logged(record: InvocationRecord) -> LoggedInference:
    """What the log keeps of one invocation."""
    return _noted(record).logged()

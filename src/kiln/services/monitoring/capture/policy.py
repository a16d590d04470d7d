"""When captured records are written, retried or dropped: pure decisions the writer applies."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CapturePolicy:
    """How much the writer holds and how long (``KILN_CAPTURE_*``)."""

    flush_seconds: float = 60.0
    """A file is written at most this long after its first record arrived."""
    file_bytes: int = 1024 * 1024
    """A file is written once it holds this many bytes (one larger record makes its own file)."""
    buffer_records: int = 10_000
    """Records one endpoint may hold unwritten; past it new ones are dropped (and counted)."""
    buffer_bytes: int = 64 * 1024 * 1024
    """Bodies' bytes one endpoint may hold unwritten; past it new ones are dropped (and counted)."""
    retry_first_seconds: float = 1.0
    """The first wait after a failed write; it doubles per failure up to ``flush_seconds``."""


@dataclass(frozen=True)
class Held:
    """What one endpoint holds unwritten."""

    records: int
    bytes: int


def has_room(held: Held, size: int, policy: CapturePolicy) -> bool:
    """Whether one more record of ``size`` bytes fits in the endpoint's bound."""
    return held.records < policy.buffer_records and held.bytes + size <= policy.buffer_bytes


def is_full(file_bytes: int, policy: CapturePolicy) -> bool:
    """Whether an open file of ``file_bytes`` must be written now for its size."""
    return file_bytes >= policy.file_bytes


def is_due(opened_at: float, now: float, policy: CapturePolicy) -> bool:
    """Whether an open file first written to at ``opened_at`` must be written now for its age."""
    return now - opened_at >= policy.flush_seconds


def retry_delay(failures: int, policy: CapturePolicy) -> float:
    """Seconds to wait after the ``failures``-th failure in a row to a destination."""
    delay = policy.retry_first_seconds * float(2 ** min(max(failures - 1, 0), 30))
    return min(delay, max(policy.flush_seconds, policy.retry_first_seconds))

"""The capture writer as ``kiln server`` builds it from its settings."""

from __future__ import annotations

from kiln.config import Settings
from kiln.services.monitoring.capture.policy import CapturePolicy
from kiln.services.monitoring.capture.writer import BytesStore, CaptureWriter


def capture_policy(settings: Settings) -> CapturePolicy:
    """The ``KILN_CAPTURE_*`` settings as the writer's policy."""
    return CapturePolicy(
        flush_seconds=settings.capture_flush_seconds,
        file_bytes=settings.capture_file_kib * 1024,
        buffer_records=settings.capture_buffer_records,
        buffer_bytes=settings.capture_buffer_mib * 1024 * 1024,
        retry_first_seconds=min(1.0, settings.capture_flush_seconds),
    )


def build_capture_writer(settings: Settings, store: BytesStore) -> CaptureWriter:
    """A capture writer for ``settings``, not yet started (``start()`` it with the server)."""
    return CaptureWriter(
        store, capture_policy(settings), close_seconds=settings.capture_close_seconds
    )

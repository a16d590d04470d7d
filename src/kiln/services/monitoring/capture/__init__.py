"""Data capture: sampled invocations written as SageMaker's capture files.

``records`` is the line format, ``keys`` the object layout, ``policy`` when to write, retry or
drop, ``writer`` the observer and its thread, ``wiring`` what ``kiln server`` calls.
"""

from kiln.services.monitoring.capture.policy import CapturePolicy
from kiln.services.monitoring.capture.wiring import build_capture_writer, capture_policy
from kiln.services.monitoring.capture.writer import CaptureCounters, CaptureWriter

__all__ = [
    "CaptureCounters",
    "CapturePolicy",
    "CaptureWriter",
    "build_capture_writer",
    "capture_policy",
]

"""The 10-second window of invocation metrics that short alarm periods read."""

from __future__ import annotations

from conftest import invocation_record
from kiln.services.hosting.invocations import Outcome
from kiln.services.monitoring.metrics.fine import FineWindow
from kiln.services.monitoring.metrics.series import Series

ERRORS = Series.of(
    "AWS/SageMaker", "InvocationModelErrors", {"EndpointName": "ep", "VariantName": "A"}
)


def test_invocations_count_in_their_10_second_slot() -> None:
    window = FineWindow()
    window.observe(invocation_record(at=1_000_001.0))
    window.observe(invocation_record(Outcome.MODEL_ERROR, 500, at=1_000_009.9))
    window.observe(invocation_record(Outcome.MODEL_ERROR, 500, at=1_000_010.0))

    slots = window.slots(ERRORS, 1_000_000, 1_000_020)

    assert {at: (a.count, a.total) for at, a in slots.items()} == {
        1_000_000: (2, 1.0),
        1_000_010: (1, 1.0),
    }


def test_slots_older_than_the_window_are_trimmed() -> None:
    window = FineWindow(keep_seconds=60)
    window.observe(invocation_record(at=1_000_000.0))

    window.trim(now=1_000_100.0)

    assert window.slots(ERRORS, 0, 2_000_000) == {}


def test_the_window_covers_only_recent_invocation_metrics() -> None:
    window = FineWindow(keep_seconds=60)
    cpu = Series.of("/aws/sagemaker/Endpoints", "CPUUtilization", {"EndpointName": "ep"})

    assert window.covers(ERRORS, 1_000_000 - 30, 1_000_000)
    assert not window.covers(ERRORS, 1_000_000 - 90, 1_000_000)
    assert not window.covers(cpu, 1_000_000 - 30, 1_000_000)

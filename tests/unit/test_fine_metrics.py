"""The 10-second invocation slots: what short alarm periods read."""

from __future__ import annotations

from conftest import invocation_record
from kiln.services.hosting.invocations import Outcome
from kiln.services.monitoring.metrics.fine import InvocationSlots, minute_points
from kiln.services.monitoring.metrics.series import Series

ERRORS = Series.of(
    "AWS/SageMaker", "InvocationModelErrors", {"EndpointName": "ep", "VariantName": "A"}
)


def test_invocations_count_in_their_10_second_slot() -> None:
    window = InvocationSlots()
    window.observe(invocation_record(at=1_000_001.0))
    window.observe(invocation_record(Outcome.MODEL_ERROR, 500, at=1_000_009.9))
    window.observe(invocation_record(Outcome.MODEL_ERROR, 500, at=1_000_010.0))

    slots = window.slots(ERRORS, 1_000_000, 1_000_020)

    assert {at: (a.count, a.total) for at, a in slots.items()} == {
        1_000_000: (2, 1.0),
        1_000_010: (1, 1.0),
    }


def test_stored_slots_older_than_the_window_are_trimmed() -> None:
    window = InvocationSlots(keep_seconds=60)
    window.observe(invocation_record(at=1_000_000.0))
    window.retire(window.settled_minutes(None))

    window.trim(now=1_000_100.0)

    assert window.slots(ERRORS, 0, 2_000_000) == {}


def test_slots_not_yet_in_a_stored_minute_are_never_trimmed() -> None:
    window = InvocationSlots(keep_seconds=60)
    window.observe(invocation_record(Outcome.MODEL_ERROR, 500, at=1_000_000.0))

    window.trim(now=1_000_100.0)

    assert list(window.slots(ERRORS, 0, 2_000_000)) == [1_000_000]


def test_retired_slots_still_answer_the_alarms() -> None:
    window = InvocationSlots()
    window.observe(invocation_record(Outcome.MODEL_ERROR, 500, at=1_000_001.0))
    window.retire(window.settled_minutes(None))
    window.observe(invocation_record(Outcome.MODEL_ERROR, 500, at=1_000_002.0))  # told late

    assert window.settled_minutes(None).keys() == {("ep", "A", 999_960)}
    assert window.slots(ERRORS, 1_000_000, 1_000_010)[1_000_000].total == 2.0


def test_a_minute_point_merges_its_slots_with_each_slots_instance_count() -> None:
    counts = iter([1, 2])
    window = InvocationSlots(instances=lambda _e, _v: next(counts))
    window.observe(invocation_record(at=1_000_020.0))  # 1 instance
    window.observe(invocation_record(at=1_000_030.0))  # 2 instances
    window.observe(invocation_record(at=1_000_031.0))

    [(key, slots)] = window.settled_minutes(None).items()
    points = {p.series.metric: p.aggregate for p in minute_points(key, slots)}

    assert key == ("ep", "A", 1_000_020)
    assert points["Invocations"].total == 3
    # 1/1 + 1/2 + 1/2: each request divided by the instances of its own slot
    assert points["InvocationsPerInstance"].total == 2.0


def test_unpublished_slots_cover_no_alarm() -> None:
    window = InvocationSlots(keep_seconds=60, published=False)

    assert not window.covers(ERRORS, 1_000_000 - 30, 1_000_000)


def test_the_window_covers_only_recent_invocation_metrics() -> None:
    window = InvocationSlots(keep_seconds=60)
    cpu = Series.of("/aws/sagemaker/Endpoints", "CPUUtilization", {"EndpointName": "ep"})

    assert window.covers(ERRORS, 1_000_000 - 30, 1_000_000)
    assert not window.covers(ERRORS, 1_000_000 - 90, 1_000_000)
    assert not window.covers(cpu, 1_000_000 - 30, 1_000_000)

"""The per-second invocation rate the autoscaler reads from the invocation slots."""

from __future__ import annotations

import pytest

from conftest import invocation_record
from kiln.services.monitoring.metrics.fine import InvocationSlots


def test_the_rate_is_the_mean_over_whole_seconds_before_now() -> None:
    rate = InvocationSlots()
    for at in (100.1, 100.9, 101.5, 102.2, 102.3, 102.4, 103.0):
        rate.observe(invocation_record(at=at))
    # seconds 100, 101, 102 hold 2, 1 and 3; second 103 is still running and is left out
    assert rate.per_second("ep", "A", 3, now=103.5) == 2.0
    assert rate.per_second("ep", "A", 1, now=103.5) == 3.0


def test_the_rate_spans_slots() -> None:
    rate = InvocationSlots()
    for at in (109.5, 110.5, 110.6):
        rate.observe(invocation_record(at=at))
    # second 109 in slot 100, second 110 in slot 110
    assert rate.per_second("ep", "A", 2, now=111.0) == 1.5


def test_variants_and_endpoints_are_counted_apart() -> None:
    rate = InvocationSlots()
    rate.observe(invocation_record(variant="A", at=10.5))
    rate.observe(invocation_record(variant="B", at=10.5, endpoint="other"))
    assert rate.per_second("ep", "A", 1, now=11.0) == 1.0
    assert rate.per_second("ep", "B", 1, now=11.0) == 0.0
    assert rate.per_second("other", "B", 1, now=11.0) == 1.0


def test_a_stored_minute_still_counts_in_the_rate() -> None:
    rate = InvocationSlots()
    rate.observe(invocation_record(at=50.5))
    rate.retire(rate.settled_minutes(None))
    assert rate.per_second("ep", "A", 1, now=51.0) == 1.0


def test_the_last_invocation_is_remembered_per_variant() -> None:
    rate = InvocationSlots()
    assert rate.last_invocation_at("ep", "A") is None
    rate.observe(invocation_record(at=7.0))
    rate.observe(invocation_record(at=5.0))  # told late: arrived earlier
    assert rate.last_invocation_at("ep", "A") == 7.0


def test_the_last_invocation_outlives_its_trimmed_slot() -> None:
    rate = InvocationSlots(keep_seconds=60)
    rate.observe(invocation_record(at=7.0))
    rate.retire(rate.settled_minutes(None))
    rate.trim(now=1_000.0)
    assert rate.per_second("ep", "A", 10, now=10.0) == 0.0
    assert rate.last_invocation_at("ep", "A") == 7.0


def test_windows_outside_the_kept_slots_are_refused() -> None:
    with pytest.raises(ValueError, match="seconds=61"):
        InvocationSlots(keep_seconds=60).per_second("ep", "A", 61, now=1.0)

"""The per-second invocation rate the autoscaler reads."""

from __future__ import annotations

import pytest

from conftest import invocation_record
from kiln.services.monitoring.metrics.rate import WINDOW_SECONDS, InvocationRate


def test_the_rate_is_the_mean_over_whole_seconds_before_now() -> None:
    rate = InvocationRate()
    for at in (100.1, 100.9, 101.5, 102.2, 102.3, 102.4, 103.0):
        rate.observe(invocation_record(at=at))
    # seconds 100, 101, 102 hold 2, 1 and 3; second 103 is still running and is left out
    assert rate.per_second("ep", "A", 3, now=103.5) == 2.0
    assert rate.per_second("ep", "A", 1, now=103.5) == 3.0


def test_variants_and_endpoints_are_counted_apart() -> None:
    rate = InvocationRate()
    rate.observe(invocation_record(variant="A", at=10.5))
    rate.observe(invocation_record(variant="B", at=10.5, endpoint="other"))
    assert rate.per_second("ep", "A", 1, now=11.0) == 1.0
    assert rate.per_second("ep", "B", 1, now=11.0) == 0.0
    assert rate.per_second("other", "B", 1, now=11.0) == 1.0


def test_seconds_older_than_the_ring_do_not_count_again() -> None:
    rate = InvocationRate()
    rate.observe(invocation_record(at=50.5))
    later = 50.5 + WINDOW_SECONDS
    rate.observe(invocation_record(at=later))  # the same slot, a new second
    assert rate.per_second("ep", "A", 3, now=later + 1) == pytest.approx(1 / 3)


def test_the_last_invocation_is_remembered_per_variant() -> None:
    rate = InvocationRate()
    assert rate.last_invocation_at("ep", "A") is None
    rate.observe(invocation_record(at=7.0))
    rate.observe(invocation_record(at=5.0))  # told late: arrived earlier
    assert rate.last_invocation_at("ep", "A") == 7.0


def test_windows_outside_the_ring_are_refused() -> None:
    with pytest.raises(ValueError, match="seconds=16"):
        InvocationRate().per_second("ep", "A", WINDOW_SECONDS, now=1.0)

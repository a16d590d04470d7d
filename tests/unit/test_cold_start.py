"""Scale from zero's decisions and the demand that raises a variant from zero to one replica."""

from __future__ import annotations

import threading

import pytest

from kiln.errors import ValidationError
from kiln.services.hosting.cold_start import (
    GAP_SECONDS,
    ColdStarts,
    HoldVerdict,
    hold_seconds,
    hold_verdict,
    refusal_message,
    scaled_to_zero_status,
    should_signal_demand,
)
from kiln.services.hosting.shapes import VariantNumbers


@pytest.mark.parametrize(
    ("has_healthy", "held", "queue_size", "verdict"),
    [
        (True, 0, 100, HoldVerdict.REFUSE),  # healthy replicas refused it: nothing to wait for
        (False, 0, 100, HoldVerdict.HOLD),
        (False, 99, 100, HoldVerdict.HOLD),  # the 100th fits
        (False, 100, 100, HoldVerdict.QUEUE_FULL),
        (False, 0, 0, HoldVerdict.QUEUE_FULL),  # KILN_COLD_START_QUEUE=0: never hold
    ],
)
def test_hold_verdict(has_healthy: bool, held: int, queue_size: int, verdict: HoldVerdict) -> None:
    assert hold_verdict(has_healthy, held, queue_size) is verdict


@pytest.mark.parametrize(
    ("is_scaled_to_zero", "timeout", "seconds"),
    [
        (True, 30.0, 30.0),  # a start from zero: the whole timeout
        (False, 30.0, GAP_SECONDS),  # a crash or restart: briefly
        (False, 1.0, 1.0),  # never past the timeout
    ],
)
def test_hold_seconds(is_scaled_to_zero: bool, timeout: float, seconds: float) -> None:
    assert hold_seconds(is_scaled_to_zero, timeout) == seconds


@pytest.mark.parametrize(
    ("is_scaled_to_zero", "is_signalled", "signal"),
    [(True, False, True), (True, True, False), (False, False, False), (False, True, False)],
)
def test_demand_is_signalled_once_and_only_from_zero(
    is_scaled_to_zero: bool, is_signalled: bool, signal: bool
) -> None:
    assert should_signal_demand(is_scaled_to_zero, is_signalled) is signal


@pytest.mark.parametrize(
    ("desired", "current", "status"),
    [(0, 0, "ActivatingTraffic"), (0, 2, "Updating"), (1, 0, None), (2, 2, None)],
)
def test_only_a_variant_asked_for_zero_instances_has_a_zero_status(
    desired: int, current: int, status: str | None
) -> None:
    answer = scaled_to_zero_status(VariantNumbers(1.0, 1.0, desired, current), 5.0)
    statuses = [s["Status"] for s in answer.get("VariantStatus", [])]
    assert statuses == ([] if status is None else [status])


def test_the_timeout_message_names_the_setting() -> None:
    message = refusal_message("e", "A", HoldVerdict.REFUSE, True, 100, 30.2)
    assert message == (
        "Variant A of endpoint e is scaled to zero and its instance did not start within 30 s "
        "(KILN_COLD_START_TIMEOUT_SECONDS)."
    )


class Counts:
    """The hosting service's counts: refuses ``busy`` times (an update under way), then sets."""

    def __init__(self, count: int, busy: int = 0) -> None:
        self.count, self.busy = count, busy
        self.asked: list[int] = []
        self.done = threading.Event()

    def desired_count(self, endpoint: str, variant: str) -> int | None:
        return self.count

    def set_instance_count(self, endpoint: str, variant: str, count: int) -> None:
        if self.busy:
            self.busy -= 1
            raise ValidationError("Cannot update endpoint 'e': its status is Updating")
        self.asked.append(count)
        self.count = count
        self.done.set()


def test_demand_while_the_endpoint_updates_is_met_once_it_is_in_service() -> None:
    counts = Counts(0, busy=3)
    ColdStarts(counts, timeout=10).demand("e", "A")
    assert counts.done.wait(5)
    assert counts.asked == [1]


def test_demand_for_a_variant_no_longer_at_zero_changes_nothing() -> None:
    counts = Counts(3)
    ColdStarts(counts, timeout=10)._meet("e", "A")  # what demand() runs, on this thread
    assert counts.asked == []

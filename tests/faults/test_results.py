"""The suite's own arithmetic: which failures count, and the summary line."""

from __future__ import annotations

from collections import Counter

import pytest

from .load import Sent, tally
from .results import Check, FaultResult, Outcome, Requests, is_clean, summary_line


@pytest.mark.parametrize(
    ("started", "ended", "outcome", "failed", "while_down"),
    [
        (1.0, 1.1, "200", 0, 0),  # right answers never count
        (1.0, 1.1, "503 ServiceUnavailable", 1, 0),  # before the window: Kiln's failure
        (4.0, 6.0, "connection error: ConnectionRefusedError", 0, 1),  # inside the window
        (2.5, 5.5, "503 ServiceUnavailable", 0, 1),  # began before, ended inside: overlaps
        (9.0, 9.2, "424 ModelError", 1, 0),  # after the server served again
    ],
)
def test_tally_counts_failures_overlapping_the_downtime_apart(
    started: float, ended: float, outcome: str, failed: int, while_down: int
) -> None:
    found = tally([Sent(started, ended, outcome)], [(3.0, 8.0)])
    assert (found.failed, found.while_down) == (failed, while_down)


def test_summary_line_sums_the_faults_that_ran() -> None:
    stuck = Check("job ends", ok=False, counts="stuck")
    lost = Check("model stored", ok=False, counts="lost")
    requests = Requests(10, 7, 2, 1, Counter(), 0.1)
    results = [
        FaultResult("a", Outcome([stuck, lost, lost], requests), 1.0),
        FaultResult("b", Outcome([Check("ok", ok=True)]), 1.0),
        FaultResult("c", Outcome(skipped="no tmpfs"), 0.0),
    ]
    assert summary_line(results) == "2 faults, 1 stuck, 2 lost, 2 failed requests"
    assert not is_clean(results)


def test_a_failed_check_of_no_kind_fails_the_fault_but_counts_nowhere() -> None:
    outcome = Outcome([Check("the reason names the limit", ok=False)])
    assert (outcome.stuck, outcome.lost, outcome.failed_requests) == (0, 0, 0)
    assert not outcome.is_clean

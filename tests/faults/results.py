"""What a fault found: the items it checked, and the three figures the suite promises.

- **stuck**: a training job or endpoint that did not reach an end (Completed, Failed, Stopped;
  InService, Failed) within the bound after the fault and the recovery;
- **lost**: an object, a model or a job's model that existed (or that a job reaching Uploading
  or Completed produced) and is missing afterwards;
- **failed requests**: invocations that got anything but a correct 200 (5xx, 4xx, a wrong
  answer, a connection error) while Kiln promises continuity. Requests that fail while the
  server itself is down (kill -9 until it serves again) are counted apart, never as failed.

A failed check that is none of those (a FailureReason that does not name the cause, a process
left running, a server that would not restart) fails its fault too, counted as a failed check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Counts = Literal["stuck", "lost"]


@dataclass(frozen=True)
class Check:
    """One checked item: what was expected, whether it held, and what was seen."""

    what: str
    ok: bool
    observed: str = ""
    counts: Counts | None = None


@dataclass(frozen=True)
class Requests:
    """Invocations sent while a fault ran, by outcome."""

    sent: int
    ok: int
    failed: int
    while_down: int
    outcomes: Counter[str]
    slowest_s: float

    def line(self) -> str:
        """One line for the report."""
        bad = ", ".join(f"{n}× {what}" for what, n in self.outcomes.most_common() if what != "200")
        text = f"{self.sent} sent, {self.ok} ok, {self.failed} failed"
        if self.while_down:
            text += (
                f", {self.while_down} while the server was down"
                " (kill -9 until it served again; not counted as failed)"
            )
        text += f"; slowest {self.slowest_s:.2f} s"
        return text + (f" [{bad}]" if bad else "")


@dataclass
class Outcome:
    """What a fault function returns."""

    checks: list[Check] = field(default_factory=list)
    requests: Requests | None = None
    skipped: str | None = None
    notes: list[tuple[int, str]] = field(default_factory=list)  # (checks before it, text)

    @property
    def stuck(self) -> int:
        """Failed checks that count as stuck."""
        return sum(1 for c in self.checks if not c.ok and c.counts == "stuck")

    @property
    def lost(self) -> int:
        """Failed checks that count as lost."""
        return sum(1 for c in self.checks if not c.ok and c.counts == "lost")

    @property
    def failed_requests(self) -> int:
        """Invocations that failed outside the server's downtime."""
        return 0 if self.requests is None else self.requests.failed

    @property
    def failed_checks(self) -> list[Check]:
        """Failed checks that are neither stuck nor lost."""
        return [c for c in self.checks if not c.ok and c.counts is None]

    @property
    def is_clean(self) -> bool:
        """Nothing stuck, lost or failed."""
        return not (self.stuck or self.lost or self.failed_requests or self.failed_checks)


@dataclass(frozen=True)
class FaultResult:
    """A fault's outcome, named and timed."""

    name: str
    outcome: Outcome
    seconds: float


def summary_line(results: Sequence[FaultResult]) -> str:
    """``N faults, S stuck, L lost, F failed requests`` over the faults that ran."""
    ran = [r for r in results if r.outcome.skipped is None]
    stuck = sum(r.outcome.stuck for r in ran)
    lost = sum(r.outcome.lost for r in ran)
    failed = sum(r.outcome.failed_requests for r in ran)
    return f"{len(ran)} faults, {stuck} stuck, {lost} lost, {failed} failed requests"


def notes(results: Sequence[FaultResult]) -> list[str]:
    """Lines beside the summary: skipped faults, other failed checks, downtime requests."""
    lines = [f"skipped {r.name}: {r.outcome.skipped}" for r in results if r.outcome.skipped]
    other = sum(len(r.outcome.failed_checks) for r in results)
    if other:
        names = ", ".join(r.name for r in results if r.outcome.failed_checks)
        lines.append(f"{other} other check(s) failed ({names})")
    down = sum(r.outcome.requests.while_down for r in results if r.outcome.requests)
    if down:
        lines.append(
            f"{down} request(s) failed while the server itself was down: "
            "expected of kill -9, not counted as failed requests"
        )
    return lines


def is_clean(results: Sequence[FaultResult]) -> bool:
    """Whether every fault that ran came out clean."""
    return all(r.outcome.is_clean for r in results if r.outcome.skipped is None)

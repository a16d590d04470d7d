"""Captured answers joined with ground-truth labels by inference id, as Model Monitor merges them.

Rules (and why):
- A label fed back twice for one id: the later one wins (files are read in time order), so a
  corrected label replaces the first; the replaced ones are counted.
- An id captured twice (a caller reusing its InferenceId): each capture is joined with the
  label, as the merge job's join does; the repeats are counted.
- A capture with no label is not scored (``unlabelled``); a label whose id was never captured in
  the window is not scored either (``unknown_ids``) — its inference may lie in another window.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.services.monitoring.model_quality.records import (
    Body,
    CapturedAnswer,
    CaptureRead,
    FedBackLabel,
    LabelRead,
)


@dataclass(frozen=True)
class JoinCounts:
    """What the merge of one window found, record by record."""

    captured: int = 0
    labels: int = 0
    matched: int = 0
    malformed_lines: int = 0
    without_output: int = 0
    without_id: int = 0
    keyed_by_event_id: int = 0
    unlabelled: int = 0
    unknown_ids: int = 0
    duplicate_labels: int = 0
    duplicate_captures: int = 0
    unreadable: int = 0

    def to_document(self) -> dict[str, int]:
        """Return the counts as a JSON object (Kiln's own; SageMaker writes none)."""
        return {
            "captured": self.captured,
            "labels": self.labels,
            "matched": self.matched,
            "malformed_lines": self.malformed_lines,
            "without_output": self.without_output,
            "without_id": self.without_id,
            "keyed_by_event_id": self.keyed_by_event_id,
            "unlabelled": self.unlabelled,
            "unknown_ids": self.unknown_ids,
            "duplicate_labels": self.duplicate_labels,
            "duplicate_captures": self.duplicate_captures,
            "unreadable": self.unreadable,
        }


@dataclass(frozen=True)
class Pair:
    """One captured answer and the label fed back for it."""

    answer: Body
    label: Body


@dataclass(frozen=True)
class Joined:
    """The pairs to score and the counts of everything that was not one."""

    pairs: tuple[Pair, ...]
    counts: JoinCounts


def join(captures: CaptureRead, labels: LabelRead) -> Joined:
    """Pair each captured answer with the label for its id."""
    latest = _latest_labels(labels.labels)
    captured_keys = {a.key for a in captures.answers}
    pairs = tuple(Pair(a.body, latest[a.key].body) for a in captures.answers if a.key in latest)
    counts = JoinCounts(
        captured=len(captures.answers),
        labels=len(labels.labels),
        matched=len(pairs),
        malformed_lines=captures.malformed_lines + labels.malformed_lines,
        without_output=captures.without_output,
        without_id=captures.without_id,
        keyed_by_event_id=sum(a.by_event_id for a in captures.answers),
        unlabelled=sum(a.key not in latest for a in captures.answers),
        unknown_ids=sum(key not in captured_keys for key in latest),
        duplicate_labels=len(labels.labels) - len(latest),
        duplicate_captures=_repeats(captures.answers),
    )
    return Joined(pairs, counts)


def _latest_labels(labels: tuple[FedBackLabel, ...]) -> dict[str, FedBackLabel]:
    return {label.key: label for label in labels}


def _repeats(answers: tuple[CapturedAnswer, ...]) -> int:
    return len(answers) - len({a.key for a in answers})

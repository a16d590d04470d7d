"""What a ground-truth feedback request did: accepted records, and each rejected one with why.

Apart from :mod:`kiln.services.monitoring.feedback` so that the SDK reads answers without
importing the database layer (about a second off ``import kiln.sdk``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rejection:
    """A record not accepted, and why."""

    inference_id: str
    reason: str


@dataclass(frozen=True)
class FeedbackResult:
    """What a feedback request did."""

    accepted: int
    rejected: tuple[Rejection, ...]
    location: str | None
    """The S3 file the accepted labels went to (None when none were)."""

    def to_document(self) -> dict[str, Any]:
        """The answer's JSON document."""
        document: dict[str, Any] = {
            "Accepted": self.accepted,
            "Rejected": [
                {"InferenceId": r.inference_id, "Reason": r.reason} for r in self.rejected
            ],
        }
        if self.location is not None:
            document["GroundTruthS3Uri"] = self.location
        return document

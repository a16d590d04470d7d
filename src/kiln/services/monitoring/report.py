"""The A/B report of an endpoint: per-variant traffic and quality, and the tests between them.

Its JSON (``GET /kiln/v1/endpoints/{name}/report``, the SDK, the web UI later)::

    {"EndpointName", "StartTime", "EndTime" (epoch s), "ProblemType": "classification" |
     "regression" | null, "Variants": [{"VariantName", "IsShadow", "Invocations",
     "TrafficShare", "LatencyP50Ms", "LatencyP95Ms", "LatencyP99Ms", "ClientErrorRate",
     "ServerErrorRate", "ModelErrorRate", "Labelled", "Accuracy", "Rmse"}],
     "Comparisons": [{"Baseline", "Challenger", "Metric", "Test", "PValue", "SamplesNeeded",
     "Verdict"}], "Verdict"}

Numbers a window has no data for are null.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class ProblemType(Enum):
    """What the ground truth says the model does."""

    CLASSIFICATION = "classification"
    """Labels are classes: the report measures accuracy."""
    REGRESSION = "regression"
    """Labels are quantities: the report measures RMSE."""


@dataclass(frozen=True)
class VariantReport:
    """One variant over the report's window."""

    variant: str
    is_shadow: bool
    invocations: int
    traffic_share: float | None
    """Of the production variants' invocations (a shadow's: the share mirrored to it)."""
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    client_error_rate: float | None
    server_error_rate: float | None
    model_error_rate: float | None
    labelled: int
    """Predictions with ground truth (and a readable answer)."""
    accuracy: float | None
    rmse: float | None


@dataclass(frozen=True)
class Comparison:
    """A challenger tested against the baseline variant."""

    baseline: str
    challenger: str
    metric: str
    """``accuracy`` or ``rmse``."""
    test: str | None
    p_value: float | None
    samples_needed: int | None
    """More labelled requests per variant before the observed effect would be found (80 %)."""
    verdict: str


@dataclass(frozen=True)
class AbReport:
    """Everything ``kiln endpoints compare`` shows."""

    endpoint: str
    start: float
    end: float
    problem_type: ProblemType | None
    variants: tuple[VariantReport, ...]
    comparisons: tuple[Comparison, ...]
    verdict: str

    def to_document(self) -> dict[str, Any]:
        """The report as its JSON document."""
        return {
            "EndpointName": self.endpoint,
            "StartTime": self.start,
            "EndTime": self.end,
            "ProblemType": None if self.problem_type is None else self.problem_type.value,
            "Variants": [_variant_document(v) for v in self.variants],
            "Comparisons": [_comparison_document(c) for c in self.comparisons],
            "Verdict": self.verdict,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> AbReport:
        """The report a JSON document describes."""
        problem = document.get("ProblemType")
        return cls(
            endpoint=document["EndpointName"],
            start=document["StartTime"],
            end=document["EndTime"],
            problem_type=None if problem is None else ProblemType(problem),
            variants=tuple(
                VariantReport(**{name: v[key] for name, key in _VARIANT_KEYS.items()})
                for v in document["Variants"]
            ),
            comparisons=tuple(
                Comparison(**{name: c[key] for name, key in _COMPARISON_KEYS.items()})
                for c in document["Comparisons"]
            ),
            verdict=document["Verdict"],
        )


_VARIANT_KEYS = {
    "variant": "VariantName", "is_shadow": "IsShadow", "invocations": "Invocations",
    "traffic_share": "TrafficShare", "latency_p50_ms": "LatencyP50Ms",
    "latency_p95_ms": "LatencyP95Ms", "latency_p99_ms": "LatencyP99Ms",
    "client_error_rate": "ClientErrorRate", "server_error_rate": "ServerErrorRate",
    "model_error_rate": "ModelErrorRate", "labelled": "Labelled", "accuracy": "Accuracy",
    "rmse": "Rmse",
}  # fmt: skip
_COMPARISON_KEYS = {
    "baseline": "Baseline", "challenger": "Challenger", "metric": "Metric", "test": "Test",
    "p_value": "PValue", "samples_needed": "SamplesNeeded", "verdict": "Verdict",
}  # fmt: skip


def _variant_document(variant: VariantReport) -> dict[str, Any]:
    return {key: getattr(variant, name) for name, key in _VARIANT_KEYS.items()}


def _comparison_document(comparison: Comparison) -> dict[str, Any]:
    return {key: getattr(comparison, name) for name, key in _COMPARISON_KEYS.items()}

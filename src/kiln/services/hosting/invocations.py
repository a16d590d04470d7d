"""What the data plane tells the rest of Kiln about each invocation it served.

One ``InvocationRecord`` per invocation (and one per shadow copy) goes to every
``InvocationObserver`` the server wires in: the metrics store counts it, data capture writes it
when it was sampled, the inference log keeps what feedback needs. Observers run on the event
loop right after the answer is sent, so each must only note the record and return (a counter,
a bounded queue); anything slow happens on their own thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Outcome(Enum):
    """How an invocation ended, as SageMaker's metrics tell them apart."""

    ANSWERED = "answered"
    """The model answered 2xx."""
    MODEL_ERROR = "model_error"
    """The model answered non-2xx (``model_status`` says which): 424 ModelError to the client."""
    MODEL_FAILURE = "model_failure"
    """No answer: timed out or the connection broke mid-request (``model_status`` is 0)."""
    UNAVAILABLE = "unavailable"
    """No replica could take it: 503 ServiceUnavailable (the model never saw it)."""


@dataclass(frozen=True)
class CaptureConfig:
    """An endpoint's ``DataCaptureConfig``, validated (SageMaker's names at the edge)."""

    sampling_percentage: int
    """``InitialSamplingPercentage``, 0–100."""
    destination: str
    """``DestinationS3Uri`` (``s3://…``)."""
    capture_input: bool
    capture_output: bool
    csv_content_types: frozenset[str]
    """``CaptureContentTypeHeader.CsvContentTypes``: recorded with encoding CSV."""
    json_content_types: frozenset[str]
    """``CaptureContentTypeHeader.JsonContentTypes``: recorded with encoding JSON."""


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """One invocation as the data plane served it."""

    endpoint: str
    variant: str
    is_shadow: bool
    """A mirrored copy sent to a shadow variant; its answer never reached the client."""
    replica: str | None
    """The replica that served it (None when none could)."""
    event_id: str
    """A fresh id per captured invocation (capture's ``eventMetadata.eventId``); "" when the
    invocation was not sampled for capture."""
    inference_id: str | None
    """``InvokeEndpoint``'s ``InferenceId`` (header ``X-Amzn-SageMaker-Inference-Id``)."""
    arrived_at: float
    """Epoch seconds when the request arrived."""
    outcome: Outcome
    model_status: int
    """The replica's HTTP status; 0 when it gave none."""
    model_latency_us: int
    """SageMaker's ``ModelLatency``: from sending to the replica to its whole answer; 0 if none."""
    overhead_latency_us: int
    """SageMaker's ``OverheadLatency``: the rest of the time Kiln held the request."""
    request_body: bytes
    request_content_type: str
    request_accept: str | None
    response_body: bytes
    response_content_type: str | None
    capture: CaptureConfig | None
    """Set when this invocation was sampled for data capture (the endpoint's config then)."""


class InvocationObserver(Protocol):
    """Something that learns of every invocation (metrics, capture, the inference log)."""

    def observe(self, record: InvocationRecord) -> None:
        """Note ``record``; called on the event loop, so never block or raise."""

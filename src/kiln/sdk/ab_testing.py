"""A/B testing from Python: send ground truth for past predictions, and compare variants.

from kiln import compare_variants, send_ground_truth
runtime.invoke_endpoint(EndpointName="churn", Body=row, InferenceId="req-17", …)
send_ground_truth("churn", {"req-17": 1, "req-18": 0})
print(compare_variants("churn").verdict)   # "B is more accurate than A (p = 0.003)"
"""

from __future__ import annotations

import urllib.error
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kiln.sdk.session import Session, client_error
from kiln.sdk.signing import call_native
from kiln.services.monitoring.feedback_result import FeedbackResult, Rejection
from kiln.services.monitoring.report import AbReport

if TYPE_CHECKING:
    from kiln.db.inferences import Label


def send_ground_truth(
    endpoint: str, labels: Mapping[str, Label | int], session: Session | None = None
) -> FeedbackResult:
    """Send the true outcome of each InferenceId (id → label or number); what was accepted.

    Up to 1000 per call. Unknown ids are rejected one by one (``FeedbackResult.rejected``).
    """
    records = [{"InferenceId": i, "GroundTruth": label} for i, label in labels.items()]
    answer = _call(session, "POST", endpoint, "feedback", {"Records": records}, "PutGroundTruth")
    return FeedbackResult(
        accepted=int(answer["Accepted"]),
        rejected=tuple(Rejection(r["InferenceId"], r["Reason"]) for r in answer["Rejected"]),
        location=answer.get("GroundTruthS3Uri"),
    )


def compare_variants(endpoint: str, hours: float = 24, session: Session | None = None) -> AbReport:
    """The A/B report of ``endpoint`` over the last ``hours``: per variant, tests, a verdict."""
    answer = _call(session, "GET", endpoint, f"report?hours={hours:g}", None, "GetAbReport")
    return AbReport.from_document(answer)


def _call(
    session: Session | None,
    method: str,
    endpoint: str,
    tail: str,
    document: dict[str, object] | None,
    operation: str,
) -> Any:
    settings = (session or Session()).settings
    path = f"/kiln/v1/endpoints/{quote(endpoint, safe='')}/{tail}"
    try:
        return call_native(settings, method, path, document)
    except urllib.error.HTTPError as e:
        raise client_error(e, operation) from None

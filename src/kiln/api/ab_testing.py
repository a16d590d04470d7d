"""Native A/B testing paths: ground-truth feedback and the A/B report (``kiln endpoints compare``).

    POST /kiln/v1/endpoints/{name}/feedback
         {"Records": [{"InferenceId": "…", "GroundTruth": "cat" | 1 | 0.37}, …]}   (1–1000)
         → 200 {"Accepted": n, "Rejected": [{"InferenceId", "Reason"}],
                "GroundTruthS3Uri": "s3://…/<name>/yyyy/mm/dd/hh/….jsonl" (when any accepted)}
    GET  /kiln/v1/endpoints/{name}/report?hours=24
         → 200 the report (``services/monitoring/report.py`` documents its fields)

Errors in AWS's JSON shape: 404 ``ResourceNotFound`` (no such endpoint), 400
``ValidationException`` (a malformed batch: nothing of it is written), 400 ``ConflictException``
(a concurrent request labelled the same ids), 503 ``ServiceUnavailable``. The gate authorises
feedback as ``sagemaker:PutGroundTruth`` and the report as ``sagemaker:DescribeEndpoint``.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kiln.api.json_protocol import BadRequest, native_answers, read_limited
from kiln.errors import ConflictError, ResourceNotFoundError, ValidationError
from kiln.services.monitoring.ab_reports import DEFAULT_HOURS, AbReports
from kiln.services.monitoring.feedback import FeedbackService

_STATUS = (
    (ResourceNotFoundError, 404, "ResourceNotFound"),
    (ConflictError, 400, "ConflictException"),
)  # other Kiln errors: 400 ValidationException; a full disk: 503 (native_answers)


def ab_testing_routes(feedback: FeedbackService, reports: AbReports) -> list[Route]:
    """The feedback and report routes over the two services."""

    async def put_feedback(request: Request) -> Response:
        name = request.path_params["name"]
        raw = await read_limited(request)
        try:
            document = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError as e:
            message = f"Body is not valid JSON: {e}"
            raise BadRequest(400, "SerializationException", message) from None
        result = await asyncio.to_thread(feedback.put_feedback, name, document)
        return JSONResponse(result.to_document())

    async def report(request: Request) -> Response:
        text = request.query_params.get("hours", str(DEFAULT_HOURS))
        try:
            hours = float(text)
        except ValueError:
            raise ValidationError(f"hours must be a number, not {text!r}") from None
        answer = await asyncio.to_thread(reports.report, request.path_params["name"], hours)
        return JSONResponse(answer.to_document())

    return [
        Route(
            "/kiln/v1/endpoints/{name}/feedback",
            native_answers(put_feedback, _STATUS),
            methods=["POST"],
        ),
        Route("/kiln/v1/endpoints/{name}/report", native_answers(report, _STATUS), methods=["GET"]),
    ]

"""Native timeline path: an endpoint's traffic and drift over time, shaped for a chart.

    GET /kiln/v1/endpoints/{name}/timeline?start=&end=&period=
        start, end   epoch seconds or ISO 8601 (default: the last hour)
        period       seconds or 5m, 1h, … (a multiple of 60; default: at most 60 points)
        → 200 the timeline (``services/monitoring/timeline/points.py`` documents its JSON)

Errors in AWS's JSON shape: 404 ``ResourceNotFound`` (no such endpoint), 400
``ValidationException`` (a malformed or impossible range, quoting it). The gate authorises it as
``cloudwatch:GetMetricData``: every number in it is a CloudWatch metric, readable that way too.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kiln.api.json_protocol import native_answers
from kiln.errors import ResourceNotFoundError
from kiln.services.monitoring.timeline.reader import Timelines
from kiln.services.monitoring.timeline.window import parse_duration, parse_time

_STATUS = ((ResourceNotFoundError, 404, "ResourceNotFound"),)


def timeline_routes(timelines: Timelines) -> list[Route]:
    """The timeline route over the service."""

    async def timeline(request: Request) -> Response:
        query = request.query_params
        start, end, period = query.get("start"), query.get("end"), query.get("period")
        answer = await asyncio.to_thread(
            timelines.timeline,
            request.path_params["name"],
            None if start is None else parse_time(start, "start"),
            None if end is None else parse_time(end, "end"),
            None if period is None else parse_duration(period, "period"),
        )
        return JSONResponse(answer.to_document())

    return [
        Route(
            "/kiln/v1/endpoints/{name}/timeline",
            native_answers(timeline, _STATUS),
            methods=["GET"],
        )
    ]

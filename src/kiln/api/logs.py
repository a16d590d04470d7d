"""Kiln's native log endpoint: a training job's log as plain text, from the log store.

GET /kiln/v1/training-jobs/{name}/logs?offset=N&follow=true
200  text/plain: every host's lines merged by time (``[algo-N] `` before each when the job has
     more than one host), from byte ``offset`` of that text; with ``follow``, streamed until the
     job has ended and its streams are read to the end. The same events CloudWatch Logs'
     GetLogEvents serves from ``/aws/sagemaker/TrainingJobs``.
400  {"__type": "ValidationException", "message": "Requested resource not found."}

``offset`` counts bytes of this merged text: exact for one host and for ended jobs; while hosts
of a multi-host job write at once, a reconnect may see their lines in a different order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from kiln.api.errors import error_body
from kiln.services.logs import LogStore
from kiln.services.logs.following import JobLogCursor

_TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class JobProgress:
    """What the log endpoint needs to know of a job."""

    status: str
    instance_count: int


class TrainingLogs:
    """Serves a job's log streams, optionally following them."""

    def __init__(
        self,
        store: LogStore,
        job_progress: Callable[[str], JobProgress | None],
        poll_seconds: float = 0.2,
    ) -> None:
        self._store = store
        self._job_progress = job_progress
        self._poll_seconds = poll_seconds

    async def handle(self, request: Request) -> Response:
        """Answer one log request."""
        name = request.path_params["name"]
        progress = self._job_progress(name)
        if progress is None:
            return JSONResponse(
                error_body("ValidationException", "Requested resource not found."), 400
            )
        try:
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            offset_text = request.query_params.get("offset")
            return JSONResponse(
                error_body("ValidationException", f"offset must be a number, not {offset_text!r}"),
                400,
            )
        follow = request.query_params.get("follow", "false").lower() in ("1", "true", "yes")
        cursor = JobLogCursor(self._store, name, is_multi_host=progress.instance_count > 1)
        return StreamingResponse(
            self._stream(name, cursor, offset, follow), media_type="text/plain"
        )

    async def _stream(
        self, name: str, cursor: JobLogCursor, skip: int, follow: bool
    ) -> AsyncIterator[bytes]:
        while True:
            progress = self._job_progress(name)
            finished = progress is None or progress.status in _TERMINAL
            chunk = (await asyncio.to_thread(cursor.read_new)).encode()
            if skip:
                chunk, skip = chunk[skip:], max(0, skip - len(chunk))
            if chunk:
                yield chunk
            if not follow or finished:
                return
            await asyncio.sleep(self._poll_seconds)

"""Kiln's native log endpoint (until a CloudWatch-Logs-compatible API lands).

GET /kiln/v1/training-jobs/{name}/logs?offset=N&follow=true
200  text/plain: the job's log from byte ``offset``; with ``follow``, streamed until the job
     has ended and its log is read to the end
400  {"__type": "ValidationException", "message": "Requested resource not found."}
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from kiln.api.errors import error_body

_CHUNK = 64 * 1024


class TrainingLogs:
    """Serves a job's log file, optionally following it."""

    def __init__(
        self, logs_dir: Path, job_state: Callable[[str], str | None], poll_seconds: float = 0.2
    ) -> None:
        self._logs_dir = logs_dir
        self._job_state = job_state
        self._poll_seconds = poll_seconds

    async def handle(self, request: Request) -> Response:
        """Answer one log request."""
        name = request.path_params["name"]
        if self._job_state(name) is None:
            return JSONResponse(
                error_body("ValidationException", "Requested resource not found."), 400
            )
        try:
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            return JSONResponse(error_body("ValidationException", "offset must be a number"), 400)
        follow = request.query_params.get("follow", "false").lower() in ("1", "true", "yes")
        path = self._logs_dir / "training" / f"{name}.log"
        return StreamingResponse(self._stream(name, path, offset, follow), media_type="text/plain")

    async def _stream(
        self, name: str, path: Path, offset: int, follow: bool
    ) -> AsyncIterator[bytes]:
        while True:
            finished = self._job_state(name) in ("Completed", "Failed", "Stopped")
            chunk = await asyncio.to_thread(_read_from, path, offset)
            while chunk:
                offset += len(chunk)
                yield chunk
                chunk = await asyncio.to_thread(_read_from, path, offset)
            if not follow or finished:
                return
            await asyncio.sleep(self._poll_seconds)


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(_CHUNK)
    except FileNotFoundError:
        return b""

"""Native routes' errors: AWS's JSON error shape for every kind, a 503 for a full disk."""

from __future__ import annotations

import asyncio
import errno

import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response

from kiln.api.json_protocol import BadRequest, native_answers
from kiln.errors import ConflictError, ValidationError


def _answer(error: Exception) -> tuple[int, dict[str, str]]:
    async def handler(_request: Request) -> Response:
        raise error

    route = native_answers(handler, [(ConflictError, 409, "ConflictException")])
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    response = asyncio.run(route(request))
    return response.status_code, orjson.loads(bytes(response.body))


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (BadRequest(400, "SerializationException", "bad"), 400, "SerializationException"),
        (ConflictError("taken"), 409, "ConflictException"),
        (ValidationError("wrong"), 400, "ValidationException"),
        (OSError(errno.ENOSPC, "No space left on device"), 503, "ServiceUnavailable"),
    ],
)
def test_each_error_kind_answers_its_status_and_code(
    error: Exception, status: int, code: str
) -> None:
    assert _answer(error)[0] == status
    assert _answer(error)[1]["__type"] == code


def test_a_full_disk_says_to_try_again_later() -> None:
    _, body = _answer(OSError(errno.ENOSPC, "No space left on device"))
    assert "try again" in body["message"]


def test_an_unexpected_error_is_not_swallowed() -> None:
    with pytest.raises(RuntimeError):
        _answer(RuntimeError("bug"))

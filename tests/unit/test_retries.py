"""Which storage failures are worth a whole new attempt, and the waits between attempts."""

from __future__ import annotations

import errno
import itertools

import pytest
from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from kiln.retries import backoff, is_transient

URL = "http://127.0.0.1:9000"


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "UploadPart")


def _head_error(status: int) -> ClientError:
    response = {"Error": {"Code": str(status)}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "HeadObject")  # type: ignore[arg-type]


def _upload_failed(code: str) -> S3UploadFailedError:
    """As boto3 raises it: inside the handler of the ClientError, without ``from``."""
    try:
        raise _client_error(code)
    except ClientError as e:
        try:
            raise S3UploadFailedError(f"Failed to upload: {e}")
        except S3UploadFailedError as failed:
            return failed


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (EndpointConnectionError(endpoint_url=URL), True),  # refused: the store is restarting
        (ConnectionClosedError(endpoint_url=URL), True),  # killed mid-response
        (ReadTimeoutError(endpoint_url=URL), True),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True),
        (RetriesExceededError(ConnectionResetError()), True),  # a download's stream, 5 times
        (_client_error("NoSuchUpload"), True),  # the new rclone forgot the multipart upload
        (_upload_failed("NoSuchUpload"), True),
        (_client_error("ServiceUnavailable"), True),  # the S3 front, its store restarting
        (_upload_failed("ServiceUnavailable"), True),
        (_client_error("SlowDown"), True),
        (_head_error(503), True),  # a HEAD's answer has no body: only its status says why
        (_head_error(403), False),
        (_upload_failed("AccessDenied"), False),
        (_client_error("InternalError"), False),
        (_client_error("NoSuchKey"), False),
        (_client_error("AccessDenied"), False),
        (OSError(errno.ENOSPC, "No space left on device"), False),  # a full disk stays full
        (ValueError("bad"), False),
    ],
)
def test_is_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_backoff_doubles_up_to_its_cap() -> None:
    assert list(itertools.islice(backoff(0.2, 2.0, 1.0), 5)) == [0.2, 0.4, 0.8, 1.0, 1.0]

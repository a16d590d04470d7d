"""When a storage call is worth making again, and how long to wait before it.

boto3 already retries single requests (``mode="standard"``: connection errors, 5xx, throttling).
That is not enough while the embedded store restarts (rclone killed: about a second without a
listener): every attempt of a part can find the port closed, and the new rclone has forgotten
the multipart uploads the old one held (``NoSuchUpload``). Those failures are *transient*: the
whole call — a listing page, a download, an upload from its first part — is made again after a
growing delay (``backoff``), for a bounded time. Everything else (no such key, access denied, a
full disk) fails at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError


def backoff(first: float = 0.2, factor: float = 2.0, cap: float = 5.0) -> Iterator[float]:
    """Delays in seconds: ``first``, then each ``factor`` times the last, at most ``cap``."""
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * factor)


def is_transient(error: BaseException) -> bool:
    """Whether a storage call that raised ``error`` may succeed if made again from the start."""
    if isinstance(error, BotoConnectionError | HTTPClientError | ConnectionError):
        return True  # refused, reset, closed mid-response, timed out
    if isinstance(error, RetriesExceededError):
        return True  # s3transfer gave up re-reading a download's stream
    if isinstance(error, S3UploadFailedError):
        # boto3 wraps the ClientError without ``from``: the cause is the implicit context.
        return error.__context__ is not None and is_transient(error.__context__)
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in _TRANSIENT_CODES or status == 503  # a HEAD's 503 has no code to read
    return False


# NoSuchUpload: a restarted store forgot a multipart upload. ServiceUnavailable: Kiln's S3 front
# while the store behind it restarts (what a node's host agent, reaching the store through the
# front, sees); SlowDown: any S3's throttling that outlasted boto3's own retries.
_TRANSIENT_CODES = frozenset({"NoSuchUpload", "ServiceUnavailable", "SlowDown"})

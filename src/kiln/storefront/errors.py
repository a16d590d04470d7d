"""S3's error answers: ``<Error><Code>…</Code><Message>…</Message>…</Error>`` with S3's statuses."""

from __future__ import annotations

import secrets
from xml.sax.saxutils import escape

from kiln.auth.errors import AuthError, Refusal

# S3 answers some refusals with another status than the JSON APIs do (AccessDenied is 403 there,
# ExpiredToken 400): https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
_S3_STATUS = {Refusal.DENIED: 403, Refusal.EXPIRED_TOKEN: 400}


def refusal_status(refusal: Refusal) -> int:
    """The HTTP status S3 gives a refusal."""
    return _S3_STATUS.get(refusal, refusal.status)


def error_body(code: str, message: str, resource: str) -> bytes:
    """An S3 error document."""
    request_id = secrets.token_hex(8).upper()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()


def refusal_body(refusal: AuthError, resource: str) -> tuple[int, bytes]:
    """Status and body for a refused request."""
    return refusal_status(refusal.refusal), error_body(
        refusal.refusal.code("s3"), refusal.message, resource
    )

"""Who signed a request to the front, and the signature the request forwarded to rclone carries.

Clients sign for the front with their own keys (checked against the key store as S3 signs:
``sigv4`` with ``s3=True``). The forwarded request is signed anew with the store's back key, over
``host``, ``x-amz-date``, ``x-amz-content-sha256: UNSIGNED-PAYLOAD`` and every other ``x-amz-*``
header it carries (rclone refuses unsigned ones): rclone accepts an unsigned payload, and the
front has checked the body's hash itself. The forwarded target is
written the way rclone rebuilds it for its own check (its ``encodePath`` and Go's
``url.Values.Encode``), so both sides compute one canonical request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from kiln.auth import sigv4
from kiln.auth.errors import AuthError, Refusal
from kiln.auth.keystore import KeyStore
from kiln.auth.principals import Principal
from kiln.config import Credentials
from kiln.storefront.actions import SIGNATURE_PARAMETERS, UnsupportedRequest

_HASH_HEADER = b"x-amz-content-sha256"


@dataclass(frozen=True)
class Caller:
    """An authenticated request: who, and the SHA-256 its body must have (None: unsigned)."""

    principal: Principal
    body_sha256: str | None


def authenticate(request: sigv4.HttpRequest, keys: KeyStore, now: float) -> Caller:
    """Check the request's SigV4 signature (header or presigned) against the key store."""
    if _is_sigv2(request):
        raise UnsupportedRequest(
            "InvalidRequest", 400, "The authorization mechanism you have provided is not "
            "supported. Please use AWS4-HMAC-SHA256.",
        )  # fmt: skip
    claim = sigv4.read_claim(request)
    if claim.service != "s3":
        raise AuthError(
            Refusal.INCOMPLETE,
            f"The authorization header is malformed; incorrect service {claim.service!r}. "
            "This endpoint belongs to 's3'.",
        )
    sigv4.check_time(claim, now)
    principal, secret = keys.signing_secret(claim.access_key_id, claim.security_token, now)
    declared = request.header(_HASH_HEADER)
    if declared is None and claim.presigned_expires is None:
        raise UnsupportedRequest(
            "InvalidRequest", 400, "Missing required header for this request: x-amz-content-sha256"
        )
    sigv4.verify(claim, request, secret, s3=True)
    return Caller(principal, _body_hash(declared))


def _is_sigv2(request: sigv4.HttpRequest) -> bool:
    """Signature version 2 (``AWS key:signature``, ``?AWSAccessKeyId=``), which S3 retired."""
    authorization = request.header(b"authorization") or ""
    return authorization.startswith("AWS ") or b"AWSAccessKeyId=" in request.query_string


def _body_hash(declared: str | None) -> str | None:
    if declared is None or declared == sigv4.UNSIGNED_PAYLOAD:
        return None
    if declared.startswith("STREAMING-"):
        # aws-chunked bodies carry a signature per chunk; botocore sends none over http.
        raise UnsupportedRequest(
            "NotImplemented", 501, f"x-amz-content-sha256: {declared} is not supported by "
            "Kiln's store; sign the whole payload or send UNSIGNED-PAYLOAD",
        )  # fmt: skip
    if len(declared) != 64 or not all(c in "0123456789abcdef" for c in declared.lower()):
        raise UnsupportedRequest(
            "InvalidArgument", 400, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
            f"STREAMING-… or a SHA-256 in hex, not {declared!r}",
        )  # fmt: skip
    return declared.lower()


def forward_target(raw_path: bytes, query: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """Path and query to send on: encoded as rclone re-encodes them, signature fields dropped."""
    path = quote(unquote_to_bytes(raw_path), safe="/") or "/"
    kept = sorted((name, value) for name, value in query if name not in SIGNATURE_PARAMETERS)
    encoded = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in kept)
    return path, encoded


def back_headers(
    method: str,
    path: str,
    query: str,
    forwarded: Sequence[tuple[bytes, bytes]],
    host: str,
    back: Credentials,
    region: str,
    now: float,
) -> list[tuple[bytes, bytes]]:
    """``forwarded`` plus the ``host``, ``x-amz-*`` and ``authorization`` headers rclone checks."""
    timestamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    headers = [
        *forwarded,
        (b"host", host.encode()),
        (_HASH_HEADER, sigv4.UNSIGNED_PAYLOAD.encode()),
        (b"x-amz-date", timestamp.encode()),
    ]
    names = {"host"} | {k.decode().lower() for k, _ in headers if k.lower().startswith(b"x-amz-")}
    signed = tuple(sorted(names))
    claim = sigv4.Claim(back.access_key_id, timestamp[:8], region, "s3", signed, "",
                        timestamp, None, None, now)  # fmt: skip
    request = sigv4.HttpRequest(method, path.encode(), query.encode(), headers)
    signature = sigv4.signature(claim, request, back.secret_access_key, s3=True)
    scope = f"{back.access_key_id}/{claim.day}/{region}/s3/aws4_request"
    authorization = (
        f"{sigv4.ALGORITHM} Credential={scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature}"
    )
    return [*headers, (b"authorization", authorization.encode())]

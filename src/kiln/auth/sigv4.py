"""AWS Signature Version 4, checked as botocore signs: header and presigned-query forms.

The canonical request is rebuilt from what arrived (method, raw path, raw query, the headers the
client says it signed, the payload hash) exactly as ``botocore.auth.SigV4Auth`` builds it, and
the signature is recomputed with the secret the key store holds. Derived signing keys are cached
per (secret, day, region, service): a request costs two SHA-256 and one HMAC, not five HMACs.
S3 differs in two ways, as botocore's ``S3SigV4Auth``: the path is used as sent (no
normalisation, no second encoding), and the payload hash is the ``x-amz-content-sha256`` header.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_tz
from functools import cached_property, lru_cache
from urllib.parse import quote, unquote

from botocore.utils import normalize_url_path

from kiln.auth.errors import BAD_SIGNATURE, MISSING_TOKEN, AuthError, Refusal

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_TIMESTAMP_FORMAT = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


@dataclass
class HttpRequest:
    """What arrived, as the signature covers it (the gate fills ``body`` once it has read it)."""

    method: str
    raw_path: bytes
    query_string: bytes
    headers: Sequence[tuple[bytes, bytes]]
    body: bytes = b""

    @cached_property
    def header_values(self) -> dict[bytes, list[bytes]]:
        """Each header's values by lower-case name, looked up many times per check."""
        found: dict[bytes, list[bytes]] = {}
        for key, value in self.headers:
            found.setdefault(key.lower(), []).append(value)
        return found

    def header(self, name: bytes) -> str | None:
        """The first value of header ``name`` (lower-case), or None."""
        values = self.header_values.get(name)
        return None if values is None else values[0].decode("latin-1")


@dataclass(frozen=True)
class Claim:
    """What a signed request says about itself: who signed, when, for what scope."""

    access_key_id: str
    day: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    security_token: str | None
    presigned_expires: int | None
    epoch: float  # the signing time as a Unix time


def read_claim(request: HttpRequest) -> Claim:
    """Parse the signature's fields; ``IncompleteSignature`` if any is missing or malformed."""
    authorization = request.header(b"authorization")
    if authorization is not None and authorization.startswith(ALGORITHM):
        return _header_claim(request, authorization[len(ALGORITHM) :])
    if b"X-Amz-Signature=" in request.query_string:
        return _query_claim(request)
    raise AuthError(Refusal.MISSING, MISSING_TOKEN)


def check_time(claim: Claim, now: float) -> None:
    """Refuse a signature outside AWS's ±15 minutes, or a presigned URL past its expiry."""
    signed_at = claim.epoch
    if signed_at > now + MAX_SKEW_SECONDS:
        raise AuthError(
            Refusal.BAD_SIGNATURE,
            f"Signature not yet current: {claim.timestamp} is still later than "
            f"{_stamp(now + MAX_SKEW_SECONDS)} ({_stamp(now)} + 15 min.)",
        )
    if claim.presigned_expires is not None:
        if now > signed_at + claim.presigned_expires:
            raise AuthError(
                Refusal.BAD_SIGNATURE,
                f"Signature expired: {claim.timestamp} + {claim.presigned_expires} s "
                f"is earlier than {_stamp(now)}",
            )
    elif signed_at < now - MAX_SKEW_SECONDS:
        raise AuthError(
            Refusal.BAD_SIGNATURE,
            f"Signature expired: {claim.timestamp} is now earlier than "
            f"{_stamp(now - MAX_SKEW_SECONDS)} ({_stamp(now)} - 15 min.)",
        )


def verify(claim: Claim, request: HttpRequest, secret: str, *, s3: bool = False) -> None:
    """Recompute the signature with ``secret``; ``InvalidSignature`` unless it matches."""
    expected = signature(claim, request, secret, s3=s3)
    if not hmac.compare_digest(expected, claim.signature):
        raise AuthError(Refusal.BAD_SIGNATURE, BAD_SIGNATURE)


def signature(claim: Claim, request: HttpRequest, secret: str, *, s3: bool = False) -> str:
    """The signature ``request`` should carry under ``claim``'s scope and ``secret``."""
    canonical = canonical_request(claim, request, s3=s3)
    scope = f"{claim.day}/{claim.region}/{claim.service}/aws4_request"
    string_to_sign = "\n".join(
        (ALGORITHM, claim.timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    key = signing_key(secret, claim.day, claim.region, claim.service)
    return hmac.digest(key, string_to_sign.encode(), "sha256").hex()


def canonical_request(claim: Claim, request: HttpRequest, *, s3: bool = False) -> str:
    """SigV4's canonical request, as botocore composes it."""
    raw_path = request.raw_path.decode("latin-1") or "/"
    path = raw_path if s3 else _normalized_path(raw_path)
    values = request.header_values
    header_lines = [
        f"{name}:{_canonical_value(values.get(name.encode(), []))}" for name in claim.signed_headers
    ]
    return "\n".join(
        (
            request.method.upper(),
            path,
            _canonical_query(request.query_string, presigned=claim.presigned_expires is not None),
            "\n".join(header_lines) + "\n",
            ";".join(claim.signed_headers),
            payload_hash(request, s3=s3),
        )
    )


def payload_hash(request: HttpRequest, *, s3: bool = False) -> str:
    """The payload hash the signature covers: the declared one where given, else the body's."""
    declared = request.header(b"x-amz-content-sha256")
    if declared is not None:
        return declared
    if s3 and b"X-Amz-Signature=" in request.query_string:
        return UNSIGNED_PAYLOAD
    return hashlib.sha256(request.body).hexdigest()


def body_matches_declared_hash(request: HttpRequest) -> bool:
    """False when ``x-amz-content-sha256`` names a hash the body does not have."""
    declared = request.header(b"x-amz-content-sha256")
    if declared is None or len(declared) != 64:
        return True  # absent, UNSIGNED-PAYLOAD or a streaming mode
    return hmac.compare_digest(declared, hashlib.sha256(request.body).hexdigest())


@lru_cache(maxsize=1024)
def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """SigV4's derived key (kDate → kRegion → kService → kSigning), cached."""
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _header_claim(request: HttpRequest, rest: str) -> Claim:
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name] = value
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields]
    if missing:
        raise AuthError(
            Refusal.INCOMPLETE,
            "Authorization header requires " + ", ".join(f"'{m}' parameter" for m in missing)
            + ". Authorization=" + ALGORITHM + rest,
        )  # fmt: skip
    timestamp = request.header(b"x-amz-date") or _from_http_date(request.header(b"date"))
    if timestamp is None:
        raise AuthError(
            Refusal.INCOMPLETE,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    return _claim(
        fields["Credential"],
        fields["SignedHeaders"],
        fields["Signature"],
        timestamp,
        request.header(b"x-amz-security-token"),
        None,
    )


def _query_claim(request: HttpRequest) -> Claim:
    params = {unquote(key): unquote(value) for key, value in _raw_pairs(request.query_string)}
    needed = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders")
    missing = [name for name in needed if name not in params]
    if missing or params.get("X-Amz-Algorithm") != ALGORITHM:
        raise AuthError(
            Refusal.INCOMPLETE,
            "AWS query-string parameters must include " + ", ".join(missing or needed[:1])
            + f" ({ALGORITHM}). Re-examine the query-string parameters.",
        )  # fmt: skip
    expires_text = params.get("X-Amz-Expires", "3600")
    if not expires_text.isdigit() or not 0 < int(expires_text) <= MAX_PRESIGN_SECONDS:
        raise AuthError(
            Refusal.INCOMPLETE,
            f"X-Amz-Expires must be a whole number of seconds up to {MAX_PRESIGN_SECONDS}",
        )
    return _claim(
        params["X-Amz-Credential"],
        params["X-Amz-SignedHeaders"],
        params.get("X-Amz-Signature", ""),
        params["X-Amz-Date"],
        params.get("X-Amz-Security-Token") or request.header(b"x-amz-security-token"),
        int(expires_text),
    )


def _claim(
    credential: str,
    signed_headers: str,
    signature_hex: str,
    timestamp: str,
    token: str | None,
    expires: int | None,
) -> Claim:
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise AuthError(
            Refusal.INCOMPLETE,
            f"Credential should be scoped to a valid region, not '{credential}'. "
            "Expected <key>/<YYYYMMDD>/<region>/<service>/aws4_request.",
        )
    epoch = _epoch(timestamp)
    if scope[1] != timestamp[:8]:
        raise AuthError(
            Refusal.BAD_SIGNATURE,
            f"Credential should be scoped to the date {timestamp[:8]}, not '{scope[1]}'.",
        )
    names = tuple(signed_headers.lower().split(";"))
    if "host" not in names:
        raise AuthError(Refusal.INCOMPLETE, "Signed headers must include 'host'.")
    return Claim(scope[0], scope[1], scope[2], scope[3], names, signature_hex.lower(),
                 timestamp, token, expires, epoch)  # fmt: skip


def _canonical_query(raw: bytes, *, presigned: bool) -> str:
    pairs = [
        (quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~"))
        for key, value in _raw_pairs(raw)
        if not (presigned and unquote(key) == "X-Amz-Signature")
    ]
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _raw_pairs(raw: bytes) -> list[tuple[str, str]]:
    """``key=value`` pairs of a query string, still percent-encoded."""
    if not raw:
        return []
    pairs = []
    for pair in raw.decode("latin-1").split("&"):
        key, _, value = pair.partition("=")
        pairs.append((key, value))
    return pairs


def _canonical_value(values: list[bytes]) -> str:
    # Header bytes as latin-1, as http.client sends botocore's str values; the canonical
    # request is then UTF-8 encoded, as botocore encodes it.
    return ",".join(" ".join(v.decode("latin-1").split()) for v in values)


@lru_cache(maxsize=4096)
def _normalized_path(raw_path: str) -> str:
    """botocore's canonical path: dot segments removed, then percent-encoded once more."""
    return quote(normalize_url_path(raw_path), safe="/~")


def _epoch(timestamp: str) -> float:
    """``20261202T010203Z`` as a Unix time; ``IncompleteSignature`` if it is not that format."""
    found = _TIMESTAMP_FORMAT.fullmatch(timestamp)
    try:
        if found is None:
            raise ValueError(timestamp)
        year, month, day, hour, minute, second = map(int, found.groups())
        datetime.datetime(year, month, day, hour, minute, second)  # ValueError unless a real date
    except ValueError:
        raise AuthError(
            Refusal.INCOMPLETE, f"Date must be in ISO-8601 'basic format', not '{timestamp}'."
        ) from None
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def _from_http_date(value: str | None) -> str | None:
    parsed = parsedate_tz(value) if value else None
    if parsed is None:
        return None
    moment = calendar.timegm(parsed[:9]) - (parsed[9] or 0)
    return _stamp(moment)


def _stamp(epoch: float) -> str:
    return time.strftime(_TIMESTAMP, time.gmtime(epoch))

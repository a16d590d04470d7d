"""Why a request was refused, in AWS's words: one exception the gate renders per protocol."""

from __future__ import annotations

from enum import Enum


class Refusal(Enum):
    """AWS's refusal kinds: (HTTP status, JSON 1.1 code, query-protocol code, S3 code)."""

    MISSING = (
        403,
        "MissingAuthenticationTokenException",
        "MissingAuthenticationToken",
        "AccessDenied",
    )
    INCOMPLETE = (
        400,
        "IncompleteSignatureException",
        "IncompleteSignature",
        "AuthorizationHeaderMalformed",
    )
    BAD_SIGNATURE = (
        403,
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "SignatureDoesNotMatch",
    )
    UNKNOWN_KEY = (403, "UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId")
    EXPIRED_TOKEN = (403, "ExpiredTokenException", "ExpiredToken", "ExpiredToken")
    DENIED = (400, "AccessDeniedException", "AccessDenied", "AccessDenied")  # fmt: skip

    @property
    def status(self) -> int:
        """The HTTP status AWS answers with."""
        return self.value[0]

    def code(self, protocol: str) -> str:
        """The error code in ``protocol`` (``json``, ``query``, ``rest`` or ``s3``)."""
        if protocol == "query":
            return self.value[2]
        if protocol == "s3":
            return self.value[3]
        return self.value[1]


class AuthError(Exception):
    """A request the gate refuses: the refusal kind and AWS's message."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message


MISSING_TOKEN = "Missing Authentication Token"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
UNKNOWN_KEY = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"

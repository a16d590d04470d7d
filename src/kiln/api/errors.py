"""Kiln's exceptions → SageMaker's JSON 1.1 error shape (CONTRACTS.md §3.1).

Body ``{"__type": code, "message": text}``; botocore reads the code from ``__type`` only.
"""

from __future__ import annotations

from kiln.errors import (
    ConflictError,
    KilnError,
    ResourceInUseError,
    ResourceLimitError,
    ResourceNotFoundError,
)

_CODES: list[tuple[type[KilnError], str]] = [
    (ResourceNotFoundError, "ResourceNotFound"),
    (ResourceInUseError, "ResourceInUse"),
    (ResourceLimitError, "ResourceLimitExceeded"),
    (ConflictError, "ConflictException"),
]


def error_code(error: KilnError) -> str:
    """SageMaker's error code for ``error`` (``ValidationException`` unless modelled)."""
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return "ValidationException"


def error_body(code: str, message: str) -> dict[str, str]:
    """The JSON 1.1 error document."""
    return {"__type": code, "message": message}

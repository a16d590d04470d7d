"""Kiln's exceptions. Services raise these; ``kiln.api.errors`` maps each to SageMaker's wire shape.

    KilnError
    ├── ValidationError          bad input            → 400 ValidationException
    │   ├── NotFoundError        no such resource     → 400 ValidationException ("… not found")
    │   └── UnsupportedError     not in Kiln yet      → 400 ValidationException
    ├── ResourceNotFoundError    modelled not-found   → 400 ResourceNotFound
    ├── ResourceInUseError       name taken / in use  → 400 ResourceInUse
    ├── ResourceLimitError       can never fit        → 400 ResourceLimitExceeded
    ├── ConflictError            wrong state for op   → 400 ConflictException
    ├── SandboxUnavailableError  KILN_SANDBOX=required without a working bwrap → the server
    │                            refuses to start (never an API answer)
    ├── ServiceUnavailableError  can't now: disk full → 503 ServiceUnavailable (clients retry)
    └── (client side, kiln.sdk.errors) UnexpectedStatusError, NotTrainedError, …

SageMaker answers ``ValidationException`` for most missing resources (the boto3 waiters and the
SDK rely on it: CONTRACTS.md §3.1), hence ``NotFoundError`` is a ``ValidationError``.
"""

from __future__ import annotations

import errno

# ENOSPC: the disk is full; EDQUOT: this user's quota is.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class KilnError(Exception):
    """Base of every error Kiln reports to a client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(KilnError):
    """The request is malformed or names something invalid."""


class NotFoundError(ValidationError):
    """The named resource does not exist (SageMaker reports this as a validation error)."""


class ResourceNotFoundError(KilnError):
    """The named resource does not exist (SageMaker's modelled ``ResourceNotFound``)."""


class ResourceInUseError(KilnError):
    """The name is taken, or the resource is used by another."""


class ResourceLimitError(KilnError):
    """The request can never be served by this installation's capacity."""


class ConflictError(KilnError):
    """The resource is in a state that does not allow the operation."""


class UnsupportedError(ValidationError):
    """The request asks for something Kiln does not do (yet)."""


class SandboxUnavailableError(KilnError):
    """``KILN_SANDBOX=required``, but bubblewrap is missing or cannot sandbox here."""


class ServiceUnavailableError(KilnError):
    """Kiln cannot serve the request now (disk full, metadata store down); later it may."""


def unavailable_error(error: BaseException) -> ServiceUnavailableError | None:
    """``error`` as a ``ServiceUnavailableError`` when it means "not now" (a full disk)."""
    if isinstance(error, ServiceUnavailableError):
        return error
    if isinstance(error, OSError) and error.errno in _DISK_FULL:
        return ServiceUnavailableError(
            f"{error.strerror} (Kiln's disk is full); try again when there is space"
        )
    return None

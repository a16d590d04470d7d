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
    └── (client side, kiln.sdk.errors) UnexpectedStatusError, NotTrainedError, …

SageMaker answers ``ValidationException`` for most missing resources (the boto3 waiters and the
SDK rely on it: CONTRACTS.md §3.1), hence ``NotFoundError`` is a ``ValidationError``.
"""

from __future__ import annotations


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

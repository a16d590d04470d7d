"""SageMaker's control plane over JSON 1.1 (CONTRACTS.md §3.1): ``X-Amz-Target: SageMaker.<Op>``.

Errors: ``ValidationException`` unless modelled (``ResourceNotFound``, ``ResourceInUse``,
``ResourceLimitExceeded``, ``ConflictException``); SageMaker answers most missing resources with
``ValidationException`` "Could not find …", which the SDKs and waiters rely on.
"""

from __future__ import annotations

from collections.abc import Mapping

from kiln.api.json_protocol import ErrorCodes, JsonApi, Operation
from kiln.errors import (
    ConflictError,
    ResourceInUseError,
    ResourceLimitError,
    ResourceNotFoundError,
)

ERROR_CODES: ErrorCodes = [
    (ResourceNotFoundError, "ResourceNotFound"),
    (ResourceInUseError, "ResourceInUse"),
    (ResourceLimitError, "ResourceLimitExceeded"),
    (ConflictError, "ConflictException"),
]


def sagemaker_api(operations: Mapping[str, Operation], *, check_responses: bool = False) -> JsonApi:
    """The SageMaker control plane over ``operations``."""
    return JsonApi("sagemaker", operations, ERROR_CODES, check_responses=check_responses)

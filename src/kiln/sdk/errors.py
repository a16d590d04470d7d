"""The SDK's own exceptions, raised on the client side (the server never sends these).

    KilnError                    (kiln.errors)
    ├── UnexpectedStatusError    a job or endpoint ended in a status the caller did not wait for
    ├── NotTrainedError          an estimator was asked for a job's results before it had one
    ├── ModelError               a local replica's model answered an error status
    └── ReplicaExitedError       a local replica exited (before it listened, or while serving)

Errors the server answers with reach SDK callers as botocore's ``ClientError``, as they do with
the sagemaker SDK: a remote endpoint's model error is a ``ClientError`` with code ``ModelError``.
"""

from __future__ import annotations

from kiln.errors import KilnError


class UnexpectedStatusError(KilnError):
    """A training job or endpoint ended ``Failed`` (SDK v2: ``UnexpectedStatusException``)."""

    def __init__(
        self,
        name: str,
        status: str,
        failure_reason: str | None,
        *,
        action: str = "for Training job",
    ) -> None:
        message = f"Error {action} {name}: {status}."
        if failure_reason:
            message += f" Reason: {failure_reason}"
        super().__init__(message)
        self.name = name
        self.status = status
        self.failure_reason = failure_reason


class NotTrainedError(KilnError):
    """The estimator has no (finished) training job to answer from yet."""


class ModelError(KilnError):
    """A local replica answered ``status_code``; ``body`` is what the model server said."""

    def __init__(self, endpoint_name: str, status_code: int, body: str) -> None:
        kind = "client" if 400 <= status_code < 500 else "server"
        super().__init__(
            f"Received {kind} error ({status_code}) from local endpoint {endpoint_name} "
            f'with message "{body.strip()}"'
        )
        self.status_code = status_code
        self.body = body


class ReplicaExitedError(KilnError):
    """A local replica's process ended; the message carries its ``kiln-replica: failed`` line."""

    def __init__(self, message: str, returncode: int | None) -> None:
        super().__init__(message)
        self.returncode = returncode

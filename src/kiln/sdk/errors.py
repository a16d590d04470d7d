"""The SDK's own exceptions, raised on the client side (the server never sends these).

    KilnError                    (kiln.errors)
    ├── UnexpectedStatusError    a job ended in a status the caller did not wait for (Failed)
    └── NotTrainedError          an estimator was asked for a job's results before it had one

Errors the server answers with reach SDK callers as botocore's ``ClientError``, as they do with
the sagemaker SDK.
"""

from __future__ import annotations

from kiln.errors import KilnError


class UnexpectedStatusError(KilnError):
    """A training job ended ``Failed`` (sagemaker SDK v2: ``UnexpectedStatusException``)."""

    def __init__(self, job_name: str, status: str, failure_reason: str | None) -> None:
        message = f"Error for Training job {job_name}: {status}."
        if failure_reason:
            message += f" Reason: {failure_reason}"
        super().__init__(message)
        self.job_name = job_name
        self.status = status
        self.failure_reason = failure_reason


class NotTrainedError(KilnError):
    """The estimator has no (finished) training job to answer from yet."""

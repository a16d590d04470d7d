"""Kiln's Python SDK: the sagemaker SDK v2's names and behaviour, against a Kiln server."""

from __future__ import annotations

from kiln.sdk.errors import NotTrainedError, UnexpectedStatusError
from kiln.sdk.estimator import Estimator
from kiln.sdk.session import Session
from kiln.sdk.training_job import TrainingJob

__all__ = ["Estimator", "NotTrainedError", "Session", "TrainingJob", "UnexpectedStatusError"]

"""Kiln's Python SDK: the sagemaker SDK v2's names and behaviour, against a Kiln server."""

from __future__ import annotations

from kiln.sdk.errors import ModelError, NotTrainedError, ReplicaExitedError, UnexpectedStatusError
from kiln.sdk.estimator import Estimator
from kiln.sdk.local import LocalPredictor
from kiln.sdk.model import Model
from kiln.sdk.predictor import Predictor
from kiln.sdk.session import Session
from kiln.sdk.training_job import TrainingJob

__all__ = [
    "Estimator",
    "LocalPredictor",
    "Model",
    "ModelError",
    "NotTrainedError",
    "Predictor",
    "ReplicaExitedError",
    "Session",
    "TrainingJob",
    "UnexpectedStatusError",
]

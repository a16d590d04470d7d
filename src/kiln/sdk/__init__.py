"""Kiln's Python SDK: the sagemaker SDK v2's names and behaviour, against a Kiln server."""

from __future__ import annotations

# The public names are listed once, in kiln/__init__.py (which loads them from here lazily).
# With __all__ imported rather than written out, ``X as X`` is what marks each re-export for
# type checkers and linters.
from kiln import __all__ as __all__
from kiln.sdk.ab_testing import compare_variants as compare_variants
from kiln.sdk.ab_testing import send_ground_truth as send_ground_truth
from kiln.sdk.errors import ModelError as ModelError
from kiln.sdk.errors import NotTrainedError as NotTrainedError
from kiln.sdk.errors import ReplicaExitedError as ReplicaExitedError
from kiln.sdk.errors import UnexpectedStatusError as UnexpectedStatusError
from kiln.sdk.estimator import Estimator as Estimator
from kiln.sdk.local import LocalPredictor as LocalPredictor
from kiln.sdk.model import Model as Model
from kiln.sdk.model_monitor import CronExpressionGenerator as CronExpressionGenerator
from kiln.sdk.model_monitor import DatasetFormat as DatasetFormat
from kiln.sdk.model_monitor import DefaultModelMonitor as DefaultModelMonitor
from kiln.sdk.predictor import Predictor as Predictor
from kiln.sdk.session import Session as Session
from kiln.sdk.timeline import endpoint_timeline as endpoint_timeline
from kiln.sdk.training_job import TrainingJob as TrainingJob

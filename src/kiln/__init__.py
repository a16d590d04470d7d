"""Kiln: a self-hosted ML platform that speaks SageMaker's API.

The SDK's names are loaded on first use: job processes and model replicas import ``kiln.runtime``
through this package, and boto3 and rich would add about 0.2 s to each of their starts.
"""

import typing

if typing.TYPE_CHECKING:
    from kiln.sdk import (
        CronExpressionGenerator,
        DatasetFormat,
        DefaultModelMonitor,
        Estimator,
        LocalPredictor,
        Model,
        ModelError,
        NotTrainedError,
        Predictor,
        ReplicaExitedError,
        Session,
        TrainingJob,
        UnexpectedStatusError,
        compare_variants,
        endpoint_timeline,
        send_ground_truth,
    )

__all__ = [
    "CronExpressionGenerator",
    "DatasetFormat",
    "DefaultModelMonitor",
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
    "compare_variants",
    "endpoint_timeline",
    "send_ground_truth",
]


def __getattr__(name: str) -> object:
    if name in __all__:
        from kiln import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'kiln' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

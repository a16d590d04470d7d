"""Read by mypy only: the public SDK as users call it keeps these types."""

from __future__ import annotations

from typing import assert_type

import kiln
from kiln.config import Settings


def train(settings: Settings) -> None:
    """Upload, fit, read the model: the sagemaker SDK v2 way."""
    session = kiln.Session(settings)
    assert_type(session.default_bucket(), str)
    data = session.upload_data("data/train.csv", key_prefix="demo")
    assert_type(data, str)
    estimator = kiln.Estimator(
        entry_point="train.py",
        source_dir="src",
        hyperparameters={"epochs": 3, "learning-rate": 0.1, "name": "abc"},
        metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9.]+)"}],
        sagemaker_session=session,
    )
    estimator.fit({"train": data})
    estimator.fit(data, wait=False, logs=False, job_name="my-job")
    assert_type(estimator.model_data, str)
    assert_type(estimator.hyperparameters(), dict[str, str])
    job = estimator.latest_training_job
    assert_type(job, kiln.TrainingJob | None)
    if job is not None:
        assert_type(job.name, str)
        assert_type(job.describe()["TrainingJobName"], str)


def attach() -> None:
    """Attach to a job by name, with the environment's settings."""
    estimator = kiln.Estimator.attach("my-job")
    assert_type(estimator, kiln.Estimator)
    try:
        estimator.sagemaker_session.logs_for_job("my-job", wait=True)
    except kiln.UnexpectedStatusError as e:
        assert_type(e.failure_reason, str | None)
        assert_type(e.status, str)

"""Read by mypy only: the public SDK as users call it keeps these types."""

from __future__ import annotations

from typing import assert_type

import kiln
from kiln.config import Settings
from kiln.sdk.serializers import (
    CSVDeserializer,
    CSVSerializer,
    NumpyDeserializer,
    NumpySerializer,
)


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


def deploy(settings: Settings) -> None:
    """Deploy a trained estimator and a model, predict, clean up: the sagemaker SDK v2 way."""
    session = kiln.Session(settings)
    estimator = kiln.Estimator.attach("my-job", sagemaker_session=session)
    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large")
    assert_type(predictor, kiln.Predictor)
    assert_type(predictor.endpoint_name, str)
    predictor.predict([[1.0, 2.0]], target_variant="AllTraffic", custom_attributes="a=1")
    predictor.delete_endpoint(delete_endpoint_config=True)
    predictor.delete_model()
    model = estimator.create_model(entry_point="inference.py")
    assert_type(model, kiln.Model)
    model = kiln.Model(
        "s3://bucket/model.tar.gz",
        entry_point="inference.py",
        source_dir="src",
        env={"LOG_LEVEL": "debug"},
        sagemaker_session=session,
    )
    remote = model.deploy(
        serializer=NumpySerializer(), deserializer=NumpyDeserializer(), wait=False
    )
    assert_type(remote.content_type, str)
    assert_type(remote.accept, str)
    assert_type(session.wait_for_endpoint(remote.endpoint_name)["EndpointName"], str)


def local() -> None:
    """Local mode: the same predictor API on this machine; its own errors."""
    predictor = kiln.Model("model.tar.gz").deploy(
        instance_type="local", serializer=CSVSerializer(), deserializer=CSVDeserializer()
    )
    if isinstance(predictor, kiln.LocalPredictor):
        assert_type(predictor.url, str)
    try:
        predictor.predict("1,2,3")
    except kiln.ModelError as e:
        assert_type(e.status_code, int)
        assert_type(e.body, str)
    except kiln.ReplicaExitedError as e:
        assert_type(e.returncode, int | None)
    finally:
        predictor.delete_endpoint()


def ab_testing() -> None:
    """Ground truth in, the A/B report out."""
    result = kiln.send_ground_truth("churn", {"order-1": 1, "order-2": "cat", "order-3": 0.5})
    assert_type(result.accepted, int)
    assert_type(result.location, str | None)
    report = kiln.compare_variants("churn", hours=6)
    assert_type(report.verdict, str)
    for variant in report.variants:
        assert_type(variant.accuracy, float | None)
    for comparison in report.comparisons:
        assert_type(comparison.p_value, float | None)

"""``TrainingJob``: one started job, as sagemaker SDK v2's ``estimator.latest_training_job``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiln.sdk.session import Session

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import DescribeTrainingJobResponseTypeDef


class TrainingJob:
    """A training job on a Kiln server, by name."""

    def __init__(self, sagemaker_session: Session, job_name: str) -> None:
        self.sagemaker_session = sagemaker_session
        self.name = job_name

    @property
    def job_name(self) -> str:
        """The job's name (sagemaker SDK v2 offers both ``name`` and ``job_name``)."""
        return self.name

    def describe(self) -> DescribeTrainingJobResponseTypeDef:
        """``DescribeTrainingJob`` for this job."""
        return self.sagemaker_session.describe_training_job(self.name)

    def wait(self, logs: bool = True) -> DescribeTrainingJobResponseTypeDef:
        """Block until the job ends, printing its log if ``logs``; raise if it failed."""
        return self.sagemaker_session.wait_for_job(self.name, logs=logs)

    def stop(self) -> None:
        """Ask the server to stop the job."""
        self.sagemaker_session.sagemaker_client.stop_training_job(TrainingJobName=self.name)

"""``kiln.Estimator``: script-mode training, as sagemaker SDK v2's framework estimators do it.

``fit()`` packs the code into ``sourcedir.tar.gz``, uploads it to
``s3://<default bucket>/<job>/source/``, sends ``CreateTrainingJob`` with the request SDK v2
builds (CONTRACTS.md §5.2: hyperparameters ``json.dumps``-ed, ``sagemaker_program`` and
``sagemaker_submit_directory`` set) and, with ``wait``, follows the job to its end.

``deploy()`` serves the job's ``model.tar.gz`` as SDK v2's scikit-learn estimator does: the
training code is the inference code (its ``sourcedir.tar.gz`` as uploaded for training, its
entry point as ``SAGEMAKER_PROGRAM``), so a script that defines ``model_fn`` & co. next to its
``__main__`` block serves as it trains; one that does not is served by framework defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from kiln.sdk.errors import NotTrainedError
from kiln.sdk.model import DEFAULT_IMAGE, DEFAULT_ROLE, Model
from kiln.sdk.names import TIMESTAMP, name_from_base
from kiln.sdk.packaging import upload_source
from kiln.sdk.predictor import Predictor
from kiln.sdk.serializers import Deserializer, Serializer
from kiln.sdk.session import Session
from kiln.sdk.training_job import TrainingJob
from kiln.storage import S3Uri

DEFAULT_BASE_JOB_NAME = "kiln-training"


class Estimator:
    """Runs ``entry_point`` (from ``source_dir``) as a training job on a Kiln server."""

    def __init__(
        self,
        entry_point: str,
        source_dir: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        instance_type: str = "ml.m5.large",
        instance_count: int = 1,
        metric_definitions: Sequence[Mapping[str, str]] | None = None,
        output_path: str | None = None,
        max_run: int = 86400,
        checkpoint_s3_uri: str | None = None,
        environment: Mapping[str, str] | None = None,
        image_uri: str | None = None,
        role: str | None = None,
        base_job_name: str | None = None,
        sagemaker_session: Session | None = None,
    ) -> None:
        self.entry_point = entry_point
        self.source_dir = source_dir
        self._hyperparameters = dict(hyperparameters or {})
        self.instance_type = instance_type
        self.instance_count = instance_count
        self.metric_definitions = [dict(m) for m in metric_definitions or []]
        self.output_path = output_path
        self.max_run = max_run
        self.checkpoint_s3_uri = checkpoint_s3_uri
        self.environment = dict(environment or {})
        self.image_uri = image_uri or DEFAULT_IMAGE
        self.role = role or DEFAULT_ROLE
        self.base_job_name = base_job_name
        self.sagemaker_session = sagemaker_session or Session()
        self.latest_training_job: TrainingJob | None = None

    def hyperparameters(self) -> dict[str, str]:
        """The user's hyperparameters as sent: every value ``json.dumps``-ed (SDK v2)."""
        return {str(k): json.dumps(v) for k, v in self._hyperparameters.items()}

    def fit(
        self,
        inputs: str | Mapping[str, str] | None = None,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
    ) -> None:
        """Start a training job on ``inputs`` (an ``s3://`` URI or channel → URI); wait if asked."""
        name = job_name or name_from_base(self.base_job_name or DEFAULT_BASE_JOB_NAME)
        channels = input_channels(inputs)
        program, source_uri = self._upload_source(name)
        request = self._request(name, program, source_uri, channels)
        self.sagemaker_session.sagemaker_client.create_training_job(**request)
        self.latest_training_job = TrainingJob(self.sagemaker_session, name)
        if wait:
            self.latest_training_job.wait(logs=logs)

    def logs(self) -> None:
        """Print the latest job's log, following it until the job ends."""
        self.sagemaker_session.logs_for_job(self._latest().name, wait=True)

    @property
    def model_data(self) -> str:
        """The ``s3://`` URI of the latest job's ``model.tar.gz``."""
        job = self._latest().describe()
        artifacts = job.get("ModelArtifacts")
        if artifacts is None:
            raise NotTrainedError(
                f"Training job {job['TrainingJobName']} has no model artifacts "
                f"(status {job['TrainingJobStatus']})"
            )
        return artifacts["S3ModelArtifacts"]

    def create_model(
        self,
        entry_point: str | None = None,
        source_dir: str | None = None,
        env: Mapping[str, str] | None = None,
        image_uri: str | None = None,
        name: str | None = None,
    ) -> Model:
        """A :class:`Model` of the latest job's artifact, with the training code to serve it.

        As in SDK v2, ``entry_point`` alone names a file of the training code's folder.
        """
        program, submit_directory = self._training_code()
        return Model(
            self.model_data,
            entry_point=entry_point or program,
            source_dir=source_dir or submit_directory,
            image_uri=image_uri or self.image_uri,
            env=env,
            name=name,
            role=self.role,
            sagemaker_session=self.sagemaker_session,
        )

    def deploy(
        self,
        initial_instance_count: int = 1,
        instance_type: str = "ml.m5.large",
        endpoint_name: str | None = None,
        serializer: Serializer | None = None,
        deserializer: Deserializer | None = None,
        wait: bool = True,
        model_name: str | None = None,
        **create_model_args: Any,
    ) -> Predictor:
        """Serve the latest job's model on a new endpoint; its predictor.

        Model and endpoint are both named ``<base job name>-<time>`` unless named here; extra
        keyword arguments (``entry_point``, ``source_dir``, ``env``) go to :meth:`create_model`.
        ``instance_type="local"`` serves it on this machine, with no endpoint on the server.
        """
        default_name = name_from_base(self.base_job_name or DEFAULT_BASE_JOB_NAME)
        model = self.create_model(**create_model_args)
        model.name = model_name or default_name
        return model.deploy(
            initial_instance_count=initial_instance_count,
            instance_type=instance_type,
            endpoint_name=endpoint_name or default_name,
            serializer=serializer,
            deserializer=deserializer,
            wait=wait,
        )

    @classmethod
    def attach(cls, training_job_name: str, sagemaker_session: Session | None = None) -> Estimator:
        """An estimator for an existing job; waits for it to end, as sagemaker SDK v2 does."""
        session = sagemaker_session or Session()
        job = session.describe_training_job(training_job_name)
        estimator = cls(**_init_params(job), sagemaker_session=session)
        estimator.latest_training_job = TrainingJob(session, training_job_name)
        estimator.latest_training_job.wait(logs=False)
        return estimator

    def _latest(self) -> TrainingJob:
        if self.latest_training_job is None:
            raise NotTrainedError(
                "This estimator has no training job yet: call fit() or Estimator.attach() first"
            )
        return self.latest_training_job

    def _training_code(self) -> tuple[str | None, str | None]:
        """The latest job's ``(sagemaker_program, sagemaker_submit_directory)``, if it had code."""
        sent = self._latest().describe().get("HyperParameters", {})
        program = _decoded(sent.get("sagemaker_program", "null"))
        submit_directory = _decoded(sent.get("sagemaker_submit_directory", "null"))
        return (
            program if isinstance(program, str) else None,
            submit_directory if isinstance(submit_directory, str) else None,
        )

    def _upload_source(self, job_name: str) -> tuple[str, str]:
        """``(sagemaker_program, sagemaker_submit_directory)`` once the code is in the store."""
        if self.source_dir is not None and self.source_dir.startswith("s3://"):
            S3Uri.parse(self.source_dir)
            return self.entry_point, self.source_dir  # already packed and uploaded
        session = self.sagemaker_session
        target = S3Uri(session.default_bucket(), f"{job_name}/source/sourcedir.tar.gz")
        program = upload_source(
            session.s3, self.entry_point, self.source_dir, target, "Uploading code"
        )
        return program, str(target)

    def _request(
        self, job_name: str, program: str, source_uri: str, channels: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The ``CreateTrainingJob`` request SDK v2 sends for this estimator."""
        session = self.sagemaker_session
        algorithm: dict[str, Any] = {
            "TrainingImage": self.image_uri,
            "TrainingInputMode": "File",
            "EnableSageMakerMetricsTimeSeries": True,
        }
        if self.metric_definitions:
            algorithm["MetricDefinitions"] = self.metric_definitions
        framework = {
            "sagemaker_program": program,
            "sagemaker_submit_directory": source_uri,
            "sagemaker_container_log_level": 20,
            "sagemaker_job_name": job_name,
            "sagemaker_region": session.settings.region,
        }
        request: dict[str, Any] = {
            "TrainingJobName": job_name,
            "AlgorithmSpecification": algorithm,
            "RoleArn": self.role,
            "HyperParameters": {
                **self.hyperparameters(),
                **{k: json.dumps(v) for k, v in framework.items()},
            },
            "OutputDataConfig": {
                "S3OutputPath": self.output_path or f"s3://{session.default_bucket()}/"
            },
            "ResourceConfig": {
                "InstanceType": self.instance_type,
                "InstanceCount": self.instance_count,
                "VolumeSizeInGB": 30,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_run},
        }
        if channels:
            request["InputDataConfig"] = channels
        if self.checkpoint_s3_uri:
            request["CheckpointConfig"] = {"S3Uri": self.checkpoint_s3_uri}
        if self.environment:
            request["Environment"] = self.environment
        return request


def input_channels(inputs: str | Mapping[str, str] | None) -> list[dict[str, Any]]:
    """``InputDataConfig`` for ``inputs``: one URI is the ``training`` channel, as in SDK v2."""
    if inputs is None:
        return []
    named = {"training": inputs} if isinstance(inputs, str) else inputs
    return [
        {
            "ChannelName": channel,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": str(S3Uri.parse(uri)),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
        for channel, uri in named.items()
    ]


def _decoded(value: str) -> Any:
    """A hyperparameter as the training toolkit reads it: JSON if it parses, else the string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _init_params(job: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor arguments that recreate the estimator behind ``job``."""
    sent = {k: _decoded(v) for k, v in job.get("HyperParameters", {}).items()}
    algorithm = job["AlgorithmSpecification"]
    base = TIMESTAMP.sub("", job["TrainingJobName"])
    return {
        "entry_point": str(sent.get("sagemaker_program", "")),
        "source_dir": sent.get("sagemaker_submit_directory"),
        "hyperparameters": {k: v for k, v in sent.items() if not k.startswith("sagemaker_")},
        "instance_type": job["ResourceConfig"]["InstanceType"],
        "instance_count": job["ResourceConfig"]["InstanceCount"],
        "metric_definitions": algorithm.get("MetricDefinitions"),
        "output_path": job["OutputDataConfig"]["S3OutputPath"],
        "max_run": job["StoppingCondition"]["MaxRuntimeInSeconds"],
        "checkpoint_s3_uri": job.get("CheckpointConfig", {}).get("S3Uri"),
        "environment": job.get("Environment"),
        "image_uri": algorithm.get("TrainingImage"),
        "role": job["RoleArn"],
        "base_job_name": base if base != job["TrainingJobName"] else None,
    }

"""The training service: CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs, StopTrainingJob.

Calls validate, write desired state to the store and wake the scheduler; the scheduler and its
runners (``kiln.services.training.runner``) do the work. Requests and answers are SageMaker
shapes (PascalCase dicts), already checked against botocore's service model by the API layer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import ValidationError as PydanticValidationError

from kiln.config import Settings
from kiln.db import TrainingJobRecord, TrainingJobStore
from kiln.errors import (
    NotFoundError,
    ResourceLimitError,
    UnsupportedError,
    ValidationError,
)
from kiln.instance_types import InstanceType
from kiln.services.capacity import (
    Demand,
    Shortfall,
    capacity_source,
    demand_of,
    machine_capacity,
    machine_name,
    quota_exceeded,
    shortfall,
)
from kiln.services.images import resolve_image
from kiln.services.listing import list_query
from kiln.services.tags import check_tags, merged_tags
from kiln.services.training.states import is_terminal, transition
from kiln.shapes.aws import output_shape, project, with_defaults
from kiln.shapes.training import TrainingJobSpec
from kiln.storage import S3Uri


class Scheduler(Protocol):
    """What the service needs of the training scheduler."""

    def wake(self) -> None:
        """Look at the queue again."""

    def request_stop(self, name: str) -> None:
        """Stop the job if it runs."""


class TrainingService:
    """SageMaker's training-job operations over Kiln's store and scheduler."""

    def __init__(self, settings: Settings, store: TrainingJobStore, scheduler: Scheduler) -> None:
        self._settings = settings
        self._store = store
        self._scheduler = scheduler

    def create_training_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and queue a job; ``{"TrainingJobArn": …}``."""
        spec = parse_spec(request)
        check_inputs(spec)
        resources = spec.resource_config
        over = quota_exceeded(
            resources.instance_type, "training job usage", resources.instance_count
        )
        if over is not None:
            raise ResourceLimitError(over)
        note = capacity_note(self._settings, spec)
        if note is not None and self._settings.strict_capacity:
            raise ResourceLimitError(
                f"{note.asks}; {note.has} ({capacity_source(self._settings)}; "
                "KILN_STRICT_CAPACITY=1 refuses what does not fit instead of running it on "
                "what there is)"
            )
        check_tags(request.get("Tags", []))
        now = time.time()
        stored = dict(request)
        stored.setdefault("StoppingCondition", {"MaxRuntimeInSeconds": 86400})
        stored["Tags"] = merged_tags([], request.get("Tags", []))
        record = TrainingJobRecord(
            name=spec.training_job_name,
            arn=self._settings.arn("training-job", spec.training_job_name),
            status="InProgress",
            secondary_status="Starting",
            creation_time=now,
            last_modified_time=now,
            spec=stored,
        )
        transition(record, "Starting", None if note is None else str(note), now=now)
        self._store.add(record)
        self._scheduler.wake()
        return {"TrainingJobArn": record.arn}

    def describe_training_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The job as ``DescribeTrainingJob`` answers it."""
        return describe(self._get(request["TrainingJobName"]))

    def list_training_jobs(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of job summaries."""
        records, token = self._store.page(list_query(request, default_descending=False))
        answer: dict[str, Any] = {"TrainingJobSummaries": [summary(r) for r in records]}
        if token:
            answer["NextToken"] = token
        return answer

    def stop_training_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Ask a running or queued job to stop."""
        record = self._get(request["TrainingJobName"])
        if is_terminal(record):
            raise ValidationError(
                f"The request was rejected because the training job is in status {record.status}."
            )
        if record.status == "InProgress":
            self._store.modify(record.name, lambda r: transition(r, "Stopping"))
        self._scheduler.request_stop(record.name)
        return {}

    def _get(self, name: str) -> TrainingJobRecord:
        record = self._store.get(name)
        if record is None:
            raise NotFoundError("Requested resource not found.")
        return record


def parse_spec(request: Mapping[str, Any]) -> TrainingJobSpec:
    """The typed view of a request; ValidationError where a member has the wrong shape."""
    try:
        return TrainingJobSpec.model_validate(request)
    except PydanticValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationError(f"Invalid {where}: {first['msg']}") from None


def instance_size(settings: Settings, instance_type: str) -> InstanceType:
    """The sizes of ``instance_type``; ValidationError for a type not in the table."""
    size = settings.instance_types.get(instance_type)
    if size is None:
        raise ValidationError(
            f"Instance type {instance_type!r} is not a SageMaker training instance type"
        )
    return size


def job_demand(settings: Settings, spec: TrainingJobSpec) -> Demand:
    """The vCPUs, memory and GPUs the job's instances ask for (the scheduler clamps them)."""
    resources = spec.resource_config
    return demand_of(instance_size(settings, resources.instance_type), resources.instance_count)


def capacity_note(settings: Settings, spec: TrainingJobSpec) -> Shortfall | None:
    """What the job asks for beyond this machine and what it runs on instead, or None."""
    resources = spec.resource_config
    what = resources.instance_type
    if resources.instance_count > 1:
        what = f"{resources.instance_count} x {what}"
    size = instance_size(settings, resources.instance_type)
    capacity, machine = machine_capacity(settings), machine_name(settings)
    return shortfall(what, size, resources.instance_count, capacity, machine)


def check_inputs(spec: TrainingJobSpec) -> None:
    """Semantic checks botocore's model cannot express; ValidationError naming the member."""
    algorithm = spec.algorithm_specification
    if algorithm.algorithm_name:
        raise UnsupportedError(
            "AlgorithmSpecification.AlgorithmName: Kiln has no built-in algorithms"
        )
    resolve_image(algorithm.training_image)
    program = entry_program(spec)
    if algorithm.container_entrypoint is None:
        if algorithm.container_arguments:
            raise ValidationError(
                "AlgorithmSpecification.ContainerArguments needs a ContainerEntrypoint: "
                "the kiln/python image has no ENTRYPOINT of its own"
            )
        if program is None:
            raise ValidationError(
                "Nothing to run: set AlgorithmSpecification.ContainerEntrypoint, or the "
                "sagemaker_program and sagemaker_submit_directory hyperparameters (script mode)"
            )
        submit_directory(spec)
    _check_channels(spec)
    S3Uri.parse(spec.output_data_config.s3_output_path)
    if spec.checkpoint_config is not None:
        S3Uri.parse(spec.checkpoint_config.s3_uri)
        if not spec.checkpoint_config.local_path.startswith("/opt/ml/"):
            raise ValidationError(
                f"CheckpointConfig.LocalPath {spec.checkpoint_config.local_path!r} must lie "
                "under /opt/ml/"
            )
    for metric in algorithm.metric_definitions:
        try:
            re.compile(metric.regex)
        except re.error as e:
            raise ValidationError(
                f"MetricDefinitions {metric.name!r}: invalid regex {metric.regex!r} ({e})"
            ) from None


def _check_channels(spec: TrainingJobSpec) -> None:
    names = [c.channel_name for c in spec.input_data_config]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError(f"InputDataConfig: channel names must be unique: {duplicates}")
    for channel in spec.input_data_config:
        source = channel.data_source.s3_data_source
        if source is None:
            raise UnsupportedError(
                f"Channel {channel.channel_name!r}: only S3DataSource is supported"
            )
        if source.s3_data_type not in ("S3Prefix", "ManifestFile"):
            raise UnsupportedError(
                f"Channel {channel.channel_name!r}: S3DataType {source.s3_data_type!r} is not "
                "supported; use S3Prefix or ManifestFile"
            )
        mode = channel.input_mode or spec.algorithm_specification.training_input_mode
        if mode == "Pipe":
            raise UnsupportedError(
                f"Channel {channel.channel_name!r}: Pipe mode is not supported; use File"
            )
        S3Uri.parse(source.s3_uri)


def _decoded(value: str) -> str:
    """A hyperparameter string, JSON-decoded when the SDK quoted it."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def entry_program(spec: TrainingJobSpec) -> str | None:
    """The script-mode program (``sagemaker_program``), if any."""
    raw = spec.hyperparameters.get("sagemaker_program")
    return None if raw is None else _decoded(raw)


def submit_directory(spec: TrainingJobSpec) -> S3Uri:
    """The ``sagemaker_submit_directory`` tarball; ValidationError if absent or not ``s3://``."""
    raw = spec.hyperparameters.get("sagemaker_submit_directory")
    if raw is None:
        raise ValidationError(
            "Hyperparameter sagemaker_program needs sagemaker_submit_directory, the s3:// URI "
            "of a sourcedir.tar.gz"
        )
    return S3Uri.parse(_decoded(raw))


def summary(record: TrainingJobRecord) -> dict[str, Any]:
    """A ``TrainingJobSummary``."""
    answer: dict[str, Any] = {
        "TrainingJobName": record.name,
        "TrainingJobArn": record.arn,
        "CreationTime": record.creation_time,
        "LastModifiedTime": record.last_modified_time,
        "TrainingJobStatus": record.status,
        "SecondaryStatus": record.secondary_status,
    }
    if record.end_time is not None:
        answer["TrainingEndTime"] = record.end_time
    return answer


_STATE_FIELDS = (
    "FailureReason",
    "ModelArtifacts",
    "FinalMetricDataList",
    "TrainingStartTime",
    "TrainingEndTime",
    "TrainingTimeInSeconds",
    "BillableTimeInSeconds",
)

# What AWS fills in DescribeTrainingJob when the request left it out (the SDK's attach() reads
# OutputDataConfig.KmsKeyId and ResourceConfig.VolumeSizeInGB without .get).
_DESCRIBE_DEFAULTS: dict[str, Any] = {
    "HyperParameters": {},
    "OutputDataConfig": {"KmsKeyId": "", "CompressionType": "GZIP"},
    "ResourceConfig": {"VolumeSizeInGB": 30},
    "AlgorithmSpecification": {"EnableSageMakerMetricsTimeSeries": False},
    "InputDataConfig": [{"CompressionType": "None", "RecordWrapperType": "None"}],
    "EnableNetworkIsolation": False,
    "EnableInterContainerTrafficEncryption": False,
    "EnableManagedSpotTraining": False,
}


def describe(record: TrainingJobRecord) -> dict[str, Any]:
    """The ``DescribeTrainingJob`` answer for a record."""
    answer = dict(record.spec)
    answer.update(
        {
            "TrainingJobName": record.name,
            "TrainingJobArn": record.arn,
            "TrainingJobStatus": record.status,
            "SecondaryStatus": record.secondary_status,
            "CreationTime": record.creation_time,
            "LastModifiedTime": record.last_modified_time,
            "SecondaryStatusTransitions": record.state.get("SecondaryStatusTransitions", []),
            # Required in the answer even before the upload: where the artifact will be.
            "ModelArtifacts": {"S3ModelArtifacts": model_artifact_uri(record.spec, record.name)},
        }
    )
    answer.update({k: record.state[k] for k in _STATE_FIELDS if k in record.state})
    answer.setdefault("ResourceConfig", {"InstanceType": "ml.m5.large", "InstanceCount": 1})
    shaped = project(answer, output_shape("sagemaker", "DescribeTrainingJob"))
    return with_defaults(shaped, _DESCRIBE_DEFAULTS)


def job_output_uri(s3_output_path: str, name: str) -> S3Uri:
    """``<S3OutputPath>/<job>/output``: where a job's ``model.tar.gz`` and ``output.tar.gz`` go."""
    return S3Uri.parse(s3_output_path).join(name, "output")


def model_artifact_uri(request: Mapping[str, Any], name: str) -> str:
    """``<S3OutputPath>/<job>/output/model.tar.gz``: where the job's model is stored."""
    output_path = request["OutputDataConfig"]["S3OutputPath"]
    return str(job_output_uri(output_path, name).join("model.tar.gz"))

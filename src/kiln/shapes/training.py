"""The parts of ``CreateTrainingJob`` that Kiln's training service acts on."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Shape(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class MetricDefinition(_Shape):
    name: str = Field(alias="Name")
    regex: str = Field(alias="Regex")


class AlgorithmSpecification(_Shape):
    training_image: str | None = Field(None, alias="TrainingImage")
    algorithm_name: str | None = Field(None, alias="AlgorithmName")
    training_input_mode: str = Field("File", alias="TrainingInputMode")
    metric_definitions: list[MetricDefinition] = Field([], alias="MetricDefinitions")
    container_entrypoint: list[str] | None = Field(None, alias="ContainerEntrypoint")
    container_arguments: list[str] | None = Field(None, alias="ContainerArguments")


class S3DataSource(_Shape):
    s3_data_type: str = Field(alias="S3DataType")
    s3_uri: str = Field(alias="S3Uri")
    s3_data_distribution_type: str = Field("FullyReplicated", alias="S3DataDistributionType")


class DataSource(_Shape):
    s3_data_source: S3DataSource | None = Field(None, alias="S3DataSource")


class Channel(_Shape):
    channel_name: str = Field(alias="ChannelName")
    data_source: DataSource = Field(alias="DataSource")
    content_type: str | None = Field(None, alias="ContentType")
    compression_type: str | None = Field(None, alias="CompressionType")
    input_mode: str | None = Field(None, alias="InputMode")
    record_wrapper_type: str | None = Field(None, alias="RecordWrapperType")


class OutputDataConfig(_Shape):
    s3_output_path: str = Field(alias="S3OutputPath")
    compression_type: str = Field("GZIP", alias="CompressionType")


class ResourceConfig(_Shape):
    instance_type: str = Field("ml.m5.large", alias="InstanceType")
    instance_count: int = Field(1, alias="InstanceCount")
    volume_size_in_gb: int = Field(0, alias="VolumeSizeInGB")


class StoppingCondition(_Shape):
    max_runtime_in_seconds: int = Field(86400, alias="MaxRuntimeInSeconds")


class CheckpointConfig(_Shape):
    s3_uri: str = Field(alias="S3Uri")
    local_path: str = Field("/opt/ml/checkpoints", alias="LocalPath")


class TrainingJobSpec(_Shape):
    """What ``CreateTrainingJob`` asks for, as far as Kiln acts on it."""

    training_job_name: str = Field(alias="TrainingJobName")
    role_arn: str | None = Field(None, alias="RoleArn")
    algorithm_specification: AlgorithmSpecification = Field(alias="AlgorithmSpecification")
    hyperparameters: dict[str, str] = Field({}, alias="HyperParameters")
    input_data_config: list[Channel] = Field([], alias="InputDataConfig")
    output_data_config: OutputDataConfig = Field(alias="OutputDataConfig")
    resource_config: ResourceConfig = Field(ResourceConfig(), alias="ResourceConfig")
    stopping_condition: StoppingCondition = Field(StoppingCondition(), alias="StoppingCondition")
    checkpoint_config: CheckpointConfig | None = Field(None, alias="CheckpointConfig")
    environment: dict[str, str] = Field({}, alias="Environment")

"""``DefaultModelMonitor``, ``DatasetFormat`` and ``CronExpressionGenerator`` with the sagemaker
SDK v2's names, against Kiln.

monitor = DefaultModelMonitor(role=ROLE)
monitor.suggest_baseline(baseline_dataset="s3://data/train.csv",
                         dataset_format=DatasetFormat.csv(header=False),
                         output_s3_uri="s3://data/baseline")
monitor.create_monitoring_schedule(endpoint_input="churn", output_s3_uri="s3://data/monitor",
                                   schedule_cron_expression=CronExpressionGenerator.hourly())
monitor.latest_monitoring_constraint_violations()

``suggest_baseline`` analyzes here (``kiln.sdk.baselines``) instead of starting a processing job;
the schedule calls are SageMaker's own (``CreateDataQualityJobDefinition``,
``CreateMonitoringSchedule``, …) over boto3, and the latest results are read from the
schedule's S3 output.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from kiln.errors import ValidationError
from kiln.sdk.baselines import BaselineOutput, dataset_format_of, make_baseline
from kiln.sdk.model import DEFAULT_ROLE
from kiln.sdk.session import Session
from kiln.storage import S3Uri

# SageMaker's analyzer image; Kiln runs its own analyzer whatever the image says.
ANALYZER_IMAGE = "kiln/model-monitor-analyzer"
_ENDPOINT_PATH = "/opt/ml/processing/input/endpoint"
_OUTPUT_PATH = "/opt/ml/processing/output"
_FINISHED = ("Completed", "CompletedWithViolations")


class DatasetFormat:
    """The data set formats ``suggest_baseline`` reads, as the sagemaker SDK writes them."""

    @staticmethod
    def csv(header: bool = True, output_columns_position: str = "START") -> dict[str, Any]:
        """CSV, with or without a header row."""
        return {"csv": {"header": header, "output_columns_position": output_columns_position}}

    @staticmethod
    def json(lines: bool = True) -> dict[str, Any]:
        """JSON Lines (one object per line)."""
        return {"json": {"lines": lines}}

    @staticmethod
    def parquet() -> dict[str, Any]:
        """Parquet files."""
        return {"parquet": {}}

    @staticmethod
    def sagemaker_capture_json() -> dict[str, Any]:
        """Data capture files, as endpoints write them."""
        return {"sagemakerCaptureJson": {}}


class CronExpressionGenerator:
    """Schedule expressions SageMaker's monitoring schedules accept."""

    @staticmethod
    def hourly() -> str:
        """At the top of every hour."""
        return "cron(0 * ? * * *)"

    @staticmethod
    def daily(hour: int = 0) -> str:
        """Every day at ``hour`` (UTC)."""
        return f"cron(0 {hour} ? * * *)"

    @staticmethod
    def daily_every_x_hours(hour_interval: int, starting_hour: int = 0) -> str:
        """Every ``hour_interval`` hours from ``starting_hour`` (UTC)."""
        return f"cron(0 {starting_hour}/{hour_interval} ? * * *)"

    @staticmethod
    def now() -> str:
        """Once, now (with ``data_analysis_start_time``/``end_time``)."""
        return "NOW"


@dataclass(frozen=True)
class MonitoringFile:
    """A statistics, constraints or violations file: its body and where it lives."""

    body_dict: dict[str, Any]
    file_s3_uri: str


@dataclass(frozen=True)
class BaseliningJob:
    """The outcome of ``suggest_baseline``: the two files it wrote."""

    job_name: str
    output: BaselineOutput

    def baseline_statistics(self) -> MonitoringFile:
        """statistics.json."""
        body = self.output.baseline.statistics.to_document()
        return MonitoringFile(body, self.output.statistics_uri)

    def suggested_constraints(self) -> MonitoringFile:
        """constraints.json."""
        body = self.output.baseline.constraints.to_document()
        return MonitoringFile(body, self.output.constraints_uri)


class DefaultModelMonitor:
    """Data-quality monitoring of an endpoint, named as in the sagemaker SDK v2."""

    def __init__(
        self,
        role: str | None = None,
        instance_count: int = 1,
        instance_type: str = "ml.m5.xlarge",
        volume_size_in_gb: int = 30,
        max_runtime_in_seconds: int | None = None,
        base_job_name: str | None = None,
        sagemaker_session: Session | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.role = role or DEFAULT_ROLE
        self.instance_count = instance_count
        self.instance_type = instance_type
        self.volume_size_in_gb = volume_size_in_gb
        self.max_runtime_in_seconds = max_runtime_in_seconds
        self.base_job_name = base_job_name or "baseline-suggestion-job"
        self._session = sagemaker_session
        self.env = dict(env or {})
        self.latest_baselining_job: BaseliningJob | None = None
        self.monitoring_schedule_name: str | None = None
        self.job_definition_name: str | None = None
        self._output_s3_uri: str | None = None

    @property
    def sagemaker_session(self) -> Session:
        """The session, made from the environment on first use."""
        if self._session is None:
            self._session = Session()
        return self._session

    def suggest_baseline(
        self,
        baseline_dataset: str,
        dataset_format: dict[str, Any],
        record_preprocessor_script: str | None = None,
        post_analytics_processor_script: str | None = None,
        output_s3_uri: str | None = None,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
    ) -> BaseliningJob:
        """Write statistics.json and constraints.json of ``baseline_dataset`` to ``output_s3_uri``
        (a local file or folder, or ``s3://``); it runs here, so ``wait`` is always true."""
        _refuse_scripts(record_preprocessor_script, post_analytics_processor_script)
        name = job_name or f"{self.base_job_name}-{time.strftime('%Y-%m-%d-%H-%M-%S')}"
        output = output_s3_uri or f"s3://{self.sagemaker_session.default_bucket()}/{name}/results"
        echo = print if logs else (lambda _line: None)
        made = make_baseline(
            baseline_dataset,
            dataset_format_of(dataset_format),
            output,
            lambda: self.sagemaker_session,
            echo,
        )
        self.latest_baselining_job = BaseliningJob(name, made)
        return self.latest_baselining_job

    def create_monitoring_schedule(
        self,
        endpoint_input: Any,
        record_preprocessor_script: str | None = None,
        post_analytics_processor_script: str | None = None,
        output_s3_uri: str | None = None,
        constraints: MonitoringFile | str | None = None,
        statistics: MonitoringFile | str | None = None,
        monitor_schedule_name: str | None = None,
        schedule_cron_expression: str | None = None,
        enable_cloudwatch_metrics: bool = True,
        data_analysis_start_time: str | None = None,
        data_analysis_end_time: str | None = None,
    ) -> None:
        """A data-quality job definition and a monitoring schedule that runs it."""
        _refuse_scripts(record_preprocessor_script, post_analytics_processor_script)
        if self.monitoring_schedule_name is not None:
            raise ValidationError(
                f"This monitor already has the schedule {self.monitoring_schedule_name!r}: "
                "delete it first, or make another DefaultModelMonitor"
            )
        endpoint = getattr(endpoint_input, "endpoint_name", endpoint_input)
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S")
        schedule = monitor_schedule_name or f"monitoring-schedule-{stamp}"
        definition = f"data-quality-job-definition-{stamp}"
        output = output_s3_uri or f"s3://{self.sagemaker_session.default_bucket()}/{schedule}"
        self._client().create_data_quality_job_definition(
            **self._job_definition(
                definition,
                str(endpoint),
                output,
                statistics,
                constraints,
                enable_cloudwatch_metrics,
            )
        )
        config: dict[str, Any] = {
            "ScheduleExpression": schedule_cron_expression or CronExpressionGenerator.daily()
        }
        if data_analysis_start_time is not None:
            config["DataAnalysisStartTime"] = data_analysis_start_time
        if data_analysis_end_time is not None:
            config["DataAnalysisEndTime"] = data_analysis_end_time
        try:
            self._client().create_monitoring_schedule(
                MonitoringScheduleName=schedule,
                MonitoringScheduleConfig={
                    "ScheduleConfig": config,
                    "MonitoringJobDefinitionName": definition,
                    "MonitoringType": "DataQuality",
                },
            )
        except ClientError:
            self._client().delete_data_quality_job_definition(JobDefinitionName=definition)
            raise
        self.monitoring_schedule_name = schedule
        self.job_definition_name = definition
        self._output_s3_uri = output

    def describe_schedule(self) -> dict[str, Any]:
        """DescribeMonitoringSchedule of this monitor's schedule."""
        answer = self._client().describe_monitoring_schedule(
            MonitoringScheduleName=self._schedule()
        )
        return dict(answer)

    def list_executions(self) -> list[dict[str, Any]]:
        """The schedule's executions, oldest first (ListMonitoringExecutions, every page)."""
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "MonitoringScheduleName": self._schedule(),
            "SortBy": "ScheduledTime",
            "SortOrder": "Ascending",
        }
        while True:
            page = self._client().list_monitoring_executions(**request)
            found.extend(dict(s) for s in page["MonitoringExecutionSummaries"])
            if not page.get("NextToken"):
                return found
            request["NextToken"] = page["NextToken"]

    def latest_monitoring_statistics(self) -> MonitoringFile | None:
        """statistics.json of the newest execution that finished, or None."""
        return self._latest_file("statistics.json")

    def latest_monitoring_constraint_violations(self) -> MonitoringFile | None:
        """constraint_violations.json of the newest execution that finished, or None."""
        return self._latest_file("constraint_violations.json")

    def stop_monitoring_schedule(self) -> None:
        """Stop the schedule (no new executions)."""
        self._client().stop_monitoring_schedule(MonitoringScheduleName=self._schedule())

    def start_monitoring_schedule(self) -> None:
        """Start a stopped schedule again."""
        self._client().start_monitoring_schedule(MonitoringScheduleName=self._schedule())

    def delete_monitoring_schedule(self) -> None:
        """Delete the schedule and its job definition."""
        self._client().delete_monitoring_schedule(MonitoringScheduleName=self._schedule())
        self.monitoring_schedule_name = None
        if self.job_definition_name is not None:
            self._client().delete_data_quality_job_definition(
                JobDefinitionName=self.job_definition_name
            )
            self.job_definition_name = None

    # -- helpers ---------------------------------------------------------------------------------

    def _client(self) -> Any:
        return self.sagemaker_session.sagemaker_client

    def _schedule(self) -> str:
        if self.monitoring_schedule_name is None:
            raise ValidationError("This monitor has no schedule: call create_monitoring_schedule")
        return self.monitoring_schedule_name

    def _job_definition(
        self,
        name: str,
        endpoint: str,
        output: str,
        statistics: MonitoringFile | str | None,
        constraints: MonitoringFile | str | None,
        enable_cloudwatch_metrics: bool,
    ) -> dict[str, Any]:
        baseline = self.latest_baselining_job
        if statistics is None and baseline is not None:
            statistics = baseline.baseline_statistics()
        if constraints is None and baseline is not None:
            constraints = baseline.suggested_constraints()
        baseline_config: dict[str, Any] = {}
        if statistics is not None:
            baseline_config["StatisticsResource"] = {"S3Uri": _uri(statistics)}
        if constraints is not None:
            baseline_config["ConstraintsResource"] = {"S3Uri": _uri(constraints)}
        environment = {
            **self.env,
            "publish_cloudwatch_metrics": _enabled(enable_cloudwatch_metrics),
        }
        request: dict[str, Any] = {
            "JobDefinitionName": name,
            "DataQualityAppSpecification": {"ImageUri": ANALYZER_IMAGE, "Environment": environment},
            "DataQualityJobInput": {
                "EndpointInput": {"EndpointName": endpoint, "LocalPath": _ENDPOINT_PATH}
            },
            "DataQualityJobOutputConfig": {
                "MonitoringOutputs": [{"S3Output": {"S3Uri": output, "LocalPath": _OUTPUT_PATH}}]
            },
            "JobResources": {
                "ClusterConfig": {
                    "InstanceCount": self.instance_count,
                    "InstanceType": self.instance_type,
                    "VolumeSizeInGB": self.volume_size_in_gb,
                }
            },
            "RoleArn": self.role,
        }
        if baseline_config:
            request["DataQualityBaselineConfig"] = baseline_config
        if self.max_runtime_in_seconds is not None:
            request["StoppingCondition"] = {"MaxRuntimeInSeconds": self.max_runtime_in_seconds}
        return request

    def _latest_file(self, name: str) -> MonitoringFile | None:
        finished = [
            e for e in self.list_executions() if e["MonitoringExecutionStatus"] in _FINISHED
        ]
        if not finished or self._output_s3_uri is None:
            return None
        # SageMaker lays results out as <output>/<endpoint>/<schedule>/<yyyy>/<mm>/<dd>/<hh>/:
        # the newest is last in key order.
        prefix = S3Uri.parse(self._output_s3_uri)
        store = self.sagemaker_session.s3
        keys = sorted(key for key, _size in store.keys(prefix) if key.endswith(f"/{name}"))
        if not keys:
            return None
        uri = S3Uri(prefix.bucket, keys[-1])
        body = store.client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        return MonitoringFile(json.loads(body), str(uri))


def _uri(file: MonitoringFile | str) -> str:
    return file if isinstance(file, str) else file.file_s3_uri


def _enabled(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"


def _refuse_scripts(preprocessor: str | None, postprocessor: str | None) -> None:
    if preprocessor is not None or postprocessor is not None:
        raise ValidationError(
            "record_preprocessor_script and post_analytics_processor_script are not supported "
            "by Kiln's analyzer"
        )

"""One monitoring execution: a window of captured traffic checked against a baseline.

Data quality: the window's captured records (``window_data``) are analyzed into statistics.json,
checked against the baseline's statistics and constraints into constraint_violations.json, and
each feature's drift is published to the metrics store (namespace ``DATA_METRICS_NAMESPACE``,
dimensions ``Endpoint`` and ``MonitoringSchedule``, as SageMaker's analyzer emits them). Model
quality: the window's captures are joined with the ground truth under the definition's
``ground_truth_s3_uri`` and scored (``evaluate_model_quality``). Both write their reports to
``naming.report_uri`` and their log lines to CloudWatch Logs' ``/aws/sagemaker/ProcessingJobs``.

An execution ends ``CompletedWithViolations`` when a check failed, ``Completed`` otherwise, or
``Failed`` with a reason: an empty window fails with AWS's own reason, "Job inputs had no data"
(what AWS reports for a window without captures; aws/sagemaker-python-sdk#2634).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from kiln.services.logs.store import LogStore
from kiln.services.logs.tolerant import TolerantWriter
from kiln.services.monitoring.baselines.formats import DatasetFormat, DatasetKind
from kiln.services.monitoring.metrics.series import Series
from kiln.services.monitoring.outcomes import (
    DATA_METRICS_NAMESPACE,
    DriftMetric,
    ExecutionStatus,
    drift_metric_name,
)
from kiln.services.monitoring.schedules import window_data
from kiln.services.monitoring.schedules.model import MonitoringType, Schedule, Window
from kiln.services.monitoring.schedules.naming import (
    PROCESSING_JOBS_GROUP,
    log_stream_name,
    report_uri,
)
from kiln.storage import ObjectNotFoundError, ObjectStore, S3Uri

if TYPE_CHECKING:  # the analyzers load numpy and scipy: only once an execution runs
    from kiln.services.monitoring.baselines.drift import FeatureDrift
    from kiln.services.monitoring.baselines.violations import Violation

NO_DATA = "Job inputs had no data"
MAX_FAILURE_REASON = 1024  # FailureReason's length limit in SageMaker's model
STATISTICS = "statistics.json"
VIOLATIONS = "constraint_violations.json"


class MetricSink(Protocol):
    """Where drift metrics go: Kiln's one ``MetricsStore``."""

    def put_value(self, series: Series, at: float, value: float, unit: str = "None") -> None:
        """Add one value to ``series`` at ``at``."""


@dataclass(frozen=True)
class ExecutionResult:
    """How one execution ended, and what it found."""

    status: ExecutionStatus
    failure_reason: str | None = None
    report_uri: str | None = None
    violations: tuple[Violation, ...] = ()
    drift: tuple[FeatureDrift, ...] = ()


class ExecutionFailed(Exception):
    """The execution cannot go on; its message is the FailureReason."""


_EXPECTED = (
    ExecutionFailed,
    ValueError,
    OSError,
    ClientError,
    BotoCoreError,
    ObjectNotFoundError,
)


class ExecutionRunner:
    """Runs executions: fetches the window, analyzes, writes reports, metrics and logs."""

    def __init__(
        self,
        objects: ObjectStore,
        metrics: MetricSink,
        logs: LogStore,
        capture_destination: Callable[[str], str | None],
        work_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._objects = objects
        self._metrics = metrics
        self._logs = logs
        self._capture_destination = capture_destination
        self._work_dir = work_dir
        self._clock = clock

    def run(self, schedule: Schedule, window: Window, job_name: str) -> ExecutionResult:
        """Run ``schedule``'s execution over ``window``; never raises for a failed execution."""
        stream = log_stream_name(job_name, int(self._clock()))
        writer = TolerantWriter(
            lambda: self._logs.open_stream(PROCESSING_JOBS_GROUP, stream), stream
        )
        self._work_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{job_name}-", dir=self._work_dir))
        try:
            writer.write(
                f"Monitoring schedule {schedule.name}: {schedule.definition.monitoring_type} on "
                f"endpoint {schedule.definition.endpoint_name}, scheduled "
                f"{_iso(window.scheduled_time)}, data from {_iso(window.start)} "
                f"to {_iso(window.end)}"
            )
            execution = _Execution(
                self._objects,
                self._metrics,
                self._capture_destination,
                self._clock,
                schedule,
                window,
                folder,
                writer.write,
            )
            result = execution.run()
        except _EXPECTED as e:
            for line in traceback.format_exception_only(e):
                writer.write(line.rstrip())
            result = ExecutionResult(ExecutionStatus.FAILED, _reason(e))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        writer.write(f"Execution ended {result.status}" + _suffix(result.failure_reason))
        writer.close()
        return result


@dataclass
class _Execution:
    objects: ObjectStore
    metrics: MetricSink
    capture_destination: Callable[[str], str | None]
    clock: Callable[[], float]
    schedule: Schedule
    window: Window
    folder: Path
    say: Callable[[str], None]

    def run(self) -> ExecutionResult:
        if self.schedule.definition.monitoring_type is MonitoringType.MODEL_QUALITY:
            return self.model_quality()
        return self.data_quality()

    def data_quality(self) -> ExecutionResult:
        from kiln.services.monitoring.baselines import (
            Constraints,
            Statistics,
            analyze_dataset,
            check_constraints,
            drift_metrics,
        )

        definition = self.schedule.definition
        baseline = constraints = None  # read first: a bad baseline fails before any analysis
        if definition.baseline_statistics_uri is not None:
            baseline = Statistics.from_document(self.read_json(definition.baseline_statistics_uri))
        if definition.baseline_constraints_uri is not None:
            document = self.read_json(definition.baseline_constraints_uri)
            constraints = Constraints.from_document(document)
        captures = self.captures()
        # Captured CSV has no header: its columns take the baseline's names, by position.
        names = [f.name for f in baseline.features] if baseline is not None else []
        current = analyze_dataset(
            captures.paths, DatasetFormat(DatasetKind.CAPTURE), feature_names=names
        )
        self.say(f"Analyzed {current.item_count} records, {len(current.features)} features")
        violations: tuple[Violation, ...] = ()
        drift: tuple[FeatureDrift, ...] = ()
        if baseline is not None:
            drift = drift_metrics(current, baseline)
            self.publish(drift)
            if constraints is not None:
                violations = check_constraints(current, baseline, constraints).violations
        reports = {STATISTICS: current.to_document()}
        if constraints is not None:
            reports[VIOLATIONS] = {"violations": [v.to_document() for v in violations]}
        return self.finish(reports, violations, drift)

    def model_quality(self) -> ExecutionResult:
        from kiln.services.monitoring.model_quality import evaluate_model_quality

        definition = self.schedule.definition
        if definition.model_quality is None or definition.ground_truth_s3_uri is None:
            raise ExecutionFailed(
                "A model quality job definition needs its problem type and ground truth"
            )
        captures = self.captures()
        now = datetime.fromtimestamp(self.clock(), UTC)
        labels = window_data.ground_truth_objects(
            self.objects, definition.ground_truth_s3_uri, self.window, now
        )
        label_files = window_data.fetch_all(self.objects, labels, self.folder / "labels")
        self.say(f"Read {len(label_files)} ground truth files")
        constraints = (
            None
            if definition.baseline_constraints_uri is None
            else self.read_json(definition.baseline_constraints_uri)
        )
        report = evaluate_model_quality(
            captures.paths, label_files, definition.model_quality, constraints
        )
        self.say(f"Matched {report.matched} predictions with labels")
        if report.is_empty:
            raise ExecutionFailed(f"{NO_DATA}: no captured prediction in the window had a label")
        reports: dict[str, Any] = {STATISTICS: dict(report.statistics)}
        if constraints is not None:
            reports[VIOLATIONS] = report.violations.to_document()
        return self.finish(reports, report.violations.violations, ())

    def captures(self) -> window_data.WindowCaptures:
        endpoint = self.schedule.definition.endpoint_name
        destination = self.capture_destination(endpoint)
        if destination is None:
            raise ExecutionFailed(f"Endpoint {endpoint} does not capture data")
        uris = window_data.capture_objects(self.objects, destination, endpoint, self.window)
        found = window_data.fetch_captures(
            self.objects, uris, self.window, self.folder / "captures"
        )
        self.say(
            f"Read {found.records} captured records in the window from {found.files_read} files"
            + (f"; {found.unreadable} unreadable lines skipped" if found.unreadable else "")
        )
        if not found.records:
            raise ExecutionFailed(NO_DATA)
        return found

    def read_json(self, uri: str) -> Any:
        path = self.folder / "baseline" / S3Uri.parse(uri).key.rsplit("/", 1)[-1]
        try:
            self.objects.download_file(S3Uri.parse(uri), path)
        except ObjectNotFoundError as e:
            raise ExecutionFailed(f"The baseline file {uri} does not exist") from e
        try:
            return orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as e:
            raise ExecutionFailed(f"The baseline file {uri} is not JSON: {e}") from e

    def publish(self, drift: tuple[FeatureDrift, ...]) -> None:
        dimensions = {
            "Endpoint": self.schedule.definition.endpoint_name,
            "MonitoringSchedule": self.schedule.name,
        }
        at = self.window.scheduled_time.timestamp()
        for feature in drift:
            for metric, value in _drift_values(feature).items():
                name = drift_metric_name(metric, feature.feature_name)
                self.metrics.put_value(
                    Series.of(DATA_METRICS_NAMESPACE, name, dimensions), at, value
                )

    def finish(
        self,
        reports: Mapping[str, Any],
        violations: tuple[Violation, ...],
        drift: tuple[FeatureDrift, ...],
    ) -> ExecutionResult:
        definition = self.schedule.definition
        folder = report_uri(
            definition.output_s3_uri,
            definition.endpoint_name,
            self.schedule.name,
            self.window.scheduled_time,
        )
        for name, document in reports.items():
            body = orjson.dumps(document, option=orjson.OPT_INDENT_2)
            self.objects.put_bytes(folder.join(name), body, create_bucket=True)
        self.say(f"Wrote {', '.join(reports)} to {folder}; {len(violations)} violations")
        status = (
            ExecutionStatus.COMPLETED_WITH_VIOLATIONS if violations else ExecutionStatus.COMPLETED
        )
        return ExecutionResult(status, None, str(folder), violations, drift)


def _drift_values(feature: FeatureDrift) -> dict[DriftMetric, float]:
    return {
        DriftMetric.BASELINE_DRIFT: feature.baseline_drift,
        DriftMetric.PSI: feature.psi,
        DriftMetric.KS: feature.ks,
        DriftMetric.JS: feature.js,
    }


def _reason(error: BaseException) -> str:
    text = str(error) if isinstance(error, ExecutionFailed) else f"{type(error).__name__}: {error}"
    return text[:MAX_FAILURE_REASON]


def _suffix(reason: str | None) -> str:
    return "" if reason is None else f": {reason}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

"""Monitoring executions over real capture files in the embedded S3 store.

Capture lines are written in SageMaker's format (``capture.records``) at SageMaker's keys
(``capture.keys``) through the server's own ``ObjectStore``; the runner reads them back over S3,
writes its reports there, its metrics into the server's ``MetricsStore`` and its log lines into
its log store, which the test reads through boto3's CloudWatch Logs client.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import Kiln, make_settings, start_kiln
from kiln.services.hosting.invocations import CaptureConfig, InvocationRecord, Outcome
from kiln.services.monitoring.capture.keys import FileGroup, capture_file_uri, hour_of
from kiln.services.monitoring.capture.records import capture_line
from kiln.services.monitoring.model_quality import ModelQualityConfig, ProblemType
from kiln.services.monitoring.outcomes import ExecutionStatus
from kiln.services.monitoring.schedules.execution import NO_DATA, ExecutionRunner
from kiln.services.monitoring.schedules.expressions import parse_expression
from kiln.services.monitoring.schedules.model import (
    JobDefinition,
    MonitoringType,
    Schedule,
    ScheduleStatus,
)
from kiln.services.monitoring.schedules.naming import PROCESSING_JOBS_GROUP, processing_job_name
from kiln.services.monitoring.schedules.windows import window_at
from kiln.storage import S3Uri

DESTINATION = "s3://capture/model-monitor/data-capture"
ENDPOINT = "ep"
# A whole hour two days ago: the capture files' folders and the window are both that hour.
SCHEDULED = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
CONFIG = CaptureConfig(
    sampling_percentage=100,
    destination=DESTINATION,
    capture_input=True,
    capture_output=True,
    csv_content_types=frozenset({"text/csv"}),
    json_content_types=frozenset({"application/json"}),
)


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    """One server for the module, with the capture bucket made."""
    home: Path = tmp_path_factory.mktemp("monitor-executions")
    with start_kiln(make_settings(home / "kiln-home", f"sqlite:///{home / 'kiln.db'}")) as server:
        server.s3.create_bucket(Bucket="capture")
        yield server


def runner(kiln: Kiln, tmp_path: Path) -> ExecutionRunner:
    """An execution runner on the server's own stores; the endpoint captures to DESTINATION."""
    server = kiln.thread.kiln
    return ExecutionRunner(
        server.objects,
        server.metrics,
        server.logs,
        lambda endpoint: DESTINATION if endpoint == ENDPOINT else None,
        tmp_path / "work",
    )


def schedule(name: str, definition: JobDefinition) -> Schedule:
    return Schedule(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:000000000000:monitoring-schedule/{name}",
        status=ScheduleStatus.SCHEDULED,
        expression=parse_expression("cron(0 * ? * * *)"),
        definition=definition,
        created=SCHEDULED - timedelta(days=1),
    )


def definition(kind: MonitoringType, **fields: object) -> JobDefinition:
    return JobDefinition(
        name=f"def-{kind}",
        arn=f"arn:aws:sagemaker:us-east-1:000000000000:job-definition/def-{kind}",
        monitoring_type=kind,
        endpoint_name=ENDPOINT,
        output_s3_uri="s3://capture/reports",
        **fields,  # type: ignore[arg-type]
    )


def write_captures(kiln: Kiln, rows: list[tuple[datetime, str, str, str]]) -> None:
    """Capture files holding ``(inference time, input CSV, output CSV, inference id)`` rows."""
    by_hour: dict[int, list[bytes]] = {}
    for at, request, response, inference_id in rows:
        record = InvocationRecord(
            endpoint=ENDPOINT,
            variant="AllTraffic",
            is_shadow=False,
            replica="r-1",
            event_id=str(uuid.uuid4()),
            inference_id=inference_id,
            arrived_at=at.timestamp(),
            outcome=Outcome.ANSWERED,
            model_status=200,
            model_latency_us=1000,
            overhead_latency_us=100,
            request_body=request.encode(),
            request_content_type="text/csv",
            request_accept="text/csv",
            response_body=response.encode(),
            response_content_type="text/csv",
            capture=CONFIG,
        )
        by_hour.setdefault(hour_of(at.timestamp()), []).append(capture_line(record, CONFIG))
    for hour, lines in by_hour.items():
        uri = capture_file_uri(
            FileGroup(DESTINATION, ENDPOINT, "AllTraffic", hour), hour, uuid.uuid4()
        )
        kiln.thread.kiln.objects.put_bytes(uri, b"".join(lines))


def put_json(kiln: Kiln, uri: str, document: object) -> None:
    kiln.thread.kiln.objects.put_bytes(S3Uri.parse(uri), json.dumps(document).encode())


def read_json(kiln: Kiln, uri: str) -> object:
    found = S3Uri.parse(uri)
    return json.loads(kiln.s3.get_object(Bucket=found.bucket, Key=found.key)["Body"].read())


def log_messages(kiln: Kiln, job: str) -> list[str]:
    logs = kiln.client("logs")
    streams = logs.describe_log_streams(
        logGroupName=PROCESSING_JOBS_GROUP, logStreamNamePrefix=f"{job}/algo-1-"
    )["logStreams"]
    assert len(streams) == 1
    events = logs.get_log_events(
        logGroupName=PROCESSING_JOBS_GROUP, logStreamName=streams[0]["logStreamName"]
    )["events"]
    return [e["message"] for e in events]


def test_model_quality_execution_writes_its_report_where_sagemaker_does(
    kiln: Kiln, tmp_path: Path
) -> None:
    start = SCHEDULED - timedelta(hours=1)
    # four predictions in the window, one just after it (not read), labels for all five
    rows = [
        (start + timedelta(minutes=m), "1,2", pred, f"id-{m}")
        for m, pred in [(1, "1.0"), (10, "2.0"), (20, "3.0"), (59, "4.0")]
    ] + [(SCHEDULED, "1,2", "100.0", "id-late")]
    write_captures(kiln, rows)
    labels = b"".join(
        json.dumps(
            {
                "groundTruthData": {"data": label, "encoding": "CSV"},
                "eventMetadata": {"eventId": inference_id},
                "eventVersion": "0",
            }
        ).encode()
        + b"\n"
        for inference_id, label in [
            ("id-1", "1.0"),
            ("id-10", "2.0"),
            ("id-20", "3.0"),
            ("id-59", "6.0"),
            ("id-late", "0"),
        ]
    )
    hour = SCHEDULED.strftime("%Y/%m/%d/%H")
    kiln.thread.kiln.objects.put_bytes(
        S3Uri.parse(f"s3://capture/ground-truth/{ENDPOINT}/{hour}/00-00-000-x.jsonl"), labels
    )
    model_quality = definition(
        MonitoringType.MODEL_QUALITY,
        model_quality=ModelQualityConfig(ProblemType.REGRESSION),
        ground_truth_s3_uri=f"s3://capture/ground-truth/{ENDPOINT}",
    )
    plan = schedule("mq", model_quality)
    job = processing_job_name(plan, SCHEDULED)

    result = runner(kiln, tmp_path).run(plan, window_at(plan, SCHEDULED), job)

    assert (result.status, result.failure_reason) == (ExecutionStatus.COMPLETED, None)
    assert result.report_uri == f"s3://capture/reports/{ENDPOINT}/mq/{hour}"
    statistics = read_json(kiln, f"{result.report_uri}/statistics.json")
    assert isinstance(statistics, dict)
    assert statistics["dataset"]["item_count"] == 4
    assert statistics["regression_metrics"]["mae"]["value"] == pytest.approx(0.5)
    assert any("Matched 4 predictions" in m for m in log_messages(kiln, job))


def test_an_empty_window_fails_with_aws_reason_and_logs_it(kiln: Kiln, tmp_path: Path) -> None:
    quiet = SCHEDULED - timedelta(hours=20)  # no captures that hour
    plan = schedule("empty", definition(MonitoringType.DATA_QUALITY))
    job = processing_job_name(plan, quiet)

    result = runner(kiln, tmp_path).run(plan, window_at(plan, quiet), job)

    assert (result.status, result.failure_reason, result.report_uri) == (
        ExecutionStatus.FAILED,
        NO_DATA,
        None,
    )
    messages = log_messages(kiln, job)
    assert "Read 0 captured records in the window from 0 files" in messages
    assert messages[-1] == f"Execution ended Failed: {NO_DATA}"


def test_an_endpoint_without_capture_fails_clearly(kiln: Kiln, tmp_path: Path) -> None:
    uncaptured = replace(definition(MonitoringType.DATA_QUALITY), endpoint_name="uncaptured")
    plan = schedule("other", uncaptured)

    result = runner(kiln, tmp_path).run(plan, window_at(plan, SCHEDULED), "model-monitoring-x")

    assert result.failure_reason == "Endpoint uncaptured does not capture data"


def test_a_missing_baseline_fails_naming_it(kiln: Kiln, tmp_path: Path) -> None:
    write_captures(kiln, [(SCHEDULED - timedelta(minutes=30), "1,2", "0.5", "b-1")])
    plan = schedule(
        "nobase",
        definition(
            MonitoringType.DATA_QUALITY,
            baseline_statistics_uri="s3://capture/baseline/missing.json",
        ),
    )

    result = runner(kiln, tmp_path).run(plan, window_at(plan, SCHEDULED), "model-monitoring-y")

    assert (result.status, result.failure_reason) == (
        ExecutionStatus.FAILED,
        "The baseline file s3://capture/baseline/missing.json does not exist",
    )

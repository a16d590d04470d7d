"""The schedules' store and the ScheduleBook on it: exactly-once windows, across books and
restarts; one schedule per endpoint and type; history that outlives a deleted schedule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Barrier, Thread
from typing import Any

import pytest

from kiln.db import DuplicateNameError, connect
from kiln.db.monitoring import MonitoringRows, ScheduleOverlapError, ScheduleRow
from kiln.services.monitoring.outcomes import ExecutionStatus
from kiln.services.monitoring.schedules.book import StoredScheduleBook
from kiln.services.monitoring.schedules.model import MonitoringType, Window

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
DEFINITION = {
    "DataQualityAppSpecification": {"ImageUri": "kiln/model-monitor"},
    "DataQualityJobInput": {
        "EndpointInput": {"EndpointName": "ep", "LocalPath": "/opt/ml/processing/input"}
    },
    "DataQualityJobOutputConfig": {
        "MonitoringOutputs": [
            {"S3Output": {"S3Uri": "s3://out/reports", "LocalPath": "/opt/ml/processing/output"}}
        ]
    },
    "JobResources": {
        "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
    },
    "RoleArn": "arn:aws:iam::000000000000:role/kiln",
}


def schedule_row(name: str = "s", endpoint: str = "ep", **changes: Any) -> ScheduleRow:
    """A stored hourly DataQuality schedule with an inline definition."""
    row = ScheduleRow(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:000000000000:monitoring-schedule/{name}",
        generation=f"gen-{name}-{endpoint}",
        status="Scheduled",
        monitoring_type="DataQuality",
        endpoint_name=endpoint,
        job_definition_name=None,
        creation_time=AT.timestamp(),
        last_modified_time=AT.timestamp(),
        failure_reason=None,
        spec={
            "MonitoringScheduleConfig": {
                "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
                "MonitoringType": "DataQuality",
            },
            "Definition": DEFINITION,
        },
    )
    return replace(row, **changes)


def window(at: datetime = AT) -> Window:
    return Window(scheduled_time=at, start=at - timedelta(hours=1), end=at)


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kiln.db'}"


@pytest.fixture
def rows(database: str) -> MonitoringRows:
    return MonitoringRows(connect(database))


@pytest.fixture
def book(rows: MonitoringRows) -> StoredScheduleBook:
    rows.add_schedule(schedule_row())
    return StoredScheduleBook(rows, clock=lambda: AT.timestamp() + 5)


def test_a_window_begins_once(book: StoredScheduleBook) -> None:
    assert book.begin("s", window(), "job-1")
    assert not book.begin("s", window(), "job-2")
    assert [r.processing_job_name for r in book.unfinished()] == ["job-1"]


def test_a_second_server_on_the_same_database_cannot_begin_a_begun_window(
    book: StoredScheduleBook, database: str
) -> None:
    other = StoredScheduleBook(MonitoringRows(connect(database)))
    assert book.begin("s", window(), "job-1")
    assert not other.begin("s", window(), "job-1")  # the same deterministic job name too
    assert not other.begin("s", window(), "job-other")


def test_racing_books_begin_a_window_exactly_once(book: StoredScheduleBook, database: str) -> None:
    books = [StoredScheduleBook(MonitoringRows(connect(database))) for _ in range(4)]
    start, won = Barrier(len(books)), []

    def race(i: int, each: StoredScheduleBook) -> None:
        start.wait()
        won.append(each.begin("s", window(), f"job-{i}"))

    threads = [Thread(target=race, args=(i, b)) for i, b in enumerate(books)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, False, False, True]


def test_a_restart_sees_the_unfinished_execution_and_its_window(
    book: StoredScheduleBook, database: str
) -> None:
    book.begin("s", window(), "job-1")
    after_restart = StoredScheduleBook(MonitoringRows(connect(database)))
    [record] = after_restart.unfinished()
    assert (record.schedule_name, record.scheduled_time, record.status) == (
        "s",
        AT,
        ExecutionStatus.IN_PROGRESS,
    )
    assert after_restart.last_scheduled_time("s") == AT
    assert not after_restart.begin("s", window(), "job-1")


def test_finish_records_the_end_and_the_report(
    book: StoredScheduleBook, rows: MonitoringRows
) -> None:
    book.begin("s", window(), "job-1")
    book.finish("s", AT, ExecutionStatus.COMPLETED_WITH_VIOLATIONS, None, "s3://out/r/1")
    assert book.unfinished() == []
    [row] = rows.executions(["CompletedWithViolations"])
    assert (row.report_uri, row.last_modified_time) == ("s3://out/r/1", AT.timestamp() + 5)


def test_last_scheduled_time_is_the_newest_window(book: StoredScheduleBook) -> None:
    assert book.last_scheduled_time("s") is None
    for hours in (2, 0, 1):
        book.begin("s", window(AT + timedelta(hours=hours)), f"job-{hours}")
    assert book.last_scheduled_time("s") == AT + timedelta(hours=2)


def test_a_naive_time_is_taken_as_utc(book: StoredScheduleBook) -> None:
    book.begin("s", window(AT.replace(tzinfo=None)), "job-1")
    assert not book.begin("s", window(AT), "job-2")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda rows: rows.change_schedule("s", lambda r: replace(r, status="Stopped")), "stop"),
        (lambda rows: rows.remove_schedule("s"), "delete"),
    ],
)
def test_a_stopped_or_deleted_schedule_begins_nothing(
    book: StoredScheduleBook, rows: MonitoringRows, change: Callable[..., object], why: str
) -> None:
    change(rows)
    assert not book.begin("s", window(), "job-1"), why


def test_scheduled_reads_running_schedules_as_typed_state(
    book: StoredScheduleBook, rows: MonitoringRows
) -> None:
    rows.add_schedule(schedule_row("off", endpoint="other", status="Stopped"))
    [schedule] = book.scheduled()
    assert (schedule.name, schedule.expression.period) == ("s", timedelta(hours=1))
    assert schedule.definition.monitoring_type is MonitoringType.DATA_QUALITY
    assert schedule.definition.output_s3_uri == "s3://out/reports"
    assert schedule.definition.endpoint_name == "ep"


def test_a_schedule_created_again_under_its_name_starts_a_new_history(
    book: StoredScheduleBook, rows: MonitoringRows
) -> None:
    book.begin("s", window(), "job-1")
    rows.remove_schedule("s")
    rows.add_schedule(schedule_row(generation="gen-2"))
    assert book.last_scheduled_time("s") is None
    assert book.begin("s", window(), "job-2")
    assert len(rows.executions(["InProgress"])) == 2  # the old one is still listed


def test_one_schedule_per_endpoint_and_type(rows: MonitoringRows) -> None:
    rows.add_schedule(schedule_row("first"))
    with pytest.raises(ScheduleOverlapError, match="first"):
        rows.add_schedule(schedule_row("second"))
    rows.add_schedule(schedule_row("quality", monitoring_type="ModelQuality"))
    with pytest.raises(DuplicateNameError):
        rows.add_schedule(schedule_row("first", endpoint="elsewhere", generation="g2"))


def test_moving_a_schedule_onto_a_taken_endpoint_is_refused(rows: MonitoringRows) -> None:
    rows.add_schedule(schedule_row("a", endpoint="ep-a"))
    rows.add_schedule(schedule_row("b", endpoint="ep-b"))
    with pytest.raises(ScheduleOverlapError, match="'?a'?"):
        rows.change_schedule("b", lambda r: replace(r, endpoint_name="ep-a"))
    assert rows.schedule("b").endpoint_name == "ep-b"  # type: ignore[union-attr]

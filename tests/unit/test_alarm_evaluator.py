"""The alarm evaluator over a real database: invocations → datapoints → stored state changes
told to the listeners."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from conftest import invocation_record as record
from kiln.db import connect
from kiln.db.alarms import AlarmRows
from kiln.db.metrics import MetricRows
from kiln.db.tables import metadata
from kiln.services.hosting.invocations import Outcome
from kiln.services.monitoring.alarms.changes import AlarmState, AlarmStateChange
from kiln.services.monitoring.alarms.definition import parse_alarm
from kiln.services.monitoring.alarms.evaluation import Datapoint
from kiln.services.monitoring.alarms.evaluator import MAX_REASON_DATA, AlarmEvaluator, reason_data
from kiln.services.monitoring.alarms.service import CloudWatchAlarms
from kiln.services.monitoring.metrics import MetricsStore
from kiln.services.monitoring.metrics.fine import InvocationSlots

START = 1_000_000.0  # a multiple of 10


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Heard:
    def __init__(self) -> None:
        self.changes: list[AlarmStateChange] = []

    def alarm_changed(self, change: AlarmStateChange) -> None:
        self.changes.append(change)


@pytest.fixture
def engine(any_database_url: str) -> Iterator[Engine]:
    engine = connect(any_database_url)
    yield engine
    engine.dispose()


def _alarm(alarms: CloudWatchAlarms) -> None:
    alarms.put_metric_alarm(
        {
            "AlarmName": "errors",
            "Namespace": "AWS/SageMaker",
            "MetricName": "InvocationModelErrors",
            "Dimensions": [
                {"Name": "EndpointName", "Value": "ep"},
                {"Name": "VariantName", "Value": "A"},
            ],
            "Statistic": "Sum",
            "Period": 10,
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": ["arn:aws:autoscaling:policy"],
        }
    )


def test_errors_in_a_finished_period_put_the_alarm_in_alarm(engine: Engine) -> None:
    clock, fine, heard = Clock(START + 5), InvocationSlots(), Heard()
    alarms = CloudWatchAlarms(AlarmRows(engine), "us-east-1", clock)
    alarms.add_listener(heard)
    evaluator = AlarmEvaluator(alarms, MetricsStore(MetricRows(engine), retention_seconds=3600),
                               fine, clock=clock)  # fmt: skip
    _alarm(alarms)
    fine.observe(record(Outcome.MODEL_ERROR, 500, at=START + 1))

    evaluator.evaluate_all()  # the period START… is not over yet: no datapoint
    clock.now = START + 10.5
    evaluator.evaluate_all()

    assert [(c.old, c.new) for c in heard.changes] == [
        (AlarmState.INSUFFICIENT_DATA, AlarmState.ALARM)
    ]
    assert heard.changes[-1].actions == ("arn:aws:autoscaling:policy",)
    (described,) = alarms.describe_alarms({"AlarmNames": ["errors"]})["MetricAlarms"]
    assert described["StateValue"] == "ALARM"
    assert '"recentDatapoints": [1.0]' in described["StateReasonData"]


def test_the_migration_builds_the_alarms_table_the_code_declares(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)

    assert [d for d in differences if "alarms" in repr(d)] == []


def test_state_reason_data_keeps_the_newest_datapoints_that_fit_its_4000_characters() -> None:
    definition = {"AlarmName": "many", "Namespace": "Walk", "MetricName": "M", "Statistic": "Sum",
                  "Period": 10, "EvaluationPeriods": 200, "Threshold": 0,
                  "ComparisonOperator": "GreaterThanThreshold"}  # fmt: skip
    points = [Datapoint(START - 10 * i, float(i), 1.0) for i in range(200)]  # newest first
    text = reason_data(parse_alarm(definition), points, START)
    assert len(text) <= MAX_REASON_DATA
    evaluated = json.loads(text)["evaluatedDatapoints"]
    assert 0 < len(evaluated) < 200
    assert evaluated[0]["value"] == 0.0  # the newest is kept

"""Application Auto Scaling's rows on every configured database: targets, policies and activities
survive a new engine (a restart), a target's policies go with it, activities page newest first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from kiln.db import connect
from kiln.db.autoscaling import ActivityRow, PolicyRow, ScalingRows, TargetRow

RESOURCE = "endpoint/e/variant/v"


@pytest.fixture
def engine(any_database_url: str) -> Iterator[Engine]:
    engine = connect(any_database_url)
    yield engine
    engine.dispose()


def _target(high: int = 3) -> TargetRow:
    return TargetRow(
        RESOURCE, "arn:t", 1, high, "arn:role", {"DynamicScalingInSuspended": True}, 5.0
    )


def _policy(name: str = "p") -> PolicyRow:
    alarms = (("high", "arn:high"), ("low", "arn:low"))
    return PolicyRow(RESOURCE, name, f"arn:{name}", "TargetTrackingScaling", {"TargetValue": 5.0},
                     alarms, 6.0)  # fmt: skip


def test_targets_and_policies_survive_a_new_engine(any_database_url: str, engine: Engine) -> None:
    rows = ScalingRows(engine)
    rows.put_target(_target())
    assert rows.put_policy(_policy())
    engine.dispose()
    again = connect(any_database_url)
    try:
        assert ScalingRows(again).targets() == [_target()]
        assert ScalingRows(again).policies(RESOURCE) == [_policy()]
    finally:
        again.dispose()


def test_putting_a_target_again_replaces_it(engine: Engine) -> None:
    rows = ScalingRows(engine)
    rows.put_target(_target(3))
    rows.put_target(_target(7))
    assert [t.max_capacity for t in rows.targets()] == [7]


def test_deleting_a_target_deletes_its_policies(engine: Engine) -> None:
    rows = ScalingRows(engine)
    rows.put_target(_target())
    rows.put_policy(_policy("a"))
    rows.put_policy(_policy("b"))
    assert rows.delete_target(RESOURCE)
    assert rows.policies() == []
    assert not rows.delete_target(RESOURCE)


def test_a_policy_without_its_target_is_not_stored(engine: Engine) -> None:
    rows = ScalingRows(engine)
    assert not rows.put_policy(_policy())
    assert rows.policies() == []


def test_activities_come_newest_first_and_end_with_a_status(engine: Engine) -> None:
    rows = ScalingRows(engine)
    for at in (1.0, 3.0, 2.0):
        rows.add_activity(ActivityRow(f"a{at:g}", RESOURCE, "d", "c", "InProgress", None, at,
                                      None, 2))  # fmt: skip
    rows.finish_activity("a3", "Successful", "done", 4.0)
    newest = rows.activities(RESOURCE, offset=0, limit=2)
    assert [(a.activity_id, a.status_code, a.end_time) for a in newest] == [
        ("a3", "Successful", 4.0),
        ("a2", "InProgress", None),
    ]
    assert [a.activity_id for a in rows.activities(None, offset=2, limit=5)] == ["a1"]
    open_ = rows.activities(None, offset=0, limit=9, status="InProgress")
    assert {a.activity_id for a in open_} == {"a1", "a2"}

"""The new-data watcher's memory across restarts, on a real database.

The listing is a list the test fills (the object store's listing is the watcher's one input);
each "restart" builds a new watcher and runner over the same database, as a new server would.
"""

from __future__ import annotations

import threading
from pathlib import Path

from kiln.db import connect
from kiln.db.retraining import RetrainingRows
from kiln.services.monitoring.actions import FiringRunner, NewDataWatcher, RetrainingRules
from kiln.services.monitoring.actions.decisions import StoredObject
from kiln.services.monitoring.actions.webhooks import WebhookSender
from kiln.storage import S3Uri

RULE = {
    "RuleName": "fresh",
    "Trigger": {"NewData": {"S3Uri": "s3://data/stream/", "MinObjects": 2}},
    "Actions": {"Webhook": {"Url": "http://127.0.0.1:9/"}},
}


class _Unused:
    """Training is not reached: the rule has only a webhook."""

    def check(self, request: object) -> None:
        raise AssertionError("no template to check")

    def start(self, request: object) -> None:
        raise AssertionError("no job to start")


def _server(tmp_path: Path, listing: list[StoredObject]) -> tuple[RetrainingRules, NewDataWatcher]:
    """A rules service and a watcher over the database in ``tmp_path`` (runner not started:
    firings are recorded, their actions left for a start that this test never makes)."""
    rows = RetrainingRows(connect(f"sqlite:///{tmp_path / 'kiln.db'}"))
    stopping = threading.Event()
    runner = FiringRunner(rows, _Unused(), WebhookSender(1, 0, 1, stopping), stopping)

    def listed(_prefix: S3Uri) -> list[StoredObject]:
        return list(listing)

    rules = RetrainingRules(rows, _Unused(), listed, lambda n: n, lambda: 1.0)
    watcher = NewDataWatcher(rows, rules.rules, listed, runner, tick_seconds=1, now=lambda: 2.0)
    return rules, watcher


def _object(name: str) -> StoredObject:
    return StoredObject(f"stream/{name}", name, 1)


def test_objects_there_at_creation_are_not_new(tmp_path: Path) -> None:
    listing = [_object("a"), _object("b")]
    rules, watcher = _server(tmp_path, listing)
    rules.create(RULE)
    assert watcher.check_all() == []


def test_objects_short_of_the_threshold_add_up_across_ticks(tmp_path: Path) -> None:
    listing: list[StoredObject] = []
    rules, watcher = _server(tmp_path, listing)
    rules.create(RULE)
    listing.append(_object("a"))
    assert watcher.check_all() == []
    listing.append(_object("b"))
    assert len(watcher.check_all()) == 1


def test_a_restart_neither_fires_again_nor_misses_what_arrived_while_down(tmp_path: Path) -> None:
    listing: list[StoredObject] = []
    rules, watcher = _server(tmp_path, listing)
    rules.create(RULE)
    listing += [_object("a"), _object("b")]
    assert len(watcher.check_all()) == 1
    _, restarted = _server(tmp_path, listing)
    assert restarted.check_all() == []  # a and b were counted by the first firing
    listing += [_object("c"), _object("d")]  # arrived while the server was down
    _, again = _server(tmp_path, listing)
    [firing] = again.check_all()
    evidence = rules.firings("fresh")["Firings"][0]["Evidence"]
    assert [o["Key"] for o in evidence["NewObjects"]] == ["stream/c", "stream/d"]
    assert rules.firings("fresh")["Firings"][0]["FiringId"] == firing

"""The sweeper ends work that lost its worker, against a real database and scheduler."""

from __future__ import annotations

import time
from pathlib import Path

from kiln.db import TrainingJobRecord, TrainingJobStore, connect
from kiln.services.capacity import Demand
from kiln.services.sweeping import LOST_RUNNER
from kiln.services.training.scheduler import TrainingScheduler
from kiln.services.training.states import transition


class _CrashingRunner:
    """A runner with a bug. The real runner has none we know how to trigger, so this stands in
    for it: it marks the job launched, as every runner does first, then raises."""

    def __init__(self, store: TrainingJobStore, record: TrainingJobRecord) -> None:
        self.name = record.name
        self._store = store

    def run(self) -> None:
        self._store.modify(self.name, lambda r: r.state.setdefault("kiln", {}).update(launched=1))
        raise KeyError("boom")

    def request_stop(self) -> None:
        """Nothing runs to stop."""

    def interrupt(self) -> None:
        """Nothing runs to interrupt."""


def _is_launched(store: TrainingJobStore, name: str) -> bool:
    record = store.get(name)
    return record is not None and bool(record.state.get("kiln", {}).get("launched"))


def test_sweep_fails_a_launched_job_whose_runner_died_with_what_it_died_of(
    tmp_path: Path,
) -> None:
    store = TrainingJobStore(connect(f"sqlite:///{tmp_path / 'kiln.db'}"))
    now = time.time()
    record = TrainingJobRecord("crashy", "arn:crashy", "InProgress", "Starting", now, now, {})
    transition(record, "Starting", now=now)
    store.add(record)
    scheduler = TrainingScheduler(
        store,
        lambda record: _CrashingRunner(store, record),
        lambda _record: Demand(1, 1),
        Demand(2, 2048),
    )
    scheduler.start()
    scheduler.wake()
    try:
        deadline = time.monotonic() + 30
        while scheduler.running() or not _is_launched(store, "crashy"):
            assert time.monotonic() < deadline, "the runner never ran"
            time.sleep(0.01)
        scheduler.sweep()
    finally:
        scheduler.stop()
    job = store.get("crashy")
    assert job is not None
    assert job.status == "Failed"
    assert job.state["FailureReason"] == f"{LOST_RUNNER}: KeyError: 'boom'"

"""The metadata stores on every configured database (SQLite; PostgreSQL in CI)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, inspect

from kiln.db import (
    DuplicateNameError,
    ResourceRecord,
    ResourceStore,
    TrainingJobRecord,
    TrainingJobStore,
    connect,
)
from kiln.db.engine import migrate
from kiln.db.listing import ListQuery
from kiln.db.tables import endpoints
from kiln.errors import ResourceInUseError


def _record(name: str, created: float, status: str = "InService") -> ResourceRecord:
    return ResourceRecord(name, f"arn:{name}", status, created, created, {"a": [1, {"b": "c"}]}, {})


@pytest.fixture
def engine(any_database_url: str) -> Iterator[Engine]:
    engine = connect(any_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> ResourceStore:
    return ResourceStore(engine, endpoints)


def test_migrations_create_every_table_and_run_twice(engine: Engine) -> None:
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"training_jobs", "models", "endpoint_configs", "endpoints", "alembic_version"} <= tables


def test_records_round_trip_with_json(store: ResourceStore) -> None:
    store.add(_record("ep-1", 1.0))
    found = store.get("ep-1")
    assert found is not None
    assert found.spec == {"a": [1, {"b": "c"}]}
    assert store.get("missing") is None


def test_duplicate_names_are_refused(store: ResourceStore) -> None:
    store.add(_record("ep-1", 1.0))
    with pytest.raises(DuplicateNameError):
        store.add(_record("ep-1", 2.0))


def test_pages_filter_sort_and_continue(store: ResourceStore) -> None:
    for i, name in enumerate(["b-1", "a-1", "c-1", "a_%"]):
        store.add(_record(name, float(i), status="Failed" if name == "c-1" else "InService"))
    first, token = store.page(ListQuery(sort_by="name", max_results=2))
    second, last = store.page(ListQuery(sort_by="name", max_results=2, next_token=token))
    assert [r.name for r in first + second] == ["a-1", "a_%", "b-1", "c-1"]
    assert last is None
    failed, _ = store.page(ListQuery(status_equals="Failed"))
    assert [r.name for r in failed] == ["c-1"]
    like, _ = store.page(ListQuery(name_contains="_%"))
    assert [r.name for r in like] == ["a_%"]  # LIKE wildcards in the filter are literal
    newest, _ = store.page(ListQuery(descending=True, created_after=0.5))
    assert [r.name for r in newest] == ["a_%", "c-1", "a-1"]


def test_concurrent_modifications_lose_no_update(store: ResourceStore) -> None:
    store.add(_record("ep-1", 1.0))

    def bump() -> None:
        for _ in range(20):
            store.modify("ep-1", lambda r: r.state.update(n=r.state.get("n", 0) + 1))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = store.get("ep-1")
    assert found is not None
    assert found.state["n"] == 80


def test_remove_reports_whether_there_was_a_record(store: ResourceStore) -> None:
    store.add(_record("ep-1", 1.0))
    assert store.remove("ep-1") is True
    assert store.remove("ep-1") is False


def test_training_job_names_are_unique(engine: Engine) -> None:
    jobs = TrainingJobStore(engine)
    record = TrainingJobRecord("job-1", "arn:job-1", "InProgress", "Starting", 1.0, 1.0, {"x": 1})
    jobs.add(record)
    with pytest.raises(ResourceInUseError):
        jobs.add(record)
    assert [r.name for r in jobs.with_status(["InProgress"])] == ["job-1"]

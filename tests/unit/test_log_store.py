"""The log stores (files, and the database on SQLite and PostgreSQL) and the CloudWatch
operations over them: every store-agnostic test runs against each store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from conftest import POSTGRES_URL, postgres_database
from kiln.db import connect
from kiln.db.tables import log_events, log_groups, log_streams
from kiln.errors import ResourceNotFoundError, ValidationError
from kiln.services.logs import FileLogStore
from kiln.services.logs.cloudwatch import CloudWatchLogs
from kiln.services.logs.database import DatabaseLogStore
from kiln.services.logs.paging import filter_token

GROUP = "/aws/sagemaker/TrainingJobs"
STORES = ["files", "sqlite"] + (["postgres"] if POSTGRES_URL else [])

Store = FileLogStore | DatabaseLogStore
OpenStore = Callable[[], Store]


@pytest.fixture(scope="module", params=STORES)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine | None]:
    """The database under the store (None for files): one per module, emptied by each test."""
    if request.param == "files":
        yield None
        return
    if request.param == "sqlite":
        found = connect(f"sqlite:///{tmp_path_factory.mktemp('logs') / 'kiln.db'}")
        yield found
        found.dispose()
        return
    with postgres_database() as url:
        found = connect(url)
        yield found
        found.dispose()


@pytest.fixture
def open_store(engine: Engine | None, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens the store under test; each call is another server (or a restart) on the same data."""
    if engine is not None:
        with engine.begin() as connection:
            for table in (log_events, log_streams, log_groups):
                connection.execute(delete(table))
    opened: list[Store] = []

    def new_store() -> Store:
        store = FileLogStore(tmp_path / "groups") if engine is None else DatabaseLogStore(engine)
        opened.append(store)
        return store

    yield new_store
    for store in opened:
        store.close()


def _filled(store: Store, lines: int = 0, stream: str = "job/algo-1-1") -> Store:
    writer = store.open_stream(GROUP, stream)
    for i in range(lines):
        writer.write(f"line {i}")
    writer.close()
    return store


def _store(tmp_path: Path, lines: int = 0, stream: str = "job/algo-1-1") -> Store:
    return _filled(FileLogStore(tmp_path / "groups"), lines, stream)


def test_names_with_slashes_and_dots_map_to_one_file_each(tmp_path: Path) -> None:
    store = _store(tmp_path, 1, stream="../../escape")
    assert [p.name for p in (tmp_path / "groups").iterdir()] == [
        "%2Faws%2Fsagemaker%2FTrainingJobs"
    ]
    assert store.streams(GROUP)[0].name == "../../escape"


def test_concurrent_writers_lose_nothing_and_keep_time_order(open_store: OpenStore) -> None:
    store = open_store()
    writers = [store.open_stream(GROUP, "s") for _ in range(4)]
    threads = [
        threading.Thread(target=lambda w=w: [w.write(f"m{i}") for i in range(500)]) for w in writers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = store.read(GROUP, "s", 0, 10_000)
    assert len(events) == 2000
    stamps = [e.event.timestamp for e in events]
    assert stamps == sorted(stamps)


def test_stream_metadata_survives_a_restart(open_store: OpenStore) -> None:
    before = _filled(open_store(), 3).stream(GROUP, "job/algo-1-1")
    after = open_store().stream(GROUP, "job/algo-1-1")
    # Only the files store forgets the creation time (below).
    assert replace(after, creation_time=0) == replace(before, creation_time=0)
    assert after.stored_bytes > 0


def test_metadata_is_rebuilt_from_the_files_after_a_restart(tmp_path: Path) -> None:
    before = _store(tmp_path, 3).stream(GROUP, "job/algo-1-1")
    after = FileLogStore(tmp_path / "groups").stream(GROUP, "job/algo-1-1")
    # The creation time is not stored: after a restart it is the first event's.
    assert replace(after, creation_time=0) == replace(before, creation_time=0)
    assert after.creation_time == after.first_event_timestamp


def test_offsets_stay_valid_while_the_stream_grows(open_store: OpenStore) -> None:
    store = _filled(open_store(), 2)
    first = store.read(GROUP, "job/algo-1-1", 0, 1)[0]
    store.open_stream(GROUP, "job/algo-1-1").write("later")
    rest = store.read(GROUP, "job/algo-1-1", first.end, 10)
    assert [e.event.message for e in rest] == ["line 1", "later"]
    assert store.is_position(GROUP, "job/algo-1-1", first.end)
    assert not store.is_position(GROUP, "job/algo-1-1", first.end - 1)


def test_offset_of_time_finds_the_first_event_at_or_after(open_store: OpenStore) -> None:
    store = _filled(open_store(), 3000)
    events = store.read(GROUP, "job/algo-1-1", 0, 10_000)
    middle = events[1500]
    found = store.offset_of_time(GROUP, "job/algo-1-1", middle.event.timestamp)
    assert found == next(e.offset for e in events if e.event.timestamp == middle.event.timestamp)
    assert store.offset_of_time(GROUP, "job/algo-1-1", 0) == 0
    end = events[-1].end
    assert store.offset_of_time(GROUP, "job/algo-1-1", events[-1].event.timestamp + 1) == end


def test_missing_groups_and_streams_raise_with_cloudwatchs_words(open_store: OpenStore) -> None:
    store = _filled(open_store())
    with pytest.raises(ResourceNotFoundError, match="log group does not exist"):
        store.streams("/nope")
    with pytest.raises(ResourceNotFoundError, match="log stream does not exist"):
        store.stream(GROUP, "nope")


def test_get_log_events_gives_the_same_forward_token_when_nothing_is_new(
    open_store: OpenStore,
) -> None:
    logs = CloudWatchLogs(_filled(open_store(), 3), "us-east-1")
    request = {"logGroupName": GROUP, "logStreamName": "job/algo-1-1", "startFromHead": True}
    first = logs.get_log_events(request)
    assert [e["message"] for e in first["events"]] == ["line 0", "line 1", "line 2"]
    again = logs.get_log_events({**request, "nextToken": first["nextForwardToken"]})
    assert again["events"] == []
    assert again["nextForwardToken"] == first["nextForwardToken"]


def test_get_log_events_pages_backward_from_the_end(open_store: OpenStore) -> None:
    logs = CloudWatchLogs(_filled(open_store(), 5), "us-east-1")
    request = {"logGroupName": GROUP, "logStreamName": "job/algo-1-1", "limit": 2}
    latest = logs.get_log_events(request)
    assert [e["message"] for e in latest["events"]] == ["line 3", "line 4"]
    earlier = logs.get_log_events({**request, "nextToken": latest["nextBackwardToken"]})
    assert [e["message"] for e in earlier["events"]] == ["line 1", "line 2"]
    first = logs.get_log_events({**request, "nextToken": earlier["nextBackwardToken"]})
    start = logs.get_log_events({**request, "nextToken": first["nextBackwardToken"]})
    assert [e["message"] for e in first["events"]] == ["line 0"]
    assert start["nextBackwardToken"] == first["nextBackwardToken"]


def test_filter_log_events_pages_with_a_token_until_done(open_store: OpenStore) -> None:
    store = _filled(open_store(), 3)
    other = store.open_stream(GROUP, "job/algo-2-1")
    other.write("line from two")
    logs = CloudWatchLogs(store, "us-east-1")
    seen: list[str] = []
    answer = logs.filter_log_events({"logGroupName": GROUP, "limit": 1})
    while "nextToken" in answer:
        seen += [e["message"] for e in answer["events"]]
        answer = logs.filter_log_events(
            {"logGroupName": GROUP, "limit": 1, "nextToken": answer["nextToken"]}
        )
    seen += [e["message"] for e in answer["events"]]
    assert seen == ["line 0", "line 1", "line 2", "line from two"]


@pytest.mark.parametrize("offset", [3, 2**62, 2**70])
def test_filter_token_offset_off_an_event_start_is_an_invalid_token(
    open_store: OpenStore, offset: int
) -> None:
    # Found by fuzzing: 2**62 was an OSError from seek(), 2**70 a ValueError (both a 500).
    logs = CloudWatchLogs(_filled(open_store(), 2), "us-east-1")
    token = filter_token({"job/algo-1-1": offset})
    with pytest.raises(ValidationError, match="nextToken is invalid"):
        logs.filter_log_events({"logGroupName": GROUP, "nextToken": token})

"""What only the database log store does: batches off the writer's thread, several servers on
one stream, a bounded buffer, and the same offsets and sizes as the files store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event

from conftest import POSTGRES_URL, postgres_database, wait_until
from kiln.db import connect
from kiln.db.log_events import stored_form
from kiln.db.tables import log_events, log_groups, log_streams
from kiln.services.logs import FileLogStore
from kiln.services.logs.database import DatabaseLogStore
from kiln.services.logs.records import LogEvent, encode

GROUP = "/aws/sagemaker/TrainingJobs"


@pytest.fixture(scope="module", params=["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated database, one per module."""
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
def engine(database: Engine) -> Engine:
    """The module's database, emptied of logs."""
    with database.begin() as connection:
        for table in (log_events, log_streams, log_groups):
            connection.execute(delete(table))
    return database


@pytest.mark.parametrize(
    "message",
    ["", "plain", "two\nlines", "back\\slash", "ünïcödé ✓", "lone \udcff surrogate", "nul \x00"],
)
def test_a_stored_events_size_is_its_record_in_the_files_framing(message: str) -> None:
    assert stored_form(message)[1] == len(encode(LogEvent(0, message, 0)))


def test_offsets_and_sizes_match_the_files_store(engine: Engine, tmp_path: Path) -> None:
    messages = ["one", "two\nlines", "ü \\ ✓", "x" * 70_000, "nul \x00 end"]
    files, database = FileLogStore(tmp_path / "groups"), DatabaseLogStore(engine)
    for store in (files, database):
        writer = store.open_stream(GROUP, "s")
        for message in messages:
            writer.write(message)
        writer.close()
    from_files = [(e.offset, e.end) for e in files.read(GROUP, "s", 0, 100)]
    assert [(e.offset, e.end) for e in database.read(GROUP, "s", 0, 100)] == from_files
    assert database.stream(GROUP, "s").stored_bytes == files.stream(GROUP, "s").stored_bytes
    assert database.groups()[0].stored_bytes == files.groups()[0].stored_bytes
    assert database.read(GROUP, "s", 0, 100)[4].event.message == "nul \ufffd end"  # no NUL in SQL
    database.close()


def test_another_server_reads_a_line_within_a_second(engine: Engine) -> None:
    writing, reading = DatabaseLogStore(engine), DatabaseLogStore(engine)
    writing.open_stream(GROUP, "s").write("hello")  # not closed: only the flusher inserts it
    # A second, with some slack for a loaded machine (the flusher ticks every 100 ms).
    wait_until(lambda: reading.read(GROUP, "s", 0, 10), "the other store seeing the line", 1.5)
    assert [e.event.message for e in reading.read(GROUP, "s", 0, 10)] == ["hello"]
    writing.close()
    reading.close()


def test_a_busy_writer_inserts_in_batches_off_its_own_thread(engine: Engine) -> None:
    inserts: list[int] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO log_events"):
            inserts.append(threading.get_ident())

    event.listen(engine, "before_cursor_execute", record)
    store = DatabaseLogStore(engine, batch_lines=500)
    writer = store.open_stream(GROUP, "s")
    for i in range(5000):
        writer.write(f"line {i}")
    writer.close()  # the rest goes in at close, on this thread
    event.remove(engine, "before_cursor_execute", record)
    assert len(store.read(GROUP, "s", 0, 10_000)) == 5000
    assert 1 <= len(inserts) <= 60  # PostgreSQL pages an executemany: 1000 rows a statement
    assert inserts[:-1].count(threading.get_ident()) == 0
    store.close()


def test_two_servers_appending_to_one_stream_leave_no_gap_and_keep_time_order(
    engine: Engine,
) -> None:
    stores = [DatabaseLogStore(engine, batch_lines=50) for _ in range(2)]
    writers = [store.open_stream(GROUP, "s") for store in stores]
    threads = [
        threading.Thread(target=lambda w=w: [w.write(f"m{i}") for i in range(1000)])
        for w in writers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.close()
    events = stores[0].read(GROUP, "s", 0, 10_000)
    assert len(events) == 2000
    assert all(e.offset == before.end for before, e in zip(events, events[1:], strict=False))
    stamps = [e.event.timestamp for e in events]
    assert stamps == sorted(stamps)
    assert stores[1].stream(GROUP, "s").stored_bytes == events[-1].end
    for store in stores:
        store.close()


def test_a_writer_past_its_buffer_raises_oserror_as_a_full_disk_does(engine: Engine) -> None:
    # No flusher tick and no batch in reach: the lines stay in the buffer.
    store = DatabaseLogStore(engine, flush_seconds=3600, batch_lines=10**9, max_pending_lines=3)
    writer = store.open_stream(GROUP, "s")
    for i in range(3):
        writer.write(f"line {i}")
    with pytest.raises(OSError, match="buffer full"):
        writer.write("one too many")
    writer.close()
    assert [e.event.message for e in store.read(GROUP, "s", 0, 10)] == [
        "line 0",
        "line 1",
        "line 2",
    ]
    store.close()


def test_an_unreachable_database_is_an_oserror_at_open(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'kiln.db'}")
    store = DatabaseLogStore(engine)
    (tmp_path / "kiln.db").unlink()
    (tmp_path / "kiln.db").mkdir()  # no file can be opened there now
    engine.dispose()
    with pytest.raises(OSError, match="Log database unreachable"):
        store.open_stream(GROUP, "s")
    store.close()

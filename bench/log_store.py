"""Write throughput of the database log store beside the files store, same run.

    python bench/log_store.py [--lines N] [--repeat N] [--database-url URL]

One writer writes N lines (default 100,000; ~60 bytes each, as a chatty training job prints)
to one stream, then closes it. Two times per store: what the writing thread spends in
``write`` (what a job's log pump pays per line), and the time until every line is stored
(``write`` plus ``close``, which inserts what is left). The files store is the reference:
each ratio is database ÷ files within one repetition; medians over the repetitions.
SQLite always; PostgreSQL too with ``--database-url`` (or ``KILN_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from kiln.db import connect
from kiln.services.logs import FileLogStore
from kiln.services.logs.database import DatabaseLogStore

GROUP = "/aws/sagemaker/TrainingJobs"


def _timed(store: FileLogStore | DatabaseLogStore, lines: int) -> tuple[float, float]:
    """Seconds in ``write`` for ``lines`` lines, and seconds until all are stored."""
    writer = store.open_stream(GROUP, f"bench/{uuid.uuid4().hex[:8]}")
    line = "step 000000 loss=0.123456 accuracy=0.987654 lr=0.000300 " + "x" * 4
    started = time.perf_counter()
    for i in range(lines):
        writer.write(f"{i:06d} {line}")
    written = time.perf_counter()
    writer.close()
    return written - started, time.perf_counter() - started


def _fresh_postgres(url: str) -> tuple[str, Callable[[], None]]:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"kiln_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(url).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    """Run the comparison and print one line per store."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("KILN_TEST_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engines: dict[str, Engine] = {"sqlite": connect(f"sqlite:///{Path(tmp) / 'kiln.db'}")}
        drop: Callable[[], None] | None = None
        if args.database_url:
            url, drop = _fresh_postgres(args.database_url)
            engines["postgresql"] = connect(url)
        try:
            _compare(Path(tmp), engines, args.lines, args.repeat)
        finally:
            for engine in engines.values():
                engine.dispose()
            if drop is not None:
                drop()


def _compare(tmp: Path, engines: dict[str, Engine], lines: int, repeat: int) -> None:
    files = FileLogStore(tmp / "groups")
    databases = {name: DatabaseLogStore(engine) for name, engine in engines.items()}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in ["files", *databases]}
    for _ in range(repeat):  # interleaved, so drift on a shared machine hits every store alike
        results["files"].append(_timed(files, lines))
        for name, store in databases.items():
            results[name].append(_timed(store, lines))
    for store in databases.values():
        store.close()
    reference = results["files"]
    print(f"{lines:,} lines, {repeat} repetitions; medians; ratio: time ÷ the files store's time")
    for name, runs in results.items():
        write = statistics.median(w for w, _ in runs)
        total = statistics.median(t for _, t in runs)
        write_ratios = [w / r[0] for (w, _), r in zip(runs, reference, strict=True)]
        total_ratios = [t / r[1] for (_, t), r in zip(runs, reference, strict=True)]
        print(
            f"{name:>10}: {lines / write:>9,.0f} lines/s in write ({_ratio(write_ratios)}),"
            f" {lines / total:>9,.0f} lines/s stored ({_ratio(total_ratios)})"
        )


def _ratio(ratios: list[float]) -> str:
    return f"ratio {statistics.median(ratios):.2f}, {min(ratios):.2f}–{max(ratios):.2f}"


if __name__ == "__main__":
    main()

"""The inference log's cost on the event loop, and how fast its thread writes.

    python bench/inference_log.py [--repeat N]

``observe`` runs on the data plane's event loop after each answer (``services/hosting/
invocations.py``), so its cost is what every invocation with an InferenceId pays. Measured
beside the least any observer can do in the same run — append the record to a list — as a
ratio. The writer's throughput (invocations decoded and inserted per second into SQLite, in
batches) is printed beside a bare ``executemany`` of the same rows: the decoding and batching
overhead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import per_call_seconds

from kiln.db import connect
from kiln.db.inferences import InferenceStore
from kiln.services.hosting.invocations import InvocationRecord, Outcome
from kiln.services.monitoring.inference_log import InferenceLog, logged

ROWS = 20_000
RECORD = InvocationRecord(
    endpoint="bench", variant="A", is_shadow=False, replica="r", event_id="e",
    inference_id="req", arrived_at=time.time(), outcome=Outcome.ANSWERED, model_status=200,
    model_latency_us=1500, overhead_latency_us=200, request_body=b'{"inputs": [[1.0, 2.0]]}',
    request_content_type="application/json", request_accept=None,
    response_body=b'{"predictions": [1]}', response_content_type="application/json",
    capture=None,
)  # fmt: skip


def observe_cost(folder: Path) -> tuple[float, float]:
    """Median seconds of one ``observe`` and of one list append (the floor)."""
    log = InferenceLog(InferenceStore(connect(f"sqlite:///{folder / 'observe.db'}")))
    log.start()
    kept: list[InvocationRecord] = []
    observe = per_call_seconds(lambda: log.observe(RECORD), 20_000)
    floor = per_call_seconds(lambda: kept.append(RECORD), 20_000)
    log.stop()
    return observe, floor


def writer_rate(folder: Path, n: int) -> tuple[float, float]:
    """Invocations per second through the log's thread, and rows per second of a bare insert."""
    store = InferenceStore(connect(f"sqlite:///{folder / f'writer{n}.db'}"))
    log = InferenceLog(store, capacity=ROWS)
    for _ in range(ROWS):
        log.observe(RECORD)
    started = time.perf_counter()
    log.start()
    log.flush()
    through_log = ROWS / (time.perf_counter() - started)
    log.stop()
    rows = [logged(RECORD)] * ROWS
    started = time.perf_counter()
    for i in range(0, ROWS, 512):
        store.add(rows[i : i + 512])
    bare = ROWS / (time.perf_counter() - started)
    return through_log, bare


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    observe_ratios, writer_ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(repeat):
            observe, floor = observe_cost(Path(tmp))
            through_log, bare = writer_rate(Path(tmp), n)
            observe_ratios.append(observe / floor)
            writer_ratios.append(through_log / bare)
            print(f"observe {observe * 1e6:.2f} µs (append {floor * 1e6:.2f} µs); "
                  f"writer {through_log:,.0f}/s (bare insert {bare:,.0f}/s)")  # fmt: skip
    for name, ratios in (("observe ÷ append", observe_ratios), ("writer ÷ bare", writer_ratios)):
        print(f"{name}: median {statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f})")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

"""Drift analysis: the analyzer's time on captured rows beside numpy merely parsing them.

Workload: ``--rows`` captured invocations (default 1 M) of 30 numeric features (normal draws,
``%.6g``), one CSV row each, written as SageMaker capture JSONL (``capture_line``'s shape,
``encoding`` CSV) in files of 100,000 lines. Writing them is not timed.

Timed, interleaved, ``--repeat`` times:
- **parse** (the reference): what numpy needs merely to read the numbers, in one process, the
  way one process of the analyzer reads them: per line ``orjson.loads`` and the input's
  ``data``, then ``numpy.loadtxt`` of each 65,536-row chunk of joined CSV payloads into a float
  matrix;
- **analyze, one process**: ``analyze_dataset(files, sagemakerCaptureJson, workers=1)`` — both
  passes, statistics for every feature (moments, exact buckets, sketch);
- **analyze, parallel**: the same with the default workers (the cores, at most 4), what a
  monitoring execution runs; the pool's start is included.
Both ratios analyze ÷ parse are taken within each repetition; CPU seconds (this process and its
workers) are printed beside wall seconds, and the load average before and after, since on a
shared machine wall time includes waiting for a core. Target: analysis ≤ 5 s for 1 M rows on
a normal machine (this script prints whether this run's parallel analysis met it, on whatever
machine it ran).

Peak memory of a child process that only imports the analyzer and analyzes, for 1 M rows with
one process and with the default workers, and, with ``--big``, 10 M rows with the default
workers (the 1 M files read ten times over: memory depends on rows read, not on their values):
the child's RSS plus its workers', sampled every 20 ms, and the child's own exact high-water
mark (``VmHWM``). Target: flat in rows, ≤ 1 GB.

Run: ``.venv/bin/python bench/drift.py [--rows N] [--repeat N] [--big]``; results also go to
``bench/results/drift.json``. Exit status 0: targets met; 1: missed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import orjson
from common import run_header

from kiln.services.monitoring.baselines import DatasetFormat, DatasetKind, analyze_dataset
from kiln.services.monitoring.baselines.csv_chunks import CHUNK_ROWS
from kiln.services.monitoring.baselines.parallel import default_workers

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "drift.json"
FEATURES = 30
LINES_PER_FILE = 100_000
TARGET_SECONDS_1M = 5.0
TARGET_PEAK_BYTES = 1 << 30
CAPTURE = DatasetFormat(DatasetKind.CAPTURE)

_PREFIX = (
    b'{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT","data":"'
)
_SUFFIX = (
    b'","encoding":"CSV"},"endpointOutput":{"observedContentType":"text/csv","mode":"OUTPUT",'
    b'"data":"0","encoding":"CSV"}},"eventMetadata":{"eventId":"%08d-0000-4000-8000-000000000000",'
    b'"inferenceTime":"2026-01-01T00:00:00Z"},"eventVersion":"0"}\n'
)

_CHILD = """
import glob, sys, threading, time
from pathlib import Path
from kiln.services.monitoring.baselines import DatasetFormat, DatasetKind, analyze_dataset

def kib(pid, field):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0

def children():
    pids = []
    for path in glob.glob("/proc/self/task/*/children"):
        pids += open(path).read().split()
    return pids

peak = [0, 0]
done = threading.Event()
def sample():
    while not done.wait(0.02):
        workers = [kib(pid, "VmRSS") for pid in children()]
        peak[0] = max(peak[0], kib("self", "VmRSS") + sum(workers))
        peak[1] = max([peak[1], *workers])
threading.Thread(target=sample, daemon=True).start()
paths = [Path(p) for p in sys.argv[3:]] * int(sys.argv[1])
started = time.perf_counter()
statistics = analyze_dataset(paths, DatasetFormat(DatasetKind.CAPTURE), workers=int(sys.argv[2]))
elapsed = time.perf_counter() - started
done.set()
print(statistics.item_count, elapsed, kib("self", "VmHWM"), peak[0], peak[1])
"""


def write_captures(folder: Path, rows: int) -> list[Path]:
    """``rows`` capture lines of FEATURES normal draws, in files of LINES_PER_FILE."""
    rng = np.random.default_rng(0)
    paths = []
    for start in range(0, rows, LINES_PER_FILE):
        count = min(LINES_PER_FILE, rows - start)
        data = rng.normal(size=(count, FEATURES))
        text = "\n".join(",".join(f"{v:.6g}" for v in row) for row in data.tolist())
        path = folder / f"capture-{start // LINES_PER_FILE:04d}.jsonl"
        with path.open("wb") as file:
            for i, row in enumerate(text.encode().split(b"\n")):
                file.write(_PREFIX + row + _SUFFIX % (start + i))
        paths.append(path)
    return paths


def parse_only(paths: list[Path]) -> int:
    """The reference: orjson per line, then one numpy.loadtxt per chunk of payloads."""
    rows = 0
    for path in paths:
        with path.open("rb") as file:
            while True:
                lines = _take(file, CHUNK_ROWS)
                if not lines:
                    break
                payloads = [
                    orjson.loads(line)["captureData"]["endpointInput"]["data"] for line in lines
                ]
                rows += len(np.loadtxt(payloads, delimiter=",", dtype=np.float64, ndmin=2))
    return rows


def _take(file: BinaryIO, count: int) -> list[bytes]:
    return list(itertools.islice(file, count))


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds one call takes, its worker processes' CPU included (on a shared
    machine, CPU is the steadier one)."""
    started, cpu = time.perf_counter(), _cpu()
    call()
    return time.perf_counter() - started, _cpu() - cpu


def _cpu() -> float:
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_memory(paths: list[Path], times: int, workers: int) -> dict[str, float]:
    """Rows, seconds and peak memory of a child that only analyzes ``paths`` × ``times`` with
    ``workers``: its own high-water mark (``VmHWM``, exact; ``ru_maxrss`` would inherit this
    process's across exec) and, sampled every 20 ms, its RSS plus its workers' and the largest
    worker's."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(times), str(workers), *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    parent, total, worker = (int(v) * 1024 for v in out[2:5])
    return {
        "rows": int(out[0]),
        "workers": workers,
        "seconds": float(out[1]),
        "parent_peak_rss_bytes": parent,
        "worker_peak_rss_bytes": worker,
        "peak_rss_bytes": max(parent, total),
    }


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _spread(runs: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in runs]
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def main() -> int:
    """Run the benchmark and print its verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big", action="store_true", help="also peak memory for 10 × rows")
    args = parser.parse_args()
    results: dict[str, object] = run_header("drift")
    workers = default_workers()
    load_before = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, {workers} workers by default; load average {load_before[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="kiln-bench-drift-") as folder:
        paths = write_captures(Path(folder), args.rows)
        print(f"{args.rows:,} captured rows × {FEATURES} features in {len(paths)} files")
        runs = []
        for repetition in range(args.repeat):
            parse, parse_cpu = timed(lambda: parse_only(paths))
            one, one_cpu = timed(lambda: analyze_dataset(paths, CAPTURE, workers=1))
            many, many_cpu = timed(lambda: analyze_dataset(paths, CAPTURE, workers=workers))
            runs.append(
                {
                    "parse_s": parse,
                    "parse_cpu_s": parse_cpu,
                    "one_process_s": one,
                    "one_process_cpu_s": one_cpu,
                    "parallel_s": many,
                    "parallel_cpu_s": many_cpu,
                    "one_process_ratio": one / parse,
                    "parallel_ratio": many / parse,
                }
            )
            print(
                f"  run {repetition + 1}: numpy parse {parse:.2f} s ({parse_cpu:.2f} s CPU); "
                f"analyze, one process {one:.2f} s ({one_cpu:.2f} s CPU, ratio {one / parse:.2f}); "
                f"parallel ×{workers} {many:.2f} s ({many_cpu:.2f} s CPU, ratio {many / parse:.2f})"
            )
        memory = [peak_memory(paths, 1, 1), peak_memory(paths, 1, workers)]
        if args.big:
            memory.append(peak_memory(paths, 10, workers))
    load_after = os.getloadavg()
    per_million = _median(runs, "parallel_s") * 1_000_000 / args.rows
    time_met = per_million <= TARGET_SECONDS_1M
    parallel_peaks = [m["peak_rss_bytes"] for m in memory if m["workers"] == workers]
    memory_met = max(m["peak_rss_bytes"] for m in memory) <= TARGET_PEAK_BYTES and (
        parallel_peaks[-1] <= 1.25 * parallel_peaks[0]
    )
    print(f"numpy parse (one process): {_spread(runs, 'parse_s')} s")
    print(
        f"analysis, one process: {_spread(runs, 'one_process_s')} s, "
        f"{_median(runs, 'one_process_cpu_s'):.2f} s CPU; "
        f"÷ parse {_spread(runs, 'one_process_ratio')}"
    )
    print(
        f"analysis, {workers} workers: {_spread(runs, 'parallel_s')} s, "
        f"{_median(runs, 'parallel_cpu_s'):.2f} s CPU; "
        f"÷ parse {_spread(runs, 'parallel_ratio')}"
    )
    print(
        f"parallel analysis per 1 M rows: {per_million:.2f} s (target ≤ "
        f"{TARGET_SECONDS_1M:.0f} s: {'met' if time_met else 'MISSED'}); "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}"
    )
    for m in memory:
        detail = (
            f" (parent {m['parent_peak_rss_bytes'] / 2**20:.0f} MiB, largest worker "
            f"{m['worker_peak_rss_bytes'] / 2**20:.0f} MiB)"
            if m["workers"] > 1
            else ""
        )
        print(
            f"peak RSS analyzing {m['rows']:,} rows with {m['workers']} process(es): "
            f"{m['peak_rss_bytes'] / 2**20:.0f} MiB{detail}, {m['seconds']:.1f} s"
        )
    print(f"memory target (flat, ≤ 1 GiB): {'met' if memory_met else 'MISSED'}")
    results.update(rows=args.rows, features=FEATURES, workers=workers, runs=runs, memory=memory)
    results.update(load_average_before=load_before, load_average_after=load_after)
    results.update(time_target_met=time_met, memory_target_met=memory_met)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    return 0 if time_met and memory_met else 1


if __name__ == "__main__":
    sys.exit(main())

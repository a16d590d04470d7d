"""Drift analysis: the analyzer's time on captured rows beside numpy merely parsing them.

Workload: ``--rows`` captured invocations (default 1 M) of 30 numeric features (normal draws,
``%.6g``), one CSV row each, written as SageMaker capture JSONL (``capture_line``'s shape,
``encoding`` CSV) in files of 100,000 lines. Writing them is not timed.

Timed, interleaved, ``--repeat`` times:
- **analyze**: ``analyze_dataset(files, sagemakerCaptureJson)`` — both passes, statistics for
  every feature (moments, exact buckets, sketch), what a monitoring execution runs;
- **parse** (the reference): what numpy needs merely to read the numbers: per line
  ``orjson.loads`` and the input's ``data``, then ``numpy.loadtxt`` of each 65,536-row chunk of
  joined CSV payloads into a float matrix.
The ratio analyze ÷ parse is taken within each repetition; CPU seconds are printed beside wall
seconds, since on a shared machine wall time includes waiting for a core. Target: analysis
≤ 5 s for 1 M rows on a normal machine (this script prints whether this run met it, on whatever
machine it ran).

Peak memory: the RSS high-water mark (``ru_maxrss``) of a child process that only imports the
analyzer and analyzes, for 1 M rows and, with ``--big``, 10 M rows (the 1 M files read ten times
over: memory depends on rows read, not on their values). Target: flat in rows, ≤ 1 GB.

Run: ``.venv/bin/python bench/drift.py [--rows N] [--repeat N] [--big]``; results also go to
``bench/results/drift.json``. Exit status 0: targets met; 1: missed.
"""

from __future__ import annotations

import argparse
import itertools
import json
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
import resource, sys, time
from pathlib import Path
from kiln.services.monitoring.baselines import DatasetFormat, DatasetKind, analyze_dataset
paths = [Path(p) for p in sys.argv[2:]] * int(sys.argv[1])
started = time.perf_counter()
statistics = analyze_dataset(paths, DatasetFormat(DatasetKind.CAPTURE))
elapsed = time.perf_counter() - started
print(statistics.item_count, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
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
    """Wall and CPU seconds one call takes (on a shared machine, CPU is the steadier one)."""
    started, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - started, time.process_time() - cpu


def peak_memory(paths: list[Path], times: int) -> dict[str, float]:
    """Rows, seconds and peak RSS (bytes) of a child that only analyzes ``paths`` × ``times``."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(times), *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return {"rows": int(out[0]), "seconds": float(out[1]), "peak_rss_bytes": int(out[2]) * 1024}


def main() -> int:
    """Run the benchmark and print its verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big", action="store_true", help="also peak memory for 10 × rows")
    args = parser.parse_args()
    results: dict[str, object] = run_header("drift")
    with tempfile.TemporaryDirectory(prefix="kiln-bench-drift-") as folder:
        paths = write_captures(Path(folder), args.rows)
        print(f"{args.rows:,} captured rows × {FEATURES} features in {len(paths)} files")
        runs = []
        for repetition in range(args.repeat):
            parse, parse_cpu = timed(lambda: parse_only(paths))
            analyze, analyze_cpu = timed(lambda: analyze_dataset(paths, CAPTURE))
            runs.append(
                {
                    "analyze_s": analyze,
                    "parse_s": parse,
                    "analyze_cpu_s": analyze_cpu,
                    "parse_cpu_s": parse_cpu,
                    "ratio": analyze / parse,
                }
            )
            print(
                f"  run {repetition + 1}: analyze {analyze:.2f} s ({analyze_cpu:.2f} s CPU), "
                f"numpy parse {parse:.2f} s ({parse_cpu:.2f} s CPU), ratio {analyze / parse:.2f}"
            )
        memory = [peak_memory(paths, 1)]
        if args.big:
            memory.append(peak_memory(paths, 10))
    analyze_s = statistics.median(r["analyze_s"] for r in runs)
    analyze_cpu_s = statistics.median(r["analyze_cpu_s"] for r in runs)
    per_million = analyze_s * 1_000_000 / args.rows
    ratios = [r["ratio"] for r in runs]
    time_met = per_million <= TARGET_SECONDS_1M
    peaks = [m["peak_rss_bytes"] for m in memory]
    memory_met = max(peaks) <= TARGET_PEAK_BYTES and (
        len(peaks) == 1 or peaks[-1] <= 1.25 * peaks[0]
    )
    print(
        f"analysis: median {analyze_s:.2f} s wall, {analyze_cpu_s:.2f} s CPU "
        f"({per_million:.2f} s wall per 1 M rows; target ≤ "
        f"{TARGET_SECONDS_1M:.0f} s: {'met' if time_met else 'MISSED'}); "
        f"analyze ÷ parse median {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
    )
    for m in memory:
        print(
            f"peak RSS analyzing {m['rows']:,} rows: {m['peak_rss_bytes'] / 2**20:.0f} MiB "
            f"({m['seconds']:.1f} s)"
        )
    print(f"memory target (flat, ≤ 1 GiB): {'met' if memory_met else 'MISSED'}")
    results.update(rows=args.rows, features=FEATURES, runs=runs, memory=memory)
    results.update(time_target_met=time_met, memory_target_met=memory_met)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    return 0 if time_met and memory_met else 1


if __name__ == "__main__":
    sys.exit(main())

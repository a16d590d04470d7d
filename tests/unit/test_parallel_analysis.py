"""The analyzer split over processes: spans at line starts, exact merges, and the same statistics
as one process computes (the quantile sample equal in distribution)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from kiln.services.monitoring.baselines import DatasetFormat, DatasetKind, analyze_dataset
from kiln.services.monitoring.baselines.accumulators import (
    ColumnProfile,
    NumericAccumulator,
    merge_samples,
)
from kiln.services.monitoring.baselines.analyzer import Scan
from kiln.services.monitoring.baselines.parallel import analyze_parts, merge_scans, part_bytes, plan
from kiln.services.monitoring.baselines.spans import Span, cut_points, line_chunks, split_file
from kiln.services.monitoring.baselines.statistics import SKETCH_K, TypeCounts
from kiln.services.monitoring.baselines.workers import Workers, WorkersBrokenError

CAPTURE = DatasetFormat(DatasetKind.CAPTURE)
JSONL = DatasetFormat(DatasetKind.JSON_LINES)


def _capture(data: str) -> bytes:
    given = {"observedContentType": "text/csv", "mode": "INPUT", "data": data, "encoding": "CSV"}
    return orjson.dumps({"captureData": {"endpointInput": given}, "eventVersion": "0"}) + b"\n"


def _json_capture(record: dict[str, Any]) -> bytes:
    given = {"observedContentType": "application/json", "data": orjson.dumps(record).decode()}
    given["encoding"] = "JSON"
    return orjson.dumps({"captureData": {"endpointInput": given}}) + b"\n"


@pytest.mark.parametrize(
    ("size", "part", "expected"),
    [(100, 100, []), (100, 1000, []), (100, 50, [50]), (100, 30, [25, 50, 75]), (0, 10, [])],
)
def test_cut_points_divide_a_file_evenly(size: int, part: int, expected: list[int]) -> None:
    assert cut_points(size, part) == expected


@pytest.mark.parametrize(
    ("sizes", "workers", "minimum", "expected"),
    [([1000], 2, 10, 250), ([1000, 1000], 4, 10, 250), ([100], 2, 64, 64), ([10], 1, 1, 5)],
)
def test_parts_are_about_two_per_worker_but_not_tiny(
    sizes: list[int], workers: int, minimum: int, expected: int
) -> None:
    assert part_bytes(sizes, workers, minimum) == expected


@pytest.mark.parametrize("part", [1, 7, 64, 1000, 10**6])
def test_spans_yield_every_line_once_in_order(tmp_path: Path, part: int) -> None:
    lines = [f"line {i} {'x' * (i % 13)}\n".encode() for i in range(300)] + [b"no newline"]
    path = tmp_path / "lines"
    path.write_bytes(b"".join(lines))
    spans = split_file(path, part)
    read = [line for span in spans for chunk in line_chunks(span, 17) for line in chunk]
    assert read == lines
    assert all(span.start == 0 or path.read_bytes()[span.start - 1] == 10 for span in spans)


def test_small_or_csv_data_sets_are_read_by_one_process(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(_capture("1,2") * 100)
    assert plan([path], DatasetKind.CAPTURE, workers=4) == [Span(path, 0, None)]
    assert plan([path], DatasetKind.CSV, workers=4, min_part_bytes=10) == []
    assert plan([path], DatasetKind.CAPTURE, workers=1, min_part_bytes=10) == []
    assert len(plan([path], DatasetKind.CAPTURE, workers=2, min_part_bytes=100)) > 1


def test_merged_profiles_count_a_late_feature_missing_in_earlier_parts() -> None:
    a = Scan({"x": ColumnProfile(3, 0, TypeCounts(3, 0, 0), 1.0, 5.0)}, 3, 1)
    b = Scan({"y": ColumnProfile(2, 0, TypeCounts(0, 0, 2))}, 2, 1)
    c = Scan({"x": ColumnProfile(1, 0, TypeCounts(0, 1, 0), -2.0, 0.5)}, 1, 1)
    profiles, rows = merge_scans([a, b, c])
    assert rows == 6
    assert list(profiles) == ["x", "y"]
    assert (profiles["x"].num_present, profiles["x"].num_missing) == (4, 2)
    assert (profiles["x"].min, profiles["x"].max) == (-2.0, 5.0)
    assert profiles["x"].type_counts == TypeCounts(3, 1, 0)
    assert (profiles["y"].num_present, profiles["y"].num_missing) == (2, 4)


def test_merged_numeric_state_equals_one_pass_over_all_numbers() -> None:
    numbers = np.random.default_rng(1).normal(3.0, 2.0, 10_000)
    whole = NumericAccumulator(float(numbers.min()), float(numbers.max()))
    whole.add(numbers)
    merged = NumericAccumulator(whole.low, whole.high)
    for i, part in enumerate(np.array_split(numbers, 5)):
        state = NumericAccumulator(whole.low, whole.high, seed=i + 1)
        state.add(part)
        merged.merge(state)
    assert merged.count == whole.count
    assert (merged.bucket_counts == whole.bucket_counts).all()
    assert merged.mean == pytest.approx(whole.mean, rel=1e-12)
    assert merged.m2 == pytest.approx(whole.m2, rel=1e-12)
    assert merged.total == pytest.approx(whole.total, rel=1e-12)
    assert len(merged.sample) == SKETCH_K


@pytest.mark.parametrize(("first", "second"), [(10, 20), (100, 5000), (5000, 100), (9000, 3000)])
def test_merged_samples_draw_each_set_in_proportion(first: int, second: int) -> None:
    rng = np.random.default_rng(7)
    shares = []
    for _ in range(200):
        a, b = np.zeros(min(first, SKETCH_K)), np.ones(min(second, SKETCH_K))
        merged = merge_samples(a, first, b, second, rng)
        assert len(merged) == min(SKETCH_K, first + second)
        shares.append(merged.mean())
    # The sample's share from the second set is hypergeometric around second / (first + second).
    assert np.mean(shares) == pytest.approx(second / (first + second), abs=0.005)


def _data_set(folder: Path) -> list[Path]:
    rng = np.random.default_rng(3)
    a = [_capture(f"{int(k)},{x:.5f},{w}") for k, x, w in zip(
        rng.integers(0, 50, 4000), rng.normal(size=4000), rng.choice(["red", "blue", "1"], 4000),
        strict=True)]  # fmt: skip
    a[1500:1500] = [b"not json\n", b"\n", _capture("1,2")]  # malformed twice, a blank line
    a[3000:3000] = [_json_capture({"late": 1.5}), _json_capture({"late": 2})]
    # The second file starts with rows narrower than the data set's first: malformed, as one
    # reader sees them, even though this file's own first row is two wide.
    b = [_capture("7,8")] * 5 + [_capture(f"{i},{i / 7:.3f},blue") for i in range(3000)]
    paths = [folder / "a.jsonl", folder / "b.jsonl"]
    paths[0].write_bytes(b"".join(a))
    paths[1].write_bytes(b"".join(b))
    return paths


def _assert_same(serial: dict[str, Any], parallel: dict[str, Any]) -> None:
    assert serial["dataset"] == parallel["dataset"]
    assert [f["name"] for f in serial["features"]] == [f["name"] for f in parallel["features"]]
    for one, many in zip(serial["features"], parallel["features"], strict=True):
        assert one["inferred_type"] == many["inferred_type"]
        assert one.get("string_statistics") == many.get("string_statistics")
        if "numerical_statistics" not in one:
            continue
        a, b = one["numerical_statistics"], many["numerical_statistics"]
        for key in ("common", "min", "max"):
            assert a[key] == b[key]
        for key in ("mean", "sum", "std_dev"):
            assert a[key] == pytest.approx(b[key], rel=1e-9)
        assert a["distribution"]["kll"]["buckets"] == b["distribution"]["kll"]["buckets"]
        sketches = [s["distribution"]["kll"]["sketch"]["data"][0] for s in (a, b)]
        assert len(sketches[0]) == len(sketches[1])
        quantiles = [np.quantile(s, [0.1, 0.5, 0.9]) for s in sketches]
        spread = a["max"] - a["min"]
        assert np.abs(quantiles[0] - quantiles[1]).max() <= 0.1 * spread


def test_parallel_capture_analysis_equals_one_process(tmp_path: Path) -> None:
    paths = _data_set(tmp_path)
    serial = analyze_dataset(paths, CAPTURE, feature_names=["k", "x"], workers=1)
    spans = plan(paths, DatasetKind.CAPTURE, workers=2, min_part_bytes=40_000)
    assert len(spans) > 4
    parallel = analyze_parts(spans, CAPTURE, 500, ["k", "x"], workers=2)
    assert parallel.malformed_lines == serial.malformed_lines == 7
    _assert_same(serial.to_document(), parallel.to_document())


def test_parallel_json_lines_analysis_equals_one_process(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    records = [{"a": float(v), "b": int(k)} for v, k in zip(
        rng.normal(size=5000), rng.integers(0, 9, 5000), strict=True)]  # fmt: skip
    records[4000]["c"] = "late"
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + b"[1]\n")
    serial = analyze_dataset([path], JSONL, workers=1)
    spans = plan([path], DatasetKind.JSON_LINES, workers=2, min_part_bytes=20_000)
    parallel = analyze_parts(spans, JSONL, 300, (), workers=2)
    assert (parallel.malformed_lines, parallel.item_count) == (1, 5000)
    _assert_same(serial.to_document(), parallel.to_document())


def _fails(text: str) -> None:
    raise ValueError(text)


def _exits(code: int) -> None:
    os._exit(code)


def test_a_task_error_is_raised_in_the_caller() -> None:
    with Workers(1) as workers:
        assert workers.map(divmod, [7, 9], [2, 4]) == [(3, 1), (2, 1)]
        with pytest.raises(ValueError, match="bad input"):
            workers.map(_fails, ["bad input"])


def test_a_worker_that_dies_breaks_the_pool_with_a_clear_error() -> None:
    with Workers(1) as workers, pytest.raises(WorkersBrokenError, match="failed"):
        workers.map(_exits, [3])

"""The analyzer's sources: CSV, JSON Lines, Parquet and captured JSONL read as one data set."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.services.hosting.invocations import CaptureConfig, InvocationRecord, Outcome
from kiln.services.monitoring.baselines import (
    DatasetFormat,
    DatasetKind,
    InferredType,
    Statistics,
    analyze_dataset,
)
from kiln.services.monitoring.baselines.parquet_chunks import ParquetUnavailableError
from kiln.services.monitoring.capture.records import capture_line

CSV_HEADER = DatasetFormat(DatasetKind.CSV, header=True)
JSONL = DatasetFormat(DatasetKind.JSON_LINES)
CAPTURE = DatasetFormat(DatasetKind.CAPTURE)


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def _summary(statistics: Statistics) -> dict[str, tuple[str, int, int]]:
    return {
        f.name: (str(f.inferred_type), f.num_present, f.num_missing) for f in statistics.features
    }


def test_csv_files_share_the_first_files_header(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.csv", "x,y\n1,0.5\n2,1.5\n")
    b = _write(tmp_path / "b.csv", "x,y\n3,2.5\n")
    statistics = analyze_dataset([a, b], CSV_HEADER)
    assert statistics.item_count == 3
    assert _summary(statistics) == {"x": ("Integral", 3, 0), "y": ("Fractional", 3, 0)}


@pytest.mark.parametrize("chunk_rows", [1, 2, 100])
def test_headerless_csv_takes_the_feature_names_given(tmp_path: Path, chunk_rows: int) -> None:
    path = _write(tmp_path / "a.csv", "1,0.5,x\n2,1.5,y\n3,2.5,z\n")
    fmt = DatasetFormat(DatasetKind.CSV, header=False)
    statistics = analyze_dataset([path], fmt, chunk_rows, feature_names=["age", "score"])
    assert [f.name for f in statistics.features] == ["age", "score", "_c2"]
    assert statistics.item_count == 3


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1.0", "2.0"], "Fractional"),  # whole numbers written as decimals: the text decides
        (["1", "2"], "Integral"),
        (["1", "2.5"], "Fractional"),
        (["1", "nan"], "String"),
        (["0.25", "1e3"], "Fractional"),
    ],
)
def test_fast_path_keeps_the_types_text_gives(
    tmp_path: Path, values: list[str], expected: str
) -> None:
    path = _write(tmp_path / "a.csv", "v,w\n" + "".join(f"{v},0.5\n" for v in values))
    assert str(analyze_dataset([path], CSV_HEADER).features[0].inferred_type) == expected


def test_quoted_field_spanning_lines_is_one_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", 'n,t\n1,"a\nb"\n2,c\n3,d\n')
    statistics = analyze_dataset([path], CSV_HEADER, chunk_rows=1)
    assert statistics.item_count == 3
    (t,) = [f for f in statistics.features if f.name == "t"]
    assert t.string is not None
    assert dict(t.string.value_counts) == {"a\nb": 1, "c": 1, "d": 1}


def test_json_lines_keep_json_types(tmp_path: Path) -> None:
    lines = [
        {"i": 1, "f": 1.0, "s": "3", "b": True, "nested": {"k": [1, 2]}},
        {"i": 2, "f": 2.5, "s": "x", "b": False, "nested": None},
        {"i": None, "late": 7},
    ]
    path = _write(tmp_path / "a.jsonl", b"".join(orjson.dumps(r) + b"\n" for r in lines))
    statistics = analyze_dataset([path], JSONL, chunk_rows=2)
    assert _summary(statistics) == {
        "i": ("Integral", 2, 1),
        "f": ("Fractional", 2, 1),
        "s": ("String", 2, 1),
        "b": ("String", 2, 1),
        "nested": ("String", 1, 2),
        "late": ("Integral", 1, 2),  # first seen in the second chunk: missing before
    }
    nested = statistics.features[4].string
    assert nested is not None
    assert nested.value_counts == (('{"k":[1,2]}', 1),)


def test_json_lines_count_malformed_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl", b'{"a": 1}\nnot json\n[1, 2]\n\n{"a": 2}\n')
    statistics = analyze_dataset([path], JSONL)
    assert (statistics.item_count, statistics.malformed_lines) == (2, 2)


def test_parquet_is_read_by_batches_with_its_schema_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "i": pa.array([1, 2, None, 4], pa.int64()),
            "f": pa.array([0.5, float("nan"), 2.0, 3.0], pa.float64()),
            "s": pa.array(["a", "b", None, "a"]),
            "b": pa.array([True, False, True, None]),
        }
    )
    pq.write_table(table, tmp_path / "a.parquet")
    statistics = analyze_dataset(
        [tmp_path / "a.parquet"], DatasetFormat(DatasetKind.PARQUET), chunk_rows=3
    )
    assert statistics.item_count == 4
    assert _summary(statistics) == {
        "i": ("Integral", 3, 1),
        "f": ("Fractional", 3, 1),  # NaN is missing
        "s": ("String", 3, 1),
        "b": ("String", 3, 1),
    }
    b = statistics.features[3].string
    assert b is not None
    assert dict(b.value_counts) == {"true": 2, "false": 1}


def test_parquet_without_pyarrow_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if pyarrow were absent
    with pytest.raises(ParquetUnavailableError, match=r"kiln\[parquet\]"):
        analyze_dataset([tmp_path / "a.parquet"], DatasetFormat(DatasetKind.PARQUET))


CONFIG = CaptureConfig(100, "s3://b/p", True, True, frozenset({"text/csv"}), frozenset())


def _capture(body: bytes, content_type: str = "text/csv", json_types: bool = False) -> bytes:
    config = CONFIG
    if json_types:
        config = CaptureConfig(
            100, "s3://b/p", True, True, frozenset(), frozenset({"application/json"})
        )
    record = InvocationRecord(
        endpoint="e", variant="v", is_shadow=False, replica="r", event_id="id",
        inference_id=None, arrived_at=0.0, outcome=Outcome.ANSWERED, model_status=200,
        model_latency_us=1, overhead_latency_us=1, request_body=body,
        request_content_type=content_type, request_accept=None, response_body=b"0",
        response_content_type="text/csv", capture=config,
    )  # fmt: skip
    return capture_line(record, config)


def test_captured_csv_rows_take_the_baselines_names(tmp_path: Path) -> None:
    lines = [_capture(b"1,0.5\n2,1.5"), _capture(b"3,2.5")]  # two rows in one invocation
    path = _write(tmp_path / "capture.jsonl", b"".join(lines))
    statistics = analyze_dataset([path], CAPTURE, feature_names=["age", "score"])
    assert _summary(statistics) == {"age": ("Integral", 3, 0), "score": ("Fractional", 3, 0)}


def test_captured_json_and_base64_inputs_are_read(tmp_path: Path) -> None:
    lines = [
        _capture(b'{"age": 4, "score": 0.5}', "application/json", json_types=True),
        _capture(b'{"inputs": [[5, 1.5], [6, 2.5]]}', "application/json", json_types=True),
        _capture(b'{"age": 7}', "application/json"),  # not a JSON type here: BASE64
    ]
    path = _write(tmp_path / "capture.jsonl", b"".join(lines))
    statistics = analyze_dataset([path], CAPTURE, feature_names=["age", "score"])
    assert orjson.loads(lines[2])["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert statistics.item_count == 4
    assert _summary(statistics) == {"age": ("Integral", 4, 0), "score": ("Fractional", 3, 1)}


@pytest.mark.parametrize(
    "bad",
    [
        b"not json\n",
        b'{"captureData": {}}\n',
        orjson.dumps(
            {"captureData": {"endpointInput": {"data": "%%%", "encoding": "BASE64"}}}
        ) + b"\n",
        orjson.dumps({"captureData": {"endpointInput": {
            "data": base64.b64encode(b"\xff\xfe").decode(), "encoding": "BASE64"}}}) + b"\n",
        _capture(b"1,2,3"),  # one field too many
    ],
)  # fmt: skip
def test_malformed_capture_lines_are_counted_not_fatal(tmp_path: Path, bad: bytes) -> None:
    path = _write(tmp_path / "capture.jsonl", _capture(b"1,0.5") + bad + _capture(b"2,1.5"))
    statistics = analyze_dataset([path], CAPTURE)
    assert (statistics.item_count, statistics.malformed_lines) == (2, 1)


def test_chunked_capture_matches_one_chunk(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [",".join(f"{v:.4f}" for v in rng.normal(size=3)) for _ in range(500)]
    path = _write(tmp_path / "c.jsonl", b"".join(_capture(r.encode()) for r in rows))
    whole: dict[str, Any] = analyze_dataset([path], CAPTURE, chunk_rows=10_000).to_document()
    chunked: dict[str, Any] = analyze_dataset([path], CAPTURE, chunk_rows=37).to_document()
    for a, b in zip(whole["features"], chunked["features"], strict=True):
        sa, sb = a["numerical_statistics"], b["numerical_statistics"]
        assert sa["distribution"]["kll"]["buckets"] == sb["distribution"]["kll"]["buckets"]
        assert sa["mean"] == pytest.approx(sb["mean"])
    assert whole["dataset"] == chunked["dataset"] == {"item_count": 500}
    assert InferredType(whole["features"][0]["inferred_type"]) is InferredType.FRACTIONAL

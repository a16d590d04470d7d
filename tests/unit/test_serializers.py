"""Serializers and deserializers: sagemaker SDK v2's media types and round trips."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from kiln.sdk.serializers import (
    BytesDeserializer,
    CSVDeserializer,
    CSVSerializer,
    JSONDeserializer,
    JSONSerializer,
    NumpyDeserializer,
    NumpySerializer,
    StringDeserializer,
)

ROWS = [[1.5, 2.0, 3.0], [4.0, 5.25, 6.0]]


def _stream(body: bytes | str) -> io.BytesIO:
    return io.BytesIO(body.encode() if isinstance(body, str) else body)


def test_content_types_and_accepts_are_sdk_v2s() -> None:
    assert JSONSerializer().CONTENT_TYPE == "application/json"
    assert CSVSerializer().CONTENT_TYPE == "text/csv"
    assert NumpySerializer().CONTENT_TYPE == "application/x-npy"
    assert JSONDeserializer().ACCEPT == ("application/json",)
    assert CSVDeserializer().ACCEPT == ("text/csv",)
    assert NumpyDeserializer().ACCEPT == ("application/x-npy",)
    assert BytesDeserializer().ACCEPT == ("*/*",)
    assert StringDeserializer(accept=["a/b", "c/d"]).ACCEPT == ("a/b", "c/d")


def test_json_round_trips_arrays_as_lists() -> None:
    body = JSONSerializer().serialize(np.array(ROWS))
    assert JSONDeserializer().deserialize(_stream(body), "application/json") == ROWS


def test_json_serializes_arrays_inside_a_dict() -> None:
    body = JSONSerializer().serialize({"inputs": np.array(ROWS), "id": 7})
    assert json.loads(body) == {"inputs": ROWS, "id": 7}


def test_readable_data_is_sent_as_it_is() -> None:
    for serializer in (JSONSerializer(), CSVSerializer(), NumpySerializer()):
        assert serializer.serialize(io.BytesIO(b"raw bytes")) == b"raw bytes"


def test_csv_writes_one_line_per_row_and_reads_back_strings() -> None:
    body = CSVSerializer().serialize(np.array(ROWS))
    assert body == "1.5,2.0,3.0\n4.0,5.25,6.0"
    rows = CSVDeserializer().deserialize(_stream(body), "text/csv")
    assert rows == [["1.5", "2.0", "3.0"], ["4.0", "5.25", "6.0"]]


def test_csv_writes_a_flat_sequence_as_one_row() -> None:
    assert CSVSerializer().serialize([1, "a", 2.5]) == "1,a,2.5"
    assert CSVSerializer().serialize(np.array([1.0, 2.0])) == "1.0,2.0"


def test_csv_refuses_an_empty_row() -> None:
    with pytest.raises(ValueError, match="empty"):
        CSVSerializer().serialize([])


def test_npy_round_trips_shape_and_dtype() -> None:
    array = np.arange(6, dtype=np.int16).reshape(2, 3)
    body = NumpySerializer().serialize(array)
    back = NumpyDeserializer().deserialize(_stream(body), "application/x-npy")
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, array)


def test_npy_serializer_casts_lists_to_its_dtype() -> None:
    body = NumpySerializer(dtype="float32").serialize(ROWS)
    assert np.load(io.BytesIO(body)).dtype == np.float32


def test_npy_serializer_refuses_an_empty_array() -> None:
    with pytest.raises(ValueError, match="empty array"):
        NumpySerializer().serialize(np.array([]))


def test_numpy_deserializer_reads_json_and_csv_answers_too() -> None:
    from_json = NumpyDeserializer().deserialize(_stream("[[1, 2], [3, 4]]"), "application/json")
    from_csv = NumpyDeserializer().deserialize(_stream("1,2\n3,4\n"), "text/csv; charset=utf-8")
    np.testing.assert_array_equal(from_json, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(from_csv, [[1, 2], [3, 4]])


def test_numpy_deserializer_refuses_pickled_arrays() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        NumpyDeserializer().deserialize(_stream(buffer.getvalue()), "application/x-npy")


def test_numpy_deserializer_refuses_other_content_types() -> None:
    with pytest.raises(ValueError, match="text/plain"):
        NumpyDeserializer().deserialize(_stream("1"), "text/plain")


def test_bytes_and_string_deserializers_read_and_close_the_stream() -> None:
    stream = _stream("héllo")
    assert StringDeserializer().deserialize(stream, "text/plain") == "héllo"
    assert stream.closed
    stream = _stream(b"\x00\x01")
    assert BytesDeserializer().deserialize(stream, "application/octet-stream") == b"\x00\x01"
    assert stream.closed

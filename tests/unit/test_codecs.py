"""Request decoding and response encoding (kiln.runtime.codecs)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson
import pytest

from kiln.runtime import codecs


def test_json_bare_array_decodes_to_ndarray_without_envelope() -> None:
    data, key = codecs.decode(b"[[1.5, 2], [3, 4]]", "application/json")
    assert key is None
    np.testing.assert_array_equal(data, np.array([[1.5, 2.0], [3.0, 4.0]]))


@pytest.mark.parametrize("key", ["inputs", "instances"])
def test_json_envelope_decodes_rows_and_names_its_key(key: str) -> None:
    data, found = codecs.decode(orjson.dumps({key: [[1, 2]]}), "application/json")
    assert found == key
    np.testing.assert_array_equal(data, np.array([[1, 2]]))


def test_json_object_without_envelope_key_is_handed_on_as_dict() -> None:
    data, key = codecs.decode(b'{"text": "hi"}', "application/json")
    assert (data, key) == ({"text": "hi"}, None)


def test_json_envelope_around_a_non_array_hands_the_value_on() -> None:
    assert codecs.decode(b'{"inputs": "some text"}', "application/json") == ("some text", "inputs")


def test_content_type_parameters_and_case_are_ignored() -> None:
    data, _ = codecs.decode(b"[1]", "Application/JSON; charset=utf-8")
    np.testing.assert_array_equal(data, np.array([1]))


def test_invalid_json_is_a_decode_error_with_status_400() -> None:
    with pytest.raises(codecs.DecodeError, match="not valid JSON") as info:
        codecs.decode(b"[1,", "application/json")
    assert info.value.status_code == 400


def test_ragged_json_rows_are_a_decode_error() -> None:
    with pytest.raises(codecs.DecodeError, match="do not form an array"):
        codecs.decode(b"[[1, 2], [3]]", "application/json")


def test_csv_decodes_one_line_per_row_even_for_one_line() -> None:
    data, key = codecs.decode(b"1,2,3\n", "text/csv")
    assert key is None
    np.testing.assert_array_equal(data, np.array([[1.0, 2.0, 3.0]]))


def test_csv_with_text_cells_decodes_to_strings() -> None:
    data, _ = codecs.decode(b'a,"b c"\nd,e\n', "text/csv")
    assert data.tolist() == [["a", "b c"], ["d", "e"]]


def test_empty_csv_is_a_decode_error() -> None:
    with pytest.raises(codecs.DecodeError, match="empty"):
        codecs.decode(b"\n", "text/csv")


def test_npy_round_trips_an_array() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(6, dtype=np.float32).reshape(2, 3))
    data, _ = codecs.decode(buffer.getvalue(), "application/x-npy")
    assert data.dtype == np.float32
    np.testing.assert_array_equal(data, np.arange(6).reshape(2, 3))


def test_npy_holding_pickled_objects_is_refused() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(codecs.DecodeError, match="not a .npy array"):
        codecs.decode(buffer.getvalue(), "application/x-npy")


def test_unknown_content_type_is_unsupported_with_status_415() -> None:
    with pytest.raises(codecs.UnsupportedContentTypeError, match="text/plain") as info:
        codecs.decode(b"x", "text/plain")
    assert info.value.status_code == 415


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("application/json", "application/json"),
        ("text/csv; q=0.9", "text/csv"),
        ("image/png, application/x-npy", "application/x-npy"),
        ("image/png, */*", "text/csv"),  # */* stands for the default (text/csv here)
    ],
)
def test_negotiate_picks_the_first_supported_type(accept: str, chosen: str) -> None:
    assert codecs.negotiate(accept, default="text/csv") == chosen


def test_negotiate_without_a_supported_type_is_not_acceptable_with_status_406() -> None:
    with pytest.raises(codecs.NotAcceptableError, match="image/png") as info:
        codecs.negotiate("image/png", default="application/json")
    assert info.value.status_code == 406


def test_json_encodes_arrays_and_numpy_scalars_as_plain_json() -> None:
    prediction = {"predictions": np.array([0, 1]), "score": np.float32(0.5)}
    assert orjson.loads(codecs.encode(prediction, "application/json")) == {
        "predictions": [0, 1],
        "score": 0.5,
    }


def test_json_encodes_non_contiguous_arrays_through_tolist() -> None:
    array = np.arange(6).reshape(2, 3)[:, ::2]
    assert codecs.encode(array, "application/json") == b"[[0,2],[3,5]]"


def test_csv_encodes_a_vector_one_value_per_line() -> None:
    assert codecs.encode(np.array([0, 1, 1]), "text/csv") == b"0\n1\n1\n"


def test_csv_encodes_a_matrix_one_row_per_line() -> None:
    assert codecs.encode([[0.5, 1.0], [2.0, 3.5]], "text/csv") == b"0.5,1.0\n2.0,3.5\n"


def test_csv_refuses_three_dimensional_predictions() -> None:
    with pytest.raises(ValueError, match="3-dimensional"):
        codecs.encode(np.zeros((1, 1, 1)), "text/csv")


def test_npy_encoding_loads_back_with_numpy() -> None:
    body = codecs.encode(np.array([[1, 2]]), "application/x-npy")
    np.testing.assert_array_equal(np.load(io.BytesIO(body)), np.array([[1, 2]]))


@pytest.mark.parametrize(
    ("data", "content_type", "dtype"),
    [
        (np.array([[1, 2]]), "application/json", np.float32),  # int64 → float32
        (np.array([[1.5]]), "text/csv; charset=utf-8", np.float32),
        (np.array([[True]]), "application/json", np.float32),
        (np.array([["a"]]), "text/csv", np.dtype("<U1")),  # text cells stay text
        (np.array([[1, 2]]), "application/x-npy", np.int64),  # .npy keeps its dtype
    ],
)
def test_model_input_casts_numeric_text_bodies_to_float32(
    data: Any, content_type: str, dtype: Any
) -> None:
    assert codecs.model_input(data, content_type).dtype == dtype


def test_model_input_hands_non_arrays_on() -> None:
    assert codecs.model_input({"text": "hi"}, "application/json") == {"text": "hi"}


def test_csv_writes_float32_values_as_the_toolkit_does() -> None:
    # np.savetxt(fmt="%s") writes str() of each value: 0.1, not 0.10000000149011612.
    assert codecs.encode(np.array([[0.1, 2.0]], dtype=np.float32), "text/csv") == b"0.1,2.0\n"

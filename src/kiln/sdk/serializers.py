"""Serializers and deserializers for ``Predictor``: sagemaker SDK v2's names and behaviour.

A serializer turns ``predict()``'s data into a request body and names it in ``CONTENT_TYPE``;
a deserializer turns the response stream back into data and lists the media types it reads in
``ACCEPT`` (sent as the request's ``Accept``). As in SDK v2 (``sagemaker.serializers`` and
``sagemaker.deserializers``), anything with ``read()`` is sent as it is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from kiln.runtime.media_types import media_type

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"


class Readable(Protocol):
    """A response body: botocore's ``StreamingBody``, or a buffer in local mode."""

    def read(self) -> bytes:
        """All the bytes left."""
        ...

    def close(self) -> None:
        """Release the stream."""
        ...


class Serializer(Protocol):
    """What ``Predictor`` needs of a serializer."""

    @property
    def CONTENT_TYPE(self) -> str:
        """The request's Content-Type."""
        ...

    def serialize(self, data: Any) -> bytes | str:
        """The request body for ``data``."""
        ...


class Deserializer(Protocol):
    """What ``Predictor`` needs of a deserializer."""

    @property
    def ACCEPT(self) -> tuple[str, ...]:
        """The media types it reads, sent as the request's Accept."""
        ...

    def deserialize(self, stream: Readable, content_type: str) -> Any:
        """The data in ``stream`` (which it closes)."""
        ...


class JSONSerializer:
    """``json.dumps`` of the data (arrays as lists; dict values too)."""

    def __init__(self, content_type: str = JSON) -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes | str:
        """The JSON text of ``data``, or the bytes of a readable ``data`` as they are."""
        if isinstance(data, dict):
            return json.dumps({key: _as_list(value) for key, value in data.items()})
        if hasattr(data, "read"):
            return data.read()  # type: ignore[no-any-return]
        return json.dumps(_as_list(data))


class CSVSerializer:
    """One line per row, values joined by commas."""

    def __init__(self, content_type: str = CSV) -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes | str:
        """CSV text: a 2-D array or list of rows gives several lines, anything else one."""
        if hasattr(data, "read"):
            return data.read()  # type: ignore[no-any-return]
        if isinstance(data, str):
            return data
        rows = data.tolist() if isinstance(data, np.ndarray) and data.ndim > 1 else data
        if isinstance(rows, list) and rows and _is_row(rows[0]):
            return "\n".join(_csv_row(row) for row in rows)
        return _csv_row(data)


class NumpySerializer:
    """``np.save`` bytes (``.npy``), never pickled."""

    def __init__(self, dtype: Any = None, content_type: str = NPY) -> None:
        self.dtype = dtype
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes | str:
        """The ``.npy`` bytes of ``data`` as an array of ``dtype``; ValueError if empty."""
        if hasattr(data, "read"):
            return data.read()  # type: ignore[no-any-return]
        array = np.asarray(data, dtype=self.dtype)
        if array.size == 0:
            raise ValueError("Cannot serialize empty array.")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()


class _Deserializer:
    """Holds ``accept`` and shows it as the ``ACCEPT`` tuple, as SDK v2's base class does."""

    def __init__(self, accept: str | Sequence[str]) -> None:
        self.accept = accept

    @property
    def ACCEPT(self) -> tuple[str, ...]:
        """The media types this deserializer reads."""
        return (self.accept,) if isinstance(self.accept, str) else tuple(self.accept)


class BytesDeserializer(_Deserializer):
    """The body's bytes as they are."""

    def __init__(self, accept: str | Sequence[str] = "*/*") -> None:
        super().__init__(accept)

    def deserialize(self, stream: Readable, content_type: str) -> bytes:
        """All of ``stream``."""
        try:
            return stream.read()
        finally:
            stream.close()


class StringDeserializer(_Deserializer):
    """The body decoded as text."""

    def __init__(self, encoding: str = "UTF-8", accept: str | Sequence[str] = JSON) -> None:
        super().__init__(accept)
        self.encoding = encoding

    def deserialize(self, stream: Readable, content_type: str) -> str:
        """``stream`` decoded with ``encoding``."""
        try:
            return stream.read().decode(self.encoding)
        finally:
            stream.close()


class JSONDeserializer(_Deserializer):
    """The body parsed as JSON."""

    def __init__(self, accept: str | Sequence[str] = JSON) -> None:
        super().__init__(accept)

    def deserialize(self, stream: Readable, content_type: str) -> Any:
        """The JSON value in ``stream``."""
        try:
            return json.loads(stream.read())
        finally:
            stream.close()


class CSVDeserializer(_Deserializer):
    """The body as a list of rows, each a list of strings."""

    def __init__(self, encoding: str = "utf-8", accept: str | Sequence[str] = CSV) -> None:
        super().__init__(accept)
        self.encoding = encoding

    def deserialize(self, stream: Readable, content_type: str) -> list[list[str]]:
        """The rows of the CSV text in ``stream``."""
        try:
            return list(csv.reader(stream.read().decode(self.encoding).splitlines()))
        finally:
            stream.close()


class NumpyDeserializer(_Deserializer):
    """The body as an ndarray, from ``.npy``, JSON or CSV by the response's Content-Type."""

    def __init__(
        self, dtype: Any = None, accept: str | Sequence[str] = NPY, allow_pickle: bool = False
    ) -> None:
        super().__init__(accept)
        self.dtype = dtype
        self.allow_pickle = allow_pickle

    def deserialize(self, stream: Readable, content_type: str) -> np.ndarray[Any, Any]:
        """The array in ``stream``; ValueError for a Content-Type it cannot read."""
        media = media_type(content_type)
        try:
            body = stream.read()
        finally:
            stream.close()
        if media == NPY:
            return np.asarray(np.load(io.BytesIO(body), allow_pickle=self.allow_pickle))
        if media == JSON:
            return np.array(json.loads(body), dtype=self.dtype)
        if media == CSV:
            return np.genfromtxt(io.BytesIO(body), delimiter=",", dtype=self.dtype)
        raise ValueError(f"NumpyDeserializer cannot read content type {content_type!r}")


def _as_list(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _is_row(value: Any) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def _csv_row(row: Any) -> str:
    if isinstance(row, str):
        return row
    if not isinstance(row, list | tuple | np.ndarray):
        raise ValueError(f"Unable to handle input format: {type(row).__name__}")
    values = np.ravel(row).tolist() if isinstance(row, np.ndarray) else list(row)
    if not values:
        raise ValueError("Cannot serialize empty array")
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue().rstrip("\r\n")

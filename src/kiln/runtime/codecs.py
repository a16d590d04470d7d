"""Request decoding and response encoding for the default handlers (CONTRACTS.md §2.4).

| media type            | decode (request body → data)           | encode (prediction → body) |
|-----------------------|----------------------------------------|----------------------------|
| ``application/json``  | orjson, then ``np.array`` (see below)  | orjson, arrays as lists    |
| ``text/csv``          | one line per row, ``np.loadtxt`` (2-D) | one line per row, ``,``    |
| ``application/x-npy`` | ``.npy`` bytes, pickles refused        | ``np.save`` bytes          |

JSON bodies may be a bare array (``[[…], …]``) or an object holding the rows under ``"instances"``
or ``"inputs"`` (TensorFlow Serving's and the benchmark's shape); :func:`decode` says which key it
used so the default output can answer in kind, ``{"predictions": […]}``. Arrays become ndarrays;
anything else (another object, a string, a number) is handed on as parsed.

The default ``input_fn`` (:func:`model_input`) then casts numeric JSON and CSV arrays to
``float32``, as the scikit-learn container's (``astype(np.float32)``) and the PyTorch
container's (``torch.FloatTensor``) do: a JSON body of integers reaches a PyTorch model as
floats, not as an ``int64`` tensor it cannot multiply. ``.npy`` bodies keep their dtype, as there.
CSV cells are written with ``str`` of each NumPy value, as the toolkit's ``np.savetxt(fmt="%s")``
writes them (``0.1`` for a ``float32`` 0.1, not ``0.10000000149011612``).

Unlike sagemaker-inference-toolkit, a CSV body always decodes to a 2-D array (its
``np.genfromtxt`` makes one line a 1-D array, which scikit-learn refuses), and ``.npy`` bodies may
not hold pickled objects: a client must not be able to run code in the replica.

Errors carry the HTTP status the replica answers with: :class:`UnsupportedContentTypeError` (415),
:class:`NotAcceptableError` (406) and :class:`DecodeError` (400), all :class:`CodecError`.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson

from kiln.runtime.media_types import media_type as media_type

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
ANY = "*/*"

SUPPORTED = (JSON, CSV, NPY)
# Bodies of these types reach a user's input_fn/transform_fn as str, as the toolkit does.
TEXT_TYPES = frozenset((JSON, CSV))

# Keys of a JSON request object that hold the rows (TF Serving: instances; the benchmark: inputs).
ENVELOPE_KEYS = ("instances", "inputs")


class CodecError(ValueError):
    """A body or media type the codecs cannot handle; ``status_code`` is the HTTP answer."""

    status_code = 400


class UnsupportedContentTypeError(CodecError):
    """The request's Content-Type has no decoder."""

    status_code = 415


class NotAcceptableError(CodecError):
    """None of the Accept header's media types has an encoder."""

    status_code = 406


class DecodeError(CodecError):
    """The body does not parse as its declared Content-Type."""

    status_code = 400


def negotiate(accept: str, default: str) -> str:
    """The first media type in ``accept`` that :func:`encode` supports (``*/*`` is ``default``)."""
    if accept in SUPPORTED:
        return accept
    for entry in accept.split(","):
        kind = media_type(entry)
        if kind == ANY:
            kind = media_type(default)
        if kind in SUPPORTED:
            return kind
    raise NotAcceptableError(
        f"cannot encode the response as {accept!r}; supported: {', '.join(SUPPORTED)}"
    )


def decode(body: bytes, content_type: str) -> tuple[Any, str | None]:
    """``body`` as data (mostly an ndarray), and the JSON envelope key it came under, if any."""
    kind = media_type(content_type)
    if kind == JSON:
        return _decode_json(body)
    if kind == CSV:
        return _decode_csv(body), None
    if kind == NPY:
        return _decode_npy(body), None
    raise UnsupportedContentTypeError(
        f"cannot decode a {content_type!r} request body; supported: {', '.join(SUPPORTED)}"
    )


def model_input(data: Any, content_type: str) -> Any:
    """Decoded ``data`` as the frameworks' default ``input_fn`` hands it on: numeric arrays from
    JSON and CSV bodies as ``float32``; anything else unchanged."""
    if media_type(content_type) not in TEXT_TYPES or not isinstance(data, np.ndarray):
        return data
    if data.dtype.kind not in "biuf":
        return data
    return data.astype(np.float32)


def encode(prediction: Any, kind: str) -> bytes:
    """``prediction`` as a body of media type ``kind`` (one of :data:`SUPPORTED`)."""
    if kind == JSON:
        return orjson.dumps(prediction, default=_tolist, option=orjson.OPT_SERIALIZE_NUMPY)
    if kind == CSV:
        return _encode_csv(prediction)
    if kind == NPY:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(prediction))
        return buffer.getvalue()
    raise NotAcceptableError(f"cannot encode the response as {kind!r}")


def _decode_json(body: bytes) -> tuple[Any, str | None]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise DecodeError(f"request body is not valid JSON: {e}") from e
    key = None
    if isinstance(data, dict):
        key = next((k for k in ENVELOPE_KEYS if k in data), None)
        if key is None:
            return data, None
        data = data[key]
    if not isinstance(data, list):
        return data, key
    try:
        return np.array(data), key
    except ValueError as e:
        raise DecodeError(f"JSON rows do not form an array: {e}") from e


def _decode_csv(body: bytes) -> np.ndarray[Any, Any]:
    try:
        lines = body.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DecodeError(f"text/csv body is not UTF-8: {e}") from e
    if not any(line.strip() for line in lines):
        raise DecodeError("text/csv body is empty")
    try:
        return np.loadtxt(lines, delimiter=",", ndmin=2)
    except ValueError:
        pass
    # Not all numbers: hand the cells on as strings, as a user's predict_fn may expect.
    try:
        return np.loadtxt(lines, delimiter=",", ndmin=2, dtype=str, quotechar='"')
    except ValueError as e:
        raise DecodeError(f"text/csv body is not a table: {e}") from e


def _decode_npy(body: bytes) -> np.ndarray[Any, Any]:
    try:
        array: np.ndarray[Any, Any] = np.lib.format.read_array(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DecodeError(f"application/x-npy body is not a .npy array: {e}") from e
    return array


def _encode_csv(prediction: Any) -> bytes:
    array = np.asarray(prediction)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim == 1:
        lines = [str(value) for value in array]
    elif array.ndim == 2:
        lines = [",".join(map(str, row)) for row in array]
    else:
        raise ValueError(f"cannot write a {array.ndim}-dimensional prediction as text/csv")
    return ("\n".join(lines) + "\n").encode()


def _tolist(value: Any) -> Any:
    # orjson passes here what it cannot write itself: non-contiguous or object arrays, tensors.
    tolist = getattr(value, "tolist", None)
    if tolist is None:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
    return tolist()

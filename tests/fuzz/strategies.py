"""Hypothesis strategies for AWS requests, derived from botocore's model of each operation.

    requests(service, operation)   the input shape's members as boto3 takes them. Half are clean:
                                   every value keeps the model's constraints (length, enum,
                                   pattern, range), so that requests reach the services. Half are
                                   dirty: about one value in ten breaks one (too long, too big,
                                   off the enum or the pattern, a required member missing), so
                                   that validation answers too
    documents(service, operation)  what boto3's serializer would never send: any member may hold
                                   any JSON value, unknown members appear, timestamps and numbers
                                   go beyond what Python's datetime or a 64-bit int can hold
    form_pairs(service, operation) query-protocol (STS, IAM) bodies as key/value pairs, serialized
                                   by botocore, with stray keys among them

Nothing is written per operation: a shape's type and constraints decide, plus a few values chosen
by shape name that reach deeper (``_HINTS``: names from a small pool, so that Describe, Update and
Delete find what Create made; Kiln's own image; token forms) or keep what gets created cheap
(``_SAFE``: entrypoints that fail at once, a few instances at most).
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.serialize import QuerySerializer
from hypothesis import strategies as st

from kiln.config import ACCOUNT_ID

# Resource names the strategies mostly draw: Create makes them, Describe/Update/Delete find them.
NAMES = ("fuzz-a", "fuzz-b")
# The endpoint (and its model and config) that serves a model for the invocation tests: not in
# NAMES, so that the operations neither delete it nor start more replicas of its model.
LIVE = "fuzz-live"
# The region of the test servers (make_settings keeps Kiln's default), for ARNs of NAMES.
REGION = "us-east-1"

_MAX_DEPTH = 6  # below this, structures carry their required members only
_MAX_ITEMS = 3  # lists and maps stay short when valid: a big request is not a better one
_LAST_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, the last instant AWS accepts
_WIDE_INTEGERS = (2**31, 2**63, 2**64, 10**30, -(2**63) - 1)


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


def operation_model(service: str, operation: str) -> OperationModel:
    """botocore's model of ``operation``."""
    return _session().get_service_model(service).operation_model(operation)


def signing_name(service: str) -> str:
    """The name SigV4 signs ``service`` under (``sagemaker`` for ``sagemaker-runtime``)."""
    return str(_session().get_service_model(service).signing_name)


@functools.cache
def requests(service: str, operation: str) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for boto3's ``operation``: half clean, half with a few values wrong."""
    shape = operation_model(service, operation).input_shape
    if shape is None:
        return st.just({})
    return _Builder(_CLEAN).build(shape, 0) | _Builder(_DIRTY).build(shape, 0)


@functools.cache
def documents(service: str, operation: str) -> st.SearchStrategy[Any]:
    """JSON documents for ``operation``'s body, of any JSON type at any member."""
    shape = operation_model(service, operation).input_shape
    if shape is None:
        return st.one_of(st.just({}), _ANY_JSON)
    return _Builder(_ANY_TYPE).build(shape, 0)


@functools.cache
def form_pairs(service: str, operation: str) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A query-protocol body's key/value pairs for ``operation``, with stray ones."""
    model = operation_model(service, operation)
    serializer = QuerySerializer()

    def serialize(params: dict[str, Any]) -> list[tuple[str, str]]:
        body = serializer.serialize_to_request(params, model)["body"]
        return [(str(k), str(v)) for k, v in body.items()]

    stray = st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=3)
    return st.builds(
        lambda pairs, extra: pairs + extra, requests(service, operation).map(serialize), stray
    )


def _rarely() -> st.SearchStrategy[bool]:
    """True about one time in ten; shrinks to False."""
    return st.integers(0, 9).map(lambda i: i == 9)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` about nine times in ten, else ``other``; shrinks toward ``valid``."""
    return _rarely().flatmap(lambda is_other: other if is_other else valid)


_ANY_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(_WIDE_INTEGERS)
    | st.floats()  # NaN and ±Infinity too: json.dumps writes them as bare tokens
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)


# How a builder strays from the model: never, in one value in ten, or also in the JSON type.
_CLEAN, _DIRTY, _ANY_TYPE = "clean", "dirty", "any type"


class _Builder:
    """Builds the strategy of one shape tree in one of the modes above."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def build(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        """The strategy for values of ``shape`` at ``depth`` in the request."""
        builder = self._BY_TYPE.get(shape.type_name, _Builder._unknown)
        strategy = _SAFE[shape.name]() if shape.name in _SAFE else builder(self, shape, depth)
        if self.mode == _ANY_TYPE and depth > 0:
            return mostly(strategy, _ANY_JSON)
        return strategy

    def _or_wrong(
        self, valid: st.SearchStrategy[Any], wrong: list[st.SearchStrategy[Any]]
    ) -> st.SearchStrategy[Any]:
        if self.mode == _CLEAN or not wrong:
            return valid
        return mostly(valid, st.one_of(wrong))

    def _structure(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        assert isinstance(shape, StructureShape)
        required = set(shape.required_members)
        members = {
            name: self.build(member, depth + 1)
            for name, member in shape.members.items()
            if name in required or depth < _MAX_DEPTH
        }
        optional = sorted(set(members) - required)
        if self.mode == _CLEAN and depth < 2:  # near the top, each optional member a coin toss
            return st.fixed_dictionaries(
                {name: members[name] for name in sorted(required)},
                optional={name: members[name] for name in optional},
            )
        unknown = _ANY_JSON if self.mode == _ANY_TYPE else st.nothing()
        return _structures(members, sorted(required), optional, self.mode != _CLEAN, unknown)

    def _list(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        assert isinstance(shape, ListShape)
        low, high = _bounds(shape, 0, None)
        item = self.build(shape.member, depth + 1)
        valid = st.lists(item, min_size=low, max_size=max(low, min(high or _MAX_ITEMS, _MAX_ITEMS)))
        wrong = [st.lists(item, max_size=low - 1)] if low > 0 else []
        if high is not None and high < 200:
            wrong.append(st.lists(item, min_size=high + 1, max_size=high + 1))
        return self._or_wrong(valid, wrong)

    def _map(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        assert isinstance(shape, MapShape)
        key = _Builder(_CLEAN).build(shape.key, depth + 1)
        value = self.build(shape.value, depth + 1)
        return st.dictionaries(self._or_wrong(key, [st.text()]), value, max_size=_MAX_ITEMS)

    def _string(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        valid = _valid_strings(shape)
        hints = [hint() for test, hint in _HINTS if test(shape)]
        if hints:
            valid = st.one_of(*hints, valid)
        return self._or_wrong(valid, [_wrong_strings(shape)])

    def _integer(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        low, high = _bounds(shape, -(2**31), 2**31 - 1)
        assert high is not None
        small = low if "min" in shape.metadata else max(low, min(high, 0))
        valid = st.integers(small, min(high, small + 10)) | st.integers(low, high)
        wrong = [st.sampled_from(_WIDE_INTEGERS)]
        if "min" in shape.metadata:
            wrong.append(st.integers(max_value=low - 1))
        if "max" in shape.metadata:
            wrong.append(st.integers(min_value=high + 1))
        if self.mode == _ANY_TYPE:
            wrong.append(st.floats(low, high).filter(lambda x: not x.is_integer()))
        return self._or_wrong(valid, wrong)

    def _float(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        low = shape.metadata.get("min", -1e9)
        high = shape.metadata.get("max", 1e9)
        valid = st.floats(low, high, allow_nan=False, allow_infinity=False)
        wrong = [st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, low - 1, high + 1])]
        return self._or_wrong(valid, wrong)

    def _boolean(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        return self._or_wrong(st.booleans(), [st.sampled_from(["true", 1, 0, "yes"])])

    def _timestamp(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        if self.mode == _ANY_TYPE:  # the JSON protocols' epoch seconds, any float or int
            valid = st.floats(0, _LAST_TIMESTAMP) | st.integers(0, _LAST_TIMESTAMP)
            wrong = st.sampled_from([-1, -1e10, _LAST_TIMESTAMP + 1, 1e300, 2**64, "2024-01-01"])
            return self._or_wrong(valid, [wrong])
        # boto3 serializes datetimes only: years before 1970 are the out-of-range it can send.
        utc = st.just(datetime.UTC)
        valid = st.datetimes(datetime.datetime(1970, 1, 2), timezones=utc)
        early = st.datetimes(max_value=datetime.datetime(1969, 12, 31), timezones=utc)
        return self._or_wrong(valid, [early])

    def _blob(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        if self.mode == _ANY_TYPE:  # JSON 1.1 carries blobs as base64 text
            encoded = st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())
            return self._or_wrong(encoded, [st.text(max_size=20)])
        return st.binary(max_size=256)

    def _unknown(self, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
        return _ANY_JSON  # "document" and types botocore may add later: any JSON value

    _BY_TYPE: dict[str, Callable[[_Builder, Shape, int], st.SearchStrategy[Any]]] = {
        "structure": _structure,
        "list": _list,
        "map": _map,
        "string": _string,
        "integer": _integer,
        "long": _integer,
        "float": _float,
        "double": _float,
        "boolean": _boolean,
        "timestamp": _timestamp,
        "blob": _blob,
    }


def _structures(
    members: dict[str, st.SearchStrategy[Any]],
    required: list[str],
    optional: list[str],
    may_drop: bool,
    unknown: st.SearchStrategy[Any],
) -> st.SearchStrategy[dict[str, Any]]:
    """Required members (one dropped, rarely, if ``may_drop``), up to three optional ones,
    an unknown one (rarely) if ``unknown`` draws any."""

    @st.composite
    def structure(draw: st.DrawFn) -> dict[str, Any]:
        value = {name: draw(members[name]) for name in required}
        if may_drop and value and draw(_rarely()):
            del value[draw(st.sampled_from(sorted(value)))]
        if optional:
            chosen = draw(st.lists(st.sampled_from(optional), max_size=_MAX_ITEMS, unique=True))
            value.update({name: draw(members[name]) for name in chosen})
        if not unknown.is_empty and draw(_rarely()):
            value[draw(st.text(max_size=12))] = draw(unknown)
        return value

    return structure()


def _bounds(shape: Shape, low: int, high: int | None) -> tuple[int, int | None]:
    return int(shape.metadata.get("min", low)), shape.metadata.get("max", high)


def _valid_strings(shape: Shape) -> st.SearchStrategy[str]:
    enum = shape.metadata.get("enum")
    if enum:
        return st.sampled_from(enum)
    low, high = _bounds(shape, 0, None)
    try:
        # ASCII: in Java's patterns (AWS's) \d and \w mean ASCII digits and word characters.
        pattern = re.compile(_python_pattern(shape.metadata.get("pattern", "")), re.ASCII)
    except re.error:  # a Java construct _python_pattern does not know: any text, then
        pattern = re.compile("")
    if pattern.pattern:
        fitting = st.from_regex(pattern, fullmatch=True)
        return fitting.filter(lambda s: low <= len(s) <= (high or len(s)))
    return st.text(min_size=low, max_size=max(low, min(high or 64, 64)))


def _wrong_strings(shape: Shape) -> st.SearchStrategy[str]:
    low, high = _bounds(shape, 0, None)
    wrong = [st.text(max_size=40), st.just("\x00\ud7ff\n\t\"'<>&%")]
    if high is not None:
        wrong.append(st.just("x" * (high + 1)))
    if low > 0:
        wrong.append(st.text(max_size=low - 1))
    return st.one_of(wrong)


# Java's classes in AWS's patterns, as Python ranges (re has no \p{…}).
_JAVA_CLASSES = {
    "Alnum": "a-zA-Z0-9",
    "ASCII": "\\x00-\\x7f",
    "Print": "\\x20-\\x7e",
    "L": "a-zA-Z\\u00c0-\\u024f",
    "N": "0-9",
    "Z": " \\u00a0",
}


def _python_pattern(pattern: str) -> str:
    """An AWS (Java) pattern as a Python regex: ``\\p{…}`` classes spelt out, ``\\z`` as ``\\Z``."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        match = re.match(r"\\p\{(\w+)\}", pattern[i:])
        if match and match.group(1) in _JAVA_CLASSES:
            ranges = _JAVA_CLASSES[match.group(1)]
            out.append(ranges if in_class else f"[{ranges}]")
            i += match.end()
            continue
        char = pattern[i : i + 2] if pattern[i] == "\\" else pattern[i]
        if char == "\\z":
            char = "\\Z"
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        out.append(char)
        i += len(char)
    return "".join(out)


def _matches(shape: Shape, value: str) -> bool:
    low, high = _bounds(shape, 0, None)
    try:
        pattern = re.compile(_python_pattern(shape.metadata.get("pattern", ".*")), re.DOTALL)
    except re.error:
        return False
    return low <= len(value) <= (high or len(value)) and pattern.fullmatch(value) is not None


def _arns() -> st.SearchStrategy[str]:
    kinds = st.sampled_from(["training-job", "model", "endpoint-config", "endpoint"])
    return st.builds(
        lambda kind, name: f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:{kind}/{name}",
        kinds,
        st.sampled_from([*NAMES, LIVE]),  # LIVE's model, config and endpoint always exist
    )


def _tokens() -> st.SearchStrategy[str]:
    """The forms of Kiln's paging tokens, with other contents: what reaches their parsers."""
    offset = st.one_of(st.integers(), st.sampled_from(_WIDE_INTEGERS), st.text(max_size=5))
    listing = offset.map(lambda o: base64.urlsafe_b64encode(json.dumps({"offset": o}).encode()))
    prefixed = st.builds(lambda p, rest: p + rest, st.sampled_from(["f/", "b/", "p/"]), st.text())
    # Plain offsets, in any script's digits too ("²" passes str.isdigit(), not int()).
    digits = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=5)
    return st.one_of(listing.map(bytes.decode), prefixed, digits, st.just("9" * 5000))


# (applies to the shape, its interesting values): drawn besides the model's own values.
_HINTS: list[tuple[Callable[[Shape], bool], Callable[[], st.SearchStrategy[str]]]] = [
    (
        lambda shape: (
            ("Name" in shape.name or "Variant" in shape.name) and _matches(shape, NAMES[0])
        ),
        lambda: st.sampled_from(NAMES),
    ),
    (
        lambda shape: shape.name in ("ContainerImage", "AlgorithmImage"),
        lambda: st.just("kiln/python"),
    ),
    (
        lambda shape: shape.name in ("Url", "S3Uri"),
        lambda: st.sampled_from(["s3://fuzz-missing/model.tar.gz", "s3://fuzz-missing"]),
    ),
    (lambda shape: shape.name == "ResourceArn", _arns),
    (lambda shape: shape.name in ("NextToken", "PaginationToken"), _tokens),
    (
        lambda shape: shape.name == "LogGroupName",
        lambda: st.sampled_from(
            ["/aws/sagemaker/TrainingJobs", f"/aws/sagemaker/Endpoints/{LIVE}"]
        ),
    ),
]

# Values that replace the model's, to keep what the fuzz creates cheap: a training job runs its
# ContainerEntrypoint, so only programs that fail at once; each instance of a job or a variant
# is a process, so a few (and the invalid -1 and 0), never the model's unbounded counts.
_SAFE: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
    "TrainingContainerEntrypointString": lambda: st.sampled_from(["false", "/kiln-fuzz/missing"]),
    "TrainingInstanceCount": lambda: st.integers(-1, 3),
    "InitialTaskCount": lambda: st.integers(-1, 3),
    "TaskCount": lambda: st.integers(-1, 3),
}

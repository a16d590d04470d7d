"""Request validation against botocore's own service model.

botocore's ``ParamValidator`` checks required members, types and minimums; AWS's servers also
enforce maximum lengths, patterns and enums, which botocore leaves to them, so this module checks
those too, from the same model. No field list is copied by hand.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Mapping
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.validate import ParamValidator

from kiln.errors import ValidationError
from kiln.shapes.aws import service_model


def operation_model(service: str, operation: str) -> OperationModel | None:
    """The model of ``operation``, or None if the service has no such operation."""
    model = service_model(service)
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation)


def validate(operation: OperationModel, params: Mapping[str, Any]) -> None:
    """Raise ``ValidationError`` (AWS's wording) if ``params`` break the operation's input shape."""
    if operation.input_shape is None:
        return
    # Kiln's own checks first: botocore's parser raises (not reports) on absurd timestamps.
    problems: list[str] = []
    _check(params, operation.input_shape, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(problems))
    report = ParamValidator().validate(dict(params), operation.input_shape)
    if report.has_errors():
        raise ValidationError(report.generate_report())


def _check(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        for name, member in shape.members.items():
            if name in value:
                _check(value[name], member, _join(path, name), problems)
    elif isinstance(shape, ListShape) and isinstance(value, list):
        _check_length(value, shape, path, problems)
        for i, item in enumerate(value):
            _check(item, shape.member, f"{path}.{i + 1}.member", problems)
    elif isinstance(shape, MapShape) and isinstance(value, Mapping):
        _check_length(value, shape, path, problems)
        for key, item in value.items():
            _check(key, shape.key, f"{path}.key", problems)
            _check(item, shape.value, f"{path}.value", problems)
    elif shape.type_name in _NUMBERS and isinstance(value, int | float):
        _check_number(value, shape, path, problems)
    elif shape.type_name == "timestamp":
        _check_timestamp(value, path, problems)
    elif shape.type_name == "string" and isinstance(value, str):
        _check_string(value, shape, path, problems)


_NUMBERS = ("integer", "long", "float", "double")
# AWS's JSON protocols send timestamps as epoch seconds; year 9999 is the last AWS accepts.
_LAST_TIMESTAMP = 253402300799.0


def _check_number(value: float, shape: Shape, path: str, problems: list[str]) -> None:
    """botocore checks minimums on the client; the server checks maximums (MaxResults ≤ 100)."""
    maximum = shape.metadata.get("max")
    if maximum is not None and value > maximum:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {maximum}"
        )
    minimum = shape.metadata.get("min")
    if minimum is not None and value < minimum:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {minimum}"
        )


def _check_timestamp(value: Any, path: str, problems: list[str]) -> None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not 0 <= value <= _LAST_TIMESTAMP:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: Member must be a "
            f"timestamp in seconds since the epoch, from 0 to {_LAST_TIMESTAMP:.0f}"
        )


def _check_length(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    maximum = shape.metadata.get("max")
    if maximum is not None and len(value) > maximum:
        problems.append(
            f"Value at '{path}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {maximum}"
        )


def _check_string(value: str, shape: Shape, path: str, problems: list[str]) -> None:
    _check_length(value, shape, path, problems)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(enum)}]"
        )
    pattern = shape.metadata.get("pattern")
    compiled = _compiled(pattern) if pattern else None
    if compiled is not None and compiled.fullmatch(value) is None:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}"
        )


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    """The pattern as a Python regex; None for the few Java-only ones (``\\p{…}``)."""
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _join(path: str, name: str) -> str:
    member = name[:1].lower() + name[1:]
    return f"{path}.{member}" if path else member


def check_output(operation: OperationModel, answer: Mapping[str, Any]) -> list[str]:
    """Where ``answer`` breaks the operation's output shape: missing required members, members
    the shape does not have, wrong types, values outside an enum. Empty when it conforms."""
    problems: list[str] = []
    if operation.output_shape is None:
        if answer:
            problems.append(f"{operation.name} has no output shape but answered {sorted(answer)}")
        return problems
    _check_answer(answer, operation.output_shape, operation.output_shape.name, problems)
    return problems


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "timestamp": (int, float, str, datetime.datetime),
    "blob": (bytes, str),
    "structure": (Mapping,),
    "list": (list, tuple),
    "map": (Mapping,),
}


def _check_answer(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    if not _has_type(value, shape.type_name):
        problems.append(f"{path}: {type(value).__name__} where the model has {shape.type_name}")
        return
    if isinstance(shape, StructureShape):
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{path}.{name}: required member missing")
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None:
                problems.append(f"{path}.{name}: not a member of {shape.name}")
            elif item is not None:
                _check_answer(item, member, f"{path}.{name}", problems)
    elif isinstance(shape, ListShape):
        for i, item in enumerate(value):
            _check_answer(item, shape.member, f"{path}[{i}]", problems)
    elif isinstance(shape, MapShape):
        for key, item in value.items():
            _check_answer(item, shape.value, f"{path}[{key!r}]", problems)
    elif shape.type_name == "string" and value not in shape.metadata.get("enum", [value]):
        problems.append(f"{path}: {value!r} is not one of {shape.name}'s values")


def _has_type(value: object, type_name: str) -> bool:
    if isinstance(value, bool) and type_name != "boolean":
        return False
    return isinstance(value, _PYTHON_TYPES.get(type_name, (object,)))

"""botocore's service models as Kiln's source of truth for shapes: loaded once, read everywhere.

Answers are built by projecting what Kiln stores onto an operation's output shape (members the
shape lacks are dropped, so an echoed request never leaks a request-only member) and filling
the members AWS fills by default.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from botocore.loaders import Loader
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape


@functools.cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of ``service`` (e.g. ``sagemaker``)."""
    return ServiceModel(Loader().load_service_model(service, "service-2"), service)


def output_shape(service: str, operation: str) -> StructureShape:
    """The output shape of ``operation``."""
    shape = service_model(service).operation_model(operation).output_shape
    assert isinstance(shape, StructureShape), f"{service}.{operation} has no output shape"
    return shape


def project(value: Any, shape: Shape) -> Any:
    """``value`` with only the members ``shape`` has, at every depth."""
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        return {
            name: project(item, shape.members[name])
            for name, item in value.items()
            if name in shape.members and item is not None
        }
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [project(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, Mapping):
        return {key: project(item, shape.value) for key, item in value.items()}
    return value


def with_defaults(answer: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``answer`` with AWS's default members filled where absent.

    A scalar default is set where the member is missing; a structure default only fills a
    structure the answer already has; a one-item list default fills every item of that list.
    """
    for name, default in defaults.items():
        present = answer.get(name)
        if isinstance(default, Mapping):
            if isinstance(present, dict):
                with_defaults(present, default)
        elif isinstance(default, list) and default and isinstance(default[0], Mapping):
            for item in present if isinstance(present, list) else []:
                if isinstance(item, dict):
                    with_defaults(item, default[0])
        elif name not in answer:
            answer[name] = default
    return answer

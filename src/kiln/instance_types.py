"""SageMaker's instance types: the vCPUs, memory and accelerators of each.

The names are botocore's: every value of the instance-type enums of SageMaker's service model
(:data:`ENUM_SHAPES`), so a newer botocore brings its new types. The sizes come from one rule
and a table of exceptions, checked against AWS's published numbers (the EC2 instance-type pages
at aws.amazon.com/ec2/instance-types; tests/unit/test_instance_types.py holds a sample):

- vCPUs from the size suffix: ``medium`` 1, ``large`` 2, ``xlarge`` 4, ``Nxlarge`` 4·N;
- memory from the family's GiB per vCPU: by its first letter (``c`` 2, ``m`` 4, ``r`` 8,
  ``t`` 4), else from :data:`_GIB_PER_VCPU`;
- accelerators (GPUs, or Inferentia, Trainium and Gaudi chips) from :data:`_ACCELERATORS`;
- :data:`_EXCEPTIONS` where AWS's numbers break the rule (``t3.medium`` has 2 vCPUs,
  ``c4.8xlarge`` 36, the P families their own memory, …).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from kiln.errors import ValidationError
from kiln.shapes.aws import service_model

# The instance-type enums of the operations Kiln serves, or may (processing, batch transform).
ENUM_SHAPES = (
    "TrainingInstanceType",
    "ProductionVariantInstanceType",
    "ProcessingInstanceType",
    "TransformInstanceType",
)


@dataclass(frozen=True)
class InstanceType:
    """What one instance of a SageMaker instance type has."""

    vcpus: int
    memory_mib: int
    gpus: int = 0
    # What ``gpus`` counts: NVIDIA GPUs, or AWS Inferentia/Trainium or Habana Gaudi chips.
    accelerator: str = "GPU"


def _gib(n: float) -> int:
    return int(n * 1024)


_GIB_PER_VCPU_BY_LETTER = {"c": 2.0, "m": 4.0, "r": 8.0, "t": 4.0}

# Families whose memory per vCPU is not their letter's.
_GIB_PER_VCPU = {
    "c4": 1.875,  # c4.large: 3.75 GiB
    "c5n": 2.625,  # c5n.xlarge: 10.5 GiB
    "dl1": 8.0,
    "g4dn": 4.0,
    "g5": 4.0,
    "g6": 4.0,
    "g6e": 8.0,
    "g7": 4.0,
    "g7e": 8.0,
    "inf1": 2.0,
    "inf2": 4.0,
    "p2": 15.25,  # p2.xlarge: 61 GiB
    "p3": 7.625,  # p3.2xlarge: 61 GiB
    "p3dn": 8.0,
    "p4d": 12.0,
    "p4de": 12.0,
    "trn1": 4.0,
    "trn1n": 4.0,
}

# family → (what it carries, how many per instance, the sizes that carry another number).
_ACCELERATORS: dict[str, tuple[str, int, dict[str, int]]] = {
    "dl1": ("Gaudi", 8, {}),
    "g4dn": ("GPU", 1, {"12xlarge": 4}),
    "g5": ("GPU", 1, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g6": ("GPU", 1, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g6e": ("GPU", 1, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g7": ("GPU", 1, {"8xlarge": 2, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g7e": ("GPU", 1, {"12xlarge": 2, "24xlarge": 4, "48xlarge": 8}),
    "inf1": ("Inferentia", 1, {"6xlarge": 4, "24xlarge": 16}),
    "inf2": ("Inferentia", 1, {"24xlarge": 6, "48xlarge": 12}),
    "p2": ("GPU", 1, {"8xlarge": 8, "16xlarge": 16}),
    "p3": ("GPU", 1, {"8xlarge": 4, "16xlarge": 8}),
    "p3dn": ("GPU", 8, {}),
    "p4d": ("GPU", 8, {}),
    "p4de": ("GPU", 8, {}),
    "p5": ("GPU", 8, {"4xlarge": 1}),
    "p5e": ("GPU", 8, {}),
    "p5en": ("GPU", 8, {}),
    "p6-b200": ("GPU", 8, {}),
    "p6-b300": ("GPU", 8, {}),
    "p6e-gb200": ("GPU", 4, {}),
    "trn1": ("Trainium", 1, {"32xlarge": 16}),
    "trn1n": ("Trainium", 16, {}),
    "trn2": ("Trainium", 16, {}),
}

# type (without "ml.") → (vCPUs, GiB) where AWS's published numbers differ from the rule.
_EXCEPTIONS: dict[str, tuple[int, float]] = {
    "t2.medium": (2, 4),
    "t3.medium": (2, 4),
    "c4.8xlarge": (36, 60),
    "c5n.9xlarge": (36, 96),
    "c5n.18xlarge": (72, 192),
    "p2.16xlarge": (64, 732),
    "p5.4xlarge": (16, 256),
    "p5.48xlarge": (192, 2048),
    "p5e.48xlarge": (192, 2048),
    "p5en.48xlarge": (192, 2048),
    "p6-b200.48xlarge": (192, 2048),
    "p6-b300.48xlarge": (192, 4096),
    "p6e-gb200.36xlarge": (144, 960),
    "trn2.48xlarge": (192, 2048),
    "g7e.12xlarge": (48, 512),
    "g7e.24xlarge": (96, 1024),
    "g7e.48xlarge": (192, 2048),
}

_NAME = re.compile(r"ml\.(?P<family>[a-z0-9-]+)\.(?P<size>medium|large|(?P<n>[0-9]*)xlarge)")


def size_vcpus(size: str) -> int:
    """vCPUs of a size suffix by AWS's naming rule: medium 1, large 2, xlarge 4, Nxlarge 4·N."""
    if size == "medium":
        return 1
    if size == "large":
        return 2
    multiple = size.removesuffix("xlarge")
    return 4 * int(multiple) if multiple else 4


@functools.cache
def resolve(name: str) -> InstanceType:
    """The sizes of instance type ``name`` (``ml.m5.xlarge``); ValidationError if none fits."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValidationError(
            f"Instance type {name!r} is not of the form ml.<family>.<size> (e.g. ml.m5.xlarge)"
        )
    family, size = match["family"], match["size"]
    accelerator, default_count, by_size = _ACCELERATORS.get(family, ("GPU", 0, {}))
    gpus = by_size.get(size, default_count)
    exception = _EXCEPTIONS.get(f"{family}.{size}")
    if exception is not None:
        vcpus, gib = exception
        return InstanceType(vcpus, _gib(gib), gpus, accelerator)
    ratio = _GIB_PER_VCPU.get(family, _GIB_PER_VCPU_BY_LETTER.get(family[0]))
    if ratio is None:
        raise ValidationError(
            f"Instance type {name!r}: Kiln does not know the sizes of the {family!r} family"
        )
    vcpus = size_vcpus(size)
    return InstanceType(vcpus, _gib(vcpus * ratio), gpus, accelerator)


@functools.cache
def instance_type_names() -> frozenset[str]:
    """Every instance type in botocore's SageMaker enums (:data:`ENUM_SHAPES`)."""
    model = service_model("sagemaker")
    return frozenset(
        name for shape in ENUM_SHAPES for name in model.shape_for(shape).metadata["enum"]
    )


class InstanceTable(Mapping[str, InstanceType]):
    """Every SageMaker instance type with its sizes; botocore's model is read on first use."""

    def __getitem__(self, name: str) -> InstanceType:
        if name not in instance_type_names():
            raise KeyError(name)
        return resolve(name)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(instance_type_names()))

    def __len__(self) -> int:
        return len(instance_type_names())


INSTANCE_TYPES: Mapping[str, InstanceType] = InstanceTable()

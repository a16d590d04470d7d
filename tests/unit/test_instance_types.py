"""The instance table: every botocore instance type resolves, and a sample has AWS's numbers."""

from __future__ import annotations

import pytest

from kiln.api.validation import service_model
from kiln.errors import ValidationError
from kiln.instance_types import (
    ENUM_SHAPES,
    INSTANCE_TYPES,
    InstanceType,
    resolve,
    size_vcpus,
)

GIB = 1024


def test_every_enum_value_of_botocore_resolves() -> None:
    model = service_model("sagemaker")
    names = {name for shape in ENUM_SHAPES for name in model.shape_for(shape).enum}
    assert set(INSTANCE_TYPES) == names
    for name in names:
        size = INSTANCE_TYPES[name]
        assert size.vcpus >= 1, name
        assert size.memory_mib >= GIB, name


# AWS's published numbers (EC2 instance-type pages): vCPUs, GiB, accelerators.
@pytest.mark.parametrize(
    ("name", "vcpus", "gib", "gpus"),
    [
        ("ml.m5.xlarge", 4, 16, 0),
        ("ml.m5.large", 2, 8, 0),
        ("ml.m4.10xlarge", 40, 160, 0),
        ("ml.c4.2xlarge", 8, 15, 0),
        ("ml.c4.large", 2, 3.75, 0),
        ("ml.c4.8xlarge", 36, 60, 0),
        ("ml.c5.9xlarge", 36, 72, 0),
        ("ml.c5n.xlarge", 4, 10.5, 0),
        ("ml.c5n.18xlarge", 72, 192, 0),
        ("ml.r5.large", 2, 16, 0),
        ("ml.r8g.medium", 1, 8, 0),
        ("ml.c8g.medium", 1, 2, 0),
        ("ml.t3.medium", 2, 4, 0),
        ("ml.t2.medium", 2, 4, 0),
        ("ml.t3.2xlarge", 8, 32, 0),
        ("ml.p2.xlarge", 4, 61, 1),
        ("ml.p2.16xlarge", 64, 732, 16),
        ("ml.p3.2xlarge", 8, 61, 1),
        ("ml.p3.8xlarge", 32, 244, 4),
        ("ml.p3.16xlarge", 64, 488, 8),
        ("ml.p3dn.24xlarge", 96, 768, 8),
        ("ml.p4d.24xlarge", 96, 1152, 8),
        ("ml.p5.48xlarge", 192, 2048, 8),
        ("ml.p5.4xlarge", 16, 256, 1),
        ("ml.p6e-gb200.36xlarge", 144, 960, 4),
        ("ml.g4dn.xlarge", 4, 16, 1),
        ("ml.g4dn.12xlarge", 48, 192, 4),
        ("ml.g5.xlarge", 4, 16, 1),
        ("ml.g5.48xlarge", 192, 768, 8),
        ("ml.g6e.xlarge", 4, 32, 1),
        ("ml.g6e.48xlarge", 192, 1536, 8),
        ("ml.inf1.6xlarge", 24, 48, 4),
        ("ml.inf2.48xlarge", 192, 768, 12),
        ("ml.trn1.32xlarge", 128, 512, 16),
        ("ml.trn2.48xlarge", 192, 2048, 16),
        ("ml.dl1.24xlarge", 96, 768, 8),
    ],
)
def test_published_sizes(name: str, vcpus: int, gib: float, gpus: int) -> None:
    size = INSTANCE_TYPES[name]
    assert (size.vcpus, size.memory_mib, size.gpus) == (vcpus, int(gib * GIB), gpus)


@pytest.mark.parametrize(
    ("name", "accelerator"),
    [("ml.p3.2xlarge", "GPU"), ("ml.inf2.xlarge", "Inferentia"), ("ml.trn1.2xlarge", "Trainium")],
)
def test_accelerator_kind(name: str, accelerator: str) -> None:
    assert INSTANCE_TYPES[name].accelerator == accelerator


@pytest.mark.parametrize(
    ("size", "vcpus"),
    [
        ("medium", 1),
        ("large", 2),
        ("xlarge", 4),
        ("2xlarge", 8),
        ("9xlarge", 36),
        ("96xlarge", 384),
    ],
)
def test_size_vcpus(size: str, vcpus: int) -> None:
    assert size_vcpus(size) == vcpus


def test_a_new_family_of_a_known_letter_follows_the_rule() -> None:
    assert resolve("ml.m99.2xlarge") == InstanceType(8, 32 * GIB)


@pytest.mark.parametrize(
    ("name", "message"),
    [("m5.large", "not of the form"), ("ml.x9.large", "'x9' family")],
)
def test_unknown_shapes_are_named(name: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        resolve(name)


def test_names_outside_botocore_are_not_in_the_table() -> None:
    assert "ml.m99.2xlarge" not in INSTANCE_TYPES
    assert "local" not in INSTANCE_TYPES

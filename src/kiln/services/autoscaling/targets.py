"""Scalable targets: which SageMaker variant may be scaled, between which bounds.

Kiln scales one kind of target, as Application Auto Scaling names it: ``ServiceNamespace``
``sagemaker``, ``ResourceId`` ``endpoint/<endpoint>/variant/<variant>``, ``ScalableDimension``
``sagemaker:variant:DesiredInstanceCount``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.errors import ValidationError

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
MAX_INSTANCES = 1000
"""The largest MaxCapacity Kiln takes (a variant's instance count is bounded by the quota)."""


@dataclass(frozen=True, slots=True)
class VariantRef:
    """One production variant of one endpoint."""

    endpoint: str
    variant: str

    @property
    def resource_id(self) -> str:
        """Application Auto Scaling's ``ResourceId`` for the variant."""
        return f"endpoint/{self.endpoint}/variant/{self.variant}"

    @classmethod
    def parse(cls, resource_id: str) -> VariantRef:
        """The variant a ``ResourceId`` names; ``ValidationError`` for any other form."""
        parts = resource_id.split("/")
        if len(parts) != 4 or parts[0] != "endpoint" or parts[2] != "variant" or "" in parts:
            raise ValidationError(
                f"Unsupported resource ID {resource_id!r}: Kiln scales only SageMaker variants, "
                "named endpoint/<endpoint-name>/variant/<variant-name>"
            )
        return cls(parts[1], parts[3])


@dataclass(frozen=True, slots=True)
class Suspended:
    """``SuspendedState``: which kinds of scaling are paused."""

    scale_in: bool = False
    scale_out: bool = False
    scheduled: bool = False


@dataclass(frozen=True, slots=True)
class ScalableTarget:
    """A registered variant, its capacity bounds and what is suspended."""

    ref: VariantRef
    min_capacity: int
    max_capacity: int
    role_arn: str
    suspended: Suspended
    arn: str
    created_at: float


def check_scope(namespace: str, dimension: str | None) -> None:
    """``ValidationError`` unless the request addresses SageMaker variants' instance counts."""
    if namespace != NAMESPACE:
        raise ValidationError(
            f"Unsupported service namespace {namespace!r}: Kiln scales only SageMaker variants "
            f"(ServiceNamespace {NAMESPACE!r})"
        )
    if dimension is not None and dimension != DIMENSION:
        raise ValidationError(
            f"Unsupported scalable dimension {dimension!r}: Kiln scales only SageMaker variants "
            f"({DIMENSION!r})"
        )


def check_capacities(min_capacity: int, max_capacity: int) -> None:
    """``ValidationError`` for bounds no variant can have (0 is Kiln's scale-to-zero)."""
    if min_capacity < 0 or max_capacity < 0:
        raise ValidationError(
            f"MinCapacity {min_capacity} and MaxCapacity {max_capacity} must be 0 or more"
        )
    if max_capacity > MAX_INSTANCES:
        raise ValidationError(f"MaxCapacity {max_capacity} is over Kiln's limit of {MAX_INSTANCES}")
    if min_capacity > max_capacity:
        raise ValidationError(
            f"Minimum capacity cannot be greater than maximum capacity: MinCapacity "
            f"{min_capacity} > MaxCapacity {max_capacity}"
        )
    if max_capacity == 0:
        raise ValidationError("MaxCapacity must be at least 1")

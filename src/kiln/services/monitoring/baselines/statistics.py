"""statistics.json as SageMaker Model Monitor's analyzer writes it, as typed values.

Shape (SageMaker's "Schema for Statistics"): ``version``, ``dataset.item_count`` and one entry
per feature with ``name``, ``inferred_type`` and either ``numerical_statistics`` (``common``,
``mean``, ``sum``, ``std_dev``, ``min``, ``max``, ``distribution.kll`` with ``buckets`` and
``sketch``) or ``string_statistics`` (``common``, ``distinct_count``,
``distribution.categorical.buckets``). A feature with no present value is ``Unknown`` and
carries only its name and type.

What differs from SageMaker: its ``sketch.data`` holds the levels of an Apache DataSketches KLL
sketch; Kiln writes one level holding a uniform sample of up to ``k`` values (sorted), so
quantiles read from it agree in distribution, not bit for bit. The ten ``buckets`` are exact.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

# The parameters SageMaker's analyzer writes into every KLL sketch.
SKETCH_C = 0.64
SKETCH_K = 2048


class InferredType(enum.StrEnum):
    """A column's type as SageMaker infers it from every present value."""

    INTEGRAL = "Integral"
    FRACTIONAL = "Fractional"
    STRING = "String"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class KllBucket:
    """One of the equal-width buckets between a feature's min and max."""

    lower_bound: float
    upper_bound: float
    count: int


@dataclass(frozen=True)
class NumericalStatistics:
    """Moments, range, bucketed distribution and quantile sketch of a numeric feature."""

    num_present: int
    num_missing: int
    mean: float
    sum: float
    std_dev: float
    min: float
    max: float
    buckets: tuple[KllBucket, ...]
    sketch: tuple[float, ...]

    def to_document(self) -> dict[str, Any]:
        """Return SageMaker's ``numerical_statistics`` object."""
        return {
            "common": {"num_present": self.num_present, "num_missing": self.num_missing},
            "mean": self.mean,
            "sum": self.sum,
            "std_dev": self.std_dev,
            "min": self.min,
            "max": self.max,
            "distribution": {
                "kll": {
                    "buckets": [
                        {
                            "lower_bound": b.lower_bound,
                            "upper_bound": b.upper_bound,
                            "count": float(b.count),
                        }
                        for b in self.buckets
                    ],
                    "sketch": {
                        "parameters": {"c": SKETCH_C, "k": float(SKETCH_K)},
                        "data": [list(self.sketch)],
                    },
                }
            },
        }


@dataclass(frozen=True)
class StringStatistics:
    """Counts of each distinct value of a string feature."""

    num_present: int
    num_missing: int
    value_counts: tuple[tuple[str, int], ...]

    @property
    def distinct_count(self) -> int:
        """Number of distinct present values."""
        return len(self.value_counts)

    def to_document(self) -> dict[str, Any]:
        """Return SageMaker's ``string_statistics`` object."""
        return {
            "common": {"num_present": self.num_present, "num_missing": self.num_missing},
            "distinct_count": float(self.distinct_count),
            "distribution": {
                "categorical": {"buckets": [{"value": v, "count": c} for v, c in self.value_counts]}
            },
        }


@dataclass(frozen=True)
class FeatureStatistics:
    """One column's name, inferred type and the statistics that type has."""

    name: str
    inferred_type: InferredType
    num_present: int
    num_missing: int
    numerical: NumericalStatistics | None = None
    string: StringStatistics | None = None

    @property
    def completeness(self) -> float:
        """Share of rows where the feature is present."""
        total = self.num_present + self.num_missing
        return self.num_present / total if total else 0.0

    def to_document(self) -> dict[str, Any]:
        """Return one entry of SageMaker's ``features`` list."""
        document: dict[str, Any] = {"name": self.name, "inferred_type": str(self.inferred_type)}
        if self.numerical is not None:
            document["numerical_statistics"] = self.numerical.to_document()
        if self.string is not None:
            document["string_statistics"] = self.string.to_document()
        return document


@dataclass(frozen=True)
class Statistics:
    """A data set's statistics; ``malformed_lines`` is Kiln's, not part of the document."""

    item_count: int
    features: tuple[FeatureStatistics, ...]
    malformed_lines: int = 0

    def to_document(self) -> dict[str, Any]:
        """Return statistics.json as a dict, in SageMaker's shape."""
        return {
            "version": 0.0,
            "dataset": {"item_count": self.item_count},
            "features": [f.to_document() for f in self.features],
        }

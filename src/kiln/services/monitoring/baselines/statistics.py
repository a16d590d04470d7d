"""statistics.json as SageMaker Model Monitor's analyzer writes it, as typed values.

Shape (SageMaker's "Schema for Statistics"): ``version``, ``dataset.item_count`` and one entry
per feature with ``name``, ``inferred_type`` and either ``numerical_statistics`` (``common``,
``mean``, ``sum``, ``std_dev``, ``min``, ``max``, ``distribution.kll`` with ``buckets`` and
``sketch``) or ``string_statistics`` (``common``, ``distinct_count``,
``distribution.categorical.buckets``). A feature with no present value is ``Unknown`` and
carries only its name and type.

What differs from SageMaker: its ``sketch.data`` holds the levels of an Apache DataSketches KLL
sketch (an item at level ``h`` stands for ``2**h`` values); Kiln writes one level holding a
uniform sample of up to ``k`` values (sorted), so quantiles read from it agree in distribution,
not bit for bit. The ten ``buckets`` are exact. ``from_document`` reads both back (AWS's levels
with their weights), ignoring fields it does not know.

Kiln-only, never in the document: ``Statistics.malformed_lines`` and each feature's
``type_counts`` (how many present values were integral, fractional or other text), which the
data type check needs and a statistics.json read back lacks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kiln.services.monitoring.baselines.documents import (
    as_float,
    as_int,
    as_list,
    as_mapping,
    as_text,
)

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
    sketch: tuple[tuple[float, ...], ...]

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
                        "data": [list(level) for level in self.sketch],
                    },
                }
            },
        }

    def weighted_sketch(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The sketch's items, sorted, and the weight each stands for (``2**level``)."""
        values = np.array([v for level in self.sketch for v in level], dtype=np.float64)
        weights = np.concatenate(
            [np.full(len(level), 2.0**h) for h, level in enumerate(self.sketch)] or [np.empty(0)]
        )
        order = np.argsort(values, kind="stable")
        return values[order], weights[order]

    @classmethod
    def from_document(cls, document: Any, where: str) -> NumericalStatistics:
        """Read SageMaker's ``numerical_statistics`` object."""
        common = as_mapping(document.get("common", {}), f"{where}.common")
        kll = as_mapping(
            as_mapping(document.get("distribution", {}), f"{where}.distribution").get("kll", {}),
            f"{where}.distribution.kll",
        )
        sketch = as_mapping(kll.get("sketch", {}), f"{where}.distribution.kll.sketch")
        return cls(
            num_present=as_int(common.get("num_present", 0), f"{where}.common.num_present"),
            num_missing=as_int(common.get("num_missing", 0), f"{where}.common.num_missing"),
            mean=as_float(document.get("mean", 0.0), f"{where}.mean"),
            sum=as_float(document.get("sum", 0.0), f"{where}.sum"),
            std_dev=as_float(document.get("std_dev", 0.0), f"{where}.std_dev"),
            min=as_float(document.get("min", 0.0), f"{where}.min"),
            max=as_float(document.get("max", 0.0), f"{where}.max"),
            buckets=tuple(
                _bucket(b, f"{where}.distribution.kll.buckets[{i}]")
                for i, b in enumerate(as_list(kll.get("buckets", []), f"{where}.kll.buckets"))
            ),
            sketch=tuple(
                tuple(as_float(v, f"{where}.sketch.data") for v in as_list(level, where))
                for level in as_list(sketch.get("data", []), f"{where}.sketch.data")
            ),
        )


def _bucket(document: Any, where: str) -> KllBucket:
    bucket = as_mapping(document, where)
    return KllBucket(
        as_float(bucket.get("lower_bound"), f"{where}.lower_bound"),
        as_float(bucket.get("upper_bound"), f"{where}.upper_bound"),
        as_int(bucket.get("count", 0), f"{where}.count"),
    )


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

    @classmethod
    def from_document(cls, document: Any, where: str) -> StringStatistics:
        """Read SageMaker's ``string_statistics`` object."""
        common = as_mapping(document.get("common", {}), f"{where}.common")
        distribution = as_mapping(document.get("distribution", {}), f"{where}.distribution")
        categorical = as_mapping(distribution.get("categorical", {}), f"{where}.categorical")
        buckets = as_list(categorical.get("buckets", []), f"{where}.categorical.buckets")
        value_counts = []
        for i, item in enumerate(buckets):
            bucket = as_mapping(item, f"{where}.categorical.buckets[{i}]")
            value = bucket.get("value")
            value_counts.append(
                ("" if value is None else str(value), as_int(bucket.get("count", 0), where))
            )
        return cls(
            num_present=as_int(common.get("num_present", 0), f"{where}.common.num_present"),
            num_missing=as_int(common.get("num_missing", 0), f"{where}.common.num_missing"),
            value_counts=tuple(value_counts),
        )


@dataclass(frozen=True)
class TypeCounts:
    """How many of a feature's present values read as integral, fractional or other text."""

    integral: int = 0
    fractional: int = 0
    text: int = 0

    def __add__(self, other: TypeCounts) -> TypeCounts:
        return TypeCounts(
            self.integral + other.integral,
            self.fractional + other.fractional,
            self.text + other.text,
        )

    def matching(self, expected: InferredType) -> int:
        """How many values a column of type ``expected`` accepts (numbers widen, text takes all)."""
        if expected is InferredType.INTEGRAL:
            return self.integral
        if expected is InferredType.FRACTIONAL:
            return self.integral + self.fractional
        return self.integral + self.fractional + self.text


@dataclass(frozen=True)
class FeatureStatistics:
    """One column's name, inferred type and the statistics that type has."""

    name: str
    inferred_type: InferredType
    num_present: int
    num_missing: int
    numerical: NumericalStatistics | None = None
    string: StringStatistics | None = None
    type_counts: TypeCounts | None = None

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

    @classmethod
    def from_document(cls, document: Any, where: str) -> FeatureStatistics:
        """Read one entry of SageMaker's ``features`` list."""
        feature = as_mapping(document, where)
        name = as_text(feature.get("name"), f"{where}.name")
        inferred = read_inferred_type(feature.get("inferred_type"), f"{where}.inferred_type")
        numerical = string = None
        if "numerical_statistics" in feature:
            numerical = NumericalStatistics.from_document(
                as_mapping(feature["numerical_statistics"], where), f"{where}.numerical_statistics"
            )
        if "string_statistics" in feature:
            string = StringStatistics.from_document(
                as_mapping(feature["string_statistics"], where), f"{where}.string_statistics"
            )
        counted = numerical or string
        present, missing = (counted.num_present, counted.num_missing) if counted else (0, 0)
        return cls(name, inferred, present, missing, numerical, string)


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

    @classmethod
    def from_document(cls, document: Any) -> Statistics:
        """Read statistics.json (Kiln's or AWS's); raise ``ValueError`` naming a bad field."""
        root = as_mapping(document, "statistics")
        dataset = as_mapping(root.get("dataset", {}), "dataset")
        features = as_list(root.get("features", []), "features")
        return cls(
            item_count=as_int(dataset.get("item_count", 0), "dataset.item_count"),
            features=tuple(
                FeatureStatistics.from_document(f, f"features[{i}]") for i, f in enumerate(features)
            ),
        )

    def feature(self, name: str) -> FeatureStatistics | None:
        """The feature called ``name``, if there is one."""
        return next((f for f in self.features if f.name == name), None)


def read_inferred_type(value: Any, where: str) -> InferredType:
    """An ``inferred_type`` value; one Kiln does not know reads as Unknown."""
    text = as_text(value, where)
    try:
        return InferredType(text)
    except ValueError:
        return InferredType.UNKNOWN

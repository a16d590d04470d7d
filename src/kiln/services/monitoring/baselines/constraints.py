"""constraints.json suggested from a baseline's statistics, as SageMaker's analyzer does.

Shape (SageMaker's "Schema for Constraints"): ``version``, one entry per feature with ``name``,
``inferred_type``, ``completeness``, ``num_constraints.is_non_negative`` (numeric features) or
``string_constraints.domains`` (string features of small cardinality), and the
``monitoring_config`` the analyzer writes by default (``monitoring_config.py``). Per-feature
``monitoringConfigOverrides`` and other unknown fields are ignored when read back.

Domains follow Deequ's categorical range rule (the library SageMaker's analyzer is built on): a
string feature gets a domain when it has at most ``DOMAIN_MAX_DISTINCT`` distinct values and at
most ``DOMAIN_MAX_UNIQUE_RATIO`` of them were seen exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiln.services.monitoring.baselines.documents import (
    as_float,
    as_list,
    as_mapping,
    as_text,
)
from kiln.services.monitoring.baselines.monitoring_config import MonitoringConfig
from kiln.services.monitoring.baselines.statistics import (
    FeatureStatistics,
    InferredType,
    Statistics,
    read_inferred_type,
)

DOMAIN_MAX_DISTINCT = 120
DOMAIN_MAX_UNIQUE_RATIO = 0.1


@dataclass(frozen=True)
class FeatureConstraints:
    """What one feature must satisfy: type, completeness, sign or domain."""

    name: str
    inferred_type: InferredType
    completeness: float
    is_non_negative: bool | None = None
    domains: tuple[str, ...] | None = None

    def to_document(self) -> dict[str, Any]:
        """Return one entry of SageMaker's ``features`` list."""
        document: dict[str, Any] = {
            "name": self.name,
            "inferred_type": str(self.inferred_type),
            "completeness": self.completeness,
        }
        if self.is_non_negative is not None:
            document["num_constraints"] = {"is_non_negative": self.is_non_negative}
        if self.domains is not None:
            document["string_constraints"] = {"domains": list(self.domains)}
        return document

    @classmethod
    def from_document(cls, document: Any, where: str) -> FeatureConstraints:
        """Read one entry of SageMaker's ``features`` list (``completeness`` defaults to 1)."""
        feature = as_mapping(document, where)
        non_negative = domains = None
        if "num_constraints" in feature:
            numeric = as_mapping(feature["num_constraints"], f"{where}.num_constraints")
            if "is_non_negative" in numeric:
                non_negative = _flag(numeric["is_non_negative"], f"{where}.is_non_negative")
        if "string_constraints" in feature:
            strings = as_mapping(feature["string_constraints"], f"{where}.string_constraints")
            if "domains" in strings:
                values = as_list(strings["domains"], f"{where}.string_constraints.domains")
                domains = tuple(str(v) for v in values)
        return cls(
            name=as_text(feature.get("name"), f"{where}.name"),
            inferred_type=read_inferred_type(
                feature.get("inferred_type", "Unknown"), f"{where}.inferred_type"
            ),
            completeness=as_float(feature.get("completeness", 1.0), f"{where}.completeness"),
            is_non_negative=non_negative,
            domains=domains,
        )


@dataclass(frozen=True)
class Constraints:
    """A baseline's constraints, one entry per feature."""

    features: tuple[FeatureConstraints, ...]
    monitoring_config: MonitoringConfig = MonitoringConfig()

    def to_document(self) -> dict[str, Any]:
        """Return constraints.json as a dict, in SageMaker's shape."""
        return {
            "version": 0.0,
            "features": [f.to_document() for f in self.features],
            "monitoring_config": self.monitoring_config.to_document(),
        }

    @classmethod
    def from_document(cls, document: Any) -> Constraints:
        """Read constraints.json (Kiln's or AWS's); raise ``ValueError`` naming a bad field."""
        root = as_mapping(document, "constraints")
        features = as_list(root.get("features", []), "features")
        return cls(
            features=tuple(
                FeatureConstraints.from_document(f, f"features[{i}]")
                for i, f in enumerate(features)
            ),
            monitoring_config=MonitoringConfig.from_document(root.get("monitoring_config", {})),
        )


def suggest_constraints(statistics: Statistics) -> Constraints:
    """Suggest the constraints a data set like the baseline must satisfy."""
    return Constraints(features=tuple(_suggest_feature(f) for f in statistics.features))


def suggest_domain(value_counts: tuple[tuple[str, int], ...]) -> tuple[str, ...] | None:
    """The observed values as a domain when they are few and mostly repeated, else None."""
    if not value_counts or len(value_counts) > DOMAIN_MAX_DISTINCT:
        return None
    seen_once = sum(1 for _, count in value_counts if count == 1)
    if seen_once / len(value_counts) > DOMAIN_MAX_UNIQUE_RATIO:
        return None
    return tuple(value for value, _ in value_counts)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false, got {value!r:.80}")
    return value


def _suggest_feature(feature: FeatureStatistics) -> FeatureConstraints:
    non_negative = None
    if feature.numerical is not None:
        non_negative = feature.numerical.min >= 0
    domains = None
    if feature.string is not None:
        domains = suggest_domain(feature.string.value_counts)
    return FeatureConstraints(
        name=feature.name,
        inferred_type=feature.inferred_type,
        completeness=feature.completeness,
        is_non_negative=non_negative,
        domains=domains,
    )

"""Per-feature drift of a window of data from its baseline, as numbers.

``baseline_drift`` is the distance SageMaker compares with ``comparison_threshold``; ``psi``
(population stability index), ``ks`` (Kolmogorov–Smirnov statistic) and ``js`` (Jensen–Shannon
distance) are Kiln's extra metrics, named as such wherever they are published.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.services.monitoring.baselines.statistics import Statistics


@dataclass(frozen=True)
class FeatureDrift:
    """How far one feature's distribution moved from the baseline's."""

    feature_name: str
    baseline_drift: float
    psi: float
    ks: float
    js: float


def drift_metrics(current: Statistics, baseline: Statistics) -> tuple[FeatureDrift, ...]:
    """The drift of each feature present in both ``current`` and ``baseline``."""
    return ()

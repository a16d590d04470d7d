"""Per-feature drift of a window of data from its baseline, as numbers.

``baseline_drift`` is the distance SageMaker compares with ``comparison_threshold``: for numeric
features Deequ's L-infinity distance between the two quantile sketches' CDFs, Robust (corrected
for sample size) or Simple as ``comparison_method`` says; for categorical ones the L-infinity
distance between the value shares, corrected the same way (see ``distances.py``). The extra
metrics, named as Kiln's wherever they are published:

- ``ks`` — the Kolmogorov–Smirnov statistic: the uncorrected L-infinity distance between the two
  CDFs (numeric); for categorical features, the largest gap in one value's share (its analogue
  for unordered values).
- ``psi`` — population stability index on the baseline's ten buckets (numeric: the window's
  sketch items counted into them, values beyond the baseline's range into the end buckets; a
  constant baseline gives two buckets, "equal to it" and "not") or over every value seen on either
  side (categorical); each share floored at 1e-4 so empty buckets stay finite.
- ``js`` — the Jensen–Shannon distance (base 2, in [0, 1]) over the same buckets or values.

A feature is compared when both sides are numeric or both are strings; otherwise the data type
check speaks for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiln.services.monitoring.baselines import distances
from kiln.services.monitoring.baselines.distances import Floats
from kiln.services.monitoring.baselines.monitoring_config import ComparisonMethod
from kiln.services.monitoring.baselines.statistics import (
    FeatureStatistics,
    NumericalStatistics,
    Statistics,
    StringStatistics,
)


@dataclass(frozen=True)
class FeatureDrift:
    """How far one feature's distribution moved from the baseline's."""

    feature_name: str
    baseline_drift: float
    psi: float
    ks: float
    js: float


def drift_metrics(
    current: Statistics,
    baseline: Statistics,
    comparison_method: ComparisonMethod = ComparisonMethod.ROBUST,
) -> tuple[FeatureDrift, ...]:
    """The drift of each feature present, comparably typed, in both ``current`` and ``baseline``."""
    drifts = []
    for feature in current.features:
        base = baseline.feature(feature.name)
        drift = feature_drift(feature, base, comparison_method) if base else None
        if drift is not None:
            drifts.append(drift)
    return tuple(drifts)


def feature_drift(
    current: FeatureStatistics, baseline: FeatureStatistics, method: ComparisonMethod
) -> FeatureDrift | None:
    """One feature's drift, or None when the two sides cannot be compared."""
    if current.numerical is not None and baseline.numerical is not None:
        return _numeric(current.name, current.numerical, baseline.numerical, method)
    if current.string is not None and baseline.string is not None:
        return _categorical(current.name, current.string, baseline.string, method)
    return None


def _numeric(
    name: str, current: NumericalStatistics, baseline: NumericalStatistics, method: ComparisonMethod
) -> FeatureDrift:
    ks = distances.cdf_distance(current.weighted_sketch(), baseline.weighted_sketch())
    expected, actual = _on_baseline_buckets(current, baseline)
    return FeatureDrift(
        name,
        _corrected(ks, current.num_present, baseline.num_present, method),
        distances.psi(expected, actual),
        ks,
        distances.js(expected, actual),
    )


def _on_baseline_buckets(
    current: NumericalStatistics, baseline: NumericalStatistics
) -> tuple[Floats, Floats]:
    """The baseline's bucket counts, and the window's sketch weight in each of those buckets."""
    values, weights = current.weighted_sketch()
    buckets = baseline.buckets
    if not buckets:
        return np.zeros(1), np.zeros(1)
    low, high = buckets[0].lower_bound, buckets[-1].upper_bound
    if len(buckets) == 1 or high <= low:
        expected = np.array([sum(b.count for b in buckets), 0.0])
        same = values == low
        return expected, np.array([weights[same].sum(), weights[~same].sum()])
    edges = np.array([b.lower_bound for b in buckets] + [high])
    expected = np.array([b.count for b in buckets], dtype=np.float64)
    actual, _ = np.histogram(np.clip(values, low, high), bins=edges, weights=weights)
    return expected, actual.astype(np.float64)


def _categorical(
    name: str, current: StringStatistics, baseline: StringStatistics, method: ComparisonMethod
) -> FeatureDrift:
    expected, actual = value_count_vectors(baseline, current)
    ks = distances.share_distance(expected, actual)
    return FeatureDrift(
        name,
        _corrected(ks, current.num_present, baseline.num_present, method),
        distances.psi(expected, actual),
        ks,
        distances.js(expected, actual),
    )


def value_count_vectors(a: StringStatistics, b: StringStatistics) -> tuple[Floats, Floats]:
    """Both sides' counts over every value either side saw, in one order."""
    a_counts, b_counts = dict(a.value_counts), dict(b.value_counts)
    values = sorted(a_counts.keys() | b_counts.keys())
    return (
        np.array([a_counts.get(v, 0) for v in values], dtype=np.float64),
        np.array([b_counts.get(v, 0) for v in values], dtype=np.float64),
    )


def _corrected(linf: float, n: int, m: int, method: ComparisonMethod) -> float:
    return distances.robust(linf, n, m) if method is ComparisonMethod.ROBUST else linf

"""Distances between a baseline's distribution and a window's, from what statistics.json holds.

Numeric distributions are read from the quantile sketches: each sketch item stands for
``2**level`` values (one level, a uniform sample, in Kiln's own files), so the empirical CDF of
the weighted items estimates the feature's CDF. Categorical ones are read from value counts.

- ``linf`` — the largest gap between the two CDFs (numeric; the two-sample Kolmogorov–Smirnov
  statistic) or between two values' shares (categorical): Deequ's L-infinity distance, which
  SageMaker's analyzer is built on.
- ``robust`` — Deequ's correction for small samples, ``max(0, linf - 1.8 * sqrt((n + m) /
  (n m)))`` with ``n``, ``m`` the two data sets' counts (not the sketch sizes): the 1.8 is close
  to the Kolmogorov–Smirnov critical value at α ≈ 0.003, so the distance is what is left above
  sampling noise.
- ``chi_squared_p_value`` — Pearson's chi-squared test that both value counts come from one
  distribution (scipy's ``chi2_contingency`` on the 2 × K table).
- ``psi`` — Σ (c − b) ln(c / b) over shared buckets, each share floored at ``PSI_EPSILON``.
- ``js`` — the Jensen–Shannon distance (square root of the divergence, base 2: in [0, 1]).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

Floats = npt.NDArray[np.float64]

PSI_EPSILON = 1e-4
_ROBUST_FACTOR = 1.8


def cdf_distance(a: tuple[Floats, Floats], b: tuple[Floats, Floats]) -> float:
    """Largest gap between the CDFs of two weighted samples (each sorted by value)."""
    (a_values, a_weights), (b_values, b_weights) = a, b
    if not len(a_values) or not len(b_values):
        return 0.0
    grid = np.union1d(a_values, b_values)
    return float(np.abs(_cdf(a_values, a_weights, grid) - _cdf(b_values, b_weights, grid)).max())


def _cdf(values: Floats, weights: Floats, at: Floats) -> Floats:
    cumulative: Floats = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
    return cumulative[np.searchsorted(values, at, side="right")]


def robust(linf: float, n: int, m: int) -> float:
    """Deequ's small-sample correction of an L-infinity distance between ``n`` and ``m`` items."""
    if n <= 0 or m <= 0:
        return linf
    return max(0.0, linf - _ROBUST_FACTOR * math.sqrt((n + m) / (n * m)))


def shares(counts: Floats) -> Floats:
    """Counts as shares of their total (all zeros stay zeros)."""
    total = counts.sum()
    return counts / total if total > 0 else counts


def share_distance(a: Floats, b: Floats) -> float:
    """Largest gap between two categories' shares."""
    return float(np.abs(shares(a) - shares(b)).max()) if len(a) else 0.0


def chi_squared_p_value(a: Floats, b: Floats) -> float:
    """p-value of the test that counts ``a`` and ``b`` (over the same values) share a law."""
    seen = (a + b) > 0
    if seen.sum() < 2 or a.sum() == 0 or b.sum() == 0:
        return 1.0
    return float(chi2_contingency(np.vstack([a[seen], b[seen]]), correction=False).pvalue)


def psi(expected: Floats, actual: Floats) -> float:
    """Population stability index of ``actual`` shares against ``expected`` ones."""
    e = np.maximum(shares(expected), PSI_EPSILON)
    a = np.maximum(shares(actual), PSI_EPSILON)
    return float(((a - e) * np.log(a / e)).sum())


def js(expected: Floats, actual: Floats) -> float:
    """Jensen–Shannon distance (base 2) between two count vectors over the same buckets."""
    if expected.sum() == 0 or actual.sum() == 0:
        return 0.0
    return float(jensenshannon(shares(expected), shares(actual), base=2))

"""Is one variant better than another? Two-sided tests at α = 0.05; samples 80 % power needs.

Accuracy (classification): **Fisher's exact test** on the 2×2 table of right and wrong answers.
It is exact at every sample size, so small early samples need no large-sample condition
checked (the two-proportion z-test needs about five of each outcome per variant); scipy
computes it in well under a millisecond for tens of thousands of requests.

Error (regression): **Welch's t-test on squared errors**. RMSE is the square root of the mean
squared error, so "lower RMSE" is "lower mean squared error"; Welch's test compares two means
without assuming equal variances, which two models' errors seldom have.

Samples needed: the per-variant size at which the *observed* difference would be found with
80 % power — the normal-approximation formulas (Fleiss for two proportions; two means with
unequal variances). It is a planning figure, only as good as the observed effect is a guess
of the true one; with no observed difference there is nothing to size, and it is None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

ALPHA = 0.05
POWER = 0.80
# The normal quantiles from the standard library: scipy.stats costs ~0.8 s to import, so it is
# imported only when a report is asked for, not at every server start (numpy too: ~16 MB the
# server would otherwise hold from its start).
_Z_ALPHA = NormalDist().inv_cdf(1 - ALPHA / 2)
_Z_POWER = NormalDist().inv_cdf(POWER)

FISHER = "Fisher's exact test"
WELCH = "Welch's t-test on squared errors"


@dataclass(frozen=True)
class Tally:
    """Right answers out of labelled ones."""

    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        """The share of right answers (0 with none)."""
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class Significance:
    """One test between two variants."""

    test: str
    p_value: float
    samples_needed: int | None
    """Per variant, for 80 % power at α = 0.05 at the observed effect; None with no effect."""

    @property
    def is_significant(self) -> bool:
        """Whether p < α."""
        return self.p_value < ALPHA


def compare_accuracy(a: Tally, b: Tally) -> Significance:
    """Fisher's exact test of two variants' accuracy."""
    table = [[a.correct, a.total - a.correct], [b.correct, b.total - b.correct]]
    from scipy import stats

    p_value = float(stats.fisher_exact(table).pvalue)
    return Significance(FISHER, p_value, proportions_sample_size(a.accuracy, b.accuracy))


def compare_squared_errors(a: Sequence[float], b: Sequence[float]) -> Significance:
    """Welch's t-test of two variants' squared errors (needs two or more of each)."""
    import numpy as np

    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    variance_a, variance_b = float(xa.var(ddof=1)), float(xb.var(ddof=1))
    difference = float(xa.mean() - xb.mean())
    if variance_a == variance_b == 0:  # no spread on either side: the means differ or they do not
        p_value = 1.0 if difference == 0 else 0.0
    else:
        from scipy import stats

        p_value = float(stats.ttest_ind(xa, xb, equal_var=False).pvalue)
    return Significance(WELCH, p_value, means_sample_size(difference, variance_a, variance_b))


def proportions_sample_size(p1: float, p2: float) -> int | None:
    """Per-group size for a two-sided test of p1 vs p2 (Fleiss, no continuity correction)."""
    if p1 == p2:
        return None
    mean = (p1 + p2) / 2
    spread = _Z_ALPHA * math.sqrt(2 * mean * (1 - mean))
    spread += _Z_POWER * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(spread**2 / (p1 - p2) ** 2)


def means_sample_size(difference: float, variance_a: float, variance_b: float) -> int | None:
    """Per-group size for a two-sided test of a difference in means (normal approximation)."""
    if difference == 0:
        return None
    return math.ceil((_Z_ALPHA + _Z_POWER) ** 2 * (variance_a + variance_b) / difference**2)

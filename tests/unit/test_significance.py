"""The A/B tests' statistics: Fisher's exact test, Welch's t-test, and samples for 80 % power."""

from __future__ import annotations

import pytest

from kiln.services.monitoring.significance import (
    FISHER,
    WELCH,
    Tally,
    compare_accuracy,
    compare_squared_errors,
    means_sample_size,
    proportions_sample_size,
)


@pytest.mark.parametrize(
    ("a", "b", "is_significant"),
    [
        (Tally(700, 1000), Tally(800, 1000), True),  # 10 points apart on 1000 each
        (Tally(800, 1000), Tally(800, 1000), False),  # the same
        (Tally(16, 20), Tally(19, 20), False),  # 15 points apart, but on 20 each
        (Tally(10, 20), Tally(20, 20), True),  # all right against half right
    ],
)
def test_fisher_finds_planted_accuracy_differences_only(
    a: Tally, b: Tally, is_significant: bool
) -> None:
    result = compare_accuracy(a, b)
    assert result.test == FISHER
    assert result.is_significant is is_significant


@pytest.mark.parametrize(
    ("p1", "p2", "needed"),
    [
        # Fleiss: (1.96·√(2·0.825·0.175) + 0.8416·√(0.8·0.2 + 0.85·0.15))² / 0.05² = 905.3
        (0.80, 0.85, 906),
        # (1.96·√(2·0.55·0.45) + 0.8416·√(0.25 + 0.24))² / 0.1² = 387.3
        (0.50, 0.60, 388),
        (0.70, 0.70, None),  # no effect: nothing to size
    ],
)
def test_samples_for_80_percent_power_follow_fleiss(
    p1: float, p2: float, needed: int | None
) -> None:
    assert proportions_sample_size(p1, p2) == needed


@pytest.mark.parametrize(
    ("difference", "variance_a", "variance_b", "needed"),
    [
        (1.0, 1.0, 1.0, 16),  # (1.96 + 0.8416)² · 2 / 1 = 15.7
        (0.5, 2.0, 2.0, 126),  # 7.849 · 4 / 0.25 = 125.6
        (0.0, 1.0, 1.0, None),
    ],
)
def test_samples_for_a_difference_in_means(
    difference: float, variance_a: float, variance_b: float, needed: int | None
) -> None:
    assert means_sample_size(difference, variance_a, variance_b) == needed


def test_welch_finds_a_planted_difference_in_squared_errors() -> None:
    small = [0.1, 0.2, 0.15, 0.12, 0.18] * 10
    large = [0.9, 1.1, 1.0, 0.95, 1.05] * 10
    result = compare_squared_errors(small, large)
    assert result.test == WELCH
    assert result.is_significant


def test_welch_without_spread_on_equal_errors_is_no_difference() -> None:
    result = compare_squared_errors([0.25] * 30, [0.25] * 30)
    assert result.p_value == 1.0
    assert result.samples_needed is None

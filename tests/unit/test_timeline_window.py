"""A timeline's range and period: defaults, checks, and the texts that name them."""

from __future__ import annotations

import pytest

from kiln.errors import ValidationError
from kiln.services.monitoring.timeline.window import (
    Window,
    default_period,
    parse_duration,
    parse_time,
    window,
)

NOW = 1_700_000_010.0  # 30 s into a minute


@pytest.mark.parametrize(
    ("start", "end", "period", "expected"),
    [
        # Defaults: the last hour, start on its minute, a minute per point (61: the 30 s more).
        (None, None, None, Window(1_699_996_380, NOW, 60)),
        (NOW - 1800, None, None, Window(1_699_998_180, NOW, 60)),
        (NOW - 86400, NOW, None, Window(1_699_913_580, NOW, 1800)),
        (NOW - 600, NOW, 120, Window(1_699_999_380, NOW, 120)),
        (100.0, 700.0, 60, Window(60, 700.0, 60)),
    ],
)
def test_window_fills_defaults_and_starts_on_a_minute(
    start: float | None, end: float | None, period: int | None, expected: Window
) -> None:
    assert window(start, end, period, NOW) == expected


@pytest.mark.parametrize(
    ("start", "end", "period", "quoted"),
    [
        (NOW, NOW - 60, None, "must be before EndTime"),
        (NOW, NOW, None, "must be before EndTime"),
        (NOW - 600, NOW, 90, "multiple of 60 seconds, not 90"),
        (NOW - 600, NOW, 0, "multiple of 60 seconds, not 0"),
        (NOW - 2 * 86400, NOW, 60, "2881 points of 60 s"),  # 2 days of minutes > 1440
    ],
)
def test_impossible_windows_are_refused_quoting_the_values(
    start: float, end: float, period: int | None, quoted: str
) -> None:
    with pytest.raises(ValidationError, match=quoted):
        window(start, end, period, NOW)


@pytest.mark.parametrize(
    ("span", "period"),
    [(60, 60), (3600, 60), (3601, 300), (86400, 1800), (30 * 86400, 43200), (90 * 86400, 172800)],
)
def test_default_period_is_the_shortest_nice_one_within_60_points(span: float, period: int) -> None:
    assert default_period(span) == period


def test_buckets_cover_the_end_with_a_last_partial_period() -> None:
    assert Window(0, 150.0, 60).buckets() == [0, 60, 120]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600), ("1.5h", 5400), ("2d", 172800),
     ("1w", 604800), (" 10M ", 600)],
)  # fmt: skip
def test_durations_read_plain_seconds_and_units(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "5y", "-5m", "0", "1h30m", "five"])
def test_malformed_durations_are_refused_quoting_the_text(text: str) -> None:
    with pytest.raises(ValidationError, match=repr(text).replace("[", r"\[")):
        parse_duration(text, "period")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1700000000", 1_700_000_000.0),
        ("1700000000.5", 1_700_000_000.5),
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20", 1_700_000_000.0),  # no zone: UTC
        ("2023-11-15T00:13:20+02:00", 1_700_000_000.0),
    ],
)
def test_times_read_epoch_seconds_and_iso_8601(text: str, seconds: float) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["yesterday", "nan", "inf", "2023-13-01"])
def test_malformed_times_are_refused_quoting_the_text(text: str) -> None:
    with pytest.raises(ValidationError, match=f"start must be .* not '{text}'"):
        parse_time(text, "start")

"""ISO 8601 window offsets as SageMaker writes them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kiln.services.monitoring.schedules.offsets import parse_offset


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("-PT1H", -timedelta(hours=1)),
        ("-PT5H", -timedelta(hours=5)),
        ("-P1D", -timedelta(days=1)),
        ("-P8D", -timedelta(days=8)),
        ("-PT30M", -timedelta(minutes=30)),
        ("-PT10S", -timedelta(seconds=10)),
        ("-PT0.5S", -timedelta(seconds=0.5)),
        ("-P1DT2H", -timedelta(days=1, hours=2)),
        ("-P1W", -timedelta(weeks=1)),
        ("PT0S", timedelta(0)),
        ("PT1H", timedelta(hours=1)),
        ("+PT1H", timedelta(hours=1)),
        ("-P7H", -timedelta(hours=7)),  # as AWS's model-quality guide writes it
    ],
)
def test_offsets_parse(text: str, offset: timedelta) -> None:
    assert parse_offset(text) == offset


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", ""),
        ("P", ""),
        ("-PT", ""),
        ("1H", ""),
        ("-P1Y", ""),
        ("-PT1X", ""),
        ("-P5M", "months have no fixed length"),
    ],
)
def test_bad_offsets_are_refused_with_the_expected_form(text: str, hint: str) -> None:
    with pytest.raises(ValueError, match="expected an ISO 8601 duration") as raised:
        parse_offset(text)
    assert hint in str(raised.value)
    assert repr(text) in str(raised.value)

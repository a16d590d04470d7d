"""The ISO 8601 durations SageMaker takes as window offsets (``-PT1H``, ``-P1D``, ``-P8D``).

Used by ``EndpointInput.StartTimeOffset``/``EndTimeOffset`` and ``ScheduleConfig``'s
``DataAnalysisStartTime``/``DataAnalysisEndTime``. Weeks, days, hours, minutes and seconds have
fixed lengths; years and months do not, so they are refused. AWS's model-quality guide also
writes ``-P7H`` (hours without the ``T``); that is unambiguous and accepted, but ``-P5M`` (months
in ISO 8601, minutes in that guide) is refused with a message naming both readings.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"(?P<sign>[-+]?)P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?(?:(?P<loose_hours>\d+)H)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def parse_offset(text: str) -> timedelta:
    """``text`` (``-PT1H``) as a signed timedelta; ValueError quotes it and the expected form."""
    found = _DURATION.fullmatch(text.strip())
    if found is None or text.strip().rstrip("T").endswith("P"):
        hint = (
            " (months have no fixed length; write minutes as -PT5M)"
            if re.fullmatch(r"[-+]?P\d+M", text.strip())
            else ""
        )
        raise ValueError(
            f"Invalid time offset {text!r}: expected an ISO 8601 duration of weeks, days, hours, "
            f"minutes or seconds such as -PT1H or -P1D{hint}"
        )
    hours = int(found["hours"] or 0) + int(found["loose_hours"] or 0)
    duration = timedelta(
        weeks=int(found["weeks"] or 0),
        days=int(found["days"] or 0),
        hours=hours,
        minutes=int(found["minutes"] or 0),
        seconds=float(found["seconds"] or 0),
    )
    return -duration if found["sign"] == "-" else duration

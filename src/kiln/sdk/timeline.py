"""An endpoint's traffic per variant and drift per feature over time, ready to plot.

from kiln import endpoint_timeline
timeline = endpoint_timeline("churn", since=6 * 3600)
for variant in timeline.variants:
    print(variant.variant, variant.find("Invocations", "Sum").values())
"""

from __future__ import annotations

import time
import urllib.error
from datetime import datetime
from urllib.parse import quote, urlencode

from kiln.sdk.session import Session, client_error
from kiln.sdk.signing import call_native
from kiln.services.monitoring.timeline.points import Timeline


def endpoint_timeline(
    endpoint: str,
    since: float = 3600,
    *,
    start: datetime | float | None = None,
    end: datetime | float | None = None,
    period: int | None = None,
    session: Session | None = None,
) -> Timeline:
    """``endpoint``'s timeline over the last ``since`` seconds (or ``start``–``end``), one point
    per ``period`` seconds (a multiple of 60; default: at most 60 points)."""
    until = time.time() if end is None else _seconds(end)
    query = {"start": _seconds(start) if start is not None else until - since, "end": until}
    if period is not None:
        query["period"] = period
    path = f"/kiln/v1/endpoints/{quote(endpoint, safe='')}/timeline?{urlencode(query)}"
    try:
        answer = call_native((session or Session()).settings, "GET", path)
    except urllib.error.HTTPError as e:
        raise client_error(e, "GetEndpointTimeline") from None
    return Timeline.from_document(answer)


def _seconds(moment: datetime | float) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)

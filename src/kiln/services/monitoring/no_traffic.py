"""A ``TrafficSource`` that has seen nothing: the A/B report's traffic until the metrics store.

The seam: ``KilnServer`` passes ``NoTraffic()`` to ``AbReports``; the metrics store implements
``TrafficSource`` and replaces it there. With it the report shows no invocations, shares,
latencies or error rates (null), and its quality columns still work from the inference log.
"""

from __future__ import annotations

from kiln.services.monitoring.traffic import VariantTraffic


class NoTraffic:
    """Reports no traffic for any endpoint."""

    def variant_traffic(self, endpoint: str, start: float, end: float) -> list[VariantTraffic]:
        """Nothing: no variant seen."""
        return []

"""The port through which the endpoint controller tells data capture about lifecycle changes.

Data capture itself learns what to write from each sampled ``InvocationRecord`` (its ``capture``
field carries the endpoint's config then); the controller only tells it when an endpoint's
capture may have changed or ended, so that it writes out what it holds.
"""

from __future__ import annotations

from typing import Protocol


class CaptureSink(Protocol):
    """What the controller needs of the capture writer."""

    def flush(self, endpoint: str) -> None:
        """Write out what is buffered for ``endpoint`` (its capture config changed or it ended)."""

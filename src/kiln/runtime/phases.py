"""A replica's start phases as its server reads them: one JSON line per phase on stdout,
``{"kiln_phase": "import", "seconds": 0.41}`` (``services/hosting/replicas.py``)."""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson


def print_phase(name: str, started: float, **extra: Any) -> float:
    """Print phase ``name``'s line, timed from ``started`` (``time.perf_counter``); the time it
    ended, where the next phase starts."""
    now = time.perf_counter()
    line = orjson.dumps({"kiln_phase": name, "seconds": round(now - started, 4), **extra})
    sys.stdout.write(line.decode() + "\n")
    sys.stdout.flush()
    return now

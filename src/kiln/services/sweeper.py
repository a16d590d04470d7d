"""The sweeper: a controller loop that finishes what nothing else will.

Every few seconds (and when woken) it runs its steps in order — end training jobs and endpoint
changes that lost their worker, remove workspaces no job needs — each applying a pure decision
from ``sweeping``. A step that fails (the database is full too) is logged and tried again next
round: the sweeper itself never stops before the server does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)


class Sweeper:
    """Runs ``steps`` (name → call) every ``interval`` seconds until stopped."""

    def __init__(self, steps: Mapping[str, Callable[[], Any]], interval: float = 5.0) -> None:
        self._steps = dict(steps)
        self._interval = interval
        self._wakeup = threading.Event()
        self._should_exit = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop."""
        self._thread = threading.Thread(target=self._loop, name="kiln-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop (before the workers it watches stop, or it would sweep them up)."""
        self._should_exit.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def sweep(self) -> None:
        """Run every step once."""
        for name, step in self._steps.items():
            if self._should_exit.is_set():
                return
            try:
                step()
            except Exception:
                log.exception("sweeper: %s failed; trying again next round", name)

    def _loop(self) -> None:
        while not self._should_exit.is_set():
            self.sweep()
            self._wakeup.wait(self._interval)
            self._wakeup.clear()

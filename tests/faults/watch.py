"""Background samplers a fault runs while it strikes: the server's /ping, a folder's size, a
count of processes. Each is a context manager whose figures are read after it exits."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self


class _Sampler:
    """Calls ``sample`` every ``every`` seconds on a thread until the ``with`` block ends."""

    def __init__(self, every: float) -> None:
        self._every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="faults-watch", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._done.wait(self._every):
                self.sample()
                return

    def sample(self) -> None:
        """Take one sample."""
        raise NotImplementedError


class Pinger(_Sampler):
    """How slowly, and how often not at all, the server answered ``GET /ping``."""

    def __init__(self, ping: Callable[[float], float | None], timeout: float = 5.0) -> None:
        super().__init__(every=0.25)
        self._ping = ping
        self.timeout = timeout
        self.slowest = 0.0
        self.misses = 0
        self.pings = 0

    def sample(self) -> None:
        took = self._ping(self.timeout)
        self.pings += 1
        if took is None:
            self.misses += 1
        else:
            self.slowest = max(self.slowest, took)

    def summary(self) -> str:
        """For the report."""
        return f"{self.pings} pings, slowest {self.slowest:.2f} s, {self.misses} unanswered"


class FolderPeak(_Sampler):
    """The most bytes ever allocated under a folder (missing folders count 0)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(every=0.1)
        self._folder = folder
        self.peak = 0

    def sample(self) -> None:
        self.peak = max(self.peak, allocated_bytes(self._folder))


class CountPeak(_Sampler):
    """The most ``count()`` ever returned."""

    def __init__(self, count: Callable[[], int]) -> None:
        super().__init__(every=0.25)
        self._count = count
        self.peak = 0

    def sample(self) -> None:
        self.peak = max(self.peak, self._count())


def allocated_bytes(folder: Path) -> int:
    """Bytes of disk allocated to the files under ``folder`` (0 if it does not exist)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total

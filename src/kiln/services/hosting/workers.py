"""``KeyedWorkers``: one thread per key, so that each endpoint's changes apply in order.

A wake while the key's thread runs makes it run once more when it is done (wakes coalesce); a
wake when none runs starts one. A thread is registered and started under one lock: a thread that
is registered but not started yet reads as not alive, so two racing wakes (an API call and the
endpoint sync's tick) checking ``is_alive`` outside that lock would start two threads for one
endpoint, and both would start a fleet.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class KeyedWorkers:
    """Runs ``work(key)`` on one thread per key (see the module docstring)."""

    def __init__(self, work: Callable[[str], None], *, name: str) -> None:
        self._work = work
        self._name = name
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._rerun: set[str] = set()
        self._is_stopping = False

    def wake(self, key: str) -> None:
        """Run ``work(key)`` now, or once more after the run under way."""
        with self._lock:
            if self._is_stopping:
                return
            if key in self._threads:
                self._rerun.add(key)
                return
            thread = threading.Thread(
                target=self._run, args=(key,), name=f"{self._name}-{key}", daemon=True
            )
            self._threads[key] = thread
            thread.start()

    def is_woken(self, key: str) -> bool:
        """Whether a wake came while ``key``'s run is under way."""
        with self._lock:
            return key in self._rerun

    def running(self) -> set[str]:
        """The keys whose thread runs now."""
        with self._lock:
            return set(self._threads)

    def stop(self, timeout: float) -> None:
        """Start no more runs; wait up to ``timeout`` seconds for each one under way."""
        with self._lock:
            self._is_stopping = True
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout=timeout)

    def _run(self, key: str) -> None:
        try:
            self._work(key)
            while self._has_rerun(key):
                self._work(key)
        except BaseException:
            with self._lock:  # a run that raised leaves the key free for the next wake
                self._forget(key)
            raise

    def _has_rerun(self, key: str) -> bool:
        """Whether ``key`` runs again; if not, its thread is forgotten under the same lock, so
        that a wake cannot slip in between and be lost."""
        with self._lock:
            if key in self._rerun and not self._is_stopping:
                self._rerun.discard(key)
                return True
            self._forget(key)
            return False

    def _forget(self, key: str) -> None:
        self._threads.pop(key, None)
        self._rerun.discard(key)

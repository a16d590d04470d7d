"""What a dead server left running on a cluster, stopped by a live one.

On Ray a server's job hosts and replicas are detached actors: when their server dies they run
on, holding their nodes' resources, while another server takes their work over. Each lease
renewal notices servers whose leases ran out; stopping what they left may wait on a node that
does not answer, which the lease thread must never do (this server would fence itself), so the
stopping runs on a thread of its own, one round at a time. Rounds go on while a gone server's
lease is remembered, not just once: a server that lost its lease but still runs (its database
away) may have had a start under way, which places its actor after the first round looked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class LeftBehind:
    """Hands ``stop_left_by(gone servers)`` to its own thread whenever ``gone`` names any."""

    def __init__(
        self, gone: Callable[[], frozenset[str]], stop_left_by: Callable[[frozenset[str]], int]
    ) -> None:
        self._gone = gone
        self._stop_left_by = stop_left_by
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiln-left-behind")
        self._round: Future[None] | None = None

    def check(self) -> None:
        """Start a round for the gone servers, unless the last round still runs (a lease
        renewal's hook: it reads the database and returns)."""
        if self._round is not None and not self._round.done():
            return
        gone = self._gone()
        if gone:
            self._round = self._thread.submit(self._stop, gone)

    def stop(self) -> None:
        """Wait for a round under way; start no other."""
        self._thread.shutdown(wait=True, cancel_futures=True)

    def _stop(self, gone: frozenset[str]) -> None:
        try:
            stopped = self._stop_left_by(gone)
        except Exception:  # the next renewal starts another round
            log.exception("stopping what server(s) %s left failed", sorted(gone))
            return
        if stopped:
            log.warning("stopped %d process(es) left by server(s) %s", stopped, sorted(gone))

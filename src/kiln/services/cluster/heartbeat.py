"""``LeaseKeeper``: this server's lease in the database, renewed on a thread.

It registers at start (a server that cannot reach the database does not start), renews every
third of the lease, and retries a failed renewal with backoff, logging each try. At ⅔ of a lease
without a renewal the server fences itself (``on_fenced``: the scheduler interrupts its jobs and
launches nothing); the first renewal after that restores it (``on_restored``: the restart rule
for its own jobs, unless another server took them meanwhile). After each renewal ``on_renewed``
runs (the scheduler takes over the jobs of dead servers). A clean stop removes the lease, so the
other servers take this one's work over at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiln.db.leases import JobClaims, LeaseRows
from kiln.errors import ServiceUnavailableError
from kiln.services.cluster.leases import (
    Standing,
    fence_overlap,
    gone_servers,
    live_servers,
    renew_interval,
    retry_delay,
    standing,
)

log = logging.getLogger(__name__)

_ID_FILE = "server-id"
_FORGET_AFTER_LEASES = 100  # a lease this many leases past its expiry names a long-gone server


def server_id(home: Path) -> str:
    """This home's server id (``KILN_HOME/server-id``, made once): a restarted server is the same
    server, and recovers its own jobs at once."""
    path = home / _ID_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        made = f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:12]}"
        path.write_text(made + "\n")
        return made


class LeaseKeeper:
    """This server's lease: registered, renewed, lost and regained."""

    def __init__(
        self,
        rows: LeaseRows,
        claims: JobClaims,
        server: str,
        lease_seconds: float,
        *,
        stop_grace_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server_id = server
        self._rows = rows
        self._claims = claims
        self._lease = lease_seconds
        self._grace = stop_grace_seconds
        self._clock = clock
        self._last_renewed = 0.0
        self._is_fenced = False
        self._should_exit = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_fenced: list[Callable[[], None]] = []
        self.on_restored: list[Callable[[], None]] = []
        self.on_renewed: list[Callable[[], Any]] = []

    def register(self) -> None:
        """Take this server's lease (ServiceUnavailableError if the database cannot be used)."""
        self._renew()
        log.info("server %s: lease of %g s taken", self.server_id, self._lease)
        overlap = fence_overlap(self._lease, self._grace)
        if overlap > 0:
            log.warning(
                "KILN_STOP_GRACE_SECONDS (%g) exceeds a third of KILN_LEASE_SECONDS (%g): if this "
                "server loses the database, a checkpointed job may run here up to %g s after "
                "another server restarts it",
                self._grace, self._lease, overlap,
            )  # fmt: skip

    def start(self) -> None:
        """Renew on a thread until ``stop``."""
        self._thread = threading.Thread(target=self._loop, name="kiln-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing and give the lease up."""
        self._should_exit.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self._rows.remove(self.server_id)
        except ServiceUnavailableError as e:
            log.warning(
                "server %s: lease not given up (it expires by itself): %s", self.server_id, e
            )

    def is_live(self) -> bool:
        """Whether this server's lease runs: it may claim and launch work."""
        if self._is_fenced:
            return False
        return standing(self._last_renewed, self._clock(), self._lease) is Standing.LIVE

    def live_servers(self) -> frozenset[str]:
        """The servers whose leases run now, read afresh: a server that started since the last
        renewal must not look dead (ServiceUnavailableError if the database is away)."""
        return live_servers(self._rows.leases(), self._clock()) | {self.server_id}

    def gone_servers(self) -> frozenset[str]:
        """The other servers whose leases ran out, as long as they are remembered (their work
        is taken over; ServiceUnavailableError if the database is away)."""
        return gone_servers(self._rows.leases(), self._clock(), self.server_id)

    def claim_job(self, name: str) -> bool:
        """Make this server the job's owner; False if another won or the database is away."""
        try:
            return self._claims.claim(name, self.server_id, self._clock())
        except ServiceUnavailableError as e:
            log.warning("training job %s: not claimed now: %s", name, e)
            return False

    def _renew(self) -> None:
        now = self._clock()
        self._rows.renew(self.server_id, socket.gethostname(), os.getpid(), now, self._lease)
        self._last_renewed = now

    def _loop(self) -> None:
        attempt = 0
        delay = renew_interval(self._lease)
        while not self._should_exit.wait(delay):
            try:
                self._renew()
            except ServiceUnavailableError as e:
                attempt += 1
                delay = retry_delay(attempt, self._lease)
                log.warning(
                    "server %s: lease renewal %d failed, retrying in %.1f s: %s",
                    self.server_id, attempt, delay, e,
                )  # fmt: skip
                self._fence_if_stale()
                continue
            if attempt:
                log.info("server %s: lease renewed after %d failed tries", self.server_id, attempt)
            attempt, delay = 0, renew_interval(self._lease)
            self._after_renewal()

    def _fence_if_stale(self) -> None:
        if self._is_fenced or self.is_live():
            return
        log.error(
            "server %s: lease not renewed for %.1f s: fenced (no new work; its jobs stop and "
            "another server may take its work over)",
            self.server_id, self._clock() - self._last_renewed,
        )  # fmt: skip
        self._is_fenced = True
        _run_all(self.on_fenced)

    def _after_renewal(self) -> None:
        if self._is_fenced:
            log.warning("server %s: lease regained; recovering its own jobs", self.server_id)
            _run_all(self.on_restored)
            self._is_fenced = False
        _run_all(self.on_renewed)
        try:
            self._rows.forget_expired(self._clock() - _FORGET_AFTER_LEASES * self._lease)
        except ServiceUnavailableError:
            pass  # house-keeping only: the next renewal tries again


def _run_all(callbacks: list[Callable[[], Any]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except ServiceUnavailableError as e:
            log.warning("lease callback %s: the database is away: %s", callback, e)
        except Exception:  # one part's failure must not stop the lease
            log.exception("lease callback %s failed", callback)

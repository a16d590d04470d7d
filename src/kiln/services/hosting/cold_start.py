"""Requests to a variant with no replica: hold or refuse them, and ask for one replica.

A variant scaled to zero (``DesiredInstanceCount=0``) holds its requests in a bounded queue
while one replica starts; the data plane signals the demand once and ``ColdStarts`` raises the
variant's count to 1 through ``HostingService.set_instance_count``, the path
``UpdateEndpointWeightsAndCapacities`` and the autoscaler take. A variant that has replicas but
none healthy right now (the only one just crashed, or all still start after a server restart)
holds too, but only briefly (``GAP_SECONDS``): the controller replaces them on its own.

The decisions are pure functions (``hold_verdict``, ``hold_seconds``); the data plane and
``ColdStarts`` carry them out.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from kiln.errors import KilnError
from kiln.services.hosting.shapes import VariantNumbers

log = logging.getLogger(__name__)

GAP_SECONDS = 5.0
"""How long a request waits for a replaced or restarting replica: a replica's cold start on a
quiet machine is 1–2 s, on a busy one about 6; past that a prompt 503 serves a client better."""
_RETRY_SECONDS = 0.05
_RETRY_MAX_SECONDS = 0.4  # an Updating endpoint is read a few times a second, not forty
_AT_ZERO = (
    "Scaled to zero instances (a Kiln extension: SageMaker cannot scale an endpoint's variant "
    "to 0). The next request is held while one instance starts."
)


class HoldVerdict(enum.Enum):
    """What to do with a request that found no healthy replica of its variant.

    REFUSE: answer 503 now (replicas exist and refused the connection; nothing to wait for).
    HOLD: wait in the variant's queue for a replica.
    QUEUE_FULL: answer 503 now: the variant already holds as many requests as it may.
    """

    REFUSE = "refuse"
    HOLD = "hold"
    QUEUE_FULL = "queue_full"


def hold_verdict(has_healthy_replica: bool, held: int, queue_size: int) -> HoldVerdict:
    """Whether a request that found no replica to answer it waits (``held`` already wait)."""
    if has_healthy_replica:
        return HoldVerdict.REFUSE
    if held >= queue_size:
        return HoldVerdict.QUEUE_FULL
    return HoldVerdict.HOLD


def hold_seconds(is_scaled_to_zero: bool, timeout: float) -> float:
    """How long a held request may wait: a start from zero gets the whole cold-start timeout,
    a gap in a running variant (crash, restart) at most ``GAP_SECONDS``."""
    return timeout if is_scaled_to_zero else min(timeout, GAP_SECONDS)


def should_signal_demand(is_scaled_to_zero: bool, is_signalled: bool) -> bool:
    """Whether this held request asks for a replica: once per start from zero."""
    return is_scaled_to_zero and not is_signalled


def scaled_to_zero_status(numbers: VariantNumbers, since: float) -> dict[str, Any]:
    """``DescribeEndpoint``'s ``VariantStatus`` for a variant asked to run no instance; else {}.

    SageMaker cannot scale an endpoint's variant to 0 (only inference components can), so AWS
    has no status for it; ``ActivatingTraffic`` is the nearest: traffic turns the variant on.
    """
    if numbers.desired_count != 0:
        return {}
    if numbers.current_count > 0:
        status, message = "Updating", "Scaling in to zero instances."
    else:
        status, message = "ActivatingTraffic", _AT_ZERO
    return {"VariantStatus": [{"Status": status, "StatusMessage": message, "StartTime": since}]}


def refusal_message(endpoint: str, variant: str, verdict: HoldVerdict, is_scaled_to_zero: bool,
                    queue_size: int, waited: float) -> str:  # fmt: skip
    """The 503's message for a request that is refused or waited in vain."""
    where = f"Variant {variant} of endpoint {endpoint}"
    if verdict is HoldVerdict.QUEUE_FULL and is_scaled_to_zero:
        return (
            f"{where} is scaled to zero and starting an instance; its queue of "
            f"{queue_size} held requests is full. Retry shortly."
        )
    if verdict is HoldVerdict.QUEUE_FULL:
        return f"{where} has no healthy instance right now and {queue_size} requests wait. Retry."
    if is_scaled_to_zero:
        return (
            f"{where} is scaled to zero and its instance did not start within {waited:.0f} s "
            "(KILN_COLD_START_TIMEOUT_SECONDS)."
        )
    return no_replica_message(endpoint, variant)


def no_replica_message(endpoint: str, variant: str) -> str:
    """The 503's message when a variant's replicas could not take a request right now."""
    return f"No replica of variant {variant} of endpoint {endpoint} is available right now."


class InstanceCounts(Protocol):
    """What ``ColdStarts`` needs of the hosting service."""

    def desired_count(self, endpoint: str, variant: str) -> int | None:
        """The variant's desired instance count; None when the endpoint or variant is gone."""

    def set_instance_count(self, endpoint: str, variant: str, count: int) -> None:
        """Ask for ``count`` replicas (``ValidationError`` while the endpoint is not InService)."""


class ColdStarts:
    """Raises a scaled-to-zero variant's count to 1 when the data plane signals demand.

    The endpoint may be ``Updating`` at that moment (``set_instance_count`` refuses then): the
    demand is tried again (after 50 ms, then backing off to 0.4 s) until it is met, moot (the
    count is no longer 0) or older than ``timeout``, when no held request waits for it any more.
    """

    def __init__(self, counts: InstanceCounts, timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._counts = counts
        self._timeout = timeout
        self._clock = clock
        self._pending: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def demand(self, endpoint: str, variant: str) -> None:
        """Start one replica of ``variant`` (from the event loop: returns at once)."""
        key = (endpoint, variant)
        with self._lock:
            if key in self._pending:
                return
            self._pending.add(key)
        threading.Thread(
            target=self._meet, args=key, name=f"kiln-cold-start-{endpoint}", daemon=True
        ).start()

    def _meet(self, endpoint: str, variant: str) -> None:
        deadline = self._clock() + self._timeout
        pause = _RETRY_SECONDS
        try:
            while self._clock() < deadline:
                if self._try(endpoint, variant):
                    return
                time.sleep(pause)
                pause = min(2 * pause, _RETRY_MAX_SECONDS)
            log.warning("endpoint %s variant %s: no start from zero in time", endpoint, variant)
        finally:
            with self._lock:
                self._pending.discard((endpoint, variant))

    def _try(self, endpoint: str, variant: str) -> bool:
        """One attempt; whether the demand is settled (met or moot)."""
        try:
            if self._counts.desired_count(endpoint, variant) != 0:
                return True
            self._counts.set_instance_count(endpoint, variant, 1)
        except KilnError as e:  # Updating (ValidationError), a database away (503): try again
            log.debug("endpoint %s variant %s: start from zero waits: %s", endpoint, variant, e)
            return False
        log.info("endpoint %s variant %s: starting from zero for held requests", endpoint, variant)
        return True

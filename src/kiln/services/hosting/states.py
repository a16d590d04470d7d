"""Endpoint status and its allowed transitions (CONTRACTS.md §3.4).

``EndpointStatus``:
    Creating   replicas of every variant are starting; not yet routed
    InService  every replica loaded its model and answered /ping; traffic flows
    Updating   a new config or new weights/capacities are being applied; the old keep serving
    Deleting   replicas are being stopped; the endpoint disappears when they are gone
    Failed     replicas could not start; FailureReason says why (delete it and try again)
"""

from __future__ import annotations

from enum import StrEnum


class EndpointStatus(StrEnum):
    """SageMaker's ``EndpointStatus`` values that Kiln uses."""

    CREATING = "Creating"
    IN_SERVICE = "InService"
    UPDATING = "Updating"
    DELETING = "Deleting"
    FAILED = "Failed"


_ALLOWED: dict[EndpointStatus, frozenset[EndpointStatus]] = {
    EndpointStatus.CREATING: frozenset(
        {EndpointStatus.IN_SERVICE, EndpointStatus.FAILED, EndpointStatus.DELETING}
    ),
    EndpointStatus.IN_SERVICE: frozenset({EndpointStatus.UPDATING, EndpointStatus.DELETING}),
    # A failed update rolls back to InService; the sweeper fails one no worker carries on.
    EndpointStatus.UPDATING: frozenset(
        {EndpointStatus.IN_SERVICE, EndpointStatus.FAILED, EndpointStatus.DELETING}
    ),
    EndpointStatus.DELETING: frozenset(),
    EndpointStatus.FAILED: frozenset({EndpointStatus.DELETING}),
}


class IllegalTransition(Exception):
    """A status change the lifecycle does not allow."""


def can_transition(current: EndpointStatus, to: EndpointStatus) -> bool:
    """Whether ``current`` may become ``to`` (staying put is always allowed)."""
    return current == to or to in _ALLOWED[current]


def transition(current: EndpointStatus, to: EndpointStatus) -> EndpointStatus:
    """``to``, if ``current`` may move there; else raises :class:`IllegalTransition`."""
    if not can_transition(current, to):
        raise IllegalTransition(f"an endpoint cannot go from {current} to {to}")
    return to

"""Endpoint status transitions, as a table: from → to → allowed."""

from __future__ import annotations

import pytest

from kiln.services.hosting.states import (
    EndpointStatus,
    IllegalTransition,
    can_transition,
    transition,
)

S = EndpointStatus


@pytest.mark.parametrize(
    ("current", "to", "allowed"),
    [
        (S.CREATING, S.IN_SERVICE, True),
        (S.CREATING, S.FAILED, True),
        (S.CREATING, S.DELETING, True),
        (S.CREATING, S.UPDATING, False),
        (S.IN_SERVICE, S.UPDATING, True),
        (S.IN_SERVICE, S.DELETING, True),
        (S.IN_SERVICE, S.IN_SERVICE, True),
        (S.IN_SERVICE, S.CREATING, False),
        (S.IN_SERVICE, S.FAILED, False),
        (S.UPDATING, S.IN_SERVICE, True),
        (S.UPDATING, S.FAILED, True),
        (S.UPDATING, S.DELETING, True),
        (S.DELETING, S.DELETING, True),
        (S.DELETING, S.IN_SERVICE, False),
        (S.DELETING, S.FAILED, False),
        (S.FAILED, S.DELETING, True),
        (S.FAILED, S.IN_SERVICE, False),
        (S.FAILED, S.UPDATING, False),
    ],
)
def test_transition_table(current: EndpointStatus, to: EndpointStatus, allowed: bool) -> None:
    assert can_transition(current, to) is allowed


def test_transition_returns_the_new_status_when_allowed() -> None:
    assert transition(S.CREATING, S.IN_SERVICE) is S.IN_SERVICE


def test_transition_refuses_an_illegal_move() -> None:
    with pytest.raises(IllegalTransition, match="Deleting to InService"):
        transition(S.DELETING, S.IN_SERVICE)


def test_statuses_are_sagemakers_strings() -> None:
    assert [s.value for s in S] == ["Creating", "InService", "Updating", "Deleting", "Failed"]

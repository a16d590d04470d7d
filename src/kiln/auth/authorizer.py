"""Who is calling and whether they may: the current caller, and IAM-style authorisation.

The auth gate (``api/gate.py``) sets ``CALLER`` for each request it lets in; code below it reads
the caller from there (STS ``GetCallerIdentity``) or asks ``Authorizer`` whether it may act.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kiln.auth.actions import iam_prefix, operation_resources, passed_roles
from kiln.auth.errors import MISSING_TOKEN, AuthError, Refusal
from kiln.auth.policies import Decision, Policy, evaluate_all
from kiln.auth.principals import Principal

CALLER: ContextVar[Principal | None] = ContextVar("kiln_caller", default=None)


@dataclass(frozen=True)
class Action:
    """What a request asks: an IAM action on resources."""

    name: str
    resources: Sequence[str]


class Authorizer:
    """Decides whether the current caller may perform an action."""

    def __init__(self, region: str) -> None:
        self._region = region

    def check(self, principal: Principal, action: Action) -> None:
        """``AccessDenied`` in AWS's words unless the principal's policies allow ``action``."""
        decision = _decide(principal.policies, action.name, tuple(action.resources))
        if decision is Decision.ALLOW:
            return
        resource = action.resources[0] if action.resources else "*"
        why = (
            "with an explicit deny in an identity-based policy"
            if decision is Decision.EXPLICIT_DENY
            else f"because no identity-based policy allows the {action.name} action"
        )
        raise AuthError(
            Refusal.DENIED,
            f"User: {principal.arn} is not authorized to perform: {action.name} "
            f"on resource: {resource} {why}",
        )

    def operation(self, service: str, operation: str, params: Any) -> None:
        """Authorise an AWS API operation for the caller the gate let in."""
        principal = CALLER.get()
        if principal is None:  # pragma: no cover - the gate sets it for every request
            raise AuthError(Refusal.MISSING, MISSING_TOKEN)
        resources = operation_resources(service, params, self._region)
        self.check(principal, Action(f"{iam_prefix(service)}:{operation}", resources))
        if isinstance(params, Mapping):
            for role in passed_roles(params):
                self.check(principal, Action("iam:PassRole", [role]))


@lru_cache(maxsize=8192)
def _decide(policies: tuple[Policy, ...], action: str, resources: tuple[str, ...]) -> Decision:
    """``evaluate_all``, remembered: the same caller asks the same thing on every invocation."""
    return evaluate_all(policies, action, resources)

"""IAM-style policies: documents, the built-in ones, and the one decision (allow or deny).

A policy is IAM's JSON (``{"Version": …, "Statement": [{"Effect", "Action", "Resource"}]}``),
with ``NotAction``/``NotResource`` as IAM has them; ``Condition`` is refused, not ignored,
because ignoring it would grant more than its author meant. Actions match case-insensitively,
resources case-sensitively, both with IAM's ``*`` and ``?`` wildcards. An explicit ``Deny``
wins over any ``Allow``; with no matching ``Allow`` the answer is deny.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from kiln.errors import KilnError


class PolicyError(KilnError):
    """A policy document Kiln cannot read."""


class Decision(Enum):
    """The outcome of evaluating policies for one action on one resource."""

    ALLOW = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


@dataclass(frozen=True)
class Statement:
    """One statement: an effect on actions and resources (or on all but those)."""

    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_actions: bool = False
    not_resources: bool = False

    def matches(self, action: str, resource: str) -> bool:
        """Whether this statement speaks about ``action`` on ``resource``."""
        action_hit = any(_pattern(p, True).fullmatch(action) for p in self.actions)
        resource_hit = any(_pattern(p, False).fullmatch(resource) for p in self.resources)
        return action_hit != self.not_actions and resource_hit != self.not_resources


@dataclass(frozen=True)
class Policy:
    """A parsed policy document."""

    statements: tuple[Statement, ...]
    document: str

    @classmethod
    def parse(cls, document: str | dict[str, Any]) -> Policy:
        """Read an IAM policy document (JSON text or its parsed form)."""
        try:
            raw = json.loads(document) if isinstance(document, str) else document
        except ValueError as e:
            raise PolicyError(f"The policy is not valid JSON: {e}") from None
        if not isinstance(raw, dict):
            raise PolicyError("A policy is a JSON object with a Statement list")
        items = raw.get("Statement")
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list) or not items:
            raise PolicyError("A policy needs a non-empty Statement")
        statements = tuple(_statement(item) for item in items)
        return cls(statements, json.dumps(raw, sort_keys=True))


def evaluate(policies: Iterable[Policy], action: str, resource: str) -> Decision:
    """IAM's evaluation for one principal: explicit deny, else any allow, else implicit deny."""
    allowed = False
    for policy in policies:
        for statement in policy.statements:
            if not statement.matches(action, resource):
                continue
            if statement.effect == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def evaluate_all(policies: Sequence[Policy], action: str, resources: Sequence[str]) -> Decision:
    """The decision for an action that touches several resources: every one must be allowed."""
    worst = Decision.ALLOW
    for resource in resources or ("*",):
        decision = evaluate(policies, action, resource)
        if decision is Decision.EXPLICIT_DENY:
            return decision
        if decision is Decision.IMPLICIT_DENY:
            worst = decision
    return worst


def _statement(item: Any) -> Statement:
    if not isinstance(item, dict):
        raise PolicyError("Each Statement is a JSON object")
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"Effect must be Allow or Deny, not {effect!r}")
    if "Condition" in item:
        raise PolicyError("Kiln does not evaluate Condition blocks; remove it or split the policy")
    if "Principal" in item or "NotPrincipal" in item:
        raise PolicyError("Identity policies name no Principal; attach the policy to one instead")
    actions, not_actions = _one_of(item, "Action", "NotAction")
    resources, not_resources = _one_of(item, "Resource", "NotResource")
    return Statement(effect, actions, resources, not_actions, not_resources)


def _one_of(item: dict[str, Any], name: str, negated: str) -> tuple[tuple[str, ...], bool]:
    if (name in item) == (negated in item):
        raise PolicyError(f"A statement has exactly one of {name} and {negated}")
    key = name if name in item else negated
    value = item[key]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise PolicyError(f"{key} is a string or a non-empty list of strings")
    return tuple(values), key == negated


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _document(*statements: dict[str, Any]) -> Policy:
    return Policy.parse({"Version": "2012-10-17", "Statement": list(statements)})


_READS = [
    "sagemaker:Describe*",
    "sagemaker:List*",
    "sagemaker:Search",
    "logs:Describe*",
    "logs:Get*",
    "logs:Filter*",
    "cloudwatch:Get*",
    "cloudwatch:List*",
    "application-autoscaling:Describe*",
    "s3:Get*",
    "s3:List*",
    "sts:GetCallerIdentity",
    "iam:GetRole",
    "iam:SimulatePrincipalPolicy",
]

ADMIN = _document({"Effect": "Allow", "Action": "*", "Resource": "*"})
ML_ENGINEER = _document(
    {
        "Effect": "Allow",
        "Action": ["sagemaker:*", "logs:*", "s3:*", "sts:*", "iam:GetRole", "iam:PassRole",
                   "iam:SimulatePrincipalPolicy", "cloudwatch:*", "application-autoscaling:*"],
        "Resource": "*",
    }
)  # fmt: skip
VIEWER = _document({"Effect": "Allow", "Action": _READS, "Resource": "*"})
JOB_DEFAULT = _document(
    {"Effect": "Allow", "Action": ["s3:*", "sts:GetCallerIdentity"], "Resource": "*"}
)


def invoker(endpoint_arns: Sequence[str]) -> Policy:
    """May invoke the named endpoints (ARNs, wildcards allowed) and nothing else."""
    return _document(
        {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint*", "Resource": list(endpoint_arns)},
        {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
    )


BUILT_IN = {"admin": ADMIN, "ml-engineer": ML_ENGINEER, "viewer": VIEWER}


def named_policy(spec: str, endpoint_arn: Callable[[str], str]) -> Policy:
    """A policy from ``kiln keys``' words: a built-in name, ``invoker:<ep>[,<ep>…]``, or JSON."""
    if spec in BUILT_IN:
        return BUILT_IN[spec]
    if spec.startswith("invoker:"):
        names = [name for name in spec[len("invoker:") :].split(",") if name]
        if not names:
            raise PolicyError("invoker: names at least one endpoint (invoker:my-endpoint)")
        return invoker([endpoint_arn(name) for name in names])
    if spec.lstrip().startswith("{"):
        return Policy.parse(spec)
    known = ", ".join([*BUILT_IN, "invoker:<endpoint>[,…]"])
    raise PolicyError(f"Unknown policy {spec!r}: use one of {known}, or a JSON policy document")

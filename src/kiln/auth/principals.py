"""Who is calling: a user or a session of a role, with the policies that decide what it may do."""

from __future__ import annotations

from dataclasses import dataclass

from kiln.auth.policies import Policy
from kiln.config import ACCOUNT_ID

ADMIN_USER = "admin"
DEFAULT_ROLE = "kiln"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    kind: str  # "user" or "role"
    policies: tuple[Policy, ...]
    session: str | None = None

    @property
    def arn(self) -> str:
        """The caller's ARN as STS ``GetCallerIdentity`` and ``AccessDenied`` messages name it."""
        if self.kind == "role":
            return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{self.name}/{self.session or self.name}"
        if self.name == ADMIN_USER:
            # The local owner answers as a session of the default role, as code in a SageMaker
            # notebook does: SDK v3 derives its default execution role from this ARN.
            return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{DEFAULT_ROLE}/kiln"
        return f"arn:aws:iam::{ACCOUNT_ID}:user/{self.name}"


def role_name(role_arn: str) -> str:
    """The role's name in ``arn:aws:iam::<account>:role/<path/>name``."""
    return role_arn.rsplit("/", 1)[-1] if ":role/" in role_arn else role_arn

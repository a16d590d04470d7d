"""Who the caller is, for code that asks STS or IAM (CONTRACTS.md §5.4).

Kiln has one account (``ACCOUNT_ID``). ``GetCallerIdentity`` names the caller the auth gate let
in: a user, a job's role session, or, for the owner's key, a session of the role ``kiln``, as code
in a SageMaker notebook runs (the SDKs derive the default execution role from that ARN: v3's
``ModelBuilder`` and ``ModelTrainer`` without ``role``). ``GetRole`` describes any role name
(a RoleArn Kiln has no policy for runs with the default role's). ``SimulatePrincipalPolicy``
evaluates the caller's own policies (the sagemaker SDK v3 asks before each job).
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from kiln.auth.authorizer import CALLER
from kiln.auth.policies import evaluate
from kiln.auth.principals import Principal
from kiln.config import ACCOUNT_ID, Settings

# SageMaker may assume any role Kiln describes.
_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _caller() -> Principal:
    caller = CALLER.get()
    assert caller is not None, "the auth gate sets the caller of every request"
    return caller


def _user_id(arn: str) -> str:
    """A stable IAM-style user id (``AIDA`` + 17 characters)."""
    return "AIDA" + hashlib.sha1(arn.encode()).hexdigest()[:17].upper()


def _role_id(name: str) -> str:
    """A stable IAM-style role id (``AROA`` + 17 characters) for ``name``."""
    return "AROA" + hashlib.sha1(name.encode()).hexdigest()[:17].upper()


class IdentityService:
    """STS ``GetCallerIdentity`` and IAM ``GetRole`` / ``SimulatePrincipalPolicy``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._started = time.time()

    def get_caller_identity(self, _request: Mapping[str, Any]) -> dict[str, Any]:
        """The caller, as the auth gate identified it."""
        arn = _caller().arn
        role = arn.split("/")[1] if ":assumed-role/" in arn else None
        user_id = f"{_role_id(role)}:{arn.rsplit('/', 1)[-1]}" if role else _user_id(arn)
        return {"UserId": user_id, "Account": ACCOUNT_ID, "Arn": arn}

    def get_role(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Any role, trusted by SageMaker."""
        name = request["RoleName"]
        return {
            "Role": {
                "Path": "/",
                "RoleName": name,
                "RoleId": _role_id(name),
                "Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}",
                "CreateDate": self._started,
                "AssumeRolePolicyDocument": urllib.parse.quote(json.dumps(_TRUST_POLICY)),
            }
        }

    def simulate_principal_policy(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Each action on each resource, as the caller's policies decide."""
        resources = request.get("ResourceArns") or ["*"]
        policies = _caller().policies
        return {
            "EvaluationResults": [
                {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": evaluate(policies, action, resource).value,
                }
                for action in request["ActionNames"]
                for resource in resources
            ],
            "IsTruncated": False,
        }

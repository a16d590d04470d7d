"""Who the caller is, for code that asks STS or IAM (CONTRACTS.md §5.4).

Kiln has one account (``ACCOUNT_ID``) and, until IAM-style policies land, every role exists and
allows everything: ``GetRole`` describes any role name, ``SimulatePrincipalPolicy`` allows every
action (the sagemaker SDK v3 asks before each job). ``GetCallerIdentity`` answers as a session of
the role ``kiln``, as code in a SageMaker notebook runs: the SDKs derive the default execution
role from that ARN (v3's ``ModelBuilder`` and ``ModelTrainer`` without ``role``).
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

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


DEFAULT_ROLE_NAME = "kiln"


def _role_id(name: str) -> str:
    """A stable IAM-style role id (``AROA`` + 17 characters) for ``name``."""
    return "AROA" + hashlib.sha1(name.encode()).hexdigest()[:17].upper()


class IdentityService:
    """STS ``GetCallerIdentity`` and IAM ``GetRole`` / ``SimulatePrincipalPolicy``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._started = time.time()

    def get_caller_identity(self, _request: Mapping[str, Any]) -> dict[str, Any]:
        """The caller: a session of the role ``kiln`` in Kiln's account."""
        return {
            "UserId": f"{_role_id(DEFAULT_ROLE_NAME)}:{self._settings.credentials.access_key_id}",
            "Account": ACCOUNT_ID,
            "Arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{DEFAULT_ROLE_NAME}/kiln",
        }

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
        """Every action allowed."""
        resources = request.get("ResourceArns") or ["*"]
        return {
            "EvaluationResults": [
                {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": "allowed",
                }
                for action in request["ActionNames"]
                for resource in resources
            ],
            "IsTruncated": False,
        }

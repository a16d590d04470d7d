"""Who the caller is, for code that asks STS or IAM (CONTRACTS.md §5.4).

Kiln has one account (``ACCOUNT_ID``) and, until IAM-style policies land, every role exists and
allows everything: ``GetRole`` describes any role name, ``SimulatePrincipalPolicy`` allows every
action (the sagemaker SDK v3 asks before each job). ``GetCallerIdentity`` names the caller by its
access key.
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


class IdentityService:
    """STS ``GetCallerIdentity`` and IAM ``GetRole`` / ``SimulatePrincipalPolicy``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._started = time.time()

    def get_caller_identity(self, _request: Mapping[str, Any]) -> dict[str, Any]:
        """The caller: Kiln's account and its user."""
        return {
            "UserId": self._settings.credentials.access_key_id,
            "Account": ACCOUNT_ID,
            "Arn": f"arn:aws:iam::{ACCOUNT_ID}:user/kiln",
        }

    def get_role(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Any role, trusted by SageMaker."""
        name = request["RoleName"]
        return {
            "Role": {
                "Path": "/",
                "RoleName": name,
                "RoleId": "AROA" + hashlib.sha1(name.encode()).hexdigest()[:17].upper(),
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

"""What a request asks to do, in IAM's terms: an action (``sagemaker:CreateModel``) on resources.

AWS APIs are named by botocore's model; their resources come from the request's top-level
``…Name`` members, as SageMaker's ARNs spell them (``TrainingJobName`` → ``training-job/<name>``),
so operations later issues add are covered without a table to keep up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kiln.config import ACCOUNT_ID
from kiln.shapes.aws import service_model

# IAM prefixes that differ from botocore's signing name.
_IAM_PREFIX = {"monitoring": "cloudwatch"}
_NOT_RESOURCES = {"VariantName", "TargetVariant", "InferenceComponentName", "RoleName"}


def iam_prefix(service: str) -> str:
    """The IAM action prefix of a botocore service (``sagemaker``, ``logs``, ``cloudwatch``)."""
    signing = str(service_model(service).metadata.get("signingName", service))
    return _IAM_PREFIX.get(signing, signing)


def operation_resources(service: str, params: Mapping[str, Any], region: str) -> list[str]:
    """The ARNs an operation's request names (``*`` where it names none)."""
    found: list[str] = []
    if service == "sagemaker":
        for member, value in params.items():
            if member.endswith("Name") and member not in _NOT_RESOURCES and isinstance(value, str):
                found.append(sagemaker_arn(region, _kebab(member[: -len("Name")]), value))
        arn = params.get("ResourceArn")
        if isinstance(arn, str):
            found.append(arn)
    elif service == "logs":
        group = params.get("logGroupName") or params.get("logGroupIdentifier")
        if isinstance(group, str):
            found.append(group if group.startswith("arn:") else log_group_arn(region, group))
    elif service == "iam" and isinstance(params.get("RoleName"), str):
        found.append(f"arn:aws:iam::{ACCOUNT_ID}:role/{params['RoleName']}")
    return found or ["*"]


def passed_roles(params: Mapping[str, Any]) -> list[str]:
    """The roles a request hands to SageMaker (``RoleArn``, ``ExecutionRoleArn``): each needs
    ``iam:PassRole``, as on AWS, or anyone who may create a job could run code as any role."""
    return [
        value
        for member in ("RoleArn", "ExecutionRoleArn")
        if isinstance(value := params.get(member), str)
    ]


def sagemaker_arn(region: str, kind: str, name: str) -> str:
    """A SageMaker resource's ARN (names are lower-cased in SageMaker's ARNs)."""
    return f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:{kind}/{name.lower()}"


def alarm_arn(region: str, name: str) -> str:
    """A CloudWatch alarm's ARN."""
    return f"arn:aws:cloudwatch:{region}:{ACCOUNT_ID}:alarm:{name}"


def log_group_arn(region: str, group: str) -> str:
    """A CloudWatch Logs group's ARN."""
    return f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{group}"


def _kebab(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", camel).lower()

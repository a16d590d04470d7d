"""Application Auto Scaling's API (botocore's ``application-autoscaling``) over JSON 1.1.

``X-Amz-Target: AnyScaleFrontendService.<Op>``, SigV4 service ``application-autoscaling``; the
operations are ``AutoScalingService``'s (``services/autoscaling/service.py`` lists them).

Errors: ``ObjectNotFoundException`` (no such target or policy), ``ConcurrentUpdateException``
(two writes raced), ``InvalidNextTokenException``; everything else ``ValidationException``.
"""

from __future__ import annotations

from kiln.api.json_protocol import ErrorCodes, JsonApi
from kiln.errors import ConflictError
from kiln.services.autoscaling.errors import InvalidNextToken, ObjectNotFound
from kiln.services.autoscaling.service import AutoScalingService

ERROR_CODES: ErrorCodes = [
    (ObjectNotFound, "ObjectNotFoundException"),
    (ConflictError, "ConcurrentUpdateException"),
    (InvalidNextToken, "InvalidNextTokenException"),
]


def autoscaling_api(service: AutoScalingService, *, check_responses: bool = False) -> JsonApi:
    """Application Auto Scaling's operations on SageMaker variants."""
    return JsonApi(
        "application-autoscaling",
        {
            "RegisterScalableTarget": service.register_scalable_target,
            "DeregisterScalableTarget": service.deregister_scalable_target,
            "DescribeScalableTargets": service.describe_scalable_targets,
            "PutScalingPolicy": service.put_scaling_policy,
            "DeleteScalingPolicy": service.delete_scaling_policy,
            "DescribeScalingPolicies": service.describe_scaling_policies,
            "DescribeScalingActivities": service.describe_scaling_activities,
        },
        ERROR_CODES,
        check_responses=check_responses,
    )

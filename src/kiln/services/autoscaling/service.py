"""Application Auto Scaling for SageMaker variants (botocore's ``application-autoscaling``).

    RegisterScalableTarget    create, or update min/max/SuspendedState of an existing target
    DeregisterScalableTarget  remove a target and its policies
    DescribeScalableTargets   filter by ResourceIds; MaxResults/NextToken paging
    PutScalingPolicy          TargetTrackingScaling or StepScaling; create or replace
    DeleteScalingPolicy       remove one policy
    DescribeScalingPolicies   filter by ResourceId and PolicyNames; paging
    DescribeScalingActivities newest first; filter by ResourceId; paging

Requests are already checked against botocore's model; here the rest is checked before anything
is written, so a refused request leaves nothing behind. The scaler (``scaler.py``) reads the
targets and policies through ``targets`` and ``policies`` and records what it does through
``begin_activity`` and ``end_activity``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from kiln.auth.actions import alarm_arn
from kiln.config import ACCOUNT_ID
from kiln.db.autoscaling import ActivityRow, PolicyRow, ScalingRows, TargetRow
from kiln.errors import ValidationError
from kiln.services.autoscaling.configs import ScalingPolicy, step_config, tracking_config
from kiln.services.autoscaling.errors import InvalidNextToken, ObjectNotFound
from kiln.services.autoscaling.targets import (
    DIMENSION,
    NAMESPACE,
    ScalableTarget,
    Suspended,
    VariantRef,
    check_capacities,
    check_scope,
)
from kiln.services.listing import page, page_offset

TARGET_TRACKING = "TargetTrackingScaling"
STEP_SCALING = "StepScaling"
DEFAULT_PAGE = 50
_SUSPENDED = {
    "DynamicScalingInSuspended": "scale_in",
    "DynamicScalingOutSuspended": "scale_out",
    "ScheduledScalingSuspended": "scheduled",
}
_SCOPE = {"ServiceNamespace": NAMESPACE, "ScalableDimension": DIMENSION}

T = TypeVar("T")
VariantExists = Callable[[VariantRef], bool]


class AutoScalingService:
    """Scalable targets, scaling policies and scaling activities, stored in the database."""

    def __init__(
        self,
        rows: ScalingRows,
        variant_exists: VariantExists,
        region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rows = rows
        self._variant_exists = variant_exists
        self._region = region
        self._clock = clock

    # -- targets ---------------------------------------------------------------------------

    def register_scalable_target(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Register a variant for scaling, or change an existing registration."""
        ref = _ref(request)
        found = self._rows.targets([ref.resource_id])
        existing = found[0] if found else None
        if existing is None:
            if "MinCapacity" not in request or "MaxCapacity" not in request:
                raise ValidationError(
                    "MinCapacity and MaxCapacity are required to register a new scalable target"
                )
            if not self._variant_exists(ref):
                raise ValidationError(
                    f"The endpoint variant {ref.resource_id} does not exist: no endpoint "
                    f"{ref.endpoint!r} with a production variant {ref.variant!r}"
                )
        low = int(request.get("MinCapacity", existing.min_capacity if existing else 0))
        high = int(request.get("MaxCapacity", existing.max_capacity if existing else 0))
        check_capacities(low, high)
        suspended = dict(existing.suspended) if existing else {}
        for member, value in request.get("SuspendedState", {}).items():
            suspended[member] = bool(value)
        row = TargetRow(
            resource_id=ref.resource_id,
            arn=existing.arn if existing else self._target_arn(),
            min_capacity=low,
            max_capacity=high,
            role_arn=request.get("RoleARN") or (existing.role_arn if existing else _service_role()),
            suspended=suspended,
            creation_time=existing.creation_time if existing else self._clock(),
        )
        self._rows.put_target(row)
        return {"ScalableTargetARN": row.arn}

    def deregister_scalable_target(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Remove a target and its policies."""
        ref = _ref(request)
        if not self._rows.delete_target(ref.resource_id):
            raise ObjectNotFound(_no_target(ref))
        return {}

    def describe_scalable_targets(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of targets, by resource id."""
        check_scope(request["ServiceNamespace"], request.get("ScalableDimension"))
        ids = request.get("ResourceIds") or None
        rows = self._rows.targets(ids)
        page, token = _page(rows, request)
        return _with_token({"ScalableTargets": [_target_shape(r) for r in page]}, token)

    def targets(self) -> list[ScalableTarget]:
        """Every registered target, typed."""
        return [_typed_target(row) for row in self._rows.targets()]

    # -- policies --------------------------------------------------------------------------

    def put_scaling_policy(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace a target tracking or step scaling policy on a registered target."""
        ref = _ref(request)
        name = request["PolicyName"]
        kind = request.get("PolicyType", STEP_SCALING)
        configuration = _configuration(kind, request)
        if not self._rows.targets([ref.resource_id]):
            raise ObjectNotFound(_no_target(ref))
        if not self._variant_exists(ref):
            raise ValidationError(
                f"Cannot put policy {name!r}: endpoint {ref.endpoint!r} has no production "
                f"variant {ref.variant!r}"
            )
        found = self._rows.policies(ref.resource_id, [name])
        existing = found[0] if found else None
        same_kind = existing is not None and existing.policy_type == kind
        alarms = existing.alarms if existing and same_kind else self._alarms(kind, ref)
        row = PolicyRow(
            resource_id=ref.resource_id,
            name=name,
            arn=existing.arn if existing else self._policy_arn(ref, name),
            policy_type=kind,
            configuration=configuration,
            alarms=alarms,
            creation_time=existing.creation_time if existing else self._clock(),
        )
        if not self._rows.put_policy(row):
            raise ObjectNotFound(_no_target(ref))  # deregistered while we checked
        answer: dict[str, Any] = {"PolicyARN": row.arn}
        if kind == TARGET_TRACKING:
            answer["Alarms"] = [{"AlarmName": n, "AlarmARN": a} for n, a in alarms]
        return answer

    def delete_scaling_policy(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Remove one policy."""
        ref = _ref(request)
        name = request["PolicyName"]
        if not self._rows.delete_policy(ref.resource_id, name):
            raise ObjectNotFound(
                f"No scaling policy found for service namespace: {NAMESPACE}, resource ID: "
                f"{ref.resource_id}, scalable dimension: {DIMENSION}: {name}"
            )
        return {}

    def describe_scaling_policies(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of policies."""
        check_scope(request["ServiceNamespace"], request.get("ScalableDimension"))
        resource_id = request.get("ResourceId")
        if resource_id is not None:
            VariantRef.parse(resource_id)
        rows = self._rows.policies(resource_id, request.get("PolicyNames") or None)
        page, token = _page(rows, request)
        return _with_token({"ScalingPolicies": [_policy_shape(r) for r in page]}, token)

    def policies_by_target(self) -> dict[str, list[ScalingPolicy]]:
        """Every policy, typed, by its target's ``ResourceId``: one read for a scaler's tick."""
        found: dict[str, list[ScalingPolicy]] = {}
        for row in self._rows.policies():
            found.setdefault(row.resource_id, []).append(_typed_policy(row))
        return found

    # -- activities ------------------------------------------------------------------------

    def describe_scaling_activities(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of scaling activities, newest first."""
        check_scope(request["ServiceNamespace"], request.get("ScalableDimension"))
        resource_id = request.get("ResourceId")
        if resource_id is not None:
            VariantRef.parse(resource_id)
        offset, size = _offset(request), int(request.get("MaxResults", DEFAULT_PAGE))
        rows = self._rows.activities(resource_id, offset=offset, limit=size + 1)
        token = str(offset + size) if len(rows) > size else None
        shapes = [_activity_shape(r) for r in rows[:size]]
        return _with_token({"ScalingActivities": shapes}, token)

    def begin_activity(self, ref: VariantRef, desired: int, cause: str) -> str:
        """Record that the scaler set ``desired`` instances (InProgress); the activity's id."""
        activity_id = str(uuid.uuid4())
        description = f"Setting desired instance count to {desired}."
        self._rows.add_activity(
            ActivityRow(activity_id, ref.resource_id, description, cause, "InProgress", None,
                        self._clock(), None, desired)
        )  # fmt: skip
        return activity_id

    def end_activity(self, activity_id: str, desired: int, failure: str | None = None) -> None:
        """Mark an activity Successful, or Failed with ``failure``'s reason."""
        if failure is None:
            status = "Successful"
            message = (
                f"Successfully set desired instance count to {desired}. "
                "Change successfully fulfilled by sagemaker."
            )
        else:
            status = "Failed"
            message = f"Failed to set desired instance count to {desired}. Reason: {failure}"
        self._rows.finish_activity(activity_id, status, message, self._clock())

    def open_activities(self) -> list[ActivityRow]:
        """Activities still InProgress (the scaler ends each once its count is reached)."""
        return self._rows.activities(None, offset=0, limit=1000, status="InProgress")

    # -- helpers ---------------------------------------------------------------------------

    def _target_arn(self) -> str:
        return (
            f"arn:aws:application-autoscaling:{self._region}:{ACCOUNT_ID}:scalable-target/"
            f"056{uuid.uuid4().hex}"
        )

    def _policy_arn(self, ref: VariantRef, name: str) -> str:
        return (
            f"arn:aws:autoscaling:{self._region}:{ACCOUNT_ID}:scalingPolicy:{uuid.uuid4()}:"
            f"resource/{NAMESPACE}/{ref.resource_id}:policyName/{name}"
        )

    def _alarms(self, kind: str, ref: VariantRef) -> tuple[tuple[str, str], ...]:
        """Target tracking's two alarms, named as AWS names them (Kiln evaluates the metric
        itself: no CloudWatch alarm of that name exists)."""
        if kind != TARGET_TRACKING:
            return ()
        names = [f"TargetTracking-{ref.resource_id}-Alarm{side}-{uuid.uuid4()}"
                 for side in ("High", "Low")]  # fmt: skip
        return tuple((n, alarm_arn(self._region, n)) for n in names)


def _ref(request: Mapping[str, Any]) -> VariantRef:
    check_scope(request["ServiceNamespace"], request["ScalableDimension"])
    return VariantRef.parse(request["ResourceId"])


def _no_target(ref: VariantRef) -> str:
    return (
        f"No scalable target registered for service namespace: {NAMESPACE}, resource ID: "
        f"{ref.resource_id}, scalable dimension: {DIMENSION}"
    )


def _configuration(kind: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """The policy's configuration member, checked; ``ValidationError`` for what Kiln can't run."""
    tracking = request.get("TargetTrackingScalingPolicyConfiguration")
    stepping = request.get("StepScalingPolicyConfiguration")
    if kind == TARGET_TRACKING:
        if tracking is None or stepping is not None:
            raise ValidationError(
                "A TargetTrackingScaling policy needs TargetTrackingScalingPolicyConfiguration "
                "and no StepScalingPolicyConfiguration"
            )
        tracking_config(tracking)
        return dict(tracking)
    if kind == STEP_SCALING:
        if stepping is None or tracking is not None:
            raise ValidationError(
                "A StepScaling policy needs StepScalingPolicyConfiguration and no "
                "TargetTrackingScalingPolicyConfiguration"
            )
        step_config(stepping)
        return dict(stepping)
    raise ValidationError(
        f"Unsupported PolicyType {kind!r}: Kiln runs {TARGET_TRACKING} and {STEP_SCALING}"
    )


def _invalid_token() -> Exception:
    return InvalidNextToken("Invalid NextToken: not one this server handed out")


def _offset(request: Mapping[str, Any]) -> int:
    offset = page_offset(request.get("NextToken"))
    if offset is None:
        raise _invalid_token()
    return offset


def _page(items: Sequence[T], request: Mapping[str, Any]) -> tuple[Sequence[T], str | None]:
    if _offset(request) > len(items):
        raise InvalidNextToken(f"Invalid NextToken {request.get('NextToken')!r}")
    size = int(request.get("MaxResults", DEFAULT_PAGE))
    return page(items, request.get("NextToken"), size, _invalid_token)


def _with_token(answer: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        answer["NextToken"] = token
    return answer


def _service_role() -> str:
    return (
        f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/sagemaker.application-autoscaling"
        ".amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
    )


def _typed_target(row: TargetRow) -> ScalableTarget:
    flags = {field: bool(row.suspended.get(member)) for member, field in _SUSPENDED.items()}
    return ScalableTarget(
        VariantRef.parse(row.resource_id), row.min_capacity, row.max_capacity, row.role_arn,
        Suspended(**flags), row.arn, row.creation_time,
    )  # fmt: skip


def _typed_policy(row: PolicyRow) -> ScalingPolicy:
    is_tracking = row.policy_type == TARGET_TRACKING
    return ScalingPolicy(
        resource_id=row.resource_id,
        name=row.name,
        arn=row.arn,
        tracking=tracking_config(row.configuration) if is_tracking else None,
        stepping=None if is_tracking else step_config(row.configuration),
        alarms=tuple(name for name, _ in row.alarms),
    )


def _target_shape(row: TargetRow) -> dict[str, Any]:
    return {
        **_SCOPE,
        "ResourceId": row.resource_id,
        "MinCapacity": row.min_capacity,
        "MaxCapacity": row.max_capacity,
        "RoleARN": row.role_arn,
        "CreationTime": row.creation_time,
        "SuspendedState": {member: bool(row.suspended.get(member)) for member in _SUSPENDED},
        "ScalableTargetARN": row.arn,
    }


def _policy_shape(row: PolicyRow) -> dict[str, Any]:
    member = (
        "TargetTrackingScalingPolicyConfiguration"
        if row.policy_type == TARGET_TRACKING
        else "StepScalingPolicyConfiguration"
    )
    return {
        **_SCOPE,
        "PolicyARN": row.arn,
        "PolicyName": row.name,
        "ResourceId": row.resource_id,
        "PolicyType": row.policy_type,
        member: dict(row.configuration),
        "Alarms": [{"AlarmName": n, "AlarmARN": a} for n, a in row.alarms],
        "CreationTime": row.creation_time,
    }


def _activity_shape(row: ActivityRow) -> dict[str, Any]:
    shape: dict[str, Any] = {
        **_SCOPE,
        "ActivityId": row.activity_id,
        "ResourceId": row.resource_id,
        "Description": row.description,
        "Cause": row.cause,
        "StartTime": row.start_time,
        "StatusCode": row.status_code,
    }
    if row.end_time is not None:
        shape["EndTime"] = row.end_time
    if row.status_message is not None:
        shape["StatusMessage"] = row.status_message
    return shape

"""The hosting domain's typed state: deployments, variants and what an endpoint records.

Stored as today in the ``state`` JSON column of the endpoint's ``ResourceRecord``, with AWS's
names; ``EndpointState.from_dict``/``to_dict`` convert at that edge only, and rows written before
these types (no shadows, no capture) still load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kiln.services.hosting.capture_config import DataCapture, parse_data_capture


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """One production or shadow variant as deployed: its config entry and its model's container."""

    name: str
    instance_type: str
    initial_count: int
    initial_weight: float
    container: Mapping[str, Any]
    role_arn: str | None
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """The variant as the endpoint config gave it (AWS's names), kept for the round trip."""

    @property
    def startup_timeout(self) -> float | None:
        """``ContainerStartupHealthCheckTimeoutInSeconds``, if the config set it."""
        value = self.fields.get("ContainerStartupHealthCheckTimeoutInSeconds")
        return None if value is None else float(value)

    @property
    def volume_size_gb(self) -> int | None:
        """``VolumeSizeInGB``, if the config set it."""
        value = self.fields.get("VolumeSizeInGB")
        return None if value is None else int(value)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VariantSpec:
        """A variant from its stored form (the config's entry plus Container, ExecutionRoleArn)."""
        fields = {k: v for k, v in data.items() if k not in ("Container", "ExecutionRoleArn")}
        return cls(
            name=data["VariantName"],
            instance_type=data.get("InstanceType", ""),
            initial_count=int(data.get("InitialInstanceCount", 1)),
            initial_weight=float(data.get("InitialVariantWeight", 1.0)),
            container=dict(data.get("Container", {})),
            role_arn=data.get("ExecutionRoleArn"),
            fields=fields,
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {**self.fields, "Container": dict(self.container), "ExecutionRoleArn": self.role_arn}


@dataclass(frozen=True, slots=True)
class Deployment:
    """A snapshot of an endpoint config with each variant's container: what an endpoint runs."""

    config_name: str
    variants: tuple[VariantSpec, ...]
    shadows: tuple[VariantSpec, ...] = ()
    capture: DataCapture | None = None

    def all_variants(self) -> tuple[VariantSpec, ...]:
        """Production variants, then shadows."""
        return self.variants + self.shadows

    def variant(self, name: str) -> VariantSpec | None:
        """The production or shadow variant called ``name``."""
        return next((v for v in self.all_variants() if v.name == name), None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Deployment:
        """A deployment from its stored form."""
        return cls(
            config_name=data["EndpointConfigName"],
            variants=tuple(VariantSpec.from_dict(v) for v in data.get("Variants", [])),
            shadows=tuple(VariantSpec.from_dict(v) for v in data.get("ShadowVariants", [])),
            capture=parse_data_capture(data.get("DataCaptureConfig")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        answer: dict[str, Any] = {
            "EndpointConfigName": self.config_name,
            "Variants": [v.to_dict() for v in self.variants],
        }
        if self.shadows:
            answer["ShadowVariants"] = [v.to_dict() for v in self.shadows]
        if self.capture is not None:
            answer["DataCaptureConfig"] = self.capture.to_dict()
        return answer


@dataclass(frozen=True, slots=True)
class VariantNumbers:
    """A variant's weights and instance counts, as ``DescribeEndpoint`` shows them."""

    desired_weight: float
    current_weight: float
    desired_count: int
    current_count: int

    @classmethod
    def initial(cls, variant: VariantSpec) -> VariantNumbers:
        """What a config asks for before any replica runs."""
        weight = variant.initial_weight
        return cls(weight, weight, variant.initial_count, 0)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VariantNumbers:
        """Numbers from their stored form."""
        return cls(
            float(data.get("DesiredWeight", 1.0)),
            float(data.get("CurrentWeight", 1.0)),
            int(data.get("DesiredInstanceCount", 1)),
            int(data.get("CurrentInstanceCount", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored (and described) form."""
        return {
            "DesiredWeight": self.desired_weight,
            "CurrentWeight": self.current_weight,
            "DesiredInstanceCount": self.desired_count,
            "CurrentInstanceCount": self.current_count,
        }


@dataclass(frozen=True, slots=True)
class DesiredWeightAndCapacity:
    """One entry of ``UpdateEndpointWeightsAndCapacities``."""

    variant: str
    weight: float | None
    count: int | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DesiredWeightAndCapacity:
        """An entry from its request (and stored) form."""
        weight, count = data.get("DesiredWeight"), data.get("DesiredInstanceCount")
        return cls(
            data["VariantName"],
            None if weight is None else float(weight),
            None if count is None else int(count),
        )

    def to_dict(self) -> dict[str, Any]:
        """The request (and stored) form."""
        answer: dict[str, Any] = {"VariantName": self.variant}
        if self.weight is not None:
            answer["DesiredWeight"] = self.weight
        if self.count is not None:
            answer["DesiredInstanceCount"] = self.count
        return answer


@dataclass(frozen=True, slots=True)
class ReplicaSummary:
    """One running replica as the endpoint records it (``kiln endpoints describe`` shows it)."""

    variant: str
    replica_id: str
    phases: Mapping[str, float]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplicaSummary:
        """A summary from its stored form."""
        return cls(data["VariantName"], data["ReplicaId"], dict(data.get("Phases", {})))

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "VariantName": self.variant,
            "ReplicaId": self.replica_id,
            "Phases": dict(self.phases),
        }


@dataclass(frozen=True, slots=True)
class EndpointState:
    """Everything an endpoint records besides its name, ARN, status and times."""

    deployment: Deployment
    variants: Mapping[str, VariantNumbers]
    """Production variants and shadows, in the deployment's order."""
    replicas: tuple[ReplicaSummary, ...] = ()
    pending: Deployment | None = None
    """``UpdateEndpoint``'s new deployment, until applied."""
    desired: tuple[DesiredWeightAndCapacity, ...] | None = None
    """``UpdateEndpointWeightsAndCapacities``'s request, until applied."""
    failure_reason: str | None = None
    deployment_config: Mapping[str, Any] | None = None
    """``UpdateEndpoint``'s ``DeploymentConfig`` for ``pending`` (AWS's names), until applied."""
    last_deployment_config: Mapping[str, Any] | None = None
    """The ``DeploymentConfig`` of the last update that had one (``LastDeploymentConfig``)."""
    stage: Mapping[str, Any] | None = None
    """The rollout's current stage as ``VariantStatus`` shows it (Status, StatusMessage,
    StartTime) plus ``TrafficShare`` (0–1 of the traffic on the new fleet)."""

    def settled(self) -> EndpointState:
        """This state once its pending change is applied or rolled back."""
        last = self.deployment_config or self.last_deployment_config
        return replace(
            self,
            pending=None,
            desired=None,
            deployment_config=None,
            last_deployment_config=last,
            stage=None,
        )

    @classmethod
    def initial(cls, deployment: Deployment) -> EndpointState:
        """A new endpoint's state: nothing started yet."""
        return cls(deployment, initial_numbers(deployment))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EndpointState:
        """The state from its stored form."""
        pending, desired = data.get("PendingDeployment"), data.get("DesiredWeightsAndCapacities")
        return cls(
            deployment=Deployment.from_dict(data["Deployment"]),
            variants={k: VariantNumbers.from_dict(v) for k, v in data.get("Variants", {}).items()},
            replicas=tuple(ReplicaSummary.from_dict(r) for r in data.get("Replicas", [])),
            pending=Deployment.from_dict(pending) if pending else None,
            desired=tuple(DesiredWeightAndCapacity.from_dict(d) for d in desired)
            if desired
            else None,
            failure_reason=data.get("FailureReason") or None,
            deployment_config=data.get("PendingDeploymentConfig") or None,
            last_deployment_config=data.get("LastDeploymentConfig") or None,
            stage=data.get("PendingStage") or None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored form."""
        answer: dict[str, Any] = {
            "Deployment": self.deployment.to_dict(),
            "Variants": {k: v.to_dict() for k, v in self.variants.items()},
            "Replicas": [r.to_dict() for r in self.replicas],
        }
        if self.pending is not None:
            answer["PendingDeployment"] = self.pending.to_dict()
        if self.desired is not None:
            answer["DesiredWeightsAndCapacities"] = [d.to_dict() for d in self.desired]
        if self.failure_reason:
            answer["FailureReason"] = self.failure_reason
        if self.deployment_config:
            answer["PendingDeploymentConfig"] = dict(self.deployment_config)
        if self.last_deployment_config:
            answer["LastDeploymentConfig"] = dict(self.last_deployment_config)
        if self.stage:
            answer["PendingStage"] = dict(self.stage)
        return answer


def initial_numbers(deployment: Deployment) -> dict[str, VariantNumbers]:
    """Per-variant weights and counts as a deployment asks for them (shadows included)."""
    return {v.name: VariantNumbers.initial(v) for v in deployment.all_variants()}

"""The hosting service: models, endpoint configs and endpoints (CONTRACTS.md §3.3, §3.4).

Calls validate, write desired state and wake the endpoint controller, which starts and stops
replicas. Missing resources answer ``ValidationException`` "Could not find …", as the SDKs expect.
Endpoint state is typed (:mod:`kiln.services.hosting.shapes`); statuses and their transitions are
in :mod:`kiln.services.hosting.states`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from kiln.config import Settings
from kiln.db import DuplicateNameError, ResourceRecord, ResourceStore
from kiln.errors import NotFoundError, ResourceLimitError, UnsupportedError, ValidationError
from kiln.runtime.batch_settings import BatchSettingsError, batch_settings
from kiln.services.capacity import machine_capacity, machine_name, quota_exceeded, shortfall
from kiln.services.hosting.capture_config import parse_data_capture
from kiln.services.hosting.cold_start import scaled_to_zero_status
from kiln.services.hosting.model_code import code_location
from kiln.services.hosting.retained import retained
from kiln.services.hosting.rollout_plan import check_policy, parse_policy
from kiln.services.hosting.shapes import (
    Deployment,
    DesiredWeightAndCapacity,
    EndpointState,
    VariantSpec,
)
from kiln.services.hosting.states import EndpointStatus, transition
from kiln.services.images import KILN_PYTHON, resolve_image
from kiln.services.listing import list_query
from kiln.services.tags import check_tags, merged_tags
from kiln.shapes.aws import output_shape, project, with_defaults
from kiln.storage import S3Uri


class Controller(Protocol):
    """What the service needs of the endpoint controller."""

    def wake(self, endpoint: str) -> None:
        """Drive ``endpoint`` toward its desired state."""


class HostingStores:
    """The three stores hosting works on."""

    def __init__(self, models: ResourceStore, configs: ResourceStore, endpoints: ResourceStore):
        self.models = models
        self.configs = configs
        self.endpoints = endpoints


class HostingService:
    """SageMaker's model, endpoint-config and endpoint operations."""

    def __init__(
        self,
        settings: Settings,
        stores: HostingStores,
        controller: Controller,
        capture_problem: Callable[[str], str | None] = lambda endpoint: None,
        *,
        alarm_names: Callable[[], set[str]],
    ) -> None:
        self._settings = settings
        self._stores = stores
        self._controller = controller
        self._capture_problem = capture_problem
        self._alarm_names = alarm_names

    # -- models --------------------------------------------------------------------------------

    def create_model(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Register a model: an image, its artifact and its environment."""
        name = request["ModelName"]
        container = model_container(request)
        resolve_image(container.get("Image"))
        if container.get("ModelDataUrl"):
            S3Uri.parse(container["ModelDataUrl"])
        environment = container.get("Environment", {})
        code_location(environment)
        try:
            batch_settings(environment)
        except BatchSettingsError as e:
            raise ValidationError(f"The model's container Environment: {e}") from e
        arn = self._settings.arn("model", name)
        self._add(self._stores.models, name, arn, "Created", request, "model")
        return {"ModelArn": arn}

    def describe_model(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The model as ``DescribeModel`` answers it."""
        record = self._model(request["ModelName"])
        answer = {**record.spec, "ModelArn": record.arn, "CreationTime": record.creation_time}
        shaped = project(answer, output_shape("sagemaker", "DescribeModel"))
        return with_defaults(shaped, {"EnableNetworkIsolation": False})

    def list_models(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of model summaries."""
        return self._list(
            self._stores.models,
            request,
            "Models",
            lambda r: {"ModelName": r.name, "ModelArn": r.arn, "CreationTime": r.creation_time},
        )

    def delete_model(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Delete a model (endpoints already running keep their replicas)."""
        name = request["ModelName"]
        if not self._stores.models.remove(name):
            raise NotFoundError(f'Could not find model "{self._settings.arn("model", name)}".')
        return {}

    # -- endpoint configs ----------------------------------------------------------------------

    def create_endpoint_config(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Register production variants: model, instance type and count, weight."""
        name = request["EndpointConfigName"]
        variants = request["ProductionVariants"]
        shadows = request.get("ShadowProductionVariants") or []
        names = [v["VariantName"] for v in [*variants, *shadows]]
        if len(set(names)) != len(names):
            raise ValidationError(
                "ProductionVariants and ShadowProductionVariants: variant names must be unique: "
                f"{names}"
            )
        if shadows and (len(variants) != 1 or len(shadows) != 1):
            raise ValidationError(
                "With ShadowProductionVariants, specify exactly one variant in "
                "ProductionVariants and one in ShadowProductionVariants"
            )
        for variant in [*variants, *shadows]:
            self._check_variant(variant)
        parse_data_capture(request.get("DataCaptureConfig"))
        for key in ("AsyncInferenceConfig", "ExplainerConfig"):
            if request.get(key):
                raise UnsupportedError(f"{key} is not supported by Kiln yet")
        arn = self._settings.arn("endpoint-config", name)
        self._add(self._stores.configs, name, arn, "Created", request, "endpoint configuration")
        return {"EndpointConfigArn": arn}

    def describe_endpoint_config(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The config as ``DescribeEndpointConfig`` answers it."""
        record = self._config(request["EndpointConfigName"])
        answer = {
            **record.spec,
            "EndpointConfigArn": record.arn,
            "CreationTime": record.creation_time,
        }
        shaped = project(answer, output_shape("sagemaker", "DescribeEndpointConfig"))
        defaults: dict[str, Any] = {"ProductionVariants": [{"InitialVariantWeight": 1.0}]}
        if shaped.get("ShadowProductionVariants"):
            defaults["ShadowProductionVariants"] = [{"InitialVariantWeight": 1.0}]
        return with_defaults(shaped, defaults)

    def list_endpoint_configs(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of config summaries."""
        return self._list(
            self._stores.configs,
            request,
            "EndpointConfigs",
            lambda r: {
                "EndpointConfigName": r.name,
                "EndpointConfigArn": r.arn,
                "CreationTime": r.creation_time,
            },
        )

    def delete_endpoint_config(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Delete a config; endpoints created from it keep running (as on AWS)."""
        name = request["EndpointConfigName"]
        if not self._stores.configs.remove(name):
            raise NotFoundError(
                "Could not find endpoint configuration "
                f'"{self._settings.arn("endpoint-config", name)}".'
            )
        return {}

    # -- endpoints -----------------------------------------------------------------------------

    def create_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Create an endpoint from a config; replicas start in the background."""
        name = request["EndpointName"]
        config = self._config(request["EndpointConfigName"])
        arn = self._settings.arn("endpoint", name)
        state = EndpointState.initial(self._deployment(config)).to_dict()
        self._add(
            self._stores.endpoints, name, arn, EndpointStatus.CREATING, request, "endpoint", state
        )
        self._controller.wake(name)
        return {"EndpointArn": arn}

    def describe_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The endpoint as ``DescribeEndpoint`` answers it."""
        name = request["EndpointName"]
        return describe_endpoint(self._endpoint(name), self._capture_problem(name))

    def list_endpoints(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of endpoint summaries."""
        return self._list(
            self._stores.endpoints,
            request,
            "Endpoints",
            lambda r: {
                "EndpointName": r.name,
                "EndpointArn": r.arn,
                "CreationTime": r.creation_time,
                "LastModifiedTime": r.last_modified_time,
                "EndpointStatus": r.status,
            },
        )

    def delete_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Stop an endpoint's replicas and remove it (its config and models stay)."""
        name = request["EndpointName"]
        self._endpoint(name)
        self._stores.endpoints.modify(name, lambda r: _set_status(r, EndpointStatus.DELETING))
        self._controller.wake(name)
        return {}

    def update_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Switch an endpoint to another config, blue/green, with no failed request; with a
        ``DeploymentConfig``, in canary or linear stages that roll back on alarms."""
        name = request["EndpointName"]
        record = self._endpoint(name)
        config = self._config(request["EndpointConfigName"])
        _require_in_service(record, "update")
        current = endpoint_state(record)
        deployment = self._deployment(config)
        if request.get("RetainAllVariantProperties"):
            excludes = request.get("ExcludeRetainedVariantProperties", [])
            excluded = {p["VariantPropertyType"] for p in excludes}
            deployment = retained(deployment, current, excluded)
        deployment_config = request.get("DeploymentConfig")
        if not deployment_config and request.get("RetainDeploymentConfig"):
            deployment_config = current.last_deployment_config
        self._check_deployment_config(deployment_config, deployment)

        def update(r: ResourceRecord) -> None:
            _require_in_service(r, "update")  # again under the row's lock: a racing change wins
            state = replace(
                endpoint_state(r),
                pending=deployment,
                failure_reason=None,
                deployment_config=dict(deployment_config) if deployment_config else None,
                stage=None,
            )
            r.state = state.to_dict()
            _set_status(r, EndpointStatus.UPDATING)

        self._stores.endpoints.modify(name, update)
        self._controller.wake(name)
        return {"EndpointArn": record.arn}

    def _check_deployment_config(
        self, config: Mapping[str, Any] | None, deployment: Deployment
    ) -> None:
        policy = parse_policy(config)
        if policy is None:
            return
        counts = [v.initial_count for v in deployment.variants]
        check_policy(policy, min(counts, default=1))
        missing = sorted(set(policy.alarms) - self._alarm_names())
        if missing:
            raise ValidationError(
                f"AutoRollbackConfiguration: the CloudWatch alarm(s) {missing} do not exist."
            )

    def update_endpoint_weights_and_capacities(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Change variant weights and instance counts in place."""
        name = request["EndpointName"]
        record = self._endpoint(name)
        _require_in_service(record, "update")
        state = endpoint_state(record)
        changes = tuple(
            DesiredWeightAndCapacity.from_dict(d) for d in request["DesiredWeightsAndCapacities"]
        )
        for desired in changes:
            deployed = state.deployment.variant(desired.variant)
            if desired.variant not in state.variants or deployed is None:
                raise ValidationError(
                    f"The variant name(s) [{desired.variant}] is/are not present in "
                    f"endpoint {name!r}."
                )
            over = quota_exceeded(deployed.instance_type, "endpoint usage", desired.count or 0)
            if over is not None:
                raise ResourceLimitError(f"Variant {desired.variant!r}: {over}")

        self._desire(name, changes)
        return {"EndpointArn": record.arn}

    def set_instance_count(self, endpoint: str, variant: str, count: int) -> None:
        """Ask for ``count`` replicas of ``variant`` (the autoscaler's and scale-from-zero's
        way in): the same path as ``UpdateEndpointWeightsAndCapacities``, with its checks.

        ``ValidationError`` when the endpoint is not ``InService`` (an update is under way):
        the caller tries again on its next tick.
        """
        self.update_endpoint_weights_and_capacities(
            {
                "EndpointName": endpoint,
                "DesiredWeightsAndCapacities": [
                    {"VariantName": variant, "DesiredInstanceCount": count}
                ],
            }
        )

    def desired_count(self, endpoint: str, variant: str) -> int | None:
        """The instance count ``variant`` is asked to run; None when it or its endpoint is gone."""
        record = self._stores.endpoints.get(endpoint)
        if record is None:
            return None
        state = endpoint_state(record)
        for change in state.desired or ():
            if change.variant == variant and change.count is not None:
                return change.count  # asked for, not yet applied
        numbers = state.variants.get(variant)
        return None if numbers is None else numbers.desired_count

    def _desire(self, name: str, changes: tuple[DesiredWeightAndCapacity, ...]) -> None:
        def update(r: ResourceRecord) -> None:
            # Checked again under the row's lock: a change that raced this one wins.
            _require_in_service(r, "update")
            r.state = replace(endpoint_state(r), desired=changes, failure_reason=None).to_dict()
            _set_status(r, EndpointStatus.UPDATING)

        self._stores.endpoints.modify(name, update)
        self._controller.wake(name)

    # -- helpers -------------------------------------------------------------------------------

    def _check_variant(self, variant: Mapping[str, Any]) -> None:
        self._model(variant.get("ModelName", ""))  # first, as AWS checks
        if variant.get("ServerlessConfig"):
            raise UnsupportedError("ServerlessConfig is not supported by Kiln yet")
        instance_type = variant.get("InstanceType", "")
        size = self._settings.instance_types.get(instance_type)
        if size is None:
            raise ValidationError(
                f"Variant {variant['VariantName']!r}: {instance_type!r} is not a SageMaker "
                "hosting instance type"
            )
        count = int(variant.get("InitialInstanceCount", 1))
        over = quota_exceeded(instance_type, "endpoint usage", count)
        if over is not None:
            raise ResourceLimitError(f"Variant {variant['VariantName']!r}: {over}")
        capacity, machine = machine_capacity(self._settings), machine_name(self._settings)
        note = shortfall(instance_type, size, 1, capacity, machine)
        if note is not None and self._settings.strict_capacity:
            raise ResourceLimitError(
                f"Variant {variant['VariantName']!r}: {note.asks}; {note.has} "
                "(KILN_STRICT_CAPACITY=1 refuses what does not fit instead of running it on "
                "what there is)"
            )

    def _deployment(self, config: ResourceRecord) -> Deployment:
        """A snapshot of the config with each variant's container: the endpoint runs on it even
        if the config or the models are deleted later, as on AWS."""
        return Deployment(
            config_name=config.name,
            variants=tuple(self._variant(v) for v in config.spec["ProductionVariants"]),
            shadows=tuple(
                self._variant(v) for v in config.spec.get("ShadowProductionVariants") or []
            ),
            capture=parse_data_capture(config.spec.get("DataCaptureConfig")),
        )

    def _variant(self, variant: Mapping[str, Any]) -> VariantSpec:
        model = self._model(variant["ModelName"])
        return VariantSpec.from_dict(
            {
                **variant,
                "Container": model_container(model.spec),
                "ExecutionRoleArn": model.spec.get("ExecutionRoleArn"),
            }
        )

    def _add(
        self,
        store: ResourceStore,
        name: str,
        arn: str,
        status: str,
        request: Mapping[str, Any],
        kind: str,
        state: dict[str, Any] | None = None,
    ) -> None:
        check_tags(request.get("Tags", []))
        spec = {**request, "Tags": merged_tags([], request.get("Tags", []))}
        now = time.time()
        record = ResourceRecord(name, arn, status, now, now, spec, state or {})
        try:
            store.add(record)
        except DuplicateNameError:
            raise ValidationError(f'Cannot create already existing {kind} "{arn}".') from None

    def _list(
        self,
        store: ResourceStore,
        request: Mapping[str, Any],
        key: str,
        summary: Any,
    ) -> dict[str, Any]:
        records, token = store.page(list_query(request, default_descending=True))
        answer: dict[str, Any] = {key: [summary(r) for r in records]}
        if token:
            answer["NextToken"] = token
        return answer

    def _model(self, name: str) -> ResourceRecord:
        record = self._stores.models.get(name)
        if record is None:
            raise NotFoundError(f'Could not find model "{self._settings.arn("model", name)}".')
        return record

    def _config(self, name: str) -> ResourceRecord:
        record = self._stores.configs.get(name)
        if record is None:
            arn = self._settings.arn("endpoint-config", name)
            raise NotFoundError(f'Could not find endpoint configuration "{arn}".')
        return record

    def _endpoint(self, name: str) -> ResourceRecord:
        record = self._stores.endpoints.get(name)
        if record is None:
            arn = self._settings.arn("endpoint", name)
            raise NotFoundError(f'Could not find endpoint "{arn}".')
        return record


def model_container(request: Mapping[str, Any]) -> dict[str, Any]:
    """The model's one container (``PrimaryContainer`` or a single entry of ``Containers``)."""
    containers = request.get("Containers") or []
    if request.get("PrimaryContainer"):
        return dict(request["PrimaryContainer"])
    if len(containers) == 1:
        return dict(containers[0])
    if not containers:
        raise ValidationError("CreateModel needs PrimaryContainer or Containers")
    raise UnsupportedError("Inference pipelines (several Containers) are not supported yet")


def endpoint_state(record: ResourceRecord) -> EndpointState:
    """The typed state of an endpoint record."""
    return EndpointState.from_dict(record.state)


def describe_endpoint(record: ResourceRecord, capture_problem: str | None = None) -> dict[str, Any]:
    """The ``DescribeEndpoint`` answer for a record (and why its captured data is not written)."""
    state = endpoint_state(record)
    deployment = state.deployment

    def summaries(variants: tuple[VariantSpec, ...]) -> list[dict[str, Any]]:
        return [
            {
                "VariantName": v.name,
                **state.variants[v.name].to_dict(),
                "DeployedImages": _deployed_images(v, record.creation_time),
                **scaled_to_zero_status(state.variants[v.name], record.last_modified_time),
            }
            for v in variants
            if v.name in state.variants
        ]

    answer: dict[str, Any] = {
        "EndpointName": record.name,
        "EndpointArn": record.arn,
        "EndpointConfigName": deployment.config_name,
        "ProductionVariants": summaries(deployment.variants),
        "EndpointStatus": record.status,
        "CreationTime": record.creation_time,
        "LastModifiedTime": record.last_modified_time,
    }
    if deployment.shadows:
        answer["ShadowProductionVariants"] = summaries(deployment.shadows)
    if deployment.capture is not None:
        answer["DataCaptureConfig"] = deployment.capture.summary()
    if state.failure_reason:
        answer["FailureReason"] = state.failure_reason
    elif capture_problem is not None and deployment.capture is not None:
        # AWS has no field for it; an InService endpoint's FailureReason is where Kiln already
        # says what went wrong without stopping it (a failed update).
        answer["FailureReason"] = f"Data capture: {capture_problem}"
    if state.pending is not None and record.status == EndpointStatus.UPDATING:
        answer["PendingDeploymentSummary"] = _pending_summary(state, state.pending, record)
    if state.last_deployment_config:
        answer["LastDeploymentConfig"] = dict(state.last_deployment_config)
    return answer


def _pending_summary(
    state: EndpointState, pending: Deployment, record: ResourceRecord
) -> dict[str, Any]:
    """``PendingDeploymentSummary``: the new fleet's variants and the rollout's stage."""
    stage = dict(state.stage or {})
    share = float(stage.pop("TrafficShare", 0.0))
    started = stage.get("StartTime", record.last_modified_time)
    statuses = [stage] if stage else [{"Status": "Creating", "StartTime": started}]

    def summary(v: VariantSpec) -> dict[str, Any]:
        return {
            "VariantName": v.name,
            "DeployedImages": _deployed_images(v, record.last_modified_time),
            "CurrentWeight": v.initial_weight * share,
            "DesiredWeight": v.initial_weight,
            "CurrentInstanceCount": v.initial_count if state.stage else 0,
            "DesiredInstanceCount": v.initial_count,
            "InstanceType": v.instance_type,
            "VariantStatus": statuses,
        }

    answer: dict[str, Any] = {
        "EndpointConfigName": pending.config_name,
        "ProductionVariants": [summary(v) for v in pending.variants],
        "StartTime": record.last_modified_time,
    }
    if pending.shadows:
        answer["ShadowProductionVariants"] = [summary(v) for v in pending.shadows]
    return answer


def _deployed_images(variant: VariantSpec, resolved_at: float) -> list[dict[str, Any]]:
    """The image a variant's replicas run (SageMaker resolves tags to digests; Kiln's images are
    runtimes, so the resolved name is the runtime's)."""
    image = variant.container.get("Image")
    return [
        {
            "SpecifiedImage": image or KILN_PYTHON,
            "ResolvedImage": resolve_image(image),
            "ResolutionTime": resolved_at,
        }
    ]


def _set_status(record: ResourceRecord, status: EndpointStatus) -> None:
    record.status = transition(EndpointStatus(record.status), status)
    record.last_modified_time = time.time()


def _require_in_service(record: ResourceRecord, action: str) -> None:
    if record.status != EndpointStatus.IN_SERVICE:
        raise ValidationError(
            f"Cannot {action} endpoint {record.name!r}: its status is {record.status}, "
            "not InService."
        )

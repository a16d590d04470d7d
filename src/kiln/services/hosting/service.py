"""The hosting service: models, endpoint configs and endpoints (CONTRACTS.md §3.3, §3.4).

Calls validate, write desired state and wake the endpoint controller, which starts and stops
replicas. Missing resources answer ``ValidationException`` "Could not find …", as the SDKs expect.

``EndpointStatus``:
    Creating   replicas of every variant are starting; not yet routed
    InService  every replica loaded its model and answered /ping; traffic flows
    Updating   a new config or new weights/capacities are being applied; the old keep serving
    Deleting   replicas are being stopped; the endpoint disappears when they are gone
    Failed     replicas could not start; FailureReason says why (delete it and try again)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from kiln.config import Settings
from kiln.db import DuplicateNameError, ResourceRecord, ResourceStore
from kiln.errors import NotFoundError, ResourceLimitError, UnsupportedError, ValidationError
from kiln.services.capacity import machine_capacity, quota_exceeded, shortfall
from kiln.services.hosting.model_code import code_location
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

    def __init__(self, settings: Settings, stores: HostingStores, controller: Controller) -> None:
        self._settings = settings
        self._stores = stores
        self._controller = controller

    # -- models --------------------------------------------------------------------------------

    def create_model(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Register a model: an image, its artifact and its environment."""
        name = request["ModelName"]
        container = model_container(request)
        resolve_image(container.get("Image"))
        if container.get("ModelDataUrl"):
            S3Uri.parse(container["ModelDataUrl"])
        code_location(container.get("Environment", {}))
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
        names = [v["VariantName"] for v in variants]
        if len(set(names)) != len(names):
            raise ValidationError(f"ProductionVariants: variant names must be unique: {names}")
        for variant in variants:
            self._check_variant(variant)
        for key in ("ShadowProductionVariants", "AsyncInferenceConfig", "ExplainerConfig"):
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
        return with_defaults(shaped, {"ProductionVariants": [{"InitialVariantWeight": 1.0}]})

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
        state = {
            "Deployment": self._deployment(config),
            "Variants": initial_variants(config.spec["ProductionVariants"]),
        }
        self._add(self._stores.endpoints, name, arn, "Creating", request, "endpoint", state)
        self._controller.wake(name)
        return {"EndpointArn": arn}

    def describe_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The endpoint as ``DescribeEndpoint`` answers it."""
        return describe_endpoint(self._endpoint(request["EndpointName"]))

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
        self._stores.endpoints.modify(name, lambda r: _set_status(r, "Deleting"))
        self._controller.wake(name)
        return {}

    def update_endpoint(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Switch an endpoint to another config, blue/green, with no failed request."""
        name = request["EndpointName"]
        record = self._endpoint(name)
        config = self._config(request["EndpointConfigName"])
        _require_in_service(record, "update")

        deployment = self._deployment(config)

        def update(r: ResourceRecord) -> None:
            r.state["PendingDeployment"] = deployment
            r.state.pop("FailureReason", None)
            _set_status(r, "Updating")

        self._stores.endpoints.modify(name, update)
        self._controller.wake(name)
        return {"EndpointArn": record.arn}

    def update_endpoint_weights_and_capacities(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Change variant weights and instance counts in place."""
        name = request["EndpointName"]
        record = self._endpoint(name)
        _require_in_service(record, "update")
        known = record.state.get("Variants", {})
        for desired in request["DesiredWeightsAndCapacities"]:
            if desired["VariantName"] not in known:
                raise ValidationError(
                    f"The variant name(s) [{desired['VariantName']}] is/are not present in "
                    f"endpoint {name!r}."
                )
            deployed = record.state.get("Deployment", {}).get("Variants", [])
            instance_type = next(
                (v["InstanceType"] for v in deployed if v["VariantName"] == desired["VariantName"]),
                "ml.instance",
            )
            count = int(desired.get("DesiredInstanceCount", 0))
            over = quota_exceeded(instance_type, "endpoint usage", count)
            if over is not None:
                raise ResourceLimitError(f"Variant {desired['VariantName']!r}: {over}")

        def update(r: ResourceRecord) -> None:
            r.state["DesiredWeightsAndCapacities"] = list(request["DesiredWeightsAndCapacities"])
            r.state.pop("FailureReason", None)
            _set_status(r, "Updating")

        self._stores.endpoints.modify(name, update)
        self._controller.wake(name)
        return {"EndpointArn": record.arn}

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
        note = shortfall(instance_type, size, 1, machine_capacity(self._settings))
        if note is not None and self._settings.strict_capacity:
            raise ResourceLimitError(
                f"Variant {variant['VariantName']!r}: {note.asks}; {note.has} "
                "(KILN_STRICT_CAPACITY=1 refuses what does not fit instead of running it on "
                "what there is)"
            )

    def _deployment(self, config: ResourceRecord) -> dict[str, Any]:
        """A snapshot of the config with each variant's container: the endpoint runs on it even
        if the config or the models are deleted later, as on AWS."""
        variants = []
        for variant in config.spec["ProductionVariants"]:
            model = self._model(variant["ModelName"])
            variants.append(
                {
                    **variant,
                    "Container": model_container(model.spec),
                    "ExecutionRoleArn": model.spec.get("ExecutionRoleArn"),
                }
            )
        return {"EndpointConfigName": config.name, "Variants": variants}

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


def initial_variants(variants: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-variant weights and counts as a config asks for them."""
    return {
        v["VariantName"]: {
            "DesiredWeight": float(v.get("InitialVariantWeight", 1.0)),
            "CurrentWeight": float(v.get("InitialVariantWeight", 1.0)),
            "DesiredInstanceCount": int(v.get("InitialInstanceCount", 1)),
            "CurrentInstanceCount": 0,
        }
        for v in variants
    }


def describe_endpoint(record: ResourceRecord) -> dict[str, Any]:
    """The ``DescribeEndpoint`` answer for a record."""
    images = _deployed_images(record)
    answer: dict[str, Any] = {
        "EndpointName": record.name,
        "EndpointArn": record.arn,
        "EndpointConfigName": record.state["Deployment"]["EndpointConfigName"],
        "ProductionVariants": [
            {"VariantName": name, **numbers, "DeployedImages": images.get(name, [])}
            for name, numbers in record.state.get("Variants", {}).items()
        ],
        "EndpointStatus": record.status,
        "CreationTime": record.creation_time,
        "LastModifiedTime": record.last_modified_time,
    }
    if record.state.get("FailureReason"):
        answer["FailureReason"] = record.state["FailureReason"]
    pending = record.state.get("PendingDeployment")
    if pending and record.status == "Updating":
        answer["PendingDeploymentSummary"] = {
            "EndpointConfigName": pending["EndpointConfigName"],
            "StartTime": record.last_modified_time,
        }
    return answer


def _deployed_images(record: ResourceRecord) -> dict[str, list[dict[str, Any]]]:
    """Per variant, the image its replicas run (SageMaker resolves tags to digests; Kiln's
    images are runtimes, so the resolved name is the runtime's)."""
    deployment = record.state.get("Deployment", {})
    return {
        variant["VariantName"]: [
            {
                "SpecifiedImage": variant["Container"].get("Image") or KILN_PYTHON,
                "ResolvedImage": resolve_image(variant["Container"].get("Image")),
                "ResolutionTime": record.creation_time,
            }
        ]
        for variant in deployment.get("Variants", [])
    }


def _set_status(record: ResourceRecord, status: str) -> None:
    record.status = status
    record.last_modified_time = time.time()


def _require_in_service(record: ResourceRecord, action: str) -> None:
    if record.status != "InService":
        raise ValidationError(
            f"Cannot {action} endpoint {record.name!r}: its status is {record.status}, "
            "not InService."
        )

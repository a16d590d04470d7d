"""``kiln.Predictor``: predictions from an endpoint, as sagemaker SDK v2's ``Predictor`` makes them.

``predict(data)`` serializes ``data``, sends sagemaker-runtime ``InvokeEndpoint``
(``POST /endpoints/{name}/invocations`` with ``Content-Type`` = the serializer's
``CONTENT_TYPE`` and ``Accept`` = the deserializer's ``ACCEPT``) and deserializes the answer.
A model's error status reaches the caller as botocore's ``ClientError`` with code ``ModelError``.

``delete_endpoint()`` sends ``DescribeEndpoint`` (for the config's name), ``DeleteEndpoint`` and
then ``DeleteEndpointConfig``. SDK v2 deletes the config first; Kiln's server refuses to delete
a config an endpoint still uses, so the config goes once the endpoint is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from kiln.sdk.serializers import (
    Deserializer,
    JSONDeserializer,
    JSONSerializer,
    Readable,
    Serializer,
)
from kiln.sdk.session import ENDPOINT_POLL_SECONDS, Session

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import WaiterConfigTypeDef

# Stopping a replica takes under a second; SageMaker's own waiter allows 30 minutes.
_DELETE_WAIT_SECONDS = 300.0


class Predictor:
    """Makes predictions against the endpoint ``endpoint_name`` of a Kiln server."""

    def __init__(
        self,
        endpoint_name: str,
        sagemaker_session: Session | None = None,
        serializer: Serializer | None = None,
        deserializer: Deserializer | None = None,
    ) -> None:
        self.endpoint_name = endpoint_name
        self._session = sagemaker_session
        self.serializer: Serializer = serializer or JSONSerializer()
        self.deserializer: Deserializer = deserializer or JSONDeserializer()
        self._model_names: list[str] | None = None

    @property
    def sagemaker_session(self) -> Session:
        """The session the predictor talks through (the environment's, unless one was given)."""
        if self._session is None:
            self._session = Session()
        return self._session

    @property
    def content_type(self) -> str:
        """The request's Content-Type: the serializer's."""
        return self.serializer.CONTENT_TYPE

    @property
    def accept(self) -> str:
        """The request's Accept: the deserializer's media types."""
        return ", ".join(self.deserializer.ACCEPT)

    def predict(
        self,
        data: Any,
        initial_args: Mapping[str, Any] | None = None,
        target_variant: str | None = None,
        custom_attributes: str | None = None,
    ) -> Any:
        """The endpoint's prediction for ``data``, deserialized."""
        request = dict(initial_args or {})
        request.setdefault("EndpointName", self.endpoint_name)
        request.setdefault("ContentType", self.content_type)
        request.setdefault("Accept", self.accept)
        if target_variant is not None:
            request["TargetVariant"] = target_variant
        if custom_attributes is not None:
            request["CustomAttributes"] = custom_attributes
        request["Body"] = self.serializer.serialize(data)
        stream, content_type = self._invoke(request)
        return self.deserializer.deserialize(stream, content_type)

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        """Delete the endpoint and, unless told not to, its endpoint config."""
        client = self.sagemaker_session.sagemaker_client
        config = client.describe_endpoint(EndpointName=self.endpoint_name)["EndpointConfigName"]
        self._model_names = self._model_names or _model_names(self.sagemaker_session, config)
        client.delete_endpoint(EndpointName=self.endpoint_name)
        if not delete_endpoint_config:
            return
        waiter_config = cast(
            "WaiterConfigTypeDef",
            {
                "Delay": ENDPOINT_POLL_SECONDS,
                "MaxAttempts": int(_DELETE_WAIT_SECONDS / ENDPOINT_POLL_SECONDS),
            },
        )
        client.get_waiter("endpoint_deleted").wait(
            EndpointName=self.endpoint_name, WaiterConfig=waiter_config
        )
        client.delete_endpoint_config(EndpointConfigName=config)

    def delete_model(self) -> None:
        """Delete the models behind the endpoint (remembered if the endpoint is already gone)."""
        session = self.sagemaker_session
        if self._model_names is None:
            described = session.sagemaker_client.describe_endpoint(EndpointName=self.endpoint_name)
            self._model_names = _model_names(session, described["EndpointConfigName"])
        for name in self._model_names:
            session.sagemaker_client.delete_model(ModelName=name)

    def _invoke(self, request: dict[str, Any]) -> tuple[Readable, str]:
        """Send one InvokeEndpoint; the response body and its Content-Type."""
        runtime = self.sagemaker_session.sagemaker_runtime_client
        response = runtime.invoke_endpoint(**request)
        return response["Body"], response.get("ContentType", "application/octet-stream")


def _model_names(session: Session, config_name: str) -> list[str]:
    config = session.sagemaker_client.describe_endpoint_config(EndpointConfigName=config_name)
    return [variant["ModelName"] for variant in config["ProductionVariants"]]

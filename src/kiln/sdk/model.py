"""``kiln.Model``: a model artifact plus inference code, deployed as sagemaker SDK v2 deploys it.

``deploy()`` sends (CONTRACTS.md §5.3) ``CreateModel`` (``PrimaryContainer``: image, artifact,
environment), ``CreateEndpointConfig`` (one variant, ``AllTraffic``, named like the endpoint),
``CreateEndpoint``, and waits for ``InService``. Inference code is shipped the way SDK v2's
scikit-learn model ships it, without repacking the model: ``entry_point`` and ``source_dir`` go
into ``s3://<default bucket>/<model name>/sourcedir.tar.gz``, named by ``SAGEMAKER_PROGRAM`` and
``SAGEMAKER_SUBMIT_DIRECTORY``. Unlike SDK v2, ``model_data`` may be a local file or folder: it
is uploaded as ``s3://<default bucket>/<model name>/model.tar.gz`` first.

``deploy(instance_type="local")`` starts the replica on this machine instead (:mod:`.local`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.config import ACCOUNT_ID
from kiln.errors import ValidationError
from kiln.sdk.local import LOCAL_INSTANCE_TYPES, LocalPredictor, prepare_files, start_replica
from kiln.sdk.names import base_name_from_image, name_from_base
from kiln.sdk.packaging import pack_folder, upload_source
from kiln.sdk.predictor import Predictor
from kiln.sdk.progress import transfer_progress
from kiln.sdk.serializers import Deserializer, Serializer
from kiln.sdk.session import Session
from kiln.storage import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import ContainerDefinitionTypeDef, ProductionVariantTypeDef

DEFAULT_IMAGE = "kiln/python"
DEFAULT_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/kiln"
VARIANT_NAME = "AllTraffic"


class Model:
    """A model to deploy: ``model_data`` served by ``image_uri`` with optional inference code."""

    def __init__(
        self,
        model_data: str,
        entry_point: str | None = None,
        source_dir: str | None = None,
        image_uri: str | None = None,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
        role: str | None = None,
        sagemaker_session: Session | None = None,
    ) -> None:
        self.model_data = model_data
        self.entry_point = entry_point
        self.source_dir = source_dir
        self.image_uri = image_uri or DEFAULT_IMAGE
        self.env = dict(env or {})
        self.name = name
        self.role = role or DEFAULT_ROLE
        self._session = sagemaker_session
        self.endpoint_name: str | None = None

    @property
    def sagemaker_session(self) -> Session:
        """The session the model is created through (the environment's, unless one was given)."""
        if self._session is None:
            self._session = Session()
        return self._session

    def deploy(
        self,
        initial_instance_count: int = 1,
        instance_type: str = "ml.m5.large",
        endpoint_name: str | None = None,
        serializer: Serializer | None = None,
        deserializer: Deserializer | None = None,
        wait: bool = True,
    ) -> Predictor:
        """Create the model and an endpoint serving it; a predictor for the endpoint.

        With ``instance_type="local"`` no server is involved: the model server runs as a child
        process and the predictor is a :class:`~kiln.sdk.local.LocalPredictor`.
        """
        if instance_type in LOCAL_INSTANCE_TYPES:
            return self._deploy_locally(endpoint_name, serializer, deserializer)
        model_name = self.create()
        endpoint = endpoint_name or model_name
        variant: ProductionVariantTypeDef = {
            "VariantName": VARIANT_NAME,
            "ModelName": model_name,
            "InitialInstanceCount": initial_instance_count,
            "InstanceType": instance_type,  # type: ignore[typeddict-item]  # any Kiln instance type
            "InitialVariantWeight": 1,
        }
        client = self.sagemaker_session.sagemaker_client
        client.create_endpoint_config(EndpointConfigName=endpoint, ProductionVariants=[variant])
        client.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint, Tags=[])
        self.endpoint_name = endpoint
        if wait:
            self.sagemaker_session.wait_for_endpoint(endpoint)
        return Predictor(endpoint, self.sagemaker_session, serializer, deserializer)

    def create(self) -> str:
        """Register the model on the server (``CreateModel``), uploading what it needs; its name."""
        container = self.prepare_container_def()
        name = self._name()
        self.sagemaker_session.sagemaker_client.create_model(
            ModelName=name, ExecutionRoleArn=self.role, PrimaryContainer=container
        )
        return name

    def prepare_container_def(self) -> ContainerDefinitionTypeDef:
        """The ``PrimaryContainer`` of ``CreateModel``; uploads local model data and code."""
        env = dict(self.env)
        if self.entry_point is not None:
            env.update(self._script_mode_env(self.entry_point))
        return {
            "Image": self.image_uri,
            "ModelDataUrl": self._upload_model_data(),
            "Environment": env,
        }

    def _name(self) -> str:
        """The model's name, made from the image's when none was given (SDK v2)."""
        if self.name is None:
            self.name = name_from_base(base_name_from_image(self.image_uri))
        return self.name

    def _script_mode_env(self, entry_point: str) -> dict[str, str]:
        """The variables SDK v2 sets for a framework model's inference code (uploaded here)."""
        program, submit_directory = self._upload_code(entry_point)
        return {
            "SAGEMAKER_PROGRAM": program,
            "SAGEMAKER_SUBMIT_DIRECTORY": submit_directory,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            "SAGEMAKER_REGION": self.sagemaker_session.settings.region,
        }

    def _upload_code(self, entry_point: str) -> tuple[str, str]:
        """``(program, URI of sourcedir.tar.gz)``, packed and uploaded unless it already is."""
        if self.source_dir is not None and self.source_dir.startswith("s3://"):
            return entry_point, str(S3Uri.parse(self.source_dir))
        session = self.sagemaker_session
        target = S3Uri(session.default_bucket(), f"{self._name()}/sourcedir.tar.gz")
        program = upload_source(session.s3, entry_point, self.source_dir, target)
        return program, str(target)

    def _upload_model_data(self) -> str:
        """The ``s3://`` URI of ``model.tar.gz``; a local file or folder is uploaded first."""
        if self.model_data.startswith("s3://"):
            return str(S3Uri.parse(self.model_data))
        source = Path(self.model_data.removeprefix("file://")).expanduser()
        session = self.sagemaker_session
        target = S3Uri(session.default_bucket(), f"{self._name()}/model.tar.gz")
        with tempfile.TemporaryDirectory(prefix="kiln-model-") as folder:
            archive = source
            if source.is_dir():
                archive = Path(folder) / "model.tar.gz"
                pack_folder(source, archive)
            elif not source.is_file():
                raise ValidationError(
                    f"model_data {self.model_data!r} is not an s3:// URI, a file or a folder"
                )
            with transfer_progress("Uploading model", archive.stat().st_size) as progress:
                session.s3.upload_file(archive, target, progress)
        self.model_data = str(target)
        return self.model_data

    def _deploy_locally(
        self,
        endpoint_name: str | None,
        serializer: Serializer | None,
        deserializer: Deserializer | None,
    ) -> LocalPredictor:
        """Start the model server here, from local or downloaded files (no server involved)."""
        workdir = Path(tempfile.mkdtemp(prefix="kiln-local-"))
        try:
            files = prepare_files(
                self.model_data,
                self.entry_point,
                self.source_dir,
                workdir,
                lambda: self.sagemaker_session.s3,
            )
            replica = start_replica(files, self.env, workdir)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        self.endpoint_name = endpoint_name or name_from_base(
            f"local-{base_name_from_image(self.image_uri)}"
        )
        return LocalPredictor(self.endpoint_name, replica, serializer, deserializer)

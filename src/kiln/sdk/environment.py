"""The environment with which unchanged AWS code reaches Kiln: ``eval "$(kiln env)"``.

botocore redirects each service by ``AWS_ENDPOINT_URL_<SERVICE_ID>`` (CONTRACTS.md §5.1); the
sagemaker SDK reads its defaults from the YAML file named by ``SAGEMAKER_USER_CONFIG_OVERRIDE``
(§5.4): with a default bucket there, ``Session().default_bucket()`` needs no STS call, and with
telemetry opted out no request leaves the machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kiln.config import Settings
from kiln.sdk.model import DEFAULT_ROLE
from kiln.sdk.session import DEFAULT_BUCKET

# botocore's service ids, upper-cased with '_' for spaces, of the APIs the server answers.
_SERVER_APIS = (
    "SAGEMAKER",
    "SAGEMAKER_RUNTIME",
    "CLOUDWATCH_LOGS",
    "CLOUDWATCH",
    "APPLICATION_AUTO_SCALING",
    "STS",
    "IAM",
)


def client_environment(settings: Settings) -> dict[str, str]:
    """The variables with which boto3, the aws CLI and the sagemaker SDK reach Kiln."""
    return {
        "AWS_ACCESS_KEY_ID": settings.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": settings.credentials.secret_access_key,
        "AWS_DEFAULT_REGION": settings.region,
        **{f"AWS_ENDPOINT_URL_{api}": settings.endpoint for api in _SERVER_APIS},
        "AWS_ENDPOINT_URL_S3": settings.s3_endpoint_url,
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(sagemaker_config_path(settings)),
    }


def sagemaker_config_path(settings: Settings) -> Path:
    """Where Kiln keeps the sagemaker SDK's configuration for its clients."""
    return settings.home / "sagemaker-config.yaml"


def sagemaker_config() -> dict[str, Any]:
    """The sagemaker SDK's defaults for Kiln (its config schema, version 1.0)."""
    return {
        "SchemaVersion": "1.0",
        "SageMaker": {
            "PythonSDK": {
                "Modules": {
                    "TelemetryOptOut": True,
                    "Session": {"DefaultS3Bucket": DEFAULT_BUCKET},
                }
            },
            "TrainingJob": {"RoleArn": DEFAULT_ROLE},
            "Model": {"ExecutionRoleArn": DEFAULT_ROLE},
        },
    }


def write_sagemaker_config(settings: Settings) -> Path:
    """Write the sagemaker SDK's configuration into ``KILN_HOME``; its path."""
    path = sagemaker_config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(sagemaker_config(), sort_keys=False))
    tmp.replace(path)
    return path

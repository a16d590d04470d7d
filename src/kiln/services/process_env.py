"""The environment every job and replica process starts from."""

from __future__ import annotations

import os
from pathlib import Path

from kiln.config import Settings

_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def base_environment(python: Path, *, sandboxed: bool) -> dict[str, str]:
    """PATH (with ``python``'s folder first), HOME, locale, unbuffered output."""
    return {
        "PATH": f"{python.parent}:{os.environ.get('PATH', _DEFAULT_PATH)}",
        # In the sandbox only /opt/ml and /tmp are writable.
        "HOME": "/tmp" if sandboxed else os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }


def storage_environment(settings: Settings) -> dict[str, str]:
    """Region and S3 endpoint, so the process's own boto3 calls reach Kiln's store.

    The keys come from ``process_credentials``: a job's or replica's own, never the server's.
    """
    return {
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_ENDPOINT_URL_S3": settings.s3_endpoint_url,
        # sagemaker-training-toolkit before 2023 read this name.
        "S3_ENDPOINT_URL": settings.s3_endpoint_url,
    }

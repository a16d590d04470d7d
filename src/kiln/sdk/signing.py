"""Signed HTTP for Kiln's native paths, as boto3 signs its own calls (SigV4, botocore's signer)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from kiln.config import Settings


def signed_headers(
    settings: Settings,
    method: str,
    url: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    service: str = "sagemaker",
) -> dict[str, str]:
    """``headers`` plus the SigV4 ones botocore adds for ``settings``' key pair."""
    creds = settings.credentials
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(
        BotoCredentials(creds.access_key_id, creds.secret_access_key), service, settings.region
    ).add_auth(request)
    return dict(request.headers.items())


def call_native(
    settings: Settings, method: str, path: str, document: Mapping[str, Any] | None = None
) -> Any:
    """Call a ``/kiln/v1`` path, signed; the JSON answer (``urllib.error.HTTPError`` on 4xx/5xx)."""
    url = settings.endpoint.rstrip("/") + path
    body = b"" if document is None else json.dumps(document).encode()
    headers = signed_headers(settings, method, url, body, {"Content-Type": "application/json"})
    request = urllib.request.Request(url, data=body or None, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)

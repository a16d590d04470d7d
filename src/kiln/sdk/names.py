"""Resource names as sagemaker SDK v2 makes them: a base plus a UTC timestamp."""

from __future__ import annotations

import re
import time

# sagemaker SDK v2's sagemaker_timestamp(): UTC, to the millisecond.
TIMESTAMP = re.compile(r"-\d{4}(-\d{2}){5}-\d{3}$")
_MAX_NAME = 63
_NOT_IN_NAMES = re.compile(r"[^a-zA-Z0-9-]+")


def name_from_base(base: str) -> str:
    """``<base>-YYYY-MM-DD-HH-MM-SS-mmm`` (UTC), trimmed to SageMaker's 63 characters."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    return f"{base[: _MAX_NAME - len(stamp) - 1]}-{stamp}"


def base_name_from_image(image_uri: str) -> str:
    """``kiln/python:3`` → ``kiln-python``: the image's repository, without registry or tag."""
    repository = image_uri.split("@", 1)[0]
    if repository.rfind(":") > repository.rfind("/"):
        repository = repository.rsplit(":", 1)[0]
    host, _, rest = repository.partition("/")
    if rest and ("." in host or ":" in host):
        repository = rest
    return _NOT_IN_NAMES.sub("-", repository).strip("-") or "model"

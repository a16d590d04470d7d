"""Where a model's inference code lives, by ``SAGEMAKER_SUBMIT_DIRECTORY`` (CONTRACTS.md §2.6, 2.7).

| value                              | code                                                   |
|------------------------------------|--------------------------------------------------------|
| unset or empty                     | ``code/`` inside ``model.tar.gz`` (the toolkits' rule)  |
| ``s3://…/sourcedir.tar.gz``        | that archive, fetched and unpacked (SKLearn, XGBoost)  |
| ``/opt/ml/model/code`` (or below)  | that folder inside ``model.tar.gz`` (the SDK's repack) |

``SAGEMAKER_PROGRAM`` is then looked up in that folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from kiln.errors import ValidationError
from kiln.storage import S3Uri

MODEL_DIR = PurePosixPath("/opt/ml/model")
_DEFAULT = PurePosixPath("code")


def code_location(environment: Mapping[str, str]) -> S3Uri | PurePosixPath:
    """The code's archive in S3, or its folder relative to the model folder."""
    value = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "").strip()
    if not value:
        return _DEFAULT
    if value.startswith("s3://"):
        return S3Uri.parse(value)
    path = PurePosixPath(value)
    if path.is_absolute() and (path == MODEL_DIR or MODEL_DIR in path.parents):
        relative = path.relative_to(MODEL_DIR)
        if ".." not in relative.parts:
            return relative
    raise ValidationError(
        f"SAGEMAKER_SUBMIT_DIRECTORY {value!r} must be the s3:// URI of a sourcedir.tar.gz or "
        "a folder inside the model under /opt/ml/model (e.g. /opt/ml/model/code)"
    )

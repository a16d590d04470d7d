from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from kiln.errors import ValidationError
from kiln.services.hosting.model_code import code_location
from kiln.storage import S3Uri


@pytest.mark.parametrize(
    ("value", "location"),
    [
        (None, PurePosixPath("code")),
        ("", PurePosixPath("code")),
        ("s3://code/job/sourcedir.tar.gz", S3Uri("code", "job/sourcedir.tar.gz")),
        ("/opt/ml/model/code", PurePosixPath("code")),  # the SDK's repack
        ("/opt/ml/model/code/src", PurePosixPath("code/src")),
        ("/opt/ml/model", PurePosixPath(".")),
    ],
)
def test_submit_directory_names_the_code_folder(value: str | None, location: object) -> None:
    environment = {} if value is None else {"SAGEMAKER_SUBMIT_DIRECTORY": value}
    assert code_location(environment) == location


@pytest.mark.parametrize(
    "value", ["/etc/code", "relative/code", "/opt/ml/model/../../etc", "file:///tmp/code"]
)
def test_submit_directory_outside_the_model_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="SAGEMAKER_SUBMIT_DIRECTORY"):
        code_location({"SAGEMAKER_SUBMIT_DIRECTORY": value})

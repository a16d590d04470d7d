"""Requests checked against botocore's service model, including what botocore leaves to servers."""

from __future__ import annotations

import pytest

from kiln.api.validation import operation_model, validate
from kiln.errors import ValidationError


def _describe(**params: object) -> None:
    model = operation_model("sagemaker", "DescribeTrainingJob")
    assert model is not None
    validate(model, params)


def test_valid_request_passes() -> None:
    _describe(TrainingJobName="job-1")


def test_missing_required_member_is_reported() -> None:
    with pytest.raises(ValidationError, match="TrainingJobName"):
        _describe()


def test_pattern_is_enforced() -> None:
    with pytest.raises(ValidationError, match="regular expression pattern"):
        _describe(TrainingJobName="has space")


def test_maximum_length_is_enforced() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 63"):
        _describe(TrainingJobName="a" * 64)


def test_enum_is_enforced() -> None:
    model = operation_model("sagemaker", "ListTrainingJobs")
    assert model is not None
    with pytest.raises(ValidationError, match="enum value set"):
        validate(model, {"SortBy": "Size"})


def test_unknown_operation_has_no_model() -> None:
    assert operation_model("sagemaker", "CreateFlyingCar") is None

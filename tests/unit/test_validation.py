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


def _list_jobs(**params: object) -> None:
    model = operation_model("sagemaker", "ListTrainingJobs")
    assert model is not None
    validate(model, params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"MaxResults": 100_000_000}, "less than or equal to 100"),  # botocore leaves max to us
        ({"MaxResults": 0}, "greater than or equal to 1"),  # botocore's own minimum check
        ({"CreationTimeAfter": 1e300}, "timestamp in seconds since the epoch"),
        ({"CreationTimeAfter": -1}, "timestamp in seconds since the epoch"),
        ({"LastModifiedTimeBefore": "yesterday"}, "timestamp in seconds since the epoch"),
    ],
)
def test_numbers_and_timestamps_out_of_range_are_refused(
    params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _list_jobs(**params)


def test_numbers_and_timestamps_in_range_pass() -> None:
    _list_jobs(MaxResults=100, CreationTimeAfter=1_700_000_000.5, LastModifiedTimeBefore=0)


def test_unknown_operation_has_no_model() -> None:
    assert operation_model("sagemaker", "CreateFlyingCar") is None

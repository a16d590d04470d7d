"""Tags through real boto3: on create, added, listed in pages, deleted; AWS's refusals."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Kiln


def _model(kiln: Kiln, name: str, tags: list[dict[str, str]] | None = None) -> str:
    answer = kiln.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "kiln/python", "ModelDataUrl": "s3://models/m/model.tar.gz"},
        Tags=tags or [],
    )
    return str(answer["ModelArn"])


def _tags(n: int, prefix: str = "k") -> list[dict[str, str]]:
    return [{"Key": f"{prefix}{i}", "Value": str(i)} for i in range(n)]


def _error(call: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return dict(caught.value.response["Error"])


def test_tags_given_at_create_are_listed(kiln: Kiln) -> None:
    arn = _model(kiln, "tagged", [{"Key": "team", "Value": "ml"}])
    assert kiln.sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_add_tags_overwrites_a_key_and_delete_tags_removes_it(kiln: Kiln) -> None:
    sm = kiln.sagemaker
    arn = _model(kiln, "retag", [{"Key": "team", "Value": "ml"}])
    sm.add_tags(
        ResourceArn=arn, Tags=[{"Key": "team", "Value": "infra"}, {"Key": "x", "Value": ""}]
    )
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "infra"},
        {"Key": "x", "Value": ""},
    ]
    sm.delete_tags(ResourceArn=arn, TagKeys=["team", "not-there"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "x", "Value": ""}]


def test_fifty_tags_come_back_in_one_page_without_next_token(kiln: Kiln) -> None:
    # ListTags' MaxResults is at least 50 and a resource holds at most 50 tags.
    arn = _model(kiln, "many", _tags(50))
    first = kiln.sagemaker.list_tags(ResourceArn=arn, MaxResults=50)
    assert len(first["Tags"]) == 50
    assert "NextToken" not in first
    paginator = kiln.sagemaker.get_paginator("list_tags")
    pages = list(paginator.paginate(ResourceArn=arn, PaginationConfig={"PageSize": 50}))
    assert sum(len(p["Tags"]) for p in pages) == 50


def test_a_51st_tag_is_refused_and_nothing_is_written(kiln: Kiln) -> None:
    arn = _model(kiln, "full", _tags(50))
    error = _error(kiln.sagemaker.add_tags, ResourceArn=arn, Tags=_tags(1, prefix="extra"))
    assert error["Code"] == "ValidationException"
    assert "50" in error["Message"]
    assert len(kiln.sagemaker.list_tags(ResourceArn=arn)["Tags"]) == 50


def test_reserved_aws_keys_are_refused_at_create_and_add(kiln: Kiln) -> None:
    reserved = [{"Key": "aws:cloudformation:stack", "Value": "x"}]
    error = _error(
        kiln.sagemaker.create_model,
        ModelName="reserved",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "kiln/python"},
        Tags=reserved,
    )
    assert "reserved" in error["Message"]
    assert _error(kiln.sagemaker.describe_model, ModelName="reserved")["Code"] == (
        "ValidationException"
    )
    arn = _model(kiln, "plain")
    assert "reserved" in _error(kiln.sagemaker.add_tags, ResourceArn=arn, Tags=reserved)["Message"]


def test_tags_on_an_unknown_arn_are_refused(kiln: Kiln) -> None:
    arn = "arn:aws:sagemaker:us-east-1:000000000000:model/nope"
    error = _error(kiln.sagemaker.list_tags, ResourceArn=arn)
    assert error["Code"] == "ValidationException"
    assert arn in error["Message"]


@pytest.mark.parametrize("token", ["\u00b2", "9" * 5000, "-1"])
def test_a_next_token_kiln_did_not_hand_out_is_refused(kiln: Kiln, token: str) -> None:
    # "²" passed str.isdigit() and 5,000 digits passed too; int() raised on both (a 500, found
    # by fuzzing).
    arn = _model(kiln, "paged")
    error = _error(kiln.sagemaker.list_tags, ResourceArn=arn, NextToken=token)
    assert error["Code"] == "ValidationException"
    assert "Invalid NextToken" in error["Message"]

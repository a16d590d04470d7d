"""STS and IAM over the query protocol, through real boto3 clients."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Kiln


def test_caller_is_a_session_of_the_kiln_role(kiln: Kiln) -> None:
    identity = kiln.client("sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    assert identity["Arn"] == "arn:aws:sts::000000000000:assumed-role/kiln/kiln"
    assert identity["UserId"].startswith("AROA")
    assert identity["UserId"].endswith(":kiln")


def test_any_role_exists_and_trusts_sagemaker(kiln: Kiln) -> None:
    role = kiln.client("iam").get_role(RoleName="MySageMakerRole")["Role"]
    assert role["Arn"] == "arn:aws:iam::000000000000:role/MySageMakerRole"
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}


def test_simulated_policy_allows_each_action_asked(kiln: Kiln) -> None:
    answer = kiln.client("iam").simulate_principal_policy(
        PolicySourceArn=ROLE, ActionNames=["s3:GetObject", "sagemaker:CreateModel"]
    )
    assert [r["EvalActionName"] for r in answer["EvaluationResults"]] == [
        "s3:GetObject",
        "sagemaker:CreateModel",
    ]
    assert {r["EvalDecision"] for r in answer["EvaluationResults"]} == {"allowed"}


def test_an_action_kiln_does_not_serve_is_an_aws_error(kiln: Kiln) -> None:
    with pytest.raises(ClientError) as caught:
        kiln.client("iam").list_roles()
    assert caught.value.response["Error"]["Code"] == "InvalidAction"
    assert "ListRoles" in caught.value.response["Error"]["Message"]


def test_a_control_character_in_an_echoed_action_answers_parseable_xml(kiln: Kiln) -> None:
    # XML 1.0 cannot carry U+0008 even as &#8;: Kiln answers U+FFFD in its place (found by fuzzing).
    answer = kiln.client("iam").simulate_principal_policy(
        PolicySourceArn=ROLE, ActionNames=["s3:\x08GetObject"]
    )
    assert answer["EvaluationResults"][0]["EvalActionName"] == "s3:\ufffdGetObject"


def test_a_control_character_quoted_in_an_error_answers_parseable_xml(kiln: Kiln) -> None:
    with pytest.raises(ClientError) as caught:
        kiln.client("iam").get_role(RoleName="role\x01")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "role\ufffd" in caught.value.response["Error"]["Message"]

"""IAM-style policy evaluation: principal × action × resource → allow or deny, as a table."""

from __future__ import annotations

import pytest

from kiln.auth.policies import (
    ADMIN,
    JOB_DEFAULT,
    ML_ENGINEER,
    VIEWER,
    Decision,
    Policy,
    PolicyError,
    evaluate,
    evaluate_all,
    invoker,
    named_policy,
)

EP = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/"
DENY_DELETES = Policy.parse(
    {"Statement": [{"Effect": "Deny", "Action": "sagemaker:Delete*", "Resource": "*"}]}
)
ONLY_MINE = Policy.parse(
    {"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::mine/*"}}
)
ALL_BUT_LOGS = Policy.parse(
    {"Statement": [{"Effect": "Allow", "NotAction": "logs:*", "Resource": "*"}]}
)
ALLOW, IMPLICIT, EXPLICIT = Decision.ALLOW, Decision.IMPLICIT_DENY, Decision.EXPLICIT_DENY

TABLE = [
    # (who, policies, action, resource, decision)
    ("admin", [ADMIN], "sagemaker:CreateTrainingJob", "*", ALLOW),
    ("admin", [ADMIN], "iam:CreateAccessKey", "arn:aws:iam::000000000000:user/*", ALLOW),
    ("engineer", [ML_ENGINEER], "sagemaker:CreateTrainingJob", "*", ALLOW),
    ("engineer", [ML_ENGINEER], "s3:PutObject", "arn:aws:s3:::data/x", ALLOW),
    ("engineer", [ML_ENGINEER], "iam:CreateAccessKey", "*", IMPLICIT),
    ("viewer", [VIEWER], "sagemaker:DescribeEndpoint", EP + "a", ALLOW),
    ("viewer", [VIEWER], "sagemaker:ListTrainingJobs", "*", ALLOW),
    ("viewer", [VIEWER], "sagemaker:CreateModel", "*", IMPLICIT),
    ("viewer", [VIEWER], "sagemaker:InvokeEndpoint", EP + "a", IMPLICIT),
    ("viewer", [VIEWER], "s3:PutObject", "arn:aws:s3:::data/x", IMPLICIT),
    ("invoker of a", [invoker([EP + "a"])], "sagemaker:InvokeEndpoint", EP + "a", ALLOW),
    ("invoker of a", [invoker([EP + "a"])], "sagemaker:InvokeEndpoint", EP + "b", IMPLICIT),
    ("invoker of a", [invoker([EP + "a"])], "sagemaker:DescribeEndpoint", EP + "a", IMPLICIT),
    ("invoker of a*", [invoker([EP + "a*"])], "sagemaker:InvokeEndpoint", EP + "ab", ALLOW),
    ("job role", [JOB_DEFAULT], "s3:GetObject", "arn:aws:s3:::any/key", ALLOW),
    ("job role", [JOB_DEFAULT], "sagemaker:CreateTrainingJob", "*", IMPLICIT),
    ("job role", [JOB_DEFAULT], "sagemaker:InvokeEndpoint", EP + "a", IMPLICIT),
    ("admin with deny", [ADMIN, DENY_DELETES], "sagemaker:DeleteEndpoint", EP + "a", EXPLICIT),
    ("admin with deny", [ADMIN, DENY_DELETES], "sagemaker:CreateEndpoint", EP + "a", ALLOW),
    ("scoped", [ONLY_MINE], "s3:GetObject", "arn:aws:s3:::mine/model.tar.gz", ALLOW),
    ("scoped", [ONLY_MINE], "s3:GetObject", "arn:aws:s3:::other/model.tar.gz", IMPLICIT),
    ("not logs", [ALL_BUT_LOGS], "logs:GetLogEvents", "*", IMPLICIT),
    ("not logs", [ALL_BUT_LOGS], "sagemaker:ListModels", "*", ALLOW),
    ("actions ignore case", [VIEWER], "SageMaker:describeendpoint", EP + "a", ALLOW),
    ("nobody", [], "sagemaker:ListModels", "*", IMPLICIT),
]


@pytest.mark.parametrize(("who", "policies", "action", "resource", "decision"), TABLE)
def test_policy_table(
    who: str, policies: list[Policy], action: str, resource: str, decision: Decision
) -> None:
    assert evaluate(policies, action, resource) is decision, who


def test_every_resource_of_an_action_must_be_allowed() -> None:
    policies = [invoker([EP + "a"])]
    assert evaluate_all(policies, "sagemaker:InvokeEndpoint", [EP + "a"]) is ALLOW
    assert evaluate_all(policies, "sagemaker:InvokeEndpoint", [EP + "a", EP + "b"]) is IMPLICIT


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        '{"Statement": []}',
        '{"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}',
        '{"Statement": [{"Effect": "Allow", "Resource": "*"}]}',
        '{"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "x", "Resource": "*"}]}',
        '{"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}',
        '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]}',
    ],
)
def test_a_policy_kiln_cannot_honour_exactly_is_refused(document: str) -> None:
    with pytest.raises(PolicyError):
        Policy.parse(document)


def test_named_policies_resolve_built_ins_invokers_and_json() -> None:
    def arn(name: str) -> str:
        return EP + name

    assert named_policy("viewer", arn) is VIEWER
    assert (
        evaluate([named_policy("invoker:a,b", arn)], "sagemaker:InvokeEndpoint", EP + "b") is ALLOW
    )
    assert named_policy('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}', arn)
    with pytest.raises(PolicyError, match="Unknown policy"):
        named_policy("superuser", arn)

"""Jobs and replicas run with a session of their role, never the owner's key, revoked at the end.

Real training jobs and a real replica, whose code reports the keys it was given and what it may
do with them through the store front and the SageMaker API.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import (
    NO_RETRIES,
    Kiln,
    job_log_text,
    script_job,
    upload_model,
    upload_source,
    wait_for_log,
    wait_in_service,
)
from kiln.auth.policies import Policy
from kiln.config import Settings

pytestmark = pytest.mark.slow

SCOPED_ROLE = "arn:aws:iam::000000000000:role/scoped"
UNKNOWN_ROLE = "arn:aws:iam::000000000000:role/SageMakerExecutionRole"

# What the job does with the keys it finds in its environment; ENDING says how it ends.
REPORTING_SCRIPT = """
import json, os, sys, time
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

def attempt(call):
    try:
        call()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]

once = Config(retries={"total_max_attempts": 1})
s3 = boto3.client("s3", config=once)
api = boto3.client("sagemaker", endpoint_url=os.environ["KILN_TEST_API"], config=once)
report = {
    "environment": dict(os.environ),
    "own_input": attempt(lambda: s3.get_object(Bucket="jobdata", Key="train/rows.csv")),
    "other_model": attempt(lambda: s3.get_object(Bucket="models", Key="other/model.tar.gz")),
    "list_training_jobs": attempt(lambda: api.list_training_jobs()),
}
print("REPORT " + json.dumps(report), flush=True)
ending = os.environ["ENDING"]
if ending == "sleep":
    time.sleep(300)
sys.exit(1 if ending == "fail" else 0)
"""

REPLICA_CODE = """
import json, os
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

def model_fn(model_dir):
    return None

def transform_fn(model, data, content_type, accept):
    s3 = boto3.client("s3", config=Config(retries={"total_max_attempts": 1}))
    try:
        s3.list_objects_v2(Bucket="jobdata")
        listing = "ok"
    except ClientError as e:
        listing = e.response["Error"]["Code"]
    return json.dumps({"environment": dict(os.environ), "list_jobdata": listing}), accept
"""


def _prepare(kiln: Kiln) -> None:
    """Input data in ``jobdata``, another job's model in ``models``, a role for ``jobdata``
    (and for the code it runs and the output it writes)."""
    for bucket in ("jobdata", "models"):
        kiln.thread.kiln.objects.ensure_bucket(bucket)
    kiln.s3.put_object(Bucket="jobdata", Key="train/rows.csv", Body=b"1,2\n")
    kiln.s3.put_object(Bucket="models", Key="other/model.tar.gz", Body=b"not yours")
    # As SageMaker asks of a role: its input, and the code and output its job names; on a Ray
    # node the host agent stages with these keys (locally the server stages with its own).
    scoped = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::jobdata", "arn:aws:s3:::jobdata/*"]},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::code/*"]},
        {"Effect": "Allow", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::output", "arn:aws:s3:::output/*"]},
    ]}  # fmt: skip
    kiln.thread.kiln.keys.put_principal("scoped", "role", [Policy.parse(scoped)])


def _run_job(kiln: Kiln, name: str, role: str, ending: str) -> dict[str, Any]:
    """Start a reporting job; its report once printed (the job may still run)."""
    source = upload_source(kiln, {"train.py": REPORTING_SCRIPT})
    environment = {"KILN_TEST_API": kiln.endpoint, "ENDING": ending}
    channels = {"train": "s3://jobdata/train"}
    request = script_job(name, source, channels=channels, RoleArn=role, Environment=environment)
    kiln.sagemaker.create_training_job(**request)
    wait_for_log(kiln.settings, name, "REPORT ")
    line = next(x for x in job_log_text(kiln.settings, name).splitlines() if "REPORT " in x)
    report: dict[str, Any] = json.loads(line.split("REPORT ", 1)[1])
    return report


def _assert_not_the_owners(settings: Settings, environment: dict[str, str]) -> None:
    values = set(environment.values())
    for secret in (settings.credentials, settings.s3_credentials):
        assert secret.access_key_id not in values
        assert secret.secret_access_key not in values


def _s3_with(kiln: Kiln, environment: dict[str, str]) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=kiln.settings.s3_endpoint_url, region_name=kiln.settings.region,
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=environment["AWS_SESSION_TOKEN"], config=NO_RETRIES,
    )  # fmt: skip


def _code(call: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


def test_a_job_reads_its_input_with_its_roles_session_and_nothing_more(kiln: Kiln) -> None:
    _prepare(kiln)
    report = _run_job(kiln, "scoped-1", SCOPED_ROLE, "exit")
    environment = report["environment"]
    assert environment["AWS_ACCESS_KEY_ID"].startswith("ASIK")
    assert environment["AWS_SESSION_TOKEN"]
    _assert_not_the_owners(kiln.settings, environment)
    assert report["own_input"] == "ok"
    assert report["other_model"] == "AccessDenied"
    assert report["list_training_jobs"] == "AccessDeniedException"
    assert kiln.wait("scoped-1")["TrainingJobStatus"] == "Completed"


def test_a_job_whose_role_is_unknown_runs_as_the_default_role(kiln: Kiln) -> None:
    _prepare(kiln)
    report = _run_job(kiln, "default-1", UNKNOWN_ROLE, "exit")
    _assert_not_the_owners(kiln.settings, report["environment"])
    assert (report["own_input"], report["other_model"]) == ("ok", "ok")  # s3:* on every bucket
    assert report["list_training_jobs"] == "AccessDeniedException"  # no control plane
    kiln.wait("default-1")


@pytest.mark.parametrize(("ending", "status"), [("exit", "Completed"), ("fail", "Failed")])
def test_a_jobs_keys_are_refused_once_it_ends(kiln: Kiln, ending: str, status: str) -> None:
    _prepare(kiln)
    report = _run_job(kiln, f"ends-{ending}", SCOPED_ROLE, ending)
    assert kiln.wait(f"ends-{ending}")["TrainingJobStatus"] == status
    s3 = _s3_with(kiln, report["environment"])
    assert _code(lambda: s3.get_object(Bucket="jobdata", Key="train/rows.csv")) == (
        "InvalidAccessKeyId"
    )


def test_a_stopped_jobs_keys_are_refused(kiln: Kiln) -> None:
    _prepare(kiln)
    report = _run_job(kiln, "stopped-1", SCOPED_ROLE, "sleep")
    s3 = _s3_with(kiln, report["environment"])
    assert s3.get_object(Bucket="jobdata", Key="train/rows.csv")["Body"].read() == b"1,2\n"
    kiln.sagemaker.stop_training_job(TrainingJobName="stopped-1")
    assert kiln.wait("stopped-1")["TrainingJobStatus"] == "Stopped"
    assert _code(lambda: s3.list_objects_v2(Bucket="jobdata")) == "InvalidAccessKeyId"


def test_server_stop_revokes_the_keys_of_running_jobs(kiln: Kiln) -> None:
    _prepare(kiln)
    report = _run_job(kiln, "interrupted-1", SCOPED_ROLE, "sleep")
    key_id = report["environment"]["AWS_ACCESS_KEY_ID"]
    keys = kiln.thread.kiln.keys
    assert key_id in {k.key_id for k in keys.keys(include_sessions=True)}
    kiln.thread.stop()
    assert key_id not in {k.key_id for k in keys.keys(include_sessions=True)}


def test_a_replica_runs_with_a_session_of_its_models_role_until_it_stops(kiln: Kiln) -> None:
    _prepare(kiln)
    # Where the role may read it: SageMaker fetches ModelDataUrl with the execution role.
    model = upload_model(kiln, {"code/inference.py": REPLICA_CODE}, bucket="code")
    kiln.sagemaker.create_model(
        ModelName="reporter", ExecutionRoleArn=SCOPED_ROLE,
        PrimaryContainer={"Image": "kiln/python", "ModelDataUrl": model},
    )  # fmt: skip
    kiln.sagemaker.create_endpoint_config(
        EndpointConfigName="reporter", ProductionVariants=[{"VariantName": "AllTraffic",
        "ModelName": "reporter", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
    )  # fmt: skip
    kiln.sagemaker.create_endpoint(EndpointName="reporter", EndpointConfigName="reporter")
    assert wait_in_service(kiln, "reporter")["EndpointStatus"] == "InService"
    answer = kiln.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="reporter", Body=b"{}", ContentType="application/json"
    )
    report = json.loads(answer["Body"].read())
    _assert_not_the_owners(kiln.settings, report["environment"])
    assert report["environment"]["AWS_SESSION_TOKEN"]
    assert report["list_jobdata"] == "ok"
    s3 = _s3_with(kiln, report["environment"])
    assert _code(lambda: s3.list_objects_v2(Bucket="models")) == "AccessDenied"
    kiln.sagemaker.delete_endpoint(EndpointName="reporter")
    kiln.sagemaker.get_waiter("endpoint_deleted").wait(
        EndpointName="reporter", WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
    )
    assert _code(lambda: s3.list_objects_v2(Bucket="jobdata")) == "InvalidAccessKeyId"


PROBING_SCRIPT = """
import glob, json, os
seen = {"store_key": False, "kiln_home": False}
for proc in glob.glob("/proc/[0-9]*"):
    try:
        seen["store_key"] |= b"RCLONE_AUTH_KEY=" in open(proc + "/environ", "rb").read()
    except OSError:
        pass
    home = proc + "/root" + os.environ["KILN_HOME_SEEN"]
    seen["kiln_home"] |= os.path.exists(home + "/credentials.json")
print("PROBE " + json.dumps(seen), flush=True)
"""


def test_a_sandboxed_job_cannot_reach_the_stores_key_or_kiln_home(kiln: Kiln) -> None:
    if not kiln.thread.kiln.backend.is_sandboxed:
        pytest.skip("only the bwrap sandbox hides KILN_HOME and other processes")
    source = upload_source(kiln, {"train.py": PROBING_SCRIPT})
    environment = {"KILN_HOME_SEEN": str(kiln.settings.home)}
    kiln.sagemaker.create_training_job(**script_job("probe-1", source, Environment=environment))
    kiln.wait("probe-1")
    line = next(x for x in job_log_text(kiln.settings, "probe-1").splitlines() if "PROBE " in x)
    assert json.loads(line.split("PROBE ", 1)[1]) == {"store_key": False, "kiln_home": False}

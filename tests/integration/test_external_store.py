"""A Kiln server on an external S3 store (SeaweedFS): what differs from the embedded one."""

from __future__ import annotations

import json

import pytest

from conftest import Kiln, job_log_text, script_job, upload_source

pytestmark = pytest.mark.slow

ON_SEAWEEDFS = pytest.mark.parametrize("store_env", ["seaweedfs"], indirect=True)

# The job's own boto3, configured by nothing but the environment Kiln gives it.
OWN_CLIENT_SCRIPT = """
import json, os
import boto3
s3 = boto3.client("s3")
rows = s3.get_object(Bucket="jobdata", Key="rows.csv")["Body"].read().decode()
s3.put_object(Bucket="jobdata", Key="written-by-the-job.txt", Body=rows.upper())
print("SEEN " + json.dumps({"rows": rows, "endpoint": os.environ["AWS_ENDPOINT_URL_S3"]}))
"""


@ON_SEAWEEDFS
def test_a_jobs_own_boto3_reads_and_writes_the_external_store(kiln: Kiln) -> None:
    kiln.thread.kiln.objects.ensure_bucket("jobdata")
    kiln.s3.put_object(Bucket="jobdata", Key="rows.csv", Body=b"a,b\n")
    source = upload_source(kiln, {"train.py": OWN_CLIENT_SCRIPT})
    kiln.sagemaker.create_training_job(**script_job("own-client-1", source))
    job = kiln.wait("own-client-1")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    line = next(x for x in job_log_text(kiln.settings, "own-client-1").splitlines() if "SEEN " in x)
    seen = json.loads(line.split("SEEN ", 1)[1])
    assert seen == {"rows": "a,b\n", "endpoint": kiln.settings.s3_endpoint_url}
    written = kiln.s3.get_object(Bucket="jobdata", Key="written-by-the-job.txt")
    assert written["Body"].read() == b"A,B\n"

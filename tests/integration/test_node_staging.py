"""Job hosts that stage their own files through S3 (``KILN_STAGING=node``, as a Ray node does):
channels, sharding, code, checkpoints, distribution variables, artifacts and failures."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import (
    VOLUME_FILLER,
    Kiln,
    deploy,
    make_settings,
    model_files,
    script_job,
    sklearn_model_files,
    start_kiln,
    upload_model,
    upload_source,
)

pytestmark = pytest.mark.slow

# Writes what the host saw: its channels' files, its distribution variables, its checkpoints.
SEEN = """
import json, os
seen = {"files": {}, "env": {k: os.environ.get(k) for k in
        ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "SM_CURRENT_HOST", "SM_HOSTS")}}
for channel in json.loads(os.environ["SM_CHANNELS"]):
    root = os.environ["SM_CHANNEL_" + channel.upper()]
    seen["files"][channel] = sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
checkpoints = os.path.join(os.path.dirname(os.environ["SM_MODEL_DIR"]), "checkpoints")
seen["checkpoints"] = sorted(os.listdir(checkpoints)) if os.path.isdir(checkpoints) else []
host = os.environ["SM_CURRENT_HOST"]
with open(os.path.join(os.environ["SM_MODEL_DIR"], host + ".json"), "w") as f:
    json.dump(seen, f)
"""


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    home = tmp_path_factory.mktemp("node-staging")
    settings = make_settings(home, f"sqlite:///{home}/kiln.db", KILN_STAGING="node")
    with start_kiln(settings) as server:
        yield server


def _put(kiln: Kiln, keys: list[str], bucket: str = "data") -> None:
    kiln.thread.kiln.objects.ensure_bucket(bucket)
    for key in keys:
        kiln.s3.put_object(Bucket=bucket, Key=key, Body=key.encode())


def _job(kiln: Kiln, name: str, files: dict[str, str], **changes: Any) -> dict[str, Any]:
    request = script_job(name, upload_source(kiln, files), **changes)
    kiln.sagemaker.create_training_job(**request)
    return kiln.wait(name)


def test_two_hosts_get_their_shards_and_each_others_addresses(kiln: Kiln) -> None:
    _put(kiln, [f"shards/part-{i}" for i in range(4)] + ["all/one.csv"])
    job = _job(
        kiln,
        "node-two-hosts",
        {"train.py": SEEN},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 1},
        InputDataConfig=[
            {
                "ChannelName": "shards",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://data/shards/",
                        "S3DataDistributionType": "ShardedByS3Key",
                    }
                },
            },
            {
                "ChannelName": "all",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/all"}
                },
            },
        ],
    )
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    files = model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])
    seen = {name.removesuffix(".json"): json.loads(body) for name, body in files.items()}
    assert seen["algo-1"]["files"]["shards"] == ["part-0", "part-2"]
    assert seen["algo-2"]["files"]["shards"] == ["part-1", "part-3"]
    assert seen["algo-1"]["files"]["all"] == seen["algo-2"]["files"]["all"] == ["one.csv"]
    for rank, host in enumerate(("algo-1", "algo-2")):
        env = seen[host]["env"]
        # This machine's; on Ray, the first host's node (each pinned to its own 127.0.0.x).
        assert env["MASTER_ADDR"] == seen["algo-1"]["env"]["MASTER_ADDR"]
        assert ipaddress.ip_address(env["MASTER_ADDR"]).is_loopback
        assert (env["WORLD_SIZE"], env["RANK"]) == ("2", str(rank))
        assert env["MASTER_PORT"] == seen["algo-1"]["env"]["MASTER_PORT"]


def test_checkpoints_are_restored_on_the_node_and_synced_back(kiln: Kiln) -> None:
    kiln.thread.kiln.objects.ensure_bucket("ckpt")
    kiln.s3.put_object(Bucket="ckpt", Key="run/step-1.pt", Body=b"1")
    script = SEEN + "\nopen(os.path.join(checkpoints, 'step-2.pt'), 'w').write('2')\n"
    job = _job(
        kiln,
        "node-checkpoints",
        {"train.py": script},
        CheckpointConfig={"S3Uri": "s3://ckpt/run", "LocalPath": "/opt/ml/checkpoints"},
    )
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    seen = json.loads(model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])["algo-1.json"])
    assert seen["checkpoints"] == ["step-1.pt"]
    listed = kiln.s3.list_objects_v2(Bucket="ckpt", Prefix="run/")["Contents"]
    assert sorted(o["Key"] for o in listed) == ["run/step-1.pt", "run/step-2.pt"]


def test_a_channel_with_no_objects_fails_the_job_with_the_nodes_reason(kiln: Kiln) -> None:
    job = _job(
        kiln,
        "node-empty-channel",
        {"train.py": SEEN},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/nothing-here/"}
                },
            }
        ],
    )
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith('ClientError: No S3 objects found under S3 URL "s3://')


def test_the_scripts_failure_file_becomes_the_failure_reason(kiln: Kiln) -> None:
    script = (
        "import os\nopen(os.path.join(os.environ['SM_OUTPUT_DIR'], 'failure'), 'w')"
        ".write('bad data: line 3')\nraise SystemExit(2)\n"
    )
    job = _job(kiln, "node-failure-file", {"train.py": script})
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "bad data: line 3"


def test_a_job_that_outgrows_its_volume_on_the_node_is_stopped_in_the_servers_words(
    kiln: Kiln,
) -> None:
    job = _job(
        kiln,
        "node-outgrown",
        {"train.py": VOLUME_FILLER},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
    )
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(
        "ClientError: the job wrote 1.2 GiB into /opt/ml on algo-1, more than fits in the "
        "job's volume: VolumeSizeInGB=1"
    )


def test_the_hosts_archives_are_merged_into_the_jobs_and_then_removed(kiln: Kiln) -> None:
    job = _job(kiln, "node-artifacts", {"train.py": "print('hello from the node')"})
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ModelArtifacts"]["S3ModelArtifacts"].endswith("node-artifacts/output/model.tar.gz")
    hosts = kiln.s3.list_objects_v2(Bucket="output", Prefix="jobs/node-artifacts/output/kiln-hosts")
    assert hosts.get("Contents", []) == []  # merged into the job's archives, then removed


def test_a_replica_fetches_its_model_on_the_node_and_serves(kiln: Kiln) -> None:
    uri = upload_model(kiln, sklearn_model_files())
    deploy(kiln, "node-endpoint", {"main": (uri, 1, 1.0)})
    body = ",".join(["1.0"] * 30)
    answer = kiln.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="node-endpoint", ContentType="text/csv", Body=body
    )
    assert answer["Body"].read().strip() in (b"0", b"1", b"0.0", b"1.0", b"[0]", b"[1]")


def test_a_replica_whose_model_is_missing_fails_with_the_nodes_reason(kiln: Kiln) -> None:
    kiln.thread.kiln.objects.ensure_bucket("models")
    deploy(kiln, "node-no-model", {"main": ("s3://models/nothing/model.tar.gz", 1, 1.0)})
    described = kiln.sagemaker.describe_endpoint(EndpointName="node-no-model")
    assert described["EndpointStatus"] == "Failed"
    assert "s3://models/nothing/model.tar.gz" in described["FailureReason"]

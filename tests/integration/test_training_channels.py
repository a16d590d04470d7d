"""Channels as SageMaker reads them: prefixes, manifests, sharding and inputdataconfig.json."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ANY_STORE, Kiln, model_files, script_job, upload_source

pytestmark = pytest.mark.slow

# Writes what each host sees: every channel's files (relative paths) and inputdataconfig.json.
SEEN_SCRIPT = """
import json, os
seen = {"files": {}, "config": json.load(open(os.path.join(
    os.environ["SM_INPUT_CONFIG_DIR"], "inputdataconfig.json")))}
for channel in json.loads(os.environ["SM_CHANNELS"]):
    root = os.environ["SM_CHANNEL_" + channel.upper()]
    seen["files"][channel] = sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
host = os.environ["SM_CURRENT_HOST"]
with open(os.path.join(os.environ["SM_MODEL_DIR"], host + ".json"), "w") as f:
    json.dump(seen, f)
"""


def _put(kiln: Kiln, keys: list[str], bucket: str = "data") -> None:
    kiln.thread.kiln.objects.ensure_bucket(bucket)
    for key in keys:
        kiln.s3.put_object(Bucket=bucket, Key=key, Body=key.encode())


def _channel(name: str, uri: str, **source: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, **source}},
    }


def _run(kiln: Kiln, name: str, channels: list[dict[str, Any]], count: int = 1) -> dict[str, Any]:
    request = script_job(name, upload_source(kiln, {"train.py": SEEN_SCRIPT}))
    request["InputDataConfig"] = channels
    request["ResourceConfig"]["InstanceCount"] = count
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait(name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    files = model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])
    return {name.removesuffix(".json"): json.loads(body) for name, body in files.items()}


def test_prefix_matches_keys_not_folders(kiln: Kiln) -> None:
    _put(kiln, ["csv/train.csv", "csv/train/part-0", "csv/test.csv"])
    seen = _run(kiln, "prefix-1", [_channel("train", "s3://data/csv/train")])
    assert seen["algo-1"]["files"] == {"train": ["part-0", "train.csv"]}


def test_folder_prefix_keeps_the_tree_below_it(kiln: Kiln) -> None:
    _put(kiln, ["training-data/a/b.csv", "training-data/c.csv", "training-data-2/x.csv"])
    seen = _run(kiln, "folder-1", [_channel("train", "s3://data/training-data/")])
    assert seen["algo-1"]["files"] == {"train": ["a/b.csv", "c.csv"]}


def test_manifest_file_downloads_exactly_its_keys(kiln: Kiln) -> None:
    _put(kiln, ["set/a.csv", "set/deep/b.csv", "set/unlisted.csv"])
    manifest = [{"prefix": "s3://data/set/"}, "a.csv", "deep/b.csv"]
    kiln.s3.put_object(Bucket="data", Key="lists/train.manifest", Body=json.dumps(manifest))
    channel = _channel("train", "s3://data/lists/train.manifest", S3DataType="ManifestFile")
    seen = _run(kiln, "manifest-1", [channel])
    assert seen["algo-1"]["files"] == {"train": ["a.csv", "deep/b.csv"]}


def test_sharded_channel_splits_objects_across_hosts(kiln: Kiln) -> None:
    _put(kiln, ["shards/part-0", "shards/part-1", "shards/part-2", "all/x.csv"])
    channels = [
        _channel("train", "s3://data/shards/", S3DataDistributionType="ShardedByS3Key"),
        _channel("lookup", "s3://data/all/", S3DataDistributionType="FullyReplicated"),
    ]
    seen = _run(kiln, "sharded-1", channels, count=2)
    # Sorted keys 0, 1, 2: algo-1 gets indices ≡ 0 (mod 2), algo-2 those ≡ 1.
    assert seen["algo-1"]["files"] == {"train": ["part-0", "part-2"], "lookup": ["x.csv"]}
    assert seen["algo-2"]["files"] == {"train": ["part-1"], "lookup": ["x.csv"]}
    assert seen["algo-2"]["config"]["train"]["S3DistributionType"] == "ShardedByS3Key"


@ANY_STORE
def test_shards_follow_s3_key_order_whatever_order_the_store_lists(kiln: Kiln) -> None:
    # S3 orders keys by their bytes ("-" < "/" < "0"); SeaweedFS lists a folder's keys before
    # its siblings' (p/1, p-0, p0), so the shards hold only because Kiln sorts the keys.
    _put(kiln, ["order/p-0", "order/p/1", "order/p0"])
    channel = _channel("train", "s3://data/order/", S3DataDistributionType="ShardedByS3Key")
    seen = _run(kiln, "sharded-order", [channel], count=2)
    assert seen["algo-1"]["files"] == {"train": ["p-0", "p0"]}
    assert seen["algo-2"]["files"] == {"train": ["p/1"]}


def test_a_host_may_get_no_shard(kiln: Kiln) -> None:
    _put(kiln, ["one/part-0"])
    channel = _channel("train", "s3://data/one/", S3DataDistributionType="ShardedByS3Key")
    seen = _run(kiln, "sharded-2", [channel], count=2)
    assert seen["algo-1"]["files"] == {"train": ["part-0"]}
    assert seen["algo-2"]["files"] == {"train": []}


def test_inputdataconfig_carries_the_channel_settings(kiln: Kiln) -> None:
    _put(kiln, ["cfg/rows.csv"])
    channel = {
        **_channel("train", "s3://data/cfg/", S3DataDistributionType="ShardedByS3Key"),
        "ContentType": "text/csv",
        "CompressionType": "None",
        "RecordWrapperType": "None",
    }
    seen = _run(kiln, "config-1", [channel, _channel("plain", "s3://data/cfg/")])
    assert seen["algo-1"]["config"] == {
        "train": {
            "TrainingInputMode": "File",
            "S3DistributionType": "ShardedByS3Key",
            "RecordWrapperType": "None",
            "ContentType": "text/csv",
            "CompressionType": "None",
        },
        "plain": {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        },
    }


def test_missing_manifest_fails_the_job_naming_it(kiln: Kiln) -> None:
    _put(kiln, ["x/y.csv"])
    request = script_job("manifest-2", upload_source(kiln, {"train.py": SEEN_SCRIPT}))
    request["InputDataConfig"] = [
        _channel("train", "s3://data/nope.manifest", S3DataType="ManifestFile")
    ]
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("manifest-2")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == (
        "ClientError: channel 'train': no object at s3://data/nope.manifest"
    )


def test_augmented_manifest_is_refused_by_name(kiln: Kiln) -> None:
    request = script_job("augmented-1", "s3://code/x.tar.gz")
    request["InputDataConfig"] = [
        _channel("train", "s3://data/a.manifest", S3DataType="AugmentedManifestFile")
    ]
    with pytest.raises(ClientError) as error:
        kiln.sagemaker.create_training_job(**request)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "'AugmentedManifestFile' is not supported" in error.value.response["Error"]["Message"]

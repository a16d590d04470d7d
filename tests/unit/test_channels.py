"""Channel placement, manifests and sharding as tables."""

from __future__ import annotations

import json

import pytest

from kiln.errors import ValidationError
from kiln.services.training.channels import (
    ChannelObject,
    landing_path,
    manifest_objects,
    prefix_objects,
    shard,
)


@pytest.mark.parametrize(
    ("prefix", "key", "path"),
    [
        ("training-data", "training-data/a/b.csv", "a/b.csv"),  # a folder: below it
        ("training-data/", "training-data/a/b.csv", "a/b.csv"),
        ("csv/train", "csv/train/part-0", "part-0"),
        ("csv/train", "csv/train.csv", "train.csv"),  # not a folder: the whole file name
        ("data/train", "data/train-x/part-0", "train-x/part-0"),
        ("data/rows.csv", "data/rows.csv", "rows.csv"),  # the URI names one object
        ("train", "train.csv", "train.csv"),  # top level, not a folder
        ("", "a/b.csv", "a/b.csv"),  # the whole bucket
        ("p/", "p//x.csv", "x.csv"),  # empty parts are dropped
    ],
)
def test_landing_path(prefix: str, key: str, path: str) -> None:
    assert landing_path(prefix, key) == path


def test_landing_path_refuses_to_leave_the_channel_folder() -> None:
    with pytest.raises(ValidationError, match="'p/../x'"):
        landing_path("p/", "p/../x")


def test_prefix_objects_skip_folder_markers_and_sort() -> None:
    keys = ["csv/train/part-1", "csv/train/", "csv/train.csv", "csv/train/part-0", "csv/test.csv"]
    assert prefix_objects("csv/train", keys) == [
        ChannelObject("csv/train.csv", "train.csv"),
        ChannelObject("csv/train/part-0", "part-0"),
        ChannelObject("csv/train/part-1", "part-1"),
    ]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["d/x.csv", "d/x/x.csv"], "both land at 'x.csv'"),  # d/x.csv: whole name; d/x/: below
        (["d/x-a", "d/x/x-a/b"], "needs as a folder"),  # 'x-a' is a file and a folder
    ],
)
def test_clashing_objects_are_refused(keys: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        prefix_objects("d/x", keys)


def test_manifest_lists_keys_relative_to_its_prefix() -> None:
    body = json.dumps([{"prefix": "s3://bucket/some/prefix/"}, "rel/b.csv", "a.csv"]).encode()
    assert manifest_objects(body, "s3://b/m.json") == (
        "bucket",
        [
            ChannelObject("some/prefix/a.csv", "a.csv"),
            ChannelObject("some/prefix/rel/b.csv", "rel/b.csv"),
        ],
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "is not JSON"),
        (b"[]", "first element"),
        (b'["a.csv"]', "first element"),
        (b'[{"prefix": "https://x/"}]', "Invalid S3 URI"),
        (b'[{"prefix": "s3://bkt/p/"}, 3]', "entry 3 is not a string"),
        (b'[{"prefix": "s3://bkt/p/"}, "../x"]', "outside its channel folder"),
    ],
)
def test_malformed_manifests_are_named(body: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        manifest_objects(body, "s3://b/m.json")


@pytest.mark.parametrize(
    ("count", "host_index", "hosts", "expected"),
    [
        (5, 0, 2, [0, 2, 4]),  # index mod 2 == 0
        (5, 1, 2, [1, 3]),
        (4, 2, 3, [2]),
        (1, 1, 2, []),  # fewer objects than hosts: this host gets none
        (3, 0, 1, [0, 1, 2]),  # one host gets everything
    ],
)
def test_shard(count: int, host_index: int, hosts: int, expected: list[int]) -> None:
    assert shard(list(range(count)), host_index, hosts) == expected

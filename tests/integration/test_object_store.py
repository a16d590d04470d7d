"""``kiln.storage.ObjectStore`` against every S3 store Kiln runs on: the embedded rclone and
SeaweedFS (issue 11: any S3 store)."""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import make_settings
from kiln.storage import EmbeddedS3Server, ObjectNotFoundError, ObjectStore, S3Uri
from kiln.storefront.back import Back
from support.seaweedfs import SeaweedFS, socket_addresses

STORES = ["embedded", "seaweedfs"]
# Kiln's transfers go multipart past 64 MiB (kiln.storage._TRANSFER): one part more than that.
MULTIPART_SIZE = 64 * 1024 * 1024 + 1024 * 1024


@pytest.fixture(scope="module", params=STORES)
def objects(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ObjectStore]:
    """Kiln's store client on each store, built from settings as the server builds its own."""
    home = tmp_path_factory.mktemp("store-home")
    database = f"sqlite:///{home / 'kiln.db'}"
    if request.param == "seaweedfs":
        seaweedfs = request.getfixturevalue("seaweedfs")
        yield ObjectStore.from_settings(make_settings(home, database, **seaweedfs.kiln_env()))
        seaweedfs.empty()
        return
    settings = make_settings(home, database)
    store = Back.fresh(settings.s3_port).settings(settings)  # rclone, as the server runs it
    rclone = EmbeddedS3Server(store)
    rclone.start()
    try:
        yield ObjectStore.from_settings(store)
    finally:
        rclone.stop()


@pytest.fixture
def bucket(objects: ObjectStore) -> str:
    """A new bucket of this test's own on the module's store."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    objects.ensure_bucket(name)
    return name


def _put(objects: ObjectStore, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: objects.put_bytes(S3Uri(bucket, key), key.encode()), keys))


def test_ensure_bucket_takes_a_bucket_another_client_made(objects: ObjectStore) -> None:
    name = f"t-{uuid.uuid4().hex[:12]}"
    objects.ensure_bucket(name)
    ObjectStore(objects.client).ensure_bucket(name)  # a fresh client: no cache of known buckets
    assert objects.client.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_keys_follow_continuation_tokens_across_pages_and_folders(
    objects: ObjectStore, bucket: str
) -> None:
    # Pages of 3 end inside folders and between them (S3 pages at 1,000 keys; same tokens).
    names = sorted(f"many/{folder}/{i}" for folder in ("a", "b/c", "d") for i in range(4))
    _put(objects, bucket, [*names, "many-not/x"])
    paged = ObjectStore(objects.client, page_size=3).keys(S3Uri(bucket, "many/"))
    assert sorted(key for key, _size in paged) == names


def test_a_file_past_the_multipart_threshold_round_trips(
    objects: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    block = hashlib.sha256(b"seed").digest() * (1024 * 32)  # 1 MiB
    source.write_bytes(block * (MULTIPART_SIZE // len(block)))
    uri = S3Uri(bucket, "model/big.bin")
    objects.upload_file(source, uri)
    objects.download_file(uri, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()


def test_download_prefix_takes_a_folder_tree_and_skips_look_alike_keys(
    objects: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    _put(objects, bucket, ["data/train/a.csv", "data/train/b/c.csv", "data/training.csv"])
    count = objects.download_prefix(S3Uri(bucket, "data/train"), tmp_path / "train")
    assert count == 2
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.csv"))
    assert files == ["train/a.csv", "train/b/c.csv"]


def test_download_prefix_naming_one_object_fetches_it_by_its_name(
    objects: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    _put(objects, bucket, ["data/train.csv"])
    assert objects.download_prefix(S3Uri(bucket, "data/train.csv"), tmp_path) == 1
    assert (tmp_path / "train.csv").read_bytes() == b"data/train.csv"


def test_exists_and_delete_follow_an_object(objects: ObjectStore, bucket: str) -> None:
    uri = S3Uri(bucket, "a/b.txt")
    assert not objects.exists(uri)
    objects.put_bytes(uri, b"x")
    assert objects.exists(uri)
    objects.delete(uri)
    objects.delete(uri)  # deleting an absent object is fine, as on S3
    assert not objects.exists(uri)


def test_a_missing_object_or_bucket_is_object_not_found(
    objects: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    for uri in (S3Uri(bucket, "nothing"), S3Uri("no-such-bucket-kiln", "nothing")):
        with pytest.raises(ObjectNotFoundError):
            objects.download_file(uri, tmp_path / "x")
    assert not list(tmp_path.iterdir())  # no partial file left behind


def test_keys_of_a_missing_bucket_are_none(objects: ObjectStore) -> None:
    assert list(objects.keys(S3Uri("no-such-bucket-kiln", "x/"))) == []


def test_a_write_to_a_missing_bucket_fails_without_creating_it(objects: ObjectStore) -> None:
    with pytest.raises(ClientError):
        objects.put_bytes(S3Uri("no-such-bucket-kiln", "capture/x"), b"x")
    assert list(objects.keys(S3Uri("no-such-bucket-kiln", ""))) == []


def test_seaweedfs_listens_and_connects_on_loopback_only(seaweedfs: SeaweedFS) -> None:
    s3, name = seaweedfs.client(), f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")  # the gateway, filer and volume server talk
    s3.delete_bucket(Bucket=name)
    pairs = socket_addresses(seaweedfs.process.pid)
    assert pairs, "no sockets found: the check would pass vacuously"
    # A listener's or an unconnected socket's peer is the unspecified address.
    strangers = [
        (local, remote)
        for local, remote in pairs
        if not _is_loopback(local) or not (_is_loopback(remote) or remote in ("0.0.0.0", "::"))
    ]
    assert strangers == []


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback

"""A channel fetched from S3 into a folder, listed and sharded as the server stages it: by the
host agent on a node, and by the server for a baseline of a job that ran on nodes."""

from __future__ import annotations

from pathlib import Path

from kiln.errors import ValidationError
from kiln.runtime.host_plan import ChannelFetch
from kiln.services.training.channels import (
    channel_failure,
    manifest_objects,
    prefix_objects,
    shard,
)
from kiln.storage import ObjectNotFoundError, ObjectStore, S3Uri


class StagingError(Exception):
    """Staging failed; the message is the job's FailureReason."""


def fetch_channel(objects: ObjectStore, channel: ChannelFetch, folder: Path) -> int:
    """Download this host's objects of ``channel`` into ``folder``; how many."""
    uri = S3Uri.parse(channel.uri)
    try:
        if channel.data_type == "ManifestFile":
            manifest = folder.parent / f".{channel.name}.manifest.json"
            manifest.parent.mkdir(parents=True, exist_ok=True)
            objects.download_file(uri, manifest)
            bucket, found = manifest_objects(manifest.read_bytes(), str(uri))
            manifest.unlink()
        else:
            bucket, found = uri.bucket, prefix_objects(uri.key, dict(objects.keys(uri)))
    except (ValidationError, ObjectNotFoundError) as e:
        raise StagingError(channel_failure(channel.name, e)) from e
    if not found:
        raise StagingError(
            f'ClientError: No S3 objects found under S3 URL "{channel.uri}" given in input data '
            f"source for channel {channel.name!r}."
        )
    if channel.sharded:
        found = shard(found, channel.host_index, channel.host_count)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for item in found:
            objects.download_file(S3Uri(bucket, item.key), folder / item.path)
    except ObjectNotFoundError as e:
        raise StagingError(channel_failure(channel.name, e)) from e
    return len(found)

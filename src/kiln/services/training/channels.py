"""Training channels as SageMaker reads them: which objects a channel holds, where each lands
under ``/opt/ml/input/data/<channel>/``, and which host gets which (pure functions).

``S3Prefix``: every object whose key starts with the prefix, as S3's own listing matches it
(``s3://b/csv/train`` matches ``csv/train.csv`` and ``csv/train/part-0``). Where it lands:

- a key that continues the prefix as a folder (``training-data/a/b.csv`` for the prefix
  ``training-data`` or ``training-data/``) lands at its path below that folder, ``a/b.csv``;
- a key equal to the prefix (the URI names one object) lands under its base name;
- a key that continues the prefix's last name (``data/train-1.csv`` for ``data/train``) lands at
  its path below the prefix's parent folder, ``train-1.csv``: the whole file name, as SageMaker
  names such files (sagemaker-python-sdk issue #3612; its local mode, which cuts the prefix
  off and leaves ``-1.csv``, differs from the service there).

Keys ending in ``/`` are folder markers, not objects. Two objects that would land on one path
(or one on the other's folder) fail the job rather than overwrite each other.

``ManifestFile``: the URI is a JSON manifest, ``[{"prefix": "s3://b/p/"}, "rel/key1", …]``; each
entry names the object ``prefix + entry`` (string concatenation, as AWS documents it) and lands
at ``entry``.

``ShardedByS3Key``: with n hosts, host i (0-based: algo-1 is 0) gets the objects whose index in
the key-sorted list is i mod n, so each gets about 1/n of the objects, as AWS documents it. A
host may get none when there are fewer objects than hosts; AWS allows that ("some nodes won't
get any data"), and so does Kiln: its channel folder is empty. ``FullyReplicated`` gives every
host every object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from kiln.errors import ValidationError
from kiln.storage import ObjectNotFoundError, S3Uri

T = TypeVar("T")


@dataclass(frozen=True)
class ChannelObject:
    """One object of a channel and the path it lands at, relative to the channel folder."""

    key: str
    path: str


def landing_path(prefix: str, key: str) -> str:
    """Where the object ``key`` matched by ``prefix`` lands, relative to the channel folder."""
    if not key.startswith(prefix):
        raise ValueError(f"{key!r} does not start with {prefix!r}")
    if key == prefix:
        relative = key.rpartition("/")[2]
    elif not prefix or prefix.endswith("/"):
        relative = key[len(prefix) :]
    elif key[len(prefix)] == "/":
        relative = key[len(prefix) + 1 :]
    else:
        relative = key[prefix.rfind("/") + 1 :]
    return safe_path(relative, key)


def safe_path(relative: str, key: str) -> str:
    """``relative`` with empty parts dropped; ValidationError if it would leave its folder."""
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValidationError(f"object {key!r} would land outside its channel folder")
    return "/".join(parts)


def prefix_objects(prefix: str, keys: Iterable[str]) -> list[ChannelObject]:
    """An S3Prefix channel's objects (``keys`` as listed under ``prefix``), sorted by key."""
    found = [
        ChannelObject(key, landing_path(prefix, key))
        for key in sorted(keys)
        if key.startswith(prefix) and not key.endswith("/")
    ]
    check_no_clashes(found)
    return found


def manifest_objects(body: bytes, manifest_uri: str) -> tuple[str, list[ChannelObject]]:
    """The bucket and objects a ``ManifestFile`` manifest lists; ValidationError if malformed."""
    try:
        entries = json.loads(body)
    except ValueError as e:
        raise ValidationError(f"manifest {manifest_uri} is not JSON: {e}") from None
    head = entries[0] if isinstance(entries, list) and entries else None
    if not isinstance(head, dict) or not isinstance(head.get("prefix"), str):
        raise ValidationError(
            f'manifest {manifest_uri} must be a JSON array whose first element is {{"prefix": '
            '"s3://bucket/prefix/"}, followed by the object keys relative to it'
        )
    prefix = S3Uri.parse(head["prefix"])
    objects = []
    for entry in entries[1:]:
        if not isinstance(entry, str):
            raise ValidationError(
                f"manifest {manifest_uri}: entry {entry!r} is not a string (a key relative to "
                f"{head['prefix']})"
            )
        key = prefix.key + entry
        objects.append(ChannelObject(key, safe_path(entry, key)))
    check_no_clashes(objects)
    return prefix.bucket, sorted(objects, key=lambda o: o.key)


def check_no_clashes(objects: Sequence[ChannelObject]) -> None:
    """ValidationError if two objects land on one path, or one on the other's folder."""
    seen: dict[str, str] = {}
    for item in objects:
        if item.path in seen:
            raise ValidationError(
                f"objects {seen[item.path]!r} and {item.key!r} would both land at {item.path!r}"
            )
        seen[item.path] = item.key
    for item in objects:
        parts = item.path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in seen:
                raise ValidationError(
                    f"object {seen[folder]!r} lands at {folder!r}, which object {item.key!r} "
                    "needs as a folder"
                )


def shard(objects: Sequence[T], host_index: int, host_count: int) -> list[T]:
    """The objects host ``host_index`` (0-based) of ``host_count`` gets under ShardedByS3Key."""
    return [item for index, item in enumerate(objects) if index % host_count == host_index]


TRAIN_CHANNEL = "train"
"""The channel a completed job's baseline is computed from."""


def channel_failure(channel: str, error: Exception) -> str:
    """The FailureReason of a channel whose manifest or objects could not be read."""
    reason = f"no object at {error}" if isinstance(error, ObjectNotFoundError) else str(error)
    return f"ClientError: channel {channel!r}: {reason}"

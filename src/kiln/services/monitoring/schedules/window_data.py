"""One window's data, fetched from the store: captured records and ground-truth labels.

Captured files lie at ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl``, the hour
being the UTC hour of their inferences (``capture/keys.py``). A window reads every variant's
files in the hours it overlaps and keeps the records with ``start <= inferenceTime < end``
(Model Monitor's analyzer is handed whole hours and filters the same way). Ground truth lies in
hour folders of when the labels *arrived*, so a window reads the labels from its first hour up to
now and lets the join by inference id pick.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from kiln.services.monitoring.capture.keys import HOUR_SECONDS, hour_folder, hour_of
from kiln.services.monitoring.schedules.model import Window
from kiln.storage import ObjectStore, S3Uri

_HOUR_KEY = re.compile(r"(?:^|/)(\d{4}/\d\d/\d\d/\d\d)/[^/]+$")


@dataclass(frozen=True)
class WindowCaptures:
    """The captured records of one window, written to local files for the analyzer."""

    paths: tuple[Path, ...]
    records: int
    files_read: int
    unreadable: int  # lines that are not JSON or have no inferenceTime: counted, skipped


def window_hours(window: Window) -> list[int]:
    """The UTC hours (epoch seconds at their start) that ``[start, end)`` overlaps."""
    first = hour_of(window.start.timestamp())
    last = hour_of((window.end - timedelta(microseconds=1)).timestamp())
    return list(range(first, last + 1, HOUR_SECONDS))


def inference_time(line: bytes) -> datetime | None:
    """A capture line's ``eventMetadata.inferenceTime``, or None if it cannot be read."""
    try:
        record = orjson.loads(line)
        stamp = record["eventMetadata"]["inferenceTime"]
        found = datetime.fromisoformat(stamp)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def capture_objects(
    objects: ObjectStore, destination: str, endpoint: str, window: Window
) -> list[S3Uri]:
    """Every captured file of ``endpoint`` in the hours ``window`` overlaps, all variants."""
    base = S3Uri.parse(destination).join(endpoint)
    found = []
    for variant in _folders(objects, base):
        for hour in window_hours(window):
            prefix = base.join(variant, hour_folder(hour), "")
            found += [S3Uri(base.bucket, key) for key, _ in objects.keys(prefix)]
    return sorted(found, key=lambda uri: uri.key)


def _folders(objects: ObjectStore, base: S3Uri) -> Iterator[str]:
    """The folder names right under ``base`` (the endpoint's variants)."""
    prefix = base.key.rstrip("/") + "/"
    pages = objects.client.get_paginator("list_objects_v2").paginate(
        Bucket=base.bucket, Prefix=prefix, Delimiter="/"
    )
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            yield common["Prefix"][len(prefix) :].rstrip("/")


def fetch_captures(
    objects: ObjectStore, uris: list[S3Uri], window: Window, folder: Path
) -> WindowCaptures:
    """Download ``uris`` and keep ``window``'s records, one local file per captured file."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, records, unreadable = [], 0, 0
    for number, uri in enumerate(uris):
        raw = folder / f"{number:06d}.raw"
        objects.download_file(uri, raw)
        kept = []
        for line in raw.read_bytes().splitlines():
            if not line.strip():
                continue
            at = inference_time(line)
            if at is None:
                unreadable += 1
            elif window.start <= at < window.end:
                kept.append(line)
        raw.unlink()
        if kept:
            path = folder / f"{number:06d}.jsonl"
            path.write_bytes(b"\n".join(kept) + b"\n")
            paths.append(path)
            records += len(kept)
    return WindowCaptures(tuple(paths), records, len(uris), unreadable)


def ground_truth_objects(
    objects: ObjectStore, prefix: str, window: Window, now: datetime
) -> list[S3Uri]:
    """The label files under ``prefix`` that arrived from ``window``'s first hour up to ``now``."""
    base = S3Uri.parse(prefix)
    first = hour_folder(hour_of(window.start.timestamp()))
    last = hour_folder(hour_of(now.timestamp()))
    found = []
    for key, _ in objects.keys(base):
        hour = _HOUR_KEY.search(key)
        if hour is not None and first <= hour[1] <= last:
            found.append(S3Uri(base.bucket, key))
    return sorted(found, key=lambda uri: uri.key)


def fetch_all(objects: ObjectStore, uris: list[S3Uri], folder: Path) -> list[Path]:
    """Download ``uris`` into ``folder``, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, uri in enumerate(uris):
        path = folder / f"{number:06d}.jsonl"
        objects.download_file(uri, path)
        paths.append(path)
    return paths

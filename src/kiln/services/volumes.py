"""Volumes: the disk a job host or a replica may fill (``VolumeSizeInGB``), and what happens
when it would fill more.

SageMaker gives each training instance an ML storage volume of ``ResourceConfig.VolumeSizeInGB``
(30 when the request leaves it out; 0 means the instance's own storage) holding its channels,
code, checkpoints, model and output; each inference instance gets the ``VolumeSizeInGB`` of its
production variant. Kiln has no volumes to attach, so it holds a workspace to that size: an
archive is refused at the member that would go over, a channel at the object, and a running
job is stopped once its workspace is measured above it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

GIB = 1024**3
DEFAULT_TRAINING_VOLUME_GB = 30
"""What DescribeTrainingJob reports when CreateTrainingJob left VolumeSizeInGB out."""
DEFAULT_REPLICA_VOLUME_GB = 30
"""Kiln's volume for a variant without VolumeSizeInGB; set it on the variant for larger models."""
# Measuring a workspace walks it: at most every 5 s, and never more than 1/20 of the time.
VOLUME_CHECK_SECONDS = 5.0
VOLUME_CHECK_SHARE = 20


def volume_bytes(gb: int | None, default_gb: int) -> int:
    """The bytes of a ``gb`` GiB volume; ``default_gb`` when none (or 0, the instance's own)."""
    return (gb or default_gb) * GIB


def training_volume_reason(what: str, gb: int) -> str:
    """The FailureReason of a job that ``what`` (e.g. "channel 'train' holds") overfills."""
    return (
        f"ClientError: {what} more than fits in the job's volume: VolumeSizeInGB={gb} "
        f"({gb} GiB per instance, for channels, code, checkpoints, model and output); "
        "ask for a larger ResourceConfig.VolumeSizeInGB"
    )


def volume_check_pause(took: float) -> float:
    """Seconds until a running job's workspace is measured again, after a measure that took
    ``took``: at least ``VOLUME_CHECK_SECONDS``, and long enough that measuring a workspace of
    many files takes at most a twentieth of the job's time."""
    return max(VOLUME_CHECK_SECONDS, VOLUME_CHECK_SHARE * took)


def in_gib(size: int) -> str:
    """``size`` bytes as GiB with one decimal, as the FailureReasons say it."""
    return f"{size / GIB:.1f}"


def outgrown_reason(used_gib: str, host: str, gb: int) -> str:
    """The FailureReason of a job whose host ``host`` wrote ``used_gib`` GiB into its volume."""
    return training_volume_reason(f"the job wrote {used_gib} GiB into /opt/ml on {host},", gb)


def replica_volume_reason(what: str, gb: int | None) -> str:
    """Why a replica whose ``what`` (e.g. "model.tar.gz expands to") overfills cannot start."""
    if gb:
        size = f"the variant's VolumeSizeInGB={gb} ({gb} GiB)"
        remedy = "set a larger VolumeSizeInGB on the production variant"
    else:
        size = (
            f"{DEFAULT_REPLICA_VOLUME_GB} GiB, Kiln's volume for a variant without VolumeSizeInGB"
        )
        remedy = "set VolumeSizeInGB on the production variant"
    return f"{what} more than fits in {size}; {remedy}"


def disk_usage(folder: Path) -> int:
    """The bytes the files under ``folder`` take on disk; hard links counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    pending = [str(folder)]
    while pending:
        try:
            entries: Iterable[os.DirEntry[str]] = list(os.scandir(pending.pop()))
        except OSError:
            continue  # gone or unreadable while the job runs: nothing to count
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            elif (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


class VolumeBudget:
    """What each host has left of its volume while Kiln fills the workspaces."""

    def __init__(self, limit: int, hosts: Iterable[str]) -> None:
        self.limit = limit
        self._used = dict.fromkeys(hosts, 0)

    def fits(self, hosts: Iterable[str], more: int) -> bool:
        """Whether ``more`` bytes still fit on each of ``hosts``."""
        return all(self._used[host] + more <= self.limit for host in hosts)

    def charge(self, hosts: Iterable[str], used: int) -> None:
        """Count ``used`` bytes on each of ``hosts``."""
        for host in hosts:
            self._used[host] += used


class VolumeWatch:
    """Measures running hosts' workspaces against a volume of ``limit`` bytes (0: never), as
    often as ``volume_check_pause`` allows."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._next = clock()

    def outgrown(self, workspaces: Mapping[str, Path]) -> tuple[str, int] | None:
        """The first host (a key of ``workspaces``) whose workspace holds more than the volume,
        with the bytes it holds, if a measure is due; else None."""
        if not self._limit or self._clock() < self._next:
            return None
        started = self._clock()
        try:
            for host, workspace in workspaces.items():
                if (used := disk_usage(workspace)) > self._limit:
                    return host, used
            return None
        finally:
            self._next = started + volume_check_pause(self._clock() - started)

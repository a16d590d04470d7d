"""Volumes: their size, the reasons that name them, and how much a workspace takes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiln.services.volumes import (
    GIB,
    VOLUME_CHECK_SECONDS,
    VolumeBudget,
    VolumeWatch,
    disk_usage,
    in_gib,
    outgrown_reason,
    replica_volume_reason,
    training_volume_reason,
    volume_bytes,
    volume_check_pause,
)


@pytest.mark.parametrize(
    ("gb", "default", "expected"),
    [
        (1, 30, GIB),
        (None, 30, 30 * GIB),  # left out: the default
        (0, 30, 30 * GIB),  # 0: the instance's own storage on AWS; Kiln has none, the default
    ],
)
def test_volume_bytes(gb: int | None, default: int, expected: int) -> None:
    assert volume_bytes(gb, default) == expected


def test_training_reason_names_the_setting_and_the_limit() -> None:
    reason = training_volume_reason("s3://code/sourcedir.tar.gz expands to", 1)
    assert reason.startswith("ClientError: s3://code/sourcedir.tar.gz expands to more than fits")
    assert "VolumeSizeInGB=1 (1 GiB per instance" in reason
    assert reason.endswith("ask for a larger ResourceConfig.VolumeSizeInGB")


def test_outgrown_reason_names_what_the_host_wrote() -> None:
    reason = outgrown_reason("1.2", "algo-2", 1)
    assert reason.startswith(
        "ClientError: the job wrote 1.2 GiB into /opt/ml on algo-2, more than fits in the "
        "job's volume: VolumeSizeInGB=1"
    )


@pytest.mark.parametrize(
    ("took", "expected"),
    [
        (0.0, 5.0),  # a small workspace: every 5 s
        (0.25, 5.0),  # a twentieth is still under 5 s
        (1.0, 20.0),  # measuring took 1 s: wait 20, so it costs at most a twentieth
    ],
)
def test_volume_check_pause(took: float, expected: float) -> None:
    assert volume_check_pause(took) == expected


@pytest.mark.parametrize(
    ("gb", "expected"),
    [
        (
            2,
            "model.tar.gz expands to more than fits in the variant's VolumeSizeInGB=2 (2 GiB); "
            "set a larger VolumeSizeInGB on the production variant",
        ),
        (
            None,
            "model.tar.gz expands to more than fits in 30 GiB, Kiln's volume for a variant "
            "without VolumeSizeInGB; set VolumeSizeInGB on the production variant",
        ),
    ],
)
def test_replica_reason(gb: int | None, expected: str) -> None:
    assert replica_volume_reason("model.tar.gz expands to", gb) == expected


def test_disk_usage_counts_allocated_blocks_and_hard_links_once(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with open(tmp_path / "sub" / "big", "wb") as f:
        os.posix_fallocate(f.fileno(), 0, 1 << 20)
    os.link(tmp_path / "sub" / "big", tmp_path / "again")
    (tmp_path / "sparse").write_bytes(b"")
    os.truncate(tmp_path / "sparse", 1 << 30)  # a hole takes no disk
    assert 1 << 20 <= disk_usage(tmp_path) < (1 << 20) + 64 * 1024


def test_budget_refuses_what_would_overfill_any_host() -> None:
    budget = VolumeBudget(100, ["algo-1", "algo-2"])
    budget.charge(["algo-1"], 60)
    assert budget.fits(["algo-2"], 100)
    assert not budget.fits(["algo-1", "algo-2"], 41)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _filled(folder: Path, size: int) -> Path:
    folder.mkdir()
    with open(folder / "data.bin", "wb") as f:
        os.posix_fallocate(f.fileno(), 0, size)
    return folder


def test_the_watch_names_the_first_host_above_the_volume_with_what_it_holds(
    tmp_path: Path,
) -> None:
    small, big = _filled(tmp_path / "a", 4096), _filled(tmp_path / "b", 1 << 20)
    found = VolumeWatch(1 << 19).outgrown({"algo-1": small, "algo-2": big})
    assert found is not None
    assert found[0] == "algo-2"
    assert found[1] >= 1 << 20


def test_the_watch_measures_again_only_once_the_pause_is_over(tmp_path: Path) -> None:
    clock, workspace = _Clock(), _filled(tmp_path / "w", 4096)
    watch = VolumeWatch(1 << 20, clock)
    assert watch.outgrown({"algo-1": workspace}) is None
    _filled(tmp_path / "w" / "more", 2 << 20)
    clock.now += VOLUME_CHECK_SECONDS - 0.5
    assert watch.outgrown({"algo-1": workspace}) is None  # not due: not measured
    clock.now += 1.0
    assert watch.outgrown({"algo-1": workspace}) is not None


def test_a_watch_without_a_volume_never_measures(tmp_path: Path) -> None:
    assert VolumeWatch(0).outgrown({"algo-1": _filled(tmp_path / "w", 1 << 20)}) is None


def test_sizes_are_said_in_gib_with_one_decimal() -> None:
    assert in_gib(1288490188) == "1.2"
    assert in_gib(0) == "0.0"

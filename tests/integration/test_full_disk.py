"""A full KILN_HOME (ENOSPC), for real: a small tmpfs, filled to the last byte and freed again.

The server keeps answering: 503 where it cannot store, never 500.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (
    ROLE,
    Kiln,
    make_settings,
    start_kiln,
)


class Disk:
    """The tmpfs under KILN_HOME: filled with one file, freed by deleting it."""

    def __init__(self, mount: Path) -> None:
        self.mount = mount
        self._filler = mount / "filler"

    def fill(self) -> None:
        """Write until the disk refuses even one byte."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            chunk = 1 << 20
            while chunk:
                try:
                    os.write(fd, bytes(chunk))
                except OSError:
                    chunk //= 2
        finally:
            os.close(fd)
        assert os.statvfs(self.mount).f_bavail == 0

    def free(self) -> None:
        """Give all of it back."""
        self._filler.unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    """A 48 MiB tmpfs for KILN_HOME (we mount it: skipped where mounting is not permitted)."""
    mount = tmp_path / "small"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        pytest.skip("no mount command to make a small tmpfs for KILN_HOME")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for KILN_HOME: {done.stderr.strip()}")
    try:
        yield Disk(mount)
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def _kiln_on(disk: Disk, **overrides: str) -> Iterator[Kiln]:
    home = disk.mount / "home"
    kiln = start_kiln(make_settings(home, f"sqlite:///{home / 'kiln.db'}", **overrides))
    try:
        yield kiln
    finally:
        disk.free()
        kiln.thread.stop()


@pytest.fixture
def kiln_on(disk: Disk) -> Iterator[Kiln]:
    """A server whose KILN_HOME, database included, is on the small disk."""
    yield from _kiln_on(disk)


def _without_retries(kiln: Kiln) -> Any:
    creds = kiln.settings.credentials
    return boto3.client(
        "sagemaker",
        endpoint_url=kiln.endpoint,
        region_name=kiln.settings.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )


def _poll(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


def test_create_model_on_a_full_disk_answers_503_and_works_once_space_returns(
    disk: Disk, kiln_on: Kiln
) -> None:
    sm = _without_retries(kiln_on)
    container = {"Image": "kiln/python"}
    disk.fill()
    with pytest.raises(ClientError) as refused:
        sm.create_model(ModelName="m1", ExecutionRoleArn=ROLE, PrimaryContainer=container)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert "disk is full" in refused.value.response["Error"]["Message"]
    assert sm.list_models()["Models"] == []
    disk.free()
    sm.create_model(ModelName="m1", ExecutionRoleArn=ROLE, PrimaryContainer=container)
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["m1"]
